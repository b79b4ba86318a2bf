"""Generation backends behind one interface (`base.Backend`), chosen by name in a run's config.

Backends are imported lazily: naming "transformers" must not import vLLM, and importing this package must not
import torch.
"""

from __future__ import annotations

from typing import Any

from pipeline.backends.base import (
    Backend,
    Completion,
    GenerationRequest,
    GenerationResult,
    Media,
    SamplingParams,
)

__all__ = ["BACKENDS", "Backend", "Completion", "GenerationRequest", "GenerationResult", "Media", "SamplingParams",
           "load_backend"]

# kind -> "module:Class". "openai" is a client of any OpenAI-compatible server (`vllm serve`, a hosted API).
BACKENDS: dict[str, str] = {"transformers": "pipeline.backends.hf:TransformersBackend",
                            "vllm": "pipeline.backends.vllm:VLLMBackend",
                            "openai": "pipeline.backends.openai_compat:OpenAIBackend"}


def load_backend(kind: str, model: str, **options: Any) -> Backend:
    """Build the backend `kind` for `model` (a local path or hub id); options are backend-specific."""
    if kind not in BACKENDS:
        raise ValueError(f"unknown backend {kind!r}; known backends: {', '.join(sorted(BACKENDS))}")
    import importlib

    module, _, cls = BACKENDS[kind].partition(":")
    return getattr(importlib.import_module(module), cls)(model, **options)
