"""Deterministic synthetic media (H.264+AAC mp4, wav) for tests and the shippable demo.

Generated with PyAV's bundled encoders so nothing third-party (media or binaries) is needed; the same
arguments always give the same bytes, which keeps the demo idempotent and the tests reproducible.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import soundfile as sf

Freq = float | tuple[float, float]
"""A tone's frequency in Hz: constant, or (start, end) for a linear glide."""
Tone = tuple[float, float, Freq]
"""(start_s, end_s, freq) of one sine tone."""
Color = tuple[int, int, int] | Callable[[float], np.ndarray]
"""A solid RGB colour, or a function of time (s) returning an (H, W, 3) uint8 frame."""

_FADE_S = 0.005  # short ramps so tone edges don't click (clicks smear energy over all frequencies)


def render_tones(
    tones: Sequence[Tone], *, duration: float, sample_rate: int = 16000, amplitude: float = 0.5
) -> np.ndarray:
    """Mix sine tones (constant or gliding) into a float32 mono track of `duration` seconds."""
    n = round(duration * sample_rate)
    out = np.zeros(n, dtype=np.float32)
    for start, end, freq in tones:
        i0, i1 = max(0, round(start * sample_rate)), min(n, round(end * sample_rate))
        if i1 <= i0:
            continue
        t = np.arange(i1 - i0, dtype=np.float64) / sample_rate
        f0, f1 = (freq, freq) if isinstance(freq, (int, float)) else freq
        span = max((i1 - i0) / sample_rate, 1e-9)
        phase = 2 * np.pi * (f0 * t + (f1 - f0) * t * t / (2 * span))  # integral of a linear glide
        ramp = np.minimum(1.0, np.minimum(t, span - t) / _FADE_S).clip(0.0, 1.0)
        out[i0:i1] += (amplitude * ramp * np.sin(phase)).astype(np.float32)
    return out


def solid_frame(color: tuple[int, int, int], size: tuple[int, int]) -> np.ndarray:
    """An (H, W, 3) uint8 frame of one colour; `size` is (width, height)."""
    w, h = size
    return np.broadcast_to(np.asarray(color, dtype=np.uint8), (h, w, 3)).copy()


def write_av_clip(
    path: str | os.PathLike[str],
    *,
    duration: float = 3.0,
    fps: int = 12,
    size: tuple[int, int] = (160, 120),
    tones: Sequence[Tone] = ((0.0, 3.0, 440.0),),
    color: Color = (40, 120, 200),
    audio: bool = True,
    sample_rate: int = 16000,
    samples: np.ndarray | None = None,
    faststart: bool = False,
) -> Path:
    """Write an H.264 (+ AAC unless `audio=False`) mp4 and return its path.

    `samples` (float32, shape (n,) or (n, 2)) replaces `tones` when a caller needs stereo or a custom track.
    `faststart` moves the index to the front, like most web-served files, so a truncated copy still opens
    and fails mid-stream instead of at open time.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(tmp), "w", format="mp4", options=options) as out:
        vstream = out.add_stream("libx264", rate=fps)
        vstream.width, vstream.height = size
        vstream.pix_fmt = "yuv420p"
        vstream.codec_context.options = {"preset": "ultrafast", "threads": "1", "bframes": "0"}
        astream = None
        track: np.ndarray | None = None
        if audio:
            track = samples if samples is not None else render_tones(
                tones, duration=duration, sample_rate=sample_rate
            )
            track = np.asarray(track, dtype=np.float32)
            layout = "stereo" if track.ndim == 2 and track.shape[1] == 2 else "mono"
            astream = out.add_stream("aac", rate=sample_rate, layout=layout)
        n_video = round(duration * fps)
        for i in range(n_video):
            t = i / fps
            img = color(t) if callable(color) else solid_frame(color, size)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img, dtype=np.uint8), format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            out.mux(vstream.encode(frame))
        out.mux(vstream.encode(None))
        if astream is not None and track is not None:
            _encode_audio(out, astream, track, sample_rate)
    _replace_if_changed(tmp, path)
    return path


def _replace_if_changed(tmp: Path, path: Path) -> None:
    """Move `tmp` over `path` atomically, or drop it when `path` already holds the same bytes (keeps mtime)."""
    if path.is_file() and path.stat().st_size == tmp.stat().st_size and path.read_bytes() == tmp.read_bytes():
        tmp.unlink()
        return
    os.replace(tmp, path)


def _encode_audio(out: av.container.OutputContainer, stream: av.audio.AudioStream,
                  track: np.ndarray, sample_rate: int) -> None:
    """Feed the track in AAC-sized (1024-sample) planar frames so the encoder never has to buffer."""
    planar = track.reshape(-1, 1).T if track.ndim == 1 else track.T
    planar = np.ascontiguousarray(planar, dtype=np.float32)
    layout = "mono" if planar.shape[0] == 1 else "stereo"
    chunk = 1024
    for i0 in range(0, planar.shape[1], chunk):
        frame = av.AudioFrame.from_ndarray(planar[:, i0 : i0 + chunk], format="fltp", layout=layout)
        frame.sample_rate = sample_rate
        frame.pts = i0
        frame.time_base = Fraction(1, sample_rate)
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def write_wav(path: str | os.PathLike[str], samples: np.ndarray, sr: int) -> Path:
    """Write PCM16 wav (or flac/ogg by extension); clips to [-1, 1] because libsndfile wraps on overflow."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    subtype = "PCM_16" if path.suffix.lower() == ".wav" else None
    sf.write(path, data, sr, subtype=subtype)
    return path


def write_text_if_changed(path: str | os.PathLike[str], text: str) -> Path:
    """Write `text` atomically, or leave the file alone (same mtime) when it already says exactly that: the demo's
    files are rebuilt at every start, and anything watching them must not see a change that is not one."""
    path = Path(path)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return path
