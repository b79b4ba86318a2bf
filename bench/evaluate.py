"""Evaluation throughput on the tiny student: items per second batched vs one at a time, and the silent pass's cost.

Every evaluation also decodes each item with its audio silenced (the audio's share of the accuracy), so its cost
is reported as a ratio to the audio pass, measured in the same run on the same items. Model load is excluded
(a worker loads once); each figure is the median of `--repeat` runs.

    python -m bench.evaluate [--items 32] [--batch 8] [--max-new-tokens 32] [--repeat 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def tone_items(media: Path, n: int) -> list[dict]:
    """n one-second tones in the GRPO export format: "high or low?" with the answer in the pitch."""
    from pipeline.synth import render_tones, write_wav

    items = []
    for i in range(n):
        label, freq = ("A", 300 + 40 * i) if i % 2 == 0 else ("B", 1500 + 200 * i)
        rel = f"tones/t{i}.wav"
        write_wav(media / rel, render_tones([(0.1, 0.9, freq)], duration=1.0), 16000)
        items.append({"id": f"t{i}", "answer": label, "choices": ["low", "high"], "audio_path": rel, "prompt": [
            {"role": "user", "content": [{"type": "audio", "path": rel},
                                         {"type": "text", "text": "Is the tone high or low? A. low B. high"}]}]})
    return items


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))

    import torch

    from pipeline import tiny
    from pipeline.scoring import evaluate_accuracy, load_student

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        student = tiny.build_model("tiny-qwen2-audio", root / "student")
        items = tone_items(root / "media", n=args.items)
        model, processor = load_student(student)
        kw = {"media_root": str(root / "media"), "max_new_tokens": args.max_new_tokens}
        evaluate_accuracy((model, processor), items[:2], batch_size=2, **kw)  # warm-up

        def timed(**extra: object) -> float:
            runs = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                evaluate_accuracy((model, processor), items, **kw, **extra)  # type: ignore[arg-type]
                runs.append(time.perf_counter() - start)
            return statistics.median(runs)

        single = timed(batch_size=1)
        batched = timed(batch_size=args.batch)
        silent = timed(batch_size=args.batch, zero_audio=True)
    n = len(items)
    print(f"items={n} max_new_tokens={args.max_new_tokens} threads={args.threads} repeat={args.repeat}")
    print(f"one at a time : {n / single:7.2f} items/s ({single:.2f} s)")
    print(f"batched ({args.batch:>2})  : {n / batched:7.2f} items/s ({batched:.2f} s)  -> {single / batched:.2f}x")
    print(f"silent pass   : {n / silent:7.2f} items/s ({silent:.2f} s)  -> {silent / batched:.2f}x the audio pass;"
          f" evaluation with both passes costs {(batched + silent) / batched:.2f}x one pass")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
