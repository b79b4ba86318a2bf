"""LALM judge: an audio-language model hears the clip's 16 kHz track and rules on each extracted sound claim.

Why it sees only the claims and the audio (prompt judge-v2): shown the question, the choices and the chain's final
answer (judge-v1), a judge is invited to confirm the answer rather than listen. Each claim is phrased as a statement
("There is no speech.") so that "supported" always means "what it says is true of the audio", negative claims
included. judge-v1 stays selectable through `JudgeConfig.prompt_version` so old runs can be reproduced.

Why the claims are extracted first and numbered in the prompt: verdicts then map back to character offsets in the
chain (the UI highlights them) even when the judge paraphrases a claim's text. Judges are small models or sampled
APIs, so their output is parsed leniently: strict JSON, ```json fences, JSON cut off by max_new_tokens (complete
claim objects are recovered), prose ("Claim 2 is contradicted"), and garbage (every claim unverifiable); the raw text
is always kept on the verdict. Decoding is greedy with explicit SamplingParams, so no checkpoint's
generation_config can change it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from pipeline.answers import letter
from pipeline.backends.base import Backend, GenerationRequest, Media, SamplingParams
from pipeline.media import SAMPLE_RATE
from pipeline.validate.claims import Claim, ClaimExtractor
from pipeline.validate.sound_events import resample_to_16k
from pipeline.validate.verdicts import (
    LALM,
    ChainVerdict,
    ClaimVerdict,
    ValidationConfig,
    ValidationItem,
    chain_label,
    policy_version,
)
from pipeline.validate.versions import compose, matcher_version, model_name

log = logging.getLogger(__name__)

PROMPT_VERSION = "judge-v2"  # the default prompt; a change of wording is a new version
JUDGE_PROMPT_VERSION = PROMPT_VERSION  # the name before v2, kept for callers
VERDICTS = ("supported", "contradicted", "unverifiable")

JUDGE_SYSTEM = "You are a careful audio analyst. You judge only what can be heard in the audio clip."
JUDGE_V2_TEMPLATE = """Listen to the audio clip. Each numbered statement below says something about how this clip
sounds; some of them may be wrong.
{claims}

For each statement decide whether what it says is true of the audio:
"supported": it is true of what you hear.
A statement that a sound is absent is supported when you do not hear that sound.
"contradicted": it is false of what you hear: the sound it names is not there, or a sound it says is absent is there.
"unverifiable": the audio cannot tell.
Reply with JSON only ("overall" is "supported" only if every statement is):
{{"claims": [{{"id": 1, "text": "...", "verdict": "supported|contradicted|unverifiable"}}],
 "overall": "supported|contradicted|unverifiable"}}"""
JUDGE_V1_TEMPLATE = """Listen to the audio clip. A student wrote the reasoning below about what this clip sounds like.
Question: {question}
{choices}
Reasoning:
{chain}

Judge each numbered sound claim against what you actually hear:
{claims}

For each claim answer "supported" (you hear it), "contradicted" (you clearly do not hear it, or hear the opposite)
or "unverifiable" (the audio cannot tell). Reply with JSON only:
{{"claims": [{{"id": 1, "text": "...", "verdict": "supported|contradicted|unverifiable"}}],
 "overall": "supported|contradicted|unverifiable"}}"""


@dataclass(frozen=True)
class JudgeConfig:
    max_new_tokens: int = 384
    prompt_version: str = PROMPT_VERSION  # a key of JUDGE_PROMPTS


@dataclass(frozen=True)
class ParsedJudgement:
    verdicts: list[str]  # one per claim, in claim order
    overall: str | None
    how: str  # "json" | "fenced" | "truncated" | "prose" | "garbage"
    raw: str


# ------------------------------------------------------------------------------------------- prompt


_LEADING_CONNECTIVE = re.compile(r"^(?:(?:and|but|while|whereas|as|then|followed by|with|or|nor|so)\b[\s,]*)+",
                                 re.IGNORECASE)
_WITHOUT = re.compile(r"^without\s+(?:any\s+)?", re.IGNORECASE)
_SAYS_ABSENT = re.compile(r"\b(?:no|not|never|nobody|nothing|none|neither|nor|cannot|can't|couldn't|isn't|aren't"
                          r"|wasn't|weren't|doesn't|don't|didn't|no one|silent|absent)\b", re.IGNORECASE)


def statement(claim: Claim) -> str:
    """A claim as a sentence that is true exactly when the audio bears it out ("without any speech" → "There is no
    speech."): clause connectives dropped, an inherited or "without" negation spelled out.
    """
    text = _LEADING_CONNECTIVE.sub("", claim.text.strip()).strip(" ,;.")
    if claim.negated and _WITHOUT.match(text):
        text = "there is no " + _WITHOUT.sub("", text)
    elif claim.negated and not _SAYS_ABSENT.search(text):
        text = "there is no " + text
    return text[:1].upper() + text[1:] + "."


def build_prompt(claims: Sequence[Claim]) -> str:
    """judge-v2: the numbered statements and nothing of the question, choices, reasoning or answer."""
    return JUDGE_V2_TEMPLATE.format(claims="\n".join(f"{i}. {statement(c)}" for i, c in enumerate(claims, 1)))


def build_prompt_v1(question: str, choices: Sequence[str], chain: str, claims: Sequence[Claim]) -> str:
    """judge-v1 (kept for reproducing old runs): question, choices and the whole chain, then the claims."""
    choice_lines = "\n".join(f"({letter(i)}) {c}" for i, c in enumerate(choices)) if choices else ""
    claim_lines = "\n".join(f"{i}. {c.text}" + (" [negative claim]" if c.negated else "")
                            for i, c in enumerate(claims, 1))
    return JUDGE_V1_TEMPLATE.format(question=question, choices=choice_lines, chain=chain,
                                    claims=claim_lines or "(no explicit sound claims: judge the reasoning as claim 1)")


@dataclass(frozen=True)
class JudgePrompt:
    """A prompt version: how it renders, and whether a chain with no sound claim is still sent (v1 only)."""

    render: Callable[[ValidationItem, Sequence[Claim]], str]
    asks_without_claims: bool


JUDGE_PROMPTS: dict[str, JudgePrompt] = {
    "judge-v1": JudgePrompt(lambda item, claims: build_prompt_v1(item.question, item.choices, item.chain_text,
                                                                 claims), asks_without_claims=True),
    "judge-v2": JudgePrompt(lambda _item, claims: build_prompt(claims), asks_without_claims=False),
}


def build_messages(prompt: str) -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": [{"type": "text", "text": JUDGE_SYSTEM}]},
        {"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": prompt}]},
    ]


def judgement_schema(n_claims: int) -> dict[str, Any]:
    """The JSON schema of the reply the prompt asks for; backends with structured output enforce it.

    >>> judgement_schema(2)["properties"]["claims"]["minItems"]
    2
    """
    verdict = {"type": "string", "enum": list(VERDICTS)}
    claim = {"type": "object", "additionalProperties": False, "required": ["id", "text", "verdict"],
             "properties": {"id": {"type": "integer", "minimum": 1, "maximum": max(n_claims, 1)},
                            "text": {"type": "string", "maxLength": 200}, "verdict": verdict}}
    n = max(n_claims, 1)
    return {"type": "object", "additionalProperties": False, "required": ["claims", "overall"],
            "properties": {"claims": {"type": "array", "items": claim, "minItems": n, "maxItems": n},
                           "overall": verdict}}


# ------------------------------------------------------------------------------------------- parser

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)(?:```|$)", re.DOTALL)
_VERDICT_WORD = re.compile(r"\b(supported|supports?|confirmed|contradicted|contradicts?|refuted|false"
                           r"|unverifiable|unverified|cannot be verified|can't be verified|unclear)\b", re.IGNORECASE)
_PROSE_CLAIM = re.compile(r"\bclaim\s*#?\s*(\d+)\b[^\n.;]*?" + _VERDICT_WORD.pattern, re.IGNORECASE)
_OVERALL = re.compile(r"\boverall\b[^\n.;]*?" + _VERDICT_WORD.pattern, re.IGNORECASE)


def normalise_verdict(word: Any) -> str:
    w = str(word or "").strip().lower()
    if w.startswith(("support", "confirm", "true", "yes", "heard", "correct")):
        return "supported"
    if w.startswith(("contradict", "refute", "false", "no", "wrong", "incorrect", "hallucinat")):
        return "contradicted"
    return "unverifiable"


def _complete_objects(text: str) -> list[dict[str, Any]]:
    """Every balanced {...} that parses, innermost claim objects included: recovers truncated JSON."""
    found, stack, in_str, esc = [], [], False, False
    for i, ch in enumerate(text):
        if in_str:
            esc = (ch == "\\") and not esc
            if ch == '"' and not esc:
                in_str = False
            continue
        if ch == '"':
            in_str = True
        elif ch == "{":
            stack.append(i)
        elif ch == "}" and stack:
            start = stack.pop()
            try:
                obj = json.loads(text[start : i + 1], strict=False)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                found.append(obj)
    return found


def _from_objects(objs: list[dict[str, Any]], n_claims: int) -> tuple[list[str], str | None] | None:
    top = next((o for o in objs if isinstance(o.get("claims"), list)), None)
    items = [c for c in top["claims"] if isinstance(c, dict)] if top else [o for o in objs if "verdict" in o]
    if not items and not (top and "overall" in top):
        return None
    verdicts = ["unverifiable"] * n_claims
    for pos, obj in enumerate(items):
        idx = obj.get("id", obj.get("claim", pos + 1))
        try:
            idx = int(idx) - 1
        except (TypeError, ValueError):
            idx = pos
        if 0 <= idx < n_claims:
            verdicts[idx] = normalise_verdict(obj.get("verdict"))
    overall = normalise_verdict(top["overall"]) if top and "overall" in top else None
    return verdicts, overall


def parse_judgement(raw: str, n_claims: int) -> ParsedJudgement:
    """Lenient: strict JSON → fenced JSON → complete objects of truncated JSON → prose → all unverifiable."""
    text = raw.strip()
    candidates: list[tuple[str, str]] = [("json", text)]
    candidates += [("fenced", m.group(1).strip()) for m in _FENCE.finditer(text) if "```" in text]
    for how, body in candidates:
        try:
            obj = json.loads(body, strict=False)  # control characters inside strings: grammars allow them
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict) and (got := _from_objects([obj], n_claims)):
            return ParsedJudgement(got[0], got[1], how, raw)
    objs = _complete_objects(text)
    if objs and (got := _from_objects(objs, n_claims)):
        return ParsedJudgement(got[0], got[1], "truncated", raw)
    verdicts = ["unverifiable"] * n_claims
    hits = 0
    for m in _PROSE_CLAIM.finditer(text):
        idx = int(m.group(1)) - 1
        if 0 <= idx < n_claims:
            verdicts[idx] = normalise_verdict(m.group(2))
            hits += 1
    overall_m = _OVERALL.search(text)
    if hits or overall_m:
        return ParsedJudgement(verdicts, normalise_verdict(overall_m.group(1)) if overall_m else None, "prose", raw)
    return ParsedJudgement(verdicts, None, "garbage", raw)


# -------------------------------------------------------------------------------------------- judge


@dataclass
class Judge:
    """Judges chains through any Backend; one request per chain, batched."""

    backend: Backend
    config: JudgeConfig = field(default_factory=JudgeConfig)
    extractor: ClaimExtractor | None = None
    policy: ValidationConfig | None = None  # thresholds for the chain label; defaults when None

    def __post_init__(self) -> None:
        if self.config.prompt_version not in JUDGE_PROMPTS:
            raise KeyError(f"unknown judge prompt {self.config.prompt_version!r}; known: {sorted(JUDGE_PROMPTS)}")
        self._prompt = JUDGE_PROMPTS[self.config.prompt_version]

    @property
    def version(self) -> str:
        """Judge model, backend, prompt, decoding, claim matcher and policy: all that can change its verdict."""
        cfg = self.policy or ValidationConfig()
        model = cfg.judge_model or getattr(self.backend, "model_path", None) or getattr(self.backend, "model", None)
        backend = getattr(self.backend, "name", "backend")
        matcher = matcher_version(self.extractor.version) if self.extractor else "no-extractor"
        readable = f"{model_name(str(model) if model else None)}@{backend}/{self.config.prompt_version}" \
                   f"+{matcher}|{policy_version(cfg)}"
        return compose(readable, {
            "model": str(model), "backend": backend, "prompt": self.config.prompt_version,
            "max_new_tokens": self.config.max_new_tokens, "matcher": matcher,
            "claims": asdict(cfg.claims), "policy": policy_version(cfg),
        })

    def sampling(self) -> SamplingParams:
        return SamplingParams(temperature=0.0, top_p=1.0, top_k=0, max_new_tokens=self.config.max_new_tokens,
                              repetition_penalty=1.0, seed=0)

    def request(self, item: ValidationItem, claims: Sequence[Claim]) -> GenerationRequest:
        audio = resample_to_16k(np.asarray(item.audio, dtype=np.float32), item.sr)
        prompt = self._prompt.render(item, claims)
        return GenerationRequest(request_id=str(item.id), messages=build_messages(prompt),
                                 media=Media(audio=audio, sample_rate=SAMPLE_RATE), n=1, sampling=self.sampling(),
                                 json_schema=judgement_schema(len(claims)))

    def verdict(self, raw: str, claims: Sequence[Claim]) -> ChainVerdict:
        parsed = parse_judgement(raw, len(claims))
        claim_verdicts = [
            ClaimVerdict(text=c.text, verdict=v, char_start=c.char_start, char_end=c.char_end, spans=[],  # type: ignore[arg-type]
                         labels=c.labels, score=0.0, negated=c.negated)
            for c, v in zip(claims, parsed.verdicts, strict=True)
        ]
        label, score, why = chain_label(self.policy or ValidationConfig(), claim_verdicts)
        if not claims and parsed.overall in ("supported", "contradicted"):
            label = "pass" if parsed.overall == "supported" else "fail"
            score = 1.0 if label == "pass" else 0.0
        return ChainVerdict(validator=LALM, validator_version=self.version, label=label, score=score,
                            claims=claim_verdicts, rationale=f"{why}; judge output parsed as {parsed.how}",
                            raw_output=raw)

    def judge_many(self, items: Sequence[ValidationItem], claims: Sequence[Sequence[Claim]]) -> list[ChainVerdict]:
        """One verdict per item; under judge-v2 a chain with no sound claim is uncertain without asking."""
        asked = [i for i, cl in enumerate(claims) if cl or self._prompt.asks_without_claims]
        results = self.backend.generate([self.request(items[i], claims[i]) for i in asked]) if asked else []
        replies = {i: (res.completions[0].text if res.completions else "") for i, res in zip(asked, results,
                                                                                              strict=True)}
        return [self.verdict(replies[i], cl) if i in replies else self._not_asked() for i, cl in enumerate(claims)]

    def _not_asked(self) -> ChainVerdict:
        return ChainVerdict(validator=LALM, validator_version=self.version, label="uncertain", score=0.5, claims=[],
                            rationale="no sound claim to judge; the judge was not asked", raw_output="")
