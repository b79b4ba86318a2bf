"""Bridge from a HF Trainer's logs to a stage's `on_progress(step, total, metrics)` callable.

The web app stores whatever arrives here as time series and uses the return value for cancel: `False` asks the
trainer to stop at the end of the current step, so a cancelled run still saves a consistent checkpoint instead of
being killed mid-write. Only rank 0 reports, so `accelerate launch` on N GPUs does not write N copies.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

__all__ = ["OnProgress", "ProgressCallback", "clean_metrics"]

log = logging.getLogger(__name__)

OnProgress = Callable[[int, int, dict[str, float]], bool | None]
"""`on_progress(step, total_steps, metrics)`; returning False (not None) requests a clean stop."""


def clean_metrics(logs: dict[str, Any]) -> dict[str, float]:
    """Keep the finite numbers of a Trainer log, as floats (JSON and time-series friendly).

    >>> clean_metrics({"loss": 1, "grad_norm": float("nan"), "note": "x", "epoch": 0.5})
    {'loss': 1.0, 'epoch': 0.5}
    """
    out: dict[str, float] = {}
    for key, value in logs.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if math.isfinite(value):
            out[key] = float(value)
    return out


class ProgressCallback(TrainerCallback):
    """Forward `on_log` metrics to `on_progress`, add tokens/s, and stop training when it returns False.

    `tokens_per_second` is computed from `state.num_input_tokens_seen` between two logs (the trainers count
    tokens when `include_num_input_tokens_seen` is on; GRPO always counts), so it measures the training window,
    not the whole run including model loading.
    """

    def __init__(self, on_progress: OnProgress | None) -> None:
        self.on_progress = on_progress
        self.stopped_by_callback = False
        self.last_metrics: dict[str, float] = {}
        self.history: list[tuple[int, dict[str, float]]] = []
        self._last_time: float | None = None
        self._last_tokens = 0

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                       **kwargs: Any) -> None:
        self._last_time = time.perf_counter()
        self._last_tokens = int(state.num_input_tokens_seen or 0)

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
               logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs:
            return
        metrics = clean_metrics(logs)
        now, tokens = time.perf_counter(), int(state.num_input_tokens_seen or 0)
        if self._last_time is not None and tokens > self._last_tokens and now > self._last_time:
            metrics["tokens_per_second"] = (tokens - self._last_tokens) / (now - self._last_time)
        self._last_time, self._last_tokens = now, tokens
        self.last_metrics = metrics
        self.history.append((state.global_step, metrics))
        if self.on_progress is None:
            return
        if self.on_progress(state.global_step, state.max_steps, metrics) is False:
            log.info("on_progress returned False at step %d: stopping training", state.global_step)
            self.stopped_by_callback = True
            control.should_training_stop = True
            control.should_save = True  # leave a checkpoint to resume from
