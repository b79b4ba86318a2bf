"""Dataset snapshots: freeze accepted chains (edits included) into immutable versions, export, download."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from tests.webapp.review_factories import make_dataset, make_question
from webapp.curation.models import Chain
from webapp.curation.review import claim, decide
from webapp.training.models import DatasetSnapshot

pytestmark = pytest.mark.django_db(transaction=True)

EDITED = "<think>A car engine revs, then fades.</think><answer>B</answer>"


def _curate(users, n_questions: int = 3, chains: int = 3) -> list[Chain]:
    """Accept chains 0 and 1 of every question, edit chain 0 of the first, reject the rest."""
    dataset = make_dataset("snap")
    curator = users["curator"]
    accepted = []
    for n in range(n_questions):
        q = make_question(dataset, n, chains=chains, split="train" if n else "test",
                          question_type="Which" if n < 2 else "Come From")
        claim(curator, q.pk)
        for chain in q.chains.order_by("sample_index"):
            if chain.sample_index == 0 and n == 0:
                decide(curator, chain.pk, chain.version, "edit", edited_text=EDITED, question_id=q.pk)
            elif chain.sample_index < 2:
                decide(curator, chain.pk, chain.version, "accept", question_id=q.pk)
            else:
                decide(curator, chain.pk, chain.version, "reject", question_id=q.pk)
            if chain.sample_index < 2:
                accepted.append(chain)
    return accepted


def _freeze(client: Client, run_worker, **data: object) -> DatasetSnapshot:
    from webapp.catalog.models import Dataset

    r = client.post("/snapshots/new/", {"dataset": Dataset.objects.get(slug="snap").pk, **data})
    assert r.status_code == 302, r.content.decode()[:2000]
    run_worker("default")
    snapshot = DatasetSnapshot.objects.latest("pk")
    assert snapshot.status == "succeeded", snapshot.error
    return snapshot


def test_it_freezes_only_accepted_chains_with_the_edited_text(users, admin_client: Client, run_worker) -> None:
    accepted = _curate(users)
    snapshot = _freeze(admin_client, run_worker)
    items = {i.chain_id: i for i in snapshot.items.all()}
    assert set(items) == {c.pk for c in accepted} and snapshot.chain_count == 6
    first = min(accepted, key=lambda c: (c.question_id, c.sample_index))
    assert items[first.pk].text == EDITED and items[first.pk].chain_version == 1
    assert snapshot.progress_done == snapshot.progress_total == 6
    curation = snapshot.provenance["curation"]
    assert curation["chains_edited"] == 1 and curation["curators"] == 1 and curation["reviews"] == 6
    assert snapshot.provenance["validators"]["verdicts"]


def test_its_card_says_when_the_chains_were_imported_from_a_file(users, admin_client: Client, run_worker) -> None:
    from webapp.core import storage
    from webapp.curation.models import GenerationRun

    accepted = _curate(users)
    GenerationRun.objects.filter(pk=accepted[0].run_id).update(kind="imported", model="big-lvlm-72b",
                                                                config={"source_name": "cluster-chains.jsonl"})
    snapshot = _freeze(admin_client, run_worker)
    (run,) = snapshot.provenance["teacher_runs"]
    assert (run["kind"], run["source_file"], run["model"]) == ("imported", "cluster-chains.jsonl", "big-lvlm-72b")
    card = (storage.resolve(snapshot.export_dir) / "README.md").read_text()
    assert '"kind": "imported"' in card and '"source_file": "cluster-chains.jsonl"' in card
    page = admin_client.get(f"/snapshots/{snapshot.pk}/").content.decode()
    assert f"imported run #{run['run']} (cluster-chains.jsonl)" in page


def test_it_applies_filters_and_the_per_question_cap(users, admin_client: Client, run_worker) -> None:
    _curate(users)
    snapshot = _freeze(admin_client, run_worker, split="train", question_type="Which", verdict_label="pass",
                       max_chains_per_question=1)
    # question 1 only (train + Which); of its accepted chains 0 (pass) and 1 (fail), only chain 0 passes
    assert snapshot.chain_count == 1
    assert snapshot.filters["split"] == "train" and snapshot.max_chains_per_question == 1


def test_it_leaves_flagged_chains_out_unless_their_flag_is_kept_and_the_card_counts_them(
        users, admin_client: Client, run_worker) -> None:
    from pipeline.flags import LUCKY_GUESS, RESTATING, VISUAL_ONLY
    from webapp.core import storage

    accepted = _curate(users)
    Chain.objects.filter(pk=accepted[0].pk).update(flags=VISUAL_ONLY | LUCKY_GUESS)
    Chain.objects.filter(pk=accepted[1].pk).update(flags=RESTATING)
    default = _freeze(admin_client, run_worker)
    assert default.chain_count == 4
    assert not default.items.filter(chain_id__in=[accepted[0].pk, accepted[1].pk]).exists()
    flags = default.provenance["flags"]
    assert flags == {"excluded": {"visual_only": 1, "restating": 1, "lucky_guess": 1}, "chains_left_out": 2,
                     "kept": []}
    card = (storage.resolve(default.export_dir) / "README.md").read_text()
    assert "2 accepted chains left out; flags kept: none." in card and "| visual_only | 1 |" in card
    chosen = _freeze(admin_client, run_worker, keep_flagged=["restating"])
    assert chosen.chain_count == 5 and chosen.items.filter(chain_id=accepted[1].pk).exists()
    assert chosen.provenance["flags"]["kept"] == ["restating"]
    assert "flags kept: restating." in (storage.resolve(chosen.export_dir) / "README.md").read_text()
    assert 'id="flagged-out">1' in admin_client.get(f"/snapshots/{chosen.pk}/").content.decode()


def test_it_is_immutable_and_versions_increment(users, admin_client: Client, run_worker) -> None:
    accepted = _curate(users)
    v1 = _freeze(admin_client, run_worker)
    chain = Chain.objects.get(pk=accepted[1].pk)
    claim(users["curator"], chain.question_id)
    decide(users["curator"], chain.pk, chain.version, "reject", question_id=chain.question_id)
    v2 = _freeze(admin_client, run_worker)
    assert (v1.version, v2.version) == (1, 2)
    assert v1.items.filter(chain_id=chain.pk).exists() and not v2.items.filter(chain_id=chain.pk).exists()
    assert v1.items.count() == 6 and v2.items.count() == 5
    assert (Path(v1.export_dir) != Path(v2.export_dir)) and v2.export_dir.endswith("/v2")


def test_it_exports_files_that_load_back(users, admin_client: Client, run_worker, media_root: Path) -> None:
    from datasets import load_dataset, load_from_disk

    _curate(users)
    snapshot = _freeze(admin_client, run_worker)
    root = media_root / snapshot.export_dir
    names = {f["name"] for f in snapshot.export_files}
    assert {"sft.jsonl", "sft_label_only.jsonl", "grpo.jsonl", "sft.parquet", "hf", "README.md"} <= names
    assert len(load_from_disk(str(root / "hf"))) == 6
    ds = load_dataset("parquet", data_files=str(root / "sft.parquet"), cache_dir=str(media_root / "hf-cache"))
    assert ds["train"].num_rows == 6
    card = (root / "README.md").read_text()
    assert "teacher_runs" not in card and "| Which | 2 |" in card and "chains_edited" in card
    assert EDITED in (root / "sft.jsonl").read_text()


def test_it_serves_downloads_to_curators_with_range(users, admin_client: Client, curator_client: Client,
                                                    nobody_client: Client, run_worker) -> None:
    _curate(users)
    snapshot = _freeze(admin_client, run_worker)
    url = f"/snapshots/{snapshot.pk}/files/grpo.jsonl"
    full = curator_client.get(url)
    assert full.status_code == 200 and b'"answer": "B"' in b"".join(full.streaming_content)
    part = curator_client.get(url, HTTP_RANGE="bytes=0-9")
    assert part.status_code == 206 and len(b"".join(part.streaming_content)) == 10
    assert nobody_client.get(url).status_code == 403
    assert curator_client.get(f"/snapshots/{snapshot.pk}/files/..%2Fsecret").status_code == 404
    assert curator_client.get(f"/snapshots/{snapshot.pk}/files/hf").status_code == 404


def test_it_lets_only_admins_freeze_and_rejects_bad_input(users, curator_client: Client,
                                                          admin_client: Client) -> None:
    _curate(users)
    from webapp.catalog.models import Dataset

    pk = Dataset.objects.get(slug="snap").pk
    assert curator_client.post("/snapshots/new/", {"dataset": pk}).status_code == 403
    assert admin_client.post("/snapshots/new/", {"dataset": pk, "max_chains_per_question": 0}).status_code == 400
    assert admin_client.post("/snapshots/new/", {"dataset": 999}).status_code == 400
    assert admin_client.post("/snapshots/new/", {"dataset": pk, "split": "nope"}).status_code == 400
    assert not DatasetSnapshot.objects.exists()
    assert curator_client.get("/snapshots/").status_code == 200


def test_it_exports_from_the_command(users, admin_client: Client, run_worker, tmp_path: Path) -> None:
    _curate(users)
    snapshot = _freeze(admin_client, run_worker)
    out = io.StringIO()
    call_command("export_snapshot", str(snapshot.pk), out=str(tmp_path / "elsewhere"), stdout=out)
    assert "sft.jsonl\t6 rows" in out.getvalue()
    assert len((tmp_path / "elsewhere" / "sft_label_only.jsonl").read_text().splitlines()) == 3


def test_it_gives_the_label_only_baseline_every_labelled_question_of_the_filter(
    users, admin_client: Client, run_worker, media_root: Path
) -> None:
    from webapp.catalog.models import Clip, Dataset

    _curate(users)  # questions 0 (test, Which), 1 (train, Which), 2 (train, Come From): accepted chains
    dataset = Dataset.objects.get(slug="snap")
    no_chains = make_question(dataset, 10, chains=0, split="train")
    rejected = make_question(dataset, 11, chains=1, split="train")
    rejected.chains.update(decision=Chain.Decision.REJECTED)
    open_ended = make_question(dataset, 12, chains=0, split="train")
    open_ended.__class__.objects.filter(pk=open_ended.pk).update(choices=[], answer_index=None, answer_text="two")
    unlabelled = make_question(dataset, 13, chains=0, split="train")
    unlabelled.__class__.objects.filter(pk=unlabelled.pk).update(choices=[], answer_index=None, answer_text="")
    unprocessed = make_question(dataset, 14, chains=0, split="train")
    Clip.objects.filter(pk=unprocessed.clip_id).update(status="pending")
    make_question(dataset, 15, chains=0, split="test")

    snapshot = _freeze(admin_client, run_worker, split="train")
    rows = [json.loads(line) for line in (media_root / snapshot.export_dir / "sft_label_only.jsonl").open()]
    chain_questions = {q for q in snapshot.items.values_list("chain__question__external_id", flat=True)}
    assert chain_questions == {"1", "2"}
    by_id = {r["question_id"]: r for r in rows}
    expected = {q.pk for q in dataset.questions.filter(external_id__in=["1", "2", "10", "11", "12"])}
    assert set(by_id) == expected and len(rows) == 5
    assert by_id[no_chains.pk]["messages"][-1]["content"][0]["text"] == "<answer>B</answer>"
    assert by_id[open_ended.pk]["messages"][-1]["content"][0]["text"] == "<answer>two</answer>"
    assert by_id[rejected.pk]["chain_id"] is None
    assert snapshot.export_file("sft_label_only.jsonl")["rows"] == 5
    assert len((media_root / snapshot.export_dir / "grpo.jsonl").read_text().splitlines()) == 2
    matched = [json.loads(line) for line in (media_root / snapshot.export_dir / "sft_label_only_matched.jsonl").open()]
    assert {r["question_id"] for r in matched} == {q.pk for q in dataset.questions.filter(external_id__in=["1", "2"])}

    # The label-only questions are frozen: a question imported later never joins this version's baselines.
    make_question(dataset, 16, chains=0, split="train")
    call_command("export_snapshot", str(snapshot.pk), "--out", str(media_root / "again"), stdout=io.StringIO())
    again = (media_root / "again" / "sft_label_only.jsonl").read_text().splitlines()
    assert {json.loads(line)["question_id"] for line in again} == expected
    assert snapshot.questions.count() == 5


def test_it_cancels_a_queued_build_and_resumes_it(users, admin_client: Client, curator_client: Client,
                                                  run_worker) -> None:
    from webapp.catalog.models import Dataset

    _curate(users)
    assert admin_client.post("/snapshots/new/", {"dataset": Dataset.objects.get(slug="snap").pk}).status_code == 302
    snapshot = DatasetSnapshot.objects.get()
    assert "/cancel/" in admin_client.get(f"/snapshots/{snapshot.pk}/").content.decode()
    assert curator_client.post(f"/snapshots/{snapshot.pk}/cancel/").status_code == 403
    assert admin_client.post(f"/snapshots/{snapshot.pk}/cancel/").status_code == 302
    run_worker("default")
    snapshot.refresh_from_db()
    assert snapshot.status == "cancelled" and not snapshot.items.exists() and not snapshot.export_files
    assert admin_client.post(f"/snapshots/{snapshot.pk}/cancel/").status_code == 400
    assert "/resume/" in admin_client.get(f"/snapshots/{snapshot.pk}/").content.decode()
    assert admin_client.post(f"/snapshots/{snapshot.pk}/resume/").status_code == 302
    run_worker("default")
    snapshot.refresh_from_db()
    assert snapshot.status == "succeeded" and snapshot.chain_count == 6


def test_it_resumes_a_snapshot_whose_worker_died(users, admin_client: Client, run_worker) -> None:
    import django_rq

    from webapp.catalog.models import Dataset
    from webapp.training import snapshots

    _curate(users)
    r = admin_client.post("/snapshots/new/", {"dataset": Dataset.objects.get(slug="snap").pk})
    assert r.status_code == 302
    snapshot = DatasetSnapshot.objects.get()
    snapshot.mark_running(snapshot.rq_job_id)
    snapshots._write_batch(snapshot, list(snapshots.candidate_chains(snapshot)[:4]))  # died after 4 chains
    django_rq.get_queue("default").connection.delete(f"rq:job:{snapshot.rq_job_id}")
    django_rq.get_queue("default").empty()
    admin_client.get(f"/snapshots/{snapshot.pk}/")
    snapshot.refresh_from_db()
    assert snapshot.status == "failed"
    assert admin_client.post(f"/snapshots/{snapshot.pk}/resume/").status_code == 302
    run_worker("default")
    snapshot.refresh_from_db()
    assert snapshot.status == "succeeded" and snapshot.items.count() == 6 == snapshot.chain_count


def test_it_never_freezes_a_dropped_chain_even_if_marked_accepted(users, admin_client: Client, run_worker) -> None:
    accepted = _curate(users)
    Chain.objects.filter(pk=accepted[0].pk).update(kept=False, drop_reason="not_majority")  # e.g. an old decision
    snapshot = _freeze(admin_client, run_worker)
    assert set(snapshot.items.values_list("chain_id", flat=True)) == {c.pk for c in accepted[1:]}


def test_it_exports_preference_pairs_from_edits_and_hallucination_rejections(users, admin_client: Client,
                                                                              run_worker, media_root: Path) -> None:
    """Question 0: an edit (and a plain rejection, no pair); question 1: a hallucination rejection; question 2: one
    that was undone and rejected again for another reason (no pair)."""
    from webapp.curation.review import undo

    _curate(users)  # accepts chains 0-1, edits chain 0 of question 0, rejects chain 2 of every question (no reason)
    curator = users["curator"]

    def redo(chain: Chain, reason: str) -> None:
        chain.refresh_from_db()
        undo(curator, chain.pk, chain.version, question_id=chain.question_id)
        chain.refresh_from_db()
        decide(curator, chain.pk, chain.version, "reject", reason=reason, question_id=chain.question_id)

    q1_bad, q2_bad = (Chain.objects.get(question__external_id=str(n), sample_index=2) for n in (1, 2))
    redo(q1_bad, "hallucinated-sound")
    redo(q2_bad, "hallucinated-sound")
    redo(q2_bad, "other")

    snapshot = _freeze(admin_client, run_worker)
    root = media_root / snapshot.export_dir
    rows = [json.loads(line) for line in (root / "preferences.jsonl").read_text().splitlines()]
    assert [(r["source"], r["rejected_chain_id"]) for r in rows] == [
        ("edit", Chain.objects.get(question__external_id="0", sample_index=0).pk), ("hallucination", q1_bad.pk)]
    edit, halluc = rows
    assert edit["chosen"][0]["content"][0]["text"] == EDITED
    assert edit["rejected"][0]["content"][0]["text"] != EDITED
    assert halluc["rejected"][0]["content"][0]["text"] == q1_bad.text
    assert halluc["prompt"][0]["content"][0]["type"] == "audio" and halluc["answer"]
    assert "preferences.jsonl" in {f["name"] for f in snapshot.export_files}
    card = (root / "README.md").read_text()
    assert "| edit | 1 |" in card and "| hallucination | 1 |" in card
