"""Chain flags stored on chains: computed by chain imports (and teacher runs), backfilled by a command, shown as
chips and filters, and kept out of snapshots unless chosen."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command

from pipeline.flags import LUCKY_GUESS, RESTATING, VISUAL_ONLY
from tests.webapp.review_factories import make_dataset, make_question
from webapp.catalog.models import Dataset
from webapp.curation.models import Chain

pytestmark = pytest.mark.django_db(transaction=True)

GROUNDED = ("<think>The car's hood is open. A low engine rumble can be heard, rising to a rev at 2 s, and no music "
            "plays.</think><answer>B</answer>")
VISUAL = ("<think>A red car is parked in a driveway with its hood open and a man leaning over it. The scene is a "
          "garage at dusk.</think><answer>B</answer>")
RESTATE = "<think>The thing making the sound is a car, so the answer is B, a car.</think><answer>B</answer>"
WRONG = "<think>A dog barks twice near the gate.</think><answer>A</answer>"


@pytest.fixture
def dataset(db) -> Dataset:
    ds = make_dataset()
    for n in (1, 2, 3):
        make_question(ds, n, chains=0)
    return ds


def _import(tmp_path: Path, dataset: Dataset, rows: list[dict[str, object]]) -> None:
    path = tmp_path / "chains.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    call_command("import_chains", str(path), dataset=dataset.name, model="m", now=True, stdout=io.StringIO())


def _flags(question: str) -> dict[str, int]:
    return {c.text: c.flags for c in Chain.objects.filter(question__external_id=question)}


def test_it_flags_imported_chains_visual_only_restating_and_lucky(tmp_path: Path, dataset: Dataset) -> None:
    rows = [
        {"id": "a", "question": "1", "chain": GROUNDED},
        {"id": "b", "question": "1", "chain": GROUNDED.replace("2 s", "3 s")},
        {"id": "c", "question": "2", "chain": VISUAL},
        {"id": "d", "question": "2", "chain": RESTATE},
        # question 3: right once in four samples, the rest wrong
        {"id": "e", "question": "3", "chain": GROUNDED},
        *({"id": f"w{k}", "question": "3", "chain": WRONG} for k in range(3)),
    ]
    _import(tmp_path, dataset, rows)
    assert set(_flags("1").values()) == {0}
    q2 = _flags("2")
    assert q2[VISUAL] & VISUAL_ONLY and not q2[VISUAL] & RESTATING
    assert q2[RESTATE] & RESTATING
    q3 = _flags("3")
    assert q3[GROUNDED] == LUCKY_GUESS and q3[WRONG] == 0


def test_it_backfills_the_flags_of_chains_stored_before_flags_existed(dataset: Dataset) -> None:
    question = dataset.questions.get(external_id="2")
    run = question.dataset.generation_runs.create()
    Chain.objects.create(run=run, question=question, sample_index=0, text=VISUAL, parsed_answer=1, is_correct=True)
    out = io.StringIO()
    call_command("flag_chains", dataset=dataset.name, stdout=out)
    assert Chain.objects.get(text=VISUAL).flags & VISUAL_ONLY
    assert "1 chains checked, 1 flagged" in out.getvalue()


def _flagged_question(dataset: Dataset) -> tuple[Chain, Chain]:
    """Question 2 with a visual-only chain and a clean one, flags as a run leaves them."""
    question = dataset.questions.get(external_id="2")
    run = dataset.generation_runs.create()
    visual = Chain.objects.create(run=run, question=question, sample_index=0, text=VISUAL, parsed_answer=1,
                                  is_correct=True, flags=VISUAL_ONLY)
    clean = Chain.objects.create(run=run, question=question, sample_index=1, text=GROUNDED, parsed_answer=1,
                                 is_correct=True)
    return visual, clean


def test_it_shows_flag_chips_on_the_question_and_review_pages(curator_client, dataset: Dataset) -> None:  # type: ignore[no-untyped-def]
    visual, _clean = _flagged_question(dataset)
    for url in (f"/questions/{visual.question_id}/", f"/review/q/{visual.question_id}/"):
        html = curator_client.get(url).content.decode()
        assert html.count("chain-flag flag-visual_only") == 1, url
        assert "visual-only reasoning" in html


def test_it_filters_the_review_queue_and_the_question_list_by_flag(curator_client, dataset: Dataset) -> None:  # type: ignore[no-untyped-def]
    visual, clean = _flagged_question(dataset)
    flagged = curator_client.get("/review/", {"flag": "visual_only"}).context["page"]
    assert [c.pk for c in flagged] == [visual.pk]
    unflagged = curator_client.get("/review/", {"flag": "none", "dataset": dataset.slug}).context["page"]
    assert clean.pk in [c.pk for c in unflagged] and visual.pk not in [c.pk for c in unflagged]
    assert [c.pk for c in curator_client.get("/review/", {"flag": "restating"}).context["page"]] == []
    questions = curator_client.get(f"/datasets/{dataset.slug}/", {"flag": "any"}).context["page"]
    assert [q.external_id for q in questions] == ["2"]
    assert curator_client.get("/review/", {"flag": "bogus"}).status_code == 400


@pytest.fixture
def picture_only_server() -> object:
    """A real OpenAI-compatible HTTP server on 127.0.0.1 whose every sample describes the frames and answers A."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            payload = {"choices": [{"index": i, "finish_reason": "stop", "logprobs": None, "message": {
                "content": VISUAL.replace("<answer>B</answer>", "<answer>A</answer>")}}
                for i in range(body.get("n") or 1)], "usage": {"prompt_tokens": 10}}
            data = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_a_teacher_run_flags_its_chains_when_they_are_stored(  # type: ignore[no-untyped-def]
        admin_client, settings, real_videos: Path, run_worker, picture_only_server: str) -> None:
    from tests.webapp.conftest import ANNOTATIONS
    from webapp.curation.models import GenerationRun

    settings.MODEL_SERVER_PRIVATE_HOSTS = ["127.0.0.1"]
    call_command("import_avqa", str(ANNOTATIONS / "avqa_real.json"), videos=str(real_videos), dataset="AVQA sample",
                 process_now=True, stdout=io.StringIO(), stderr=io.StringIO())
    r = admin_client.post("/runs/new/", {
        "dataset": Dataset.objects.get().pk, "model": "served", "backend": "openai", "endpoint": picture_only_server,
        "server_kind": "vllm", "prompt_version": "teacher-v1", "k": 2, "temperature": 1.0, "top_p": 1.0,
        "max_new_tokens": 64, "seed": 0, "limit": 2})
    assert r.status_code == 302, r.content.decode()[:2000]
    run_worker("default")  # a run behind an HTTP server is CPU work
    run = GenerationRun.objects.get(kind="teacher")
    assert run.status == "succeeded", run.error
    chains = Chain.objects.filter(run=run)
    assert chains.count() == 4 and {c.flags & VISUAL_ONLY for c in chains} == {VISUAL_ONLY}
