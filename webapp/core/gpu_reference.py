"""Rates for GPUs this deployment has not run on yet, from the figures measured in docs/gpu.md ("H200 figures").

Why these and only for 7B checkpoints: they were measured with random-initialised 7B models of the real
architectures in bf16 (Qwen2.5-VL-7B teacher: 1.43 chains/s with HF generate, 4 questions × K=8 × 256 tokens;
Qwen2-Audio-7B: an SFT step of 8 sequences × 570 tokens in 0.73 s; a GRPO step of 4 prompts × 8 rollouts × 256
tokens in ~20.5 s, rollouts 19.5 s of it). A tiny test model or a 72B one would be misestimated by orders of magnitude,
so other models get no documented line. The H100 has the H200's compute with 70 % of its memory bandwidth (3.35 vs
4.8 TB/s): decoding (teacher chains, GRPO rollouts) is bandwidth-bound and scaled by it; an SFT step is compute-bound
and taken as equal. Once a run has measured a class here, its own rate replaces these.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from webapp.core.estimates import Reference
from webapp.core.text import model_name

H200_RATES = {"teacher": 1.43, "sft": 1 / 0.73, "grpo": 1 / 20.5}  # chains/s, steps/s, steps/s (docs/gpu.md)
DECODE_BOUND = {"teacher", "grpo"}
BANDWIDTH_TB_S = {"NVIDIA H200": 4.8, "NVIDIA H100": 3.35}
SEVEN_B = re.compile(r"(?<![0-9a-z.])7b(?![0-9a-z])", re.IGNORECASE)  # "…-VL-7B-Instruct", not "17b" or "a7bq"


def documented(kind: str, model: str, seen: Iterable[str]) -> list[Reference]:
    """One documented reference per GPU in BANDWIDTH_TB_S not among the `seen` worker classes; none unless the
    model is a 7B checkpoint and the kind has a figure.

    >>> [r.worker_class for r in documented("teacher", "Qwen/Qwen2.5-VL-7B-Instruct", ["CPU ×2"])]
    ['NVIDIA H200 ×1', 'NVIDIA H100 ×1']
    >>> [round(r.rate, 3) for r in documented("teacher", "qwen2.5-vl-7b", ["NVIDIA H200 ×1"])]
    [0.998]
    >>> documented("teacher", "tiny-qwen2.5-vl", [])
    []
    """
    if kind not in H200_RATES or not SEVEN_B.search(model_name(model or "")):  # its own name: a folder may say anything
        return []
    seen = list(seen)
    out = []
    for gpu, bandwidth in BANDWIDTH_TB_S.items():
        if any(name.startswith(gpu) for name in seen):
            continue
        scale = bandwidth / BANDWIDTH_TB_S["NVIDIA H200"] if kind in DECODE_BOUND else 1.0
        basis = "the H200 figure in docs/gpu.md" + (", scaled by memory bandwidth" if scale != 1.0 else "")
        out.append(Reference(f"{gpu} ×1", round(H200_RATES[kind] * scale, 4), basis))
    return out
