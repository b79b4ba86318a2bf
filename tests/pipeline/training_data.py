"""Small shared builders for the SFT/GRPO tests: the tiny student and a handful of tone clips in export format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline import tiny
from pipeline.synth import render_tones, write_wav

PROMPT = "Is the tone high or low? A. low B. high"
CHOICES = ["low", "high"]


def tiny_student(root: Path) -> Path:
    return tiny.build_model("tiny-qwen2-audio", root / "tiny-qwen2-audio")


def tone_items(media: Path, n: int = 8) -> list[dict[str, Any]]:
    """GRPO-export rows over n one-second tones (relative paths under media); even rows low, odd rows high."""
    items = []
    for i in range(n):
        label = "AB"[i % 2]
        freq = (300 + 40 * i) if label == "A" else (1500 + 200 * i)
        rel = f"tones/t{i}.wav"
        write_wav(media / rel, render_tones([(0.1, 0.9, freq)], duration=1.0), 16000)
        items.append({"id": f"t{i}", "prompt": [{"role": "user", "content": [
            {"type": "audio", "path": rel}, {"type": "text", "text": PROMPT}]}],
            "answer": label, "choices": CHOICES, "audio_path": rel})
    return items


def sft_row(item: dict[str, Any], think: str = "I hear a tone.") -> dict[str, Any]:
    return {"id": item["id"], "messages": [*item["prompt"], {"role": "assistant", "content": [
        {"type": "text", "text": f"<think>{think}</think><answer>{item['answer']}</answer>"}]}]}


def preference_row(item: dict[str, Any], chosen: str, rejected: str) -> dict[str, Any]:
    """A row of `preferences.jsonl` (pipeline/export.py) over an item's prompt."""
    def turn(text: str) -> list[dict[str, Any]]:
        return [{"role": "assistant", "content": [{"type": "text", "text": text}]}]

    return {"id": item["id"], "prompt": item["prompt"], "source": "hallucination", "chosen": turn(chosen),
            "rejected": turn(rejected)}


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path
