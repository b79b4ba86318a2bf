"""Seconds per SFT step and per GRPO step (group of 8) on the tiny Qwen2-Audio on CPU, and where a GRPO step goes.

Both stages run through their real entry points (`pipeline.sft.run`, `pipeline.grpo.run`) on one-second tone
clips. Step times come from the on_progress timestamps (the first step is dropped as warm-up: allocator, lazy
imports). The GRPO rollout method (`AudioGRPOTrainer._generate_rollouts`, the piece vLLM will replace) is timed
on its own, so the table shows generation against everything else (feature extraction, reference and policy
log-prob forwards, backward, optimizer).

    python -m bench.train_step [--steps 8] [--batch 8] [--completion-tokens 32] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

log = logging.getLogger("bench.train_step")


def _data(root: Path, n: int) -> tuple[Path, Path, Path, Path]:
    from pipeline import tiny
    from tests.pipeline.training_data import sft_row, tone_items, write_jsonl

    model = tiny.build_model("tiny-qwen2-audio", root / "tiny-qwen2-audio")
    media = root / "media"
    items = tone_items(media, n)
    return (model, media, write_jsonl(root / "sft.jsonl", [sft_row(i, "I hear a steady tone.") for i in items]),
            write_jsonl(root / "grpo.jsonl", items))


class StepClock:
    """on_progress that records the wall time of each reported step."""

    def __init__(self) -> None:
        self.times: dict[int, float] = {}

    def __call__(self, step: int, total: int, metrics: dict[str, float]) -> None:
        self.times.setdefault(step, time.perf_counter())

    def per_step(self) -> list[float]:
        steps = sorted(self.times)
        return [self.times[b] - self.times[a] for a, b in zip(steps, steps[1:], strict=False)]


def bench_sft(model: Path, media: Path, train: Path, out: Path, steps: int, batch: int) -> list[float]:
    from pipeline.sft import SFTStageConfig, run

    clock = StepClock()
    run(SFTStageConfig(model_name_or_path=str(model), train_file=str(train), media_root=str(media),
                       output_dir=str(out), max_steps=steps + 1, per_device_train_batch_size=batch,
                       logging_steps=1, save_steps=10_000), on_progress=clock)
    return clock.per_step()


def bench_grpo(model: Path, media: Path, train: Path, out: Path, steps: int, group: int,
               completion_tokens: int) -> tuple[list[float], list[float]]:
    from pipeline.grpo import AudioGRPOTrainer, GRPOStageConfig, run

    rollout_times: list[float] = []
    original = AudioGRPOTrainer._generate_rollouts

    def timed(self: AudioGRPOTrainer, batch: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return original(self, batch)
        finally:
            rollout_times.append(time.perf_counter() - t0)

    AudioGRPOTrainer._generate_rollouts = timed  # type: ignore[method-assign]
    clock = StepClock()
    try:
        run(GRPOStageConfig(model_name_or_path=str(model), train_file=str(train), media_root=str(media),
                            output_dir=str(out), max_steps=steps + 1, per_device_train_batch_size=group,
                            num_generations=group, beta=0.04, max_completion_length=completion_tokens,
                            logging_steps=1, save_steps=10_000), on_progress=clock)
    finally:
        AudioGRPOTrainer._generate_rollouts = original  # type: ignore[method-assign]
    return clock.per_step(), rollout_times[1:]


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=8, help="timed steps per stage (after one warm-up step)")
    parser.add_argument("--batch", type=int, default=8, help="SFT rows per step")
    parser.add_argument("--group", type=int, default=8, help="GRPO group size (one prompt per step)")
    parser.add_argument("--completion-tokens", type=int, default=32, help="GRPO max_completion_length")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench_train_step_") as tmp:
        root = Path(tmp)
        model, media, sft_file, grpo_file = _data(root, 16)
        sft = bench_sft(model, media, sft_file, root / "sft", args.steps, args.batch)
        grpo, rollouts = bench_grpo(model, media, grpo_file, root / "grpo", args.steps, args.group,
                                    args.completion_tokens)
    sft_s, grpo_s = statistics.median(sft), statistics.median(grpo)
    gen_s = statistics.median(rollouts)
    share = gen_s / grpo_s
    rows = [
        ("SFT step", f"batch {args.batch}", sft_s),
        ("GRPO step", f"group {args.group}, <= {args.completion_tokens} new tokens, beta 0.04", grpo_s),
        ("  rollout (_generate_rollouts)", "generate with audio features", gen_s),
        ("  rest", "features, ref + policy log-probs, backward, optimizer", grpo_s - gen_s),
    ]
    print(f"tiny-qwen2-audio on CPU, torch threads {args.threads}; median of {args.steps} steps after 1 warm-up\n")
    print(f"{'phase':34} {'setting':58} {'s/step':>8}")
    for name, setting, seconds in rows:
        print(f"{name:34} {setting:58} {seconds:8.3f}")
    summary = {"sft_s_per_step": round(sft_s, 3), "grpo_s_per_step": round(grpo_s, 3),
               "grpo_generation_share": round(share, 3), "grpo_logprob_backward_share": round(1 - share, 3)}
    print("\nSUMMARY " + json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
