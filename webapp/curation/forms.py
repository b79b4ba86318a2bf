"""Launch forms for teacher generation and validation runs; every field bounded and validated."""

from __future__ import annotations

from typing import ClassVar

from django import forms
from django.conf import settings

from webapp.catalog.models import Dataset, Question
from webapp.core.forms import SectionedForm
from webapp.curation.models import GenerationRun

BACKENDS = [("transformers", "transformers generate (in the worker)"), ("vllm", "vLLM (in the worker)"),
            ("openai", "OpenAI-compatible server (vllm serve, hosted API)")]
SERVER_KINDS = [("vllm", "vLLM server (top_k, repetition penalty)"), ("openai", "strict OpenAI API")]


class EndpointFields(SectionedForm):
    """Where an `openai` backend sends requests; the API key itself stays in the worker's environment."""

    ENDPOINT_FIELDS: ClassVar[list[str]] = ["endpoint", "server_kind", "api_key_env"]

    endpoint = forms.CharField(required=False, max_length=500,
                               help_text="OpenAI-compatible base URL ending in /v1 (openai backend only).")
    server_kind = forms.ChoiceField(required=False, choices=SERVER_KINDS, initial="vllm")
    api_key_env = forms.ChoiceField(required=False, choices=(),
                                    help_text="Environment variable on the worker that holds the API key "
                                              "(the deployment's MODEL_SERVER_KEY_ENVS).")
    backend_field = "backend"

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.fields["api_key_env"].choices = [(name, name) for name in settings.MODEL_SERVER_KEY_ENVS]
        self.fields["api_key_env"].initial = (settings.MODEL_SERVER_KEY_ENVS or [""])[0]

    def clean_endpoint(self) -> str:
        """http(s)://host[:port]/path; bare internal host names (gpu-box) are fine, unlike Django's URLField."""
        from urllib.parse import urlsplit

        value = (self.cleaned_data.get("endpoint") or "").strip()
        if not value:
            return ""
        parts = urlsplit(value)
        try:
            parts.port  # noqa: B018 - raises on a malformed port
        except ValueError:
            parts = parts._replace(netloc="")
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise forms.ValidationError("Give the server's base URL, e.g. http://gpu-box:8000/v1.")
        return value.rstrip("/")

    def backend_options(self) -> dict[str, str]:
        data = self.cleaned_data
        if data.get(self.backend_field) != "openai":
            return {}
        return {"base_url": data["endpoint"], "server": data.get("server_kind") or "vllm",
                "api_key_env": data.get("api_key_env") or (settings.MODEL_SERVER_KEY_ENVS or [""])[0]}

    def clean(self):  # type: ignore[no-untyped-def]
        data = super().clean()
        if data.get(self.backend_field) == "openai" and not data.get("endpoint"):
            self.add_error("endpoint", "The OpenAI-compatible backend needs the server's base URL.")
        return data
VALIDATORS = [("sound-events", "Sound-event grounding (YAMNet, CPU)"), ("lalm", "LALM judge (audio model)"),
              ("both", "Both, combined by policy")]


def _prompt_choices() -> list[tuple[str, str]]:
    from pipeline.prompts import PROMPTS

    return [(v, v) for v in PROMPTS]


class GenerationRunForm(EndpointFields):
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.all())
    split = forms.ChoiceField(required=False, choices=[("", "every split"), *Question.SPLITS])
    question_type = forms.CharField(required=False, max_length=64, help_text="Only this question type (optional).")
    limit = forms.IntegerField(required=False, min_value=1, max_value=1_000_000,
                               help_text="At most this many questions.")
    model = forms.CharField(max_length=500, help_text="Teacher LVLM: local path or hub id.")
    backend = forms.ChoiceField(choices=BACKENDS)
    prompt_version = forms.ChoiceField(choices=())
    k = forms.IntegerField(min_value=1, max_value=64, initial=4, label="K (samples per question)")
    temperature = forms.FloatField(min_value=0.0, max_value=2.0, initial=1.0)
    top_p = forms.FloatField(min_value=0.01, max_value=1.0, initial=0.95)
    max_new_tokens = forms.IntegerField(min_value=8, max_value=8192, help_text="A chain cut short has no answer.")
    seed = forms.IntegerField(min_value=0, max_value=2**31 - 1, initial=0)
    majority_only = forms.BooleanField(required=False, help_text="Keep only chains that agree with the majority.")
    min_agreement = forms.FloatField(required=False, min_value=0.0, max_value=1.0, initial=0.0,
                                     help_text="Drop chains whose answer fewer than this share of the K samples give "
                                               "(0.25 drops a question right 1 time in 8: a lucky guess). 0 = off.")
    validate_after = forms.ChoiceField(required=False, choices=[("", "no"), *VALIDATORS],
                                       help_text="Chain a validation run when generation finishes.")

    sections: ClassVar[list[tuple[str, list[str]]]] = [
        ("Data", ["dataset", "split", "question_type", "limit"]),
        ("Teacher", ["model", "backend", *EndpointFields.ENDPOINT_FIELDS, "prompt_version"]),
        ("Sampling", ["k", "temperature", "top_p", "max_new_tokens", "seed"]),
        ("Selection and next step", ["majority_only", "min_agreement", "validate_after"]),
    ]
    shown_when: ClassVar[dict[str, tuple[str, tuple[str, ...]]]] = {
        name: ("backend", ("openai",)) for name in EndpointFields.ENDPOINT_FIELDS
    }

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.preselect("dataset", Dataset.objects.all())
        self.fields["prompt_version"].choices = _prompt_choices()
        self.fields["model"].initial = settings.TEACHER_MODEL
        from pipeline.teacher import TeacherConfig

        self.fields["max_new_tokens"].initial = TeacherConfig.__dataclass_fields__["max_new_tokens"].default


class ValidationRunForm(EndpointFields):
    source_run = forms.ModelChoiceField(
        queryset=GenerationRun.objects.filter(kind__in=(GenerationRun.Kind.TEACHER, GenerationRun.Kind.IMPORTED)),
        label="Chains of (teacher or imported run)",
    )
    validators = forms.ChoiceField(choices=VALIDATORS, initial="sound-events")
    judge_model = forms.CharField(max_length=500, required=False,
                                  help_text="Audio model for the LALM judge (the served model name for openai).")
    judge_backend = forms.ChoiceField(choices=BACKENDS, initial="transformers")
    include_dropped = forms.BooleanField(required=False, help_text="Also judge chains the teacher policy dropped.")
    policy = forms.ChoiceField(
        choices=[("any-contradiction", "any contradicted sound claim fails the chain"),
                 ("score", "score: pass at ≥ 0.75 supported, fail at ≤ 0.5")],
        initial="any-contradiction", required=False, help_text="How claim verdicts become the chain's verdict.")

    backend_field = "judge_backend"
    sections: ClassVar[list[tuple[str, list[str]]]] = [
        ("Chains", ["source_run", "include_dropped"]),
        ("Validators", ["validators", "policy"]),
        ("Judge", ["judge_model", "judge_backend", *EndpointFields.ENDPOINT_FIELDS]),
    ]
    shown_when: ClassVar[dict[str, tuple[str, tuple[str, ...]]]] = {
        **{name: ("judge_backend", ("openai",)) for name in EndpointFields.ENDPOINT_FIELDS},
        "judge_model": ("validators", ("lalm", "both")), "judge_backend": ("validators", ("lalm", "both")),
    }

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.preselect("source_run", GenerationRun.objects.filter(kind=GenerationRun.Kind.TEACHER,
                                                                  status="succeeded"))
        self.fields["judge_model"].initial = settings.VALIDATOR_MODEL

    def clean(self):  # type: ignore[no-untyped-def]
        data = super().clean()
        if data.get("validators") in {"lalm", "both"} and not data.get("judge_model"):
            self.add_error("judge_model", "The LALM judge needs an audio model.")
        data["policy"] = data.get("policy") or "any-contradiction"  # the default when a client leaves it out
        return data


class ChainImportForm(forms.Form):
    """A chains JSONL generated elsewhere, with the provenance the run records (blank: what the rows claim)."""

    dataset = forms.ModelChoiceField(queryset=Dataset.objects.all())
    chains = forms.FileField(label="Chains file", help_text="JSONL: pipeline.teacher output, or {id, question, chain} "
                                                            "per line (docs/curation.md).")
    model = forms.CharField(required=False, max_length=500, label="Model that wrote them",
                            help_text="As claimed by whoever generated the file; blank: the rows' `model`.")
    prompt_version = forms.CharField(required=False, max_length=64,
                                     help_text="Blank: the rows' `prompt_version`.")
    prompt = forms.CharField(required=False, max_length=20_000, widget=forms.Textarea(attrs={"rows": 4}),
                             help_text="The prompt they were generated with, for the record.")
    validate_after = forms.ChoiceField(required=False, choices=[("", "no"), *VALIDATORS],
                                       help_text="Chain a validation run when the import finishes.")

    def __init__(self, *args, refused_upload: str | None = None, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.refused_upload = refused_upload

    def clean(self):  # type: ignore[no-untyped-def]
        data = super().clean()
        if self.refused_upload:  # the file never arrived: say why instead of "This field is required."
            self.errors.pop("chains", None)
            self.add_error("chains", self.refused_upload)
        return data
