"""Teacher generation throughput: chains/s of the transformers backend (batched vs one request at a time) and of
the vLLM backend (every request in one `generate` call), measured in one run.

Same questions (random frames, fixed seed), same K, token budget, dtype and torch thread count on every side;
lengths are fixed with ignore_eos so all sides decode the same number of tokens (checked: the table shows the
tokens each side actually decoded). One warm-up per setting, then --repeat timed rounds, alternating settings so
machine noise hits all alike; the median is reported. vLLM's import and engine start-up are printed but kept out of
its throughput.

Threads: --threads is exported as OMP_NUM_THREADS before torch loads and set with torch.set_num_threads, for both
backends. vLLM on CPU otherwise wants 1 torch thread for serving; in-process its worker first replaces
`torch.set_num_threads` with a no-op for the whole process, so its "Reducing Torch threads from 2 to 1" log line
changes nothing, and the thread count cannot be changed after the engine starts. The table reports what each
backend really ran with (`torch.get_num_threads()` / the process CPU affinity, read at each call).

vLLM runs when it is importable (the .venv-vllm environment) or with --vllm, which fails loudly without it;
--no-vllm skips it. Without vLLM the transformers part runs and the table says vLLM was skipped.

    python -m bench.generate [--model DIR] [--questions 8] [--k 4] [--new-tokens 32] [--repeat 3] [--dtype float32]
                             [--threads 2] [--vllm | --no-vllm]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# In-process engine: no spawned EngineCore (~15 s less start-up, no __main__ guard needed) and it computes with
# this process's threads, the ones reported. 1 GiB KV cache is ~2 M tokens for the tiny model.
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")

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


def threads_now() -> str:
    """torch intra-op threads and the CPUs this process may run on, as they are right now."""
    import torch

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{torch.get_num_threads()}/{cpus}"


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
    parser.add_argument("--dtype", default="float32", help="model dtype on both backends (float32 | bfloat16)")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS") or 2),
                        help="torch threads for both backends (exported as OMP_NUM_THREADS; default: it, else 2)")
    vllm_flag = parser.add_mutually_exclusive_group()
    vllm_flag.add_argument("--vllm", dest="vllm", action="store_true", default=None,
                           help="measure vLLM too (default: when it is importable); fail if it is not")
    vllm_flag.add_argument("--no-vllm", dest="vllm", action="store_false", help="transformers only")
    parser.add_argument("--max-model-len", type=int, default=2048, help="vLLM context budget per sequence")
    parser.add_argument("--max-num-seqs", type=int, default=None,
                        help="vLLM sequences decoded together (default: questions x K, all chains at once)")
    parser.add_argument("--chunked-prefill", action="store_true",
                        help="leave vLLM's chunked prefill on (on CPU, seeded requests whose prefill is split "
                             "across steps crash vllm-cpu 0.32: 'CPU Generator does not use offset')")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    # Before torch is imported and before vLLM decides its serving threads (it keeps an external OMP_NUM_THREADS).
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    if args.vllm is None:
        args.vllm = importlib.util.find_spec("vllm") is not None
        args.vllm_reason = "" if args.vllm else "vllm is not importable in this environment"
    else:
        args.vllm_reason = "" if args.vllm else "--no-vllm"
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            from pipeline import tiny

            model = str(tiny.build_model("tiny-qwen2_5-vl", Path(tmp) / "tiny-qwen2_5-vl"))
        sys.stdout.write(bench(args, model) + "\n")
    return 0


def _timed(generate: Callable[[list[GenerationRequest]], list[Any]],
           requests: list[GenerationRequest]) -> tuple[float, int]:
    """Seconds of one generate call and the completion tokens it really decoded."""
    t0 = time.perf_counter()
    results = generate(requests)
    elapsed = time.perf_counter() - t0
    return elapsed, sum(c.n_tokens for r in results for c in r.completions)


def bench(args: argparse.Namespace, model: str) -> str:
    """Run the rounds and return the printable table with its SUMMARY line."""
    import torch

    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()[0]
    backend = load_backend("transformers", model, device=args.device, dtype=args.dtype)
    requests = make_requests(args.questions, args.k, args.new_tokens, args.frames, args.size)
    chains = args.questions * args.k
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    settings: list[Any] = list(sizes)
    vllm_backend, start = None, {}
    if args.vllm:
        t0 = time.perf_counter()
        from pipeline.backends.vllm import import_vllm

        import_vllm()
        start["import_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        # 32 chains x ~440 prompt tokens exceed the default 4096-token step budget, so chunked prefill would split
        # prompts across steps; vllm-cpu 0.32 then rewinds each seeded request's torch.Generator with set_offset,
        # which CPU generators do not support (RuntimeError). Whole-prompt prefill avoids that path.
        engine_kwargs = {"enable_chunked_prefill": bool(args.chunked_prefill)}  # the backend turns it off on CPU
        vllm_backend = load_backend("vllm", model, dtype=args.dtype, enforce_eager=True,
                                    max_model_len=args.max_model_len, max_num_seqs=args.max_num_seqs or chains,
                                    engine_kwargs=engine_kwargs)
        start["engine_start_s"] = time.perf_counter() - t0
        settings.append("vllm")
    times: dict[Any, list[float]] = {s: [] for s in settings}
    tokens: dict[Any, int] = {}
    threads: dict[Any, set[str]] = {s: set() for s in settings}
    for round_ in range(args.repeat + 1):  # round 0 is the warm-up
        for s in settings:
            if s != "vllm":
                backend.options.batch_size = s
            threads[s].add(threads_now())
            elapsed, tokens[s] = _timed((vllm_backend if s == "vllm" else backend).generate, requests)
            if round_:
                times[s].append(elapsed)
    if vllm_backend is not None:
        vllm_backend.close()  # the only engine of this process, so its teardown of vLLM's global state is harmless

    load_end = os.getloadavg()[0]
    base = statistics.median(times[1]) if 1 in times else None
    lines = [f"model: {model}  questions {args.questions}  K {args.k} ({chains} chains)  new tokens "
             f"{args.new_tokens}  frames {args.frames}x{args.size}px  dtype {args.dtype}  "
             f"repeat {args.repeat} (median)",
             f"threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, column = torch threads/CPUs allowed "
             f"at each call; 1-min load average {load_start:.1f} at start, {load_end:.1f} at end on "
             f"{os.cpu_count()} CPUs (other work makes every figure slower and noisier)",
             f"{'backend':>13}{'batch':>6}{'seconds':>10}{'chains/s':>10}{'tokens/s':>10}{'vs 1':>7}{'tokens':>8}"
             f"{'threads':>9}"]
    figures: dict[Any, dict[str, Any]] = {}
    for s in settings:
        med = statistics.median(times[s])
        ratio = base / med if base else float("nan")
        fig = {"seconds": round(med, 3), "chains_per_s": round(chains / med, 1),
               "tokens_per_s": round(tokens[s] / med, 1), "speedup_vs_1": round(ratio, 2),
               "tokens_decoded": tokens[s], "threads": ",".join(sorted(threads[s]))}
        name, batch = ("vllm", "all") if s == "vllm" else ("transformers", str(s))
        lines.append(f"{name:>13}{batch:>6}{med:>10.3f}{chains / med:>10.1f}{tokens[s] / med:>10.1f}{ratio:>6.2f}x"
                     f"{tokens[s]:>8}{fig['threads']:>9}")
        figures[s] = fig
    hf = {b: figures[b] for b in sizes}
    best = max((b for b in sizes if b >= 4), key=lambda b: hf[b]["speedup_vs_1"], default=None)
    summary: dict[str, Any] = {"chains": chains, "dtype": args.dtype, "threads": args.threads,
                               "loadavg": [round(load_start, 2), round(load_end, 2)], "figures": hf,
                               "best_batch": best,
                               "batched_vs_single": hf[best]["speedup_vs_1"] if best else None}
    if vllm_backend is None:
        lines.append(f"vLLM: skipped ({args.vllm_reason})")
        summary["vllm"] = None
        summary["vllm_skipped"] = args.vllm_reason
    else:
        v = figures["vllm"]
        ref = best if best is not None else max(sizes)
        vs_batched = v["chains_per_s"] / hf[ref]["chains_per_s"]
        if len(set(tokens.values())) != 1:
            lines.append(f"WARNING: the backends decoded different token counts per round: {tokens}")
        lines.append(f"vLLM: import {start['import_s']:.1f} s, engine start {start['engine_start_s']:.1f} s "
                     f"(both excluded from throughput; first generate is the warm-up); enforce_eager, "
                     f"max_model_len {args.max_model_len}, max_num_seqs {args.max_num_seqs or chains}, chunked "
                     f"prefill {'on' if args.chunked_prefill else 'off'}")
        lines.append(f"vLLM vs transformers batched (batch {ref}): {vs_batched:.2f}x chains/s; "
                     f"vs one at a time: {v['speedup_vs_1']:.2f}x")
        summary["vllm"] = {**v, "import_s": round(start["import_s"], 1),
                           "engine_start_s": round(start["engine_start_s"], 1),
                           "vs_transformers_batched": round(vs_batched, 2), "transformers_batch": ref}
    lines.append("SUMMARY " + json.dumps(summary))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
