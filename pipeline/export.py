"""Export a frozen dataset snapshot: SFT/GRPO JSONL, parquet, a `datasets` folder and a dataset card, in one pass.

Training reads snapshots only through these files, so a GPU machine needs nothing but the export folder and the
audio it references. Every writer consumes the same iterator of *snapshot records* (plain dicts, one per frozen
chain, ordered by question) and keeps only one row group in memory, so memory stays flat in the number of chains.

A snapshot record::

    {"chain_id": 7, "question_id": 3, "text": "<think>…</think><answer>B</answer>", "question": "...",
     "choices": ["a dog", "a car"], "answer_index": 1, "answer_text": "a car", "split": "train",
     "question_type": "Which", "question_relation": "Both", "category": "", "audio_path": "clips/3.wav"}

Files written (`write_export`):

- `sft.jsonl` — one row per chain, TRL conversational format (`messages`: user turn with the audio part and the
  prompt, assistant turn with the chain).
- `grpo.jsonl` — one row per question with a chain: `prompt`, `answer` (letter, or the free-text answer), `choices`,
  `lettered`, `audio_path`, plus `category` and `question_type` so the same file serves evaluation.
- The label-only baselines, each under a prompt that asks for exactly what its target is (a prompt asking for
  `<think>` above a bare `<answer>B</answer>` target teaches the model to ignore its instructions, and the format
  reward then punishes the baseline for obeying its data), in two *matched designs*:
  (a) every labelled training question (`label_records`: the R1-AQA setting), and (b) exactly the questions
  SightSound kept (those with a chain in the snapshot), so the chains' contribution is separable from question
  selection:
  - `sft_label_only.jsonl` (a) / `sft_label_only_matched.jsonl` (b): target `<answer>B</answer>` under
    `LABEL_PROMPT` (answer only, no reasoning asked for);
  - `grpo_r1aqa.jsonl` (a) / `grpo_r1aqa_matched.jsonl` (b): R1-AQA mode — the published R1-AQA prompt (question,
    choices as a list without letters, "Output the final answer in <answer> </answer>"), `answer` the choice
    text, `lettered` false; trained with the accuracy and answer-format rewards only.
  Without `label_records`, design (a) falls back to the questions of the chains (then a and b coincide).
- `sft.parquet` and `hf/` (a `datasets.load_from_disk` folder) — the SFT rows with their metadata columns; audio
  as file references (`audio_path`), or embedded as bytes (`audio_bytes`) with `embed_audio=True`.
- `preferences.jsonl` — preference pairs from the curators' decisions, TRL's conversational preference format
  (`prompt`: the user turn with the audio part; `chosen` / `rejected`: one assistant turn each) plus `source`:
  `edit` (chosen = a curator's edit, rejected = the chain's text before it) or `hallucination` (chosen = an
  accepted chain of the question, rejected = a chain of the same question that a curator rejected as claiming a
  sound that is not there). Records carry `original_text` (the chain's text before any edit) for the first kind;
  the second comes from `rejected_records`, a second stream ordered by question that is merged in, so pairs are
  written in the same single pass as everything else.
- `README.md` — the dataset card with provenance and counts.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.answers import letter
from pipeline.prompts import PromptTemplate

__all__ = [
    "BASELINE_FILES",
    "HALLUCINATION_REASONS",
    "LABEL_PROMPT",
    "STUDENT_PROMPT",
    "ExportOptions",
    "ExportResult",
    "ExportStopped",
    "answer_label",
    "grpo_row",
    "preference_pairs",
    "r1aqa_row",
    "r1aqa_text",
    "sft_row",
    "user_message",
    "write_card",
    "write_export",
]

log = logging.getLogger(__name__)

STUDENT_PROMPT = PromptTemplate(
    version="student-v1",
    text=(
        "Listen to the audio clip.\n"
        "Question: {question}\n"
        "{choices_block}"
        "Think about what you hear inside <think> </think>, then {answer_instruction}."
    ),
    mc_instruction="give only the letter of the correct choice ({letters}) inside <answer> </answer>",
    open_instruction="give a short phrase (a few words) inside <answer> </answer>",
    media="audio",
)

LABEL_PROMPT = PromptTemplate(
    version="student-label-v1",
    text="Listen to the audio clip.\nQuestion: {question}\n{choices_block}Do not explain: {answer_instruction}.",
    mc_instruction="give only the letter of the correct choice ({letters}) inside <answer> </answer>",
    open_instruction="give only a short phrase (a few words) inside <answer> </answer>",
    media="audio",
)
R1AQA_PROMPT_VERSION = "r1-aqa"

JSONL_FORMATS = ("sft", "sft_label_only", "sft_label_only_matched", "grpo", "grpo_r1aqa", "grpo_r1aqa_matched",
                 "preferences")
FORMATS = (*JSONL_FORMATS, "parquet", "hf")
PAIR_SOURCES = ("edit", "hallucination")
# The curator's reject reasons that make a chain the rejected side of a hallucination pair.
HALLUCINATION_REASONS = ("hallucinated-sound",)
# Which file each baseline trains on, per matched design ("all": every labelled question; "kept": SightSound's).
BASELINE_FILES: dict[str, dict[str, str]] = {
    "sft_label_only": {"all": "sft_label_only.jsonl", "kept": "sft_label_only_matched.jsonl"},
    "grpo_r1aqa": {"all": "grpo_r1aqa.jsonl", "kept": "grpo_r1aqa_matched.jsonl"},
}


@dataclass
class ExportOptions:
    embed_audio: bool = field(default=False, metadata={"help": "Store the wav bytes in parquet/hf (else paths)."})
    media_root: str | None = field(default=None, metadata={"help": "Resolves audio_path when embedding."})
    row_group_size: int = field(default=10_000, metadata={"help": "Rows per parquet row group / arrow batch."})
    formats: tuple[str, ...] = field(default=FORMATS, metadata={"help": "Which files to write."})

    def __post_init__(self) -> None:
        unknown = set(self.formats) - set(FORMATS)
        if unknown:
            raise ValueError(f"unknown export formats {sorted(unknown)}")
        if self.row_group_size < 1:
            raise ValueError("row_group_size must be >= 1")
        if self.embed_audio and not self.media_root:
            raise ValueError("embed_audio needs media_root to read the audio files")


@dataclass
class ExportResult:
    files: list[dict[str, Any]]  # [{name, bytes, rows}]
    chains: int
    questions: int
    counts: dict[str, dict[str, int]]  # {"split": {...}, "question_type": {...}}
    pairs: dict[str, int] = field(default_factory=dict)  # preference pairs per source: {"edit": n, "hallucination": m}


# ------------------------------------------------------------------------------------------------ rows
def answer_label(rec: Mapping[str, Any]) -> str:
    """The gold answer as the student must write it: the letter for multiple choice, else the free text.

    >>> answer_label({"choices": ["x", "y"], "answer_index": 1, "answer_text": "y"})
    'B'
    >>> answer_label({"choices": [], "answer_index": None, "answer_text": "two"})
    'two'
    """
    if rec.get("choices") and rec.get("answer_index") is not None:
        return letter(int(rec["answer_index"]))
    return str(rec.get("answer_text") or "")


def user_message(rec: Mapping[str, Any], prompt: PromptTemplate = STUDENT_PROMPT) -> dict[str, Any]:
    """The user turn: the audio part (a path relative to the storage root) first, then the prompt text."""
    return {"role": "user", "content": [
        {"type": "audio", "path": rec["audio_path"]},
        {"type": "text", "text": prompt.render(rec["question"], rec.get("choices") or ())},
    ]}


def r1aqa_text(question: str, choices: list[str]) -> str:
    """R1-AQA's published prompt: the question ("video" read as "audio"), the choices as a list, no letters.

    >>> r1aqa_text("What happened in the video?", ["a dog", "a car"])
    "What happened in the audio? Please choose the answer from the following options: ['a dog', 'a car']. \
Output the final answer in <answer> </answer>."
    """
    return (f"{question.replace('video', 'audio')} Please choose the answer from the following options: "
            f"{list(choices)}. Output the final answer in <answer> </answer>.")


def r1aqa_row(rec: Mapping[str, Any]) -> dict[str, Any]:
    """One R1-AQA-mode GRPO row: the answer is the choice text and the choices are not lettered."""
    choices = list(rec.get("choices") or [])
    user = {"role": "user", "content": [{"type": "audio", "path": rec["audio_path"]},
                                        {"type": "text", "text": r1aqa_text(rec["question"], choices)}]}
    answer = choices[int(rec["answer_index"])] if choices and rec.get("answer_index") is not None else answer_label(rec)
    return {"id": f"q{rec['question_id']}", "question_id": rec["question_id"], "prompt": [user],
            **_meta(rec), "answer": answer, "lettered": False, "prompt_version": R1AQA_PROMPT_VERSION}


def sft_row(rec: Mapping[str, Any], *, label_only: bool = False, user: dict[str, Any] | None = None,
            meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """One SFT row; `label_only` targets the answer alone (the label-only baseline, one row per question).

    `user`/`meta` let the exporter reuse one question's prompt and metadata across all of its chains.
    """
    target = f"<answer>{answer_label(rec)}</answer>" if label_only else rec["text"]
    row_id = f"q{rec['question_id']}" if label_only else f"c{rec['chain_id']}"
    if user is None:
        user = user_message(rec, LABEL_PROMPT if label_only else STUDENT_PROMPT)
    return {"id": row_id, "question_id": rec["question_id"], "chain_id": None if label_only else rec["chain_id"],
            "messages": [user,
                         {"role": "assistant", "content": [{"type": "text", "text": target}]}],
            **(meta or _meta(rec))}


def grpo_row(rec: Mapping[str, Any], *, user: dict[str, Any] | None = None,
             meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """One GRPO (and evaluation) row per question: the reward functions read `answer` and `choices`."""
    return {"id": f"q{rec['question_id']}", "question_id": rec["question_id"],
            "prompt": [user or user_message(rec)], **(meta or _meta(rec))}


def _meta(rec: Mapping[str, Any]) -> dict[str, Any]:
    return {"answer": answer_label(rec), "choices": list(rec.get("choices") or []), "lettered": True,
            "audio_path": rec["audio_path"],
            "split": rec.get("split", ""), "question_type": rec.get("question_type", ""),
            "question_relation": rec.get("question_relation", ""), "category": rec.get("category", "")}


def _assistant(text: str) -> list[dict[str, Any]]:
    return [{"role": "assistant", "content": [{"type": "text", "text": text}]}]


def preference_pairs(chosen: list[Mapping[str, Any]], rejected: list[Mapping[str, Any]], *,
                     user: dict[str, Any], meta: dict[str, Any]) -> list[dict[str, Any]]:
    """One question's preference rows: an edit pair per edited chain, a hallucination pair per rejected chain.

    Each hallucination-rejected chain is paired with one accepted chain, taken in turn, so a question with many
    rejections does not lean on one chosen text. `chosen` are snapshot records (`text` in force, `original_text`
    before any edit), `rejected` records of the same question's rejected chains (`chain_id`, `text`).

    >>> user, meta = {"role": "user", "content": []}, {"answer": "B"}
    >>> rows = preference_pairs([{"chain_id": 1, "question_id": 5, "text": "ok", "original_text": "bad"}],
    ...                         [{"chain_id": 2, "question_id": 5, "text": "dog barks"}], user=user, meta=meta)
    >>> [(r["source"], r["chosen"][0]["content"][0]["text"], r["rejected"][0]["content"][0]["text"]) for r in rows]
    [('edit', 'ok', 'bad'), ('hallucination', 'ok', 'dog barks')]
    """
    rows = []

    def row(source: str, good: Mapping[str, Any], bad_text: str, bad_id: Any) -> dict[str, Any]:
        return {"id": f"p{good['chain_id']}-{source[0]}{bad_id}", "question_id": good["question_id"],
                "source": source, "chosen_chain_id": good["chain_id"], "rejected_chain_id": bad_id,
                "prompt": [user], "chosen": _assistant(good["text"]), "rejected": _assistant(bad_text), **meta}

    for good in chosen:
        original = good.get("original_text")
        if original is not None and original != good["text"]:
            rows.append(row("edit", good, original, good["chain_id"]))
    for i, bad in enumerate(rejected):
        if chosen:
            rows.append(row("hallucination", chosen[i % len(chosen)], bad["text"], bad["chain_id"]))
    return rows


class _QuestionCursor:
    """Walks a stream of records ordered by question: `take(q)` returns question q's records, skipping earlier ones."""

    def __init__(self, records: Iterable[Mapping[str, Any]] | None) -> None:
        self.it = iter(records or ())
        self.head: Mapping[str, Any] | None = next(self.it, None)

    def take(self, question_id: Any) -> list[Mapping[str, Any]]:
        out = []
        while self.head is not None and self.head["question_id"] <= question_id:
            if self.head["question_id"] == question_id:
                out.append(self.head)
            self.head = next(self.it, None)
        return out


# ------------------------------------------------------------------------------------------------ arrow
def _schema(embed_audio: bool) -> Any:
    import pyarrow as pa

    part = pa.struct([("type", pa.string()), ("path", pa.string()), ("text", pa.string())])
    message = pa.struct([("role", pa.string()), ("content", pa.list_(part))])
    fields = [
        ("id", pa.string()), ("question_id", pa.int64()), ("chain_id", pa.int64()), ("messages", pa.list_(message)),
        ("answer", pa.string()), ("choices", pa.list_(pa.string())), ("audio_path", pa.string()),
        ("split", pa.string()), ("question_type", pa.string()), ("question_relation", pa.string()),
        ("category", pa.string()),
    ]
    if embed_audio:
        fields.append(("audio_bytes", pa.binary()))
    return pa.schema(fields)


class _ArrowSinks:
    """Parquet (row groups) and a `datasets` arrow stream fed the same record batches; one batch in memory."""

    def __init__(self, out: Path, opts: ExportOptions) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.opts = opts
        self.schema = _schema(opts.embed_audio)
        self.buffer: list[dict[str, Any]] = []
        self.parquet = pq.ParquetWriter(out / "sft.parquet", self.schema) if "parquet" in opts.formats else None
        self.hf_dir = out / "hf"
        self.stream = None
        if "hf" in opts.formats:
            self.hf_dir.mkdir(parents=True, exist_ok=True)
            self._hf_sink = pa.OSFile(str(self.hf_dir / "data-00000-of-00001.arrow"), "wb")
            self.stream = pa.ipc.new_stream(self._hf_sink, self.schema)
        self.rows = 0

    @property
    def active(self) -> bool:
        return self.parquet is not None or self.stream is not None

    def add(self, row: dict[str, Any]) -> None:
        if self.opts.embed_audio:
            from pipeline.training import resolve_media

            row = {**row, "audio_bytes": resolve_media(row["audio_path"], self.opts.media_root).read_bytes()}
        self.buffer.append(row)
        if len(self.buffer) >= self.opts.row_group_size:
            self.flush()

    def flush(self) -> None:
        import pyarrow as pa

        if not self.buffer:
            return
        batch = pa.RecordBatch.from_pylist(self.buffer, schema=self.schema)
        if self.parquet is not None:
            self.parquet.write_batch(batch)
        if self.stream is not None:
            self.stream.write_batch(batch)
        self.rows += len(self.buffer)
        self.buffer.clear()

    def close(self) -> None:
        self.flush()
        if self.parquet is not None:
            self.parquet.close()
        if self.stream is not None:
            self.stream.close()
            self._hf_sink.close()
            self._write_hf_metadata()

    def _write_hf_metadata(self) -> None:
        """The two JSON files `datasets.load_from_disk` reads next to the arrow stream `save_to_disk` would write."""
        from datasets import Features

        features = Features.from_arrow_schema(self.schema)
        info = {"citation": "", "description": "SightSound dataset snapshot (SFT rows)", "features": features.to_dict(),
                "homepage": "", "license": ""}
        state = {"_data_files": [{"filename": "data-00000-of-00001.arrow"}], "_fingerprint": uuid.uuid4().hex[:16],
                 "_format_columns": None, "_format_kwargs": {}, "_format_type": None, "_output_all_columns": False,
                 "_split": None}
        (self.hf_dir / "dataset_info.json").write_text(json.dumps(info, indent=2))
        (self.hf_dir / "state.json").write_text(json.dumps(state, indent=2))


# ------------------------------------------------------------------------------------------------ export
class _Jsonl:
    def __init__(self, path: Path) -> None:
        self.path, self.rows = path, 0
        self.fh = path.open("w", encoding="utf-8")

    def write(self, row: dict[str, Any]) -> None:
        self.write_line(json.dumps(row, ensure_ascii=False))

    def write_line(self, line: str) -> None:
        self.fh.write(line)
        self.fh.write("\n")
        self.rows += 1


def _sft_line(rec: Mapping[str, Any], user_js: str, meta_js: str) -> str:
    """`json.dumps(sft_row(rec))` with the question's prompt and metadata encoded once for all of its chains.

    JSON encoding is most of an export's cost, and the user turn is the same for every chain of a question.
    """
    text = json.dumps(rec["text"], ensure_ascii=False)
    return (f'{{"id": "c{rec["chain_id"]}", "question_id": {int(rec["question_id"])}, '
            f'"chain_id": {int(rec["chain_id"])}, "messages": [{user_js}, {{"role": "assistant", "content": '
            f'[{{"type": "text", "text": {text}}}]}}], {meta_js}}}')


class ExportStopped(RuntimeError):
    """`on_progress` returned False: the export was abandoned and its `.partial` folder removed."""


def write_export(records: Iterable[Mapping[str, Any]], out_dir: str | os.PathLike[str],
                 opts: ExportOptions | None = None, on_progress: Any = None,
                 label_records: Iterable[Mapping[str, Any]] | None = None,
                 rejected_records: Iterable[Mapping[str, Any]] | None = None) -> ExportResult:
    """Write every requested file from one pass over `records` (ordered by question); returns sizes and counts.

    Files are written under `<out_dir>.partial/` and renamed into place at the end, so a reader never sees half an
    export and a crashed export leaves no folder that looks finished. `label_records` (question records, no chain
    fields) are the rows of `sft_label_only.jsonl` when given; `rejected_records` (ordered by question) the rejected
    side of the hallucination pairs. Memory holds one question's chains. `on_progress(chains)` returning False
    stops it.
    """
    opts = opts or ExportOptions()
    final = Path(out_dir)
    out = final.with_name(final.name + ".partial")
    if out.exists():
        import shutil

        shutil.rmtree(out)
    out.mkdir(parents=True)
    jsonl = {name: _Jsonl(out / f"{name}.jsonl") for name in JSONL_FORMATS if name in opts.formats}
    sinks = _ArrowSinks(out, opts)
    counts: dict[str, Counter[str]] = {"split": Counter(), "question_type": Counter()}
    pairs: Counter[str] = Counter(dict.fromkeys(PAIR_SOURCES, 0))
    rejected = _QuestionCursor(rejected_records)
    question_chains: list[Mapping[str, Any]] = []

    def write_pairs() -> None:
        if question_chains and "preferences" in jsonl:
            bad = rejected.take(question_chains[0]["question_id"])
            for row in preference_pairs(question_chains, bad, user=user, meta=meta):
                jsonl["preferences"].write(row)
                pairs[row["source"]] += 1
        question_chains.clear()

    chains = questions = 0
    last_question = None
    user: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    user_js = meta_js = ""
    try:
        for rec in records:
            new_question = rec["question_id"] != last_question
            if new_question:
                write_pairs()
                user, meta = user_message(rec), _meta(rec)
                user_js, meta_js = json.dumps(user, ensure_ascii=False), json.dumps(meta, ensure_ascii=False)[1:-1]
            if "sft" in jsonl:
                jsonl["sft"].write_line(_sft_line(rec, user_js, meta_js))
            if sinks.active:
                sinks.add(sft_row(rec, user=user, meta=meta))
            chains += 1
            question_chains.append(rec)
            if new_question:
                last_question = rec["question_id"]
                questions += 1
                counts["split"][rec.get("split") or "-"] += 1
                counts["question_type"][rec.get("question_type") or "-"] += 1
                if "grpo" in jsonl:
                    jsonl["grpo"].write(grpo_row(rec, user=user, meta=meta))
                label_row = sft_row(rec, label_only=True)
                for name, row in (("sft_label_only_matched", label_row), ("grpo_r1aqa_matched", r1aqa_row(rec))):
                    if name in jsonl:
                        jsonl[name].write(row)
                if label_records is None:
                    for name, row in (("sft_label_only", label_row), ("grpo_r1aqa", r1aqa_row(rec))):
                        if name in jsonl:
                            jsonl[name].write(row)
            if on_progress is not None and chains % 1000 == 0 and on_progress(chains) is False:
                raise ExportStopped(f"export to {final} stopped after {chains} chains")
        write_pairs()
        if label_records is not None:
            for rec in label_records:
                if "sft_label_only" in jsonl:
                    jsonl["sft_label_only"].write(sft_row({**rec, "chain_id": None}, label_only=True))
                if "grpo_r1aqa" in jsonl:
                    jsonl["grpo_r1aqa"].write(r1aqa_row(rec))
        sinks.close()
    except ExportStopped:
        import shutil

        for sink in jsonl.values():
            sink.fh.close()
        shutil.rmtree(out, ignore_errors=True)
        raise
    finally:
        for sink in jsonl.values():
            sink.fh.close()
    files = [{"name": f"{name}.jsonl", "rows": sink.rows} for name, sink in jsonl.items()]
    if sinks.parquet is not None:
        files.append({"name": "sft.parquet", "rows": sinks.rows})
    if sinks.stream is not None:
        files.append({"name": "hf", "rows": sinks.rows})
    for f in files:
        p = out / f["name"]
        f["bytes"] = sum(x.stat().st_size for x in p.rglob("*") if x.is_file()) if p.is_dir() else p.stat().st_size
    result = ExportResult(files=files, chains=chains, questions=questions,
                          counts={k: dict(sorted(v.items())) for k, v in counts.items()}, pairs=dict(pairs))
    if final.exists():
        import shutil

        shutil.rmtree(final)
    os.replace(out, final)
    log.info("exported %d chains over %d questions to %s", chains, questions, final)
    return result


# ------------------------------------------------------------------------------------------------ card
def write_card(path: str | os.PathLike[str], *, title: str, provenance: Mapping[str, Any], result: ExportResult,
               filters: Mapping[str, Any] | None = None, embed_audio: bool = False) -> Path:
    """The dataset card: what is in the snapshot, where it came from, and how to load it."""
    prov = dict(provenance)

    def _table(rows: Mapping[str, Any], head: str) -> str:
        lines = [f"| {head} | count |", "|---|---:|"] + [f"| {k} | {v} |" for k, v in rows.items()]
        return "\n".join(lines)

    def _block(key: str) -> str:
        value = prov.get(key)
        return "```json\n" + json.dumps(value, indent=2, sort_keys=True, default=str) + "\n```" if value else "—"

    def _flags(flags: Any) -> str:
        """Chain flags (pipeline/flags.py) whose chains this snapshot left out, with counts, and those it kept."""
        if not isinstance(flags, Mapping):
            return "—"
        kept = ", ".join(flags.get("kept") or []) or "none"
        return (f"{flags.get('chains_left_out', 0)} accepted chains left out; flags kept: {kept}.\n\n"
                + _table(flags.get("excluded") or {}, "flag left out"))

    files = "\n".join(f"| `{f['name']}` | {f['rows']} | {f['bytes']} |" for f in result.files)
    if filters is not None:
        prov["filters"] = dict(filters)
    selection = _block("filters")
    audio = "embedded as wav bytes (`audio_bytes`)" if embed_audio else "referenced by `audio_path`"
    # how the validation runs turned claim verdicts into each chain's verdict of record, in words
    validators = prov.get("validators")
    policies = validators.get("policies") if isinstance(validators, Mapping) else None
    policies = "\n".join(f"- {p}" for p in policies or []) or "—"
    text = f"""---
pretty_name: {title}
task_categories: [audio-text-to-text]
---
# {title}

Audio question answering with reasoning chains, distilled from a vision-language teacher and validated against the
audio (SightSound Studio). {result.chains} chains over {result.questions} questions.

## Files

| file | rows | bytes |
|---|---:|---:|
{files}

Audio is {audio}, 16 kHz mono wav
relative to the storage root. Student prompt version: `{STUDENT_PROMPT.version}`.

```python
from datasets import load_dataset, load_from_disk
ds = load_from_disk("hf")
ds = load_dataset("parquet", data_files="sft.parquet")["train"]
```

## Selection

{selection}

## Counts (questions)

{_table(result.counts.get("split", {}), "split")}

{_table(result.counts.get("question_type", {}), "question type")}

## Preference pairs (`preferences.jsonl`, for DPO)

Chosen: an accepted chain or a curator's edit; rejected: the text before the edit, or a chain of the same question
a curator rejected as claiming a sound that is not there ({", ".join(HALLUCINATION_REASONS)}).

{_table(result.pairs, "pair source")}

## Provenance

### Teacher (models, prompt versions, K, sampling)
{_block("teacher_runs")}

### Chain policy in force
{policies}

### Validators (verdicts of record: models, versions, labels and thresholds)
{_block("validators")}

### Curation
{_block("curation")}

### Flagged chains left out
{_flags(prov.get("flags"))}
"""
    out = Path(path)
    out.write_text(text, encoding="utf-8")
    return out
