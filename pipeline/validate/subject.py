"""Which words of a sound claim may supply its labels: the sounding subject, not the scenery around it.

Why: a claim is checked by the loudest of its labels, so every sound word in the clause used to count. "A cat meows
beside the idling engine" was supported by hearing the engine, and "I cannot see it, but a horn honks" was read as a
negation of everything after "cannot", losing the horn. Three rules, kept to plain patterns (no parser):

1. A context phrase (a place or companion: "beside the engine", "at the keyboard", "near the chickens", up to the
   next comma; not "at first" or "in the background") names where the sound is, not what sounds; a lexicon match
   that *starts* inside one is ignored, so a source phrase that runs into it ("bites into the wood") still counts.
   Instruments and surfaces ("on the keys", "of a motor", "from the rifle", "with a bow") are sources, never context.
2. A visual aside merged into a claim ("A man holds a rifle while a dog barks", "Nobody is visible, but …") has no
   sound cue and a visual verb: it is context too.
3. A negation of seeing ("cannot see", "isn't visible") or of certainty ("not clear who fires") negates no sound.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pipeline.validate.lexicon import AUDITORY_CUES, VISUAL_ONLY

# where a sound is, or what it is next to; never its source (not "on", "of", "from", "with", "by", "over"), and
# not a phrase of time or of the clip itself ("at first", "in the background", "in this clip"): the subject after
# one of those still sounds
_CONTEXT = re.compile(
    r"\b(?:beside|besides|next to|near|close to|behind|in front of|alongside|at|in|inside|outside|into|onto|under"
    r"|underneath|beneath|above|toward|towards|past|among|amid|amidst|around|for|(?<!listen )(?<!listens )"
    r"(?<!listening )(?<!dance )(?<!dances )(?<!dancing )to)\b"
    r"(?!\s+(?:first|last|once|times|one point|the same time|(?:the|this) (?:start|end|beginning|background"
    r"|foreground|distance|clip|video|audio|recording|scene|footage)\b))[^,;]*",
    re.IGNORECASE,
)
_HEARING = re.compile(r"\b(?:hear\w*|audible|sound\w*|listen\w*|noise\w*)\b", re.IGNORECASE)
_NEGATED_SIGHT = re.compile(r"^\S+(?:\s+\S+){0,2}?\s+(?:be\s+)?" + VISUAL_ONLY.pattern, re.IGNORECASE)


def context_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each context phrase in `text`.

    >>> t = "A cat meows beside the idling engine, loudly"
    >>> [t[a:b] for a, b in context_spans(t)]
    ['beside the idling engine']
    >>> context_spans("I listen to the radio"), context_spans("In the background the audience laughs")
    ([], [])
    """
    return [(m.start(), m.end()) for m in _CONTEXT.finditer(text)]


def starts_outside(pattern: re.Pattern[str], text: str, context: Sequence[tuple[int, int]]) -> bool:
    """Whether `pattern` matches `text` somewhere that does not begin inside a context phrase."""
    return any(not any(a <= m.start() < b for a, b in context) for m in pattern.finditer(text))


def without_context(text: str) -> str:
    """The text with its context phrases cut out (what the sentence embedding sees).

    >>> without_context("A dog barks at the roaring chainsaw")
    'A dog barks'
    """
    return " ".join(_CONTEXT.sub(" ", text).split())


def is_visual_aside(text: str) -> bool:
    """A clause about the picture, with no sound cue: context when merged into a sound claim.

    >>> is_visual_aside("I cannot see it"), is_visual_aside("but a horn honks")
    (True, False)
    """
    return not AUDITORY_CUES.search(text) and bool(VISUAL_ONLY.search(text))


def negates_a_sound(scope: str) -> bool:
    """False for a negation of seeing ("cannot see the saw", "isn't visible") that says nothing about hearing.

    >>> negates_a_sound("cannot see the saw"), negates_a_sound("isn't visible"), negates_a_sound("no dog barks")
    (False, False, True)
    >>> negates_a_sound("cannot be seen or heard")
    True
    """
    return not (_NEGATED_SIGHT.search(scope) and not _HEARING.search(scope))
