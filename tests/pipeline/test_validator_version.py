"""A verdict's validator_version names everything that can change it, so re-validating stores a new verdict.

Verdicts are told apart by (validator, validator_version): two validation runs that can disagree — another judge
model, prompt, tagger, matcher setting, threshold or policy — must never write the same version.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from pipeline.backends.base import Completion, GenerationResult
from pipeline.media import decode_audio
from pipeline.validate import ValidationConfig, ValidationItem, validate_chains
from pipeline.validate.claims import ClaimConfig
from pipeline.validate.judge import Judge, JudgeConfig
from pipeline.validate.sound_events import TagResult, default_tagger
from pipeline.validate.versions import MAX_LENGTH
from tests.real_fixtures import AVQA_VIDEO_DIR

TYPING = "00Ag326f4gs_000005"
CHAIN = ("<think>I can hear the steady clatter of fingers on keys. No gunfire can be heard.</think>"
         "<answer>B</answer>")


class _ScriptedJudge:
    """An OpenAI-style judge reply, always the same: only the validator's identity may differ between runs."""

    name = "openai"

    def generate(self, requests):  # type: ignore[no-untyped-def]
        text = '{"claims": [{"id": 1, "text": "x", "verdict": "supported"}], "overall": "supported"}'
        return [GenerationResult(r.request_id, 1, [Completion(text, 1, "stop")]) for r in requests]

    def close(self) -> None:
        pass


class _RetrainedTagger:
    """The real YAMNet under another version, as after a frontend change."""

    name = "yamnet-int8"

    def __init__(self) -> None:
        self.inner = default_tagger()
        self.version = self.inner.version + "-padded"

    @property
    def labels(self) -> list[str]:
        return self.inner.labels

    def tag(self, audio: np.ndarray, sr: int) -> TagResult:
        return self.inner.tag(audio, sr)


@pytest.fixture(scope="module")
def item() -> ValidationItem:
    audio, sr = decode_audio(AVQA_VIDEO_DIR / f"{TYPING}.mp4")
    return ValidationItem(id="x", audio=audio[: sr * 3], sr=sr, chain_text=CHAIN, question="q", choices=["a", "b"],
                          clip_id=TYPING)


def _versions(cfg: ValidationConfig, item: ValidationItem, tagger=None) -> dict[str, str]:  # type: ignore[no-untyped-def]
    backend = _ScriptedJudge() if cfg.validators != "sound-events" else None
    [(_, verdicts)] = list(validate_chains(cfg, [item], backend=backend, tagger=tagger))
    return {v.validator: v.validator_version for v in verdicts}


BOTH = ValidationConfig(validators="both", judge_model="Qwen/Qwen2-Audio-7B-Instruct", judge_backend="openai")


def test_another_judge_model_is_another_version(item: ValidationItem) -> None:
    a = _versions(BOTH, item)
    b = _versions(replace(BOTH, judge_model="/srv/models/my-finetuned-judge"), item)
    assert a["lalm"] != b["lalm"] and a["policy"] != b["policy"]
    assert a["sound-events"] == b["sound-events"]
    assert "Qwen2-Audio-7B-Instruct" in a["lalm"] and "my-finetuned-judge" in b["lalm"]


EVERY = ("policy", "sound-events", "lalm")
TAGGER_ONLY = ("policy", "sound-events")  # the judge never reads the tagger's thresholds


@pytest.mark.parametrize(("change", "changed"), [
    ({"policy": "score"}, EVERY),
    ({"pass_score": 0.9, "policy": "score"}, EVERY),
    ({"fail_score": 0.4, "policy": "score"}, EVERY),
    ({"min_claims": 2}, EVERY),
    ({"claims": ClaimConfig(label_min_similarity=0.55)}, EVERY),
    ({"present_threshold": 0.4}, TAGGER_ONLY),
    ({"absent_threshold": 0.05}, TAGGER_ONLY),
    ({"min_label_confidence": 0.6}, TAGGER_ONLY),
], ids=lambda c: ",".join(c) if isinstance(c, dict) else "")
def test_every_threshold_and_the_policy_change_the_versions_they_affect(change: dict, changed: tuple[str, ...],
                                                                        item: ValidationItem) -> None:
    before, after = _versions(BOTH, item), _versions(replace(BOTH, **change), item)
    assert [name for name in EVERY if before[name] != after[name]] == list(changed)


def test_another_tagger_version_is_another_sound_event_version(item: ValidationItem) -> None:
    cfg = ValidationConfig()
    assert _versions(cfg, item)["sound-events"] != _versions(cfg, item, tagger=_RetrainedTagger())["sound-events"]


def test_another_judge_prompt_or_decoding_is_another_judge_version() -> None:
    base = Judge(_ScriptedJudge(), JudgeConfig(), policy=BOTH)
    assert base.version != Judge(_ScriptedJudge(), JudgeConfig(prompt_version="judge-v1"), policy=BOTH).version
    assert base.version != Judge(_ScriptedJudge(), JudgeConfig(max_new_tokens=99), policy=BOTH).version
    assert base.version == Judge(_ScriptedJudge(), JudgeConfig(), policy=BOTH).version  # stable


def test_a_version_fits_its_column_whatever_the_model_path(item: ValidationItem) -> None:
    long_path = "/" + "/".join(["a-very-long-folder-name"] * 30) + "/judge"
    found = _versions(replace(BOTH, judge_model=long_path), item)
    assert all(len(v) <= MAX_LENGTH for v in found.values())
    assert found["lalm"] != _versions(replace(BOTH, judge_model=long_path + "2"), item)["lalm"]
