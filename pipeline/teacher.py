"""Teacher stage: K audio-focused chains of thought per question from a vision-language model, with selection.

The teacher sees the sampled frames WITHOUT audio and is asked what the scene sounds like (prompt versions in
pipeline/prompts.py). Test-time scaling samples K chains per question; each chain is parsed
(pipeline/answers.py), checked against the label, and the question gets its self-consistency (majority answer,
agreement). The selection policy marks chains kept or dropped with a reason — every sampled chain is returned,
so curators can see why one was dropped and a policy change never needs a re-generation.

Selection, in order (the first reason that applies is recorded):
  no_answer     no final answer could be parsed
  wrong_answer  the parsed answer differs from the label
  low_agreement (min_agreement) fewer than that share of the K samples give this chain's answer: a teacher right
                1 time in 8 guessed, and its reasoning is not evidence
  not_majority  (majority_only, or an unlabeled question) the answer differs from the majority answer
  bad_format    not exactly `<think>…</think><answer>…</answer>`
  duplicate     exact or near duplicate (character-3-gram Jaccard ≥ threshold on normalised text) of an earlier
                kept chain of the same question; the first one is kept

    python -m pipeline.teacher --config teacher.yaml
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.answers import (
    LETTERS,
    canonical_open,
    extract_answer,
    extract_open_answer,
    format_ok,
    normalize,
    open_answer_matches,
)
from pipeline.backends import Backend, GenerationRequest, Media, SamplingParams, load_backend
from pipeline.jsonl import iter_jsonl, numbered_rows, write_jsonl
from pipeline.progress import ProgressFn
from pipeline.prompts import get_prompt

log = logging.getLogger(__name__)

FramesLoader = Callable[[], np.ndarray]
DROP_REASONS = ("", "wrong_answer", "no_answer", "low_agreement", "not_majority", "duplicate", "bad_format")


@dataclass
class TeacherConfig:
    """A teacher generation run; stored with the run so every chain can be traced to its settings."""

    model: str = field(metadata={"help": "local checkpoint path or hub id of the vision-language teacher"})
    backend: str = field(default="transformers", metadata={"help": "generation backend (pipeline.backends)"})
    backend_options: dict[str, Any] = field(default_factory=dict, metadata={"help": "backend-specific options "
                                                                                     "(device, dtype, batch_size…)"})
    prompt_version: str = field(default="teacher-v1", metadata={"help": "key in pipeline.prompts.PROMPTS"})
    k: int = field(default=4, metadata={"help": "chains sampled per question (test-time scaling)"})
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature; 0 = greedy"})
    top_p: float = field(default=0.95, metadata={"help": "nucleus sampling mass"})
    top_k: int = field(default=0, metadata={"help": "top-k sampling; 0 = off"})
    max_new_tokens: int = field(default=1024, metadata={"help": "token budget per chain; a chain cut short has no "
                                                                 "answer (decoding stops when a batch's longest "
                                                                 "chain ends: room costs only batches that use it)"})
    seed: int = field(default=0, metadata={"help": "base seed; each backend batch is seeded, so a run repeats"})
    n_frames: int = field(default=8, metadata={"help": "frames sampled uniformly from a clip"})
    batch_size: int = field(default=4, metadata={"help": "questions per backend call (and per on_progress/write)"})
    majority_only: bool = field(default=False, metadata={"help": "also drop chains that disagree with the majority"})
    min_agreement: float = field(default=0.0, metadata={"help": "drop chains whose answer fewer than this share of "
                                                                "the K samples give (right by luck); 0 = off"})
    dedupe: bool = field(default=True, metadata={"help": "drop exact and near-duplicate chains of a question"})
    near_duplicate_threshold: float = field(default=0.9, metadata={"help": "character-3-gram Jaccard similarity "
                                                                           "at or above which a chain is a duplicate"})
    items_path: str | None = field(default=None, metadata={"help": "CLI: questions JSONL {id, video_name | "
                                                                   "frames_dir, question, choices, answer}"})
    media_dir: str | None = field(default=None, metadata={"help": "CLI: folder with <video_name>.mp4 and frame "
                                                                  "folders"})
    out_path: str | None = field(default=None, metadata={"help": "CLI: chains JSONL (appended to; resumable)"})

    def sampling(self) -> SamplingParams:
        return SamplingParams(temperature=self.temperature, top_p=self.top_p, top_k=self.top_k,
                              max_new_tokens=self.max_new_tokens, seed=self.seed)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TeacherConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown teacher config key(s) {unknown}; known: {sorted(known)}")
        cfg = cls(**data)
        if cfg.k < 1 or cfg.batch_size < 1 or cfg.n_frames < 1:
            raise ValueError("k, batch_size and n_frames must be >= 1")
        if not 0.0 < cfg.near_duplicate_threshold <= 1.0:
            raise ValueError("near_duplicate_threshold must be in (0, 1]")
        if not 0.0 <= cfg.min_agreement <= 1.0:
            raise ValueError("min_agreement must be in [0, 1]")
        return cfg


@dataclass
class TeacherItem:
    """One question. `frames` may be a loader so a long item list holds no pixels until its batch runs."""

    id: str
    question: str
    choices: tuple[str, ...]
    answer_index: int | None  # label for multiple choice; None when unlabeled or open-vocabulary
    answer_text: str  # the label's text (open-vocabulary questions compare on it); "" when unknown
    frames: np.ndarray | FramesLoader
    fps: float

    def load_frames(self) -> np.ndarray:
        return self.frames() if callable(self.frames) else self.frames


@dataclass
class SampledChain:
    item_id: str
    sample_index: int
    text: str
    parsed_answer: int | str | None  # choice index (multiple choice) or normalised phrase (open)
    is_correct: bool | None  # None when the question has no label
    kept: bool
    drop_reason: str
    n_tokens: int
    finish_reason: str
    logprob: float | None


@dataclass
class QuestionChains:
    item_id: str
    chains: list[SampledChain]
    majority_answer: int | str | None  # choice index, or the canonical open answer
    agreement: float  # share of parsed answers equal to the majority (0 when none parsed)
    n_samples: int = 0  # K
    n_parsed: int = 0  # samples with a final answer
    n_correct: int | None = None  # samples matching the label; None when the question has none


@dataclass
class TeacherResult:
    out_path: str | None
    questions: int
    chains: int
    kept: int
    skipped: int
    agreement_mean: float
    chains_per_s: float
    seconds: float
    prompt_version: str
    config: dict[str, Any]


# ---------------------------------------------------------------------------------------------- selection


def _ngrams(text: str, n: int = 3) -> set[str]:
    t = normalize(text)  # case, punctuation and spacing differences do not make a chain new
    return {t[i:i + n] for i in range(max(1, len(t) - n + 1))}


def jaccard(a: str, b: str) -> float:
    """Character-3-gram Jaccard similarity of normalised texts (answers.normalize; linear time, unlike difflib).

    >>> jaccard("A dog barks twice.", "a dog  barks twice!")
    1.0
    """
    x, y = _ngrams(a), _ngrams(b)
    return len(x & y) / len(x | y) if x or y else 1.0


def _majority(parsed: Sequence[int | str | None], label: int | str | None) -> tuple[int | str | None, float]:
    """Most common parsed answer; a tie prefers the label, then the earliest sampled. Agreement over parsed ones."""
    answers = [p for p in parsed if p is not None]
    if not answers:
        return None, 0.0
    counts = Counter(answers)
    top = max(counts.values())
    tied = [a for a in dict.fromkeys(answers) if counts[a] == top]
    best = label if label in tied else tied[0]
    return best, top / len(answers)


def select_chains(item: TeacherItem, completions: Sequence[Any], cfg: TeacherConfig) -> QuestionChains:
    """Parse, score and apply the selection policy to one question's completions (objects with .text,
    .n_tokens, .finish_reason, .logprob)."""
    open_vocab = not item.choices
    if open_vocab:  # shown as written (normalised); voted and judged in canonical form ("2" is "two")
        parsed: list[int | str | None] = [_open(c.text) for c in completions]
        keys: list[int | str | None] = [canonical_open(p) or None if isinstance(p, str) else None for p in parsed]
        label: int | str | None = canonical_open(item.answer_text) or None
    else:
        parsed = keys = [extract_answer(c.text, item.choices) for c in completions]
        label = item.answer_index
    majority, agreement = _majority(keys, label)
    need_majority = cfg.majority_only or label is None
    share = Counter(k for k in keys if k is not None)  # samples per answer, over all K
    kept_texts: list[str] = []
    chains = []
    for i, (c, p, key) in enumerate(zip(completions, parsed, keys, strict=True)):
        if label is None or p is None:
            correct = None
        elif open_vocab:
            correct = open_answer_matches(str(p), item.answer_text)
        else:
            correct = p == label
        if label is not None and p is None:
            correct = False
        if p is None:
            reason = "no_answer"
        elif correct is False:
            reason = "wrong_answer"
        elif share[key] < cfg.min_agreement * len(completions):
            reason = "low_agreement"
        elif need_majority and key != majority:
            reason = "not_majority"
        elif not format_ok(c.text):
            reason = "bad_format"
        elif cfg.dedupe and any(jaccard(c.text, t) >= cfg.near_duplicate_threshold for t in kept_texts):
            reason = "duplicate"
        else:
            reason = ""
            kept_texts.append(c.text)
        chains.append(SampledChain(item_id=item.id, sample_index=i, text=c.text, parsed_answer=p, is_correct=correct,
                                   kept=reason == "", drop_reason=reason, n_tokens=c.n_tokens,
                                   finish_reason=c.finish_reason, logprob=c.logprob))
    return QuestionChains(item_id=item.id, chains=chains, majority_answer=majority, agreement=agreement,
                          n_samples=len(chains), n_parsed=sum(p is not None for p in parsed),
                          n_correct=None if label is None else sum(c.is_correct is True for c in chains))


def _open(text: str) -> str | None:
    answer = extract_open_answer(text)
    return normalize(answer) or None if answer else None


# ---------------------------------------------------------------------------------------------- generation


def _batches(items: Iterable[TeacherItem], size: int, skip_ids: frozenset[str] | set[str]) -> Iterator[
        list[TeacherItem]]:
    """Fixed batches of the whole item order, so a resumed run batches (and seeds) exactly as an uninterrupted
    one would: a batch whose items are all stored is skipped, a partly stored one is generated whole."""
    batch: list[TeacherItem] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            if not all(it.id in skip_ids for it in batch):
                yield batch
            batch = []
    if batch and not all(it.id in skip_ids for it in batch):
        yield batch


def _batch_sampling(sampling: SamplingParams, batch: list[TeacherItem]) -> SamplingParams:
    """One seed per batch, derived from the base seed and the batch's first item: a batch's chains never depend on
    which batches ran before it in this process (a resume starts mid-run)."""
    if sampling.seed is None:
        return sampling
    return replace(sampling, seed=(sampling.seed * 1_000_003 + zlib.crc32(batch[0].id.encode())) % 2**31)


def build_backend(cfg: TeacherConfig) -> Backend:
    options = dict(cfg.backend_options)
    if cfg.backend == "transformers":  # vLLM and servers batch continuously: they take whole batches as they come
        options.setdefault("batch_size", cfg.batch_size)
    return load_backend(cfg.backend, cfg.model, **options)


def generate_chains(cfg: TeacherConfig, items: Iterable[TeacherItem], backend: Backend | None = None,
                    on_progress: ProgressFn | None = None,
                    skip_ids: set[str] | frozenset[str] = frozenset()) -> Iterator[QuestionChains]:
    """Stream QuestionChains, one backend call per `cfg.batch_size` questions, so callers write as they go.

    Items whose id is in skip_ids (already stored by an earlier, interrupted run) are not generated again.
    `on_progress(done, total, metrics)` follows each batch; total is 0 when `items` has no length.
    """
    prompt = get_prompt(cfg.prompt_version)
    sampling = cfg.sampling()
    own = backend is None
    backend = build_backend(cfg) if backend is None else backend
    total = 0
    if isinstance(items, Sequence):
        total = sum(1 for it in items if it.id not in skip_ids)
    done = n_chains = n_kept = 0
    agreements: list[float] = []
    t0 = time.perf_counter()
    try:
        for batch in _batches(items, cfg.batch_size, skip_ids):
            batch_sampling = _batch_sampling(sampling, batch)
            requests = [GenerationRequest(request_id=it.id, messages=prompt.messages(it.question, it.choices),
                                          media=Media(frames=it.load_frames(), fps=it.fps), n=cfg.k,
                                          sampling=batch_sampling) for it in batch]
            results = backend.generate(requests)
            for item, result in zip(batch, results, strict=True):
                if result.request_id != item.id or len(result.completions) != cfg.k:
                    raise RuntimeError(f"backend returned {result.request_id!r} with {len(result.completions)} "
                                       f"completions for {item.id!r} (k={cfg.k})")
                if item.id in skip_ids:  # stored by the interrupted run, generated again only to keep the batch
                    continue
                qc = select_chains(item, result.completions, cfg)
                done += 1
                n_chains += len(qc.chains)
                n_kept += sum(c.kept for c in qc.chains)
                agreements.append(qc.agreement)
                yield qc
            if on_progress is not None:
                elapsed = max(time.perf_counter() - t0, 1e-9)
                on_progress(done, total, {"chains_per_s": n_chains / elapsed,
                                          "agreement_mean": sum(agreements) / len(agreements),
                                          "kept_share": n_kept / n_chains if n_chains else 0.0})
    finally:
        if own:
            backend.close()


# ---------------------------------------------------------------------------------------------- stage I/O


def _label(raw: Any, choices: Sequence[str]) -> tuple[int | None, str]:
    """(answer_index, answer_text) from an int index, a letter, or the choice / open answer text."""
    if raw is None or raw == "":
        return None, ""
    if isinstance(raw, bool):
        raise ValueError(f"bad answer {raw!r}")
    if isinstance(raw, int):
        if not 0 <= raw < len(choices):
            raise ValueError(f"answer index {raw} outside {len(choices)} choices")
        return raw, choices[raw]
    text = str(raw).strip()
    if not choices:
        return None, text
    if len(text) == 1 and text.upper() in LETTERS[: len(choices)]:
        idx = LETTERS.index(text.upper())
        return idx, choices[idx]
    norm = [normalize(c) for c in choices]
    if normalize(text) in norm:
        idx = norm.index(normalize(text))
        return idx, choices[idx]
    raise ValueError(f"answer {raw!r} is neither an index, a letter nor one of the choices")


def read_clip_frames(path: Path, n_frames: int) -> tuple[np.ndarray, float]:
    """n uniformly spaced RGB frames of a clip and their rate in frames per second (PyAV, imported only here)."""
    from pipeline.media import sample_frames

    return sample_frames(path, n_frames)


def _frames_dir_loader(folder: Path) -> FramesLoader:
    def load() -> np.ndarray:
        from pipeline.media import load_frames

        names = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
        if not names:
            raise FileNotFoundError(f"no frames in {folder}")
        return load_frames(folder, names)

    return load


def load_items(path: str | Path, media_dir: str | Path | None, n_frames: int) -> list[TeacherItem]:
    """Questions from JSONL; frames are loaded lazily (per batch) from `media_dir`."""
    base = Path(media_dir) if media_dir else Path(path).parent
    items = []
    for line_no, row in numbered_rows(path):
        try:
            choices = tuple(str(c) for c in row.get("choices") or ())
            index, text = _label(row.get("answer"), choices)
            if row.get("frames_dir"):
                folder = base / row["frames_dir"]
                fps = float(row.get("fps") or 0) or (n_frames / float(row["duration"]) if row.get("duration")
                                                     else 1.0)
                frames: np.ndarray | FramesLoader = _frames_dir_loader(folder)
            else:
                clip = base / f"{row['video_name']}.mp4"

                def frames(clip: Path = clip) -> np.ndarray:
                    return read_clip_frames(clip, n_frames)[0]

                fps = _clip_fps(clip, n_frames)
            items.append(TeacherItem(id=str(row["id"]), question=str(row["question"]), choices=choices,
                                     answer_index=index, answer_text=text, frames=frames, fps=fps))
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"{path}:{line_no}: {exc}") from exc
    return items


def _clip_fps(clip: Path, n_frames: int) -> float:
    """Rate of n uniform frames over the clip, from the container header only (cheap, no decode)."""
    try:
        import av

        with av.open(str(clip)) as container:
            duration = float(container.duration / av.time_base) if container.duration else 0.0
    except Exception:  # noqa: BLE001 — a broken clip fails later with a media error when its frames load
        return 1.0
    return n_frames / duration if duration > 0 else 1.0


def chain_record(qc: QuestionChains, chain: SampledChain, prompt_version: str) -> dict[str, Any]:
    """One output JSONL line (keyed by item id + sample index, so a retried write is idempotent upstream)."""
    return {"id": chain.item_id, "sample_index": chain.sample_index, "text": chain.text,
            "parsed_answer": chain.parsed_answer, "is_correct": chain.is_correct, "kept": chain.kept,
            "drop_reason": chain.drop_reason, "n_tokens": chain.n_tokens, "finish_reason": chain.finish_reason,
            "logprob": chain.logprob, "majority_answer": qc.majority_answer, "agreement": qc.agreement,
            "n_correct": qc.n_correct,
            "prompt_version": prompt_version}


def completed_ids(out_path: Path, k: int) -> set[str]:
    """Items whose k chains are all in out_path already; a partially written item is generated again."""
    if not out_path.is_file():
        return set()
    seen: dict[str, set[int]] = {}
    for row in iter_jsonl(out_path, skip_invalid=True):  # a line cut by a killed process is skipped
        seen.setdefault(row["id"], set()).add(int(row["sample_index"]))
    return {i for i, s in seen.items() if len(s) >= k}


def _drop_partial(out_path: Path, keep_ids: set[str]) -> None:
    """Rewrite out_path without lines of incomplete items (and cut lines), so resumed output has no repeats."""
    if not out_path.is_file():
        return
    rows = [row for row in iter_jsonl(out_path, skip_invalid=True) if row.get("id") in keep_ids]
    write_jsonl(out_path, rows)


def run(cfg: TeacherConfig, on_progress: ProgressFn | None = None, backend: Backend | None = None) -> TeacherResult:
    """Stage entry: items JSONL in, chains JSONL out (appended per batch; a re-run resumes where it stopped)."""
    if not cfg.items_path or not cfg.out_path:
        raise ValueError("run() needs items_path and out_path in the config")
    out = Path(cfg.out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    items = load_items(cfg.items_path, cfg.media_dir, cfg.n_frames)
    done = completed_ids(out, cfg.k)
    _drop_partial(out, done)
    if done:
        log.info("resuming: %d of %d questions already have %d chains", len(done), len(items), cfg.k)
    t0 = time.perf_counter()
    questions = n_chains = n_kept = 0
    agreement_sum = 0.0
    with open(out, "a", encoding="utf-8") as f:
        for qc in generate_chains(cfg, items, backend=backend, on_progress=on_progress, skip_ids=done):
            for chain in qc.chains:
                f.write(json.dumps(chain_record(qc, chain, cfg.prompt_version)) + "\n")
            f.flush()
            questions += 1
            n_chains += len(qc.chains)
            n_kept += sum(c.kept for c in qc.chains)
            agreement_sum += qc.agreement
    seconds = time.perf_counter() - t0
    result = TeacherResult(out_path=str(out), questions=questions, chains=n_chains, kept=n_kept,
                           skipped=len(done & {it.id for it in items}),
                           agreement_mean=agreement_sum / questions if questions else 0.0,
                           chains_per_s=n_chains / seconds if seconds > 0 else 0.0, seconds=seconds,
                           prompt_version=cfg.prompt_version, config=cfg.to_dict())
    log.info("teacher: %d questions, %d chains (%d kept) in %.1fs", questions, n_chains, n_kept, seconds)
    return result


def load_config(path: str | Path) -> TeacherConfig:
    """YAML or JSON config file; relative items/media/out paths resolve against the config's folder."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in {".yaml", ".yml"}:
        import yaml

        data = yaml.safe_load(text) or {}
    else:
        data = json.loads(text)
    for key in ("items_path", "media_dir", "out_path"):
        if data.get(key) and not Path(data[key]).is_absolute():
            data[key] = str(path.parent / data[key])
    return TeacherConfig.from_dict(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Sample K audio-focused chains per question from a VL teacher.")
    parser.add_argument("--config", required=True, help="YAML or JSON TeacherConfig (items_path, out_path …)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = load_config(args.config)

    def progress(done: int, total: int, metrics: dict[str, float]) -> None:
        log.info("%d/%d questions  %.2f chains/s  agreement %.2f  kept %.0f%%", done, total,
                 metrics["chains_per_s"], metrics["agreement_mean"], 100 * metrics["kept_share"])

    result = run(cfg, on_progress=progress)
    sys.stdout.write(json.dumps({k: v for k, v in asdict(result).items() if k != "config"}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
