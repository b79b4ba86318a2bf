"""The LALM judge: its lenient parser over real-looking outputs, and the judge end to end on tiny Qwen2-Audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.media import decode_audio
from pipeline.validate import ValidationConfig, ValidationItem, validate_chains
from pipeline.validate.claims import Claim
from pipeline.validate.judge import (
    PROMPT_VERSION,
    Judge,
    JudgeConfig,
    build_messages,
    build_prompt_v1,
    parse_judgement,
    statement,
)
from tests.real_fixtures import AVQA_VIDEO_DIR


class _Recorder:
    """Keeps the requests the judge sends (what it is shown is under test, not a model's reply)."""

    name = "rec"

    def __init__(self) -> None:
        self.seen: list = []

    def generate(self, requests):  # type: ignore[no-untyped-def]
        from pipeline.backends.base import Completion, GenerationResult

        self.seen.extend(requests)
        return [GenerationResult(r.request_id, 1, [Completion("Claim 1 is supported.", 4, "stop")]) for r in requests]

    def close(self) -> None:
        pass


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


def test_the_old_prompt_numbers_claims_and_marks_negations() -> None:
    claims = [Claim("keys clatter", 0, 12, False, []), Claim("no gunfire can be heard", 14, 37, True, [])]
    prompt = build_prompt_v1("Which sound?", ["typing", "gunfire"], "<think>…</think>", claims)
    assert "1. keys clatter\n2. no gunfire can be heard [negative claim]" in prompt
    assert "(A) typing\n(B) gunfire" in prompt
    messages = build_messages(prompt)
    assert messages[1]["content"][0] == {"type": "audio"}


CHAIN = ("<think>The frame shows a violinist. I can hear keys clacking quickly, without any speech. No gunfire can be"
         " heard. So the answer must be the typing, option B.</think><answer>B</answer>")


def _item(chain: str = CHAIN) -> ValidationItem:
    return ValidationItem(id="q", audio=np.zeros(16000, dtype=np.float32), sr=16000, chain_text=chain,
                          question="Which instrument is being played louder?", choices=["violin", "keyboard typing"])


def _prompt_text(request) -> str:  # type: ignore[no-untyped-def]
    return "".join(part.get("text", "") for m in request.messages for part in m["content"])


def test_the_judge_hears_the_claims_and_the_audio_not_the_question_choices_or_answer() -> None:
    from pipeline.validate.claims import ClaimExtractor
    from pipeline.validate.sound_events import default_tagger

    claims = ClaimExtractor(list(default_tagger().labels)).extract(CHAIN)
    request = Judge(_Recorder()).request(_item(), claims)
    text = _prompt_text(request)
    assert request.messages[1]["content"][0] == {"type": "audio"} and request.media.audio is not None
    for hidden in ("Which instrument", "violin", "keyboard typing", "<answer>", "answer must be", "option B",
                   "(A)", "The frame shows"):
        assert hidden not in text, hidden
    assert "1. I can hear keys clacking quickly." in text
    assert "2. There is no speech." in text and "3. No gunfire can be heard." in text


@pytest.mark.parametrize(("text", "negated", "phrased"), [
    ("keys clatter", False, "Keys clatter."),
    ("and a cat meows for food", False, "A cat meows for food."),
    ("while the crowd cheers", False, "The crowd cheers."),
    ("without any speech", True, "There is no speech."),
    ("or music", True, "There is no music."),
    ("No engine can be heard", True, "No engine can be heard."),
])
def test_each_claim_reads_as_a_statement_that_is_true_when_supported(text: str, negated: bool, phrased: str) -> None:
    assert statement(Claim(text, 0, len(text), negated, [])) == phrased


def test_the_prompt_says_supported_means_true_of_the_audio_for_negative_claims_too() -> None:
    claims = [Claim("no gunfire can be heard", 0, 23, True, [])]
    text = _prompt_text(Judge(_Recorder()).request(_item(), claims))
    assert "true of the audio" in text
    assert "A statement that a sound is absent is supported when you do not hear that sound" in text
    assert "[negative claim]" not in text


def test_the_old_prompt_stays_selectable_by_version() -> None:
    old = Judge(_Recorder(), JudgeConfig(prompt_version="judge-v1"))
    assert "Which instrument" in _prompt_text(old.request(_item(), [Claim("keys clatter", 0, 12, False, [])]))
    assert "@rec/judge-v1+" in old.version and f"@rec/{PROMPT_VERSION}+" in Judge(_Recorder()).version
    assert old.version != Judge(_Recorder()).version  # the prompt is part of what a verdict's version names
    assert PROMPT_VERSION == "judge-v2"
    with pytest.raises(KeyError, match="judge-v9"):
        Judge(_Recorder(), JudgeConfig(prompt_version="judge-v9"))


def test_a_chain_without_sound_claims_is_not_sent_to_the_judge() -> None:
    rec = _Recorder()
    chain = "<think>The frame shows a violinist on a stage.</think><answer>A</answer>"
    [(_, [verdict])] = list(validate_chains(ValidationConfig(validators="lalm", judge_model="unused"),
                                            [_item(chain)], backend=rec))
    assert rec.seen == []
    assert verdict.label == "uncertain" and verdict.claims == [] and "not asked" in verdict.rationale


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
        assert lalm.validator == "lalm" and f"/{PROMPT_VERSION}+" in lalm.validator_version
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
    rec = _Recorder()
    audio = np.zeros(44100, dtype=np.float32)
    item = ValidationItem(id="a", audio=audio, sr=44100, chain_text="<think>A dog barks.</think>", question="q",
                          choices=[])
    [(_, [verdict])] = list(validate_chains(ValidationConfig(validators="lalm", judge_model="unused"), [item],
                                            backend=rec))
    assert rec.seen[0].media.sample_rate == 16000 and rec.seen[0].media.audio.shape == (16000,)
    assert verdict.claims[0].verdict == "supported" and verdict.label == "pass"
