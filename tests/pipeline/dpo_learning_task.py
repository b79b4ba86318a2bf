"""The audio-dependent preference task of the DPO learning test, shared with its prototype runs.

Pairs over the demo task's pitch bands (pipeline/demo_task.py): the chosen chain claims the band the clip is in,
the rejected one another band; prompts are identical, so only the audio tells them apart. Every ordered (right,
wrong) band pair occurs equally often, so a model that ignores the audio has a mean margin of exactly zero change
whatever it learns about the texts: log p(band b) − log p(band w) averages to zero over all ordered pairs.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path
from typing import Any

from pipeline.answers import letter
from pipeline.demo_task import BANDS, CHOICES, CLIP_S, QUESTION
from pipeline.media import SAMPLE_RATE
from pipeline.synth import render_tones, write_wav
from tests.pipeline.training_data import preference_row

PROMPT = QUESTION + "\n" + "".join(f"{letter(i)}. {c}\n" for i, c in enumerate(CHOICES))
ORDERED = list(itertools.permutations(range(len(BANDS)), 2))  # 12 (right, wrong) band pairs


def chain(band: int) -> str:
    return f"<think>A steady {BANDS[band][0]} tone.</think><answer>{letter(band)}</answer>"


def band_pairs(media: Path, split: str, per_pair: int, seed: int, silent: bool = False) -> list[dict[str, Any]]:
    """per_pair clips for each ordered (right, wrong) band pair, shuffled; `silent` writes silence instead."""
    rng = random.Random(seed)
    combos = ORDERED * per_pair
    rng.shuffle(combos)
    rows = []
    for i, (right, wrong) in enumerate(combos):
        lo, hi = BANDS[right][1]
        samples = render_tones([] if silent else [(0.1, 0.9, rng.uniform(lo, hi))], duration=CLIP_S,
                               sample_rate=SAMPLE_RATE, amplitude=0.4)
        rel = f"{split}/{i:04d}.wav"
        write_wav(media / rel, samples, SAMPLE_RATE)
        item = {"id": f"{split}-{i}", "prompt": [{"role": "user", "content": [
            {"type": "audio", "path": rel}, {"type": "text", "text": PROMPT}]}]}
        rows.append(preference_row(item, chain(right), chain(wrong)) | {"right": right, "wrong": wrong})
    return rows
