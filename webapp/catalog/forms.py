"""Every input is validated here, GET filters included: bad input is a 400 with a message, never a 500."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django import forms
from django.conf import settings
from django.db.models import Q, QuerySet

from pipeline.datasets import AnnotationFileError
from pipeline.flags import FLAGS
from webapp.catalog.imports import preflight
from webapp.catalog.models import MAX_REVIEW_OVERLAP, Clip, Dataset, Question
from webapp.catalog.uploads import describe_size
from webapp.core.bitsets import flag_filter


class QuestionFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search")
    split = forms.ChoiceField(required=False, choices=[("", "any split"), *Question.SPLITS])
    question_type = forms.CharField(required=False, max_length=64, label="Type")
    question_relation = forms.CharField(required=False, max_length=64, label="Relation")
    clip_status = forms.ChoiceField(required=False, choices=[("", "any media"), *Clip.Status.choices], label="Media")
    flag = forms.ChoiceField(required=False, label="Chain flag", choices=[
        ("", "any chains"), *((name, f"a chain flagged {label}") for name, (_bit, label) in FLAGS.items()),
        ("any", "any flagged chain")])
    page = forms.IntegerField(required=False, min_value=1)

    def filter(self, qs: QuerySet[Question]) -> QuerySet[Question]:
        data = self.cleaned_data
        if data["q"]:
            qs = qs.filter(Q(text__icontains=data["q"]) | Q(external_id=data["q"]))
        if data["split"]:
            qs = qs.filter(split=data["split"])
        if data["question_type"]:
            qs = qs.filter(question_type=data["question_type"])
        if data["question_relation"]:
            qs = qs.filter(question_relation=data["question_relation"])
        if data["clip_status"]:
            qs = qs.filter(clip__status=data["clip_status"])
        if data["flag"]:
            qs = flag_filter(qs, "chains__flags", data["flag"], {n: bit for n, (bit, _label) in FLAGS.items()})
        return qs


def _allowed_media_dir(value: str) -> Path:
    path = Path(value).expanduser()
    if not path.is_absolute():
        raise forms.ValidationError("Give an absolute path on the server.")
    resolved = path.resolve()
    roots = [Path(r).resolve() for r in settings.IMPORT_ROOTS]
    if not any(resolved == r or r in resolved.parents for r in roots):
        allowed = ", ".join(str(r) for r in roots)
        raise forms.ValidationError(f"Media must be under an import root ({allowed}); set IMPORT_ROOTS to add one.")
    if not resolved.is_dir():
        raise forms.ValidationError(f"{resolved} is not a directory.")
    return resolved


class ImportForm(forms.Form):
    source_format = forms.ChoiceField(choices=Dataset.Format.choices, label="Format")
    dataset = forms.CharField(max_length=120, help_text="An existing dataset of this format, or a new name.")
    split = forms.ChoiceField(choices=Question.SPLITS, initial="train")
    annotations = forms.FileField(help_text="The annotation JSON file.")
    media_dir = forms.CharField(
        required=False, max_length=1000, label="Media directory on the server",
        help_text="Absolute path under an import root; the worker reads the media from there.",
    )
    allow_missing_media = forms.BooleanField(
        required=False, help_text="MMAU / MUSIC-AVQA: import rows without media, attach the media later."
    )

    def __init__(self, *args, refused_upload: str | None = None, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.refused_upload = refused_upload  # why the upload handler dropped the file while it arrived
        roots = ", ".join(str(r) for r in settings.IMPORT_ROOTS)
        self.fields["media_dir"].help_text = (
            f"Absolute path of a folder under an import root ({roots}): copy or link the media there; the worker "
            "reads it from that folder."
        )

    def clean_annotations(self):  # -> UploadedFile
        upload = self.cleaned_data["annotations"]
        if upload.size > settings.IMPORT_MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                f"Annotation files over {describe_size(settings.IMPORT_MAX_UPLOAD_BYTES)}: use the import command "
                "instead."
            )
        if not upload.name.lower().endswith(".json"):
            raise forms.ValidationError("Expected a .json annotation file.")
        return upload

    def clean_media_dir(self) -> Path | None:
        value = self.cleaned_data["media_dir"].strip()
        return _allowed_media_dir(value) if value else None

    def clean(self):  # -> dict
        data = super().clean()
        if self.refused_upload:  # the file never arrived: say why instead of "This field is required."
            self.errors.pop("annotations", None)
            self.add_error("annotations", self.refused_upload)
        if data.get("source_format") == Dataset.Format.AVQA and data.get("allow_missing_media"):
            self.add_error("allow_missing_media", "AVQA clips carry their media; missing media is an error.")
        if not data.get("media_dir") and not data.get("allow_missing_media") and "media_dir" not in self.errors:
            self.add_error("media_dir", "Give the media directory, or allow missing media.")
        if data.get("annotations") and data.get("source_format"):
            self._check_file(data)
        return data

    def _check_file(self, data: dict[str, Any]) -> None:
        """Read the uploaded file before anything is created: a broken file is reported here with its line and
        column whatever else is wrong with the form, and a file no row of which would land in a new dataset (wrong
        format, wrong media folder) is refused rather than leaving an empty dataset behind."""
        upload = data["annotations"]
        media_ok = "media_dir" not in self.errors and "allow_missing_media" not in self.errors
        try:
            upload.seek(0)
            problem = preflight(upload, data["source_format"], media_dir=data.get("media_dir"),
                                allow_missing_media=data.get("allow_missing_media") or not media_ok)
        except AnnotationFileError as exc:
            self.add_error("annotations", f"{upload.name} was not imported: {exc}")
            return
        finally:
            upload.seek(0)
        fresh = not Question.objects.filter(dataset__name=data.get("dataset", "")).exists()
        if problem and media_ok and fresh:
            self.add_error("annotations", f"{upload.name} was not imported: {problem}")


class ReviewOverlapForm(forms.ModelForm):
    """How many curators review each question of a dataset (admins; 2+ makes it a blind agreement study)."""

    review_overlap = forms.IntegerField(min_value=1, max_value=MAX_REVIEW_OVERLAP, label="Curators per question")

    class Meta:
        model = Dataset
        fields = ["review_overlap"]
