"""Training pages for people: numbers they can read, runs compared by checkbox, the adapter as a zip download."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest
from django.test import Client

from webapp.core.templatetags.numbers import human
from webapp.training.models import TrainingRun

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (110311557120.0, "1.10e11"),
        (0.123456, "0.1235"),
        (12345, "12,345"),
        (12345.0, "12,345"),
        (1234.5678, "1,234.6"),
        (2.5e-05, "2.50e-5"),
        (0.0, "0"),
        (-0.731, "-0.731"),
        (3, "3"),
        (None, "—"),
        (True, "True"),
        ("cosine", "cosine"),
        (1e-4, "1.00e-4"),
        (0.75, "0.75"),
        (1_500_000, "1.50e6"),
    ],
)
def test_it_formats_numbers_for_people(value: object, shown: str) -> None:
    assert human(value) == shown


def test_it_shows_run_numbers_formatted_on_the_run_page(curator_client: Client, users) -> None:
    run = TrainingRun.objects.create(
        stage="grpo",
        base_model="tiny",
        status="running",
        progress_metrics={"total_flos": 110311557120.0, "loss": 0.731254},
        config={"learning_rate": 0.0001, "max_steps": 20000},
    )
    html = curator_client.get(f"/training/{run.pk}/").content.decode()
    assert "1.10e11" in html and "0.7313" in html and "20,000" in html and "1.00e-4" in html
    assert "110311557120" not in html


def _eval(name: str, acc: float) -> TrainingRun:
    summary = {"accuracy": acc, "ci_low": acc - 0.1, "ci_high": acc + 0.1, "n": 40}
    return TrainingRun.objects.create(
        stage="eval",
        base_model="tiny",
        name=name,
        status="succeeded",
        results={"accuracy": acc, "n": 40, "summary": summary, "per_slice": {}},
    )


def test_it_picks_runs_to_compare_with_checkboxes(curator_client: Client, users) -> None:
    a, b, c = _eval("a", 0.5), _eval("b", 0.6), _eval("c", 0.7)
    html = curator_client.get(f"/training/compare/?runs={a.pk}&runs={c.pk}").content.decode()
    assert "<select" not in html.split('id="compare-form"', 1)[1].split("</form>", 1)[0]
    for run, checked in ((a, True), (b, False), (c, True)):
        box = html.split(f'value="{run.pk}"', 1)
        assert 'type="checkbox"' in box[0].rsplit("<input", 1)[1] and ("checked" in box[1].split(">", 1)[0]) == checked


@pytest.fixture
def trained(media_root: Path, users) -> TrainingRun:
    adapter = media_root / "runs" / "sft-7" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text('{"r": 8, "lora_alpha": 16}')
    (adapter / "adapter_model.safetensors").write_bytes(os.urandom(300_000))
    (media_root / "runs" / "sft-7" / "checkpoint-10").mkdir()
    (media_root / "runs" / "sft-7" / "checkpoint-10" / "optimizer.pt").write_bytes(b"x" * 10)
    return TrainingRun.objects.create(
        stage="grpo",
        base_model="/models/student",
        status="succeeded",
        checkpoint_path="runs/sft-7/adapter",
        config={"max_steps": 10},
    )


def _zip(response) -> zipfile.ZipFile:  # type: ignore[no-untyped-def]
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def test_it_downloads_the_adapter_and_its_config_as_a_zip(
    curator_client: Client, trained: TrainingRun, media_root: Path
) -> None:
    page = curator_client.get(f"/training/{trained.pk}/").content.decode()
    assert f'href="/training/{trained.pk}/adapter.zip"' in page
    r = curator_client.get(f"/training/{trained.pk}/adapter.zip")
    assert r.status_code == 200 and r.streaming and r["Content-Type"] == "application/zip"
    assert f"grpo-{trained.pk}-adapter.zip" in r["Content-Disposition"]
    archive = _zip(r)
    assert sorted(archive.namelist()) == [
        "adapter/adapter_config.json",
        "adapter/adapter_model.safetensors",
        "sightsound-run.json",
    ]
    assert (
        archive.read("adapter/adapter_model.safetensors")
        == (media_root / "runs/sft-7/adapter/adapter_model.safetensors").read_bytes()
    )
    assert '"max_steps": 10' in archive.read("sightsound-run.json").decode()


def test_it_zips_only_the_runs_own_checkpoint_folder(
    curator_client: Client, trained: TrainingRun, media_root: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours")
    (media_root / "runs/sft-7/adapter/leak.txt").symlink_to(secret)
    (media_root / "runs/sft-7/adapter/up").symlink_to(media_root / "runs")
    names = _zip(curator_client.get(f"/training/{trained.pk}/adapter.zip")).namelist()
    assert not [n for n in names if "leak" in n or n.startswith("adapter/up")]
    for path in ("../outside", ".", "/etc", "runs/sft-7/adapter/adapter_config.json", "runs/none"):
        TrainingRun.objects.filter(pk=trained.pk).update(checkpoint_path=path)
        assert curator_client.get(f"/training/{trained.pk}/adapter.zip").status_code == 404, path


def test_it_lets_only_curators_download_an_adapter(
    client: Client, nobody_client: Client, curator_client: Client, trained: TrainingRun
) -> None:
    assert client.get(f"/training/{trained.pk}/adapter.zip").status_code == 302  # to the login page
    assert nobody_client.get(f"/training/{trained.pk}/adapter.zip").status_code == 403
    unfinished = TrainingRun.objects.create(stage="grpo", base_model="x", status="running")
    assert curator_client.get(f"/training/{unfinished.pk}/adapter.zip").status_code == 404
    assert "adapter.zip" not in curator_client.get(f"/training/{unfinished.pk}/").content.decode()
