"""Every review input is validated here, GET filters included: bad input is a 400 with a message, never a 500."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Exists, OuterRef, QuerySet
from django.forms.models import ModelChoiceIterator
from django.http import QueryDict

from webapp.catalog.models import Dataset, Question
from webapp.core.prepared import Prepared
from webapp.curation.flags import CHOICES as FLAG_CHOICES
from webapp.curation.flags import with_flag
from webapp.curation.models import BulkAction, Chain, Review, StudentMiss, Verdict
from webapp.curation.record import disagrees, with_verdict
from webapp.curation.review.blind import hide_open_consensus, visible_reviews
from webapp.curation.review.decisions import REJECT_REASONS
from webapp.curation.review.queue import held_question, pending_chains

FILTER_FIELDS = ("dataset", "split", "question_type", "question_relation", "verdict", "validator_version",
                 "decision", "correct", "flag", "curator", "q", "disagree", "hard")


def deciders(user: AbstractBaseUser | None, dataset_slug: str | None) -> QuerySet[Any]:
    """Whom the curator filter offers: the people with a decision this user may see (in the dataset, if one is
    chosen); to a curator in a blind study under way, no other curator of it."""
    reviews = visible_reviews(user)
    if dataset_slug:
        reviews = reviews.filter(chain__question__dataset__slug=dataset_slug)
    return get_user_model().objects.filter(pk__in=reviews.values("curator")).order_by("username")


class _LazyChoices(ModelChoiceIterator):
    """Choices that read the field's queryset when iterated, not when the widget is given them."""

    def __init__(self, field: forms.ModelChoiceField) -> None:
        self.field = field

    @property
    def queryset(self) -> QuerySet[Any]:  # type: ignore[override]
        return self.field.queryset  # type: ignore[return-value]


class DecidersField(forms.ModelChoiceField):
    """The curator filter, whose choices (`deciders`) are built when first needed: to show the select (the queue
    page) or to check a curator given. Next item, item page and decision never need them, and building them ran a
    query (blind.studies_under_way) and took a fifth of a next-item request's CPU."""

    iterator = _LazyChoices
    build: Callable[[], QuerySet[Any]] | None = None  # makes the queryset when it is first read

    def _get_queryset(self) -> QuerySet[Any] | None:
        if self.build is not None:
            self._set_queryset(self.build())
        return self._queryset

    def _set_queryset(self, queryset: QuerySet[Any] | None) -> None:
        self.build = None
        super()._set_queryset(queryset)

    queryset = property(_get_queryset, _set_queryset)


class ReviewFilterForm(forms.Form):
    dataset = forms.ModelChoiceField(Dataset.objects.all(), required=False, to_field_name="slug",
                                     empty_label="any dataset")
    split = forms.ChoiceField(required=False, choices=[("", "any split"), *Question.SPLITS])
    question_type = forms.CharField(required=False, max_length=64, label="Type")
    question_relation = forms.CharField(required=False, max_length=64, label="Relation")
    verdict = forms.ChoiceField(required=False, choices=[("", "any verdict"), *Verdict.Label.choices,
                                                         ("none", "no verdict")], label="Verdict of record")
    validator_version = forms.CharField(required=False, max_length=255, label="Validator version")
    decision = forms.ChoiceField(required=False, choices=[("", "pending (queue)"), *Chain.Decision.choices,
                                                          ("any", "any decision")])
    correct = forms.ChoiceField(required=False, choices=[("", "any answer"), ("yes", "correct"),
                                                         ("no", "wrong"), ("none", "no answer")])
    flag = forms.ChoiceField(required=False, choices=[("", "any flags"), *FLAG_CHOICES, ("any", "any flag"),
                                                      ("none", "no flag")], label="Flag")
    curator = DecidersField(get_user_model().objects.none(), required=False, to_field_name="username",
                            empty_label="any curator")
    q = forms.CharField(required=False, max_length=200, label="Text search")
    disagree = forms.BooleanField(required=False, label="Validator and curator disagree")
    hard = forms.IntegerField(required=False, min_value=1, label="Student missed in evaluation #",
                              help_text="Questions an evaluation's student got wrong, sent back to review.")
    page = forms.IntegerField(required=False, min_value=1)

    def __init__(self, *args: Any, user: AbstractBaseUser | None = None, **kwargs: Any) -> None:
        """`user`: whose view this is (None: a job re-running a filter checked when it was queued)."""
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["curator"].build = lambda: deciders(user, self.data.get("dataset"))  # type: ignore[attr-defined]

    def chains(self) -> QuerySet[Chain]:
        """The chains the filter selects; with no decision given, the review queue (pending, kept)."""
        data = self.cleaned_data
        decided_view = data["decision"] or data["disagree"]  # disagreement needs a decision to disagree with
        qs = hide_open_consensus(self.user, Chain.objects.filter(kept=True)) if decided_view else pending_chains()
        if data["decision"] and data["decision"] != "any":
            qs = qs.filter(decision=data["decision"])
        if data["dataset"]:
            qs = qs.filter(question__dataset=data["dataset"])
        else:  # an archived dataset is reviewed only when chosen by name
            qs = qs.exclude(question__dataset__archived=True)
        for name in ("split", "question_type", "question_relation"):
            if data[name]:
                qs = qs.filter(**{f"question__{name}": data[name]})
        # verdicts: the chain's verdict of record only (record.py), never "any stored verdict"
        if data["validator_version"]:
            qs = qs.filter(verdict__validator_version=data["validator_version"])
        if data["verdict"]:
            qs = with_verdict(qs, data["verdict"])
        if data["correct"]:
            qs = qs.filter(is_correct={"yes": True, "no": False, "none": None}[data["correct"]])
        if data["flag"]:
            qs = with_flag(qs, data["flag"])
        if data["curator"]:
            mine = Review.objects.filter(chain=OuterRef("pk"), curator=data["curator"])
            qs = qs.filter(Exists(visible_reviews(self.user, mine)))
        if data["q"]:
            qs = qs.filter(text__icontains=data["q"])
        if data["disagree"]:
            qs = disagrees(qs)
        if data["hard"]:
            qs = qs.filter(Exists(StudentMiss.objects.filter(question=OuterRef("question"),
                                                             evaluation_id=data["hard"])))
        return qs

    def is_unfiltered(self) -> bool:
        return not _has_filter(self.data)

    def query(self) -> str:
        """The filter as a query string (page dropped), carried from page to page and through every POST."""
        data = QueryDict(mutable=True)
        for name in FILTER_FIELDS:
            value = self.data.get(name)
            if value not in (None, ""):
                data[name] = value
        return data.urlencode()

    def stored(self) -> dict[str, Any]:
        return {name: self.data.get(name) for name in FILTER_FIELDS if self.data.get(name) not in (None, "")}


def filter_form_from_query(query: str, user: AbstractBaseUser | None = None) -> ReviewFilterForm:
    return ReviewFilterForm(QueryDict(query), user=user)


_unfiltered: ReviewFilterForm | None = None


def _has_filter(data: QueryDict) -> bool:
    return any(data.get(name) not in (None, "") for name in ReviewFilterForm.base_fields)


def queue_filter(data: QueryDict, user: AbstractBaseUser | None = None) -> ReviewFilterForm:
    """The filter of a page that reads it but never shows it (next item, item page, decisions): with no filter
    given, the usual case, a copy of one validated empty form, not a new one. Building the form (a deep copy of
    its fifteen fields) and cleaning it was a tenth of a next-item request's CPU (bench/review_cpu.py).

    The copy shares the fields and the cleaned data of the empty form: neither may be changed, and the form must
    not be rendered (its curator choices were built for no user). Any filter value takes the full form, so bad
    input is refused exactly as before."""
    global _unfiltered
    if _has_filter(data):
        return ReviewFilterForm(data, user=user)
    if _unfiltered is None:
        empty = ReviewFilterForm(QueryDict())
        assert empty.is_valid(), empty.errors  # noqa: S101 - an empty filter is the whole queue
        _unfiltered = empty
    form = copy.copy(_unfiltered)
    form.user = user
    return form


def _held_in_whole_queue(user_id: int, now: datetime) -> QuerySet[Question]:
    return held_question(user_id, now, queue_filter(QueryDict()).chains())


HELD_IN_WHOLE_QUEUE = Prepared[Question](_held_in_whole_queue, "int", "time")


def held_lookup(form: ReviewFilterForm) -> Prepared[Question] | None:
    """The prepared held-question lookup (queue.held_question) for an unfiltered queue, else None (built anew)."""
    return HELD_IN_WHOLE_QUEUE if form.is_unfiltered() else None


def _check_reason_and_text(form: forms.Form, data: dict[str, Any]) -> None:
    """A reject needs a reason, an edit a text: the decision and ruling forms both ask."""
    if data.get("action") == "reject" and not data.get("reason"):
        form.add_error("reason", "Choose a reason to reject.")
    if data.get("action") == "edit" and not data.get("text", "").strip():
        form.add_error("text", "The edited text is empty.")


class SharedFields(dict):
    """A form class's fields, shared by its instances: Django deep-copies `base_fields` into every form so that one
    form's fields may be changed, and for a decision (six fields, two with choices) that copy was 3 % of the
    request's CPU (bench/review_cpu.py). Only for forms whose fields nothing changes, rendered or not."""

    def __deepcopy__(self, memo: dict[int, object]) -> SharedFields:
        return self


class DecisionForm(forms.Form):
    action = forms.ChoiceField(choices=[(a, a) for a in ("accept", "reject", "edit", "flag")])
    version = forms.IntegerField(min_value=0)
    reason = forms.ChoiceField(required=False, choices=[("", "—"), *REJECT_REASONS])
    note = forms.CharField(required=False, max_length=2000)
    text = forms.CharField(required=False, max_length=50_000, strip=False)
    queue = forms.CharField(required=False, max_length=2000)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        _check_reason_and_text(self, data)
        if data.get("action") == "reject" and data.get("reason") == "other" and not data.get("note", "").strip():
            self.add_error("note", "Say why in the note when the reason is 'other'.")
        return data


DecisionForm.base_fields = SharedFields(DecisionForm.base_fields)


class UndoForm(forms.Form):
    version = forms.IntegerField(min_value=0)
    queue = forms.CharField(required=False, max_length=2000)


class NextForm(forms.Form):
    after = forms.IntegerField(required=False, min_value=1)


class BulkForm(forms.Form):
    action = forms.ChoiceField(choices=BulkAction.Action.choices)
    reason = forms.ChoiceField(required=False, choices=[("", "—"), *REJECT_REASONS])
    note = forms.CharField(required=False, max_length=2000)
    queue = forms.CharField(required=False, max_length=2000)
    confirm = forms.IntegerField(required=False, min_value=0, help_text="The count the curator was shown.")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("action") == "reject" and not data.get("reason"):
            self.add_error("reason", "Choose a reason to reject.")
        return data


class ReviewOrderForm(forms.ModelForm):
    """Which question the queue serves next in a dataset (admins): likely hallucinations first, or import order."""

    class Meta:
        model = Dataset
        fields = ["review_order"]


class RulingForm(forms.Form):
    """An admin's ruling on a flagged chain (adjudication.rule): accept, reject with a reason, or accept an edit."""

    action = forms.ChoiceField(choices=[("accept", "Accept the teacher's text"), ("reject", "Reject"),
                                        ("edit", "Accept this edit")])
    version = forms.IntegerField(min_value=0)
    reason = forms.ChoiceField(required=False, choices=[("", "—"), *REJECT_REASONS])
    note = forms.CharField(max_length=2000, label="Why (the ruling's reason)")
    text = forms.CharField(required=False, max_length=50_000, strip=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        _check_reason_and_text(self, data)
        return data
