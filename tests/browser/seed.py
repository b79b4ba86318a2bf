"""Realistic data for the page-wide browser checks: a dataset imported from a real clip, every kind of run, chains with
verdicts and decisions, a snapshot with its export, training runs with metrics and an adapter, and evaluations to
compare. Built through the app's own services where they exist, directly in the database where a worker would."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth.models import User

from pipeline.flags import LUCKY_GUESS, VISUAL_ONLY
from tests.browser.helpers import import_real_question
from tests.webapp.review_factories import make_question, make_study, make_tie
from webapp.catalog.models import Dataset, ImportRun, Question
from webapp.core.models import RunStatus
from webapp.curation.models import BulkAction, Chain, GenerationRun, Verdict
from webapp.curation.review import decisions
from webapp.training.models import DatasetSnapshot, MetricPoint, TrainingRun

METRICS = ("loss", "learning_rate", "grad_norm", "rewards/accuracy_reward", "kl", "mean_token_accuracy", "epoch")


@dataclass
class Seeded:
    dataset: Dataset
    question: Question
    teacher: GenerationRun
    validation: GenerationRun
    bulk: BulkAction
    imported: ImportRun
    snapshot: DatasetSnapshot
    sft: TrainingRun
    grpo: TrainingRun
    evaluations: list[TrainingRun]
    flagged: Chain  # a tie of a two-curator agreement study, waiting for an admin's ruling


def _summary(acc: float) -> dict[str, float | int]:
    return {
        "accuracy": acc,
        "ci_low": acc - 0.12,
        "ci_high": acc + 0.1,
        "n": 40,
        "parse_failure_rate": 0.05,
        "truncation_rate": 0.1,
        "silent_accuracy": 0.41,
        "audio_gain": acc - 0.41,
    }


# Chains a teacher could write for the first real clip (a keyboard / organ, what YAMNet hears on it: docs/testing.md),
# with the claims a validator would check: grounded, invented, half-right, and one dropped for its wrong answer.
ORGAN_CHAINS = [
    (
        "<think>Sustained chords ring out with the reedy, even tone of an organ; the notes change every second or "
        "so and nothing else is heard.</think><answer>B</answer>",
        1,
        "pass",
        [
            ("Sustained chords", "supported", [[0.0, 4.0]]),
            ("the reedy, even tone of an organ", "supported", [[0.5, 6.0]]),
        ],
    ),
    (
        "<think>A car engine revs under the music and a horn sounds near the end, so the car makes the sound."
        "</think><answer>B</answer>",
        1,
        "fail",
        [("A car engine revs", "contradicted", []), ("a horn sounds near the end", "contradicted", [])],
    ),
    (
        "<think>Keys are pressed and a melody plays, maybe over a quiet crowd murmuring in the background."
        "</think><answer>B</answer>",
        1,
        "uncertain",
        [("a melody plays", "supported", [[1.0, 5.0]]), ("a quiet crowd murmuring", "unverifiable", [])],
    ),
    ("<think>A bell rings twice.</think><answer>C</answer>", 2, "fail", [("A bell rings twice", "contradicted", [])]),
]


def _organ_chains(question: Question, run: GenerationRun) -> None:
    Question.objects.filter(pk=question.pk).update(
        choices=["a dog", "an organ", "a bell", "rain"], answer_text="an organ"
    )
    for k, (text, answer, label, claims) in enumerate(ORGAN_CHAINS):
        chain = Chain.objects.create(
            run=run, question=question, sample_index=k, text=text, parsed_answer=answer, is_correct=answer == 1
        )
        spans = [
            {"text": t, "verdict": v, "char_start": text.index(t), "char_end": text.index(t) + len(t), "spans": sp}
            for t, v, sp in claims
        ]
        chain.verdict = Verdict.objects.create(
            chain=chain,
            validator="lalm",
            validator_version="v1",
            label=label,
            score=0.9,
            claims=spans,
            rationale="Checked against the clip.",
        )
        chain.save(update_fields=["verdict"])


def seed(tmp_path: Path, real_videos: Path, users: dict[str, User], media_root: Path) -> Seeded:
    question = import_real_question(tmp_path, real_videos, dataset="Sounds")
    dataset = question.dataset
    teacher = GenerationRun.objects.create(
        dataset=dataset,
        model="/models/Qwen2.5-VL-7B-Instruct",
        prompt_version="teacher-v1",
        samples_per_question=4,
        status=RunStatus.SUCCEEDED,
        progress_done=2,
        progress_total=2,
        prompt_template="Listen and think.",
        sampling={"temperature": 1.0, "top_p": 0.95, "max_new_tokens": 256, "seed": 0},
    )
    _organ_chains(question, teacher)
    make_question(dataset, 2, chains=2, run=teacher, clip=question.clip, split="test")
    Chain.objects.filter(run=teacher, sample_index=3).update(kept=False, drop_reason="wrong_answer")
    # flag chips on the question and review pages (the test question above shares the clip: a split leak)
    Chain.objects.filter(question=question, sample_index=2).update(flags=VISUAL_ONLY | LUCKY_GUESS)
    validation = GenerationRun.objects.create(
        dataset=dataset,
        kind=GenerationRun.Kind.VALIDATION,
        source_run=teacher,
        model="/models/Qwen2-Audio-7B",
        status=RunStatus.SUCCEEDED,
        progress_done=6,
        progress_total=6,
    )
    first, second = Chain.objects.filter(question=question).order_by("sample_index")[:2]
    decisions.decide(users["curator"], first.pk, first.version, "accept")
    decisions.decide(users["curator"], second.pk, second.version, "flag", note="the engine is faint")
    carol = User.objects.create_user("carol", password="pw-carol")
    carol.groups.add(users["curator"].groups.get())
    flagged, _ = make_tie(make_study("study"), 3, users["curator"], carol, clip=question.clip)
    bulk = BulkAction.objects.create(
        action="accept",
        expected_count=2,
        applied_count=2,
        status=RunStatus.SUCCEEDED,
        filters={"dataset": dataset.slug, "verdict": "pass"},
        created_by=users["curator"],
    )
    export = media_root / "snapshots" / "1"
    export.mkdir(parents=True)
    (export / "sft.jsonl").write_text('{"id": "1"}\n')
    snapshot = DatasetSnapshot.objects.create(
        dataset=dataset,
        version=1,
        status=RunStatus.SUCCEEDED,
        chain_count=1,
        export_dir="snapshots/1",
        export_files=[{"name": "sft.jsonl", "bytes": 12, "rows": 1}],
        filters={"decision": "accepted"},
        provenance={
            "teacher_runs": [
                {
                    "run": teacher.pk,
                    "model": teacher.model,
                    "prompt_version": "teacher-v1",
                    "k": 4,
                    "sampling": {},
                    "chains": 1,
                }
            ]
        },
    )
    adapter = media_root / "runs" / "sft-1" / "final"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text('{"r": 8}')
    (adapter / "adapter_model.safetensors").write_bytes(b"\0" * 64)
    sft = TrainingRun.objects.create(
        stage="sft",
        base_model="/models/Qwen2-Audio-7B-Instruct",
        snapshot=snapshot,
        status=RunStatus.SUCCEEDED,
        checkpoint_path="runs/sft-1/final",
        config={"max_steps": 20, "learning_rate": 1e-4},
        progress_metrics={"loss": 0.73125, "total_flos": 110311557120.0},
    )
    grpo = TrainingRun.objects.create(
        stage="grpo",
        base_model=sft.base_model,
        snapshot=snapshot,
        parent=sft,
        status=RunStatus.RUNNING,
        progress_done=3,
        progress_total=10,
    )
    for run in (sft, grpo):
        MetricPoint.objects.bulk_create(
            [
                MetricPoint(run=run, step=s, name=n, value=1.0 / (s + i))
                for s in range(1, 6)
                for i, n in enumerate(METRICS)
            ]
        )
    (media_root / "runs" / "eval").mkdir(parents=True)
    (media_root / "runs" / "eval" / "predictions.jsonl").write_text(
        json.dumps(
            {
                "id": "1",
                "answer": "B",
                "completion": "<think>an engine</think><answer>B</answer>",
                "correct": True,
                "question_type": "Which",
            }
        )
        + "\n"
    )
    evaluations = [
        TrainingRun.objects.create(
            stage="eval",
            base_model=sft.base_model,
            parent=parent,
            name=label,
            status=RunStatus.SUCCEEDED,
            results={
                "accuracy": acc,
                "n": 40,
                "summary": _summary(acc),
                "predictions": "runs/eval/predictions.jsonl",
                "per_slice": {"question_type=Which": _summary(acc)},
            },
        )
        for label, parent, acc in (("pretrained", None, 0.5), ("after sft", sft, 0.7))
    ]
    return Seeded(
        dataset=dataset,
        question=question,
        teacher=teacher,
        validation=validation,
        bulk=bulk,
        imported=ImportRun.objects.get(),
        snapshot=snapshot,
        sft=sft,
        grpo=grpo,
        evaluations=evaluations,
        flagged=flagged,
    )
