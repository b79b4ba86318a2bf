"""Teacher stage: selection policy on hand-made completions, streaming/resume, and the CLI on the tiny VL model."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
from PIL import Image

from pipeline import teacher, tiny
from pipeline.backends import Backend, Completion, GenerationRequest, GenerationResult
from pipeline.synth import write_av_clip
from pipeline.teacher import QuestionChains, TeacherConfig, TeacherItem, generate_chains, select_chains

CHOICES = ("cat", "dog", "cow", "siren")
GOOD = "<think>A steady bark repeats twice, loud and close.</think><answer>B</answer>"


def _c(text: str) -> Completion:
    return Completion(text=text, n_tokens=len(text.split()), finish_reason="stop", logprob=-1.0)


def _item(i: int = 0, answer: int | None = 1, choices: tuple[str, ...] = CHOICES, text: str = "") -> TeacherItem:
    frames = np.zeros((2, 56, 56, 3), dtype=np.uint8)
    return TeacherItem(id=f"q{i}", question="What is making the sound?", choices=choices, answer_index=answer,
                       answer_text=text or (choices[answer] if answer is not None else ""), frames=frames, fps=1.0)


class ScriptedBackend:
    """Implements the Backend protocol only: returns scripted texts, records what it was asked."""

    name = "scripted"

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = list(texts)
        self.calls: list[list[str]] = []

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        self.calls.append([r.request_id for r in requests])
        return [GenerationResult(r.request_id, 10, [_c(self.texts[j % len(self.texts)]) for j in range(r.n)])
                for r in requests]

    def close(self) -> None:
        pass


def _reasons(qc: QuestionChains) -> list[str]:
    return [c.drop_reason for c in qc.chains]


def test_it_keeps_label_matching_chains_and_says_why_others_drop() -> None:
    texts = [
        GOOD,
        "<think>It meows softly.</think><answer>A</answer>",
        "<think>Hmm, maybe a bark or a moo",  # truncated, no answer
        "The answer is B",  # right answer, no think block
        "<think>A steady bark repeats twice, loud and close.</think><answer>B</answer>",  # exact duplicate
        "<think>A steady bark repeats twice, loud and close!</think> <answer>(B)</answer>",  # near duplicate
        "<think>Two sharp barks from a dog nearby, then silence.</think><answer>dog</answer>",
    ]
    cfg = TeacherConfig(model="unused", k=len(texts))
    qc = select_chains(_item(), [_c(t) for t in texts], cfg)
    assert _reasons(qc) == ["", "wrong_answer", "no_answer", "bad_format", "duplicate", "duplicate", ""]
    assert [c.kept for c in qc.chains] == [True, False, False, False, False, False, True]
    assert [c.is_correct for c in qc.chains] == [True, False, False, True, True, True, True]
    assert [c.parsed_answer for c in qc.chains] == [1, 0, None, 1, 1, 1, 1]
    assert qc.majority_answer == 1 and qc.agreement == pytest.approx(5 / 6)
    assert [c.sample_index for c in qc.chains] == list(range(7))


def test_it_keeps_near_duplicates_when_dedupe_is_off_and_uses_the_threshold() -> None:
    texts = [GOOD, GOOD.replace("loud and close", "loud and close by")]  # Jaccard 0.92
    assert _reasons(select_chains(_item(), [_c(t) for t in texts], TeacherConfig(model="m", dedupe=False))) == ["", ""]
    strict = TeacherConfig(model="m", near_duplicate_threshold=1.0)
    assert _reasons(select_chains(_item(), [_c(t) for t in texts], strict)) == ["", ""]
    assert _reasons(select_chains(_item(), [_c(t) for t in texts], TeacherConfig(model="m"))) == ["", "duplicate"]


def test_it_applies_majority_only_and_prefers_the_label_on_ties() -> None:
    a = "<think>Meowing, high pitched.</think><answer>A</answer>"
    b1 = "<think>Barking, loud.</think><answer>B</answer>"
    b2 = "<think>A dog barks twice in the yard.</think><answer>B</answer>"
    c = "<think>A low moo, long.</think><answer>C</answer>"
    cfg = TeacherConfig(model="m", majority_only=True)
    # label A is in the minority: the label-matching chain is dropped for disagreeing with the majority
    qc = select_chains(_item(answer=0), [_c(t) for t in (a, b1, b2, c)], cfg)
    assert qc.majority_answer == 1 and _reasons(qc) == ["not_majority", "wrong_answer", "wrong_answer",
                                                        "wrong_answer"]
    # a 2-2 tie between A and B resolves to the label B
    qc = select_chains(_item(answer=1), [_c(t) for t in (a, b1, a, b2)], cfg)
    assert qc.majority_answer == 1 and qc.agreement == 0.5 and _reasons(qc) == ["wrong_answer", "", "wrong_answer",
                                                                                ""]


def test_it_uses_the_majority_for_unlabeled_and_open_questions() -> None:
    cfg = TeacherConfig(model="m")
    texts = [GOOD, "<think>Woof woof, a small dog far away.</think><answer>B</answer>",
             "<think>Meow.</think><answer>A</answer>"]
    qc = select_chains(_item(answer=None), [_c(t) for t in texts], cfg)
    assert _reasons(qc) == ["", "", "not_majority"] and [c.is_correct for c in qc.chains] == [None] * 3
    open_item = _item(answer=None, choices=(), text="Church bell")
    texts = ["<think>Deep ringing, slow.</think><answer>church bell.</answer>",
             "<think>Metallic tone.</think><answer>a gong</answer>"]
    qc = select_chains(open_item, [_c(t) for t in texts], cfg)
    assert [c.parsed_answer for c in qc.chains] == ["church bell", "a gong"]
    assert [c.is_correct for c in qc.chains] == [True, False] and _reasons(qc) == ["", "wrong_answer"]


def test_it_streams_per_batch_reports_progress_and_skips_done_items() -> None:
    backend = ScriptedBackend([GOOD, "<think>x</think><answer>A</answer>"])
    items = [_item(i) for i in range(5)]
    progress: list[tuple[int, int, dict]] = []
    cfg = TeacherConfig(model="m", k=2, batch_size=2)
    out = list(generate_chains(cfg, items, backend=backend, on_progress=lambda d, t, m: progress.append((d, t, m)),
                               skip_ids={"q1"}))
    assert [qc.item_id for qc in out] == ["q0", "q2", "q3", "q4"]
    # Batches are fixed over the whole order (q1 is generated again only to keep its batch as it was).
    assert backend.calls == [["q0", "q1"], ["q2", "q3"], ["q4"]]
    assert [(d, t) for d, t, _ in progress] == [(1, 4), (3, 4), (4, 4)]
    assert progress[-1][2]["kept_share"] == 0.5 and progress[-1][2]["agreement_mean"] == 0.5
    assert progress[-1][2]["chains_per_s"] > 0
    assert isinstance(backend, Backend)


def _write_frames_dir(folder: Path) -> None:
    folder.mkdir(parents=True)
    for i in range(4):
        Image.fromarray(np.full((48, 64, 3), 40 * i, dtype=np.uint8)).save(folder / f"{i:03d}.jpg")


@pytest.fixture(scope="module")
def vl_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny.build_model("tiny-qwen2_5-vl", tmp_path_factory.mktemp("tiny") / "tiny-qwen2_5-vl")


def test_a_resumed_run_samples_exactly_the_chains_an_uninterrupted_run_samples(vl_model: Path) -> None:
    """Found by the fault suite: a resume batched (and seeded) the remaining questions differently, so a killed
    and resumed teacher run kept other chains than an uninterrupted one."""
    cfg = TeacherConfig(model=str(vl_model), k=2, batch_size=3, max_new_tokens=10, temperature=1.0, seed=7,
                        backend_options={"device": "cpu"})
    items = [_item(i) for i in range(7)]
    whole = {qc.item_id: [c.text for c in qc.chains] for qc in generate_chains(cfg, items)}
    stored = {"q0", "q1", "q2", "q3"}  # a kill after the first question of the second batch
    resumed = {qc.item_id: [c.text for c in qc.chains] for qc in generate_chains(cfg, items, skip_ids=stored)}
    assert set(resumed) == {"q4", "q5", "q6"}
    assert resumed == {k: v for k, v in whole.items() if k not in stored}
    assert len({tuple(v) for v in whole.values()}) > 1  # sampling, not one greedy answer for all


def test_it_runs_end_to_end_from_the_cli_and_resumes_without_repeats(vl_model: Path, tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    write_av_clip(media / "clip_a.mp4", duration=2.0, size=(96, 64))
    write_av_clip(media / "clip_b.mp4", duration=1.5, size=(64, 64), color=(200, 30, 30))
    _write_frames_dir(media / "frames_c")
    rows = [{"id": "a", "video_name": "clip_a", "question": "What is heard?", "choices": list(CHOICES), "answer": 1},
            {"id": "b", "video_name": "clip_b", "question": "Which sound?", "choices": list(CHOICES), "answer": "D"},
            {"id": "c", "frames_dir": "frames_c", "question": "What plays?", "choices": [], "answer": "siren",
             "duration": 2.0}]
    (tmp_path / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = {"model": str(vl_model), "k": 3, "n_frames": 4, "max_new_tokens": 8, "batch_size": 2,
              "backend_options": {"device": "cpu"}, "items_path": "items.jsonl", "media_dir": "media",
              "out_path": "out/chains.jsonl"}
    import yaml

    (tmp_path / "teacher.yaml").write_text(yaml.safe_dump(config))
    assert teacher.main(["--config", str(tmp_path / "teacher.yaml")]) == 0
    out = tmp_path / "out" / "chains.jsonl"
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [(r["id"], r["sample_index"]) for r in lines] == [(i, s) for i in "abc" for s in range(3)]
    for r in lines:
        assert r["prompt_version"] == "teacher-v1" and r["finish_reason"] in {"stop", "length"}
        assert 1 <= r["n_tokens"] <= 8 and r["drop_reason"] in teacher.DROP_REASONS and r["kept"] == (
            r["drop_reason"] == "")

    # a killed run: item c lost one chain and the last line was cut mid-write
    kept = out.read_text().splitlines()[:-2]
    out.write_text("\n".join(kept) + '\n{"id": "c", "sample_in')
    cfg = teacher.load_config(tmp_path / "teacher.yaml")
    assert teacher.completed_ids(out, 3) == {"a", "b"}
    backend = ScriptedBackend([GOOD])
    result = teacher.run(cfg, backend=backend)
    assert backend.calls == [["c"]] and result.questions == 1 and result.skipped == 2
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert sorted((r["id"], r["sample_index"]) for r in lines) == [(i, s) for i in "abc" for s in range(3)]
    again = teacher.run(cfg, backend=backend)  # nothing left to do
    assert again.questions == 0 and backend.calls == [["c"]]


def test_it_reads_uniform_frames_from_a_clip(tmp_path: Path) -> None:
    clip = write_av_clip(tmp_path / "c.mp4", duration=2.0, fps=12, size=(64, 48))
    frames, fps = teacher.read_clip_frames(clip, 8)
    assert frames.shape == (8, 48, 64, 3) and frames.dtype == np.uint8 and fps == pytest.approx(4.0, rel=0.05)


def test_it_validates_config_and_labels() -> None:
    with pytest.raises(ValueError, match="unknown teacher config"):
        TeacherConfig.from_dict({"model": "m", "K": 4})
    assert teacher._label("b", CHOICES) == (1, "dog") and teacher._label(" Siren ", CHOICES) == (3, "siren")
    with pytest.raises(ValueError):
        teacher._label("horse", CHOICES)


def test_it_judges_open_answers_by_number_words_and_votes_them_together() -> None:
    open_item = _item(answer=None, choices=(), text="two")
    texts = ["<think>Two tones.</think><answer>2</answer>", "<think>A pair.</think><answer>two instruments</answer>",
             "<think>Hmm.</think><answer>three</answer>"]
    qc = select_chains(open_item, [_c(t) for t in texts], TeacherConfig(model="m"))
    assert [c.is_correct for c in qc.chains] == [True, True, False]


def _distinct(answer: str, n: int) -> list[str]:
    """n well-formed chains ending in `answer`, different enough not to be near-duplicates of each other."""
    sounds = ["barking", "a moo", "meowing", "a siren", "rustling", "footsteps", "a horn", "rain"]
    return [f"<think>Heard {sounds[i]} {i} times, clip {i * 7919}.</think><answer>{answer}</answer>" for i in range(n)]


def test_it_drops_a_question_the_teacher_got_right_only_by_luck() -> None:
    cfg = TeacherConfig(model="m", k=8, min_agreement=0.5)
    lucky = select_chains(_item(), [_c(t) for t in _distinct("B", 1) + _distinct("C", 7)], cfg)
    assert _reasons(lucky) == ["low_agreement"] + ["wrong_answer"] * 7  # right 1 of 8: a guess, not knowledge
    assert (lucky.n_samples, lucky.n_parsed, lucky.n_correct) == (8, 8, 1)
    sure = select_chains(_item(), [_c(t) for t in _distinct("B", 5) + _distinct("C", 3)], cfg)
    assert _reasons(sure) == [""] * 5 + ["wrong_answer"] * 3
    off = select_chains(_item(), [_c(t) for t in _distinct("B", 1) + _distinct("C", 7)], TeacherConfig(model="m", k=8))
    assert _reasons(off)[0] == ""  # the rule is off unless asked for


def test_it_records_the_majority_answer_and_agreement_over_k_for_open_answers() -> None:
    open_item = _item(answer=None, choices=(), text="church bell")
    texts = ["<think>Deep ringing, slow.</think><answer>church bell</answer>",
             "<think>A bell tolls from the tower.</think><answer>Church bell!</answer>",
             "<think>Metallic tone.</think><answer>a gong</answer>", "<think>Hmm, hard to say"]
    qc = select_chains(open_item, [_c(t) for t in texts], TeacherConfig(model="m"))
    assert qc.majority_answer == "church bell"
    assert qc.agreement == pytest.approx(2 / 3)  # over the answers that parsed
    assert (qc.n_samples, qc.n_parsed, qc.n_correct) == (4, 3, 2)


def test_it_budgets_enough_tokens_for_a_whole_chain_by_default() -> None:
    # at 256 a reasoning chain can be cut before </answer> and dropped as no_answer; decoding stops when a
    # batch's longest chain ends, so room costs only the batches that use it
    assert TeacherConfig(model="m").max_new_tokens >= 1024
    with pytest.raises(ValueError):
        TeacherConfig.from_dict({"model": "m", "min_agreement": 1.5})
