"""Greedy evaluation of an audio student (base checkpoint or base + LoRA adapter) on multiple-choice items.

The decoding and scoring live in `pipeline.scoring` (shared with the in-training validation curve); answers are
read with the same rules as the GRPO accuracy reward, so "correct" means the same thing in training and in
evaluation. What makes the numbers fair:

- chains are allowed to finish: the default budget (`EvalConfig.max_new_tokens`) is the GRPO completion budget, and
  every prediction records whether it was cut ("length") and whether an answer could be read, so parse-failure and
  truncation rates sit beside every accuracy;
- greedy decoding is set knob by knob and the checkpoint's own `generation_config` sampling defaults (Qwen2-Audio
  ships a repetition penalty) are dropped and reported, never silently inherited;
- every accuracy carries its bootstrap confidence interval (`pipeline.stats`), overall and per slice;
- each item is also decoded with its audio silenced (same length, same prompt): the difference is the audio's own
  share of the accuracy;
- MMAU items are scored by MMAU's official rule on the `model_output` written for them
  (`pipeline.datasets.mmau_scoring`), so the app's MMAU number is the leaderboard's;
- the student hears at most `AUDIO_WINDOW_S` (Whisper's feature extractor, which Qwen2-Audio uses, keeps the first
  30 s and drops the rest silently): the policy is that documented window, and every prediction says whether its
  audio was cut (MUSIC-AVQA clips are ~60 s), so the cut share is reported beside the accuracy; MUSIC-AVQA's
  visual-only question types, which audio cannot answer, form their own `modality` slice.

Items use the GRPO export's row format: `{"id", "prompt": [chat with one audio part], "answer": "B",
"choices": [...], "audio_path"}`, optionally `lettered` (false in R1-AQA mode) and `benchmark` ("mmau").
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.scoring import (
    DEFAULT_MAX_NEW_TOKENS,
    evaluate_accuracy,
    load_student,
    modality,
    slice_accuracy,
    summarise,
)

__all__ = ["EvalConfig", "EvalStageResult", "main", "merge", "run"]

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------ eval stage
@dataclass(kw_only=True)
class EvalConfig:
    """An evaluation run: a student (base or base + adapter) greedy-decoded over an items JSONL."""

    model_name_or_path: str = field(metadata={"help": "Base student checkpoint: a local folder or a hub id."})
    items_file: str = field(metadata={"help": "JSONL in the GRPO export format, plus category/question_type."})
    output_dir: str = field(metadata={"help": "predictions.jsonl is written here."})
    adapter: str | None = field(default=None, metadata={"help": "LoRA adapter folder (None: the base model)."})
    media_root: str | None = field(default=None, metadata={"help": "Resolves relative audio paths."})
    max_new_tokens: int = field(default=DEFAULT_MAX_NEW_TOKENS, metadata={
        "help": "Token budget of one greedy completion: at least the training completion budget, or chains are "
                "cut before their <answer>."})
    batch_size: int = field(default=8, metadata={"help": "Items per generate call."})
    slice_keys: list[str] = field(default_factory=lambda: ["category", "question_type", "modality"],
                                  metadata={"help": "Item columns that accuracy is also reported per value of."})
    limit: int | None = field(default=None, metadata={"help": "Evaluate only the first N items."})
    silent_pass: bool = field(default=True, metadata={
        "help": "Also decode every item with its audio silenced: accuracy without audio, and the audio's share."})

    def __post_init__(self) -> None:
        for name in ("model_name_or_path", "items_file", "output_dir"):
            if not getattr(self, name):
                raise ValueError(f"EvalConfig.{name} is required, e.g. {name}: path/to/thing")
        if self.batch_size < 1 or self.max_new_tokens < 1:
            raise ValueError("batch_size and max_new_tokens must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        import dataclasses

        return dataclasses.asdict(self)


@dataclass
class EvalStageResult:
    accuracy: float
    n: int
    per_slice: dict[str, dict[str, Any]]  # "question_type=Which" -> {accuracy, n, ci_low, ci_high, rates, silent}
    predictions_path: str
    stopped_early: bool = False
    summary: dict[str, Any] = field(default_factory=dict)  # the same figures over all items
    generation: dict[str, Any] = field(default_factory=dict)  # every decoding knob, as used


def run(cfg: EvalConfig, on_progress: Any = None) -> EvalStageResult:
    """Evaluate batch by batch, reporting `on_progress(done, total, {"accuracy": ...})`; False from it stops early.

    Predictions (id, answer, completion, correct, parsed, finish reason, the silent pass's completion and
    correctness, and the slice columns) are written as they come, so a stopped or crashed evaluation still leaves
    what it judged. MMAU items also get `model_output` and their benchmark fields, so predictions.jsonl can be
    scored by `python -m pipeline.evaluate score --benchmark mmau`.
    """
    from pipeline.jsonl import read_jsonl

    items = read_jsonl(cfg.items_file, allow_empty=False)
    items = items[: cfg.limit] if cfg.limit else items
    model, processor = load_student(cfg.adapter or cfg.model_name_or_path)
    out_dir = Path(cfg.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "predictions.jsonl"
    rows: list[dict[str, Any]] = []
    stopped = False
    generation: dict[str, Any] = {}
    keep = (*cfg.slice_keys, "question", "choices", "task", "difficulty", "sub-category", "benchmark")
    with path.open("w", encoding="utf-8") as fh:
        for start in range(0, len(items), cfg.batch_size):
            chunk = items[start:start + cfg.batch_size]
            kwargs = {"media_root": cfg.media_root, "batch_size": cfg.batch_size, "max_new_tokens": cfg.max_new_tokens}
            res = evaluate_accuracy((model, processor), chunk, **kwargs)
            generation = res.generation
            silent = (evaluate_accuracy((model, processor), chunk, zero_audio=True, **kwargs)
                      if cfg.silent_pass else None)
            for i, (item, pred) in enumerate(zip(chunk, res.predictions, strict=True)):
                row = {**pred, **{k: item[k] for k in keep if k in item}, "modality": modality(item)}
                for k in cfg.slice_keys:
                    row.setdefault(k, "")
                if silent is not None:
                    row["completion_silent"] = silent.predictions[i]["completion"]
                    row["correct_silent"] = silent.predictions[i]["correct"]
                rows.append(row)
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            fh.flush()
            accuracy = sum(r["correct"] for r in rows) / len(rows)
            if on_progress is not None and on_progress(len(rows), len(items), {"accuracy": accuracy}) is False:
                stopped = True
                break
    return _scored(rows, cfg.slice_keys, path, generation, stopped=stopped)


def _scored(rows: list[dict[str, Any]], slice_keys: list[str], path: Path, generation: dict[str, Any],
            stopped: bool = False) -> EvalStageResult:
    """Every figure of a result from its prediction rows, in item order (the bootstrap resamples by position)."""
    summary = summarise(rows)
    return EvalStageResult(accuracy=summary["accuracy"] if rows else 0.0, n=len(rows),
                           per_slice=slice_accuracy(rows, slice_keys), predictions_path=str(path),
                           stopped_early=stopped, summary=summary, generation=generation)


def merge(parts: list[str | Path], path: Path, slice_keys: list[str], generation: dict[str, Any]) -> EvalStageResult:
    """One result from the predictions of an evaluation split into parts (webapp/core/shards.py), given in item
    order: their rows are joined into `path` and scored as one run over the same items would score them, so the
    accuracy and its confidence interval are over every item, equal to an unsplit run's."""
    from pipeline.jsonl import read_jsonl, write_jsonl

    rows = [row for part in parts for row in read_jsonl(part)]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl(path, rows)
    return _scored(rows, slice_keys, path, generation)


# ------------------------------------------------------------------------------------------------ command line
def _score_command(benchmark: str, predictions: str) -> int:
    """Score a predictions file by a benchmark's own rule and print its report (MMAU: the official string rule)."""
    from pipeline.datasets import mmau_scoring

    if benchmark != "mmau":
        raise SystemExit(f"unknown benchmark {benchmark!r}; choose from ['mmau']")
    rows = mmau_scoring.load_predictions(predictions)
    print(mmau_scoring.format_report(mmau_scoring.score_rows(rows)))
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m pipeline.evaluate run --config eval.yaml [--set k=v ...]` evaluates a student;
    `python -m pipeline.evaluate score --benchmark mmau --predictions FILE` scores any predictions file."""
    import argparse
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "score":
        parser = argparse.ArgumentParser(prog="python -m pipeline.evaluate score",
                                         description="Score a predictions file by a benchmark's official rule.")
        parser.add_argument("--benchmark", required=True, choices=["mmau"])
        parser.add_argument("--predictions", required=True,
                            help="JSON list or JSONL of benchmark rows with `model_output` (evaluation writes one)")
        opts = parser.parse_args(args[1:])
        return _score_command(opts.benchmark, opts.predictions)
    if args and args[0] == "run":
        args = args[1:]
    if not args or args[0] in {"-h", "--help"}:
        print(main.__doc__)
        return 0 if args else 2
    from pipeline.training import stage_cli

    result = run(stage_cli(EvalConfig, __doc__, args))
    print(json.dumps({"accuracy": result.accuracy, "n": result.n, "predictions": result.predictions_path}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
