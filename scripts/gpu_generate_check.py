#!/usr/bin/env python3
"""Device check: our transformers backend on a Qwen2.5-VL-7B-*architecture* model, dynamic cache vs static cache
with compiled decoding.

docs/gpu.md §H200 figures: plain HF `generate` at 65-90 ms per decode step for a 7B model on an H200 against a
~3.5 ms bandwidth limit, i.e. launch-bound. This checks how much of that a static KV cache + torch.compile'd
(CUDA-graph) decoding recovers, through the same `TransformersBackend` the teacher uses.

The model is random-initialised from a config (no download) directly on CUDA in bf16; the tokenizer is the tiny
offline one (sampled ids beyond its vocabulary decode to nothing, which is fine: lengths are fixed with
ignore_eos). 16 frames at 336x336 give 1152 video tokens per question, as in the anchors.

    python3 scripts/gpu_generate_check.py                # on the device machine (needs CUDA)
    python3 scripts/gpu_generate_check.py --tiny         # CPU smoke run on the tiny VL model (tests use this)

Prints a table and a SUMMARY line; writes gpu_generate.json under $OUT (or --out). Each measurement is guarded,
so a failing compiled path still reports the dynamic figures. Imports no pipeline module that needs PyAV.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from pipeline.backends.base import GenerationRequest, Media, SamplingParams  # noqa: E402
from pipeline.backends.hf import TransformersBackend  # noqa: E402

log = logging.getLogger("gpu_generate_check")

QWEN2_5_VL_7B_TEXT = dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                          num_key_value_heads=4, vocab_size=152064, max_position_embeddings=32768, rms_norm_eps=1e-6,
                          use_sliding_window=False, tie_word_embeddings=False)
QWEN2_5_VL_7B_VISION = dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=3584,
                            patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=112,
                            fullatt_block_indexes=[7, 15, 23, 31], tokens_per_second=2)


def build_7b(text_layers: int, vision_depth: int) -> tuple[Any, Any]:
    """Random Qwen2.5-VL-7B-architecture model on CUDA in bf16, plus the tiny tokenizer with the VL template."""
    from transformers import GenerationConfig, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    from pipeline import tiny

    tok = tiny.build_tokenizer()
    tok.chat_template = tiny.QWEN2_5_VL_CHAT_TEMPLATE
    ids = tok.convert_tokens_to_ids
    eot, eos = ids("<|endoftext|>"), ids("<|im_end|>")
    text = dict(QWEN2_5_VL_7B_TEXT, num_hidden_layers=text_layers, bos_token_id=eot, eos_token_id=eos,
                pad_token_id=eot, rope_parameters={"rope_type": "default", "rope_theta": 1e6,
                                                   "mrope_section": [16, 24, 24]})
    vision = dict(QWEN2_5_VL_7B_VISION, depth=vision_depth,
                  fullatt_block_indexes=[i for i in (7, 15, 23, 31) if i < vision_depth] or [vision_depth - 1])
    config = Qwen2_5_VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=False,
                              image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
                              vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"))
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = Qwen2_5_VLForConditionalGeneration._from_config(config, dtype=torch.bfloat16)
    model.generation_config = GenerationConfig(bos_token_id=eot, eos_token_id=[eos, eot], pad_token_id=eot)
    return model.eval(), tok


def requests_for(n_questions: int, k: int, n_frames: int, size: int, new_tokens: int) -> list[GenerationRequest]:
    rng = np.random.default_rng(0)
    sampling = SamplingParams(temperature=1.0, top_p=0.95, max_new_tokens=new_tokens, seed=0, ignore_eos=True)
    out = []
    for q in range(n_questions):
        frames = rng.integers(0, 256, (n_frames, size, size, 3), dtype=np.uint8)
        messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": (
            f"Question {q}: what does this scene sound like? Choices: A. dog B. siren C. rain D. drums. "
            "Reason about the audio in <think></think>, then answer in <answer></answer>.")}]}]
        out.append(GenerationRequest(f"q{q}", messages, Media(frames=frames, fps=2.0), n=k, sampling=sampling))
    return out


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _timed(backend: TransformersBackend, requests: list[GenerationRequest]) -> tuple[float, list[Any]]:
    _sync()
    t0 = time.perf_counter()
    results = backend.generate(requests)
    _sync()
    return time.perf_counter() - t0, results


def _with_tokens(requests: list[GenerationRequest], n: int) -> list[GenerationRequest]:
    from dataclasses import replace

    return [replace(r, sampling=replace(r.sampling, max_new_tokens=n)) for r in requests]


def measure(backend: TransformersBackend, requests: list[GenerationRequest], new_tokens: int) -> dict[str, Any]:
    """Warm-up (compiles and records graphs on the static path), a 1-token run (prefill), then the timed run.

    The full-length warm-up goes first so the static cache is already sized for it: later calls reuse it
    (transformers keeps the largest static cache length), so the 1-token run does not recompile.
    """
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    t_warm, _ = _timed(backend, requests)
    t_first, _ = _timed(backend, _with_tokens(requests, 1))
    seconds, results = _timed(backend, requests)
    rows = sum(len(r.completions) for r in results)
    n_new = sum(c.n_tokens for r in results for c in r.completions)
    per_step = max(seconds - t_first, 0.0) / max(new_tokens - 1, 1)  # noise can invert tiny CPU runs
    peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None
    return {"questions": len(requests), "rows": rows, "prompt_tokens": results[0].prompt_tokens,
            "new_tokens": n_new, "warmup_s": round(t_warm, 3), "prefill_s": round(t_first, 3),
            "seconds": round(seconds, 3), "per_step_ms": round(1000 * per_step, 2),
            "new_tokens_per_s": round(n_new / seconds, 1), "chains_per_s": round(rows / seconds, 3),
            "peak_mem_gb": round(peak, 2) if peak is not None else None}


def run(args: argparse.Namespace, workdir: Path | None = None) -> dict[str, Any]:
    t_start = time.perf_counter()
    report: dict[str, Any] = {"torch": torch.__version__, "cuda": torch.cuda.is_available(), "args": vars(args),
                              "runs": [], "errors": []}
    import transformers

    report["transformers"] = transformers.__version__
    if args.tiny:
        from pipeline import tiny

        path = tiny.build_model("tiny-qwen2_5-vl", Path(workdir or tempfile.mkdtemp()) / "tiny-qwen2_5-vl")
        report["device"] = "cpu (tiny)"
        base = TransformersBackend(str(path), device="cpu", batch_size=max(args.questions))
        model, tok = base.model, base.tokenizer
    else:
        if not torch.cuda.is_available():
            raise SystemExit("no CUDA device: run with --tiny on a CPU machine")
        report["device"] = torch.cuda.get_device_name(0)
        t0 = time.perf_counter()
        model, tok = build_7b(args.text_layers, args.vision_depth)
        report["params_b"] = round(sum(p.numel() for p in model.parameters()) / 1e9, 2)
        report["build_s"] = round(time.perf_counter() - t0, 1)
        log.info("built %.2fB params in %.1fs", report["params_b"], report["build_s"])
    pixels = dict(video_min_pixels=56 * 56, video_max_pixels=args.size * args.size)
    plans = [("dynamic", False, q) for q in args.questions] + [("static_compiled", True, q)
                                                             for q in sorted(args.questions, reverse=True)]
    for mode, static, n_q in plans:
        if time.perf_counter() - t_start > args.budget_s:
            report["errors"].append({"mode": mode, "questions": n_q, "error": "skipped: time budget spent"})
            continue
        try:
            backend = TransformersBackend.from_objects(model, tok, batch_size=max(args.questions),
                                                       static_cache=static, **pixels)
            figures = measure(backend, requests_for(n_q, args.k, args.frames, args.size, args.new_tokens),
                              args.new_tokens)
            figures["mode"] = mode
            report["runs"].append(figures)
            log.info("%s q=%d: %s", mode, n_q, figures)
        except Exception as exc:  # noqa: BLE001 — report and go on: one failing path must not hide the other
            report["errors"].append({"mode": mode, "questions": n_q, "error": f"{type(exc).__name__}: {exc}",
                                     "traceback": traceback.format_exc()[-3000:]})
            log.error("%s q=%d failed: %s", mode, n_q, exc)
            if hasattr(torch, "_dynamo"):
                torch._dynamo.reset()
    report["total_s"] = round(time.perf_counter() - t_start, 1)
    report["ratios"] = ratios(report["runs"])
    return report


def ratios(runs: list[dict[str, Any]]) -> dict[str, float]:
    """static/dynamic speed-up per question count (chains/s) and dynamic/static per-step time."""
    by = {(r["mode"], r["questions"]): r for r in runs}
    out = {}
    for (mode, q), r in by.items():
        d = by.get(("dynamic", q))
        if mode == "static_compiled" and d is not None:
            out[f"q{q}_chains_per_s_speedup"] = round(r["chains_per_s"] / d["chains_per_s"], 2)
            out[f"q{q}_per_step_speedup"] = round(d["per_step_ms"] / max(r["per_step_ms"], 1e-6), 2)
    return out


def print_report(report: dict[str, Any]) -> None:
    header = f"{'mode':<16}{'q':>3}{'rows':>6}{'prompt':>8}{'step ms':>9}{'tok/s':>9}{'chains/s':>10}{'peak GB':>9}"
    lines = [f"device: {report.get('device')}  torch {report['torch']}  transformers {report['transformers']}",
             header]
    for r in report["runs"]:
        lines.append(f"{r['mode']:<16}{r['questions']:>3}{r['rows']:>6}{r['prompt_tokens']:>8}{r['per_step_ms']:>9}"
                     f"{r['new_tokens_per_s']:>9}{r['chains_per_s']:>10}{str(r['peak_mem_gb']):>9}")
    for e in report["errors"]:
        lines.append(f"ERROR {e['mode']} q={e['questions']}: {e['error'][:300]}")
    lines.append("SUMMARY " + json.dumps({"ratios": report["ratios"], "runs": len(report["runs"]),
                                         "errors": len(report["errors"]), "total_s": report["total_s"]}))
    sys.stdout.write("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="CPU smoke run on the tiny VL model")
    parser.add_argument("--questions", type=lambda s: [int(x) for x in s.split(",")], default=None,
                        help="question counts, comma-separated (default 1,4)")
    parser.add_argument("--k", type=int, default=8, help="chains per question")
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=336, help="frame side in pixels (336 -> 1152 tokens/16 frames)")
    parser.add_argument("--text-layers", type=int, default=28)
    parser.add_argument("--vision-depth", type=int, default=32)
    parser.add_argument("--budget-s", type=float, default=330.0, help="start no new measurement after this")
    parser.add_argument("--out", default=os.environ.get("OUT"), help="folder for gpu_generate.json (default $OUT)")
    args = parser.parse_args(argv)
    if args.questions is None:
        args.questions = [1, 2] if args.tiny else [1, 4]
    if args.tiny:
        args.k, args.new_tokens, args.frames, args.size = min(args.k, 2), min(args.new_tokens, 4), 4, 56
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        report = run(args, Path(tmp))
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "gpu_generate.json").write_text(json.dumps(report, indent=2) + "\n")
    print_report(report)
    return 0 if any(r["mode"] == "dynamic" for r in report["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
