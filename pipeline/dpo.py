"""DPO stage: TRL's DPOTrainer made audio-aware, on the preference pairs curators' decisions produce.

TRL 1.16's DPOTrainer knows text and images only: given our conversational rows it would tokenise the prompt with
a single `<|AUDIO|>` placeholder and no features, so the policy and the reference would score chosen and rejected
chains without ever hearing the clip (docs/audio-in-trl.md §DPO). Here the collator builds the batch itself, as the
SFT collator does: the prompt through the processor (audio expanded to its `<|AUDIO|>` tokens, log-mel features
computed), the chosen and rejected turns through the tokenizer, and the features twice (TRL's batch is
`[chosen rows, rejected rows]`). TRL passes every batch key it does not know to the model, so the features reach
the policy forward and the reference forward (with LoRA, the same model with the adapter disabled, or TRL's frozen
"ref" copy of an SFT adapter we continue from); `AudioDPOTrainer` refuses a batch whose features do not line up.

Train file: `preferences.jsonl` of a snapshot export (pipeline/export.py), one row per pair::

    {"id": "p7-h9", "source": "hallucination",
     "prompt": [{"role": "user", "content": [{"type": "audio", "path": "clips/x.wav"},
                                             {"type": "text", "text": "..."}]}],
     "chosen": [{"role": "assistant", "content": [{"type": "text", "text": "<think>…</think><answer>B</answer>"}]}],
     "rejected": [{"role": "assistant", "content": [{"type": "text", "text": "<think>…</think><answer>B</answer>"}]}]}

Run it::

    python -m pipeline.dpo --config recipes/dpo_tiny.yaml [--set adapter=runs/sft/adapter ...]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from trl import DPOTrainer

from pipeline.callbacks import ProgressCallback
from pipeline.jsonl import read_jsonl
from pipeline.media import SAMPLE_RATE
from pipeline.progress import ProgressFn
from pipeline.training import (
    StageConfig,
    StageResult,
    load_model_and_processor,
    lora_config,
    prompt_waveforms,
    remove_printer,
    stage_cli,
    strip_none,
    train_resuming,
    training_arguments,
)
from pipeline.trajectory import validation_callbacks

__all__ = ["AudioDPOTrainer", "AudioPreferenceCollator", "DPOResult", "DPOStageConfig", "preference_margins", "run"]

log = logging.getLogger(__name__)
TURN_END = "<|im_end|>\n"  # what the chat template writes after an assistant turn (the SFT target ends with it too)


@dataclass(kw_only=True)
class DPOStageConfig(StageConfig):
    """DPO on preference pairs; shared fields (model, data, LoRA, optimisation, checkpoints) come from StageConfig."""

    adapter: str | None = field(default=None, metadata={
        "help": "SFT adapter to continue from (its frozen copy is the reference); None: a fresh LoRA on the base, "
                "the reference being the base model (adapter disabled)."})
    beta: float = field(default=0.1, metadata={"help": "DPO temperature: how far the policy may move from the "
                                                       "reference (larger: closer)."})
    loss_type: str = field(default="sigmoid", metadata={"help": "TRL loss_type: sigmoid (DPO), ipo, hinge, ..."})
    max_length: int | None = field(default=None, metadata={
        "help": "Truncate prompt+completion to this many tokens (None: never; truncation must not cut audio)."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.beta <= 0:
            raise ValueError(f"beta must be > 0, got {self.beta}")


@dataclass
class DPOResult(StageResult):
    final_margin: float | None = None  # TRL's rewards/margins at the last log: beta * (chosen - rejected) log-ratios


def _completion_text(turns: Any) -> str:
    """The text of a `chosen`/`rejected` value: assistant turns (TRL's conversational format) or a plain string."""
    if isinstance(turns, str):
        return turns
    parts = []
    for turn in strip_none(turns):
        content = turn.get("content")
        parts.append(content if isinstance(content, str) else "".join(p.get("text", "") for p in content))
    return "".join(parts)


class AudioPreferenceCollator:
    """Preference rows → `input_ids`/`attention_mask`/`completion_mask` for `[chosen..., rejected...]` plus the
    prompts' audio features, repeated for the two halves.

    The prompt is tokenised by the processor with its audio (so it holds the right number of `<|AUDIO|>` tokens),
    each completion by the tokenizer alone, as at generation time; `completion_mask` marks the completion tokens,
    the only ones whose log-probabilities DPO compares.
    """

    def __init__(self, processor: Any, media_root: str | None = None, max_length: int | None = None) -> None:
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.media_root = media_root
        self.max_length = max_length
        self.pad_id = self.tokenizer.pad_token_id

    def __call__(self, rows: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        prompts, audios = [], []
        for row in rows:
            prompt = strip_none(row["prompt"])
            waves = prompt_waveforms(prompt, self.media_root, row.get("id"))
            if len(waves) != 1:
                raise ValueError(f"row {row.get('id')!r}: a preference prompt needs exactly one audio part")
            prompts.append(self.processor.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False))
            audios.extend(waves)
        enc = self.processor(text=prompts, audio=audios, sampling_rate=SAMPLE_RATE, padding=False)
        sequences, masks = [], []
        for side in ("chosen", "rejected"):
            for prompt_ids, row in zip(enc["input_ids"], rows, strict=True):
                ids = self.tokenizer(_completion_text(row[side]) + TURN_END, add_special_tokens=False)["input_ids"]
                seq, mask = list(prompt_ids) + list(ids), [0] * len(prompt_ids) + [1] * len(ids)
                if self.max_length is not None:
                    seq, mask = seq[: self.max_length], mask[: self.max_length]
                sequences.append(seq)
                masks.append(mask)
        width = max(len(s) for s in sequences)
        features = torch.as_tensor(enc["input_features"])
        feature_mask = torch.as_tensor(enc["feature_attention_mask"])
        return {
            "input_ids": torch.tensor([s + [self.pad_id] * (width - len(s)) for s in sequences]),
            "attention_mask": torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in sequences]),
            "completion_mask": torch.tensor([m + [0] * (width - len(m)) for m in masks]),
            "input_features": torch.cat([features, features]),
            "feature_attention_mask": torch.cat([feature_mask, feature_mask]),
        }


class AudioDPOTrainer(DPOTrainer):
    """DPOTrainer on `AudioPreferenceCollator` batches: rows stay raw until collated (the audio is read there)."""

    def _prepare_dataset(self, dataset: Any, processing_class: Any, args: Any, dataset_name: str) -> Any:
        return dataset  # TRL's tokenisation knows no audio; the collator does it per batch

    def _compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool) -> Any:
        feats = inputs.get("input_features")
        if feats is None or feats.size(0) != inputs["input_ids"].size(0):
            raise RuntimeError("AudioDPOTrainer: the batch's audio features do not line up with its rows: the policy "
                               "and reference would score <|AUDIO|> placeholders without audio")
        return super()._compute_loss(model, inputs, return_outputs)


@torch.no_grad()
def preference_margins(model: Any, processor: Any, rows: Sequence[dict[str, Any]], media_root: str | None = None,
                       batch_size: int = 8) -> list[float]:
    """log p(chosen) − log p(rejected) of each row under `model` (summed over completion tokens), with the audio.

    Against a fixed reference, DPO's implicit reward margin is beta times the change of this number, so its rise
    on held-out pairs is what preference training should show.
    """
    collate = AudioPreferenceCollator(processor, media_root)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out: list[float] = []
    for s in range(0, len(rows), batch_size):
        batch = {k: v.to(device) for k, v in collate(rows[s:s + batch_size]).items()}
        mask = batch.pop("completion_mask")
        logits = model(**batch).logits[:, :-1].float()
        ids = batch["input_ids"][:, 1:]
        token_logps = torch.log_softmax(logits, dim=-1).gather(-1, ids.unsqueeze(-1)).squeeze(-1)
        seq = (token_logps * mask[:, 1:]).sum(dim=1)
        chosen, rejected = seq.chunk(2)
        out.extend((chosen - rejected).tolist())
    model.train(was_training)
    return out


def build_trainer(cfg: DPOStageConfig, callbacks: list[Any] | None = None) -> AudioDPOTrainer:
    from datasets import Dataset
    from peft import PeftModel
    from transformers import set_seed
    from trl import DPOConfig

    set_seed(cfg.seed)
    model, processor = load_model_and_processor(cfg.model_name_or_path, bf16=cfg.bf16)
    peft_config = None
    if cfg.adapter:
        model = PeftModel.from_pretrained(model, cfg.adapter, is_trainable=True)  # TRL copies it as "ref"
        log.info("continuing from adapter %s", cfg.adapter)
    else:
        peft_config = lora_config(cfg)
    dataset = Dataset.from_list(read_jsonl(cfg.train_file, allow_empty=False))
    args = DPOConfig(**training_arguments(cfg), beta=cfg.beta, loss_type=cfg.loss_type, max_length=cfg.max_length,
                     precompute_ref_log_probs=False)
    trainer = AudioDPOTrainer(model=model, args=args, train_dataset=dataset, processing_class=processor,
                              peft_config=peft_config, callbacks=callbacks or [],
                              data_collator=AudioPreferenceCollator(processor, cfg.media_root, cfg.max_length))
    remove_printer(trainer)
    return trainer


def run(cfg: DPOStageConfig, on_progress: ProgressFn | None = None) -> DPOResult:
    """DPO on cfg.train_file; the adapter (with the processor) is saved to `<output_dir>/adapter`."""
    progress = ProgressCallback(on_progress)
    trainer = build_trainer(cfg, [progress, *validation_callbacks(cfg, progress.on_progress)])
    done = train_resuming(trainer, cfg, progress)
    adapter_dir = Path(cfg.output_dir) / "adapter"
    unwrapped = trainer.accelerator.unwrap_model(trainer.model)
    if trainer.accelerator.is_main_process:
        unwrapped.save_pretrained(str(adapter_dir), selected_adapters=["default"])  # not TRL's frozen "ref" copy
        trainer.processing_class.save_pretrained(str(adapter_dir))
    return DPOResult(adapter_dir=str(adapter_dir), final_margin=progress.last("rewards/margins"), **done)


def main(argv: list[str] | None = None) -> DPOResult:
    return run(stage_cli(DPOStageConfig, __doc__, argv))


if __name__ == "__main__":
    main()
