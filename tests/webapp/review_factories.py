"""Questions with chains and verdicts built directly in the database, for the review tests and the benchmark."""

from __future__ import annotations

from webapp.catalog.models import Clip, Dataset, Question
from webapp.curation.models import Chain, GenerationRun, Verdict

CHOICES = ["a dog", "a car", "a bell", "rain"]


def make_dataset(slug: str = "rev") -> Dataset:
    return Dataset.objects.create(name=slug, slug=slug, source_format="avqa")


def make_question(dataset: Dataset, n: int, *, chains: int = 2, run: GenerationRun | None = None,
                  clip: Clip | None = None, split: str = "train", question_type: str = "Which") -> Question:
    clip = clip or Clip.objects.create(dataset=dataset, name=f"clip{n}", kind="video", media_path=f"m/{n}.mp4",
                                       status="ready", duration=10.0)
    question = Question.objects.create(
        dataset=dataset, clip=clip, external_id=str(n), text=f"What makes sound {n}?", choices=CHOICES,
        answer_index=1, answer_text="a car", split=split, question_type=question_type, content_hash=str(n),
    )
    add_chains(question, chains, run=run)
    return question


def add_chains(question: Question, chains: int, run: GenerationRun | None = None) -> None:
    dataset = question.dataset
    run = run or GenerationRun.objects.filter(dataset=dataset).first() or GenerationRun.objects.create(dataset=dataset)
    for k in range(chains):
        text = f"<think>I hear an engine rev at 2 s, chain {k}.</think><answer>B</answer>"
        chain = Chain.objects.create(run=run, question=question, sample_index=k, text=text, parsed_answer=1,
                                     is_correct=True)
        chain.verdict = Verdict.objects.create(
            chain=chain, validator="lalm", validator_version="v1", label="pass" if k % 2 == 0 else "fail", score=0.9,
            claims=[{"text": "an engine rev", "verdict": "supported", "char_start": 17, "char_end": 27,
                     "spans": [[1.5, 3.0]]}])
        chain.save(update_fields=["verdict"])  # as a succeeded validation run leaves it: the verdict of record
