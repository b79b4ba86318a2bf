"""Drives validation: chains in, one `ChainVerdict` per validator out; plus the `python -m pipeline.validate` CLI.

Why a driver apart from the validators: it owns the order of work (claims extracted in batches, each clip tagged
once and reused by the K chains that share it, the judge batched) and the stage config, while grounding, the judge
and the policy stay testable on their own.
"""

from __future__ import annotations

import argparse
import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Sized
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.jsonl import read_jsonl, write_jsonl
from pipeline.media import decode_audio
from pipeline.progress import ProgressFn
from pipeline.validate.claims import ClaimExtractor
from pipeline.validate.grounding import SoundEventValidator
from pipeline.validate.sound_events import SoundEventTagger, TagResult, default_tagger
from pipeline.validate.tag_store import tags_for
from pipeline.validate.verdicts import (
    ChainVerdict,
    ValidationConfig,
    ValidationItem,
    ValidationResult,
    combine_verdicts,
)

log = logging.getLogger(__name__)



# ------------------------------------------------------------------------------------------- driving


def _clip_key(item: ValidationItem) -> object:
    return item.clip_id if item.clip_id is not None else (id(item.audio), item.sr)


def _tags(tagger: SoundEventTagger, item: ValidationItem) -> TagResult:
    """The clip's tags: stored beside its ingested wav after the first tagging (`tag_store`), else tagged now."""
    if item.audio_path is None:
        return tagger.tag(item.audio, item.sr)
    return tags_for(Path(item.audio_path), tagger, item.audio, item.sr)


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

    `items` is consumed one batch at a time and nothing of a finished batch is kept, so memory is flat in the
    number of clips (the web job streams 40k clips' audio through here). `total` is for progress only; without it
    a sized `items` gives its length, a generator 0.
    """
    if total is None:
        total = len(items) if isinstance(items, Sized) else 0
    sound = SoundEventValidator(cfg, tagger) if cfg.validators in ("sound-events", "both") else None
    judge = None
    if cfg.validators in ("lalm", "both"):
        from pipeline.validate.judge import Judge, JudgeConfig

        extractor = sound.extractor if sound else ClaimExtractor(list((tagger or default_tagger()).labels), cfg.claims)
        judge = Judge(_load_judge(cfg, backend), JudgeConfig(max_new_tokens=cfg.judge_max_new_tokens),
                      extractor=extractor, policy=cfg)
    tag_cache: dict[object, tuple[TagResult, np.ndarray]] = {}  # the array pins id() keys while cached
    done = 0
    batch = max(1, cfg.judge_batch_size if judge else cfg.claim_batch_size)
    source = iter(items)
    while chunk := list(islice(source, batch)):
        extractor = sound.extractor if sound else judge.extractor  # type: ignore[union-attr]
        claims = extractor.extract_many([it.chain_text for it in chunk])
        judged = judge.judge_many(chunk, claims) if judge else [None] * len(chunk)
        for item, item_claims, judge_verdict in zip(chunk, claims, judged, strict=True):
            out: list[ChainVerdict] = []
            if sound is not None:
                key = _clip_key(item)
                if key not in tag_cache:
                    tag_cache.clear()
                    tag_cache[key] = (_tags(sound.tagger, item), item.audio)
                sound_verdict = sound.validate(item_claims, tag_cache[key][0])
                out.append(sound_verdict)
                if judge_verdict is not None:
                    out = [combine_verdicts(cfg, sound_verdict, judge_verdict), sound_verdict, judge_verdict]
            elif judge_verdict is not None:
                out.append(judge_verdict)
            done += 1
            if on_progress is not None:
                on_progress(done, total, {"label": out[0].label})
            yield item.id, out


# ------------------------------------------------------------------------------------------------ CLI


@dataclass(frozen=True)
class RunConfig:
    """Stage config for `run`: a chains JSONL in, a verdicts JSONL out."""

    media_dir: str
    chains: str
    out: str
    validation: ValidationConfig = field(default_factory=ValidationConfig)


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
    rows = read_jsonl(cfg.chains)
    results: dict[str, ChainVerdict] = {}
    for item_id, verdicts in validate_chains(cfg.validation, _items(Path(cfg.media_dir), rows), on_progress,
                                             total=len(rows)):
        results[item_id] = verdicts[0]
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    verdicts_in_order = [results[str(row["id"])] for row in rows]
    write_jsonl(out, (output_line(str(row["id"]), v) for row, v in zip(rows, verdicts_in_order, strict=True)))
    counts = dict(Counter(v.label for v in verdicts_in_order))
    return ValidationResult(n_items=len(rows), labels=counts, out_path=str(out))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.validate", description=__doc__.splitlines()[0])
    parser.add_argument("--media-dir", required=True, help="folder holding <video_name>.mp4")
    parser.add_argument("--chains", required=True, help='JSONL of {"id","video_name","question","choices","chain"}')
    parser.add_argument("--out", required=True, help="verdicts JSONL to write")
    parser.add_argument("--validator", choices=["sound-events", "lalm", "both"], default="sound-events")
    parser.add_argument("--judge-model", default=None, help="audio LM for lalm/both (local path or hub id)")
    parser.add_argument("--judge-backend", default="transformers")
    parser.add_argument("--policy", choices=["any-contradiction", "score"], default="any-contradiction",
                        help="any contradicted sound claim fails the chain (default), or the score thresholds")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.validator != "sound-events" and not args.judge_model:
        parser.error(f"--validator {args.validator} needs --judge-model")
    cfg = RunConfig(
        media_dir=args.media_dir, chains=args.chains, out=args.out,
        validation=ValidationConfig(validators=args.validator, judge_model=args.judge_model,
                                    judge_backend=args.judge_backend, policy=args.policy),
    )
    result = run(cfg, on_progress=lambda d, t, _m: log.info("validated %d/%d", d, t) if d == t or d % 50 == 0 else None)
    log.info("wrote %s: %s", result.out_path, result.labels)
    return 0
