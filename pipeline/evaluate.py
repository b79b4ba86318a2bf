"""Greedy evaluation of an audio student (base checkpoint or base + LoRA adapter) on multiple-choice items.

Answers are read with the same rules as the GRPO accuracy reward (`pipeline.rewards.accuracy_reward`, built on
`pipeline.answers`), so "correct" means the same thing in training and in evaluation.

Items use the GRPO export's row format: `{"id", "prompt": [chat with one audio part], "answer": "B",
"choices": [...], "audio_path"}`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline.media import SAMPLE_RATE
from pipeline.rewards import accuracy_reward
from pipeline.training import (
    load_model_and_processor,
    load_waveform,
    row_audio_path,
    strip_none,
)

__all__ = ["EvalConfig", "EvalResult", "EvalStageResult", "evaluate_accuracy", "load_student", "run", "slice_accuracy"]

log = logging.getLogger(__name__)


@dataclass
class EvalResult:
    accuracy: float
    n: int
    n_correct: int
    predictions: list[dict[str, Any]] = field(default_factory=list)


def load_student(model_or_adapter: str | os.PathLike[str], *, bf16: bool | None = None) -> tuple[Any, Any]:
    """(model, processor) from a full checkpoint, or from a LoRA adapter folder (its base comes from
    adapter_config.json, the processor from the adapter folder when saved there)."""
    from transformers import AutoProcessor

    path = Path(model_or_adapter)
    adapter_cfg = path / "adapter_config.json"
    if not adapter_cfg.is_file():
        return load_model_and_processor(str(path), bf16=bf16)
    from peft import PeftModel

    base = json.loads(adapter_cfg.read_text())["base_model_name_or_path"]
    model, processor = load_model_and_processor(base, bf16=bf16)
    model = PeftModel.from_pretrained(model, str(path)).merge_and_unload()
    if (path / "processor_config.json").is_file() or (path / "preprocessor_config.json").is_file():
        processor = AutoProcessor.from_pretrained(str(path))
    return model, processor


@torch.no_grad()
def evaluate_accuracy(
    model_or_adapter: str | os.PathLike[str] | tuple[Any, Any], items: Sequence[dict[str, Any]], *,
    media_root: str | None = None, batch_size: int = 32, max_new_tokens: int = 64, zero_audio: bool = False,
) -> EvalResult:
    """Greedy-decode every item and score it with the accuracy reward; unjudgeable items count as wrong.

    `zero_audio=True` replaces each waveform with silence of the same length (same prompt, same number of audio
    tokens): the control that shows an accuracy really comes from the sound.
    """
    model, processor = load_student(model_or_adapter) if not isinstance(model_or_adapter, tuple) else model_or_adapter
    model.eval()
    tok = processor.tokenizer
    tok.padding_side = "left"
    device = next(model.parameters()).device
    eos = [tok.convert_tokens_to_ids("<|im_end|>"), tok.eos_token_id]
    predictions: list[dict[str, Any]] = []
    for start in range(0, len(items), batch_size):
        chunk = list(items[start:start + batch_size])
        texts = [processor.apply_chat_template(strip_none(it["prompt"]), add_generation_prompt=True, tokenize=False)
                 for it in chunk]
        waves = [load_waveform(row_audio_path(it, media_root)) for it in chunk]
        if zero_audio:
            waves = [np.zeros_like(w) for w in waves]
        enc = processor(text=texts, audio=waves, sampling_rate=SAMPLE_RATE, padding=True, return_tensors="pt")
        enc = {k: v.to(device) for k, v in enc.items() if isinstance(v, torch.Tensor)}
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=eos,
                             pad_token_id=tok.pad_token_id)
        completions = tok.batch_decode(out[:, enc["input_ids"].size(1):], skip_special_tokens=True)
        scores = accuracy_reward(completions, answer=[it.get("answer") for it in chunk],
                                 choices=[it.get("choices") for it in chunk])
        for it, text, score in zip(chunk, completions, scores, strict=True):
            predictions.append({"id": it.get("id"), "answer": it.get("answer"), "completion": text,
                                "correct": bool(score)})
    n_correct = sum(p["correct"] for p in predictions)
    result = EvalResult(accuracy=n_correct / max(1, len(predictions)), n=len(predictions), n_correct=n_correct,
                        predictions=predictions)
    log.info("accuracy %.3f on %d items%s", result.accuracy, result.n, " (audio zeroed)" if zero_audio else "")
    return result


# ------------------------------------------------------------------------------------------------ eval stage
@dataclass(kw_only=True)
class EvalConfig:
    """An evaluation run: a student (base or base + adapter) greedy-decoded over an items JSONL."""

    model_name_or_path: str = field(metadata={"help": "Base student checkpoint: a local folder or a hub id."})
    items_file: str = field(metadata={"help": "JSONL in the GRPO export format, plus category/question_type."})
    output_dir: str = field(metadata={"help": "predictions.jsonl is written here."})
    adapter: str | None = field(default=None, metadata={"help": "LoRA adapter folder (None: the base model)."})
    media_root: str | None = field(default=None, metadata={"help": "Resolves relative audio paths."})
    max_new_tokens: int = field(default=64, metadata={"help": "Token budget of one greedy completion."})
    batch_size: int = field(default=8, metadata={"help": "Items per generate call."})
    slice_keys: list[str] = field(default_factory=lambda: ["category", "question_type"],
                                  metadata={"help": "Item columns that accuracy is also reported per value of."})
    limit: int | None = field(default=None, metadata={"help": "Evaluate only the first N items."})

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
    per_slice: dict[str, dict[str, float | int]]  # "question_type=Which" -> {accuracy, n}
    predictions_path: str
    stopped_early: bool = False


def slice_accuracy(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> dict[str, dict[str, float | int]]:
    """Accuracy per value of each slice key; items with an empty value are left out of that key's slices.

    >>> slice_accuracy([{"t": "a", "correct": True}, {"t": "a", "correct": False}, {"t": "", "correct": True}], ["t"])
    {'t=a': {'accuracy': 0.5, 'n': 2}}
    """
    out: dict[str, list[int]] = {}
    for row in rows:
        for key in keys:
            if value := row.get(key):
                out.setdefault(f"{key}={value}", [0, 0])
                out[f"{key}={value}"][0] += int(bool(row["correct"]))
                out[f"{key}={value}"][1] += 1
    return {k: {"accuracy": c / n, "n": n} for k, (c, n) in sorted(out.items())}


def run(cfg: EvalConfig, on_progress: Any = None) -> EvalStageResult:
    """Evaluate batch by batch, reporting `on_progress(done, total, {"accuracy": ...})`; False from it stops early.

    Predictions (id, answer, completion, correct and the slice columns) are written as they come, so a stopped or
    crashed evaluation still leaves what it judged.
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
    with path.open("w", encoding="utf-8") as fh:
        for start in range(0, len(items), cfg.batch_size):
            chunk = items[start:start + cfg.batch_size]
            res = evaluate_accuracy((model, processor), chunk, media_root=cfg.media_root,
                                    batch_size=cfg.batch_size, max_new_tokens=cfg.max_new_tokens)
            for item, pred in zip(chunk, res.predictions, strict=True):
                row = {**pred, **{k: item.get(k, "") for k in cfg.slice_keys}}
                rows.append(row)
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            fh.flush()
            accuracy = sum(r["correct"] for r in rows) / len(rows)
            if on_progress is not None and on_progress(len(rows), len(items), {"accuracy": accuracy}) is False:
                stopped = True
                break
    accuracy = sum(r["correct"] for r in rows) / max(1, len(rows))
    return EvalStageResult(accuracy=accuracy, n=len(rows), per_slice=slice_accuracy(rows, cfg.slice_keys),
                           predictions_path=str(path), stopped_early=stopped)


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
