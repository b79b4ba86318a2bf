"""Seconds per SFT step and per GRPO step (group of 8) on the tiny Qwen2-Audio on CPU, and where a GRPO step goes,
with `generate` rollouts and with colocated vLLM rollouts.

Both stages run through their real entry points (`pipeline.sft.run`, `pipeline.grpo.run`) on one-second tone
clips. Step times come from the on_progress timestamps (the first step is dropped as warm-up: allocator, lazy
imports, and for vLLM everything before it, engine start-up included). The GRPO rollout method
(`AudioGRPOTrainer._generate_rollouts`, the piece vLLM replaces) is timed on its own, so the table shows generation
against everything else (feature extraction, reference and policy log-prob forwards, backward, optimizer).

The vLLM variant (`rollout_backend="vllm"`, same model, group, token budget, dtype and seed) runs when vLLM is
importable (.venv-vllm) or with --vllm; --no-vllm skips it. Its rollout time includes the weight sync done before
each step's rollout (LoRA merge + in-place reload + LM-head re-pack), which is also shown on its own. It runs last:
an in-process engine's shutdown tears down vLLM's process-global distributed state, and once its worker starts,
`torch.set_num_threads` is a no-op in the whole process. --threads is exported as OMP_NUM_THREADS before torch
loads (vLLM then keeps that many torch threads rather than asking for 1); the table reports the torch threads and
allowed CPUs read at each step of each variant.

    python -m bench.train_step [--steps 8] [--batch 8] [--completion-tokens 32] [--threads 2] [--vllm | --no-vllm]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# In-process engine (no spawned EngineCore, computes on this process's threads); 1 GiB KV cache is plenty here.
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")

log = logging.getLogger("bench.train_step")
VLLM_OPTIONS = {"enforce_eager": True, "max_model_len": 1024, "dtype": "float32"}


def threads_now() -> str:
    """torch intra-op threads and the CPUs this process may run on, as they are right now."""
    import torch

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{torch.get_num_threads()}/{cpus}"


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
        self.threads: set[str] = set()

    def __call__(self, step: int, total: int, metrics: dict[str, float]) -> None:
        self.times.setdefault(step, time.perf_counter())
        self.threads.add(threads_now())

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
               completion_tokens: int, rollout_backend: str = "generate",
               is_correction: bool = True) -> dict[str, Any]:
    """Per-step seconds of one GRPO run: steps, rollouts, and for vLLM the syncs and the engine's own counters."""
    from pipeline.grpo import AudioGRPOTrainer, GRPOStageConfig, run

    rollout_times: list[float] = []
    sync_times: list[float] = []
    engines: list[Any] = []
    starts: list[float] = []
    original = AudioGRPOTrainer._generate_rollouts
    patches: list[tuple[Any, str, Any]] = [(AudioGRPOTrainer, "_generate_rollouts", original)]

    def timed(self: AudioGRPOTrainer, batch: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return original(self, batch)
        finally:
            rollout_times.append(time.perf_counter() - t0)

    logp_calls: list[int] = []
    logps = AudioGRPOTrainer._get_per_token_logps_and_entropies
    patches.append((AudioGRPOTrainer, "_get_per_token_logps_and_entropies", logps))

    def counted(self: AudioGRPOTrainer, *args: Any, **kwargs: Any) -> Any:
        logp_calls.append(1)
        return logps(self, *args, **kwargs)

    AudioGRPOTrainer._generate_rollouts = timed  # type: ignore[method-assign]
    AudioGRPOTrainer._get_per_token_logps_and_entropies = counted  # type: ignore[method-assign]
    if rollout_backend == "vllm":
        from pipeline.vllm_rollouts import ColocatedVLLM

        init, sync = ColocatedVLLM.__init__, ColocatedVLLM.sync
        patches += [(ColocatedVLLM, "__init__", init), (ColocatedVLLM, "sync", sync)]

        def timed_init(self: ColocatedVLLM, *args: Any, **kwargs: Any) -> None:
            t0 = time.perf_counter()
            init(self, *args, **kwargs)
            starts.append(time.perf_counter() - t0)
            engines.append(self)

        def timed_sync(self: ColocatedVLLM, model: Any) -> None:
            t0 = time.perf_counter()
            try:
                sync(self, model)
            finally:
                sync_times.append(time.perf_counter() - t0)

        ColocatedVLLM.__init__ = timed_init  # type: ignore[method-assign]
        ColocatedVLLM.sync = timed_sync  # type: ignore[method-assign]
    clock = StepClock()
    try:
        run(GRPOStageConfig(model_name_or_path=str(model), train_file=str(train), media_root=str(media),
                            output_dir=str(out), max_steps=steps + 1, per_device_train_batch_size=group,
                            num_generations=group, beta=0.04, max_completion_length=completion_tokens,
                            logging_steps=1, save_steps=10_000, rollout_backend=rollout_backend,
                            vllm_options=VLLM_OPTIONS if rollout_backend == "vllm" else {},
                            importance_sampling_correction=is_correction), on_progress=clock)
    finally:
        for owner, name, fn in patches:
            setattr(owner, name, fn)
    # Log-prob forwards per step: TRL adds an old-policy one for its importance-sampling correction with vLLM.
    result: dict[str, Any] = {"steps": clock.per_step(), "rollouts": rollout_times[1:], "threads": clock.threads,
                              "logp_forwards": len(logp_calls) / (steps + 1)}
    if engines:
        result.update(syncs=sync_times[1:], engine_start_s=starts[0], engine_syncs=engines[0].syncs,
                      engine_sync_seconds=engines[0].sync_seconds)
    return result


def _grpo_figures(r: dict[str, Any]) -> dict[str, float]:
    step, rollout = statistics.median(r["steps"]), statistics.median(r["rollouts"])
    fig = {"step_s": step, "rollout_s": rollout, "rest_s": step - rollout, "share": rollout / step,
           "logp_forwards": r["logp_forwards"]}
    if "syncs" in r:
        fig["sync_s"] = statistics.median(r["syncs"])
        fig["generate_s"] = statistics.median(a - b for a, b in zip(r["rollouts"], r["syncs"], strict=True))
    return fig


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=8, help="timed steps per stage (after one warm-up step)")
    parser.add_argument("--batch", type=int, default=8, help="SFT rows per step")
    parser.add_argument("--group", type=int, default=8, help="GRPO group size (one prompt per step)")
    parser.add_argument("--completion-tokens", type=int, default=32, help="GRPO max_completion_length")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS") or 2),
                        help="torch CPU threads (exported as OMP_NUM_THREADS; default: it, else 2)")
    vllm_flag = parser.add_mutually_exclusive_group()
    vllm_flag.add_argument("--vllm", dest="vllm", action="store_true", default=None,
                           help="also time GRPO with vLLM rollouts (default: when vLLM is importable)")
    vllm_flag.add_argument("--no-vllm", dest="vllm", action="store_false", help="generate rollouts only")
    parser.add_argument("--no-is-correction", dest="is_correction", action="store_false",
                        help="vLLM variant without TRL's importance-sampling correction (no old-policy forward)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # before torch loads; vLLM keeps an external value
    skipped = ""
    if args.vllm is None:
        args.vllm = importlib.util.find_spec("vllm") is not None
        skipped = "" if args.vllm else "vllm is not importable in this environment"
    elif not args.vllm:
        skipped = "--no-vllm"
    import torch

    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench_train_step_") as tmp:
        root = Path(tmp)
        model, media, sft_file, grpo_file = _data(root, 16)
        sft = bench_sft(model, media, sft_file, root / "sft", args.steps, args.batch)
        grpo = bench_grpo(model, media, grpo_file, root / "grpo", args.steps, args.group, args.completion_tokens)
        # Last: the engine's shutdown tears down vLLM's global state, and it freezes torch's thread count.
        vllm = bench_grpo(model, media, grpo_file, root / "grpo_vllm", args.steps, args.group,
                          args.completion_tokens, rollout_backend="vllm",
                          is_correction=args.is_correction) if args.vllm else None
    load_end = os.getloadavg()[0]
    sft_s = statistics.median(sft)
    g = _grpo_figures(grpo)
    setting = f"group {args.group}, <= {args.completion_tokens} new tokens, beta 0.04"
    rows = [
        ("SFT step", f"batch {args.batch}", sft_s, None),
        ("GRPO step, generate rollouts", setting, g["step_s"], None),
        ("  rollout (_generate_rollouts)", "generate with audio features", g["rollout_s"], g["share"]),
        ("  rest", f"features, {g['logp_forwards']:g} log-prob fwd/step (ref, policy), bwd, optim",
         g["rest_s"], 1 - g["share"]),
    ]
    v = _grpo_figures(vllm) if vllm else None
    is_note = " (+ old policy, IS correction)" if args.is_correction else " (IS correction off)"
    if v:
        rows += [
            ("GRPO step, vLLM rollouts", f"{setting}; colocated, eager", v["step_s"], None),
            ("  rollout (_generate_rollouts)", "weight sync + vLLM generate with audio", v["rollout_s"], v["share"]),
            ("    weight sync", "LoRA merge, in-place reload, LM-head re-pack", v["sync_s"], v["sync_s"] / v["step_s"]),
            ("    vLLM generate", "rollout minus sync", v["generate_s"], v["generate_s"] / v["step_s"]),
            ("  rest", f"same, {v['logp_forwards']:g} log-prob fwd/step" + is_note, v["rest_s"], 1 - v["share"]),
        ]
    threads = f"generate {','.join(sorted(grpo['threads']))}"
    if vllm:
        threads += f", vLLM {','.join(sorted(vllm['threads']))}"
    print(f"tiny-qwen2-audio on CPU, float32, OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}; torch threads/CPUs "
          f"allowed during GRPO steps: {threads}; median of {args.steps} steps after 1 warm-up")
    print(f"1-min load average {load_start:.1f} at start, {load_end:.1f} at end on {os.cpu_count()} CPUs "
          f"(other work makes every figure slower and noisier)\n")
    print(f"{'phase':34} {'setting':58} {'s/step':>8} {'share':>6}")
    for name, setting_, seconds, share in rows:
        print(f"{name:34} {setting_:58} {seconds:8.3f} {f'{share:.0%}' if share is not None else '':>6}")
    summary: dict[str, Any] = {
        "sft_s_per_step": round(sft_s, 3), "grpo_s_per_step": round(g["step_s"], 3),
        "grpo_rollout_s": round(g["rollout_s"], 3), "grpo_generation_share": round(g["share"], 3),
        "grpo_logprob_backward_share": round(1 - g["share"], 3), "logp_forwards_per_step": g["logp_forwards"],
        "threads": args.threads,
        "loadavg": [round(load_start, 2), round(load_end, 2)]}
    if vllm and v:
        ratio = g["rollout_s"] / v["rollout_s"]
        print(f"\nvLLM: engine start {vllm['engine_start_s']:.1f} s (before the warm-up step, excluded); "
              f"{vllm['engine_syncs']} syncs, {vllm['engine_sync_seconds']:.2f} s in all (warm-up step included); "
              f"options {VLLM_OPTIONS}; importance-sampling correction {'on' if args.is_correction else 'off'}")
        print(f"rollout generate / vLLM: {ratio:.2f}x faster with vLLM; "
              f"step: {g['step_s'] / v['step_s']:.2f}x")
        summary["vllm"] = {
            "grpo_s_per_step": round(v["step_s"], 3), "grpo_rollout_s": round(v["rollout_s"], 3),
            "grpo_generation_share": round(v["share"], 3), "sync_s_per_step": round(v["sync_s"], 4),
            "generate_s_per_step": round(v["generate_s"], 3), "rest_s_per_step": round(v["rest_s"], 3),
            "logp_forwards_per_step": v["logp_forwards"], "importance_sampling_correction": args.is_correction,
            "engine_start_s": round(vllm["engine_start_s"], 1), "syncs": vllm["engine_syncs"],
            "sync_seconds_total": round(vllm["engine_sync_seconds"], 3),
            "rollout_speedup": round(ratio, 2), "step_speedup": round(g["step_s"] / v["step_s"], 2)}
    else:
        print(f"\nvLLM rollouts: skipped ({skipped})")
        summary["vllm"] = None
        summary["vllm_skipped"] = skipped
    print("\nSUMMARY " + json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
