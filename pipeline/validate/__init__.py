"""Audio-grounded validation of teacher chains: sound-event grounding, an LALM judge, and a policy combining them.

Why two validators: the sound-event tagger (YAMNet, CPU, ~100x real time) is cheap and gives curators clickable time
spans, but knows only 521 AudioSet classes; the LALM judge (Qwen2-Audio …) understands free text but is slow, needs a
GPU and can itself hallucinate. `both` lets the tagger's evidence veto or confirm the judge claim by claim.

Every chain gets one `ChainVerdict` per validator (label pass/fail/uncertain, score, per-claim verdicts with char
offsets into the chain and time spans in seconds). Many chains share a clip (K samples per question), so each clip is
tagged once and the result reused.

The package, bottom up: `lexicon` and `text_embedding` → `claims` (sound claims and their tagger labels) and
`sound_events` (the tagger) → `verdicts` (types and the combining policy) → `grounding` (claims x tagger spans) and
`judge` (the LALM) → `driver` (`validate_chains` and the `python -m pipeline.validate` CLI). Callers import from here.
"""

from pipeline.validate.driver import RunConfig, main, output_line, run, validate_chains
from pipeline.validate.grounding import SoundEventValidator
from pipeline.validate.verdicts import (
    ANY_CONTRADICTION,
    LALM,
    POLICY,
    POLICY_VERSION,
    SCORE,
    SOUND_EVENTS,
    ChainVerdict,
    ClaimVerdict,
    Label,
    ValidationConfig,
    ValidationItem,
    ValidationResult,
    Verdict,
    chain_label,
    combine_verdicts,
    deciding_validator,
    describe_policy,
    policy_version,
)

__all__ = [
    "ANY_CONTRADICTION",
    "LALM",
    "POLICY",
    "POLICY_VERSION",
    "SCORE",
    "SOUND_EVENTS",
    "ChainVerdict",
    "ClaimVerdict",
    "Label",
    "RunConfig",
    "SoundEventValidator",
    "ValidationConfig",
    "ValidationItem",
    "ValidationResult",
    "Verdict",
    "chain_label",
    "combine_verdicts",
    "deciding_validator",
    "describe_policy",
    "main",
    "output_line",
    "policy_version",
    "run",
    "validate_chains",
]
