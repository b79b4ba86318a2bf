"""SFT stage: LoRA fine-tuning of the audio student on accepted chains, with an audio-aware collator.

TRL 1.16's collators only know images, so `AudioSFTCollator` builds the batches itself: the prompt (with the
audio expanded to its `<|AUDIO|>` tokens by the processor) is masked out of the labels, and only the assistant's
`<think>…</think><answer>…</answer><|im_end|>` is learned.

Train file: the SFT JSONL export, one row per chain::

    {"id": "...", "messages": [
        {"role": "user", "content": [{"type": "audio", "path": "clips/x.wav"}, {"type": "text", "text": "..."}]},
        {"role": "assistant", "content": [{"type": "text", "text": "<think>…</think><answer>B</answer>"}]}]}

Run it::

    python -m pipeline.sft --config recipes/sft_tiny.yaml [--set max_steps=3 ...]
    accelerate launch -m pipeline.sft --config recipes/sft_qwen2_audio_7b.yaml
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

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

__all__ = ["AudioSFTCollator", "SFTResult", "SFTStageConfig", "run"]

log = logging.getLogger(__name__)
IGNORE_INDEX = -100


@dataclass(kw_only=True)
class SFTStageConfig(StageConfig):
    """LoRA SFT on chains; shared fields (model, data, LoRA, optimisation, checkpoints) come from StageConfig."""

    max_length: int | None = field(
        default=None, metadata={"help": "Truncate prompt+target to this many tokens (None: never truncate)."})


@dataclass
class SFTResult(StageResult):
    final_loss: float | None = None


class AudioSFTCollator:
    """Turn SFT rows into `input_ids`, `attention_mask`, `labels`, `input_features`, `feature_attention_mask`.

    The prompt goes through the processor (which expands each audio to the right number of `<|AUDIO|>` tokens)
    and the target through the tokenizer alone; labels are -100 over the prompt, the audio tokens and padding.
    Tokenising the two halves separately is also how the model sees them at generation time (prompt ids, then
    sampled ids), so training and decoding agree on the boundary.
    """

    def __init__(self, processor: Any, media_root: str | None = None, max_length: int | None = None) -> None:
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.media_root = media_root
        self.max_length = max_length
        self.pad_id = self.tokenizer.pad_token_id
        self.end = "<|im_end|>\n"  # what the chat template writes after an assistant turn

    def split(self, row: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
        """(prompt messages, target text) of one row; the target is the final assistant turn."""
        messages = strip_none(row["messages"])
        if not messages or messages[-1].get("role") != "assistant":
            raise ValueError(f"row {row.get('id')!r}: the last message must be the assistant target")
        content = messages[-1]["content"]
        target = content if isinstance(content, str) else "".join(p.get("text", "") for p in content)
        return messages[:-1], target + self.end

    def __call__(self, rows: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        prompts, targets, audios = [], [], []
        for row in rows:
            prompt, target = self.split(row)
            prompts.append(self.processor.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False))
            targets.append(target)
            audios.extend(prompt_waveforms(prompt, self.media_root, row.get("id")))
        kwargs: dict[str, Any] = {"audio": audios, "sampling_rate": SAMPLE_RATE} if audios else {}
        enc = self.processor(text=prompts, padding=False, **kwargs)
        sequences, labels = [], []
        for prompt_ids, target in zip(enc["input_ids"], targets, strict=True):
            target_ids = self.tokenizer(target, add_special_tokens=False)["input_ids"]
            ids = list(prompt_ids) + list(target_ids)
            lab = [IGNORE_INDEX] * len(prompt_ids) + list(target_ids)
            if self.max_length is not None:
                ids, lab = ids[: self.max_length], lab[: self.max_length]
            sequences.append(ids)
            labels.append(lab)
        width = max(len(s) for s in sequences)
        batch = {
            "input_ids": torch.tensor([s + [self.pad_id] * (width - len(s)) for s in sequences]),
            "attention_mask": torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in sequences]),
            "labels": torch.tensor([lab + [IGNORE_INDEX] * (width - len(lab)) for lab in labels]),
        }
        if audios:
            batch["input_features"] = torch.as_tensor(enc["input_features"])
            batch["feature_attention_mask"] = torch.as_tensor(enc["feature_attention_mask"])
        return batch


def run(cfg: SFTStageConfig, on_progress: ProgressFn | None = None) -> SFTResult:
    """Train a LoRA adapter on cfg.train_file and save it (with the processor) to `<output_dir>/adapter`."""
    from datasets import Dataset
    from peft import get_peft_model
    from transformers import set_seed
    from trl import SFTConfig, SFTTrainer

    set_seed(cfg.seed)
    ################
    # Model
    ################
    model, processor = load_model_and_processor(cfg.model_name_or_path, bf16=cfg.bf16)
    model = get_peft_model(model, lora_config(cfg))
    trainable, total = model.get_nb_trainable_parameters()
    log.info("LoRA: %d trainable of %d parameters", trainable, total)
    ################
    # Dataset
    ################
    rows = read_jsonl(cfg.train_file, allow_empty=False)
    dataset = Dataset.from_list(rows)
    ################
    # Training
    ################
    args = SFTConfig(**training_arguments(cfg), dataset_kwargs={"skip_prepare_dataset": True}, max_length=None,
                     include_num_input_tokens_seen="non_padding")
    progress = ProgressCallback(on_progress)
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=processor,
                         data_collator=AudioSFTCollator(processor, cfg.media_root, cfg.max_length),
                         callbacks=[progress, *validation_callbacks(cfg, progress.on_progress)])
    remove_printer(trainer)
    done = train_resuming(trainer, cfg, progress)
    adapter_dir = Path(cfg.output_dir) / "adapter"
    trainer.save_model(str(adapter_dir))
    processor.save_pretrained(str(adapter_dir))
    return SFTResult(adapter_dir=str(adapter_dir), final_loss=progress.last("loss"), **done)


def main(argv: list[str] | None = None) -> SFTResult:
    return run(stage_cli(SFTStageConfig, __doc__, argv))


if __name__ == "__main__":
    main()
