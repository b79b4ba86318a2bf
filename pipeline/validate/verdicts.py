"""Verdict types and the policy that turns claim verdicts into a chain label.

Why a module of its own: the sound-event validator, the LALM judge and the driver all build and combine these
types, so they live below all three (the judge used to import them back from the driver: an import cycle).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from pipeline.validate.claims import ClaimConfig
from pipeline.validate.versions import compose, short

Verdict = Literal["supported", "contradicted", "unverifiable"]
Label = Literal["pass", "fail", "uncertain"]
SOUND_EVENTS = "sound-events"
LALM = "lalm"
POLICY = "policy"
POLICY_VERSION = "policy/v2"
Policy = Literal["any-contradiction", "score"]
# The method's filter: one invented sound fails the chain, however many true ones surround it.
ANY_CONTRADICTION: Policy = "any-contradiction"
SCORE: Policy = "score"


@dataclass(frozen=True)
class ValidationConfig:
    """Which validators run and every threshold they use; stored with each validation run."""

    validators: Literal["sound-events", "lalm", "both"] = "sound-events"
    judge_model: str | None = None  # local path or hub id of the audio LM judge (lalm / both)
    judge_backend: str = "transformers"  # name for pipeline.backends.load_backend
    judge_backend_options: dict[str, Any] = field(default_factory=dict)  # e.g. base_url of an OpenAI-compatible judge
    judge_max_new_tokens: int = 384
    judge_batch_size: int = 4
    # sound-event evidence: a label is heard in a frame when its score >= present_threshold; a claim is
    # contradicted only if all its labels stay below absent_threshold everywhere (the band between is unverifiable)
    present_threshold: float = 0.3
    absent_threshold: float = 0.1
    min_label_confidence: float = 0.5  # claim→label mapping confidence needed to use a label
    # chain policy. any-contradiction: a contradicted claim fails the chain, else enough supported claims pass it.
    # score: score = supported / (supported + contradicted) over verifiable claims, against the two thresholds.
    policy: Policy = ANY_CONTRADICTION
    pass_score: float = 0.75  # score policy: score >= pass_score → pass
    fail_score: float = 0.5  # score policy: score <= fail_score → fail; between the two is the uncertain band
    min_claims: int = 1  # fewer verifiable claims than this → uncertain
    claim_batch_size: int = 64  # chains whose claims are embedded in one MiniLM batch (sound-events only)
    claims: ClaimConfig = field(default_factory=ClaimConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ValidationItem:
    id: str
    audio: np.ndarray  # mono float32
    sr: int
    chain_text: str
    question: str
    choices: list[str]
    clip_id: str | None = None  # items sharing a clip_id share one tagging pass; None → keyed by the array
    audio_path: str | None = None  # the ingested wav `audio` was read from: its tags are stored beside it (tag_store)


@dataclass(frozen=True)
class ClaimVerdict:
    text: str
    verdict: Verdict
    char_start: int
    char_end: int
    spans: list[tuple[float, float]]  # seconds where the evidence is (heard; for a negated claim, heard = refuted)
    labels: list[tuple[str, float]]  # tagger labels the claim maps to, with mapping confidence
    score: float  # evidence strength in [0, 1]: best tagger score over the claim's labels
    negated: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "verdict": self.verdict,
            "char_start": self.char_start,
            "char_end": self.char_end,
            "spans": [[round(a, 3), round(b, 3)] for a, b in self.spans],
            "negated": self.negated,
            "labels": [[name, round(conf, 3)] for name, conf in self.labels],
            "score": round(self.score, 4),
        }


@dataclass(frozen=True)
class ChainVerdict:
    validator: str
    validator_version: str
    label: Label
    score: float
    claims: list[ClaimVerdict]
    rationale: str
    raw_output: str

    def to_json(self) -> dict[str, Any]:
        return {
            "validator": self.validator,
            "validator_version": self.validator_version,
            "verdict": self.label,
            "score": round(self.score, 4),
            "claims": [c.to_json() for c in self.claims],
            "rationale": self.rationale,
            "raw_output": self.raw_output,
        }


@dataclass(frozen=True)
class ValidationResult:
    n_items: int
    labels: dict[str, int]
    out_path: str | None = None


# --------------------------------------------------------------------------------------------- policy


def deciding_validator(validators: str) -> str:
    """The validator whose verdict decides a chain for a run of `validators` (the first one `validate_chains` yields).

    >>> deciding_validator("both"), deciding_validator("sound-events")
    ('policy', 'sound-events')
    """
    return POLICY if validators == "both" else validators


def policy_version(cfg: ValidationConfig) -> str:
    """The policy and every threshold it reads, in one short string (part of each verdict's validator_version).

    >>> policy_version(ValidationConfig())
    'policy/v2:any-contradiction(min=1)'
    >>> policy_version(ValidationConfig(policy="score"))
    'policy/v2:score(pass>=0.75,fail<=0.5,min=1)'
    """
    if cfg.policy == SCORE:
        return f"{POLICY_VERSION}:score(pass>={cfg.pass_score:g},fail<={cfg.fail_score:g},min={cfg.min_claims})"
    return f"{POLICY_VERSION}:any-contradiction(min={cfg.min_claims})"


def describe_policy(config: dict[str, Any]) -> str:
    """The policy in force, in words, from a stored run config (run pages and dataset cards read it).

    >>> describe_policy({})
    'any contradicted sound claim fails the chain; at least 1 supported claim passes it (policy/v2)'
    """
    defaults = ValidationConfig()
    policy = config.get("policy") or defaults.policy
    min_claims = config.get("min_claims", defaults.min_claims)
    version = config.get("policy_version") or POLICY_VERSION
    if policy == SCORE:
        return (f"score = supported / (supported + contradicted): pass at ≥ "
                f"{config.get('pass_score', defaults.pass_score):g}, fail at ≤ "
                f"{config.get('fail_score', defaults.fail_score):g}, uncertain between or with fewer than "
                f"{min_claims} verifiable claims ({version})")
    return (f"any contradicted sound claim fails the chain; at least {min_claims} supported claim"
            f"{'s' if min_claims != 1 else ''} passes it ({version})")


def chain_label(cfg: ValidationConfig, claims: Sequence[ClaimVerdict]) -> tuple[Label, float, str]:
    """(label, score, rationale) from claim verdicts under `cfg.policy`; the score is reported under both."""
    supported = sum(c.verdict == "supported" for c in claims)
    contradicted = sum(c.verdict == "contradicted" for c in claims)
    verifiable = supported + contradicted
    score = supported / verifiable if verifiable else 0.5
    why = f"{supported} supported, {contradicted} contradicted, {len(claims) - verifiable} unverifiable"
    if cfg.policy != SCORE and contradicted:
        return "fail", score, f"{why}; a contradicted sound claim fails the chain"
    if verifiable == 0:
        return "uncertain", 0.5, f"no verifiable sound claim among {len(claims)}"
    if cfg.policy != SCORE:
        if supported < cfg.min_claims:
            return "uncertain", score, f"{why}; fewer than {cfg.min_claims} supported claims"
        return "pass", score, why
    if verifiable < cfg.min_claims:
        return "uncertain", score, f"{why}; fewer than {cfg.min_claims} verifiable claims"
    if score >= cfg.pass_score:
        return "pass", score, why
    if score <= cfg.fail_score:
        return "fail", score, why
    return "uncertain", score, why


def _merge_claim(a: ClaimVerdict, b: ClaimVerdict) -> ClaimVerdict:
    """Agreement wins; one abstention defers to the other; a head-on conflict is unverifiable (a curator decides)."""
    if a.verdict == b.verdict or b.verdict == "unverifiable":
        verdict = a.verdict
    elif a.verdict == "unverifiable":
        verdict = b.verdict
    else:
        verdict = "unverifiable"
    return ClaimVerdict(
        text=a.text, verdict=verdict, char_start=a.char_start, char_end=a.char_end, spans=a.spans, labels=a.labels,
        score=a.score, negated=a.negated,
    )


def combined_version(cfg: ValidationConfig, sound_version: str, judge_version: str) -> str:
    """The `both` policy's version: its own policy and both validators' versions (shown by fingerprint)."""
    readable = f"{policy_version(cfg)}[{short(sound_version)}|{short(judge_version)}]"
    return compose(readable, {"policy": policy_version(cfg), "sound": sound_version, "judge": judge_version})


def combine_verdicts(cfg: ValidationConfig, sound: ChainVerdict, judge: ChainVerdict) -> ChainVerdict:
    """The `both` policy: claims are aligned by position (both validators judge the same extracted claims)."""
    merged = [_merge_claim(a, b) for a, b in zip(sound.claims, judge.claims, strict=False)]
    merged += list(sound.claims[len(merged) :])
    label, score, why = chain_label(cfg, merged)
    rationale = f"{why} (sound-events: {sound.label}, lalm: {judge.label})"
    return ChainVerdict(
        validator=POLICY, validator_version=combined_version(cfg, sound.validator_version, judge.validator_version),
        label=label, score=score, claims=merged, rationale=rationale, raw_output=judge.raw_output,
    )

