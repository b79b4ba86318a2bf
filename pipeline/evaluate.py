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

from pipeline.rewards import accuracy_reward
from pipeline.training import (
    SAMPLE_RATE,
    audio_parts,
    load_model_and_processor,
    load_waveform,
    resolve_media,
    strip_none,
)

__all__ = ["EvalResult", "evaluate_accuracy", "load_student"]

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


def _item_audio(item: dict[str, Any], media_root: str | None) -> Path:
    src = item.get("audio_path") or next(
        (p.get("path") or p.get("audio_url") for p in audio_parts(strip_none(item["prompt"]))), None)
    if not src:
        raise ValueError(f"item {item.get('id')!r} has no audio")
    return resolve_media(src, media_root)


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
        waves = [load_waveform(_item_audio(it, media_root)) for it in chunk]
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
