"""The validation curve of a training run: accuracy on a held-out validation split every N steps, and the adapter
at the best of those points kept aside, so the final evaluation can take the best checkpoint — chosen on the
validation split, never on the test set.

`ValidationCallback` runs inside `trainer.train` on rank 0: every `val_every_steps` optimizer steps it decodes the
validation items greedily with the model being trained (`pipeline.scoring`, the evaluation's own rules), reports
`val/accuracy` through `on_progress` (so the run page plots where the run peaked), and when the accuracy beats every
earlier point saves the adapter to `<output_dir>/best-adapter/` with `trajectory.json` beside it. The best adapter
is a copy, so `save_total_limit` rotating `checkpoint-N/` folders can never delete it.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from pipeline.jsonl import read_jsonl
from pipeline.progress import ProgressFn
from pipeline.scoring import evaluate_accuracy

__all__ = ["BEST_ADAPTER", "TRAJECTORY", "ValidationCallback", "best_adapter", "validation_callbacks"]

log = logging.getLogger(__name__)

BEST_ADAPTER = "best-adapter"
TRAJECTORY = "trajectory.json"


def best_adapter(output_dir: str | os.PathLike[str]) -> Path | None:
    """The best-on-validation adapter a run kept, or None when it ran without a validation split."""
    path = Path(output_dir) / BEST_ADAPTER
    return path if (path / "adapter_config.json").is_file() else None


class ValidationCallback(TrainerCallback):
    """Score the validation items every `every` steps; keep the best adapter; report `val/accuracy`."""

    def __init__(self, val_file: str, every: int, output_dir: str, *, media_root: str | None,
                 max_new_tokens: int, batch_size: int = 8, on_progress: ProgressFn | None = None) -> None:
        self.items = read_jsonl(val_file, allow_empty=False)
        self.every, self.output_dir = every, Path(output_dir)
        self.media_root, self.max_new_tokens, self.batch_size = media_root, max_new_tokens, batch_size
        self.on_progress = on_progress
        self.points: list[tuple[int, float]] = []
        trajectory = self.output_dir / TRAJECTORY
        if trajectory.is_file():  # a resumed run continues its curve
            self.points = [tuple(p) for p in json.loads(trajectory.read_text())["points"]]

    @property
    def best(self) -> tuple[int, float] | None:
        return max(self.points, key=lambda p: (p[1], -p[0])) if self.points else None

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                    model: Any = None, processing_class: Any = None, **kwargs: Any) -> None:
        step = state.global_step
        if not state.is_world_process_zero or step % self.every or any(s == step for s, _ in self.points):
            return
        was_training, tok = model.training, processing_class.tokenizer
        generation_config, padding_side = model.generation_config, tok.padding_side
        try:  # evaluation decodes left-padded with its own explicit settings; training gets its own back
            result = evaluate_accuracy((model, processing_class), self.items, media_root=self.media_root,
                                       batch_size=self.batch_size, max_new_tokens=self.max_new_tokens)
        finally:
            model.generation_config, tok.padding_side = generation_config, padding_side
            model.train(was_training)
        previous = self.best
        self.points.append((step, result.accuracy))
        if previous is None or result.accuracy > previous[1]:
            target = self.output_dir / BEST_ADAPTER
            model.save_pretrained(str(target), selected_adapters=["default"])
            processing_class.save_pretrained(str(target))
            log.info("validation accuracy %.3f at step %d: the best so far, kept in %s", result.accuracy, step, target)
        best = self.best
        (self.output_dir / TRAJECTORY).write_text(json.dumps(
            {"points": self.points, "best_step": best[0], "best_accuracy": best[1], "n": result.n}))
        if self.on_progress is not None:
            self.on_progress(step, state.max_steps, {"val/accuracy": result.accuracy})


def validation_callbacks(cfg: Any, on_progress: ProgressFn | None) -> list[ValidationCallback]:
    """The callback a stage adds when its config names a validation file and a period (none otherwise)."""
    if not (cfg.val_file and cfg.val_every_steps):
        return []
    return [ValidationCallback(cfg.val_file, cfg.val_every_steps, cfg.output_dir, media_root=cfg.media_root,
                               max_new_tokens=cfg.val_max_new_tokens, batch_size=cfg.val_batch_size,
                               on_progress=on_progress)]
