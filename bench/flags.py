"""Chain flags (pipeline/flags.py) throughput: what flagging costs on top of the claim extraction it reuses.

The flags are computed in batches of 256 after every teacher run and chain import (webapp/curation/flags.py), and
for whole datasets by `manage.py flag_chains`. Almost all of it is the validators' claim extraction (MiniLM over
each candidate clause); the restating and lucky-guess rules are token counting. This bench times, alternating, on
the same chains (the demo sound chains and the flag demo's, each made distinct so the embedder's per-text cache
never answers):

- `extract`: `ClaimExtractor.extract_many` alone, in batches of 256 — the baseline;
- `flags`: `flag_chains` (extraction + the three rules), in batches of 256.

Run from the repo root: `.venv/bin/python -m bench.flags [--chains 2048] [--repeat 2]`.
"""

from __future__ import annotations

import argparse
import logging
import time

from pipeline.answers import extract_answer
from pipeline.demo_sounds import CLIPS, FLAG_CHAINS
from pipeline.flags import FlagItem, flag_chains

BATCH = 256


def items(n: int, offset: int) -> list[FlagItem]:
    """`n` distinct chains cycling through the demo sound chains; `offset` keeps every round's texts new."""
    by_slug = {clip.slug: clip for clip in CLIPS}
    pool = [(clip, text) for clip in CLIPS for text in clip.chains.values()]
    pool += [(by_slug[slug], text) for (slug, _kind), text in FLAG_CHAINS.items()]
    out = []
    for i in range(n):
        clip, text = pool[i % len(pool)]
        text = text.replace("</think>", f" Clip {offset + i}.</think>", 1) if "</think>" in text else text
        index = extract_answer(text, clip.choices)
        out.append(FlagItem(id=str(i), text=text, question=clip.question,
                            chosen_text=clip.choices[index] if index is not None else "",
                            answered=index is not None, is_correct=index == 0, answer_support=0.75))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chains", type=int, default=2048)
    ap.add_argument("--repeat", type=int, default=2)
    ns = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from pipeline.flags import default_extractor

    extractor = default_extractor()
    flag_chains(items(BATCH, -10**6), extractor=extractor)  # load MiniLM and the label vectors outside the timing
    times: dict[str, list[float]] = {"extract": [], "flags": []}
    flagged = 0
    for r in range(ns.repeat):
        for mode in ("extract", "flags"):
            chains = items(ns.chains, offset=(2 * r + (mode == "flags")) * ns.chains)
            t0 = time.perf_counter()
            for start in range(0, len(chains), BATCH):
                batch = chains[start:start + BATCH]
                if mode == "extract":
                    extractor.extract_many([c.text for c in batch])  # type: ignore[attr-defined]
                else:
                    flagged += sum(1 for b in flag_chains(batch, extractor=extractor) if b)
            times[mode].append(time.perf_counter() - t0)
    best = {mode: min(ts) for mode, ts in times.items()}
    for mode, t in best.items():
        print(f"{mode:8s} {ns.chains / t:8.0f} chains/s  ({t:.2f} s for {ns.chains}, best of {ns.repeat})")
    print(f"flags / extraction alone: {best['flags'] / best['extract']:.2f}x the time; "
          f"{flagged // ns.repeat} of {ns.chains} chains flagged per round")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
