"""A clip's spectrogram computed on the server, for wavesurfer's spectrogram plugin (`frequenciesDataUrl`).

Toggling the spectrogram used to make the browser download and decode the whole wav and run its FFT in
JavaScript; now it fetches one small JSON of frames × frequency bins (0–255 each, the plugin's colour-map
indices) covering 0–8 kHz, whatever the file's sample rate, so the plugin is told `sampleRate: 16000`.
"""

from __future__ import annotations

import wave
from functools import lru_cache
from pathlib import Path

import numpy as np

N_FFT = 256  # 128 bins up to 8 kHz at 16 kHz: finer than the 128 px the plugin draws
MAX_FRAMES = 600
TOP_HZ = 8000
FLOOR_DB = 80.0


def _samples(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as wav:
        rate, width, channels = wav.getframerate(), wav.getsampwidth(), wav.getnchannels()
        raw = wav.readframes(wav.getnframes())
    if width != 2:
        raise ValueError(f"{path.name}: {8 * width}-bit audio, expected 16-bit PCM")
    samples = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    return samples.reshape(-1, channels).mean(axis=1), rate


@lru_cache(maxsize=64)
def _cached(path: str, mtime_ns: int) -> list[list[int]]:
    samples, rate = _samples(Path(path))
    bins = N_FFT // 2
    if len(samples) < N_FFT:
        return []
    hop = max(N_FFT // 4, -(-(len(samples) - N_FFT) // (MAX_FRAMES - 1)))
    starts = np.arange(0, len(samples) - N_FFT + 1, hop)
    frames = samples[starts[:, None] + np.arange(N_FFT)[None, :]] * np.hanning(N_FFT)
    # Frequencies 0 … 8 kHz on `bins` rows, read off the FFT at the file's own rate (padding above its Nyquist).
    spectrum = np.abs(np.fft.rfft(frames, n=N_FFT, axis=1))
    source_hz = np.fft.rfftfreq(N_FFT, d=1.0 / rate)
    wanted_hz = np.linspace(0, TOP_HZ, bins, endpoint=False)
    columns = np.minimum(np.searchsorted(source_hz, wanted_hz), len(source_hz) - 1)
    db = 20 * np.log10(spectrum[:, columns] + 1e-10)
    db[:, wanted_hz >= rate / 2] = -np.inf
    top = float(db[np.isfinite(db)].max()) if np.isfinite(db).any() else 0.0
    scaled = np.clip((db - (top - FLOOR_DB)) / FLOOR_DB * 255, 0, 255)
    return scaled.astype(np.uint8).tolist()


def spectrogram_rows(path: Path) -> list[list[int]]:
    """Frames (time) × bins (0 → 8 kHz) of 0–255 values; cached per file version in each worker."""
    return _cached(str(path), path.stat().st_mtime_ns)
