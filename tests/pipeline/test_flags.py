"""Chain flags on real-looking teacher chains: visual-only reasoning, answer restating, lucky guesses."""

from __future__ import annotations

import doctest

import pytest

import pipeline.flags as flags
from pipeline.flags import (
    LUCKY_GUESS,
    RESTATING,
    VISUAL_ONLY,
    FlagConfig,
    FlagItem,
    flag_chains,
    is_lucky_guess,
    is_restating,
    names,
)
from pipeline.validate.claims import ClaimExtractor
from pipeline.validate.sound_events import default_tagger

CHOICES = ["a cat meowing", "a dog barking", "a car engine", "rain falling"]
QUESTION = "What is making the sound in the video?"
GROUNDED = ("<think>A brown dog stands in a yard with its mouth opening in short bursts. Sharp, repeated barks can be "
            "heard about once a second over a faint wind, and no engine noise is audible. The barks match the dog's "
            "mouth movements.</think><answer>B</answer>")
VISUAL = ("<think>The frame shows a brown dog in a fenced yard, its mouth open, looking at the camera. A ball lies in "
          "the grass next to a wooden kennel. Dogs in yards like this are usually what a clip is about.</think>"
          "<answer>B</answer>")
VAGUE_SOUND = ("<think>A dog is standing in the yard. Some sound can be heard in the clip. The dog is the most "
               "visible thing.</think><answer>B</answer>")
RESTATE = "<think>The sound in the video is a dog barking, so the answer is B, a dog barking.</think><answer>B</answer>"


@pytest.fixture(scope="module")
def extractor() -> ClaimExtractor:
    return ClaimExtractor(list(default_tagger().labels))


def _item(text: str, **kw: object) -> FlagItem:
    return FlagItem(id="1", text=text, question=QUESTION, chosen_text=CHOICES[1], **kw)  # type: ignore[arg-type]


def test_it_flags_a_chain_that_answers_from_the_picture_alone(extractor: ClaimExtractor) -> None:
    bits = flag_chains([_item(VISUAL), _item(VAGUE_SOUND), _item(GROUNDED)], extractor=extractor)
    assert [bool(b & VISUAL_ONLY) for b in bits] == [True, True, False]


def test_it_does_not_flag_visual_only_when_the_chain_gives_no_answer(extractor: ClaimExtractor) -> None:
    assert flag_chains([_item(VISUAL, answered=False)], extractor=extractor) == [0]


def test_it_flags_a_chain_that_only_restates_the_chosen_option() -> None:
    cfg = FlagConfig()
    assert is_restating(_item(RESTATE), cfg)
    assert not is_restating(_item(GROUNDED), cfg)
    # naming another option's words is not restating the chosen one
    assert not is_restating(FlagItem(id="2", text=RESTATE, question=QUESTION, chosen_text=CHOICES[3]), cfg)


def test_it_flags_a_correct_answer_most_samples_missed_as_a_lucky_guess() -> None:
    cfg = FlagConfig(lucky_max_support=0.5)
    assert is_lucky_guess(_item(GROUNDED, is_correct=True, answer_support=1 / 8), cfg)
    assert not is_lucky_guess(_item(GROUNDED, is_correct=True, answer_support=6 / 8), cfg)
    assert not is_lucky_guess(_item(GROUNDED, is_correct=False, answer_support=1 / 8), cfg)
    assert not is_lucky_guess(_item(GROUNDED, is_correct=True, answer_support=None), cfg)


def test_it_combines_the_rules_into_one_bit_set(extractor: ClaimExtractor) -> None:
    [bits] = flag_chains([_item(RESTATE, is_correct=True, answer_support=0.25)], extractor=extractor)
    assert bits & RESTATING and bits & LUCKY_GUESS
    assert names(bits) == [n for n in ("visual_only", "restating", "lucky_guess") if bits & flags.FLAGS[n][0]]


def test_it_keeps_its_doctests() -> None:
    assert doctest.testmod(flags).failed == 0


def test_the_demo_tasks_reference_chains_raise_no_flag(extractor: ClaimExtractor) -> None:
    # A snapshot leaves flagged chains out: a flagged reference chain would leave the learnable demo with no rows.
    from pipeline.demo_task import BANDS, CHOICES, QUESTION, reference_chain

    items = [FlagItem(id=str(b), text=reference_chain(b, sum(BANDS[b][1]) / 2), question=QUESTION,
                      chosen_text=CHOICES[b], is_correct=True) for b in range(len(BANDS))]
    assert flag_chains(items, extractor=extractor) == [0] * len(BANDS)
