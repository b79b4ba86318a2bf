"""A LoRA update below bf16's resolution must reach the rollout engine and the evaluated model (issue 12, finding 8).

The base weights are bf16 and at least 2**-6 in magnitude, so every LoRA delta of 3e-5 is under half a bf16 step
(6.1e-5): added in bf16 it rounds back to the base weight exactly, while the trainer (base, then the fp32 LoRA
branch) computes a different policy. Merged in bf16 the log-probs did not move at all (measured |dlogp| 0.0,
against 0.008 for the unmerged adapter).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from pipeline import tiny
from pipeline.scoring import with_adapter
from pipeline.training import DEFAULT_LORA_TARGET
from pipeline.vllm_rollouts import merged_named_weights

DELTA = 3e-5  # per weight element; half a bf16 step at |w| >= 2**-6 is 2**-14 = 6.1e-5
FLOOR = 2.0 ** -6


def bf16_policy(path: Path, delta: float = DELTA) -> Any:
    """The tiny audio student in bf16 with a rank-1 LoRA whose every delta element is `delta`.

    Weights are built directly (bf16 on the CPU), then pushed away from zero so no element can represent the delta.
    """
    from peft import LoraConfig, get_peft_model
    from peft.tuners.lora import LoraLayer
    from transformers import Qwen2AudioForConditionalGeneration

    base = Qwen2AudioForConditionalGeneration.from_pretrained(path, dtype=torch.bfloat16).eval()
    policy = get_peft_model(base, LoraConfig(r=1, lora_alpha=1, lora_dropout=0.0, target_modules=DEFAULT_LORA_TARGET))
    with torch.no_grad():
        for module in policy.modules():
            if isinstance(module, LoraLayer):
                w = module.base_layer.weight
                w.copy_(torch.sign(w) * (w.abs() + FLOOR))
                module.lora_A["default"].weight.fill_(delta ** 0.5)
                module.lora_B["default"].weight.fill_(delta ** 0.5)
    return policy


@pytest.fixture(scope="module")
def student(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny.build_model("tiny-qwen2-audio", tmp_path_factory.mktemp("sync") / "tiny-qwen2-audio")


def _logps(model: Any, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids).logits.float().log_softmax(-1)


def test_the_rollout_sync_keeps_a_lora_update_below_bf16_resolution(student: Path) -> None:
    policy = bf16_policy(student)
    weights = dict(merged_named_weights(policy))
    name = "model.language_model.layers.0.mlp.up_proj.weight"
    base = policy.get_base_model().get_submodule(name.rsplit(".", 1)[0]).base_layer.weight
    assert base.dtype == torch.bfloat16
    assert (base.float() + DELTA).to(torch.bfloat16).equal(base), "the delta must be below bf16's resolution"
    merged = weights[name]
    # merged once, in fp32: the engine's loader rounds it into the engine's own dtype, once
    assert not merged.float().equal(base.float()), "the update vanished in the merge"
    torch.testing.assert_close(merged, base.float() + DELTA, rtol=0, atol=1e-9)
    assert merged.dtype == torch.float32
    assert not merged.to(torch.bfloat16).float().equal(merged), "a bf16 engine could not hold this policy"


def test_evaluation_scores_the_adapter_it_was_given_on_a_bf16_base(student: Path, tmp_path: Path) -> None:
    from transformers import Qwen2AudioForConditionalGeneration

    policy = bf16_policy(student)
    ids = torch.randint(10, 900, (1, 24), generator=torch.Generator().manual_seed(0))
    trained = _logps(policy, ids)
    policy.save_pretrained(tmp_path / "adapter")
    with policy.disable_adapter():
        before = _logps(policy, ids)
    base = Qwen2AudioForConditionalGeneration.from_pretrained(student, dtype=torch.bfloat16).eval()
    with torch.no_grad():  # the same base weights the adapter was trained on
        for name, module in policy.get_base_model().named_modules():
            if hasattr(module, "base_layer"):
                base.get_submodule(name).weight.copy_(module.base_layer.weight)
    scored = _logps(with_adapter(base, tmp_path / "adapter").eval(), ids)
    gap = float((scored - before).abs().max())
    assert gap > 1e-3, f"the evaluated model is the base model (max |dlogp| {gap:.1e}): the update was rounded away"
    torch.testing.assert_close(scored, trained, rtol=0, atol=1e-6)
