"""It must really learn, and from the audio (issue 5, part 4).

Task: one tone; "Is the tone high or low? A. low B. high". Both classes have the same prompt text, the same
duration, timing and loudness, and the frequency is drawn fresh per clip from a low or a high band, so the only
way to the answer is to listen. Train and held-out clips are disjoint (different seeds, checked by
fingerprint). A tiny real Qwen2AudioForConditionalGeneration goes through `sft.run` then `grpo.run`; held-out
accuracy must reach 0.8, while two controls stay at chance: the same model with the audio zeroed, and a model
trained the same way on shuffled labels.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from pathlib import Path
from typing import Any

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
    """A tiny Qwen2-Audio from pipeline.tiny's blocks, with a 2 s audio window (200 mel frames, 100 positions).

    vLLM's Qwen2-Audio accepts only Whisper's 30 s window (3000 mel frames), so the vLLM tier passes chunk_s=30.
    """
    import torch
    from transformers import (
        Qwen2AudioConfig,
        Qwen2AudioForConditionalGeneration,
        Qwen2AudioProcessor,
        WhisperFeatureExtractor,
    )

    tok = tiny.build_tokenizer()
    audio = dict(tiny.AUDIO_ENCODER, max_source_positions=chunk_s * 50)
    text = dict(model_type="qwen2", **tiny._text_config(tok, tied=False))
    config = Qwen2AudioConfig(audio_config=audio, text_config=text,
                              audio_token_index=tok.convert_tokens_to_ids("<|AUDIO|>"))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(tiny.SEED)
        model = Qwen2AudioForConditionalGeneration(config).eval()
    model.generation_config = tiny._generation_config(tok)
    model.save_pretrained(out)
    tiny.rewrite_audio_keys(out / "model.safetensors")  # the hub layout, which vLLM loads (the vLLM tier reuses this)
    fe = WhisperFeatureExtractor(feature_size=128, sampling_rate=SR, chunk_length=chunk_s)
    Qwen2AudioProcessor(fe, tok).save_pretrained(out)
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


def train(root: Path, name: str, model: Path, media: Path, items: list[dict[str, Any]], **grpo_extra: Any) -> str:
    """SFT then GRPO through the real stage entry points; returns the final adapter folder.

    `grpo_extra` overrides GRPO settings (the vLLM tier reruns this test with `rollout_backend="vllm"`).
    """
    sft = sft_run(SFTStageConfig(
        model_name_or_path=str(model), train_file=str(write_jsonl(root / f"{name}_sft.jsonl", sft_rows(items))),
        media_root=str(media), output_dir=str(root / f"{name}_sft"), lora_r=16, lora_alpha=32, lora_dropout=0.0,
        modules_to_save=["multi_modal_projector", "lm_head"], learning_rate=3e-3, warmup_steps=0.05, max_steps=120,
        per_device_train_batch_size=16, seed=7, save_steps=1000, logging_steps=20))
    grpo = grpo_run(GRPOStageConfig(
        model_name_or_path=str(model), adapter=sft.adapter_dir,
        train_file=str(write_jsonl(root / f"{name}_grpo.jsonl", items)), media_root=str(media),
        output_dir=str(root / f"{name}_grpo"), learning_rate=5e-4, warmup_steps=0, max_steps=12,
        per_device_train_batch_size=32, num_generations=8, beta=0.0, temperature=1.0, max_completion_length=24,
        seed=7, save_steps=1000, logging_steps=4, **grpo_extra))
    log.info("%s: SFT loss %.3f, GRPO reward %s", name, sft.final_loss or float("nan"), grpo.final_reward)
    return grpo.adapter_dir


def fingerprint(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def test_it_learns_the_pitch_from_the_audio_alone(tmp_path: Path) -> None:
    check_learns_from_audio(tmp_path)


def check_learns_from_audio(tmp_path: Path, chunk_s: int = CHUNK_S, shuffled_control: bool = True,
                            **grpo_extra: Any) -> str:
    """The whole check; returns its one-line summary. The vLLM tier reruns it with vLLM rollouts and without the
    shuffled-label control, which tests the task, not the rollout backend (this tier keeps it)."""
    t0 = time.perf_counter()
    model = build_student(tmp_path / "student", chunk_s)
    media = tmp_path / "media"
    train_items = make_items(media, "train", N_TRAIN, seed=1)
    held_out = make_items(media, "heldout", N_HELD_OUT, seed=2)
    train_prints = {fingerprint(media / it["audio_path"]) for it in train_items}
    assert not train_prints & {fingerprint(media / it["audio_path"]) for it in held_out}, "held-out leaks into train"
    # same prompt text for every item; loudness and duration shared by both classes
    assert {json.dumps(it["prompt"][0]["content"][1]) for it in train_items + held_out} == {
        json.dumps({"type": "text", "text": PROMPT})}

    adapter = train(tmp_path, "real", model, media, train_items, **grpo_extra)
    acc = evaluate_accuracy(adapter, held_out, media_root=str(media), batch_size=50, max_new_tokens=24)
    zeroed = evaluate_accuracy(adapter, held_out, media_root=str(media), batch_size=50, max_new_tokens=24,
                               zero_audio=True)

    control = None
    if shuffled_control:
        shuffled_labels = [it["answer"] for it in train_items]
        random.Random(3).shuffle(shuffled_labels)
        shuffled = [dict(it, answer=lab) for it, lab in zip(train_items, shuffled_labels, strict=True)]
        control_adapter = train(tmp_path, "shuffled", model, media, shuffled, **grpo_extra)
        control = evaluate_accuracy(control_adapter, held_out, media_root=str(media), batch_size=50,
                                    max_new_tokens=24)

    elapsed = time.perf_counter() - t0
    shuffled_text = f"shuffled labels {control.accuracy:.3f}" if control else "shuffled labels not run"
    summary = (f"held-out accuracy {acc.accuracy:.3f} (n={acc.n}); audio zeroed {zeroed.accuracy:.3f}; "
               f"{shuffled_text}; {elapsed:.0f}s")
    log.warning("LEARNING TEST: %s", summary)
    print(f"LEARNING TEST: {summary}")
    assert acc.n >= 100
    assert acc.accuracy >= 0.8, summary
    assert abs(zeroed.accuracy - 0.5) <= 0.1, summary
    assert control is None or abs(control.accuracy - 0.5) <= 0.1, summary
    return summary  # the time is reported, never asserted: a loaded machine must not fail a correct result
