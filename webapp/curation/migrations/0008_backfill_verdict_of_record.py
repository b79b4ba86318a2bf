"""Backfill the verdict of record, and name the policy the existing validation runs used.

Each chain gets the deciding verdict of the newest validation run that succeeded on it (runs replayed in the order
they finished, so a later one overwrites an earlier one); a chain judged only by unfinished runs keeps none. Runs
made before the policy was a setting judged by the score policy (policy/v1), and their config now says so.
"""

from django.db import migrations
from django.db.models import Exists, OuterRef, Subquery

LEGACY_POLICY = {"policy": "score", "policy_version": "policy/v1", "pass_score": 0.75, "fail_score": 0.5,
                 "min_claims": 1}


def _deciding(validators: str) -> str:
    return "policy" if validators == "both" else validators  # pipeline.validate.deciding_validator, frozen here


def forwards(apps, schema_editor):
    GenerationRun = apps.get_model("curation", "GenerationRun")
    Chain = apps.get_model("curation", "Chain")
    Verdict = apps.get_model("curation", "Verdict")
    runs = GenerationRun.objects.filter(kind="validation")
    for run in runs.filter(status="succeeded").order_by("finished_at", "pk"):
        deciding = Verdict.objects.filter(chain=OuterRef("pk"), run=run,
                                          validator=_deciding(run.config.get("validators", "")))
        (Chain.objects.filter(run_id=run.source_run_id).filter(Exists(deciding))
         .update(verdict=Subquery(deciding.values("pk")[:1])))
    for run in runs:
        if "policy" not in run.config:
            run.config = {**run.config, **LEGACY_POLICY}
            run.save(update_fields=["config"])


def backwards(apps, schema_editor):
    apps.get_model("curation", "Chain").objects.update(verdict=None)


class Migration(migrations.Migration):
    dependencies = [("curation", "0007_verdict_of_record")]
    operations = [migrations.RunPython(forwards, backwards)]
