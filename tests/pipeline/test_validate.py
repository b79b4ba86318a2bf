"""The sound-event validator on the real AVQA clips, with hard, teacher-style chains.

These chains were written before the claim matcher was tuned: paraphrases that avoid the tagger's label words,
half-right chains (one true sound, one invented), negations, and sounds named by their source. What is on each clip
comes from YAMNet's top labels on these clips (docs/testing.md §Real fixtures).
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from pipeline.backends.base import Completion, GenerationRequest, GenerationResult
from pipeline.media import decode_audio
from pipeline.validate import (
    ChainVerdict,
    ValidationConfig,
    ValidationItem,
    combine_verdicts,
    validate_chains,
)
from pipeline.validate.claims import MATCHER_VERSION
from tests.real_fixtures import AVQA_VIDEO_DIR

ROOT = Path(__file__).resolve().parents[2]

TYPING = "00Ag326f4gs_000005"
CHAINSAW = "0060-ninuKg_000456"
GUNS = "008McBfX2O0_000000"
TALK_SHOW = "001MzJlnyqc_000020"
VIOLIN = "004KfU7bgyg_000040"
ORGAN = "0-00uubiDNU_000210"
SLOT = "001BAQ9k3SU_000140"
COOP = "003whBJovZ8_000282"
RIFLE = "009mi4HVnOI_000010"


@dataclass(frozen=True)
class Case:
    name: str
    clip: str
    chain: str
    expect: str  # "pass" | "fail" | "not-pass"
    claims: tuple[tuple[str, str], ...] = ()  # (substring of a claim, its expected verdict)


def _c(think: str, answer: str = "B") -> str:
    return f"<think>{think}</think><answer>{answer}</answer>"


CASES = [
    # ---- typing
    Case("typing-paraphrase", TYPING, _c(
        "The frame shows hands resting on a laptop on a desk. I can hear the steady clatter of fingers on keys, "
        "a quick uneven rhythm of small clicks. No gunfire can be heard anywhere in the clip. The question asks "
        "which sound is heard, so the answer is the keyboard."),
        "pass", (("clatter of fingers on keys", "supported"), ("No gunfire", "supported"))),
    Case("typing-invented", TYPING, _c(
        "The person sits at a desk. Loud music with a thumping drum beat fills the room, and a dog barks "
        "repeatedly in the hallway."),
        "fail", (("dog barks", "contradicted"), ("thumping drum beat", "contradicted"))),
    # ---- chainsaw
    Case("chainsaw-paraphrase", CHAINSAW, _c(
        "A man stands next to a felled tree. A buzzing motor whines as it bites into the wood, and the pitch "
        "drops whenever the blade meets resistance. There is no speech, just the machine."),
        "pass", (("buzzing motor whines", "supported"),)),
    Case("chainsaw-negated-engine", CHAINSAW, _c(
        "The scene is a quiet garden. No engine can be heard; the only sounds are birds singing softly in the "
        "trees."),
        "fail", (("No engine can be heard", "contradicted"), ("birds singing", "contradicted"))),
    Case("chainsaw-half-right", CHAINSAW, _c(
        "Someone is cutting a tree. The roar of a chainsaw dominates the clip, while the crowd cheers and "
        "applauds in the background."),
        "not-pass", (("roar of a chainsaw", "supported"), ("crowd cheers", "contradicted"))),
    # ---- guns
    Case("guns-paraphrase", GUNS, _c(
        "Soldiers are firing weapons in a field. Rapid bursts of automatic fire rattle through the clip, "
        "punctuated by heavy booms that shake the air."),
        "pass", (("automatic fire", "supported"), ("heavy booms", "supported"))),
    Case("guns-invented", GUNS, _c(
        "The video shows an open field. Gentle piano music plays while people talk calmly about the weather."),
        "fail", (("piano music", "contradicted"),)),
    # ---- talk show
    Case("talk-show-sources", TALK_SHOW, _c(
        "Two hosts sit on a studio set. They chat with each other, and the audience laughs at a joke."),
        "pass", (("chat with each other", "supported"), ("audience laughs", "supported"))),
    Case("talk-show-siren", TALK_SHOW, _c(
        "Two hosts sit on a studio set. A wailing tone that rises and falls passes outside, like an ambulance "
        "racing by."),
        "fail", (("wailing tone", "contradicted"),)),
    # ---- violin
    Case("violin-paraphrase", VIOLIN, _c(
        "A young woman draws a bow across the strings, producing a sustained, sweet melody."),
        "pass", (("bow across the strings", "supported"),)),
    Case("violin-half-right", VIOLIN, _c(
        "The violinist plays a slow tune, and the drummer keeps a loud, pounding beat behind her."),
        "not-pass", (("pounding beat", "contradicted"),)),
    # ---- organ / keyboard
    Case("organ-band", ORGAN, _c(
        "Someone sits at an electronic keyboard on stage. The band plays an upbeat tune led by organ chords."),
        "pass", (("band plays", "supported"),)),
    Case("organ-invented", ORGAN, _c(
        "A kitchen is shown. Water splashes into the sink and a cat meows for food."),
        "fail", (("cat meows", "contradicted"),)),
    # ---- slot machine
    Case("slot-jingle", SLOT, _c(
        "A casino slot machine flashes its lights. A cheerful electronic jingle plays in a loop."),
        "pass", (("jingle", "supported"),)),
    Case("slot-crowd", SLOT, _c(
        "The jackpot lights up. The crowd roars and applauds as the coins pour out."),
        "fail", (("crowd roars", "contradicted"),)),
    # ---- chicken coop
    Case("coop-sources", COOP, _c(
        "Inside a chicken coop. A man speaks to the camera while the birds coo and flutter nearby."),
        "pass", (("man speaks", "supported"),)),
    Case("coop-tractor", COOP, _c(
        "Inside a chicken coop. A tractor engine rumbles loudly outside and a church bell rings."),
        "fail", (("tractor engine rumbles", "contradicted"),)),
    # ---- rifle + speech
    Case("rifle-sources", RIFLE, _c(
        "A man explains something to the camera, then a single loud shot rings out from the rifle."),
        "pass", (("explains something", "supported"), ("shot rings out", "supported"))),
    Case("rifle-negated-speech", RIFLE, _c(
        "A man holds a rifle. Nobody says a word in the whole clip; there is no talking at all."),
        "fail", (("no talking", "contradicted"),)),
]


@pytest.fixture(scope="module")
def clip_audio() -> dict[str, tuple[np.ndarray, int]]:
    needed = sorted({case.clip for case in CASES})
    return {name: decode_audio(AVQA_VIDEO_DIR / f"{name}.mp4") for name in needed}


@pytest.fixture(scope="module")
def verdicts(clip_audio: dict[str, tuple[np.ndarray, int]]) -> dict[str, ChainVerdict]:
    items = [
        ValidationItem(id=case.name, audio=clip_audio[case.clip][0], sr=clip_audio[case.clip][1], chain_text=case.chain,
                       question="Which sound is heard?", choices=["a", "b", "c", "d"], clip_id=case.clip)
        for case in CASES
    ]
    return {item_id: found[0] for item_id, found in validate_chains(ValidationConfig(validators="sound-events"), items)}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_it_labels_hard_chains_on_real_clips(case: Case, verdicts: dict[str, ChainVerdict]) -> None:
    verdict = verdicts[case.name]
    table = [(c.text, c.verdict, c.labels[:3]) for c in verdict.claims]
    if case.expect == "not-pass":
        assert verdict.label != "pass", table
    else:
        assert verdict.label == case.expect, table
    for needle, expected in case.claims:
        matching = [c for c in verdict.claims if needle.lower() in c.text.lower()]
        assert matching, f"no claim contains {needle!r}: {table}"
        assert matching[0].verdict == expected, (needle, table)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_it_keeps_offsets_and_spans_inside_the_clip(
    case: Case, verdicts: dict[str, ChainVerdict], clip_audio: dict[str, tuple[np.ndarray, int]]
) -> None:
    verdict = verdicts[case.name]
    audio, sr = clip_audio[case.clip]
    duration = len(audio) / sr
    assert verdict.claims
    for claim in verdict.claims:
        assert case.chain[claim.char_start : claim.char_end] == claim.text
        if claim.verdict == "supported" and not claim.negated:
            assert claim.spans
        for start, end in claim.spans:
            assert 0.0 <= start < end <= duration + 1e-6


def test_it_names_its_validator_and_version(verdicts: dict[str, ChainVerdict]) -> None:
    verdict = verdicts["typing-paraphrase"]
    assert verdict.validator == "sound-events"
    assert verdict.validator_version.startswith(f"yamnet-int8+minilm/{MATCHER_VERSION}+")
    assert 0.0 <= verdict.score <= 1.0
    assert verdict.rationale


def test_it_is_uncertain_when_a_chain_makes_no_sound_claim(clip_audio: dict[str, tuple[np.ndarray, int]]) -> None:
    audio, sr = clip_audio[TYPING]
    chain = _c("The frame shows a desk with a laptop and a mug. The question asks what the person is doing.")
    [(_, [verdict])] = list(validate_chains(
        ValidationConfig(validators="sound-events"),
        [ValidationItem(id="x", audio=audio, sr=sr, chain_text=chain, question="q", choices=[])],
    ))
    assert verdict.label == "uncertain"
    assert verdict.claims == []


def test_it_gives_the_same_verdicts_with_the_tagger_on_one_thread_or_several(
    clip_audio: dict[str, tuple[np.ndarray, int]]
) -> None:
    from pipeline.validate.sound_events import YamnetConfig, YamnetTagger

    items = [
        ValidationItem(id=case.name, audio=clip_audio[case.clip][0], sr=clip_audio[case.clip][1], chain_text=case.chain,
                       question="q", choices=[], clip_id=case.clip)
        for case in CASES
    ]
    cfg = ValidationConfig(validators="sound-events")
    found = [[(i, v[0].label, v[0].score, [(c.verdict, c.score, c.spans) for c in v[0].claims])
              for i, v in validate_chains(cfg, items, tagger=YamnetTagger(YamnetConfig(threads=threads)))]
             for threads in (1, 3)]
    assert found[0] == found[1]
    assert {label for _, label, _, _ in found[0]} >= {"pass", "fail"}


def test_it_tags_each_clip_once_for_many_chains(
    clip_audio: dict[str, tuple[np.ndarray, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.validate import sound_events

    calls: list[int] = []
    original = sound_events.YamnetTagger.tag

    def counting(self, audio, sr):  # type: ignore[no-untyped-def]
        calls.append(1)
        return original(self, audio, sr)

    monkeypatch.setattr(sound_events.YamnetTagger, "tag", counting)
    audio, sr = clip_audio[TYPING]
    items = [ValidationItem(id=f"c{i}", audio=audio, sr=sr, chain_text=CASES[0].chain, question="q", choices=[],
                            clip_id=TYPING) for i in range(4)]
    seen: list[tuple[int, int]] = []
    out = list(validate_chains(ValidationConfig(validators="sound-events"), items,
                               on_progress=lambda done, total, _m: seen.append((done, total))))
    assert [item_id for item_id, _ in out] == ["c0", "c1", "c2", "c3"]
    assert len(calls) == 1
    assert seen[-1] == (4, 4)


def _distinct_clips(audio: np.ndarray, sr: int, n: int, pulled: list[int], arrays: list[weakref.ref]):  # type: ignore[no-untyped-def]
    """n clips, each its own array (as the web job reads each clip's wav anew), recording what was pulled."""
    for i in range(n):
        clip = audio[: sr].copy()
        arrays.append(weakref.ref(clip))
        pulled.append(i)
        yield ValidationItem(id=f"c{i}", audio=clip, sr=sr, chain_text=CASES[0].chain, question="q", choices=[],
                             clip_id=f"clip{i}")


def test_it_pulls_items_one_batch_at_a_time(clip_audio: dict[str, tuple[np.ndarray, int]]) -> None:
    audio, sr = clip_audio[TYPING]
    pulled: list[int] = []
    arrays: list[weakref.ref] = []
    cfg = ValidationConfig(validators="sound-events", claim_batch_size=4)
    results = validate_chains(cfg, _distinct_clips(audio, sr, 12, pulled, arrays), total=12)
    first_id, _ = next(results)
    assert first_id == "c0"
    assert len(pulled) <= 4  # not the whole input: a 40k-clip run must not hold every clip's audio
    assert [item_id for item_id, _ in results] == [f"c{i}" for i in range(1, 12)]


def test_it_lets_go_of_each_clips_audio_once_its_batch_is_judged(
    clip_audio: dict[str, tuple[np.ndarray, int]],
) -> None:
    audio, sr = clip_audio[TYPING]
    pulled: list[int] = []
    arrays: list[weakref.ref] = []
    cfg = ValidationConfig(validators="sound-events", claim_batch_size=4)
    alive_at: list[int] = []
    for item_id, _ in validate_chains(cfg, _distinct_clips(audio, sr, 12, pulled, arrays), total=12):
        if item_id == "c10":  # third batch: the first two batches' clips are gone
            gc.collect()
            alive_at = [i for i, ref in enumerate(arrays) if ref() is not None]
    assert alive_at and min(alive_at) >= 8, alive_at


def _verdict(label: str, score: float, claims: list[tuple[str, str]]) -> ChainVerdict:
    from pipeline.validate import ClaimVerdict

    return ChainVerdict(
        validator="x", validator_version="1", label=label, score=score,
        claims=[ClaimVerdict(text=t, verdict=v, char_start=0, char_end=len(t), spans=[], labels=[], score=0.0)
                for t, v in claims],
        rationale="", raw_output="",
    )


def test_it_combines_sound_events_and_judge_by_policy() -> None:
    cfg = ValidationConfig(validators="both")
    sound = _verdict("pass", 1.0, [("a", "supported"), ("b", "unverifiable")])
    judge = _verdict("fail", 0.0, [("a", "supported"), ("b", "contradicted")])
    combined = combine_verdicts(cfg, sound, judge)
    assert combined.validator == "policy"
    assert [c.verdict for c in combined.claims] == ["supported", "contradicted"]
    assert combined.label != "pass"
    conflict = combine_verdicts(cfg, _verdict("pass", 1.0, [("a", "supported")]),
                                _verdict("fail", 0.0, [("a", "contradicted")]))
    assert conflict.claims[0].verdict == "unverifiable"
    assert conflict.label == "uncertain"


class _ScriptedBackend:
    """Replies with a fixed judge output; records the requests it saw."""

    name = "scripted"

    def __init__(self, text: str) -> None:
        self.text = text
        self.requests: list[GenerationRequest] = []

    def generate(self, requests):  # type: ignore[no-untyped-def]
        self.requests.extend(requests)
        return [GenerationResult(r.request_id, 10, [Completion(self.text, 5, "stop")]) for r in requests]

    def close(self) -> None:
        pass


def test_it_runs_both_validators_through_any_backend(clip_audio: dict[str, tuple[np.ndarray, int]]) -> None:
    audio, sr = clip_audio[TYPING]
    case = CASES[0]
    backend = _ScriptedBackend('{"claims": [{"text": "x", "verdict": "supported"}], "overall": "supported"}')
    cfg = ValidationConfig(validators="both")
    [(_, found)] = list(validate_chains(
        cfg, [ValidationItem(id="x", audio=audio, sr=sr, chain_text=case.chain, question="q", choices=["a"])],
        backend=backend,
    ))
    assert [v.validator for v in found] == ["policy", "sound-events", "lalm"]
    assert backend.requests and backend.requests[0].media.audio is not None
    assert backend.requests[0].media.sample_rate == 16000
    assert backend.requests[0].sampling.temperature == 0.0
    assert found[2].raw_output.startswith('{"claims"')


def test_it_runs_the_cli_without_a_model_path(tmp_path: Path) -> None:
    chains = tmp_path / "chains.jsonl"
    rows = [
        {"id": "t1", "video_name": TYPING, "question": "Which sound?", "choices": ["a", "b"], "chain": CASES[0].chain},
        {"id": "t2", "video_name": TYPING, "question": "Which sound?", "choices": ["a", "b"], "chain": CASES[1].chain},
    ]
    chains.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "verdicts.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.validate", "--media-dir", str(AVQA_VIDEO_DIR), "--chains", str(chains),
         "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["id"] for line in lines] == ["t1", "t2"]
    assert [line["verdict"] for line in lines] == ["pass", "fail"]
    for line in lines:
        assert set(line) >= {"id", "verdict", "score", "claims"}
        for claim in line["claims"]:
            assert set(claim) >= {"text", "verdict", "char_start", "char_end", "spans"}
            chain = rows[[r["id"] for r in rows].index(line["id"])]["chain"]
            assert chain[claim["char_start"] : claim["char_end"]] == claim["text"]
