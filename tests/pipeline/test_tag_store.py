"""Sound-event tags stored beside a clip's ingested wav: tagged once across validations, never a changed verdict."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest

from pipeline.media import AUDIO_NAME, process_clip, read_audio
from pipeline.validate import ValidationConfig, ValidationItem, tag_store, validate_chains
from pipeline.validate.sound_events import TagResult, YamnetConfig, YamnetTagger
from tests.real_fixtures import AVQA_VIDEO_DIR

CHAINS = [
    "<think>I can hear a loud engine throughout the clip, and people talking in the background.</think>"
    "<answer>A</answer>",
    "<think>No engine can be heard. Instead a dog barks now and then.</think><answer>B</answer>",
    "<think>The crowd cheers and applauds; there is no music at all.</think><answer>C</answer>",
    "<think>A steady clatter of fingers on keys, without any speech. Then a siren wails.</think><answer>D</answer>",
]


class CountingTagger(YamnetTagger):
    """The real tagger, counting the clips it tags."""

    def __init__(self, version_suffix: str = "") -> None:
        super().__init__(YamnetConfig(threads=2))
        self.tagged = 0
        self._suffix = version_suffix

    @property
    def version(self) -> str:  # type: ignore[override]
        return super().version + self._suffix

    def tag(self, audio: np.ndarray, sr: int) -> TagResult:
        self.tagged += 1
        return super().tag(audio, sr)


@pytest.fixture(scope="module")
def wavs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three real clips as catalog ingest writes them."""
    root = tmp_path_factory.mktemp("ingested")
    out = []
    for clip in sorted(AVQA_VIDEO_DIR.glob("*.mp4"))[:3]:
        process_clip(clip, root / clip.stem, n_frames=1)
        out.append(root / clip.stem / AUDIO_NAME)
    return out


@pytest.fixture()
def fresh(wavs: list[Path]) -> list[Path]:
    for wav in wavs:
        tag_store.tags_path(wav).unlink(missing_ok=True)
    return wavs


def _items(wavs: list[Path], with_path: bool = True) -> list[ValidationItem]:
    items = []
    for wav in wavs:
        audio, sr = read_audio(wav)
        items += [ValidationItem(id=f"{wav.parent.name}/{k}", audio=audio, sr=sr, chain_text=text, question="q",
                                 choices=[], clip_id=wav.parent.name, audio_path=str(wav) if with_path else None)
                  for k, text in enumerate(CHAINS)]
    return items


def _verdicts(items: list[ValidationItem], tagger: YamnetTagger) -> list[tuple]:
    cfg = ValidationConfig(validators="sound-events")
    return [(item_id, v[0].label, v[0].score, [(c.verdict, c.spans, c.score) for c in v[0].claims])
            for item_id, v in validate_chains(cfg, items, tagger=tagger)]


def test_a_second_validation_of_the_same_clips_tags_nothing_and_gets_identical_verdicts(fresh: list[Path]) -> None:
    tagger = CountingTagger()
    unstored = _verdicts(_items(fresh, with_path=False), tagger)
    assert tagger.tagged == 3 and not any(tag_store.tags_path(w).exists() for w in fresh)
    first = _verdicts(_items(fresh), tagger)
    assert tagger.tagged == 6 and all(tag_store.tags_path(w).exists() for w in fresh)
    second = _verdicts(_items(fresh), tagger)
    assert tagger.tagged == 6  # read back, not tagged again
    assert first == unstored and second == unstored


def test_stored_scores_are_bit_identical_and_small(fresh: list[Path]) -> None:
    tagger = CountingTagger()
    for wav in fresh:
        audio, sr = read_audio(wav)
        tagged = tag_store.tags_for(wav, tagger, audio, sr)
        stored = tag_store.load(wav, tagger)
        assert stored is not None
        np.testing.assert_array_equal(stored.scores, tagged.scores)
        assert stored.scores.dtype == tagged.scores.dtype
        np.testing.assert_array_equal(stored.starts, tagged.starts)
        assert (stored.window, stored.hop, stored.duration, stored.labels) == \
            (tagged.window, tagged.hop, tagged.duration, tagged.labels)
        # YAMNet's int8 output takes < 256 values: a palette and a byte per score, not 4 bytes
        assert tag_store.tags_path(wav).stat().st_size < 1.5 * tagged.scores.size


def test_another_tagger_version_tags_again(fresh: list[Path]) -> None:
    old, new = CountingTagger(), CountingTagger("+next")
    audio, sr = read_audio(fresh[0])
    tag_store.tags_for(fresh[0], old, audio, sr)
    assert tag_store.load(fresh[0], new) is None
    tag_store.tags_for(fresh[0], new, audio, sr)
    assert new.tagged == 1 and tag_store.load(fresh[0], new) is not None and tag_store.load(fresh[0], old) is None


def test_a_reingested_wav_is_tagged_again(fresh: list[Path], tmp_path: Path) -> None:
    wav = tmp_path / AUDIO_NAME
    wav.write_bytes(fresh[0].read_bytes())
    tagger = CountingTagger()
    audio, sr = read_audio(wav)
    tag_store.tags_for(wav, tagger, audio, sr)
    assert tag_store.load(wav, tagger) is not None
    stat = wav.stat()
    os.utime(wav, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # written again by a reprocess
    assert tag_store.load(wav, tagger) is None
    tag_store.tags_for(wav, tagger, audio, sr)
    assert tagger.tagged == 2


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04 torn"])
def test_a_corrupt_or_foreign_tags_file_is_tagged_again_with_a_warning(
    fresh: list[Path], content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    tagger = CountingTagger()
    tag_store.tags_path(fresh[0]).write_bytes(content)
    audio, sr = read_audio(fresh[0])
    with caplog.at_level(logging.WARNING, logger="pipeline.validate.tag_store"):
        result = tag_store.tags_for(fresh[0], tagger, audio, sr)
    assert tagger.tagged == 1 and result.scores.shape[1] == len(tagger.labels)
    assert "unreadable stored tags" in caplog.text
    assert tag_store.load(fresh[0], tagger) is not None  # replaced by a good file


def test_scores_with_more_than_256_values_are_stored_raw(tmp_path: Path) -> None:
    class Noisy:
        name, version = "noisy", "1"
        labels = ["a", "b", "c"]

        def tag(self, audio: np.ndarray, sr: int) -> TagResult:
            scores = np.random.default_rng(0).random((200, 3), dtype=np.float32)
            return TagResult(scores=scores, starts=np.arange(200) * 0.48, window=0.96, hop=0.48, duration=96.0,
                             labels=self.labels)

    wav = tmp_path / AUDIO_NAME
    wav.write_bytes(b"RIFF")
    tagger = Noisy()
    tagged = tag_store.tags_for(wav, tagger, np.zeros(16), 16000)  # type: ignore[arg-type]
    stored = tag_store.load(wav, tagger)  # type: ignore[arg-type]
    assert stored is not None
    np.testing.assert_array_equal(stored.scores, tagged.scores)
