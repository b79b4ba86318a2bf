"""One small generation interface with interchangeable backends (transformers now; vLLM and an
OpenAI-compatible client slot in unchanged): same requests, same prompts, same parsed outputs.

Requests carry chat messages plus decoded media (frames as uint8 arrays, audio as a 16 kHz float32
array): backends never open files, so every backend sees exactly the same pixels and samples.
Sampling parameters are always explicit; a backend must not let a checkpoint's generation_config
silently change them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # 0 = off
    max_new_tokens: int = 256
    repetition_penalty: float = 1.0
    seed: int | None = None
    ignore_eos: bool = False  # keep decoding to max_new_tokens (benchmarks, fixed-length device checks)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


@dataclass(frozen=True)
class Media:
    frames: np.ndarray | None = None  # (T, H, W, 3) uint8, silent frames for the teacher
    fps: float | None = None  # sampling rate of `frames` (frames per second of video time)
    audio: np.ndarray | None = None  # mono float32 at `sample_rate`
    sample_rate: int = 16000


@dataclass(frozen=True)
class GenerationRequest:
    request_id: str
    messages: list[dict[str, Any]]  # chat messages; list content parts {"type": "text"|"video"|"audio", ...}
    media: Media = field(default_factory=Media)
    n: int = 1
    sampling: SamplingParams = field(default_factory=SamplingParams)
    # A JSON schema the completion must follow (structured output: vLLM and OpenAI-compatible servers enforce it;
    # the transformers backend cannot, and its callers keep a lenient parser for that case).
    json_schema: dict[str, Any] | None = None


@dataclass(frozen=True)
class Completion:
    text: str
    n_tokens: int
    finish_reason: str  # "stop" | "length"
    logprob: float | None = None  # sum of sampled-token log-probs, when the backend reports them


@dataclass(frozen=True)
class GenerationResult:
    request_id: str
    prompt_tokens: int
    completions: list[Completion]


@runtime_checkable
class Backend(Protocol):
    name: str

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """Results in request order, each with `request.n` completions."""
        ...

    def close(self) -> None: ...


T = TypeVar("T")


# ------------------------------------------------------------------------------- message helpers (every backend)


def clean_messages(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop None-valued keys from list content parts before templating.

    Arrow/datasets merge part dicts, so a text part arrives with `audio_url: None`; templates that test key
    presence ('audio_url' in content) then render it as a second audio (docs/audio-in-trl.md §Content parts).
    """
    out = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, list):
            content = [{k: v for k, v in part.items() if v is not None} for part in content]
        out.append({**{k: v for k, v in m.items() if v is not None}, "content": content})
    return out


def count_parts(messages: Sequence[dict[str, Any]], kind: str) -> int:
    """How many content parts of `kind` ("audio", "video") the messages hold: each must match one media input."""
    return sum(1 for m in messages if isinstance(m.get("content"), list)
               for p in m["content"] if p.get("type") == kind)


def options_from_kwargs(cls: type[T], options: dict[str, Any], what: str) -> T:
    """Build an options dataclass, naming unknown keys: a typo in a run's config must fail, not be ignored."""
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"unknown {what} option(s) {unknown}; known: {sorted(known)}")
    return cls(**options)
