"""It must really learn, and from the audio (issue 5, part 4; made unfoolable in issue 12).

Task: one tone; "Is the tone high or low? A. low B. high". Both classes have the same prompt text, the same
duration, timing and loudness, and the frequency is drawn fresh per clip from a low or a high band, so the only
way to the answer is to listen. Train and held-out clips are disjoint (different seeds, checked by fingerprint).

A deterministic model on a balanced set scores exactly 0.5 with identical inputs whenever it answers, so "0.5 with
the audio zeroed at evaluation" says nothing about training, and SFT on the true labels could pass on its own.
So GRPO must do the learning alone: SFT on *shuffled* labels teaches the answer format and nothing else (held-out
accuracy reported after it, at chance), GRPO from that adapter on the true labels must climb well above chance,
and the same GRPO trained on silenced copies of the same clips (same labels, same lengths) must stay at chance.
That each row's audio features stay with that row through TRL's batching is tested in test_grpo.py. A random-init
student never samples a parseable answer, so GRPO from scratch would have no signal: hence the format-only SFT.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from pathlib import Path
from typing import Any

import pytest

from pipeline import tiny
from pipeline.grpo import GRPOStageConfig
from pipeline.grpo import run as grpo_run
from pipeline.scoring import evaluate_accuracy
from pipeline.sft import SFTStageConfig
from pipeline.sft import run as sft_run
from pipeline.synth import render_tones, write_wav
from tests.pipeline.training_data import sft_row, write_jsonl

log = logging.getLogger(__name__)

SR = 16000
CLIP_S = 1.0
CHUNK_S = 2  # the student's feature extractor window: 2 s instead of Whisper's 30 s keeps the encoder cheap
PROMPT = "Listen to the tone. Is the tone high or low? A. low B. high"
CHOICES = ["low", "high"]
THINK = "I listen to the pitch of the tone."
N_TRAIN, N_HELD_OUT = 256, 200
LOW_HZ, HIGH_HZ = (250.0, 600.0), (1200.0, 3000.0)


def build_student(out: Path, chunk_s: int = CHUNK_S) -> Path:
    """A tiny Qwen2-Audio from pipeline.tiny with a 2 s audio window (200 mel frames, 100 positions).

    vLLM's Qwen2-Audio accepts only Whisper's 30 s window (3000 mel frames), so the vLLM tier passes chunk_s=30.
    """
    out.mkdir(parents=True, exist_ok=True)
    tiny.save_qwen2_audio(tiny.build_tokenizer(), out, chunk_s)
    return out


def make_items(root: Path, split: str, n: int, seed: int) -> list[dict[str, Any]]:
    """Balanced items (exactly n/2 per class), GRPO-export rows; the wavs go to root/<split>/."""
    rng = random.Random(seed)
    labels = ["A"] * (n // 2) + ["B"] * (n - n // 2)
    rng.shuffle(labels)
    items = []
    for i, label in enumerate(labels):
        freq = rng.uniform(*(LOW_HZ if label == "A" else HIGH_HZ))
        samples = render_tones([(0.1, 0.9, freq)], duration=CLIP_S, amplitude=0.4)
        rel = f"{split}/{i:04d}.wav"
        write_wav(root / rel, samples, SR)
        items.append({"id": f"{split}-{i}", "prompt": [{"role": "user", "content": [
            {"type": "audio", "path": rel}, {"type": "text", "text": PROMPT}]}],
            "answer": label, "choices": CHOICES, "audio_path": rel})
    return items


def sft_rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [sft_row(it, THINK) for it in items]


def sft_adapter(root: Path, name: str, model: Path, media: Path, items: list[dict[str, Any]],
                max_steps: int = 120) -> str:
    sft = sft_run(SFTStageConfig(
        model_name_or_path=str(model), train_file=str(write_jsonl(root / f"{name}_sft.jsonl", sft_rows(items))),
        media_root=str(media), output_dir=str(root / f"{name}_sft"), lora_r=16, lora_alpha=32, lora_dropout=0.0,
        modules_to_save=["multi_modal_projector", "lm_head"], learning_rate=3e-3, warmup_steps=0.05,
        max_steps=max_steps, per_device_train_batch_size=16, seed=7, save_steps=1000, logging_steps=20))
    log.info("%s: SFT loss %.3f", name, sft.final_loss or float("nan"))
    return sft.adapter_dir


def grpo_adapter(root: Path, name: str, model: Path, media: Path, adapter: str, items: list[dict[str, Any]],
                 **settings: Any) -> str:
    values = dict(learning_rate=2e-3, lr_scheduler_type="cosine", warmup_steps=0, max_steps=80,
                  per_device_train_batch_size=64, num_generations=4, beta=0.0, temperature=1.0,
                  max_completion_length=24, seed=7, save_steps=1000, logging_steps=10) | settings
    grpo = grpo_run(GRPOStageConfig(
        model_name_or_path=str(model), adapter=adapter, train_file=str(write_jsonl(root / f"{name}_grpo.jsonl", items)),
        media_root=str(media), output_dir=str(root / f"{name}_grpo"), **values))
    log.info("%s: GRPO reward %s", name, grpo.final_reward)
    return grpo.adapter_dir


def shuffled_labels(items: list[dict[str, Any]], seed: int = 3) -> list[dict[str, Any]]:
    labels = [it["answer"] for it in items]
    random.Random(seed).shuffle(labels)
    return [dict(it, answer=lab) for it, lab in zip(items, labels, strict=True)]


def silenced(media: Path, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same rows over silent copies of their clips (same length): what GRPO hears in the no-audio control."""
    out = []
    for it in items:
        rel = f"silent/{it['audio_path']}"
        write_wav(media / rel, render_tones([], duration=CLIP_S), SR)
        prompt = [{"role": "user", "content": [{"type": "audio", "path": rel}, it["prompt"][0]["content"][1]]}]
        out.append(dict(it, audio_path=rel, prompt=prompt))
    return out


def fingerprint(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def task(tmp_path: Path, chunk_s: int = CHUNK_S) -> tuple[Path, Path, list[dict[str, Any]], list[dict[str, Any]]]:
    """The student, the media folder, train and held-out items (disjoint, same prompt text everywhere)."""
    model = build_student(tmp_path / "student", chunk_s)
    media = tmp_path / "media"
    train_items = make_items(media, "train", N_TRAIN, seed=1)
    held_out = make_items(media, "heldout", N_HELD_OUT, seed=2)
    train_prints = {fingerprint(media / it["audio_path"]) for it in train_items}
    assert not train_prints & {fingerprint(media / it["audio_path"]) for it in held_out}, "held-out leaks into train"
    assert {json.dumps(it["prompt"][0]["content"][1]) for it in train_items + held_out} == {
        json.dumps({"type": "text", "text": PROMPT})}
    return model, media, train_items, held_out


def held_out_accuracy(adapter: str, held_out: list[dict[str, Any]], media: Path, **kwargs: Any) -> float:
    result = evaluate_accuracy(adapter, held_out, media_root=str(media), batch_size=50, max_new_tokens=24, **kwargs)
    assert result.n == N_HELD_OUT
    return result.accuracy


@pytest.mark.learning
def test_it_learns_the_pitch_from_the_audio_alone(tmp_path: Path) -> None:
    model, media, train_items, held_out = task(tmp_path)
    format_only = sft_adapter(tmp_path, "shuffled", model, media, shuffled_labels(train_items))
    after_sft = held_out_accuracy(format_only, held_out, media)
    grpo = grpo_adapter(tmp_path, "real", model, media, format_only, train_items)
    after_grpo = held_out_accuracy(grpo, held_out, media)
    zeroed = held_out_accuracy(grpo, held_out, media, zero_audio=True)
    deaf = grpo_adapter(tmp_path, "silent", model, media, format_only, silenced(media, train_items))
    deaf_acc = held_out_accuracy(deaf, held_out, media)
    summary = (f"held-out n={N_HELD_OUT}: after shuffled-label SFT {after_sft:.3f}; after GRPO {after_grpo:.3f} "
               f"(audio zeroed at evaluation {zeroed:.3f}); GRPO trained on silenced clips {deaf_acc:.3f}")
    log.warning("LEARNING TEST: %s", summary)
    print(f"LEARNING TEST: {summary}")
    assert abs(after_sft - 0.5) <= 0.1, summary  # the format, not the pitch
    assert after_grpo >= 0.8, summary  # GRPO learnt the pitch on its own
    assert abs(zeroed - 0.5) <= 0.1, summary
    assert abs(deaf_acc - 0.5) <= 0.1, summary  # and only because it heard the clips


def check_rollouts_learn(tmp_path: Path, chunk_s: int = CHUNK_S, **grpo_extra: Any) -> str:
    """The vLLM tier's rerun (`rollout_backend="vllm"`): SFT on the true labels then a short GRPO whose rollouts
    come from the given backend must keep held-out accuracy high. It tests the rollout path, not the task: the
    controls above are not rerun there."""
    model, media, train_items, held_out = task(tmp_path, chunk_s)
    sft = sft_adapter(tmp_path, "real", model, media, train_items)
    grpo = grpo_adapter(tmp_path, "real", model, media, sft, train_items, learning_rate=5e-4,
                        lr_scheduler_type="linear", max_steps=12, per_device_train_batch_size=32, num_generations=8,
                        logging_steps=4, **grpo_extra)
    acc = held_out_accuracy(grpo, held_out, media)
    summary = f"held-out accuracy {acc:.3f} (n={N_HELD_OUT})"
    assert acc >= 0.8, summary
    return summary
