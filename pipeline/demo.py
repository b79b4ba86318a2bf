"""A small, licence-clean demo dataset in AVQA format, generated on the fly (no third-party media).

Each clip is a moving coloured shape whose motion matches a synthetic sound (a rising tone, beeps that speed
up, a low vs. a high tone ...), with one 4-way question that is answerable from the sound alone, so the
whole teacher -> audio validation -> student loop can be demonstrated and tested on any machine.

    python -m pipeline.demo --out DIR [--n 8]
"""

from __future__ import annotations

import argparse
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.media import SAMPLE_RATE
from pipeline.synth import Tone, render_tones, write_av_clip, write_text_if_changed

log = logging.getLogger(__name__)

DURATION = 3.0
FPS = 12
SIZE = (160, 120)  # (width, height)
JSON_NAME = "demo_avqa.json"
VIDEO_DIR = "videos"
BACKGROUND = (18, 22, 30)


@dataclass(frozen=True)
class Scenario:
    """One clip recipe: its sound, its picture, and the question the sound answers (choices[0] is right)."""

    slug: str
    tones: tuple[Tone, ...]
    draw: Callable[[float], np.ndarray]
    question: str
    choices: tuple[str, str, str, str]
    relation: str
    qtype: str
    stereo_pan: tuple[tuple[float, float, float], ...] = ()  # (start, end, pan -1 left .. +1 right)


# ------------------------------------------------------------------------------------------------ drawing


def _canvas() -> np.ndarray:
    w, h = SIZE
    img = np.empty((h, w, 3), dtype=np.uint8)
    img[:] = BACKGROUND
    return img


def _disc(img: np.ndarray, cx: float, cy: float, r: float, color: tuple[int, int, int]) -> np.ndarray:
    h, w = img.shape[:2]
    yy, xx = np.ogrid[:h, :w]
    img[(xx - cx) ** 2 + (yy - cy) ** 2 <= r * r] = color
    return img


def _box(img: np.ndarray, cx: float, cy: float, half: float, color: tuple[int, int, int]) -> np.ndarray:
    h, w = img.shape[:2]
    y0, y1 = max(0, int(cy - half)), min(h, int(cy + half))
    x0, x1 = max(0, int(cx - half)), min(w, int(cx + half))
    img[y0:y1, x0:x1] = color
    return img


def _active(tones: tuple[Tone, ...], t: float) -> bool:
    return any(start <= t < end for start, end, _ in tones)


# ---------------------------------------------------------------------------------------------- scenarios


def _beeps(starts: list[float], length: float, freq: float) -> tuple[Tone, ...]:
    return tuple((s, s + length, freq) for s in starts)


def _scenarios() -> list[Scenario]:
    w, h = SIZE
    speed_up = _beeps([0.1, 0.8, 1.35, 1.8, 2.15, 2.45, 2.7], 0.1, 880.0)
    three = _beeps([0.4, 1.3, 2.2], 0.25, 660.0)
    late = ((1.5, 3.0, 523.0),)
    low_high = ((0.3, 1.2, 220.0), (1.8, 2.7, 1320.0))
    bursts = ((0.4, 1.0, 700.0), (1.8, 2.4, 700.0))
    return [
        Scenario(
            "rising_tone", ((0.0, DURATION, (300.0, 1200.0)),),
            lambda t: _disc(_canvas(), w / 2, h - 15 - (h - 30) * t / DURATION, 10, (240, 180, 40)),
            "Is the pitch of the tone rising or falling?",
            ("Rising", "Falling", "It stays the same", "There is no tone"), "Sound", "Happening",
        ),
        Scenario(
            "falling_tone", ((0.0, DURATION, (1200.0, 300.0)),),
            lambda t: _disc(_canvas(), w / 2, 15 + (h - 30) * t / DURATION, 10, (60, 200, 240)),
            "Is the pitch of the tone rising or falling?",
            ("Falling", "Rising", "It stays the same", "There is no tone"), "Sound", "Happening",
        ),
        Scenario(
            "beeps_speed_up", speed_up,
            lambda t: _box(_canvas(), w / 2, h / 2, 22 if _active(speed_up, t) else 8, (230, 70, 90)),
            "How does the rhythm of the beeps change?",
            ("The beeps get faster", "The beeps get slower", "The beeps stay evenly spaced", "There is one long beep"),
            "Sound", "Happening",
        ),
        Scenario(
            "low_tone_big_drum", ((0.2, 2.8, 150.0),),
            lambda t: _disc(_disc(_canvas(), 45, h / 2, 30 + 3 * np.sin(40 * t), (200, 120, 60)),
                            125, h / 2, 9, (120, 200, 120)),
            "Which object is making the sound, judging by its pitch?",
            ("The large circle, a low tone", "The small circle, a high tone", "Both circles at once",
             "Neither, the clip is silent"), "Both", "Which",
        ),
        Scenario(
            "high_tone_small_bell", ((0.2, 2.8, 1800.0),),
            lambda t: _disc(_disc(_canvas(), 45, h / 2, 30, (200, 120, 60)),
                            125, h / 2, 9 + 2 * np.sin(60 * t), (120, 200, 120)),
            "Which object is making the sound, judging by its pitch?",
            ("The small circle, a high tone", "The large circle, a low tone", "Both circles at once",
             "Neither, the clip is silent"), "Both", "Which",
        ),
        Scenario(
            "bursts_left_then_right", bursts,
            lambda t: _box(_canvas(), 30 if t < 1.4 else w - 30, h / 2, 14 if _active(bursts, t) else 5,
                           (170, 110, 230)),
            "How many separate bursts of sound are heard?",
            ("Two", "One", "Three", "Four"), "Sound", "Happening",
            stereo_pan=((0.0, 1.4, -1.0), (1.4, DURATION, 1.0)),
        ),
        Scenario(
            "sound_starts_halfway", late,
            lambda t: _disc(_canvas(), w / 2, h / 2, 16, (250, 250, 250)) if t >= 1.5 else _canvas(),
            "When does the sound start?",
            ("About halfway through", "Right at the beginning", "In the last quarter of a second",
             "It never starts"), "Sound", "When",
        ),
        Scenario(
            "low_then_high", low_high,
            lambda t: _box(_canvas(), 40 + 80 * min(1.0, t / DURATION * 1.2), h / 2, 12,
                           (90, 140, 250) if t < 1.5 else (250, 140, 90)),
            "What comes after the low tone?",
            ("A high tone", "Another low tone", "A rising glide", "Nothing, the clip ends"), "Sound", "Before Next",
        ),
        Scenario(
            "three_beeps", three,
            lambda t: _disc(_canvas(), w / 2, h / 2, 18 if _active(three, t) else 6, (100, 230, 160)),
            "How many beeps are heard?",
            ("Three", "Two", "Four", "Five"), "Sound", "Which",
        ),
    ]


SCENARIOS: tuple[Scenario, ...] = tuple(_scenarios())


def _track(sc: Scenario) -> np.ndarray:
    mono = render_tones(sc.tones, duration=DURATION, sample_rate=SAMPLE_RATE)
    if not sc.stereo_pan:
        return mono
    gains = np.ones((len(mono), 2), dtype=np.float32)
    for start, end, pan in sc.stereo_pan:
        i0, i1 = round(start * SAMPLE_RATE), round(end * SAMPLE_RATE)
        gains[i0:i1] = ((1 - pan) / 2, (1 + pan) / 2)
    return mono[:, None] * gains


def _item(i: int, sc: Scenario, name: str) -> dict:
    """AVQA row; the choice order is shuffled by a seed fixed per clip so answers aren't always "A"."""
    order = list(range(4))
    random.Random(name).shuffle(order)
    return {
        "id": i,
        "video_name": name,
        "video_id": i,
        "question_text": sc.question,
        "multi_choice": [sc.choices[j] for j in order],
        "answer": order.index(0),
        "question_relation": sc.relation,
        "question_type": sc.qtype,
    }


def build_demo(out_dir: Path, n: int = 8) -> Path:
    """Write `n` clips to out_dir/videos and their questions to out_dir/demo_avqa.json; return out_dir.

    Idempotent: files whose bytes would not change are left untouched (same mtime), so re-running is free
    for anything that watches them.
    """
    out_dir = Path(out_dir)
    videos = out_dir / VIDEO_DIR
    videos.mkdir(parents=True, exist_ok=True)
    items = []
    for i in range(n):
        sc = SCENARIOS[i % len(SCENARIOS)]
        name = f"demo{i:02d}_{sc.slug}"
        write_av_clip(videos / f"{name}.mp4", duration=DURATION, fps=FPS, size=SIZE, color=sc.draw,
                      sample_rate=SAMPLE_RATE, samples=_track(sc))
        items.append(_item(i, sc, name))
    path = out_dir / JSON_NAME
    write_text_if_changed(path, json.dumps(items, indent=2) + "\n")
    log.info("demo dataset: %d clips in %s", n, out_dir)
    return out_dir


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Generate the synthetic AVQA-format demo dataset.")
    ap.add_argument("--out", type=Path, required=True, help="output folder (videos/ and demo_avqa.json)")
    ap.add_argument("--n", type=int, default=8, help="number of clips")
    ns = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    build_demo(ns.out, ns.n)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
