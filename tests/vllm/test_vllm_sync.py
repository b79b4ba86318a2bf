"""A LoRA update below bf16's resolution on bf16 base weights reaches the rollout engine (issue 12, finding 8).

The policy is built directly in bf16 (tests/pipeline/test_sync_precision.py): every delta is under half a bf16
step of its weight. Merged in bf16, as the sync used to, the engine's log-probs did not move at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from pipeline import tiny
from pipeline.synth import render_tones
from pipeline.vllm_rollouts import ColocatedVLLM
from tests.pipeline.test_sync_precision import DELTA, bf16_policy

ENGINE = {"dtype": "float32", "enforce_eager": True, "max_model_len": 1024, "max_num_seqs": 4}
TEXT = "<think>I hear a tone.</think><answer>A</answer>"


@pytest.fixture(scope="module")
def student(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny.build_model("tiny-qwen2-audio", tmp_path_factory.mktemp("sync") / "tiny-qwen2-audio")


def _batch(student: Path) -> tuple[list[str], list[np.ndarray], list[list[int]]]:
    from transformers import AutoProcessor

    proc = AutoProcessor.from_pretrained(student)
    prompt = [{"role": "user", "content": [{"type": "audio", "path": "x.wav"},
                                           {"type": "text", "text": "Is the tone high or low?"}]}]
    text = proc.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
    wave = render_tones([(0.1, 0.9, 440.0)], duration=1.0).astype(np.float32)
    return [text], [wave], [proc.tokenizer(TEXT, add_special_tokens=False)["input_ids"]]


def _fp32_logps(policy: Any, student: Path, texts: list[str], waves: list[np.ndarray],
                comps: list[list[int]]) -> list[float]:
    """The policy computed in fp32 (W + delta, nothing rounded): what an fp32 engine must reproduce."""
    from transformers import AutoProcessor

    proc = AutoProcessor.from_pretrained(student)
    enc = proc(text=texts, audio=waves, sampling_rate=16000, return_tensors="pt")
    ids = torch.cat([enc["input_ids"], torch.tensor(comps)], dim=1)
    model = policy.float().eval()
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=torch.ones_like(ids), input_features=enc["input_features"],
                       feature_attention_mask=enc["feature_attention_mask"]).logits.float()
    n = len(comps[0])
    logps = logits[0, -n - 1:-1].log_softmax(-1)
    return logps.gather(1, torch.tensor(comps[0])[:, None])[:, 0].tolist()


def test_a_lora_update_below_bf16_resolution_changes_the_engines_logprobs(student: Path) -> None:
    texts, waves, comps = _batch(student)
    engine = ColocatedVLLM(str(student), **ENGINE)
    try:
        engine.sync(bf16_policy(student, delta=0.0))
        before = engine.completion_logprobs(texts, waves, comps)[0]
        policy = bf16_policy(student)
        engine.sync(policy)
        after = engine.completion_logprobs(texts, waves, comps)[0]
    finally:
        engine.close()
    moved = max(abs(a - b) for a, b in zip(after, before, strict=True))
    truth = _fp32_logps(policy, student, texts, waves, comps)
    gap = max(abs(a - t) for a, t in zip(after, truth, strict=True))
    print(f"delta {DELTA}: engine log-probs moved by {moved:.2e}; engine vs fp32 policy {gap:.2e}")
    assert moved > 1e-4, "the sync rounded the update away: the engine still holds the base policy"
    assert gap < moved / 10
