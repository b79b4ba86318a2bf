"""A claim is grounded in its own sounding subject, and a negation governs only what it negates (real AVQA clips).

Two ways a clause used to borrow support it did not earn: a noun in a context phrase ("a cat meows beside the
idling engine": hearing the engine supported the cat), and a negation that swallowed the whole clause ("I cannot
see it, but a horn honks": the horn was lost to "cannot see"). Each case runs the sound-event validator on a real
clip whose YAMNet tags are known (tests/pipeline/test_validate.py); the controls must keep passing.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.media import decode_audio
from pipeline.validate import ChainVerdict, ValidationConfig, ValidationItem, validate_chains
from tests.real_fixtures import AVQA_VIDEO_DIR

TYPING = "00Ag326f4gs_000005"
CHAINSAW = "0060-ninuKg_000456"
GUNS = "008McBfX2O0_000000"
TALK_SHOW = "001MzJlnyqc_000020"
RIFLE = "009mi4HVnOI_000010"
COOP = "003whBJovZ8_000282"

# (name, clip, reasoning, chain label, (claim substring, verdict, negated))
SUBJECT_CASES = [
    ("cat-beside-engine", CHAINSAW, "A cat meows beside the idling engine.", "fail",
     ("cat meows", "contradicted", False)),
    ("dog-at-chainsaw", CHAINSAW, "A dog barks at the roaring chainsaw.", "fail", ("dog barks", "contradicted", False)),
    ("baby-next-to-gunfire", GUNS, "A baby cries next to the gunfire.", "fail",
     ("baby cries", "contradicted", False)),
    ("singer-at-keyboard", TYPING, "A man sings softly at the keyboard.", "fail", ("sings", "contradicted", False)),
    ("rifle-held-dog-barks", RIFLE, "A man holds a rifle while a dog barks.", "fail",
     ("dog barks", "contradicted", False)),
    ("cow-near-birds", COOP, "A cow moos near the chickens.", "fail", ("cow moos", "contradicted", False)),
    # controls: the subject is what is heard, the context is not
    ("chainsaw-beside-tree", CHAINSAW, "The chainsaw roars beside the fallen tree.", "pass",
     ("chainsaw roars", "supported", False)),
    ("audience-at-joke", TALK_SHOW, "The audience laughs at the host's joke.", "pass",
     ("audience laughs", "supported", False)),
    ("shots-from-rifle", RIFLE, "A single loud shot rings out from the rifle.", "pass",
     ("shot rings out", "supported", False)),
    ("taps-on-keyboard", TYPING, "Someone taps on the keyboard at a steady pace.", "pass",
     ("taps on the keyboard", "supported", False)),
    ("chainsaw-into-trunk", CHAINSAW, "A chainsaw cuts into the tree trunk.", "pass",
     ("chainsaw cuts", "supported", False)),
    # a phrase of time or of the clip itself is not a place: the subject after it still sounds
    ("at-first-speech", RIFLE, "At first a man speaks, then a single shot rings out.", "pass",
     ("man speaks", "supported", False)),
    ("background-laughter", TALK_SHOW, "In the background the audience laughs.", "pass",
     ("audience laughs", "supported", False)),
    ("in-this-clip-dog", GUNS, "In this clip a dog barks.", "fail", ("dog barks", "contradicted", False)),
]

NEGATION_CASES = [
    ("cannot-see-but-horn", CHAINSAW, "I cannot see it, but a horn honks.", "fail",
     ("horn honks", "contradicted", False)),
    ("cannot-see-screen-but-keys", TYPING, "I can't see the screen, but keys clack steadily.", "pass",
     ("keys clack", "supported", False)),
    ("nobody-visible-but-laughter", TALK_SHOW, "Nobody is visible, but the audience laughs.", "pass",
     ("audience laughs", "supported", False)),
    ("shooter-unseen-but-dog", GUNS, "The shooter isn't visible, but a dog barks.", "fail",
     ("dog barks", "contradicted", False)),
    ("saw-unseen-motor-heard", CHAINSAW, "I cannot see the saw, but its motor whines loudly.", "pass",
     ("motor whines", "supported", False)),
    ("unclear-who-fires", GUNS, "It is not clear who fires, but rapid bursts of automatic fire rattle.", "pass",
     ("automatic fire", "supported", False)),
    # controls: a negation of a sound still negates it
    ("no-engine-heard", CHAINSAW, "No engine can be heard.", "fail", ("No engine", "contradicted", True)),
    ("no-dog-but-keys", TYPING, "No dog barks, but keys clack steadily.", "pass", ("No dog", "supported", True)),
]

CASES = SUBJECT_CASES + NEGATION_CASES

@pytest.fixture(scope="module")
def verdicts() -> dict[str, ChainVerdict]:
    audio: dict[str, tuple[np.ndarray, int]] = {}
    items = []
    for name, clip, think, *_ in CASES:
        if clip not in audio:
            audio[clip] = decode_audio(AVQA_VIDEO_DIR / f"{clip}.mp4")
        samples, sr = audio[clip]
        chain = f"<think>{think}</think><answer>B</answer>"
        items.append(ValidationItem(id=name, audio=samples, sr=sr, chain_text=chain,
                                    question="Which sound is heard?", choices=["a", "b"], clip_id=clip))
    return {item_id: found[0] for item_id, found in validate_chains(ValidationConfig(validators="sound-events"), items)}


def _check(verdicts: dict[str, ChainVerdict], name: str, label: str, expected: tuple[str, str, bool]) -> None:
    verdict = verdicts[name]
    table = [(c.text, c.verdict, c.negated, [n for n, _ in c.labels][:4]) for c in verdict.claims]
    needle, claim_verdict, negated = expected
    matching = [c for c in verdict.claims if needle.lower() in c.text.lower()]
    assert matching, f"no claim contains {needle!r}: {table}"
    assert (matching[0].verdict, matching[0].negated) == (claim_verdict, negated), table
    assert verdict.label == label, table


@pytest.mark.parametrize(("name", "clip", "think", "label", "expected"), SUBJECT_CASES,
                         ids=[c[0] for c in SUBJECT_CASES])
def test_a_claim_is_supported_only_by_its_sounding_subject(
    verdicts: dict[str, ChainVerdict], name: str, clip: str, think: str, label: str, expected: tuple[str, str, bool]
) -> None:
    _check(verdicts, name, label, expected)


@pytest.mark.parametrize(("name", "clip", "think", "label", "expected"), NEGATION_CASES,
                         ids=[c[0] for c in NEGATION_CASES])
def test_a_negation_governs_only_what_it_negates(
    verdicts: dict[str, ChainVerdict], name: str, clip: str, think: str, label: str, expected: tuple[str, str, bool]
) -> None:
    _check(verdicts, name, label, expected)


def test_a_sound_in_the_clips_last_half_second_supports_its_claim() -> None:
    """The tagger scores the padded final patch, so a shot at the very end is heard (TAGGER_VERSION v2)."""
    audio, sr = decode_audio(AVQA_VIDEO_DIR / f"{GUNS}.mp4")
    start = int(1.7 * sr)
    clip = np.concatenate([np.zeros(int(4.815 * sr), dtype=np.float32), audio[start : start + int(0.475 * sr)]])
    chain = "<think>All is quiet, then a single loud shot rings out at the very end.</think><answer>A</answer>"
    item = ValidationItem(id="end", audio=clip, sr=sr, chain_text=chain, question="q", choices=[])
    [(_, [verdict])] = list(validate_chains(ValidationConfig(validators="sound-events"), [item]))
    [shot] = [c for c in verdict.claims if "shot rings out" in c.text]
    assert shot.verdict == "supported", verdict.claims
    assert shot.spans and shot.spans[-1][1] == pytest.approx(len(clip) / sr, abs=0.01)
