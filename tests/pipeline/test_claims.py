"""Claim extraction: which clauses talk about sound, their offsets, negation, and label mapping."""

from __future__ import annotations

import pytest

from pipeline.validate.claims import Claim, ClaimExtractor, negation_scope
from pipeline.validate.sound_events import default_tagger


@pytest.fixture(scope="module")
def extractor() -> ClaimExtractor:
    return ClaimExtractor(list(default_tagger().labels))


def _labels(claim: Claim) -> set[str]:
    return {name for name, _ in claim.labels}


def test_it_keeps_offsets_into_the_original_chain(extractor: ClaimExtractor) -> None:
    chain = ("Preamble <answer>x</answer>?\n<think>The frame shows a laptop.  I can hear keys clacking quickly;"
             " no music plays.\nThe question asks which sound is heard.</think><answer>B</answer>")
    claims = extractor.extract(chain)
    assert [c.text for c in claims] == ["I can hear keys clacking quickly", "no music plays"]
    for claim in claims:
        assert chain[claim.char_start : claim.char_end] == claim.text
    assert [c.negated for c in claims] == [False, True]


def test_it_skips_visual_and_meta_sentences(extractor: ClaimExtractor) -> None:
    chain = ("<think>A man holds a rifle in a field. He is wearing a green jacket. The question asks what is heard,"
             " and option C mentions a gunshot, so the answer is C.</think><answer>C</answer>")
    assert extractor.extract(chain) == []


@pytest.mark.parametrize(("text", "must_include"), [
    ("keys clacking", {"Typing", "Computer keyboard"}),
    ("the steady clatter of fingers on keys", {"Typing"}),
    ("a wailing tone that rises and falls", {"Siren", "Civil defense siren", "Emergency vehicle"}),
    ("the crowd goes wild", {"Crowd", "Cheering", "Applause", "Chatter"}),
    ("the band plays on", {"Music", "Musical instrument", "Drum"}),
    ("the audience laughs", {"Laughter"}),
    ("a buzzing motor whining as it bites into wood", {"Engine", "Chainsaw"}),
    ("rapid bursts of automatic fire", {"Machine gun"}),
    ("a hen clucks", {"Chicken, rooster", "Cluck"}),
])
def test_it_maps_sources_and_paraphrases_to_labels(
    extractor: ClaimExtractor, text: str, must_include: set[str]
) -> None:
    [claim] = extractor.extract(f"<think>I hear {text}.</think>")
    assert must_include <= _labels(claim), claim.labels


@pytest.mark.parametrize(("sentence", "negated", "label"), [
    ("No engine can be heard.", True, "Engine"),
    ("There is no music.", True, "Music"),
    ("The saw screams without any speech.", False, "Chainsaw"),
    ("Nobody says a word.", True, "Speech"),
    ("I can't hear any dogs barking.", True, "Dog"),
    ("There is nothing but the hum of a motor.", False, "Engine"),
    ("The music never stops.", False, "Music"),
])
def test_it_detects_negation(extractor: ClaimExtractor, sentence: str, negated: bool, label: str) -> None:
    claims = extractor.extract(f"<think>{sentence}</think>")
    assert claims[0].negated is negated, claims
    assert label in _labels(claims[0])


def test_it_splits_a_positive_from_a_negated_sound(extractor: ClaimExtractor) -> None:
    chain = "<think>The saw screams without any speech.</think>"
    claims = extractor.extract(chain)
    assert [(c.text, c.negated) for c in claims] == [("The saw screams", False), ("without any speech", True)]
    assert "Speech" in _labels(claims[1]) and "Chainsaw" not in _labels(claims[1])


def test_it_scopes_negation_labels(extractor: ClaimExtractor) -> None:
    [claim] = extractor.extract("<think>There is no speech, just the machine.</think>")
    assert claim.negated
    assert "Speech" in _labels(claim) and "Silence" not in _labels(claim)
    assert negation_scope("There is no speech, just the machine") == "no speech"


def test_it_splits_two_sounds_joined_by_and_but_not_a_sound_and_its_context(extractor: ClaimExtractor) -> None:
    two = extractor.extract("<think>Water splashes into the sink and a cat meows for food.</think>")
    assert [c.text for c in two] == ["Water splashes into the sink", "and a cat meows for food"]
    one = extractor.extract("<think>A motor whines as it bites into the wood and keeps going.</think>")
    assert len(one) == 1


def test_it_inherits_negation_across_or(extractor: ClaimExtractor) -> None:
    claims = extractor.extract("<think>There is no speech or music.</think>")
    assert all(c.negated for c in claims)
    assert {"Speech", "Music"} <= set().union(*(_labels(c) for c in claims))


@pytest.mark.parametrize(("sentence", "subject", "context"), [
    ("A cat meows beside the idling engine.", "Cat", "Engine"),
    ("A dog barks at the roaring chainsaw.", "Dog", "Chainsaw"),
    ("A man sings softly at the keyboard.", "Singing", "Typing"),
    ("A man holds a rifle while a dog barks.", "Dog", "Gunshot, gunfire"),
])
def test_it_takes_labels_from_the_sounding_subject_not_its_context(
    extractor: ClaimExtractor, sentence: str, subject: str, context: str
) -> None:
    [claim] = extractor.extract(f"<think>{sentence}</think>")
    assert subject in _labels(claim) and context not in _labels(claim), claim.labels


def test_it_keeps_a_source_phrase_that_runs_into_a_context_phrase(extractor: ClaimExtractor) -> None:
    [claim] = extractor.extract("<think>A buzzing motor whines as it bites into the wood.</think>")
    assert {"Engine", "Chainsaw"} <= _labels(claim)


@pytest.mark.parametrize(("sentence", "label"), [
    ("I cannot see it, but a horn honks.", "Vehicle horn, car horn, honking"),
    ("Nobody is visible, but the audience laughs.", "Laughter"),
    ("I cannot see the saw.", "Chainsaw"),
])
def test_a_negation_of_seeing_negates_no_sound(extractor: ClaimExtractor, sentence: str, label: str) -> None:
    [claim] = extractor.extract(f"<think>{sentence}</think>")
    assert not claim.negated and label in _labels(claim), claim


def test_the_subject_rules_pass_their_doctests() -> None:
    import doctest

    from pipeline.validate import subject

    result = doctest.testmod(subject)
    assert result.attempted and not result.failed
