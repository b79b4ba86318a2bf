"""Chains generated elsewhere (a cluster, a batch API) read from a JSONL file, checked row by row, and selected by
the teacher's own policy, so imported chains are curated exactly like generated ones.

Why row by row: as with annotation files (pipeline/datasets), one malformed row must be reported with its line and
reason while every good row lands. Two row shapes are read, one per line, and may be mixed:

- the `pipeline.teacher` output (`chain_record`): `{"id": <question id>, "sample_index": 0, "text": "…", …}`; the
  teacher's own `parsed_answer`, `is_correct`, `kept` and `drop_reason` are ignored and computed again here against
  the dataset's label, so a file cannot claim a wrong answer right;
- the short form `{"id": <chain id>, "question": <question id>, "chain": "…"}`, whose sample index is its order
  among the file's chains of that question.

Either may carry `model` and `prompt_version` (the provenance an import records when its form leaves them blank),
and `n_tokens`, `finish_reason`, `logprob`. Question ids are the dataset's external ids (the annotation file's).
Answers are parsed by `pipeline.answers` through `pipeline.teacher.select_chains`, with the teacher's default
selection (no answer, a wrong answer, a bad format or a near-duplicate drops a chain; each drop keeps its reason).

The whole file is read before any chain is selected, since a question's chains may be spread over it; memory holds
the chains' texts (a 100,000-chain file of 2 KB chains: about 200 MB). Split bigger files.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from pipeline.datasets.base import quoted
from pipeline.datasets.limits import CHAIN_LIMITS, value_problem
from pipeline.datasets.stream import json_type
from pipeline.teacher import QuestionChains, TeacherConfig, TeacherItem, select_chains

__all__ = ["ChainFile", "ChainFileError", "ChainRow", "QuestionInfo", "RowError", "read_chain_file", "select_imported"]

_TEACHER_REQUIRED = frozenset({"id", "sample_index", "text"})
_TEACHER_OPTIONAL = frozenset(
    {"parsed_answer", "is_correct", "kept", "drop_reason", "majority_answer", "agreement", "n_correct"}
)  # the teacher's own view of its chains: recomputed, not trusted
_SHORT_REQUIRED = frozenset({"id", "question", "chain"})
_COMMON_OPTIONAL = frozenset({"model", "prompt_version", "n_tokens", "finish_reason", "logprob"})
_MAX_SAMPLE_INDEX = 32_767  # Chain.sample_index is a small integer


class ChainFileError(ValueError):
    """The file as a whole is unusable (empty, or more rows than one import takes): nothing is imported."""


@dataclass(frozen=True)
class QuestionInfo:
    """What selection needs of a question: its choices and label (answer_index None: open or unlabeled)."""

    key: int  # the caller's handle (the web app: the Question's pk)
    text: str
    choices: tuple[str, ...]
    answer_index: int | None
    answer_text: str


@dataclass(frozen=True)
class ChainRow:
    line: int
    question: str
    sample_index: int
    text: str
    chain_id: str = ""
    n_tokens: int | None = None
    finish_reason: str = ""
    logprob: float | None = None
    model: str = ""
    prompt_version: str = ""


@dataclass(frozen=True)
class RowError:
    line: int
    id: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"row": self.line, "id": self.id, "reason": self.reason}


@dataclass
class ChainFile:
    """The good rows grouped by question (in file order), and every bad row with its line and reason."""

    groups: dict[str, list[ChainRow]] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)
    n_rows: int = 0

    @property
    def n_chains(self) -> int:
        return sum(len(rows) for rows in self.groups.values())

    def claimed(self, name: str) -> list[str]:
        """The distinct `model` or `prompt_version` values the rows name, in file order."""
        return list(dict.fromkeys(getattr(r, name) for rows in self.groups.values() for r in rows if getattr(r, name)))


class _Bad(Exception):
    pass


def _str(obj: dict[str, Any], key: str, *, required: bool = True) -> str:
    value = obj.get(key, "")
    if isinstance(value, int) and not isinstance(value, bool) and key in ("id", "question"):
        value = str(value)  # ids written as numbers
    if not isinstance(value, str):
        raise _Bad(f"field '{key}' must be a string, got {json_type(value)}")
    value = value if key in ("text", "chain") else value.strip()
    if required and not value.strip():
        raise _Bad(f"field '{key}' is empty")
    limit_key = "text" if key == "chain" else key
    if (problem := value_problem(value, CHAIN_LIMITS[limit_key], key)) is not None:
        raise _Bad(problem)
    return value


def _number(obj: dict[str, Any], key: str, kind: type) -> Any:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
        raise _Bad(f"field '{key}' must be {'an integer' if kind is int else 'a number'}, got {json_type(value)}")
    return kind(value)


def _check_keys(obj: dict[str, Any]) -> bool:
    """True for the teacher's shape, False for the short one; _Bad naming what is missing or unknown otherwise."""
    keys = obj.keys()
    teacher = "sample_index" in keys or "text" in keys
    required = _TEACHER_REQUIRED if teacher else _SHORT_REQUIRED
    allowed = required | _COMMON_OPTIONAL | (_TEACHER_OPTIONAL if teacher else frozenset({"sample_index"}))
    problems = []
    if missing := sorted(required - keys):
        problems.append(f"missing field(s) {', '.join(missing)}")
    if unknown := sorted(keys - allowed):
        problems.append(f"unknown field(s) {', '.join(quoted(k, 40) for k in unknown)}")
    if problems:
        shape = "teacher output {id, sample_index, text}" if teacher else "{id, question, chain}"
        raise _Bad(f"{'; '.join(problems)} (read as {shape})")
    return teacher


def _row(line: int, obj: Any, next_index: dict[str, int]) -> ChainRow:
    if not isinstance(obj, dict):
        raise _Bad(f"expected a JSON object, got {json_type(obj)}")
    teacher = _check_keys(obj)
    if teacher:
        question, chain_id, text = _str(obj, "id"), "", _str(obj, "text")
        index = _number(obj, "sample_index", int)
    else:
        question, chain_id, text = _str(obj, "question"), _str(obj, "id"), _str(obj, "chain")
        index = _number(obj, "sample_index", int)
        if index is None:
            index = next_index.get(question, 0)
    if index is None or not 0 <= index <= _MAX_SAMPLE_INDEX:
        raise _Bad(f"field 'sample_index' must be between 0 and {_MAX_SAMPLE_INDEX}, got {index}")
    return ChainRow(
        line=line,
        question=question,
        sample_index=index,
        text=text,
        chain_id=chain_id,
        n_tokens=_number(obj, "n_tokens", int),
        finish_reason=_str(obj, "finish_reason", required=False),
        logprob=_number(obj, "logprob", float),
        model=_str(obj, "model", required=False),
        prompt_version=_str(obj, "prompt_version", required=False),
    )


def _lines(fh: IO[bytes]) -> Iterator[tuple[int, str | _Bad]]:
    for number, raw in enumerate(fh, 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield number, _Bad(f"line is not UTF-8 text (byte {exc.start}: {exc.reason})")
            continue
        if number == 1:
            text = text.removeprefix("\ufeff")
        if text.strip():
            yield number, text


def _decode(text: str | _Bad) -> Any:
    if isinstance(text, _Bad):
        raise text
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _Bad(f"not JSON: {exc.msg} at column {exc.colno}") from exc
    except (RecursionError, ValueError) as exc:  # nesting past the recursion limit, a number past the digit limit
        raise _Bad(f"not readable JSON ({type(exc).__name__})") from exc


def read_chain_file(
    fh: IO[bytes], question: Callable[[str], QuestionInfo | None], *, max_rows: int | None = None
) -> ChainFile:
    """Check every line of a chains JSONL: good rows grouped by question id, bad ones with line and reason.

    `question` looks an external id up in the target dataset (None: unknown, a row error). Raises ChainFileError
    when the file has no rows at all or more than `max_rows`.
    """
    out = ChainFile()
    seen: dict[tuple[str, int], int] = {}  # (question, sample index) -> line
    chain_ids: dict[str, int] = {}
    next_index: dict[str, int] = {}
    for line, text in _lines(fh):
        out.n_rows += 1
        if max_rows is not None and out.n_rows > max_rows:
            raise ChainFileError(f"the file has more than {max_rows:,} chains, more than one import takes: split it")
        obj: Any = None
        try:
            obj = _decode(text)
            row = _row(line, obj, next_index)
            if question(row.question) is None:
                raise _Bad(f"unknown question id {quoted(row.question, 80)}: no question of the dataset has it")
            if (first := seen.get((row.question, row.sample_index))) is not None:
                raise _Bad(
                    f"duplicate of line {first} (question {quoted(row.question, 80)}, sample {row.sample_index})"
                )
            if row.chain_id and (first := chain_ids.get(row.chain_id)) is not None:
                raise _Bad(f"duplicate chain id: line {first} has it too")
        except _Bad as exc:
            ident = obj.get("id") if isinstance(obj, dict) else None
            out.errors.append(RowError(line, str(ident)[:64] if isinstance(ident, (str, int)) else "", str(exc)))
            continue
        seen[(row.question, row.sample_index)] = line
        if row.chain_id:
            chain_ids[row.chain_id] = line
        next_index[row.question] = max(next_index.get(row.question, 0), row.sample_index + 1)
        out.groups.setdefault(row.question, []).append(row)
    if out.n_rows == 0:
        raise ChainFileError("the file holds no chains (one JSON object per line expected)")
    return out


@dataclass(frozen=True)
class _Completion:
    text: str
    n_tokens: int | None
    finish_reason: str
    logprob: float | None


def select_imported(info: QuestionInfo, rows: list[ChainRow], cfg: TeacherConfig | None = None) -> QuestionChains:
    """Parse and select one question's imported chains as the teacher selects its own; each SampledChain carries its
    row's sample index."""
    cfg = cfg or TeacherConfig(model="imported")
    ordered = sorted(rows, key=lambda r: r.sample_index)
    item = TeacherItem(
        id=str(info.key),
        question=info.text,
        choices=info.choices,
        answer_index=info.answer_index,
        answer_text=info.answer_text,
        frames=np.zeros((0, 1, 1, 3), dtype=np.uint8),
        fps=0.0,
    )
    result = select_chains(item, [_Completion(r.text, r.n_tokens, r.finish_reason, r.logprob) for r in ordered], cfg)
    for chain, row in zip(result.chains, ordered, strict=True):
        chain.sample_index = row.sample_index
    return result
