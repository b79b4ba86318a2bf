"""Sound-event validator throughput: seconds of audio validated per second of wall time (target >= 50x real time).

Runs the whole validator (claim extraction + MiniLM + YAMNet tagging once per clip + per-claim evidence) over the
real AVQA clips with a few teacher-style chains per clip, as a generation run would feed it (K chains per question
share one clip). Models are loaded and warmed once before timing, as in a long-running worker; audio decoding is
timed separately (the web app validates from the already-extracted 16 kHz wav). Audio seconds count each clip
once, not once per chain: it is the rate at which clips get validated.

    python -m bench.validate [--clips DIR_OR_FILES ...] [--chains-per-clip 4] [--repeat 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

TARGET_X = 50.0

CHAIN_TEMPLATES = [
    "<think>The frame shows the scene. I can hear {a} throughout the clip, and {b} in the background. "
    "The question asks which sound is heard, so the answer follows.</think><answer>A</answer>",
    "<think>No engine can be heard. Instead there is {a}, while a dog barks now and then.</think><answer>B</answer>",
    "<think>Someone is nearby. The crowd cheers and applauds; there is no music at all.</think><answer>C</answer>",
    "<think>A steady clatter of fingers on keys fills the room, without any speech. Then a siren wails, "
    "rising and falling.</think><answer>D</answer>",
]
SOUNDS = ["a loud engine", "people talking", "birds chirping", "music playing", "gunshots", "typing on a keyboard"]


def _clips(args: list[str] | None) -> list[Path]:
    if not args:
        from tests.real_fixtures import AVQA_VIDEO_DIR

        args = [str(AVQA_VIDEO_DIR)]
    out: list[Path] = []
    for a in args:
        p = Path(a)
        out += sorted(p.glob("*.mp4")) if p.is_dir() else [p]
    if not out:
        raise SystemExit(f"no clips found in {args}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", nargs="*", help="folder(s) or mp4 files (default: the real AVQA clips)")
    parser.add_argument("--chains-per-clip", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads (2 = the target box)")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))

    from pipeline.media import decode_audio
    from pipeline.validate import ValidationConfig, ValidationItem, validate_chains
    from pipeline.validate.sound_events import YamnetConfig, YamnetTagger

    clips = _clips(args.clips)
    t0 = time.perf_counter()
    decoded = {c.stem: decode_audio(c) for c in clips}
    decode_s = time.perf_counter() - t0
    audio_s = sum(len(a) / sr for a, sr in decoded.values())

    items = []
    for n, (name, (audio, sr)) in enumerate(decoded.items()):
        for k in range(args.chains_per_clip):
            template = CHAIN_TEMPLATES[k % len(CHAIN_TEMPLATES)]
            chain = template.format(a=SOUNDS[(n + k) % len(SOUNDS)], b=SOUNDS[(n + 2 * k + 1) % len(SOUNDS)])
            items.append(ValidationItem(id=f"{name}/{k}", audio=audio, sr=sr, chain_text=chain, question="q",
                                        choices=[], clip_id=name))

    cfg = ValidationConfig(validators="sound-events")
    tagger = YamnetTagger(YamnetConfig(intra_op_threads=args.threads))
    t1 = time.perf_counter()
    list(validate_chains(cfg, items[:2], tagger=tagger))  # load YAMNet + MiniLM, embed the 521 labels
    load_s = time.perf_counter() - t1

    runs = []
    for _ in range(args.repeat):
        # fresh chain texts each repeat would defeat nothing: the embedder caches texts, so clear it to be honest
        from pipeline.validate.text_embedding import default_embedder

        embedder = default_embedder()
        labels = set(tagger.labels)
        embedder.forget(keep=labels)  # keep label vectors only
        t = time.perf_counter()
        out = list(validate_chains(cfg, items, tagger=tagger))
        runs.append(time.perf_counter() - t)
    wall = statistics.median(runs)
    labels_count: dict[str, int] = {}
    for _, verdicts in out:
        labels_count[verdicts[0].label] = labels_count.get(verdicts[0].label, 0) + 1

    header = ("clips", 6), ("chains", 7), ("audio s", 8), ("decode s", 9), ("load s", 7), ("validate s", 11)
    print(" ".join(f"{name:>{width}}" for name, width in header), f"{'x realtime':>11}")
    x_rt = audio_s / wall
    print(f"{len(clips):>6} {len(items):>7} {audio_s:>8.1f} {decode_s:>9.2f} {load_s:>7.2f} {wall:>11.3f}",
          f"{x_rt:>11.1f}")
    x_with_decode = audio_s / (wall + decode_s)
    print(f"runs: {', '.join(f'{r:.3f}' for r in runs)} s; verdicts: {labels_count}; "
          f"with decode: {x_with_decode:.1f}x real time")
    verdict = "OK" if x_rt >= TARGET_X else "BELOW TARGET"
    print(f"\nSUMMARY: sound-event validator {x_rt:.0f}x real time ({x_with_decode:.0f}x incl. mp4 decode) over "
          f"{len(clips)} clips / {len(items)} chains, {args.threads} threads (target >= {TARGET_X:.0f}x, {verdict})")
    return 0 if x_rt >= TARGET_X else 1


if __name__ == "__main__":
    sys.exit(main())
