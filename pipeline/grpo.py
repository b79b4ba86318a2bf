"""GRPO stage: TRL's GRPOTrainer made audio-aware, starting from an SFT adapter or the base student.

TRL 1.16 has no audio support, and without the subclass below it would *silently* train on `<|AUDIO|>`
placeholder embeddings: its log-prob forwards only pass image tensors (docs/audio-in-trl.md §GRPO). `AudioGRPOTrainer`
computes the audio features once per generation batch, feeds them to generation and to every log-prob forward
(policy, old policy and reference), and carries them through TRL's shuffle/split of the batch. trl is pinned
exactly because the subclass overrides private methods; tests/pipeline/test_grpo.py checks the audio path.

Train file: the GRPO JSONL export, one row per question::

    {"id": "...", "prompt": [{"role": "user", "content": [{"type": "audio", "path": "clips/x.wav"},
                                                          {"type": "text", "text": "..."}]}],
     "answer": "B", "choices": ["...", "..."], "audio_path": "clips/x.wav"}

Every column is passed to the reward functions (`answer`, `choices`, ...). Run it::

    python -m pipeline.grpo --config recipes/grpo_tiny.yaml [--set adapter=runs/sft/adapter ...]
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from trl import GRPOTrainer

from pipeline.callbacks import ProgressCallback
from pipeline.jsonl import read_jsonl
from pipeline.media import SAMPLE_RATE
from pipeline.progress import ProgressFn
from pipeline.rewards import REWARD_FUNCS, get_reward_funcs
from pipeline.training import (
    StageConfig,
    StageResult,
    audio_parts,
    load_model_and_processor,
    load_waveform,
    lora_config,
    remove_printer,
    row_audio_path,
    stage_cli,
    strip_none,
    train_resuming,
    trainer_precision,
    training_arguments,
)
from pipeline.trajectory import validation_callbacks

__all__ = ["AudioGRPOTrainer", "AudioRolloutBatch", "GRPOResult", "GRPOStageConfig", "rollout_engine_options", "run"]

log = logging.getLogger(__name__)
AUDIO_KEYS = ("input_features", "feature_attention_mask")


@dataclass(kw_only=True)
class GRPOStageConfig(StageConfig):
    """GRPO on questions with verifiable answers; shared fields come from StageConfig."""

    adapter: str | None = field(
        default=None, metadata={"help": "SFT adapter folder to continue from; None trains a fresh LoRA on the base."})
    num_generations: int = field(default=8, metadata={"help": "Group size: completions sampled per prompt."})
    beta: float = field(default=0.04, metadata={"help": "KL coefficient against the reference (0: no reference)."})
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature of the rollouts."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling of the rollouts."})
    max_completion_length: int = field(default=256, metadata={"help": "Token budget of one completion."})
    num_iterations: int = field(default=1, metadata={"help": "Optimisation passes per generated batch (mu)."})
    loss_type: str | None = field(default=None, metadata={"help": "TRL loss_type (None: TRL's default)."})
    scale_rewards: str = field(default="group", metadata={"help": "Advantage scaling: group, batch or none."})
    reward_funcs: list[str] = field(
        default_factory=lambda: ["accuracy", "format"],
        metadata={"help": f"Names from pipeline.rewards.REWARD_FUNCS: {sorted(REWARD_FUNCS)}."})
    reward_weights: list[float] | None = field(
        default=None, metadata={"help": "One weight per reward function (None: all 1.0)."})
    rollout_backend: str = field(
        default="generate", metadata={"help": "generate (transformers, in the trainer) | vllm (colocated engine, "
                                              "audio as multimodal data, weights synced every step)."})
    importance_sampling_correction: bool = field(
        default=True, metadata={"help": "vLLM rollouts only: TRL's importance-sampling correction for the "
                                        "engine/trainer mismatch. It costs one more log-prob forward per step (old "
                                        "policy). The engine holds the merged policy rounded once into its dtype: "
                                        "in float32 the mismatch is float rounding (~1e-5 per token), in bf16 a LoRA "
                                        "update below bf16's resolution of a weight does not reach it, so keep the "
                                        "correction on there; turn it off when that forward costs more than the "
                                        "rollouts save."})
    vllm_options: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "Colocated engine settings (pipeline.vllm_rollouts."
                                                "RolloutEngineOptions): dtype, gpu_memory_utilization, ..."})

    @property
    def single_process(self) -> bool:
        """vLLM rollouts need one process: the colocated engine is pushed the weights of the one trainer beside it."""
        return self.rollout_backend == "vllm"

    def __post_init__(self) -> None:
        super().__post_init__()
        get_reward_funcs(self.reward_funcs)  # unknown names fail here, before a model is loaded
        if self.reward_weights is not None and len(self.reward_weights) != len(self.reward_funcs):
            raise ValueError(f"reward_weights needs one weight per reward function: {len(self.reward_funcs)} "
                             f"functions {self.reward_funcs}, got {len(self.reward_weights)} weights")
        if self.rollout_backend not in ("generate", "vllm"):
            raise ValueError(f"rollout_backend must be 'generate' or 'vllm', got {self.rollout_backend!r}")
        from pipeline.vllm_rollouts import RolloutEngineOptions

        RolloutEngineOptions.from_kwargs(self.vllm_options)  # a typo fails here, before any model is loaded
        if self.num_generations < 2:
            raise ValueError("num_generations must be >= 2: GRPO's advantage is relative to the group")
        generation_batch = self.per_device_train_batch_size * self.gradient_accumulation_steps
        if generation_batch % self.num_generations:
            raise ValueError(f"per_device_train_batch_size * gradient_accumulation_steps ({generation_batch}) must be "
                             f"a multiple of num_generations ({self.num_generations}), e.g. 8 with a group of 8")


@dataclass
class GRPOResult(StageResult):
    final_reward: float | None = None


@dataclass
class AudioRolloutBatch:
    """Everything a rollout backend may need for one generation batch (rows already repeated per group).

    `generate` uses the token ids and features; a vLLM backend would take the texts and raw waveforms instead.
    """

    prompts: list[list[dict[str, Any]]]
    prompt_texts: list[str]
    prompt_ids: list[list[int]]
    waveforms: list[np.ndarray]
    features: dict[str, torch.Tensor]


class AudioGRPOTrainer(GRPOTrainer):
    """GRPOTrainer whose generation and log-prob forwards see the audio. One audio per row.

    The rollout itself is the single method `_generate_rollouts`, so a faster backend (vLLM) can replace it
    without touching how features reach the loss.
    """

    def __init__(self, *args: Any, media_root: str | None = None, rollout_engine: Any = None,
                 **kwargs: Any) -> None:
        model = kwargs.get("model", args[0] if args else None)
        config = getattr(model, "config", None)
        # TRL suppresses `config.image_token_id` during sampling and crashes when it is missing; pointing it at the
        # audio token both avoids the crash and keeps the policy from sampling `<|AUDIO|>` (docs/audio-in-trl.md §GRPO).
        if config is not None and getattr(config, "image_token_id", None) is None:
            audio_token = getattr(config, "audio_token_id", None) or getattr(config, "audio_token_index", None)
            if audio_token is not None:
                config.image_token_id = audio_token
        self.media_root = media_root
        self._audio_batch: dict[str, torch.Tensor] | None = None
        self._rows: list[dict[str, Any]] = []
        self._rollout_batch: AudioRolloutBatch | None = None
        self._waveform_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        super().__init__(*args, **kwargs)
        # A colocated vLLM engine (pipeline.vllm_rollouts.ColocatedVLLM) replaces `generate` for rollouts. Marking
        # the trainer as vLLM-backed turns on TRL's importance-sampling correction and its
        # sampling/sampling_logp_difference metrics, which fed by our log-probs show any trainer/engine mismatch.
        self.rollout_engine = rollout_engine
        self._synced_step: int | None = None
        self.rollout_seconds: list[float] = []
        if rollout_engine is not None:
            self.use_vllm = True
            self.vllm_mode = "colocate"

    # ------------------------------------------------------------------------------------------ audio in
    def _waveform(self, path: Path) -> np.ndarray:
        """Rows repeat num_generations times per batch: decode each file once."""
        key = str(path)
        if key not in self._waveform_cache:
            self._waveform_cache[key] = load_waveform(path)
            while len(self._waveform_cache) > 256:
                self._waveform_cache.popitem(last=False)
        return self._waveform_cache[key]

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        self._rows = inputs
        output = super()._generate_and_score_completions(inputs)
        if self._audio_batch is None:
            raise RuntimeError("AudioGRPOTrainer: no audio features were computed for this batch")
        # Batch-first tensors in the output are shuffled and split by TRL together with the completions.
        output.update({k: v.to(self.accelerator.device) for k, v in self._audio_batch.items()})
        return output

    def _tokenize_prompts(self, prompts: list) -> tuple[list[list[int]], None, dict[str, torch.Tensor]]:
        prompts = [strip_none(p) for p in prompts]
        for prompt, row in zip(prompts, self._rows, strict=True):
            if len(audio_parts(prompt)) != 1:
                raise ValueError(f"row {row.get('id')!r}: GRPO rows need exactly one audio part in the prompt")
        texts = [self.processing_class.apply_chat_template(p, add_generation_prompt=True, tokenize=False)
                 for p in prompts]
        waves = [self._waveform(row_audio_path(row, self.media_root)) for row in self._rows]
        enc = self.processing_class(text=texts, audio=waves, sampling_rate=SAMPLE_RATE, padding=False)
        self._audio_batch = {k: torch.as_tensor(enc[k]) for k in AUDIO_KEYS}
        self._rollout_batch = AudioRolloutBatch(prompts=prompts, prompt_texts=texts,
                                                prompt_ids=[list(ids) for ids in enc["input_ids"]],
                                                waveforms=waves, features=self._audio_batch)
        return self._rollout_batch.prompt_ids, None, dict(self._audio_batch)

    # ------------------------------------------------------------------------------------------ rollouts
    def _generate_single_turn(self, prompt_ids: list[list[int]], images: Any, multimodal_fields: dict[str, Any],
                              num_generations: int, has_tool_images: bool = False) -> tuple[list, list | None]:
        if self._rollout_batch is None or self._rollout_batch.prompt_ids is not prompt_ids:
            raise RuntimeError("AudioGRPOTrainer: generation was called without the prompts it tokenized")
        return self._generate_rollouts(self._rollout_batch)

    def _generate_rollouts(self, batch: AudioRolloutBatch) -> tuple[list[list[int]], list[list[float]] | None]:
        """Sample one completion per row: (completion token ids up to and including EOS, sampling logprobs or None).

        The one replaceable rollout step: TRL's `model.generate` path with the audio features passed along, or
        the colocated vLLM engine given `batch.prompt_texts` + `batch.waveforms` after a weight sync.
        """
        t0 = time.perf_counter()
        if self.rollout_engine is None:
            out = super()._generate_single_turn(batch.prompt_ids, None, dict(batch.features), self.num_generations)
        else:
            if self._synced_step != self.state.global_step:
                self.rollout_engine.sync(self.accelerator.unwrap_model(self.model))
                self._synced_step = self.state.global_step
            out = self.rollout_engine.rollouts(
                batch.prompt_texts, batch.waveforms, temperature=self.temperature, top_p=self.top_p,
                top_k=self.top_k or 0, max_tokens=self.max_completion_length,
                suppress=_suppressed_tokens(self.processing_class),
                seed=self.args.seed * 1_000_003 + self.state.global_step * 10_007)
        self.rollout_seconds.append(time.perf_counter() - t0)
        return out

    # ------------------------------------------------------------------------------------------ log-probs
    def _compute_loss(self, model: Any, inputs: dict[str, Any]) -> torch.Tensor:
        self._audio_batch = {k: inputs[k] for k in AUDIO_KEYS}
        return super()._compute_loss(model, inputs)

    def _get_per_token_logps_and_entropies(
        self, model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, logits_to_keep: int,
        batch_size: int | None = None, compute_entropy: bool = False, compute_aux_loss: bool = False, **_: Any,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """TRL's chunked log-prob forward, with the rows' audio features (TRL's own passes images only)."""
        feats = self._audio_batch
        if feats is None or feats["input_features"].size(0) != input_ids.size(0):
            raise RuntimeError("audio features do not line up with the batch: the log-prob forward would run "
                               "on <|AUDIO|> placeholders without audio")
        bs = batch_size or input_ids.size(0)
        logps, entropies, aux = [], [], []
        for s in range(0, input_ids.size(0), bs):
            e = s + bs
            ids, mask = input_ids[s:e], attention_mask[s:e]
            labels = ids.masked_fill(mask == 0, -100)
            labels[:, :-logits_to_keep] = -100
            extra = {"output_router_logits": True} if compute_aux_loss else {}
            with self.accelerator.autocast():
                out = model(input_ids=ids, attention_mask=mask, input_features=feats["input_features"][s:e],
                            feature_attention_mask=feats["feature_attention_mask"][s:e], labels=labels,
                            fused_lm_head=True, **extra)
            logps.append(out.log_probs[:, -logits_to_keep:])
            if compute_entropy:
                entropies.append(out.entropy[:, -logits_to_keep:])
            if compute_aux_loss:
                aux.append(out.aux_loss)
        return (torch.cat(logps), torch.cat(entropies) if compute_entropy else None,
                torch.stack(aux).mean() if compute_aux_loss else None)


def _suppressed_tokens(processor: Any) -> list[int]:
    """Audio placeholder/boundary tokens the policy must never sample (they would desync features and text)."""
    tok = processor.tokenizer
    ids = [tok.convert_tokens_to_ids(t) for t in ("<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>")]
    return [i for i in ids if isinstance(i, int) and i != tok.unk_token_id]


def rollout_engine_options(cfg: GRPOStageConfig) -> dict[str, Any]:
    """The colocated engine's settings: the recipe's `vllm_options` over the trainer's own precision.

    `bf16` left on auto means bf16 on CUDA, so the engine must resolve it the same way (it used to read the unset
    field as "not bf16" and start a float32 engine beside a bf16 trainer: twice the memory, another policy).
    """
    return {"dtype": "bfloat16" if trainer_precision(cfg.bf16)["bf16"] else "float32", **cfg.vllm_options}


def build_trainer(cfg: GRPOStageConfig, callbacks: list[Any] | None = None) -> tuple[AudioGRPOTrainer, Any]:
    """The configured trainer and its colocated vLLM engine (None with `generate` rollouts; the caller closes it)."""
    from datasets import Dataset
    from peft import PeftModel
    from transformers import set_seed
    from trl import GRPOConfig

    set_seed(cfg.seed)
    ################
    # Model
    ################
    model, processor = load_model_and_processor(cfg.model_name_or_path, bf16=cfg.bf16)
    peft_config = None
    if cfg.adapter:
        model = PeftModel.from_pretrained(model, cfg.adapter, is_trainable=True)
        log.info("continuing from adapter %s", cfg.adapter)
    else:
        peft_config = lora_config(cfg)
    ################
    # Dataset
    ################
    dataset = Dataset.from_list(read_jsonl(cfg.train_file, allow_empty=False))
    ################
    # Training
    ################
    args = GRPOConfig(
        **training_arguments(cfg),
        num_generations=cfg.num_generations, beta=cfg.beta, temperature=cfg.temperature, top_p=cfg.top_p,
        max_completion_length=cfg.max_completion_length, num_iterations=cfg.num_iterations,
        scale_rewards=cfg.scale_rewards, reward_weights=cfg.reward_weights,
        generation_kwargs={"suppress_tokens": _suppressed_tokens(processor)},
        vllm_importance_sampling_correction=cfg.importance_sampling_correction,
        **({"loss_type": cfg.loss_type} if cfg.loss_type else {}),
    )
    engine = None
    if cfg.rollout_backend == "vllm":
        from pipeline.vllm_rollouts import ColocatedVLLM

        engine = ColocatedVLLM(cfg.model_name_or_path, **rollout_engine_options(cfg))
    trainer = AudioGRPOTrainer(model=model, reward_funcs=get_reward_funcs(cfg.reward_funcs), args=args,
                               train_dataset=dataset, processing_class=processor, peft_config=peft_config,
                               callbacks=callbacks or [], media_root=cfg.media_root, rollout_engine=engine)
    remove_printer(trainer)
    return trainer, engine


def run(cfg: GRPOStageConfig, on_progress: ProgressFn | None = None) -> GRPOResult:
    """GRPO on cfg.train_file; the adapter (with the processor) is saved to `<output_dir>/adapter`."""
    progress = ProgressCallback(on_progress)
    trainer, engine = build_trainer(cfg, [progress, *validation_callbacks(cfg, progress.on_progress)])
    processor = trainer.processing_class
    try:
        done = train_resuming(trainer, cfg, progress)
    finally:
        if engine is not None:
            engine.close()
    adapter_dir = Path(cfg.output_dir) / "adapter"
    unwrapped = trainer.accelerator.unwrap_model(trainer.model)
    if trainer.accelerator.is_main_process:
        unwrapped.save_pretrained(str(adapter_dir), selected_adapters=["default"])  # not TRL's frozen "ref" copy
        processor.save_pretrained(str(adapter_dir))
    if trainer.rollout_seconds:
        done["metrics"]["rollout_seconds_total"] = float(sum(trainer.rollout_seconds))
    return GRPOResult(adapter_dir=str(adapter_dir), final_reward=progress.last("reward"), **done)


def main(argv: list[str] | None = None) -> GRPOResult:
    return run(stage_cli(GRPOStageConfig, __doc__, argv))


if __name__ == "__main__":
    main()
