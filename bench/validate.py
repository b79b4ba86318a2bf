"""Sound-event validation: memory flat in the number of clips, and speed on the ingested wav beside the mp4.

Memory: each of N distinct clips (the real AVQA clips under N names, each read from its ingested wav on its own, as
the web job reads them) streams through `validate_chains` with 4 chains per clip, in a fresh process per N and
mode, so each peak RSS is that run's own. `stream` is how the web job and CLI feed it now; `listed` first turns the
input into a list, as `validate_chains` itself did before (it held every clip's audio: ~26 GB at 40k AVQA clips).
Flat means the N=200 peak stays at the N=10 one.

Speed: seconds of audio validated per second of wall time and per CPU second of this process (all its threads:
wall time on a shared 2-core box is mostly other people's load), clip reading included, on the ingested 16 kHz wav
(`read_audio`, the web job) and on the mp4 (`decode_audio`, the CLI), and on the wav with the tagger as it was
before (one patch at a time on ORT's own intra-op threads), alternated so noise hits every path alike; the before
and after verdicts and scores must be identical. Then where the time goes (reading, the log-mel frontend, tagging
now and before, claim extraction + MiniLM, grounding). Models are loaded and warmed once, as in a long-running
worker; the text embedder's cache is cleared before each run (chain texts are new in real runs). Audio seconds count
each clip once, not once per chain. "x on N cores" is audio s / (CPU s / N): the real-time factor N cores would give
if this process had them to itself.

    .venv/bin/python -m bench.validate [--clips DIR_OR_FILES ...] [--chains-per-clip 4] [--repeat 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TARGET_X = 500.0  # x real time on the ingested audio, 4 chains per clip, 2 cores
FIRST = "wav, first (tags)"  # the web job on clips never validated before: each clip tagged, its tags stored
STORED = "wav, tags stored"  # the web job on clips validated before (another run, policy or judge): tags read back
MEMORY_SIZES = (10, 200)

CHAIN_TEMPLATES = [
    "<think>The frame shows the scene. I can hear {a} throughout the clip, and {b} in the background. "
    "The question asks which sound is heard, so the answer follows.</think><answer>A</answer>",
    "<think>No engine can be heard. Instead there is {a}, while a dog barks now and then.</think><answer>B</answer>",
    "<think>Someone is nearby. The crowd cheers and applauds; there is no music at all.</think><answer>C</answer>",
    "<think>A steady clatter of fingers on keys fills the room, without any speech. Then a siren wails, "
    "rising and falling.</think><answer>D</answer>",
]
SOUNDS = ["a loud engine", "people talking", "birds chirping", "music playing", "gunshots", "typing on a keyboard"]


def _clips(args: list[str] | None) -> list[Path]:
    if not args:
        from tests.real_fixtures import AVQA_VIDEO_DIR

        args = [str(AVQA_VIDEO_DIR)]
    out: list[Path] = []
    for a in args:
        p = Path(a)
        out += sorted(p.glob("*.mp4")) if p.is_dir() else [p]
    if not out:
        raise SystemExit(f"no clips found in {args}")
    return out


def chain_text(n: int, k: int) -> str:
    template = CHAIN_TEMPLATES[k % len(CHAIN_TEMPLATES)]
    return template.format(a=SOUNDS[(n + k) % len(SOUNDS)], b=SOUNDS[(n + 2 * k + 1) % len(SOUNDS)])


def ingest(clips: list[Path], work: Path) -> list[Path]:
    """Each clip's 16 kHz wav as catalog ingest writes it (the real `process_clip`)."""
    from pipeline.media import AUDIO_NAME, process_clip

    out = []
    for clip in clips:
        process_clip(clip, work / clip.stem)
        out.append(work / clip.stem / AUDIO_NAME)
    return out


def items(sources: list[Path], n_clips: int, chains: int, read: Callable[[Path], Any],
          store: bool = False) -> Iterator[Any]:
    """n_clips distinct clips (the sources under new names), each read on its own, `chains` chains apiece;
    `store`: with the wav's path, so its tags are stored beside it and read back (the web job)."""
    from pipeline.validate import ValidationItem

    for n in range(n_clips):
        source = sources[n % len(sources)]
        audio, sr = read(source)
        for k in range(chains):
            yield ValidationItem(id=f"{n}/{k}", audio=audio, sr=sr, chain_text=chain_text(n, k), question="q",
                                 choices=[], clip_id=f"clip{n}", audio_path=str(source) if store else None)


def forget_tags(wavs: list[Path]) -> None:
    from pipeline.validate import tag_store

    for wav in wavs:
        tag_store.tags_path(wav).unlink(missing_ok=True)


def _tagger(threads: int, before: bool = False) -> Any:
    """The tagger as shipped, or (`before`) as it was before issue 12: one patch a run, in turn, on ORT's own
    intra-op threads."""
    from pipeline.validate.sound_events import YamnetConfig, YamnetTagger

    class Before(YamnetTagger):
        def _session_options(self) -> Any:
            options = super()._session_options()
            options.intra_op_num_threads = threads
            return options

        def _pool(self) -> None:
            return None

        def _score(self, quantised: np.ndarray) -> np.ndarray:
            return np.concatenate([super(Before, self)._score(quantised[i : i + 1]) for i in range(len(quantised))])

    return (Before if before else YamnetTagger)(YamnetConfig(threads=threads))


# ------------------------------------------------------------------------------------------------ memory


def _child(wavs: list[Path], n_clips: int, mode: str, chains: int, threads: int) -> dict[str, Any]:
    from pipeline.media import read_audio
    from pipeline.validate import ValidationConfig, validate_chains

    cfg, tagger = ValidationConfig(validators="sound-events"), _tagger(threads)
    list(validate_chains(cfg, items(wavs, 1, chains, read_audio), tagger=tagger))  # load YAMNet + MiniLM
    warm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    source = items(wavs, n_clips, chains, read_audio)
    done = sum(1 for _ in validate_chains(cfg, list(source) if mode == "listed" else source, tagger=tagger))
    return {"n_clips": n_clips, "mode": mode, "chains": done, "warm_rss_mb": warm,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def memory(wav_dir: Path, chains: int, threads: int) -> list[dict[str, Any]]:
    rows = []
    for mode in ("stream", "listed"):
        for n in MEMORY_SIZES:
            proc = subprocess.run([sys.executable, "-m", "bench.validate", "--child", str(n), "--mode", mode,
                                   "--wav-dir", str(wav_dir), "--chains-per-clip", str(chains),
                                   "--threads", str(threads)], cwd=ROOT, check=True, capture_output=True, text=True)
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return rows


# ------------------------------------------------------------------------------------------------- speed


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    """(wall s, CPU s of this process, all its threads) since `start`."""
    wall, cpu = _clock()
    return wall - start[0], cpu - start[1]


def speed(clips: list[Path], wavs: list[Path], chains: int, repeat: int, threads: int) -> dict[str, Any]:
    from pipeline.media import decode_audio, read_audio
    from pipeline.validate import ValidationConfig, validate_chains
    from pipeline.validate.sound_events import log_mel_patches
    from pipeline.validate.text_embedding import default_embedder

    cfg, tagger, before = ValidationConfig(validators="sound-events"), _tagger(threads), _tagger(threads, True)
    embedder = default_embedder()
    t = time.perf_counter()
    list(validate_chains(cfg, items(wavs, 1, chains, read_audio), tagger=tagger))
    load_s = time.perf_counter() - t
    labels = set(tagger.labels)

    def timed(sources: list[Path], read: Callable[[Path], Any], with_tagger: Any,
              store: str) -> tuple[float, float, list]:
        embedder.forget(keep=labels)
        if store == "first":
            forget_tags(wavs)
        start, out = _clock(), []
        for item_id, verdicts in validate_chains(cfg, items(sources, len(sources), chains, read, bool(store)),
                                                 tagger=with_tagger):
            out.append((item_id, verdicts[0].label, verdicts[0].score, [c.verdict for c in verdicts[0].claims]))
        return (*_since(start), out)

    paths = {FIRST: (wavs, read_audio, tagger, "first"), STORED: (wavs, read_audio, tagger, "stored"),
             "wav, tagger before": (wavs, read_audio, before, ""), "mp4 (CLI)": (clips, decode_audio, tagger, "")}
    for sources, read, with_tagger, store in paths.values():  # warm-up: page cache, codec init, sessions, the store
        timed(sources, read, with_tagger, store)
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in paths}
    verdicts: dict[str, list] = {}
    for _ in range(repeat):  # alternated, so the machine's load hits every path alike
        for name, (sources, read, with_tagger, store) in paths.items():
            wall, cpu, verdicts[name] = timed(sources, read, with_tagger, store)
            runs[name].append((wall, cpu))

    # where the time goes, each part alone over the same work (median of `repeat`)
    decoded = [read_audio(w) for w in wavs]
    texts = [chain_text(n, k) for n in range(len(wavs)) for k in range(chains)]
    validator = _validator(cfg, tagger)
    claims = validator.extractor.extract_many(texts)
    tags = [tagger.tag(a, sr) for a, sr in decoded]
    from pipeline.validate import tag_store

    same_scores = all(np.array_equal(t.scores, before.tag(*a).scores) for t, a in zip(tags, decoded, strict=True))

    def part(fn: Callable[[], object]) -> tuple[float, float]:
        measured = []
        for _ in range(repeat):
            embedder.forget(keep=labels)
            start = _clock()
            fn()
            measured.append(_since(start))
        return _median(measured)

    parts = {
        "read wav": part(lambda: [read_audio(w) for w in wavs]),
        "decode mp4": part(lambda: [decode_audio(c) for c in clips]),
        "log-mel frontend": part(lambda: [log_mel_patches(a) for a, _ in decoded]),
        "tag (YAMNet)": part(lambda: [tagger.tag(a, sr) for a, sr in decoded]),
        "tag, before": part(lambda: [before.tag(a, sr) for a, sr in decoded]),
        "read stored tags": part(lambda: [tag_store.load(w, tagger) for w in wavs]),
        "claims + MiniLM": part(lambda: validator.extractor.extract_many(texts)),
        "grounding": part(lambda: [validator.validate(c, tags[i // chains]) for i, c in enumerate(claims)]),
    }
    audio_s = sum(len(a) / sr for a, sr in decoded)
    return {"audio_s": audio_s, "load_s": load_s, "paths": {name: _median(r) for name, r in runs.items()},
            "runs": runs, "parts": parts, "patches": sum(len(t.starts) for t in tags),
            "same_verdicts": verdicts[FIRST] == verdicts["wav, tagger before"] == verdicts[STORED],
            "same_scores": same_scores}


def _median(measured: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(m[0] for m in measured), statistics.median(m[1] for m in measured)


def _validator(cfg: Any, tagger: Any) -> Any:
    from pipeline.validate.grounding import SoundEventValidator

    return SoundEventValidator(cfg, tagger)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", nargs="*", help="folder(s) or mp4 files (default: the real AVQA clips)")
    parser.add_argument("--chains-per-clip", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="tagger threads and cores counted (2 = the target box)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=["stream", "listed"], help=argparse.SUPPRESS)
    parser.add_argument("--wav-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    if args.child:
        wavs = sorted(args.wav_dir.glob("*/audio.wav"))
        sys.stdout.write(json.dumps(_child(wavs, args.child, args.mode, args.chains_per_clip, args.threads)) + "\n")
        return 0

    clips = _clips(args.clips)
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as tmp:
        wavs = ingest(clips, Path(tmp))
        mem = memory(Path(tmp), args.chains_per_clip, args.threads)
        sp = speed(clips, wavs, args.chains_per_clip, args.repeat, args.threads)

    print(f"memory, {args.chains_per_clip} chains per clip, fresh process per row:")
    print(f"{'mode':7} {'clips':>6} {'chains':>7} {'RSS after load MB':>18} {'peak RSS MB':>12}")
    for r in mem:
        print(f"{r['mode']:7} {r['n_clips']:>6} {r['chains']:>7} {r['warm_rss_mb']:>18.0f} {r['peak_rss_mb']:>12.0f}")
    peak = {(r["mode"], r["n_clips"]): r["peak_rss_mb"] for r in mem}
    small, large = MEMORY_SIZES

    n_chains = len(clips) * args.chains_per_clip
    audio_s, cores = sp["audio_s"], args.threads
    print(f"\nspeed: {len(clips)} clips, {audio_s:.1f} s of audio, {sp['patches']} tagger patches, {n_chains} chains, "
          f"{cores} threads, median of {args.repeat} (models loaded in {sp['load_s']:.1f} s); CPU s = this process's "
          f"CPU time, all threads")
    print(f"{'path':19} {'wall s':>7} {'CPU s':>6} {'x realtime':>11} {'audio s/CPU s':>14} {f'x on {cores} cores':>14}"
          f"   runs (wall/CPU)")
    for name, (wall, cpu) in sp["paths"].items():
        print(f"{name:19} {wall:>7.3f} {cpu:>6.3f} {audio_s / wall:>11.1f} {audio_s / cpu:>14.1f} "
              f"{audio_s / (cpu / cores):>14.1f}   {', '.join(f'{w:.2f}/{c:.2f}' for w, c in sp['runs'][name])}")
    print(f"  the tagger before and now: {'identical' if sp['same_scores'] else 'DIFFERENT'} scores, "
          f"{'identical' if sp['same_verdicts'] else 'DIFFERENT'} verdicts")
    wav_wall, wav_cpu = sp["paths"][FIRST]
    print("\nwhere the time goes (each part alone, same clips and chains):")
    print(f"{'part':19} {'wall s':>7} {'CPU s':>6}  CPU share of the first validation")
    for name, (wall, cpu) in sp["parts"].items():
        share = f"{100 * cpu / wav_cpu:5.0f} %" if name not in ("decode mp4", "tag, before", "read stored tags") else ""
        print(f"{name:19} {wall:>7.3f} {cpu:>6.3f}  {share}")
    tag_cpu, before_cpu = sp["parts"]["tag (YAMNet)"][1], sp["parts"]["tag, before"][1]
    print(f"  tagger: {1e3 * tag_cpu / sp['patches']:.2f} CPU ms per 0.96 s patch now, "
          f"{1e3 * before_cpu / sp['patches']:.2f} before")

    def x(name: str) -> tuple[float, float]:
        wall, cpu = sp["paths"][name]
        return audio_s / wall, audio_s / (cpu / cores)

    def verdict(name: str) -> str:
        x_wall, x_cpu = x(name)
        met = ", ".join(f"{what} {'OK' if v >= TARGET_X else 'BELOW TARGET'}" for what, v in (("wall", x_wall),
                                                                                           ("CPU", x_cpu)))
        return f"{x_wall:.0f}x wall, {x_cpu:.0f}x CPU ({met})"

    print(f"\nSUMMARY: peak RSS streamed {peak[('stream', small)]:.0f} MB at {small} clips, "
          f"{peak[('stream', large)]:.0f} MB at {large} (listed as before: {peak[('listed', small)]:.0f} -> "
          f"{peak[('listed', large)]:.0f} MB). Ingested wav, {args.chains_per_clip} chains per clip, {cores} threads, "
          f"real time = audio s / wall s or / (CPU s / {cores}), target >= {TARGET_X:.0f}x:")
    print(f"  clips validated before (tags stored):   {verdict(STORED)}")
    print(f"  clips never validated (tagged now):     {verdict(FIRST)}")
    print(f"  tagged as before issue 12 (baseline):   {verdict('wav, tagger before')}")
    return 0 if min(x(STORED)) >= TARGET_X else 1


if __name__ == "__main__":
    sys.exit(main())
