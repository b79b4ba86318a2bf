"""Ingest cost vs. bare decoding: is `probe` + `process_clip` within 1.5x of one PyAV pass over the same clips?

Decoding is the irreducible cost of ingest; everything else (resampling, peaks, frame picking, JPEG, atomic
writes) should be small next to it. Both sides use thread_type="AUTO" on the video stream and are measured
in the same run (one warm-up, then the median of --repeat
runs, alternating the two sides so machine noise hits both alike). A second part ingests the list twice under
tracemalloc and checks that the Python-heap peak does not grow with the number of clips, and reports RSS.

    python -m bench.ingest [--clips DIR_OR_FILES ...] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import av

from pipeline.media import probe, process_clip

TARGET_RATIO = 1.5


def bare_decode(path: Path) -> int:
    """Decode every packet of the audio and video streams, nothing else: the baseline."""
    n = 0
    with av.open(str(path)) as container:
        streams = [*container.streams.video[:1], *container.streams.audio[:1]]
        for s in streams:
            if s.type == "video":
                s.thread_type = "AUTO"
        for packet in container.demux(streams):
            n += len(packet.decode())
    return n


def ingest(path: Path, out_dir: Path) -> None:
    probe(path)
    process_clip(path, out_dir)


def paired_medians(a: Callable[[], object], b: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median wall time of `a` and of `b`, run alternately so machine noise hits both sides alike."""
    a(), b()  # warm-up: codec init, page cache, lazy imports
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for fn, out in ((a, times[0]), (b, times[1])):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return statistics.median(times[0]), statistics.median(times[1])


def rss_mib() -> float:
    """Current resident set size (Linux /proc), in MiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def memory_profile(clips: list[Path], work: Path) -> list[tuple[int, float, float]]:
    """(clips ingested, tracemalloc peak MiB since start, RSS MiB) after 1 clip and after each full pass."""
    rows = []
    gc.collect()
    tracemalloc.start()
    done = 0
    for _pass in range(2):
        for i, clip in enumerate(clips):
            ingest(clip, work / f"mem{i}")
            done += 1
            if done == 1 or done % len(clips) == 0:
                gc.collect()
                rows.append((done, tracemalloc.get_traced_memory()[1] / 2**20, rss_mib()))
    tracemalloc.stop()
    return rows


def collect(args: list[str]) -> list[Path]:
    paths: list[Path] = []
    if not args:  # the real AVQA clips the tests use (tests/real_fixtures.py says where they are looked for)
        from tests.real_fixtures import AVQA_VIDEO_DIR

        args = [str(AVQA_VIDEO_DIR)]
    for a in args:
        p = Path(a)
        paths += sorted(p.glob("*.mp4")) if p.is_dir() else [p]
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="*", help="mp4 files or folders (default: the AVQA fixtures)")
    ap.add_argument("--clips", dest="clips_opt", nargs="+", default=[], help="same as the positional form")
    ap.add_argument("--repeat", type=int, default=3)
    ns = ap.parse_args(argv)
    clips = collect([*ns.clips, *ns.clips_opt])
    if not clips:
        print("no clips found", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        work = Path(tmp)
        print(f"{len(clips)} clips, median of {ns.repeat} (after 1 warm-up), thread_type=AUTO on video\n")
        print(f"{'clip':<28} {'dur s':>6} {'size':>9} {'decode ms':>10} {'ingest ms':>10} {'ratio':>6}")
        total_dec = total_ing = total_dur = 0.0
        for i, clip in enumerate(clips):
            info = probe(clip)
            dec, ing = paired_medians(lambda c=clip: bare_decode(c),
                                      lambda c=clip, i=i: ingest(c, work / f"clip{i}"), ns.repeat)
            total_dec, total_ing, total_dur = total_dec + dec, total_ing + ing, total_dur + info.duration
            size = f"{info.width}x{info.height}" if info.has_video else "audio"
            print(f"{clip.name[:28]:<28} {info.duration:>6.2f} {size:>9} {dec * 1e3:>10.1f} {ing * 1e3:>10.1f} "
                  f"{ing / dec:>6.2f}")
        n = len(clips)
        ratio = total_ing / total_dec
        print(f"{'TOTAL':<28} {total_dur:>6.1f} {'':>9} {total_dec * 1e3:>10.1f} {total_ing * 1e3:>10.1f} "
              f"{ratio:>6.2f}")

        print("\nmemory (ingesting the list twice):")
        print(f"{'clips done':>10} {'py heap peak MiB':>17} {'RSS MiB':>8}")
        rows = memory_profile(clips, work)
        for done, peak, rss in rows:
            print(f"{done:>10} {peak:>17.1f} {rss:>8.1f}")
        growth = rows[-1][1] - rows[0][1]

    verdict = "OK" if ratio <= TARGET_RATIO else "ABOVE TARGET"
    print(f"\nSUMMARY: ingest/decode = {ratio:.2f} (target <= {TARGET_RATIO}, {verdict}); "
          f"per clip: decode {total_dec / n * 1e3:.0f} ms, ingest {total_ing / n * 1e3:.0f} ms; "
          f"py heap peak after 1 clip {rows[0][1]:.1f} MiB, after {rows[-1][0]} clips {rows[-1][1]:.1f} MiB "
          f"(growth {growth:+.1f} MiB); RSS {rows[0][2]:.0f} -> {rows[-1][2]:.0f} MiB")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
