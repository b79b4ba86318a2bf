"""A learnable demo task: which pitch band is the tone in? Audio-only, 4-way, disjoint train and test splits.

The embedded demo's tiny models are random, so a teacher run writes noise and a pretrained student answers nothing.
This task shows the training half of the product doing something real on two CPU cores: every item has the same
question and the same choices, and one steady tone whose frequency is drawn fresh per clip from one of four bands,
so nothing but the sound separates the answers. Loudness and timing vary per clip and are shared by all bands.
Reference chains (one per train question, written from the label and the tone's own frequency) are what the demo
imports and accepts; an SFT of the 2 s tiny student (`tiny-qwen2-audio-2s`, recipe `sft_demo_task`) on them beats
the pretrained student on the test split, and the evaluation's silenced-audio pass shows the gain comes from the
sound. Files are in the MMAU format (audio-only, answers as text), one file per split:

    python -m pipeline.demo_task --out DIR [--train 256 --test 100]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.answers import letter
from pipeline.media import SAMPLE_RATE
from pipeline.synth import render_tones, write_text_if_changed, write_wav

log = logging.getLogger(__name__)

QUESTION = "Listen to the tone. Which pitch band is it in?"
BANDS: tuple[tuple[str, tuple[float, float]], ...] = (
    ("very low", (150.0, 250.0)), ("low", (500.0, 800.0)), ("high", (1500.0, 2300.0)), ("very high", (3800.0, 5500.0)),
)
CHOICES = [name for name, _ in BANDS]
CLIP_S = 1.0
AUDIO_DIR = "pitch"
TRAIN_SEED, TEST_SEED = 11, 12
DATASET_NAME = "Demo task: pitch bands (learnable)"


@dataclass(frozen=True)
class TaskFiles:
    """What `build_task` wrote: one MMAU JSON per split, the audio folder, the reference chains."""

    train: Path
    test: Path
    audio_dir: Path
    chains: Path


def _clip(rng: random.Random, band: int) -> tuple[Any, float]:
    lo, hi = BANDS[band][1]
    freq = rng.uniform(lo, hi)
    start = rng.uniform(0.05, 0.2)
    end = rng.uniform(0.75, 0.95)
    samples = render_tones([(start, end, freq)], duration=CLIP_S, sample_rate=SAMPLE_RATE,
                           amplitude=rng.uniform(0.2, 0.5))
    return samples, freq


def reference_chain(band: int, freq: float) -> str:
    """The chain a careful listener would write: what is heard (a sine tone, its own pitch, the band), then the letter.

    Kept short: the demo's student is tiny and has a few minutes of CPU to learn it. It names the sound ("sine tone",
    a tagger label) and more than the option's words, so the chain flags (pipeline/flags.py) let it through: "A steady
    low tone." alone restates the answer, and a snapshot would leave every reference chain out.
    """
    heard = f"A steady sine tone, about {round(freq, -1):.0f} Hz, {BANDS[band][0]}."
    return f"<think>{heard}</think><answer>{letter(band)}</answer>"


def _rows(out_dir: Path, split: str, n: int, seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """n balanced items of one split (exactly n/4 per band, shuffled), and their reference chains."""
    rng = random.Random(seed)
    bands = [i % len(BANDS) for i in range(n)]
    rng.shuffle(bands)
    rows, chains = [], []
    for i, band in enumerate(bands):
        samples, freq = _clip(rng, band)
        rel = f"{AUDIO_DIR}/{split}-{i:04d}.wav"
        write_wav(out_dir / rel, samples, SAMPLE_RATE)
        qid = f"pitch-{split}-{i:04d}"
        rows.append({"id": qid, "audio_id": rel, "question": QUESTION, "choices": CHOICES, "answer": CHOICES[band],
                     "category": "Perception", "sub-category": "pitch", "difficulty": "easy", "task": "sound",
                     "split": split})
        chains.append({"id": f"{qid}-ref", "question": qid, "chain": reference_chain(band, freq)})
    return rows, chains



def fingerprint(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def build_task(out_dir: Path, n_train: int = 256, n_test: int = 100) -> TaskFiles:
    """Write both splits under out_dir (deterministic: same arguments, same bytes); refuses a split overlap."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    train, chains = _rows(out_dir, "train", n_train, TRAIN_SEED)
    test, _ = _rows(out_dir, "test", n_test, TEST_SEED)
    seen = {fingerprint(out_dir / r["audio_id"]) for r in train}
    if any(fingerprint(out_dir / r["audio_id"]) in seen for r in test):
        raise RuntimeError("a test clip is byte-identical to a train clip: the splits must be disjoint")
    files = TaskFiles(out_dir / "pitch_train.json", out_dir / "pitch_test.json", out_dir / AUDIO_DIR,
                      out_dir / "pitch_chains.jsonl")
    write_text_if_changed(files.train, json.dumps(train, indent=1) + "\n")
    write_text_if_changed(files.test, json.dumps(test, indent=1) + "\n")
    write_text_if_changed(files.chains, "".join(json.dumps(c) + "\n" for c in chains))
    log.info("demo task: %d train + %d test clips in %s", n_train, n_test, out_dir)
    return files


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Generate the learnable pitch-band demo task (MMAU format).")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--train", type=int, default=256)
    ap.add_argument("--test", type=int, default=100)
    ns = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    build_task(ns.out, ns.train, ns.test)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
