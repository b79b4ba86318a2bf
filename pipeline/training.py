"""What the SFT and GRPO stages share: the common config fields, audio/chat helpers, model loading, LoRA, recipes.

Kept in one place so the two stages cannot drift apart on the things that must agree between them: how an
audio path in an export is resolved, how chat content is cleaned before templating, which modules get LoRA
(never the audio encoder), and how precision and devices are chosen.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import logging
import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from pipeline.media import SAMPLE_RATE  # Whisper-style feature extractors (Qwen2-Audio) expect 16 kHz mono

__all__ = [
    "StageConfig",
    "StageResult",
    "audio_parts",
    "checkpoint_step",
    "last_checkpoint",
    "load_config",
    "load_model_and_processor",
    "load_waveform",
    "lora_config",
    "parse_overrides",
    "prompt_waveforms",
    "remove_printer",
    "resolve_media",
    "row_audio_path",
    "stage_cli",
    "strip_none",
    "train_resuming",
    "trainer_precision",
    "training_arguments",
]

log = logging.getLogger(__name__)

# LoRA on the language model's attention and MLP only: the Whisper-style audio encoder also has q/k/v_proj and
# fc1/fc2, and adapting it on a few thousand chains would erode what it learned from millions of hours of audio.
DEFAULT_LORA_TARGET = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"

C = TypeVar("C", bound="StageConfig")


@dataclass(kw_only=True)
class StageConfig:
    """Fields every training stage has; `SFTStageConfig` and `GRPOStageConfig` add their own."""

    model_name_or_path: str = field(metadata={"help": "Base student checkpoint: a local folder or a hub id."})
    train_file: str = field(metadata={"help": "JSONL export of a dataset snapshot (see the stage's docstring)."})
    output_dir: str = field(metadata={"help": "Checkpoints (checkpoint-N/) and the final adapter (adapter/) go here."})
    media_root: str | None = field(
        default=None, metadata={"help": "Folder that relative audio paths in train_file are resolved against."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling numerator (scale = alpha / r)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA branch."})
    lora_target_modules: str = field(
        default=DEFAULT_LORA_TARGET,
        metadata={"help": "Regex over module names that get LoRA; the default keeps LoRA off the audio encoder."})
    modules_to_save: list[str] | None = field(
        default=None, metadata={"help": "Modules trained in full and saved with the adapter (e.g. the projector)."})
    learning_rate: float = field(default=1e-4, metadata={"help": "Peak learning rate."})
    lr_scheduler_type: str = field(default="cosine", metadata={"help": "transformers scheduler name."})
    warmup_steps: float = field(
        default=0.03, metadata={"help": "Warmup: an int is a number of steps, a float in [0, 1) a fraction of them."})
    max_steps: int = field(default=-1, metadata={"help": "Stop after this many optimizer steps (-1: use epochs)."})
    num_train_epochs: float = field(default=1.0, metadata={"help": "Epochs, used when max_steps is -1."})
    per_device_train_batch_size: int = field(default=1, metadata={"help": "Rows per device per micro-batch."})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "Micro-batches per optimizer step."})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "Trade compute for activation memory."})
    seed: int = field(default=42, metadata={"help": "Seed for data order, LoRA init and sampling."})
    save_steps: int = field(default=100, metadata={"help": "Write checkpoint-N/ every this many steps."})
    save_total_limit: int | None = field(default=2, metadata={"help": "Keep at most this many checkpoints."})
    logging_steps: int = field(default=10, metadata={"help": "Report metrics every this many steps."})
    resume: bool = field(
        default=False, metadata={"help": "Resume from the last checkpoint-N/ in output_dir (fresh start if none)."})
    bf16: bool | None = field(default=None, metadata={"help": "bf16 mixed precision; None = on when CUDA is present."})
    val_file: str | None = field(default=None, metadata={
        "help": "Validation items (evaluation row format, a held-out split): scored every val_every_steps."})
    val_every_steps: int = field(default=0, metadata={
        "help": "Score val_file every this many steps and keep the best adapter in best-adapter/ (0: never)."})
    val_max_new_tokens: int = field(default=512, metadata={"help": "Token budget of a validation completion."})
    val_batch_size: int = field(default=8, metadata={"help": "Validation items per generate call."})

    def __post_init__(self) -> None:
        for name in ("model_name_or_path", "train_file", "output_dir"):
            if not getattr(self, name):
                raise ValueError(f"{type(self).__name__}.{name} is required, e.g. {name}: path/to/thing")
        if self.val_every_steps < 0 or (self.val_every_steps and not self.val_file):
            raise ValueError("val_every_steps needs a val_file (a held-out validation split) and must be >= 0")
        if self.max_steps == 0 or self.max_steps < -1:
            raise ValueError(f"max_steps must be -1 (use num_train_epochs) or a positive int, got {self.max_steps}")
        for name in ("per_device_train_batch_size", "gradient_accumulation_steps", "save_steps", "logging_steps",
                     "lora_r"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        try:
            re.compile(self.lora_target_modules)
        except re.error as exc:
            raise ValueError(f"lora_target_modules is not a valid regex: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict, what a run records as its config."""
        return dataclasses.asdict(self)


def load_config(cls: type[C], path: str | os.PathLike[str] | None = None, **overrides: Any) -> C:
    """Build a stage config from a YAML recipe plus keyword overrides; unknown keys fail with the valid ones."""
    import yaml

    values: dict[str, Any] = {}
    if path is not None:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: a recipe must be a YAML mapping of {cls.__name__} fields")
        values.update(loaded)
    values.update(overrides)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s) {unknown}; valid fields: {sorted(known)}")
    return cls(**values)


# ------------------------------------------------------------------------------------------------ data helpers
def strip_none(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Copy of chat messages with None-valued keys dropped from content parts.

    Arrow (datasets) merges the keys of all content parts, so a text part comes back with `audio_url: None`;
    Qwen2-Audio's chat template tests `'audio_url' in content` and would render it as a second audio.

    >>> strip_none([{"role": "user", "content": [{"type": "text", "text": "hi", "audio_url": None}]}])
    [{'role': 'user', 'content': [{'type': 'text', 'text': 'hi'}]}]
    """
    out = []
    for message in messages:
        message = {k: v for k, v in message.items() if v is not None}
        content = message.get("content")
        if isinstance(content, list):
            message["content"] = [{k: v for k, v in part.items() if v is not None} for part in content]
        out.append(message)
    return out


def audio_parts(messages: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The audio content parts of a conversation, in order (the order the processor pairs them with audios)."""
    return [part for m in messages if isinstance(m.get("content"), list) for part in m["content"]
            if isinstance(part, Mapping) and part.get("type") == "audio"]


def resolve_media(path: str | os.PathLike[str], media_root: str | os.PathLike[str] | None) -> Path:
    """An export's audio path made absolute: relative paths are under media_root (the storage root)."""
    p = Path(path)
    if not p.is_absolute():
        if media_root is None:
            raise ValueError(f"relative audio path {str(path)!r} needs media_root")
        p = Path(media_root) / p
    return p


def row_audio_path(row: Mapping[str, Any], media_root: str | os.PathLike[str] | None) -> Path:
    """The one audio file of a GRPO / evaluation row: its `audio_path`, else the prompt's first audio part."""
    src = row.get("audio_path") or next(
        (p.get("path") or p.get("audio_url") for p in audio_parts(strip_none(row["prompt"]))), None)
    if not src:
        raise ValueError(f"row {row.get('id')!r} has no audio_path and no audio part with a path")
    return resolve_media(src, media_root)


def prompt_waveforms(messages: Iterable[Mapping[str, Any]], media_root: str | os.PathLike[str] | None,
                     row_id: Any = None) -> list[np.ndarray]:
    """The waveforms of a prompt's audio parts, in the order the processor pairs them with `<|AUDIO|>` tokens."""
    waves = []
    for part in audio_parts(messages):
        src = part.get("path") or part.get("audio_url") or part.get("audio")
        if not isinstance(src, str):
            raise ValueError(f"row {row_id!r}: audio part without a path: {part}")
        waves.append(load_waveform(resolve_media(src, media_root)))
    return waves


def load_waveform(path: str | os.PathLike[str], sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Mono float32 samples at `sample_rate` (resampled with a polyphase filter when the file differs)."""
    from pipeline.media import read_audio

    samples, sr = read_audio(path)
    if sr != sample_rate:
        from math import gcd

        from scipy.signal import resample_poly

        g = gcd(sr, sample_rate)
        samples = resample_poly(samples, sample_rate // g, sr // g).astype(np.float32)
    return samples


# ------------------------------------------------------------------------------------------------ models
def trainer_precision(bf16: bool | None) -> dict[str, Any]:
    """TrainingArguments precision/device kwargs: bf16 on CUDA unless told otherwise, CPU when there is no GPU."""
    import torch

    cuda = torch.cuda.is_available()
    use_bf16 = cuda if bf16 is None else bool(bf16)
    if use_bf16 and not cuda:
        raise ValueError("bf16=True needs a CUDA device; leave bf16 unset (auto) on CPU")
    return {"bf16": use_bf16, "use_cpu": not cuda}


def load_model_and_processor(path: str, *, bf16: bool | None = None) -> tuple[Any, Any]:
    """The student and its processor, with the model class read from the checkpoint's own config.

    Reading `architectures` keeps "other students by config" working (Qwen2-Audio today, any transformers audio
    LM tomorrow) without an Auto class that may not map audio-text models.
    """
    import torch
    import transformers
    from transformers import AutoConfig, AutoProcessor

    config = AutoConfig.from_pretrained(path)
    arch = (config.architectures or ["Qwen2AudioForConditionalGeneration"])[0]
    cls = getattr(transformers, arch, None)
    if cls is None:
        raise ValueError(f"{path}: architecture {arch!r} is not in transformers {transformers.__version__}")
    use_bf16 = trainer_precision(bf16)["bf16"]
    model = cls.from_pretrained(path, dtype=torch.bfloat16 if use_bf16 else torch.float32)
    processor = AutoProcessor.from_pretrained(path)
    tok = processor.tokenizer
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return model, processor


def lora_config(cfg: StageConfig) -> Any:
    from peft import LoraConfig

    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=cfg.lora_target_modules, modules_to_save=copy.copy(cfg.modules_to_save),
                      task_type="CAUSAL_LM")


def last_checkpoint(output_dir: str | os.PathLike[str]) -> str | None:
    """The newest complete checkpoint-N/ in output_dir, or None."""
    from transformers.trainer_utils import get_last_checkpoint

    if not Path(output_dir).is_dir():
        return None
    return get_last_checkpoint(str(output_dir))


def checkpoint_step(path: str | os.PathLike[str]) -> int:
    """The optimizer step a `checkpoint-N/` folder was saved at.

    >>> checkpoint_step("runs/7/checkpoint-40")
    40
    """
    name = Path(path).name
    prefix, _, step = name.rpartition("-")
    if prefix != "checkpoint" or not step.isdigit():
        raise ValueError(f"{path}: not a checkpoint-N folder")
    return int(step)


@dataclass
class StageResult:
    """What every training stage returns; `train_resuming` fills all but `adapter_dir`."""

    adapter_dir: str
    steps: int
    metrics: dict[str, float]
    stopped_early: bool = False  # on_progress returned False (a checkpoint was saved to resume from)
    resumed_from: str | None = None


def training_arguments(cfg: StageConfig) -> dict[str, Any]:
    """The TrainingArguments kwargs every stage shares (SFTConfig / GRPOConfig add their own on top).

    Steps, batch, schedule, checkpointing and seeds come from the StageConfig fields; reporting goes through
    on_progress (no tqdm, no report_to), the data is already pre-processed (keep unused columns, no workers).
    """
    return dict(
        output_dir=cfg.output_dir, max_steps=cfg.max_steps, num_train_epochs=cfg.num_train_epochs,
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps, gradient_checkpointing=cfg.gradient_checkpointing,
        learning_rate=cfg.learning_rate, lr_scheduler_type=cfg.lr_scheduler_type, warmup_steps=cfg.warmup_steps,
        logging_steps=cfg.logging_steps, save_strategy="steps", save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit, seed=cfg.seed, data_seed=cfg.seed, report_to="none",
        remove_unused_columns=False, disable_tqdm=True, dataloader_num_workers=0,
        **trainer_precision(cfg.bf16),
    )


def train_resuming(trainer: Any, cfg: StageConfig, progress: Any) -> dict[str, Any]:
    """Run `trainer.train`, from the last checkpoint when `cfg.resume` (a fresh start if there is none).

    Returns the result fields every stage reports: steps, metrics (the last reported ones overlaid with the train
    output's), stopped_early (on_progress asked to stop) and resumed_from. `progress` is the stage's
    `callbacks.ProgressCallback`.
    """
    t0 = time.perf_counter()
    resume_from = last_checkpoint(cfg.output_dir) if cfg.resume else None
    if cfg.resume and resume_from is None:
        log.info("resume requested but %s has no checkpoint: starting fresh", cfg.output_dir)
    if resume_from is not None and hasattr(trainer, "_total_train_tokens"):
        # TRL's SFT token counter lives on the trainer, not in the checkpoint: carry it on, or `num_tokens` restarts.
        counted = logged_before(resume_from, "num_tokens")
        trainer._total_train_tokens = int(counted[-1][1]) if counted else 0
    output = trainer.train(resume_from_checkpoint=resume_from)
    train_metrics = {k: float(v) for k, v in output.metrics.items()}
    if "train_loss" in train_metrics:
        train_metrics["train_loss"] += progress.loss_offset  # the steps before the resume count too
    log.info("%s done: %d steps in %.1fs, adapter at %s", type(cfg).__name__.removesuffix("StageConfig"),
             trainer.state.global_step, time.perf_counter() - t0, Path(cfg.output_dir) / "adapter")
    return {"steps": trainer.state.global_step,
            "metrics": {**progress.last_metrics, **train_metrics},
            "stopped_early": progress.stopped_by_callback, "resumed_from": resume_from}


def logged_before(checkpoint: str | os.PathLike[str], key: str) -> list[tuple[int, float]]:
    """(step, value) of every `key` the run logged up to a checkpoint, from its trainer_state.json."""
    state = json.loads((Path(checkpoint) / "trainer_state.json").read_text())
    return [(int(e["step"]), float(e[key])) for e in state.get("log_history", []) if key in e]


def remove_printer(trainer: Any) -> None:
    """Drop the Trainer's stdout printer (on when tqdm is off): metrics go to on_progress and logging instead."""
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)


# ------------------------------------------------------------------------------------------------ CLI
def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """`["max_steps=3", "resume=true"]` -> `{"max_steps": 3, "resume": True}` (values parsed as YAML).

    >>> parse_overrides(["max_steps=3", "resume=true", "reward_funcs=[accuracy, format]"])
    {'max_steps': 3, 'resume': True, 'reward_funcs': ['accuracy', 'format']}
    """
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set expects FIELD=VALUE, got {item!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def stage_cli(cls: type[C], doc: str | None, argv: list[str] | None = None) -> C:
    """The shared `__main__` of a stage: `--config recipe.yaml [--set field=value ...]` -> config object."""
    parser = argparse.ArgumentParser(description=(doc or "").strip().split("\n")[0])
    parser.add_argument("--config", required=True, help=f"YAML recipe of {cls.__name__} fields")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="override recipe fields (YAML)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return load_config(cls, args.config, **parse_overrides(args.set))
