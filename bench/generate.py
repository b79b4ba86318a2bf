"""Teacher generation throughput: chains/s of the transformers backend, batched vs one request at a time.

Same questions (random frames, fixed seed), same K and token budget on both sides; lengths are fixed with
ignore_eos so both sides decode the same number of tokens. One warm-up per setting, then --repeat timed rounds,
alternating settings so machine noise hits all alike; the median is reported.

    python -m bench.generate [--model DIR] [--questions 8] [--k 4] [--new-tokens 32] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from pipeline.backends import GenerationRequest, Media, SamplingParams, load_backend  # noqa: E402
from pipeline.prompts import get_prompt  # noqa: E402

log = logging.getLogger("bench.generate")


def make_requests(n: int, k: int, new_tokens: int, frames: int, size: int) -> list[GenerationRequest]:
    rng = np.random.default_rng(0)
    prompt = get_prompt("teacher-v1")
    sampling = SamplingParams(temperature=1.0, top_p=0.95, max_new_tokens=new_tokens, seed=0, ignore_eos=True)
    return [GenerationRequest(f"q{i}", prompt.messages(f"What is making the sound in clip {i}?",
                                                       ["a dog", "a siren", "rain", "drums"]),
                              Media(frames=rng.integers(0, 256, (frames, size, size, 3), dtype=np.uint8), fps=2.0),
                              n=k, sampling=sampling) for i in range(n)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a Qwen2.5-VL checkpoint (default: build the tiny one in a temp folder)")
    parser.add_argument("--questions", type=int, default=8)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--batch-sizes", default="1,4,8", help="questions per generate call; 1 = one at a time")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            from pipeline import tiny

            model = str(tiny.build_model("tiny-qwen2_5-vl", Path(tmp) / "tiny-qwen2_5-vl"))
        sys.stdout.write(bench(args, model) + "\n")
    return 0


def bench(args: argparse.Namespace, model: str) -> str:
    """Run the rounds and return the printable table with its SUMMARY line."""
    backend = load_backend("transformers", model, device=args.device)
    requests = make_requests(args.questions, args.k, args.new_tokens, args.frames, args.size)
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    times: dict[int, list[float]] = {b: [] for b in sizes}
    outputs: dict[int, list[str]] = {}
    for round_ in range(args.repeat + 1):  # round 0 is the warm-up
        for b in sizes:
            backend.options.batch_size = b
            t0 = time.perf_counter()
            results = backend.generate(requests)
            elapsed = time.perf_counter() - t0
            if round_:
                times[b].append(elapsed)
            outputs[b] = [c.text for r in results for c in r.completions]
    chains = args.questions * args.k
    tokens = chains * args.new_tokens
    base = statistics.median(times[1]) if 1 in times else None
    lines = [f"model: {model}  questions {args.questions}  K {args.k}  new tokens {args.new_tokens}  "
             f"frames {args.frames}x{args.size}px  repeat {args.repeat} (median)",
             f"{'batch':>6}{'seconds':>10}{'chains/s':>10}{'tokens/s':>10}{'vs 1':>7}"]
    figures = {}
    for b in sizes:
        med = statistics.median(times[b])
        ratio = base / med if base else float("nan")
        figures[b] = {"seconds": round(med, 3), "chains_per_s": round(chains / med, 1),
                      "tokens_per_s": round(tokens / med, 1), "speedup_vs_1": round(ratio, 2)}
        lines.append(f"{b:>6}{med:>10.3f}{chains / med:>10.1f}{tokens / med:>10.1f}{ratio:>6.2f}x")
    best = max((b for b in sizes if b >= 4), key=lambda b: figures[b]["speedup_vs_1"], default=None)
    summary = {"chains": chains, "figures": figures, "best_batch": best,
               "batched_vs_single": figures[best]["speedup_vs_1"] if best else None}
    lines.append("SUMMARY " + json.dumps(summary))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
