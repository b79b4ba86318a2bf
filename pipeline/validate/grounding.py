"""Sound-event grounding: each extracted claim checked against the tagger's label scores over time.

Why a module of its own: this is the cheap validator (no GPU, clickable time spans); the driver only wires it up,
and another tagger can replace YAMNet here without touching the policy in `verdicts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

import numpy as np

from pipeline.validate.claims import Claim, ClaimExtractor
from pipeline.validate.sound_events import SoundEventTagger, TagResult, default_tagger
from pipeline.validate.verdicts import (
    SOUND_EVENTS,
    ChainVerdict,
    ClaimVerdict,
    ValidationConfig,
    Verdict,
    chain_label,
    policy_version,
)
from pipeline.validate.versions import compose, matcher_version

# Bump on any change to how a claim's evidence becomes its verdict: part of the sound-event validator_version.
GROUNDING_VERSION = "v1"


def _merge_spans(mask: np.ndarray, tags: TagResult) -> list[tuple[float, float]]:
    spans: list[tuple[float, float]] = []
    duration = tags.duration
    for i in np.flatnonzero(mask):
        start = float(tags.starts[i])
        end = float(min(tags.starts[i] + tags.window, duration))
        if start >= duration:
            continue
        if spans and start <= spans[-1][1] + 1e-9:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((start, end))
    return spans


class SoundEventValidator:
    """Claims from the chain, labels from the claim, evidence from the tagger's scores over time."""

    name = SOUND_EVENTS

    def __init__(self, cfg: ValidationConfig, tagger: SoundEventTagger | None = None,
                 extractor: ClaimExtractor | None = None) -> None:
        self.cfg = cfg
        self.tagger = tagger or default_tagger()
        self.extractor = extractor or ClaimExtractor(list(self.tagger.labels), cfg.claims)
        self._index = {name: i for i, name in enumerate(self.tagger.labels)}

    @property
    def version(self) -> str:
        """Tagger, matcher, grounding, thresholds and policy: everything that can change this validator's verdict."""
        cfg = self.cfg
        matcher = matcher_version(self.extractor.version)
        readable = (f"{self.tagger.name}+{matcher}+grounding-{GROUNDING_VERSION}@{self.tagger.version}"
                    f"|{policy_version(cfg)}")
        return compose(readable, {
            "tagger": [self.tagger.name, self.tagger.version], "matcher": matcher, "claims": asdict(cfg.claims),
            "grounding": GROUNDING_VERSION, "present": cfg.present_threshold, "absent": cfg.absent_threshold,
            "min_label_confidence": cfg.min_label_confidence, "policy": policy_version(cfg),
        })

    def judge_claim(self, claim: Claim, tags: TagResult) -> ClaimVerdict:
        cols = [self._index[name] for name, conf in claim.labels if conf >= self.cfg.min_label_confidence]
        base = dict(text=claim.text, char_start=claim.char_start, char_end=claim.char_end, labels=claim.labels,
                    negated=claim.negated)
        if not cols:
            return ClaimVerdict(verdict="unverifiable", spans=[], score=0.0, **base)
        presence = tags.scores[:, cols].max(axis=1)
        peak = float(presence.max()) if presence.size else 0.0
        heard = presence >= self.cfg.present_threshold
        spans = _merge_spans(heard, tags)
        if peak >= self.cfg.present_threshold:
            verdict: Verdict = "contradicted" if claim.negated else "supported"
        elif peak < self.cfg.absent_threshold:
            verdict = "supported" if claim.negated else "contradicted"
        else:
            verdict = "unverifiable"
        return ClaimVerdict(verdict=verdict, spans=spans, score=peak, **base)

    def validate(self, claims: Sequence[Claim], tags: TagResult) -> ChainVerdict:
        verdicts = [self.judge_claim(c, tags) for c in claims]
        label, score, why = chain_label(self.cfg, verdicts)
        return ChainVerdict(validator=self.name, validator_version=self.version, label=label, score=score,
                            claims=verdicts, rationale=why, raw_output="")

