"""Clip ingest on real files: probe values, extracted audio, peaks, frames, thumbnail, failures, atomicity."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from pipeline.media import (
    ClipArtifacts,
    MediaError,
    compute_peaks,
    load_frames,
    probe,
    process_clip,
    read_audio,
)
from pipeline.synth import render_tones, write_av_clip, write_wav


def _truncated_copy(src: Path, dst: Path, fraction: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def _dominant_hz(x: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sr)[int(np.argmax(spectrum))])


def test_it_probes_a_real_avqa_clip(media_small_avqa_clip: Path) -> None:
    info = probe(media_small_avqa_clip)
    assert info.duration == pytest.approx(10.0, abs=0.01)
    assert (info.has_video, info.has_audio) == (True, True)
    assert (info.width, info.height, info.fps) == (640, 360, 30.0)
    assert (info.video_codec, info.audio_codec, info.sample_rate) == ("h264", "aac", 44100)
    assert info.to_dict()["duration"] == info.duration


def test_it_probes_every_real_avqa_clip_and_bigbuckbunny(
    media_avqa_clips: list[Path], media_bigbuckbunny: Path
) -> None:
    for clip in media_avqa_clips:
        info = probe(clip)
        assert 10.0 <= info.duration <= 15.0 and info.has_audio and info.has_video, clip.name
    bunny = probe(media_bigbuckbunny)
    assert bunny.duration == pytest.approx(5.312, abs=0.001)
    assert (bunny.width, bunny.height, bunny.fps, bunny.sample_rate) == (1280, 720, 25.0, 48000)


def test_it_extracts_16k_mono_wav_matching_the_container_duration(
    media_small_avqa_artifacts: tuple[Path, ClipArtifacts],
) -> None:
    out, art = media_small_avqa_artifacts
    meta = sf.info(str(out / art.audio))
    assert (art.audio, meta.samplerate, meta.channels, meta.subtype) == ("audio.wav", 16000, 1, "PCM_16")
    assert abs(meta.duration - art.info.duration) < 0.05
    samples, sr = read_audio(out / art.audio)
    assert sr == 16000 and samples.dtype == np.float32 and samples.ndim == 1
    assert 0.01 < float(np.abs(samples).max()) <= 1.0  # real sound, not silence


def test_it_keeps_a_440_hz_tone_at_440_hz(media_tone_clip: Path, tmp_path: Path) -> None:
    art = process_clip(media_tone_clip, tmp_path)
    samples, sr = read_audio(tmp_path / art.audio)
    assert len(samples) == pytest.approx(3.0 * sr, abs=0.05 * sr)
    assert _dominant_hz(samples[int(1.1 * sr) : int(1.9 * sr)], sr) == pytest.approx(440, abs=10)


def test_it_writes_peaks_that_are_high_where_the_tone_is(media_tone_clip: Path, tmp_path: Path) -> None:
    art = process_clip(media_tone_clip, tmp_path, peaks_per_second=50)
    peaks = json.loads((tmp_path / art.peaks).read_text())
    assert {k: peaks[k] for k in ("version", "sample_rate", "peaks_per_second")} == {
        "version": 1, "sample_rate": 16000, "peaks_per_second": 50,
    }
    data = peaks["data"]
    assert len(data) == math.ceil(peaks["duration"] * 50)
    assert all(0.0 <= v <= 1.0 and round(v, 4) == v for v in data)
    tone = np.mean(data[int(1.1 * 50) : int(1.9 * 50)])
    silence = np.mean(data[: int(0.8 * 50)] + data[int(2.3 * 50) :])
    assert tone > 0.3 and silence < 0.05 * tone


def test_it_buckets_peaks_when_the_rate_does_not_divide_the_sample_rate() -> None:
    audio = np.zeros(16000, dtype=np.float32)
    audio[-1] = -0.75
    peaks = compute_peaks(audio, 16000, 30)
    assert len(peaks) == 30 and peaks[-1] == 0.75 and max(peaks[:-1]) == 0.0
    for n in (10666, 10667, 1):  # 19.99875 -> 20 buckets, 20.000625 -> 21, one sample -> 1
        assert len(compute_peaks(audio[:n], 16000, 30)) == math.ceil(n / 16000 * 30)
    assert compute_peaks(audio[:0], 16000, 30) == []


def test_it_samples_n_frames_at_uniform_times(media_small_avqa_artifacts: tuple[Path, ClipArtifacts]) -> None:
    out, art = media_small_avqa_artifacts
    n, duration, fps = 8, art.info.duration, art.info.fps or 30.0
    assert art.frames == tuple(f"frames/{i:03d}.jpg" for i in range(n))
    assert sorted(p.name for p in (out / "frames").iterdir()) == [f"{i:03d}.jpg" for i in range(n)]
    for i, t in enumerate(art.frame_times):
        assert abs(t - (i + 0.5) * duration / n) <= 1 / fps
    stack = load_frames(out, art)
    assert stack.shape == (n, 360, 640, 3) and stack.dtype == np.uint8
    assert load_frames(out, list(art.frames[:2])).shape == (2, 360, 640, 3)
    assert len({frame.tobytes() for frame in stack}) == n  # distinct moments, not one frame repeated


def test_it_writes_a_jpeg_thumbnail_of_the_requested_width(
    media_small_avqa_artifacts: tuple[Path, ClipArtifacts], media_tone_clip: Path, tmp_path: Path
) -> None:
    out, art = media_small_avqa_artifacts
    with Image.open(out / art.thumbnail) as img:
        assert (img.format, img.size) == ("JPEG", (320, 180))
    small = process_clip(media_tone_clip, tmp_path, thumb_width=80, n_frames=2)
    with Image.open(tmp_path / small.thumbnail) as img:
        assert (img.format, img.size) == ("JPEG", (80, 60))


def test_it_gives_no_frames_or_thumbnail_for_audio_only_input(media_real_ogg: Path, tmp_path: Path) -> None:
    art = process_clip(media_real_ogg, tmp_path)
    assert (art.thumbnail, art.frames, art.frame_times) == (None, (), ())
    assert not art.info.has_video and art.info.audio_codec == "vorbis"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audio.wav", "peaks.json"]
    assert abs(sf.info(str(tmp_path / "audio.wav")).duration - art.info.duration) < 0.05
    assert json.loads(json.dumps(art.to_dict()))["frames"] == []


def test_it_ingests_a_plain_wav(tmp_path: Path) -> None:
    src = write_wav(tmp_path / "in.wav", render_tones([(0.0, 1.5, 1000.0)], duration=1.5, sample_rate=22050), 22050)
    art = process_clip(src, tmp_path / "out")
    samples, sr = read_audio(tmp_path / "out" / art.audio)
    assert art.info.sample_rate == 22050 and len(samples) == 24000
    assert _dominant_hz(samples[2000:22000], sr) == pytest.approx(1000, abs=10)


@pytest.mark.parametrize("fraction", [0.3, 0.9])
def test_it_rejects_a_truncated_mp4_at_probe(media_small_avqa_clip: Path, tmp_path: Path, fraction: float) -> None:
    """These clips keep their index (moov) at the end, so any cut loses it: caught when the clip is imported."""
    bad = _truncated_copy(media_small_avqa_clip, tmp_path / "cut.mp4", fraction)
    with pytest.raises(MediaError) as err:
        probe(bad)
    assert err.value.reason == "undecodable media: moov atom not found"
    with pytest.raises(MediaError, match="moov atom not found"):
        process_clip(bad, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_it_reports_how_far_decoding_got_in_a_cut_stream(media_faststart_avqa_copy: Path, tmp_path: Path) -> None:
    """With the index first a cut file opens and probes fine; only the full pass can see the missing tail."""
    bad = _truncated_copy(media_faststart_avqa_copy, tmp_path / "cut.mp4", 0.6)
    assert probe(bad).duration == pytest.approx(10.0, abs=0.01)
    with pytest.raises(MediaError) as err:
        process_clip(bad, tmp_path / "out")
    reason = err.value.reason
    assert reason.startswith(("truncated media: decoding stopped at", "undecodable media at")), reason
    stopped = float(reason.split(" at ")[1].split(" s")[0])
    assert 3.0 < stopped < 9.0 and "of 10.0 s" in reason
    assert list((tmp_path / "out").iterdir()) == []


def test_it_rejects_a_video_without_an_audio_track(tmp_path: Path) -> None:
    silent = write_av_clip(tmp_path / "silent.mp4", duration=1.0, audio=False)
    with pytest.raises(MediaError) as err:
        probe(silent, require_audio=True)
    assert err.value.reason == "video has no audio track"
    info = probe(silent, require_audio=False)
    assert info.has_video and not info.has_audio and info.audio_codec is None
    with pytest.raises(MediaError, match="video has no audio track"):
        process_clip(silent, tmp_path / "out")


def test_it_rejects_garbage_bytes_named_mp4(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(MediaError) as err:
        probe(garbage)
    assert err.value.reason.startswith("undecodable media: ")


def test_it_rejects_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MediaError) as err:
        probe(tmp_path / "nope.mp4")
    assert err.value.reason == "media file not found" and str(err.value) == "media file not found"


def test_it_overwrites_cleanly_and_atomically_on_rerun(
    media_tone_clip: Path, media_small_avqa_clip: Path, tmp_path: Path
) -> None:
    out = tmp_path / "clip"
    first = process_clip(media_tone_clip, out, n_frames=4)
    wav_bytes = (out / "audio.wav").read_bytes()
    again = process_clip(media_tone_clip, out, n_frames=2)
    assert again.frames == ("frames/000.jpg", "frames/001.jpg") and first.audio == again.audio
    assert sorted(p.name for p in (out / "frames").iterdir()) == ["000.jpg", "001.jpg"]  # no stale 002/003
    assert (out / "audio.wav").read_bytes() == wav_bytes
    # a failing run into the same folder leaves the previous artifacts whole and no staging behind
    broken = _truncated_copy(media_small_avqa_clip, tmp_path / "cut.mp4", 0.5)
    with pytest.raises(MediaError):
        process_clip(broken, out)
    assert sorted(p.name for p in out.iterdir()) == ["audio.wav", "frames", "peaks.json", "thumb.jpg"]
    assert (out / "audio.wav").read_bytes() == wav_bytes


def test_it_reports_progress_up_to_done(media_tone_clip: Path, tmp_path: Path) -> None:
    calls: list[tuple[int, int, dict]] = []
    process_clip(media_tone_clip, tmp_path, on_progress=lambda d, t, m: calls.append((d, t, m)))
    assert calls[-1] == (3000, 3000, {"stage": "done"})
    done = [d for d, _, _ in calls]
    assert done == sorted(done) and len(calls) >= 2


def test_it_never_imports_django_or_librosa(tmp_path: Path) -> None:
    code = (
        "import sys, pipeline.media, pipeline.synth, pipeline.demo\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'django', 'webapp', 'django_rq', 'librosa'})\n"
        "assert not bad, bad\n"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True, timeout=60)


def test_it_ingests_a_file_copied_under_an_odd_name(media_real_ogg: Path, tmp_path: Path) -> None:
    """Uploads keep their own names; the decoder must sniff the content, not trust the extension."""
    odd = tmp_path / "my clip (1).bin"
    shutil.copy(media_real_ogg, odd)
    assert probe(odd).audio_codec == "vorbis"


def test_it_caps_teacher_frames_at_the_long_side_limit(tmp_path: Path, media_bigbuckbunny: Path) -> None:
    art = process_clip(media_bigbuckbunny, tmp_path / "capped", n_frames=2, frame_max_side=320)
    sizes = {Image.open(tmp_path / "capped" / f).size for f in art.frames}
    assert sizes == {(320, 180)}
    art = process_clip(media_bigbuckbunny, tmp_path / "full", n_frames=2, frame_max_side=None)
    assert {Image.open(tmp_path / "full" / f).size for f in art.frames} == {(1280, 720)}
