"""The predictions page's cost per view: parsing the whole predictions.jsonl (before) vs the cached line index.

A synthetic predictions file the size of AVQA val (17k items, completions of ~1 kB, as `pipeline.evaluate` writes
them) is paged through the way the view does it:

- `whole file`: the old view, every row parsed and filtered, then a Paginator over the list — the baseline;
- `index, cold`: the first view of a file version: one indexing pass, then the page's 50 lines;
- `index, warm`: every later view: the index from the cache, 50 lines read and parsed.

Each mode shows page 1 and a middle page of `all` and of `wrong`; the modes alternate, the median of `--repeat`
rounds is kept, and Python's peak allocation during one view is measured (tracemalloc) apart from the timing.

Run from the repo root: `.venv/bin/python -m bench.predictions_page [--items 17000] [--repeat 7]`;
target: a warm view ≥ 50× faster than parsing the whole file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import django
from django.conf import settings

THINK = ("I hear a steady engine hum that rises in pitch around two seconds, then a short horn blast; no voices and "
         "no music, so the loudest source is the car, not the dog barking faintly at the end of the clip. ")


def write_predictions(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(json.dumps({
                "id": f"avqa-{i}", "question_type": ("Which", "Come From", "Happening")[i % 3], "category": "",
                "answer": "B", "completion": f"<think>{THINK * 4}{i}</think><answer>{'BC'[i % 4 == 0]}</answer>",
                "parsed": True, "finish_reason": "stop", "correct": i % 4 != 0, "correct_silent": i % 7 == 0,
            }) + "\n")


def _views(path: Path, n_pages: int) -> list[tuple[str, int]]:
    return [("all", 1), ("all", n_pages // 2), ("wrong", 1), ("wrong", max(1, n_pages // 8))]


def whole_file(path: Path, show: str, number: int) -> list[dict[str, Any]]:
    """The view before: parse every row, filter, paginate the list."""
    from django.core.paginator import Paginator

    from pipeline.jsonl import iter_jsonl

    rows = [r for r in iter_jsonl(path) if show == "all" or r.get("correct") == (show == "right")]
    return list(Paginator(rows, 50).get_page(number))


def indexed(path: Path, show: str, number: int) -> list[dict[str, Any]]:
    """The view now (webapp.training.predictions)."""
    from django.core.paginator import Paginator

    from webapp.training import predictions

    found, _ = predictions.rows(path, show)
    return list(Paginator(found, 50).get_page(number))


def _clock(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _peak_mib(fn: Callable[[], Any]) -> float:
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=17_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    settings.configure(CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}})
    django.setup()
    from django.core.cache import cache

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "predictions.jsonl"
        write_predictions(path, args.items)
        views = _views(path, (args.items + 49) // 50)
        assert all(whole_file(path, *v) == indexed(path, *v) for v in views), "the two views disagree"
        times: dict[str, list[float]] = {"whole file": [], "index, cold": [], "index, warm": []}
        for _ in range(args.repeat):  # modes alternate, so machine noise hits each alike
            for show, number in views:
                times["whole file"].append(_clock(lambda s=show, n=number: whole_file(path, s, n)))
                cache.clear()
                times["index, cold"].append(_clock(lambda s=show, n=number: indexed(path, s, n)))
                times["index, warm"].append(_clock(lambda s=show, n=number: indexed(path, s, n)))
        cache.clear()
        peaks = {"whole file": _peak_mib(lambda: whole_file(path, "all", 1)),
                 "index, cold": _peak_mib(lambda: indexed(path, "all", 1)),
                 "index, warm": _peak_mib(lambda: indexed(path, "all", 1))}
        size_mib = path.stat().st_size / 2**20
    base = statistics.median(times["whole file"])
    print(f"predictions.jsonl: {args.items} items, {size_mib:.1f} MiB; views: {views}; median of "
          f"{args.repeat} rounds")
    print(f"{'mode':<14} {'ms/view':>9} {'vs whole':>9} {'peak MiB':>9}")
    for mode, samples in times.items():
        median = statistics.median(samples)
        print(f"{mode:<14} {median * 1000:>9.2f} {base / median:>8.1f}× {peaks[mode]:>9.1f}")


if __name__ == "__main__":
    main()
