"""Robust answer extraction from teacher / student completions.

Sampled chains are messy: truncated tags, letters in brackets, the choice text instead of the letter, several
answer tags, reasoning that mentions every option. Correctness, self-consistency and the GRPO accuracy reward
all hinge on reading the *final* answer the same way, so the rules live here once:

1. Closed `<think>…</think>` blocks are removed first, so letters discussed while reasoning never count.
2. The last `<answer>` tag wins (a truncated `<answer>B` with no closing tag still counts).
3. Without tags, an explicit "Answer: B" / "the answer is (B)" outside the reasoning counts.
4. When the prompt listed *lettered* choices (the default), a marked letter inside the answer (`B`, `(B)`, `B.`,
   `B) dog`, `Option B`) wins, even where a choice's own text is a letter (MMAU note names: `C` with choices
   `[C, D, E, F]` is option C, the third); else the choice text itself (case, whitespace and punctuation-insensitive);
   a letter beyond the choices is no answer. When the choices were *not* lettered (R1-AQA mode: the answer is the
   choice text), only the choice text counts.
5. Open-vocabulary answers (no choices) match by `canonical_open`: articles dropped, number words read as digits,
   plurals singular; a gold that is a number matches an answer naming that number and no other ("2 instruments"
   for "two").
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

__all__ = [
    "LETTERS", "answer_letter", "canonical_open", "extract_answer", "extract_open_answer", "format_ok", "letter",
    "normalize",
    "open_answer_matches",
]

LETTERS = string.ascii_uppercase

_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_OPEN_THINK = re.compile(r"<think>", re.IGNORECASE)
# Content runs to the closing tag, the next opening tag, or the end of the text (truncated output).
_ANSWER_TAG = re.compile(r"<answer>(.*?)(?:</answer>|(?=<answer>)|\Z)", re.DOTALL | re.IGNORECASE)
_PARTIAL_TAG = re.compile(r"<\s*/?\s*[a-z]*\s*$", re.IGNORECASE)  # "B</answ" cut by the token budget
_ANSWER_LINE = re.compile(
    r"(?:final\s+answer|answer)\s*(?:is|would\s+be|:|-|=)\s*[:\-]?\s*(.+?)\s*(?:$|\n)", re.IGNORECASE
)
# A leading option letter: "B", "(B)", "[B]", "B.", "B)", "B:", "B -", "Option B", "choice (b)".
_LEADING_LETTER = re.compile(
    r"^(?P<prefix>(?:option|choice|answer)\s*)?(?P<open>[\(\[\{])?\s*(?P<letter>[A-Za-z])\s*(?P<close>[\)\]\}])?"
    r"(?P<after>$|[.:,;\-–—]|\s)",
    re.IGNORECASE,
)
_FORMAT = re.compile(
    r"\s*<think>(?:(?!</?(?:think|answer)>).)+</think>\s*<answer>(?:(?!</?(?:think|answer)>).)+</answer>\s*",
    re.DOTALL,
)
_PUNCT = re.compile(rf"[{re.escape(string.punctuation)}“”‘’«»…–—]+")
_STRIP = " \t\r\n*_`\"'“”‘’.,;:!?"


def letter(index: int) -> str:
    """The option letter for a 0-based index (0 -> "A")."""
    return LETTERS[index]


def answer_letter(index: int | None) -> str:
    """The letter to show for a parsed answer index: "" when nothing was parsed (or the index has no letter).

    >>> answer_letter(1), answer_letter(None), answer_letter(26)
    ('B', '', '')
    """
    return LETTERS[index] if index is not None and 0 <= index < len(LETTERS) else ""


def normalize(text: str) -> str:
    """Lower-case, punctuation to spaces, whitespace collapsed: how answers and choices are compared.

    >>> normalize("  The Dog's   bark! ")
    'the dog s bark'
    """
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def _final_segment(text: str) -> str | None:
    """The raw text of the final answer: the last answer tag, else an "Answer: X" outside the reasoning."""
    outside = _THINK_BLOCK.sub(" ", text)
    tags = [_PARTIAL_TAG.sub("", m.group(1)) for m in _ANSWER_TAG.finditer(outside)]
    tags = [t for t in tags if t.strip(_STRIP)]
    if tags:
        return tags[-1]
    unclosed = _OPEN_THINK.search(outside)
    if unclosed is not None:  # reasoning cut off before it ended: whatever follows is not a final answer
        outside = outside[: unclosed.start()]
    lines = _ANSWER_LINE.findall(outside)
    return lines[-1] if lines else None


def _letter_strength(m: re.Match[str]) -> int:
    """2: certainly an option letter ("B", "(b)", "b.", "Option b"); 1: maybe ("B dog"); 0: no ("a cow").

    Lower-case letters count only when marked, which keeps the article in "a cow" from reading as option A;
    an upper-case letter followed by a word ("A dog") yields to a choice-text match.
    """
    marked = m.group("prefix") or m.group("open") or m.group("close") or not m.group("after").isspace()
    if marked:
        return 2
    return 1 if m.group("letter").isupper() else 0


def _match_choice(segment: str, choices: Sequence[str], lettered: bool = True) -> int | None:
    seg = segment.strip().strip(_STRIP).strip()
    if not seg:
        return None
    norm_choices = [normalize(c) for c in choices]
    norm = normalize(seg)
    m = _LEADING_LETTER.match(seg) if lettered else None
    strength = _letter_strength(m) if m is not None else 0
    idx = LETTERS.index(m.group("letter").upper()) if m is not None else -1
    if strength == 2:  # the prompt offered letters and this is certainly one: it names the option by position
        return idx if idx < len(choices) else None
    # The whole answer is one of the choices' text.
    if norm in norm_choices:
        return norm_choices.index(norm)
    # The choice text named inside a longer answer ("the dog barking"), if exactly one choice matches.
    hits = [i for i, c in enumerate(norm_choices) if c and re.search(rf"(?:^| ){re.escape(c)}(?: |$)", norm)]
    if len(hits) == 1:
        return hits[0]
    if strength == 1:
        return idx if idx < len(choices) else None
    return None


def extract_answer(text: str, choices: Sequence[str], *, lettered: bool = True) -> int | None:
    """0-based index of the chosen option, or None when no usable final answer is there.

    `lettered` says whether the prompt listed the choices with letters (rule 4).

    >>> extract_answer("<think>A or C? It barks, so B.</think><answer>(B)</answer>", ["cat", "dog", "cow"])
    1
    >>> extract_answer("<answer>Dog.</answer>", ["cat", "dog"])
    1
    >>> extract_answer("<answer>E</answer>", ["cat", "dog", "cow", "pig"]) is None
    True
    >>> extract_answer("<answer>C</answer>", ["C", "D", "E", "F"]), extract_answer("<answer>C</answer>",
    ...     ["C", "D", "E", "F"], lettered=False)
    (2, 0)
    """
    if not text or not choices:
        return None
    segment = _final_segment(text)
    return None if segment is None else _match_choice(segment, choices, lettered)


def extract_open_answer(text: str) -> str | None:
    """The final free-text answer (open-vocabulary questions), trimmed of quotes and trailing punctuation.

    >>> extract_open_answer("<think>It rings twice.</think><answer> a church bell. </answer>")
    'a church bell'
    """
    if not text:
        return None
    segment = _final_segment(text)
    if segment is None:
        return None
    answer = " ".join(segment.split()).strip(_STRIP).strip()
    return answer or None


def format_ok(text: str) -> bool:
    """True for exactly `<think>…</think> <answer>…</answer>` (both non-empty, nothing around, no nesting).

    >>> format_ok("<think>A siren wails.</think>\\n<answer>B</answer>")
    True
    >>> format_ok("<answer>B</answer>")
    False
    """
    return bool(text) and _FORMAT.fullmatch(text) is not None


_ARTICLES = frozenset({"a", "an", "the"})
_NUMBER_WORDS = {
    w: str(i) for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split())
} | {"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70", "eighty": "80",
     "ninety": "90", "hundred": "100", "once": "1", "twice": "2", "none": "0"}


def _singular(word: str) -> str:
    if word.isdigit() or len(word) <= 3 or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "ses", "zes")):
        return word[:-2]
    return word[:-1] if word.endswith("s") else word


def canonical_open(text: str) -> str:
    """An open-vocabulary answer in the form answers are compared in (rule 5).

    >>> canonical_open("The Two Guitars!"), canonical_open("2 guitar")
    ('2 guitar', '2 guitar')
    """
    words = [_NUMBER_WORDS.get(w, w) for w in normalize(text).split() if w not in _ARTICLES]
    return " ".join(_singular(w) for w in words)


def open_answer_matches(predicted: str | None, gold: str | None) -> bool:
    """Does a free-text answer match the gold one? A number gold needs exactly that number and no other.

    >>> [open_answer_matches(p, "two") for p in ("2", "two instruments", "2 or 3", "three")]
    [True, True, False, False]
    >>> open_answer_matches("the cellos", "cello"), open_answer_matches("yes", "no")
    (True, False)
    """
    if not predicted or not gold:
        return False
    want, got = canonical_open(gold), canonical_open(predicted)
    if want.isdigit():
        return [w for w in got.split() if w.isdigit()] == [want]
    return bool(want) and got == want
