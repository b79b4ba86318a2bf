"""The LALM judge: its lenient parser over real-looking outputs, and the judge end to end on tiny Qwen2-Audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.media import decode_audio
from pipeline.validate import ValidationConfig, ValidationItem, validate_chains
from pipeline.validate.claims import Claim
from pipeline.validate.judge import JUDGE_PROMPT_VERSION, Judge, build_messages, build_prompt, parse_judgement
from tests.real_fixtures import AVQA_VIDEO_DIR

PARSER_TABLE = [
    ("well-formed",
     '{"claims": [{"id": 1, "text": "typing", "verdict": "supported"}, {"id": 2, "text": "dog",'
     ' "verdict": "contradicted"}], "overall": "contradicted"}',
     "json", ["supported", "contradicted"], "contradicted"),
    ("fenced",
     'Here is my judgement:\n```json\n{"claims": [{"text": "typing", "verdict": "Supported"},'
     ' {"text": "dog", "verdict": "unverifiable"}], "overall": "supported"}\n```\nHope this helps.',
     "fenced", ["supported", "unverifiable"], "supported"),
    ("truncated",
     '{"claims": [{"id": 1, "text": "typing", "verdict": "supported"}, {"id": 2, "text": "the dog barks",'
     ' "verdict": "contrad',
     "truncated", ["supported", "unverifiable"], None),
    ("truncated-fence",
     '```json\n{"claims": [{"id": 2, "text": "dog", "verdict": "contradicted"}, {"id": 1, "text": "ty',
     "truncated", ["unverifiable", "contradicted"], None),
    ("prose",
     "Claim 1 is supported: I can hear typing throughout. Claim 2 is contradicted, there is no dog. "
     "Overall the reasoning is contradicted.",
     "prose", ["supported", "contradicted"], "contradicted"),
    ("garbage", "<|AUDIO|> the the the 7 ;; ]]", "garbage", ["unverifiable", "unverifiable"], None),
    ("empty", "", "garbage", ["unverifiable", "unverifiable"], None),
]


@pytest.mark.parametrize(("name", "raw", "how", "verdicts", "overall"), PARSER_TABLE, ids=[r[0] for r in PARSER_TABLE])
def test_it_parses_judge_outputs_leniently(name: str, raw: str, how: str, verdicts: list[str],
                                            overall: str | None) -> None:
    parsed = parse_judgement(raw, 2)
    assert parsed.how == how
    assert parsed.verdicts == verdicts
    assert parsed.overall == overall
    assert parsed.raw == raw


def test_it_ignores_verdicts_for_claims_that_do_not_exist() -> None:
    parsed = parse_judgement('{"claims": [{"id": 9, "verdict": "supported"}, {"id": 1, "verdict": "refuted"}]}', 1)
    assert parsed.verdicts == ["contradicted"]


def test_it_numbers_claims_and_marks_negations_in_the_prompt() -> None:
    claims = [Claim("keys clatter", 0, 12, False, []), Claim("no gunfire can be heard", 14, 37, True, [])]
    prompt = build_prompt("Which sound?", ["typing", "gunfire"], "<think>…</think>", claims)
    assert "1. keys clatter\n2. no gunfire can be heard [negative claim]" in prompt
    assert "(A) typing\n(B) gunfire" in prompt
    messages = build_messages(prompt)
    assert messages[1]["content"][0] == {"type": "audio"}
    assert JUDGE_PROMPT_VERSION == "judge-v1"


@pytest.fixture(scope="module")
def tiny_audio_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pipeline.tiny import build_model

    return build_model("tiny-qwen2-audio", tmp_path_factory.mktemp("tiny") / "tiny-qwen2-audio")


def test_it_judges_end_to_end_on_tiny_qwen2_audio(tiny_audio_model: Path) -> None:
    """A random model writes nonsense: the parser falls back, the raw text is kept, a verdict still comes back."""
    from pipeline.backends import load_backend

    audio, sr = decode_audio(AVQA_VIDEO_DIR / "00Ag326f4gs_000005.mp4")
    chain = ("<think>I can hear the steady clatter of fingers on keys. No gunfire can be heard.</think>"
             "<answer>B</answer>")
    item = ValidationItem(id="t", audio=audio[: sr * 3], sr=sr, chain_text=chain, question="Which sound?",
                          choices=["gunfire", "typing"], clip_id="typing")
    backend = load_backend("transformers", str(tiny_audio_model))
    try:
        cfg = ValidationConfig(validators="both", judge_max_new_tokens=24)
        [(item_id, verdicts)] = list(validate_chains(cfg, [item], backend=backend))
        policy, sound, lalm = verdicts
        assert item_id == "t"
        assert lalm.validator == "lalm" and f"/{JUDGE_PROMPT_VERSION}+" in lalm.validator_version
        assert isinstance(lalm.raw_output, str) and policy.raw_output == lalm.raw_output  # kept verbatim
        assert len(lalm.claims) == len(sound.claims) == 2
        assert all(c.verdict == "unverifiable" for c in lalm.claims)
        assert "garbage" in lalm.rationale or "prose" in lalm.rationale
        assert lalm.label == "uncertain"
        # the judge abstained, so the policy follows the tagger's evidence
        assert [c.verdict for c in policy.claims] == [c.verdict for c in sound.claims]
        assert policy.label == sound.label == "pass"
        judge = Judge(backend)
        assert judge.sampling().temperature == 0.0 and judge.sampling().seed == 0
    finally:
        backend.close()


def test_it_sends_16k_audio_whatever_the_input_rate() -> None:
    class Recorder:
        name = "rec"

        def __init__(self) -> None:
            self.seen = []

        def generate(self, requests):  # type: ignore[no-untyped-def]
            from pipeline.backends.base import Completion, GenerationResult

            self.seen.extend(requests)
            return [GenerationResult(r.request_id, 1, [Completion("Claim 1 is supported.", 4, "stop")])
                    for r in requests]

        def close(self) -> None:
            pass

    rec = Recorder()
    audio = np.zeros(44100, dtype=np.float32)
    item = ValidationItem(id="a", audio=audio, sr=44100, chain_text="<think>A dog barks.</think>", question="q",
                          choices=[])
    [(_, [verdict])] = list(validate_chains(ValidationConfig(validators="lalm", judge_model="unused"), [item],
                                            backend=rec))
    assert rec.seen[0].media.sample_rate == 16000 and rec.seen[0].media.audio.shape == (16000,)
    assert verdict.claims[0].verdict == "supported" and verdict.label == "pass"
