"""Snapshot exports: every format is written in one pass and loads back with the standard tools."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.export import ExportOptions, write_card, write_export
from pipeline.jsonl import iter_jsonl
from pipeline.synth import render_tones, write_wav


def _records(media: Path | None = None, n_questions: int = 5, chains: int = 2) -> list[dict]:
    recs = []
    for q in range(n_questions):
        rel = f"clips/{q}.wav"
        if media is not None:
            write_wav(media / rel, render_tones([(0.1, 0.5, 440 + 100 * q)], duration=0.6), 16000)
        open_q = q == n_questions - 1
        for k in range(chains):
            recs.append({
                "chain_id": q * 10 + k, "question_id": q, "text": f"<think>tone {q}/{k}</think><answer>B</answer>",
                "question": f"Which sound {q}?", "choices": [] if open_q else ["low", "high"],
                "answer_index": None if open_q else 1, "answer_text": "two" if open_q else "high",
                "split": "test" if q == 0 else "train", "question_type": "Open" if open_q else "Which",
                "question_relation": "", "category": "music", "audio_path": rel,
            })
    return recs


def test_it_writes_sft_grpo_and_label_only_jsonl(tmp_path: Path) -> None:
    result = write_export(iter(_records()), tmp_path / "v1")
    sft = list(iter_jsonl(tmp_path / "v1" / "sft.jsonl"))
    grpo = list(iter_jsonl(tmp_path / "v1" / "grpo.jsonl"))
    label = list(iter_jsonl(tmp_path / "v1" / "sft_label_only.jsonl"))
    assert (len(sft), len(grpo), len(label)) == (10, 5, 5)
    user, assistant = sft[0]["messages"]
    assert user["content"][0] == {"type": "audio", "path": "clips/0.wav"}
    assert "A. low" in user["content"][1]["text"] and assistant["content"][0]["text"].startswith("<think>")
    assert label[0]["messages"][1]["content"][0]["text"] == "<answer>B</answer>"
    assert grpo[0]["answer"] == "B" and grpo[0]["prompt"] == [user] and grpo[0]["audio_path"] == "clips/0.wav"
    assert grpo[-1]["answer"] == "two" and grpo[-1]["choices"] == []
    assert result.counts == {"split": {"test": 1, "train": 4}, "question_type": {"Open": 1, "Which": 4}}
    assert not (tmp_path / "v1.partial").exists()


def test_it_writes_exactly_the_rows_sft_row_builds(tmp_path: Path) -> None:
    from pipeline.export import sft_row

    recs = _records()
    recs[0]["text"] = 'quote " and unicode é \u2028 and newline\n'
    write_export(iter(recs), tmp_path / "v1")
    assert list(iter_jsonl(tmp_path / "v1" / "sft.jsonl")) == [json.loads(json.dumps(sft_row(r))) for r in recs]


def test_it_loads_back_with_load_from_disk_and_load_dataset_parquet(tmp_path: Path) -> None:
    from datasets import load_dataset, load_from_disk

    write_export(iter(_records()), tmp_path / "v1", ExportOptions(row_group_size=3))
    ds = load_from_disk(str(tmp_path / "v1" / "hf"))
    assert len(ds) == 10 and ds[0]["messages"][0]["content"][0]["path"] == "clips/0.wav"
    pq = load_dataset("parquet", data_files=str(tmp_path / "v1" / "sft.parquet"), cache_dir=str(tmp_path / "c"))
    assert pq["train"].num_rows == 10 and pq["train"][3]["chain_id"] == 11
    import pyarrow.parquet as papq

    assert papq.ParquetFile(tmp_path / "v1" / "sft.parquet").num_row_groups == 4


def test_it_embeds_audio_bytes_on_request(tmp_path: Path) -> None:
    from datasets import load_from_disk

    media = tmp_path / "media"
    write_export(iter(_records(media)), tmp_path / "v1", ExportOptions(embed_audio=True, media_root=str(media)))
    row = load_from_disk(str(tmp_path / "v1" / "hf"))[0]
    assert row["audio_bytes"] == (media / "clips/0.wav").read_bytes()


def test_it_writes_a_dataset_card_with_provenance(tmp_path: Path) -> None:
    result = write_export(iter(_records()), tmp_path / "v1")
    prov = {"teacher_runs": [{"model": "teacher-x", "prompt_version": "teacher-v1", "k": 4,
                              "sampling": {"temperature": 1.0}}],
            "validators": [{"validator": "lalm", "labels": {"pass": 3}}], "curation": {"curators": 2}}
    card = write_card(tmp_path / "v1" / "README.md", title="avqa v1", provenance=prov, result=result,
                      filters={"split": "train"}).read_text()
    for needle in ("teacher-x", "teacher-v1", '"k": 4', "lalm", '"curators": 2', "| Which | 4 |", "| test | 1 |",
                   "load_from_disk"):
        assert needle in card, needle
    assert json.loads(json.dumps(result.files))


def test_it_rejects_bad_options() -> None:
    with pytest.raises(ValueError, match="formats"):
        ExportOptions(formats=("csv",))
    with pytest.raises(ValueError, match="media_root"):
        ExportOptions(embed_audio=True)


def test_it_abandons_the_export_when_progress_says_stop(tmp_path: Path) -> None:
    from pipeline.export import ExportStopped

    seen: list[int] = []
    with pytest.raises(ExportStopped):
        write_export(iter(_records(n_questions=600)), tmp_path / "v1", on_progress=lambda n: seen.append(n) or False)
    assert seen == [1000] and not (tmp_path / "v1").exists() and not (tmp_path / "v1.partial").exists()


def test_it_takes_label_only_rows_from_the_question_records_when_given(tmp_path: Path) -> None:
    chains = _records(n_questions=2)
    questions = [{k: v for k, v in r.items() if k not in {"chain_id", "text"}} for r in _records(n_questions=4)[::2]]
    write_export(iter(chains), tmp_path / "v1", label_records=iter(questions))
    label = list(iter_jsonl(tmp_path / "v1" / "sft_label_only.jsonl"))
    assert [r["question_id"] for r in label] == [0, 1, 2, 3] and {r["chain_id"] for r in label} == {None}
    assert len(list(iter_jsonl(tmp_path / "v1" / "grpo.jsonl"))) == 2


def test_it_gives_each_baseline_a_prompt_that_asks_for_its_target(tmp_path: Path) -> None:
    write_export(iter(_records()), tmp_path / "v1")
    label = list(iter_jsonl(tmp_path / "v1" / "sft_label_only.jsonl"))
    prompt = label[0]["messages"][0]["content"][1]["text"]
    assert "<think>" not in prompt and "letter of the correct choice" in prompt
    assert label[0]["messages"][1]["content"][0]["text"] == "<answer>B</answer>"
    sft = list(iter_jsonl(tmp_path / "v1" / "sft.jsonl"))
    assert "<think>" in sft[0]["messages"][0]["content"][1]["text"]  # the chain target asks for reasoning


def test_it_writes_r1_aqa_mode_rows_with_the_choice_text_as_answer(tmp_path: Path) -> None:
    from pipeline.rewards import accuracy_reward

    write_export(iter(_records()), tmp_path / "v1")
    rows = list(iter_jsonl(tmp_path / "v1" / "grpo_r1aqa.jsonl"))
    text = rows[0]["prompt"][0]["content"][1]["text"]
    assert text == ("Which sound 0? Please choose the answer from the following options: ['low', 'high']. "
                    "Output the final answer in <answer> </answer>.")
    assert rows[0]["answer"] == "high" and rows[0]["lettered"] is False and "A. low" not in text
    assert accuracy_reward(["<answer>high</answer>", "<answer>B</answer>"], answer=[rows[0]["answer"]] * 2,
                           choices=[rows[0]["choices"]] * 2, lettered=[False] * 2) == [1.0, 0.0]
    assert rows[-1]["answer"] == "two"  # open questions keep their free-text answer


def test_it_writes_both_matched_designs_for_every_label_only_baseline(tmp_path: Path) -> None:
    chains = _records(n_questions=2)  # SightSound kept chains for questions 0 and 1
    questions = [{k: v for k, v in r.items() if k not in {"chain_id", "text"}} for r in _records(n_questions=4)[::2]]
    write_export(iter(chains), tmp_path / "v1", label_records=iter(questions))
    ids = {name: [r["question_id"] for r in iter_jsonl(tmp_path / "v1" / f"{name}.jsonl")]
           for name in ("sft_label_only", "sft_label_only_matched", "grpo_r1aqa", "grpo_r1aqa_matched", "grpo")}
    assert ids["sft_label_only"] == ids["grpo_r1aqa"] == [0, 1, 2, 3]  # (a) every labelled question
    assert ids["sft_label_only_matched"] == ids["grpo_r1aqa_matched"] == ids["grpo"] == [0, 1]  # (b) kept ones


def test_it_writes_preference_pairs_from_edits_and_hallucination_rejections(tmp_path: Path) -> None:
    recs = _records(n_questions=3, chains=2)
    recs[0]["original_text"] = "<think>I hear a dog</think><answer>A</answer>"  # edited by a curator
    for rec in recs[1:]:
        rec["original_text"] = rec["text"]
    rejected = [  # ordered by question; question 7 has no accepted chain, so no pair
        {"chain_id": 100, "question_id": 1, "text": "<think>a siren wails</think><answer>B</answer>"},
        {"chain_id": 101, "question_id": 1, "text": "<think>a cat meows</think><answer>B</answer>"},
        {"chain_id": 102, "question_id": 7, "text": "<think>rain</think><answer>B</answer>"},
    ]
    result = write_export(iter(recs), tmp_path / "v1", rejected_records=iter(rejected))
    rows = list(iter_jsonl(tmp_path / "v1" / "preferences.jsonl"))
    assert [(r["source"], r["question_id"], r["chosen_chain_id"], r["rejected_chain_id"]) for r in rows] == [
        ("edit", 0, 0, 0), ("hallucination", 1, 10, 100), ("hallucination", 1, 11, 101)]
    edit = rows[0]
    assert edit["chosen"] == [{"role": "assistant", "content": [{"type": "text", "text": recs[0]["text"]}]}]
    assert edit["rejected"][0]["content"][0]["text"] == "<think>I hear a dog</think><answer>A</answer>"
    assert edit["prompt"][0]["content"][0] == {"type": "audio", "path": "clips/0.wav"}
    assert rows[1]["rejected"][0]["content"][0]["text"].startswith("<think>a siren")
    assert result.pairs == {"edit": 1, "hallucination": 2}
    card = write_card(tmp_path / "v1" / "README.md", title="t", provenance={}, result=result).read_text()
    assert "| edit | 1 |" in card and "| hallucination | 2 |" in card


def test_it_loads_preference_pairs_as_a_trl_conversational_preference_dataset(tmp_path: Path) -> None:
    from datasets import Dataset
    from trl.data_utils import is_conversational

    recs = _records(n_questions=2, chains=1)
    write_export(iter(recs), tmp_path / "v1",
                 rejected_records=iter([{"chain_id": 9, "question_id": 0, "text": "<think>x</think>"}]))
    ds = Dataset.from_list(list(iter_jsonl(tmp_path / "v1" / "preferences.jsonl")))
    assert {"prompt", "chosen", "rejected"} <= set(ds.column_names) and is_conversational(ds[0])
