"""Audio-grounded validation of teacher chains: sound-event grounding, an LALM judge, and a policy combining them.

Why two validators: the sound-event tagger (YAMNet, CPU, ~100x real time) is cheap and gives curators clickable time
spans, but knows only 521 AudioSet classes; the LALM judge (Qwen2-Audio …) understands free text but is slow, needs a
GPU and can itself hallucinate. `both` lets the tagger's evidence veto or confirm the judge claim by claim.

Every chain gets one `ChainVerdict` per validator (label pass/fail/uncertain, score, per-claim verdicts with char
offsets into the chain and time spans in seconds). Many chains share a clip (K samples per question), so each clip is
tagged once and the result reused.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from pipeline.claims import Claim, ClaimConfig, ClaimExtractor
from pipeline.sound_events import SAMPLE_RATE, SoundEventTagger, TagResult, default_tagger

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int, dict], None]
Verdict = Literal["supported", "contradicted", "unverifiable"]
Label = Literal["pass", "fail", "uncertain"]
SOUND_EVENTS = "sound-events"
LALM = "lalm"
POLICY = "policy"
POLICY_VERSION = "policy/v1"


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
    # chain policy: score = supported / (supported + contradicted) over verifiable claims
    pass_score: float = 0.75  # score >= pass_score → pass
    fail_score: float = 0.5  # score <= fail_score → fail; between the two is the uncertain band
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


def chain_label(cfg: ValidationConfig, claims: Sequence[ClaimVerdict]) -> tuple[Label, float, str]:
    """(label, score, rationale) from claim verdicts: one invented sound among two claims is a fail, not a pass."""
    supported = sum(c.verdict == "supported" for c in claims)
    contradicted = sum(c.verdict == "contradicted" for c in claims)
    verifiable = supported + contradicted
    if verifiable == 0:
        return "uncertain", 0.5, f"no verifiable sound claim among {len(claims)}"
    score = supported / verifiable
    why = f"{supported} supported, {contradicted} contradicted, {len(claims) - verifiable} unverifiable"
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


def combine_verdicts(cfg: ValidationConfig, sound: ChainVerdict, judge: ChainVerdict) -> ChainVerdict:
    """The `both` policy: claims are aligned by position (both validators judge the same extracted claims)."""
    merged = [_merge_claim(a, b) for a, b in zip(sound.claims, judge.claims, strict=False)]
    merged += list(sound.claims[len(merged) :])
    label, score, why = chain_label(cfg, merged)
    rationale = f"{why} (sound-events: {sound.label}, lalm: {judge.label})"
    return ChainVerdict(
        validator=POLICY, validator_version=f"{POLICY_VERSION}[{sound.validator_version}|{judge.validator_version}]",
        label=label, score=score, claims=merged, rationale=rationale, raw_output=judge.raw_output,
    )


# ----------------------------------------------------------------------------------- sound-event validator


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
        return f"{self.tagger.name}+{self.extractor.version}"

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


# ------------------------------------------------------------------------------------------- driving


def _clip_key(item: ValidationItem) -> object:
    return item.clip_id if item.clip_id is not None else (id(item.audio), item.sr)


def _load_judge(cfg: ValidationConfig, backend: Any | None) -> Any:
    if backend is not None:
        return backend
    if not cfg.judge_model:
        raise ValueError(f"validators={cfg.validators!r} needs judge_model (a local path or hub id)")
    from pipeline.backends import load_backend

    return load_backend(cfg.judge_backend, cfg.judge_model, **cfg.judge_backend_options)


def validate_chains(
    cfg: ValidationConfig,
    items: Iterable[ValidationItem],
    on_progress: ProgressFn | None = None,
    *,
    backend: Any | None = None,
    tagger: SoundEventTagger | None = None,
    total: int | None = None,
) -> Iterator[tuple[str, list[ChainVerdict]]]:
    """Yield (item id, verdicts) in input order. For `both` the list is [policy, sound-events, lalm]: the first
    entry is the deciding verdict. Items of one clip should be adjacent: the last clip's tags are kept.
    """
    items = list(items)
    total = total if total is not None else len(items)
    sound = SoundEventValidator(cfg, tagger) if cfg.validators in ("sound-events", "both") else None
    judge = None
    if cfg.validators in ("lalm", "both"):
        from pipeline.judge import Judge, JudgeConfig

        extractor = sound.extractor if sound else ClaimExtractor(list((tagger or default_tagger()).labels), cfg.claims)
        judge = Judge(_load_judge(cfg, backend), JudgeConfig(max_new_tokens=cfg.judge_max_new_tokens),
                      extractor=extractor, policy=cfg)
    tag_cache: dict[object, TagResult] = {}
    done = 0
    batch = max(1, cfg.judge_batch_size if judge else cfg.claim_batch_size)
    for start in range(0, len(items), batch):
        chunk = items[start : start + batch]
        extractor = sound.extractor if sound else judge.extractor  # type: ignore[union-attr]
        claims = extractor.extract_many([it.chain_text for it in chunk])
        judged = judge.judge_many(chunk, claims) if judge else [None] * len(chunk)
        for item, item_claims, judge_verdict in zip(chunk, claims, judged, strict=True):
            out: list[ChainVerdict] = []
            if sound is not None:
                key = _clip_key(item)
                if key not in tag_cache:
                    tag_cache.clear()
                    tag_cache[key] = sound.tagger.tag(item.audio, item.sr)
                sound_verdict = sound.validate(item_claims, tag_cache[key])
                out.append(sound_verdict)
                if judge_verdict is not None:
                    out = [combine_verdicts(cfg, sound_verdict, judge_verdict), sound_verdict, judge_verdict]
            elif judge_verdict is not None:
                out.append(judge_verdict)
            done += 1
            if on_progress is not None:
                on_progress(done, total, {"label": out[0].label})
            yield item.id, out


# ------------------------------------------------------------------------------------------ media + CLI


def decode_audio(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """16 kHz mono float32 track of a media file, demuxing only its audio stream (no frames are decoded)."""
    import av

    from pipeline.media import MediaError, _AudioCollector, _open, _pick_streams, _read_info

    with _open(path) as container:
        info = _read_info(container)
        if not info.has_audio:
            raise MediaError("video has no audio track")
        _, stream = _pick_streams(container)
        start = container.start_time / av.time_base if container.start_time is not None else 0.0
        collector = _AudioCollector()
        try:
            for packet in container.demux(stream):
                for frame in packet.decode():
                    collector.add(frame)
        except (av.FFmpegError, OSError) as exc:
            raise MediaError(f"undecodable audio: {exc}") from exc
        return collector.finish(start, info.duration), SAMPLE_RATE


@dataclass(frozen=True)
class RunConfig:
    """Stage config for `run`: a chains JSONL in, a verdicts JSONL out."""

    media_dir: str
    chains: str
    out: str
    validation: ValidationConfig = field(default_factory=ValidationConfig)


def _read_rows(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{n}: not JSON: {exc}") from exc
    return rows


def _items(media_dir: Path, rows: list[dict[str, Any]]) -> Iterator[ValidationItem]:
    """Rows grouped by clip (stable), each clip decoded once."""
    order = sorted(range(len(rows)), key=lambda i: (rows[i]["video_name"], i))
    current: tuple[str, tuple[np.ndarray, int]] | None = None
    for i in order:
        row = rows[i]
        name = row["video_name"]
        if current is None or current[0] != name:
            current = (name, decode_audio(media_dir / f"{name}.mp4"))
        audio, sr = current[1]
        yield ValidationItem(id=str(row["id"]), audio=audio, sr=sr, chain_text=row["chain"],
                             question=row.get("question", ""), choices=list(row.get("choices", [])), clip_id=name)


def output_line(item_id: str, verdict: ChainVerdict) -> dict[str, Any]:
    """The CLI's per-chain JSON: the deciding verdict plus its claims (extra keys are additive)."""
    return {
        "id": item_id,
        "verdict": verdict.label,
        "score": round(verdict.score, 4),
        "validator": verdict.validator,
        "validator_version": verdict.validator_version,
        "rationale": verdict.rationale,
        "claims": [c.to_json() for c in verdict.claims],
        **({"raw_output": verdict.raw_output} if verdict.raw_output else {}),
    }


def run(cfg: RunConfig, on_progress: ProgressFn | None = None) -> ValidationResult:
    """Validate every chain in `cfg.chains`; lines are written in input order once all are judged."""
    rows = _read_rows(cfg.chains)
    results: dict[str, ChainVerdict] = {}
    for item_id, verdicts in validate_chains(cfg.validation, _items(Path(cfg.media_dir), rows), on_progress,
                                             total=len(rows)):
        results[item_id] = verdicts[0]
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    counts: dict[str, int] = {}
    with open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            verdict = results[str(row["id"])]
            counts[verdict.label] = counts.get(verdict.label, 0) + 1
            fh.write(json.dumps(output_line(str(row["id"]), verdict), ensure_ascii=False) + "\n")
    tmp.replace(out)
    return ValidationResult(n_items=len(rows), labels=counts, out_path=str(out))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.validate", description=__doc__.splitlines()[0])
    parser.add_argument("--media-dir", required=True, help="folder holding <video_name>.mp4")
    parser.add_argument("--chains", required=True, help='JSONL of {"id","video_name","question","choices","chain"}')
    parser.add_argument("--out", required=True, help="verdicts JSONL to write")
    parser.add_argument("--validator", choices=["sound-events", "lalm", "both"], default="sound-events")
    parser.add_argument("--judge-model", default=None, help="audio LM for lalm/both (local path or hub id)")
    parser.add_argument("--judge-backend", default="transformers")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.validator != "sound-events" and not args.judge_model:
        parser.error(f"--validator {args.validator} needs --judge-model")
    cfg = RunConfig(
        media_dir=args.media_dir, chains=args.chains, out=args.out,
        validation=ValidationConfig(validators=args.validator, judge_model=args.judge_model,
                                    judge_backend=args.judge_backend),
    )
    result = run(cfg, on_progress=lambda d, t, _m: log.info("validated %d/%d", d, t) if d == t or d % 50 == 0 else None)
    log.info("wrote %s: %s", result.out_path, result.labels)
    return 0


if __name__ == "__main__":
    sys.exit(main())
