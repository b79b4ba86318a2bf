"""Extract the sound claims of a teacher chain and map each to a tagger's label vocabulary.

A teacher chain mixes what it *sees* ("a man holds a rifle"), meta talk ("the question asks…") and what it says is
*heard* ("a single shot rings out"). Only the last kind can be checked against audio, so a clause is a sound claim
when it carries an auditory cue (a hearing verb, a sound noun, or a sound-producing verb); meta sentences are skipped.
Clauses are split at sentence ends, semicolons and coordinating connectives (", and", " while", " then" …) but only
when *both* sides are sound claims, so "a motor whines as it bites into the wood" stays whole while "the chainsaw
roars, while the crowd cheers" becomes two claims that can be judged separately (half-right chains).

Each claim keeps character offsets into the ORIGINAL chain string (the UI highlights them). Its labels come only from
its sounding subject (`subject`): context phrases ("beside the idling engine") and visual asides merged into it ("I
cannot see it, but …") supply none. Negation ("no engine can be heard", "without any speech", "nobody says a word")
makes a negative claim whose labels come only from the negation's scope; a negation of seeing negates no sound.
Labels come from a curated lexicon (sources and paraphrases → AudioSet names: "the crowd" → Crowd,
Cheering…; "keys clacking" → Typing…) plus MiniLM similarity between the claim and the label names, because the
lexicon cannot list every paraphrase and the embedding alone is too weak on paraphrases ("clatter of fingers on
keys" is closest to "Clatter", not "Typing").
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.validate.lexicon import AUDITORY_CUES, LEXICON, META_CUES, VISUAL_ONLY
from pipeline.validate.subject import context_spans, is_visual_aside, negates_a_sound, starts_outside, without_context
from pipeline.validate.text_embedding import TextEmbedder, default_embedder

log = logging.getLogger(__name__)

# v2: labels from the sounding subject only; negations of seeing and of certainty negate no sound
MATCHER_VERSION = "v2"
# labels the embedding must never add: "no speech" is close to "Silence" in MiniLM space, the opposite claim
_LEXICON_ONLY = frozenset({"Silence"})


@dataclass(frozen=True)
class Claim:
    text: str
    char_start: int  # chain[char_start:char_end] == text
    char_end: int
    negated: bool
    labels: list[tuple[str, float]]  # (tagger label, mapping confidence in [0, 1]), best first


@dataclass(frozen=True)
class ClaimConfig:
    """Matching knobs; defaults are tuned on the real AVQA clips (tests/pipeline/test_validate.py)."""

    label_min_similarity: float = 0.5  # MiniLM cosine for an embedding label to join a claim the lexicon missed
    label_min_similarity_with_lexicon: float = 0.6  # stricter when the lexicon already mapped the claim
    max_embedding_labels: int = 3  # extra labels from the embedding, on top of the lexicon's
    lexicon_confidence: float = 0.9  # confidence given to curated lexicon mappings
    detect_min_similarity: float = 0.62  # a clause without auditory cue words is a claim if a label is this close


# ------------------------------------------------------------------------------------------ splitting

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|[;:\n]+\s*")
# connectives that may start a new claim; the connective stays with the right-hand piece
_CONNECTIVE = re.compile(
    r",\s*(?:and|but|while|whereas|as|then|followed by|with)\b|\s+(?:while|whereas|but|then|followed by)\s+"
    r"|,\s+(?=(?:no|without|nobody|nothing)\b)|\s+(?=(?:without|and no|but no|with no|or|nor|and)\s)",
    re.IGNORECASE,
)
_THINK = re.compile(r"<think>(.*?)(?:</think>|$)", re.DOTALL | re.IGNORECASE)
_ANSWER = re.compile(r"<answer>", re.IGNORECASE)

_NEGATION = re.compile(
    r"\b(?:no|not|never|without|nobody|nothing|none|neither|nor|absent|absence of|lack of|lacks|cannot|can't"
    r"|couldn't|isn't|aren't|wasn't|weren't|doesn't|don't|didn't|no one|silent)\b",
    re.IGNORECASE,
)
# negation words that do not negate the sound ("nothing but the hum", "never stops", "not only")
_FALSE_NEGATION = re.compile(
    r"\b(?:nothing but|nothing except|no other sound than|not only|never stops|doesn't stop|does not stop"
    r"|no doubt|not far|cannot be missed|can't be missed|can't miss|not clear|not sure|not certain)\b",
    re.IGNORECASE,
)
_SCOPE_BREAK = re.compile(r",\s*(?:just|only|but|except|apart from|other than)\b|\s+(?:but|except|apart from)\s+|,",
                          re.IGNORECASE)


def _think_region(chain: str) -> tuple[int, int]:
    """Where the reasoning is: inside <think>…</think>, else everything before <answer>."""
    match = _THINK.search(chain)
    if match:
        return match.start(1), match.end(1)
    answer = _ANSWER.search(chain)
    return 0, answer.start() if answer else len(chain)


def _spans(text: str, start: int, end: int, pattern: re.Pattern[str]) -> list[tuple[int, int]]:
    """Pieces of text[start:end] between matches of `pattern`, trimmed of spaces and punctuation."""
    pieces, cursor = [], start
    for m in pattern.finditer(text, start, end):
        if m.start() > cursor:
            pieces.append((cursor, m.start()))
        cursor = max(cursor, m.end())
    pieces.append((cursor, end))
    return _trimmed(text, pieces)


def _trimmed(text: str, pieces: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Each (start, end) piece without leading spaces/,;:- and trailing spaces/.,;:!?-; empty pieces dropped."""
    out = []
    for a, b in pieces:
        while a < b and (text[a].isspace() or text[a] in ",;:-"):
            a += 1
        while b > a and (text[b - 1].isspace() or text[b - 1] in ".,;:!?-"):
            b -= 1
        if b > a:
            out.append((a, b))
    return out


def _clause_candidates(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Split a sentence at connectives (connective kept with the right piece)."""
    cuts = [start]
    for m in _CONNECTIVE.finditer(text, start, end):
        if start < m.start() < end:
            cuts.append(m.start())
    cuts.append(end)
    return _trimmed(text, list(zip(cuts, cuts[1:], strict=False)))


def has_auditory_cue(text: str) -> bool:
    return bool(AUDITORY_CUES.search(text))


def is_meta(text: str) -> bool:
    return bool(META_CUES.search(text))


def negation_scope(text: str) -> str | None:
    """The words a negation of sound governs ("no engine can be heard" → "no engine can be heard"), else None.

    A negation of seeing ("I cannot see the saw") is skipped and the search goes on after it.
    """
    cleaned = _FALSE_NEGATION.sub(" ", text)
    for match in _NEGATION.finditer(cleaned):
        tail = cleaned[match.start():]
        brk = _SCOPE_BREAK.search(tail, 1)
        scope = tail[: brk.start()] if brk else tail
        if negates_a_sound(scope):
            return scope
    return None


# ------------------------------------------------------------------------------------------ extractor


def _label_cache_path(model: str, labels: Sequence[str]) -> Path:
    from pipeline.validate.sound_events import cache_root

    digest = hashlib.sha1(("\n".join(labels) + model).encode()).hexdigest()[:16]
    return cache_root() / "embeddings" / f"{model}-{digest}.npy"


@dataclass
class ClaimExtractor:
    """Finds sound claims and maps them to `labels` (the tagger's vocabulary). Reuse one per tagger."""

    labels: list[str]
    config: ClaimConfig = field(default_factory=ClaimConfig)
    embedder: TextEmbedder | None = None

    def __post_init__(self) -> None:
        self._label_index = {name: i for i, name in enumerate(self.labels)}
        self._label_vectors: np.ndarray | None = None
        unknown = sorted({lab for _, labs in LEXICON for lab in labs if lab not in self._label_index})
        if unknown:
            log.debug("lexicon labels absent from this tagger's vocabulary (ignored): %s", unknown)

    @property
    def version(self) -> str:
        return f"minilm/{MATCHER_VERSION}"

    def _embedder(self) -> TextEmbedder:
        if self.embedder is None:
            self.embedder = default_embedder()
        return self.embedder

    def label_vectors(self) -> np.ndarray:
        """Label-name embeddings, cached in memory and on disk (521 names cost seconds on 1 CPU thread)."""
        if self._label_vectors is None:
            path = _label_cache_path(self._embedder().name, self.labels)
            vectors = None
            if path.is_file():
                try:
                    vectors = np.load(path)
                    if vectors.shape[0] != len(self.labels):
                        vectors = None
                except (OSError, ValueError):
                    vectors = None
            if vectors is None:
                vectors = self._embedder().encode(self.labels)
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    tmp = path.with_suffix(f".{id(self)}.tmp.npy")
                    np.save(tmp, vectors)
                    tmp.replace(path)
                except OSError as exc:  # a read-only cache only costs time
                    log.debug("cannot cache label embeddings at %s: %s", path, exc)
            self._label_vectors = vectors
        return self._label_vectors

    def _lexicon_labels(self, text: str) -> dict[str, float]:
        """Labels of every lexicon entry that matches outside the text's context phrases."""
        found: dict[str, float] = {}
        context = context_spans(text)
        for pattern, names in LEXICON:
            if starts_outside(pattern, text, context):
                for name in names:
                    if name in self._label_index:
                        found[name] = self.config.lexicon_confidence
        return found

    def _embedding_labels(self, vectors: np.ndarray) -> list[list[tuple[str, float]]]:
        sims = vectors @ self.label_vectors().T
        out = []
        for row in sims:
            top = np.argsort(-row)[: self.config.max_embedding_labels]
            out.append([(self.labels[i], float(row[i])) for i in top])
        return out

    def _pieces(self, chain: str) -> list[tuple[int, int, str]]:
        """Candidate clauses (start, end, sounding text): sentences, then connective splits kept only where both
        sides carry a sound cue. A visual aside merged into a clause stays in its span but not in its sounding text.
        """
        start, end = _think_region(chain)
        out: list[tuple[int, int, str]] = []
        for s_start, s_end in _spans(chain, start, end, _SENTENCE_END):
            if is_meta(chain[s_start:s_end]):
                continue
            merged: list[list[tuple[int, int]]] = []
            for a, b in _clause_candidates(chain, s_start, s_end):
                previous = chain[merged[-1][0][0] : merged[-1][-1][1]] if merged else ""
                if merged and not (has_auditory_cue(chain[a:b]) and has_auditory_cue(previous)):
                    merged[-1].append((a, b))
                else:
                    merged.append([(a, b)])
            for parts in merged:
                sounding = [chain[a:b] for a, b in parts if not is_visual_aside(chain[a:b])]
                text = " ".join(sounding) if sounding else chain[parts[0][0] : parts[-1][1]]
                out.append((parts[0][0], parts[-1][1], text))
        return out

    def extract(self, chain: str) -> list[Claim]:
        """Sound claims in chain order; a claim with no confident label still appears (it is unverifiable)."""
        return self.extract_many([chain])[0]

    def extract_many(self, chains: Sequence[str]) -> list[list[Claim]]:
        """`extract` over many chains with one MiniLM batch: per-chain calls were most of the validator's time."""
        prepared = [self._prepare(chain) for chain in chains]
        mapped = [without_context(m) or m for p in prepared for m in p[3]]
        by_embedding = self._embedding_labels(self._embedder().encode(mapped)) if mapped else []
        out, cursor = [], 0
        for pieces, texts, scopes, mapped_texts in prepared:
            emb = by_embedding[cursor : cursor + len(pieces)]
            cursor += len(pieces)
            out.append(self._build(pieces, texts, scopes, mapped_texts, emb))
        return out

    def _prepare(self, chain: str) -> tuple[list[tuple[int, int]], list[str], list[str | None], list[str]]:
        """Spans, claim texts, negation scopes and the text labels come from (the scope, else the sounding text)."""
        found = self._pieces(chain)
        pieces = [(a, b) for a, b, _ in found]
        texts = [chain[a:b] for a, b in pieces]
        sounding = [text for _, _, text in found]
        scopes = [negation_scope(t) for t in sounding]
        # a bare "or music" / "nor speech" after a negated clause inherits its negation
        for i in range(1, len(texts)):
            if scopes[i] is None and scopes[i - 1] is not None and re.match(r"(?:or|nor)\b", sounding[i], re.I):
                scopes[i] = sounding[i]
        mapped_texts = [scope if scope is not None else text for text, scope in zip(sounding, scopes, strict=True)]
        return pieces, texts, scopes, mapped_texts

    def _build(self, pieces: list[tuple[int, int]], texts: list[str], scopes: list[str | None],
               mapped_texts: list[str], by_embedding: list[list[tuple[str, float]]]) -> list[Claim]:
        claims = []
        for (a, b), text, scope, mapped, emb in zip(pieces, texts, scopes, mapped_texts, by_embedding, strict=True):
            cue = has_auditory_cue(text)
            if not cue and (VISUAL_ONLY.search(text) or emb[0][1] < self.config.detect_min_similarity):
                continue
            labels = self._lexicon_labels(mapped)
            floor = self.config.label_min_similarity_with_lexicon if labels else self.config.label_min_similarity
            for name, sim in emb:
                if name in _LEXICON_ONLY:
                    continue
                if sim >= floor and name not in labels:
                    labels[name] = round(sim, 4)
            ranked = sorted(labels.items(), key=lambda kv: -kv[1])
            claims.append(Claim(text=text, char_start=a, char_end=b, negated=scope is not None, labels=ranked))
        return claims
