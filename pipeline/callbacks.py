"""Bridge from a HF Trainer's logs to a stage's `on_progress(step, total, metrics)` callable.

The web app stores whatever arrives here as time series and uses the return value for cancel: `False` asks the
trainer to stop at the end of the current step, so a cancelled run still saves a consistent checkpoint instead of
being killed mid-write. Only rank 0 reports, so `accelerate launch` on N GPUs does not write N copies.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from pipeline.progress import ProgressFn

__all__ = ["FileProgress", "ProgressCallback", "clean_metrics"]

log = logging.getLogger(__name__)


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


class FileProgress:
    """`on_progress` of a stage that runs as a subprocess (`pipeline.launch`): the way back to the worker.

    Each report is appended to a JSON-lines file the worker tails; it returns False (stop cleanly, with a
    checkpoint) once the worker's stop file exists or the worker process itself is gone, so a killed worker does
    not leave a training run going on alone. The stage's CLI stays the plain `-m pipeline.sft --config file`:
    the three paths arrive in environment variables, which `accelerate launch` passes to every rank.
    """

    PATH_ENV, STOP_ENV, WATCH_PID_ENV = "SIGHTSOUND_PROGRESS_FILE", "SIGHTSOUND_STOP_FILE", "SIGHTSOUND_WATCH_PID"

    def __init__(self, path: str | os.PathLike[str], stop_file: str | None = None, watch_pid: int | None = None):
        self.path, self.stop_file, self.watch_pid = Path(path), stop_file, watch_pid

    @classmethod
    def from_env(cls) -> FileProgress | None:
        path = os.environ.get(cls.PATH_ENV)
        if not path:
            return None
        pid = os.environ.get(cls.WATCH_PID_ENV)
        return cls(path, os.environ.get(cls.STOP_ENV) or None, int(pid) if pid else None)

    def __call__(self, step: int, total: int, metrics: dict[str, float]) -> bool:
        self.write({"step": step, "total": total, "metrics": metrics})
        return not self.should_stop()

    def end(self, step: int, stopped_early: bool) -> None:
        self.write({"event": "end", "step": step, "stopped_early": stopped_early})

    def write(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as fh:  # one line per write: the reader never sees half of one
            fh.write(json.dumps(record) + "\n")

    def should_stop(self) -> bool:
        if self.stop_file and os.path.exists(self.stop_file):
            return True
        if self.watch_pid:
            try:
                os.kill(self.watch_pid, 0)
            except ProcessLookupError:
                log.warning("the worker (pid %d) is gone: stopping with a checkpoint", self.watch_pid)
                return True
            except PermissionError:  # alive, owned by another user
                pass
        return False


def loss_sum_before(log_history: list[dict[str, Any]], step: int) -> float:
    """The training loss summed over steps 1..step, from the logged window means (each `loss` is the mean over
    the steps since the previous log)."""
    total, previous = 0.0, 0
    for entry in log_history:
        if "loss" in entry and int(entry["step"]) <= step:
            total += float(entry["loss"]) * (int(entry["step"]) - previous)
            previous = int(entry["step"])
    return total


class ProgressCallback(TrainerCallback):
    """Forward `on_log` metrics to `on_progress`, add tokens/s, and stop training when it returns False.

    `tokens_per_second` is computed from `state.num_input_tokens_seen` between two logs (the trainers count
    tokens when `include_num_input_tokens_seen` is on; GRPO always counts), so it measures the training window,
    not the whole run including model loading.
    """

    def __init__(self, on_progress: ProgressFn | None) -> None:
        # Run by `pipeline.launch` as a subprocess, a stage's CLI passes no on_progress: report to the worker's file.
        self.on_progress = on_progress if on_progress is not None else FileProgress.from_env()
        self.stopped_by_callback = False
        self.last_metrics: dict[str, float] = {}
        self.history: list[tuple[int, dict[str, float]]] = []
        self._last_time: float | None = None
        self._last_tokens = 0
        self._resumed_at = 0
        self.loss_offset = 0.0  # added to HF's closing train_loss, which counts only this session's steps

    def last(self, key: str) -> float | None:
        """The last reported value of one metric ("loss", "reward"), None if it was never reported."""
        return next((m[key] for _, m in reversed(self.history) if key in m), None)

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                       **kwargs: Any) -> None:
        self._last_time = time.perf_counter()
        self._last_tokens = int(state.num_input_tokens_seen or 0)
        self._resumed_at = state.global_step  # > 0 when resuming: the checkpoint's state is loaded by now

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
               logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs:
            return
        metrics = clean_metrics(logs)
        if "train_loss" in metrics and self._resumed_at and state.global_step:
            # HF divides this session's loss sum by every step; add the resumed-from steps' share.
            self.loss_offset = loss_sum_before(state.log_history, self._resumed_at) / state.global_step
            metrics["train_loss"] += self.loss_offset
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

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                     **kwargs: Any) -> None:
        if state.is_world_process_zero and isinstance(self.on_progress, FileProgress):
            self.on_progress.end(state.global_step, self.stopped_by_callback)
