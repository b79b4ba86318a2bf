"""A clip's sound-event tags kept beside its ingested wav, so each clip is tagged once, not once per validation.

Why: tagging is most of sound-event validation's CPU, and it depends only on the audio and the tagger, not on the
chains, the policy or the judge. A team validates several teacher runs over the same clips and re-validates under a
new policy or judge; each of those tagged every clip again. The first validation of a clip stores its tags
(`sound_events.npz` in the clip's folder); later ones read them when the same tagger version made them from the
same wav (its size and modification time). Anything else (no file, another tagger version or label set, a
re-ingested wav, an unreadable or foreign file) is tagged afresh and stored again, so a stale file can cost time but
never change a verdict.

Scores are stored exactly: as a palette of at most 256 distinct values plus one byte per score when the tagger's
scores take that few values (YAMNet's int8 output does: 11 KB a 10 s clip, 3 % of its wav), raw float32
otherwise; a verdict from stored tags is bit-identical to one from a fresh tagging (tests/pipeline/test_tag_store.py).
Files are written to a temporary name and renamed, so concurrent workers on one clip never read half a file.
"""

from __future__ import annotations

import logging
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from pipeline.validate.sound_events import SoundEventTagger, TagResult

log = logging.getLogger(__name__)

TAGS_NAME = "sound_events.npz"
FORMAT = 1  # bump when the stored fields change: older files are then re-tagged


def tags_path(wav: Path) -> Path:
    return wav.with_name(TAGS_NAME)


def _identity(wav: Path) -> np.ndarray:
    stat = wav.stat()
    return np.array([stat.st_size, stat.st_mtime_ns], dtype=np.int64)


def _encode(scores: np.ndarray) -> dict[str, np.ndarray]:
    values, codes = np.unique(scores, return_inverse=True)
    if values.size <= 256:
        return {"palette": values.astype(scores.dtype), "codes": codes.reshape(scores.shape).astype(np.uint8)}
    return {"scores": scores}


def _decode(data: np.lib.npyio.NpzFile) -> np.ndarray:
    if "palette" in data.files:
        return data["palette"][data["codes"]]
    return data["scores"]


def load(wav: Path, tagger: SoundEventTagger) -> TagResult | None:
    """The stored tags of `wav` if `tagger` (same version and labels) made them from this very file, else None."""
    path = tags_path(wav)
    try:
        with np.load(path, allow_pickle=False) as data:
            if (int(data["format"]) != FORMAT or str(data["tagger"]) != f"{tagger.name}@{tagger.version}"
                    or int(data["n_labels"]) != len(tagger.labels)
                    or not np.array_equal(data["wav"], _identity(wav))):
                return None
            scores = _decode(data)
            return TagResult(scores=scores, starts=data["starts"], window=float(data["window"]),
                             hop=float(data["hop"]), duration=float(data["duration"]), labels=list(tagger.labels))
    except FileNotFoundError:
        return None
    except (OSError, EOFError, ValueError, KeyError, IndexError, zipfile.BadZipFile) as exc:  # torn, foreign, corrupt
        log.warning("ignoring unreadable stored tags %s (%s); tagging again", path, exc)
        return None


def save(wav: Path, tagger: SoundEventTagger, result: TagResult) -> None:
    """Store `result` beside `wav`; a failure to write only costs the next validation a tagging."""
    path = tags_path(wav)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tags-", suffix=".npz", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(
                    fh, format=np.int64(FORMAT), tagger=np.str_(f"{tagger.name}@{tagger.version}"),
                    n_labels=np.int64(len(result.labels)), wav=_identity(wav), starts=result.starts,
                    window=np.float64(result.window), hop=np.float64(result.hop),
                    duration=np.float64(result.duration), **_encode(result.scores))
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
    except OSError as exc:
        log.warning("could not store tags beside %s (%s)", wav, exc)


def tags_for(wav: Path, tagger: SoundEventTagger, audio: np.ndarray, sr: int) -> TagResult:
    """The clip's tags: read from the store when valid, else tagged from `audio` (the wav's samples) and stored."""
    stored = load(wav, tagger)
    if stored is not None:
        return stored
    result = tagger.tag(audio, sr)
    save(wav, tagger, result)
    return result
