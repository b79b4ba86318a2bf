"""Questions with chains and verdicts built directly in the database, for the review tests and the benchmark."""

from __future__ import annotations

from django.contrib.auth.models import User

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


TIE_EDIT = "<think>I hear an engine rev at 2 s, then a horn.</think><answer>B</answer>"


def make_study(slug: str = "study", overlap: int = 2) -> Dataset:
    """A dataset reviewed as an agreement study: `overlap` curators per question."""
    dataset = make_dataset(slug)
    dataset.review_overlap = overlap
    dataset.save(update_fields=["review_overlap"])
    return dataset


def make_tie(study: Dataset, n: int, first: User, second: User, clip: Clip | None = None) -> tuple[Chain, Chain]:
    """A question of an overlap-2 study with two chains: on the first, `first` edits and `second` rejects (a tie, so
    flagged); the second both accept. Returns (tied, agreed), as the database has them now."""
    from webapp.curation.review import decide

    question = make_question(study, n, chains=2, clip=clip)
    tied, agreed = question.chains.order_by("sample_index")
    decide(first, tied.pk, 0, "edit", edited_text=TIE_EDIT)
    decide(first, agreed.pk, 0, "accept")
    decide(second, tied.pk, 0, "reject", reason="hallucinated-sound", note="there is <b>no</b> horn")
    decide(second, agreed.pk, 0, "accept")
    tied.refresh_from_db()
    agreed.refresh_from_db()
    return tied, agreed
