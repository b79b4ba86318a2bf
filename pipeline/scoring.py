"""Greedy decoding and scoring of audio multiple-choice items: what the evaluation stage and the in-training
validation curve (`pipeline.trajectory`) both do, so a validation point and an evaluation mean the same thing.

Chains are allowed to finish (`DEFAULT_MAX_NEW_TOKENS`, the GRPO completion budget), every greedy knob is explicit
and the checkpoint's own `generation_config` sampling defaults are dropped and reported, each prediction records
its finish reason, whether an answer could be read and whether its audio was cut by the student's 30 s window,
and MMAU items are scored by the benchmark's official rule on the `model_output` written for them. `summarise`
turns predictions into accuracy with a 95% bootstrap CI, parse-failure, truncation and audio-cut rates, and the
silent-audio accuracy with the audio's share.
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

from pipeline.answers import LETTERS, extract_answer, extract_open_answer
from pipeline.media import SAMPLE_RATE
from pipeline.rewards import accuracy_reward, gold_letter
from pipeline.stats import accuracy_with_ci
from pipeline.training import load_model_and_processor, load_waveform, row_audio_path, strip_none

__all__ = [
    "AUDIO_WINDOW_S", "DEFAULT_MAX_NEW_TOKENS", "EvalResult", "evaluate_accuracy", "greedy_settings", "load_student",
    "modality", "slice_accuracy", "summarise", "with_adapter",
]

log = logging.getLogger(__name__)

# The GRPO completion budget of the 7B recipes: a student trained on ~256-token chains must be able to finish one.
DEFAULT_MAX_NEW_TOKENS = 512
# What the student hears of a clip: Whisper-style feature extractors (Qwen2-Audio) keep the first 30 s.
AUDIO_WINDOW_S = 30.0
_MODALITIES = {"Audio": "audio", "Visual": "visual-only", "Audio-Visual": "audio-visual"}


def modality(item: dict[str, Any]) -> str:
    """The modality a question needs, where its type says it (MUSIC-AVQA's "Visual/Counting" -> "visual-only").

    >>> modality({"question_type": "Visual/Counting"}), modality({"question_type": "Which"})
    ('visual-only', '')
    """
    return item.get("modality") or _MODALITIES.get(str(item.get("question_type", "")).split("/")[0], "")


@dataclass
class EvalResult:
    accuracy: float
    n: int
    n_correct: int
    predictions: list[dict[str, Any]] = field(default_factory=list)
    generation: dict[str, Any] = field(default_factory=dict)


def _drop_checkpoint_sampling_defaults(model: Any, tokenizer: Any) -> dict[str, Any]:
    """Replace the checkpoint's generation_config by one holding only token ids; return what was dropped."""
    from transformers import GenerationConfig

    old = model.generation_config
    dropped = {k: v for k, v in old.to_diff_dict().items()
               if k not in {"bos_token_id", "eos_token_id", "pad_token_id", "transformers_version"}}
    pad = old.pad_token_id if old.pad_token_id is not None else tokenizer.pad_token_id
    model.generation_config = GenerationConfig(bos_token_id=old.bos_token_id, eos_token_id=old.eos_token_id,
                                               pad_token_id=pad)
    if dropped:
        log.warning("evaluation ignores the checkpoint's generation_config defaults %s: decoding is greedy, "
                    "set knob by knob", dropped)
    return dropped


def load_student(model_or_adapter: str | os.PathLike[str], *, bf16: bool | None = None) -> tuple[Any, Any]:
    """(model, processor) from a full checkpoint, or from a LoRA adapter folder (its base comes from
    adapter_config.json, the processor from the adapter folder when saved there)."""
    from transformers import AutoProcessor

    path = Path(model_or_adapter)
    adapter_cfg = path / "adapter_config.json"
    if not adapter_cfg.is_file():
        return load_model_and_processor(str(path), bf16=bf16)
    base = json.loads(adapter_cfg.read_text())["base_model_name_or_path"]
    model, processor = load_model_and_processor(base, bf16=bf16)
    model = with_adapter(model, path)
    if (path / "processor_config.json").is_file() or (path / "preprocessor_config.json").is_file():
        processor = AutoProcessor.from_pretrained(str(path))
    return model, processor


def with_adapter(model: Any, adapter_dir: str | os.PathLike[str]) -> Any:
    """The base model with a LoRA adapter applied unmerged, computed exactly as the trainer computed it.

    Merging (`merge_and_unload`) rounds W + B @ A into the base's dtype: on a bf16 base every update below bf16's
    resolution vanishes and the scored model is not the trained one. The unmerged adapter costs a little speed.
    """
    from peft import PeftModel

    return PeftModel.from_pretrained(model, str(adapter_dir))


def greedy_settings(max_new_tokens: int) -> dict[str, Any]:
    """Every decoding knob of an evaluation, explicit (these are stored with the run).

    >>> greedy_settings(8)["repetition_penalty"], greedy_settings(8)["do_sample"]
    (1.0, False)
    """
    return {"do_sample": False, "num_beams": 1, "max_new_tokens": max_new_tokens, "min_new_tokens": 0,
            "repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "length_penalty": 1.0,
            "temperature": None, "top_k": None, "top_p": None}


def _parsed(item: dict[str, Any], text: str) -> bool:
    """Could an answer be read at all (a wrong answer is parsed; no answer is a parse failure)?"""
    choices = item.get("choices")
    if choices:
        return extract_answer(text, choices, lettered=bool(item.get("lettered", True))) is not None
    return extract_open_answer(text) is not None


def _score(items: Sequence[dict[str, Any]], completions: Sequence[str]) -> list[dict[str, Any]]:
    """Correctness per item: MMAU items by the official rule on the model_output written for them."""
    from pipeline.datasets.mmau_scoring import model_output, official_match

    scores = accuracy_reward(completions, answer=[it.get("answer") for it in items],
                             choices=[it.get("choices") for it in items],
                             lettered=[it.get("lettered", True) for it in items])
    out = []
    for it, text, score in zip(items, completions, scores, strict=True):
        row: dict[str, Any] = {"correct": bool(score), "parsed": _parsed(it, text)}
        if it.get("benchmark") == "mmau" and it.get("choices"):
            choices = it["choices"]
            letter = gold_letter(it.get("answer"), len(choices))
            gold = choices[LETTERS.index(letter)] if letter else str(it.get("answer"))
            row["model_output"] = model_output(text, choices, lettered=bool(it.get("lettered", True)))
            row["correct"] = official_match(gold, row["model_output"], choices)
        out.append(row)
    return out


@torch.no_grad()
def evaluate_accuracy(
    model_or_adapter: str | os.PathLike[str] | tuple[Any, Any], items: Sequence[dict[str, Any]], *,
    media_root: str | None = None, batch_size: int = 32, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    zero_audio: bool = False,
) -> EvalResult:
    """Greedy-decode every item and score it with the accuracy reward; unjudgeable items count as wrong.

    `zero_audio=True` replaces each waveform with silence of the same length (same prompt, same number of audio
    tokens): the control that shows an accuracy really comes from the sound. Each prediction records its
    `finish_reason` ("stop" or "length": cut by the budget) and whether an answer was `parsed`.
    """
    model, processor = load_student(model_or_adapter) if not isinstance(model_or_adapter, tuple) else model_or_adapter
    model.eval()
    tok = processor.tokenizer
    tok.padding_side = "left"
    dropped = _drop_checkpoint_sampling_defaults(model, tok)
    device = next(model.parameters()).device
    eos = [i for i in (tok.convert_tokens_to_ids("<|im_end|>"), tok.eos_token_id) if i is not None]
    settings = greedy_settings(max_new_tokens)
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
        out = model.generate(**enc, **settings, eos_token_id=eos, pad_token_id=tok.pad_token_id)
        new = out[:, enc["input_ids"].size(1):]
        completions = tok.batch_decode(new, skip_special_tokens=True)
        finished = torch.isin(new, torch.tensor(eos, device=new.device)).any(dim=1).tolist()
        for it, text, done, scored, wave in zip(chunk, completions, finished, _score(chunk, completions), waves,
                                                strict=True):
            predictions.append({"id": it.get("id"), "answer": it.get("answer"), "completion": text,
                                "finish_reason": "stop" if done else "length",
                                "audio_cut": len(wave) > AUDIO_WINDOW_S * SAMPLE_RATE, **scored})
    n_correct = sum(p["correct"] for p in predictions)
    result = EvalResult(accuracy=n_correct / max(1, len(predictions)), n=len(predictions), n_correct=n_correct,
                        predictions=predictions,
                        generation={**settings, "checkpoint_defaults_ignored": dropped})
    log.info("accuracy %.3f on %d items%s", result.accuracy, result.n, " (audio zeroed)" if zero_audio else "")
    return result


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Accuracy with its CI, parse-failure and truncation rates, and (when there is a silent pass) the accuracy
    without audio and the audio's share (with minus without).

    >>> s = summarise([{"correct": True, "parsed": True, "finish_reason": "stop", "correct_silent": False},
    ...                {"correct": False, "parsed": False, "finish_reason": "length", "correct_silent": False}])
    >>> s["accuracy"], s["n"], s["parse_failure_rate"], s["truncation_rate"], s["silent_accuracy"], s["audio_gain"]
    (0.5, 2, 0.5, 0.5, 0.0, 0.5)
    """
    n = len(rows)
    out: dict[str, Any] = accuracy_with_ci([bool(r["correct"]) for r in rows]).as_dict()
    out["parse_failure_rate"] = sum(not r.get("parsed", True) for r in rows) / n if n else float("nan")
    out["truncation_rate"] = sum(r.get("finish_reason") == "length" for r in rows) / n if n else float("nan")
    out["audio_cut_rate"] = sum(bool(r.get("audio_cut")) for r in rows) / n if n else float("nan")
    if n and all("correct_silent" in r for r in rows):
        silent = accuracy_with_ci([bool(r["correct_silent"]) for r in rows])
        out["silent_accuracy"], out["silent_ci_low"], out["silent_ci_high"] = silent.accuracy, silent.low, silent.high
        out["audio_gain"] = out["accuracy"] - silent.accuracy
    return out


def slice_accuracy(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    """`summarise` per value of each slice key; items with an empty value are left out of that key's slices.

    >>> out = slice_accuracy([{"t": "a", "correct": True}, {"t": "a", "correct": False},
    ...                       {"t": "", "correct": True}], ["t"])
    >>> list(out), out["t=a"]["accuracy"], out["t=a"]["n"]
    (['t=a'], 0.5, 2)
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        for key in keys:
            if value := row.get(key):
                groups.setdefault(f"{key}={value}", []).append(row)
    return {k: summarise(group) for k, group in sorted(groups.items())}
