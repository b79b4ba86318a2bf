"""Flags for chains that only look right: a correct answer reached without reasoning from sound.

Validation checks the sound claims a chain makes; it cannot see what a chain *leaves out*. Three cheap rules, run
after every teacher run and chain import, mark the chains a student should not learn from by default:

- **visual_only** — the chain answers, yet makes no verifiable sound claim: no clause of the claim extractor
  (`pipeline.validate.claims`, the validators' own) both carries an auditory cue word and maps to a specific tagger
  label (not a generic one such as "Sound effect"). A chain that only describes the picture ("a dog in a yard"), or
  says "a sound is heard" without naming one, teaches the audio student nothing about listening.
- **restating** — the chain names the chosen option's text and little else. Measured on the reasoning (inside
  `<think>`, else before `<answer>`): content tokens are lower-cased words minus stop words and answer-talk words
  ("answer", "option", "correct" …), plurals folded. Tokens of the chosen option and of the question carry no new
  information; the chain restates when every content token of the option appears and the share of the *other*
  content tokens is below `restating_max_other_share` (default 0.35), or fewer than `restating_min_other_tokens`
  (default 4) of them remain.
- **lucky_guess** — the chain's answer matches the label but few of the question's K samples agree with it:
  `answer_support` (the share of the K samples giving the correct answer, `n_correct / K`, stored by the teacher run
  beside the question's majority and agreement) below `lucky_max_support` (default 0.5: right in under half the
  draws, e.g. 1 of 8).

Flags are a bit set so the web app stores one small integer per chain and filters with one index.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.validate.claims import Claim

VISUAL_ONLY = 1
RESTATING = 2
LUCKY_GUESS = 4
# name -> (bit, label shown on chips and filters)
FLAGS: dict[str, tuple[int, str]] = {
    "visual_only": (VISUAL_ONLY, "visual-only reasoning"),
    "restating": (RESTATING, "answer restating"),
    "lucky_guess": (LUCKY_GUESS, "lucky guess"),
}
FLAGS_VERSION = "v1"

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_THINK = re.compile(r"<think>(.*?)(?:</think>|$)", re.DOTALL | re.IGNORECASE)
_ANSWER = re.compile(r"<answer>", re.IGNORECASE)
_STOP = frozenset("""
a an the and or but if so then than that this these those there here it its it's is are was were be been being am
i i'm me my we our you your he she they them their his her of to in on at by for with from as into onto about over
under up down out off can could would should will may might must do does did done has have had having not no yes
what which who whom whose when where why how all any some each every both either neither one ones just only also
very too more most much many such same other another s t
answer answers option options choice choices correct correctly question questions therefore thus hence because
since likely probably clearly must best final given matches match matching letter pick choose chosen select
""".split())


@dataclass(frozen=True)
class FlagConfig:
    """Thresholds of the three rules; recorded with the flags' version so a change is visible."""

    restating_max_other_share: float = 0.35  # share of content tokens that are neither option nor question words
    restating_min_other_tokens: int = 4  # fewer other content tokens than this restates, whatever the share
    lucky_max_support: float = 0.5  # a correct answer given by under this share of the K samples is luck


@dataclass(frozen=True)
class FlagItem:
    """One chain with what the rules read: its text, the chosen option, whether it answered and was right."""

    id: str
    text: str
    question: str = ""
    chosen_text: str = ""  # the text of the option the chain chose ("" when it chose none)
    answered: bool = True
    is_correct: bool | None = None
    answer_support: float | None = None  # share of the question's K samples giving the correct answer


def reasoning(chain: str) -> str:
    """The reasoning part: inside <think>…</think>, else everything before <answer>."""
    match = _THINK.search(chain)
    if match:
        return match.group(1)
    answer = _ANSWER.search(chain)
    return chain[: answer.start()] if answer else chain


def content_tokens(text: str) -> list[str]:
    """Lower-cased words without stop and answer-talk words; a trailing plural "s" folded.

    >>> content_tokens("The answer is B: dogs barking.")
    ['b', 'dog', 'barking']
    """
    out = []
    for word in _WORD.findall(text.lower()):
        if word in _STOP:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        out.append(word)
    return out


def other_share(item: FlagItem) -> tuple[bool, int, float]:
    """(names the chosen option, other content tokens, their share of all content tokens) in the reasoning."""
    tokens = content_tokens(reasoning(item.text))
    option = set(content_tokens(item.chosen_text))
    names_option = bool(option) and option <= set(tokens)
    known = option | set(content_tokens(item.question))
    other = [t for t in tokens if t not in known and len(t) > 1]
    return names_option, len(other), (len(other) / len(tokens) if tokens else 0.0)


def is_restating(item: FlagItem, cfg: FlagConfig) -> bool:
    """See the module docstring: the option named and little besides it and the question."""
    if not item.answered:
        return False
    names_option, n_other, share = other_share(item)
    return names_option and (share < cfg.restating_max_other_share or n_other < cfg.restating_min_other_tokens)


def is_lucky_guess(item: FlagItem, cfg: FlagConfig) -> bool:
    """Right, but in under `lucky_max_support` of the K samples."""
    return bool(item.is_correct) and item.answer_support is not None and item.answer_support < cfg.lucky_max_support


# AudioSet labels that name no particular sound: a claim mapped only to these cannot be checked against audio
GENERIC_LABELS = frozenset({"Sound effect", "Noise", "Environmental noise", "Static", "Inside, small room",
                            "Inside, large room or hall", "Inside, public space", "Outside, urban or manmade",
                            "Outside, rural or natural"})


def is_verifiable(claim: Claim) -> bool:
    """A claim the audio can settle: an auditory cue word and a specific label (the extractor also admits clauses
    that merely mention a sound source, "dogs in yards like this", by embedding similarity)."""
    from pipeline.validate.claims import has_auditory_cue

    return has_auditory_cue(claim.text) and any(name not in GENERIC_LABELS for name, _ in claim.labels)


def is_visual_only(item: FlagItem, claims: Sequence[Claim]) -> bool:
    """Answers without a single verifiable sound claim (claims: the extractor's, for this chain)."""
    return item.answered and not any(is_verifiable(c) for c in claims)


def flag_bits(item: FlagItem, claims: Sequence[Claim], cfg: FlagConfig) -> int:
    bits = 0
    if is_visual_only(item, claims):
        bits |= VISUAL_ONLY
    if is_restating(item, cfg):
        bits |= RESTATING
    if is_lucky_guess(item, cfg):
        bits |= LUCKY_GUESS
    return bits


def flag_chains(items: Sequence[FlagItem], cfg: FlagConfig | None = None, extractor: object | None = None
                ) -> list[int]:
    """Flag bits per item, one claim-extraction batch for all of them (callers pass a few hundred at a time).

    `extractor`: a `ClaimExtractor` (built on the default tagger's labels when None, as the validators build it).
    """
    cfg = cfg or FlagConfig()
    if extractor is None:
        extractor = default_extractor()
    claims = extractor.extract_many([item.text for item in items])  # type: ignore[attr-defined]
    return [flag_bits(item, c, cfg) for item, c in zip(items, claims, strict=True)]


def default_extractor() -> object:
    """The validators' extractor on YAMNet's label vocabulary (loaded once per process)."""
    global _EXTRACTOR
    if _EXTRACTOR is None:
        from pipeline.validate.claims import ClaimExtractor
        from pipeline.validate.sound_events import default_tagger

        _EXTRACTOR = ClaimExtractor(list(default_tagger().labels))
    return _EXTRACTOR


_EXTRACTOR: object | None = None


def names(bits: int) -> list[str]:
    """The flag names set in `bits`, in FLAGS order.

    >>> names(VISUAL_ONLY | LUCKY_GUESS)
    ['visual_only', 'lucky_guess']
    """
    return [name for name, (bit, _) in FLAGS.items() if bits & bit]
