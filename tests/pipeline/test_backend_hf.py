"""The transformers backend on the tiny checkpoints: media paths, batching, sampling control, bookkeeping."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch

from pipeline import tiny
from pipeline.backends import GenerationRequest, Media, SamplingParams, load_backend
from pipeline.backends.base import clean_messages
from pipeline.backends.hf import TransformersBackend

ROOT = Path(__file__).resolve().parents[2]
GREEDY = SamplingParams(temperature=0.0, max_new_tokens=6)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return tiny.build_all(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def vl(models: dict[str, Path]) -> TransformersBackend:
    return load_backend("transformers", str(models["tiny-qwen2_5-vl"]), device="cpu", batch_size=4)


@pytest.fixture(scope="module")
def text_backend(models: dict[str, Path]) -> TransformersBackend:
    return load_backend("transformers", str(models["tiny-qwen2"]), device="cpu", batch_size=4)


def _frames(seed: int, t: int = 4, h: int = 56, w: int = 56) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def _video_request(i: int, sampling: SamplingParams = GREEDY, n: int = 1, **frame_kw: int) -> GenerationRequest:
    messages = [{"role": "user", "content": [{"type": "video"},
                                             {"type": "text", "text": "What is heard here? " * (1 + i % 3)}]}]
    return GenerationRequest(f"v{i}", messages, Media(frames=_frames(i, **frame_kw), fps=2.0), n=n, sampling=sampling)


def _text_request(i: int, sampling: SamplingParams, n: int = 1) -> GenerationRequest:
    return GenerationRequest(f"t{i}", [{"role": "user", "content": "Which sound comes first? " * (1 + i)}],
                             n=n, sampling=sampling)


def _flat(results) -> list[tuple[str, int, str]]:
    return [(c.text, c.n_tokens, c.finish_reason) for r in results for c in r.completions]


def test_it_generates_from_video_frames(vl: TransformersBackend) -> None:
    sampling = SamplingParams(temperature=1.0, max_new_tokens=5, seed=0)
    [result] = vl.generate([_video_request(0, sampling, n=3)])
    assert result.request_id == "v0" and len(result.completions) == 3
    assert result.prompt_tokens > 16  # 4 frames of 56 px -> 8 video tokens + the question
    for c in result.completions:
        assert 1 <= c.n_tokens <= 5 and c.finish_reason in {"stop", "length"} and c.logprob < 0


def test_it_generates_from_a_16khz_audio_array(models: dict[str, Path]) -> None:
    backend = load_backend("transformers", str(models["tiny-qwen2-audio"]), device="cpu")
    wav = (0.3 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)).astype(np.float32)
    # a text part carrying `audio_url: None` (as Arrow rows do) must not render as a second audio
    messages = [{"role": "user", "content": [{"type": "audio", "audio_url": "clip.wav"},
                                             {"type": "text", "text": "What is heard?", "audio_url": None}]}]
    request = GenerationRequest("a0", messages, Media(audio=wav), n=2,
                                sampling=SamplingParams(max_new_tokens=4, seed=1))
    [result] = backend.generate([request])
    assert len(result.completions) == 2 and result.prompt_tokens > 20  # 1 s of audio -> 25 audio tokens
    assert clean_messages(messages)[0]["content"][1] == {"type": "text", "text": "What is heard?"}


def test_it_generates_from_text(text_backend: TransformersBackend) -> None:
    [result] = text_backend.generate([_text_request(0, SamplingParams(max_new_tokens=4, seed=0), n=2)])
    assert [c.n_tokens <= 4 for c in result.completions] == [True, True]


def test_it_gives_the_same_greedy_results_batched_and_one_at_a_time(vl: TransformersBackend) -> None:
    # different prompt lengths and frame sizes, so left padding and the multimodal rope are exercised
    requests = [_video_request(i, SamplingParams(temperature=0.0, max_new_tokens=8), h=56 + 28 * (i % 2))
                for i in range(5)]
    vl.options.batch_size = 4
    batched = vl.generate(requests)
    vl.options.batch_size = 1
    try:
        single = vl.generate(requests)
    finally:
        vl.options.batch_size = 4
    assert len({r.prompt_tokens for r in batched}) > 1
    assert _flat(batched) == _flat(single)
    a = [c.logprob for r in batched for c in r.completions]
    b = [c.logprob for r in single for c in r.completions]
    assert np.allclose(a, b, atol=1e-3)


def test_it_returns_n_completions_per_request_in_request_order(text_backend: TransformersBackend) -> None:
    hot = SamplingParams(temperature=1.0, max_new_tokens=3, seed=0)
    cold = SamplingParams(temperature=0.7, max_new_tokens=3, seed=0)
    requests = [_text_request(0, hot, 2), _text_request(1, cold, 3), _text_request(2, hot, 2),
                _text_request(3, hot, 1), _text_request(4, GREEDY, 2)]
    results = text_backend.generate(requests)
    assert [r.request_id for r in results] == ["t0", "t1", "t2", "t3", "t4"]
    assert [len(r.completions) for r in results] == [2, 3, 2, 1, 2]
    assert results[4].completions[0] == results[4].completions[1]  # greedy rows are identical


def test_it_reports_length_when_the_budget_runs_out_and_stop_at_eos(vl: TransformersBackend) -> None:
    [cut] = vl.generate([_video_request(0, SamplingParams(temperature=0.0, max_new_tokens=3))])
    assert [(c.n_tokens, c.finish_reason) for c in cut.completions] == [(3, "length")]
    first = vl.tokenizer.encode(cut.completions[0].text)[0]  # what greedy decoding emits first
    saved = vl.eos_ids
    vl.eos_ids = sorted({*saved, first})  # make that token an EOS: decoding must stop on it, counted
    try:
        [stopped] = vl.generate([_video_request(0, SamplingParams(temperature=0.0, max_new_tokens=3))])
    finally:
        vl.eos_ids = saved
    assert [(c.n_tokens, c.finish_reason) for c in stopped.completions] == [(1, "stop")]


def test_it_never_samples_media_placeholder_tokens(vl: TransformersBackend) -> None:
    placeholders = [vl.tokenizer.convert_tokens_to_ids(t) for t in ("<|video_pad|>", "<|image_pad|>")]
    assert set(placeholders) <= set(vl.suppress_ids)

    def favour_placeholders(module, args, output):  # noqa: ANN001 - torch hook signature
        output.logits[..., placeholders] += 100.0
        return output

    seen: list[list[int]] = []
    decode = vl.tokenizer.decode
    hook = vl.model.register_forward_hook(favour_placeholders)
    vl.tokenizer.decode = lambda ids, **kw: seen.append(list(ids)) or decode(ids, **kw)
    try:
        vl.generate([_video_request(0, SamplingParams(temperature=1.0, max_new_tokens=8, seed=0), n=4)])
    finally:
        hook.remove()
        vl.tokenizer.decode = decode
    assert len(seen) == 4 and all(seen)
    assert not {t for ids in seen for t in ids} & set(vl.suppress_ids)


def test_it_lets_explicit_sampling_win_over_the_checkpoint_generation_config(models: dict[str, Path],
                                                                           tmp_path: Path) -> None:
    src = models["tiny-qwen2"]
    dst = tmp_path / "opinionated"
    shutil.copytree(src, dst)
    cfg = json.loads((dst / "generation_config.json").read_text())
    cfg.update(do_sample=True, temperature=0.05, top_k=1, top_p=0.1, repetition_penalty=3.0, min_new_tokens=6,
               no_repeat_ngram_size=1)
    (dst / "generation_config.json").write_text(json.dumps(cfg))
    plain = load_backend("transformers", str(src), device="cpu")
    opinionated = load_backend("transformers", str(dst), device="cpu")
    assert {"temperature", "top_k", "repetition_penalty"} <= set(opinionated.checkpoint_generation_defaults)
    for sampling in (SamplingParams(temperature=1.0, top_k=0, max_new_tokens=6, seed=7), GREEDY):
        requests = [_text_request(i, sampling, n=3) for i in range(2)]
        a, b = plain.generate(requests), opinionated.generate(requests)
        assert _flat(a) == _flat(b)
        assert [c.logprob for r in a for c in r.completions] == [c.logprob for r in b for c in r.completions]


def test_it_reproduces_a_seeded_run(text_backend: TransformersBackend) -> None:
    requests = [_text_request(i, SamplingParams(temperature=1.0, max_new_tokens=6, seed=3), n=3) for i in range(2)]
    other = [_text_request(i, SamplingParams(temperature=1.0, max_new_tokens=6, seed=4), n=3) for i in range(2)]
    torch.manual_seed(123)  # global state must not matter
    first = _flat(text_backend.generate(requests))
    assert _flat(text_backend.generate(requests)) == first
    assert _flat(text_backend.generate(other)) != first


def test_it_refuses_a_static_cache_on_cpu_and_unknown_names(models: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="CUDA"):
        load_backend("transformers", str(models["tiny-qwen2"]), device="cpu", static_cache=True)
    with pytest.raises(ValueError, match="transformers"):
        load_backend("vllm-typo", str(models["tiny-qwen2"]))
    with pytest.raises(ValueError, match="unknown transformers backend option"):
        load_backend("transformers", str(models["tiny-qwen2"]), device="cpu", batchsize=2)


def test_it_rejects_media_the_model_cannot_take(text_backend: TransformersBackend, vl: TransformersBackend) -> None:
    with pytest.raises(ValueError, match="cannot take media"):
        text_backend.generate([_video_request(0)])
    no_part = GenerationRequest("x", [{"role": "user", "content": "hi"}], Media(frames=_frames(0), fps=2.0))
    with pytest.raises(ValueError, match="exactly one video part"):
        vl.generate([no_part])


def _as_hub_cache(checkpoint: Path, hub: Path, repo: str = "sightsound/tiny-vl") -> str:
    """Lay a checkpoint out as the hub cache holds a downloaded repo, so it loads by hub id with no local folder."""
    revision = "0" * 40
    folder = hub / f"models--{repo.replace('/', '--')}"
    shutil.copytree(checkpoint, folder / "snapshots" / revision)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(revision)
    return repo


def _load_by_hub_id(hub: Path, repo: str) -> subprocess.CompletedProcess[str]:
    """A fresh process: the hub cache location is read when huggingface_hub is imported."""
    code = ("import json; from pipeline.backends.hf import TransformersBackend as B; "
            f"print(json.dumps(B({repo!r}, device='cpu').video_pixels))")
    env = {**os.environ, "HF_HUB_CACHE": str(hub), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_it_takes_video_frame_sizes_from_the_processor_of_a_hub_id(models: dict[str, Path], tmp_path: Path) -> None:
    checkpoint = tmp_path / "vl"
    shutil.copytree(models["tiny-qwen2_5-vl"], checkpoint)
    config = json.loads((checkpoint / "processor_config.json").read_text())
    config["video_processor"]["size"] = {"shortest_edge": 128 * 28 * 28, "longest_edge": 768 * 28 * 28}
    (checkpoint / "processor_config.json").write_text(json.dumps(config))
    repo = _as_hub_cache(checkpoint, tmp_path / "hub")
    proc = _load_by_hub_id(tmp_path / "hub", repo)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [128 * 28 * 28, 768 * 28 * 28]


def test_it_refuses_to_guess_video_frame_sizes_when_the_processor_gives_none(models: dict[str, Path],
                                                                             tmp_path: Path) -> None:
    checkpoint = tmp_path / "vl"
    shutil.copytree(models["tiny-qwen2_5-vl"], checkpoint)
    (checkpoint / "processor_config.json").unlink()
    repo = _as_hub_cache(checkpoint, tmp_path / "hub")
    proc = _load_by_hub_id(tmp_path / "hub", repo)
    assert proc.returncode != 0
    assert "video_max_pixels" in proc.stderr  # says how to set the sizes instead of falling back to thumbnails
