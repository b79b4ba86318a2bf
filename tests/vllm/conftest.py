"""The vLLM tier: runs only in .venv-vllm (scripts/test.sh vllm), one pytest process per file.

Engines run in-process (VLLM_ENABLE_V1_MULTIPROCESSING=0, set before vllm is imported) and are shared within a
file: starting one costs seconds, and closing one tears down global state another live engine needs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

for _key, _value in {"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_CPU_KVCACHE_SPACE": "1",
                     "VLLM_NO_USAGE_STATS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}.items():
    os.environ.setdefault(_key, _value)

import pytest  # noqa: E402

from pipeline.tiny import build_all  # noqa: E402

ENGINE = {"dtype": "float32", "enforce_eager": True, "max_model_len": 2048, "max_num_seqs": 16}


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_all(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def vllm_engines(tiny_models: dict[str, Path]) -> Iterator[Any]:
    """get(name or model folder) -> a VLLMBackend on it, built once and kept until the file ends.

    Never closed early: an in-process engine's shutdown tears down vLLM's process-global distributed state.
    """
    from pipeline.backends import load_backend

    made: dict[str, Any] = {}

    def get(name: str | Path, **options: Any) -> Any:
        key = str(name)
        if key not in made:
            path = tiny_models[key] if key in tiny_models else Path(key)
            made[key] = load_backend("vllm", str(path), **(ENGINE | options))
        return made[key]

    yield get
