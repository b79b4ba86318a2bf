"""The chain policy: one invented sound fails the chain by default; the score policy stays an option.

The real-clip case is the one the score policy let through: four sounds that are on the talk-show clip and one dog
that is not (score 0.8 ≥ 0.75 passed it).
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.media import decode_audio
from pipeline.validate import (
    ClaimVerdict,
    ValidationConfig,
    ValidationItem,
    chain_label,
    describe_policy,
    validate_chains,
)
from tests.real_fixtures import AVQA_VIDEO_DIR

TALK_SHOW = "001MzJlnyqc_000020"
FOUR_TRUE_ONE_INVENTED = (
    "<think>Two hosts sit on a studio set. They chat with each other, and the audience laughs at a joke. A man "
    "speaks into a microphone. A woman talks back to him. A dog barks loudly outside.</think><answer>B</answer>")


def _claims(*verdicts: str) -> list[ClaimVerdict]:
    return [ClaimVerdict(text=f"c{i}", verdict=v, char_start=i, char_end=i + 1, spans=[], labels=[], score=0.0)
            for i, v in enumerate(verdicts)]  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def talk_show() -> tuple[np.ndarray, int]:
    return decode_audio(AVQA_VIDEO_DIR / f"{TALK_SHOW}.mp4")


def _validate(cfg: ValidationConfig, audio: tuple[np.ndarray, int]):  # type: ignore[no-untyped-def]
    [(_, [verdict])] = list(validate_chains(cfg, [ValidationItem(
        id="x", audio=audio[0], sr=audio[1], chain_text=FOUR_TRUE_ONE_INVENTED, question="q", choices=[])]))
    return verdict


def test_one_invented_sound_among_four_heard_fails_the_chain_by_default(talk_show: tuple[np.ndarray, int]) -> None:
    verdict = _validate(ValidationConfig(), talk_show)
    assert [c.verdict for c in verdict.claims].count("supported") == 4
    assert [c.text for c in verdict.claims if c.verdict == "contradicted"] == ["A dog barks loudly outside"]
    assert verdict.label == "fail"
    assert "contradicted sound claim fails" in verdict.rationale


def test_the_score_policy_is_kept_as_an_option(talk_show: tuple[np.ndarray, int]) -> None:
    verdict = _validate(ValidationConfig(policy="score"), talk_show)
    assert verdict.label == "pass" and verdict.score == pytest.approx(0.8)


@pytest.mark.parametrize(("claims", "default", "score"), [
    (("supported",) * 4 + ("contradicted",), "fail", "pass"),
    (("supported", "unverifiable"), "pass", "pass"),
    (("unverifiable", "contradicted"), "fail", "fail"),
    (("unverifiable",), "uncertain", "uncertain"),
    ((), "uncertain", "uncertain"),
    (("supported", "supported", "contradicted"), "fail", "uncertain"),
])
def test_each_policy_labels_claims_as_documented(claims: tuple[str, ...], default: str, score: str) -> None:
    assert chain_label(ValidationConfig(), _claims(*claims))[0] == default
    assert chain_label(ValidationConfig(policy="score"), _claims(*claims))[0] == score


def test_min_claims_needs_that_many_supported_claims_to_pass() -> None:
    cfg = ValidationConfig(min_claims=2)
    assert chain_label(cfg, _claims("supported"))[0] == "uncertain"
    assert chain_label(cfg, _claims("supported", "supported"))[0] == "pass"


def test_the_policy_in_force_is_described_in_words() -> None:
    assert describe_policy(ValidationConfig().to_dict()).startswith("any contradicted sound claim fails the chain")
    text = describe_policy(ValidationConfig(policy="score", pass_score=0.9).to_dict())
    assert "pass at ≥ 0.9" in text and "fail at ≤ 0.5" in text
