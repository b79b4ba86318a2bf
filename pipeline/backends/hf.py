"""The transformers `generate` backend: CPU, tests, and the GPU fallback when vLLM is not there.

What it does that a bare `model.generate` call does not:
- one code path for the three architectures we use (Qwen2.5-VL with frames, Qwen2-Audio with a 16 kHz array,
  plain Qwen2 text), detected from `config.model_type`;
- batching: requests with the same `n` and sampling are left-padded into one `generate` with
  `num_return_sequences=n`, `batch_size` requests at a time (HF decoding is launch-bound, so a bigger batch is
  nearly free: docs/gpu.md §H200 figures);
- explicit sampling: the checkpoint's generation_config is replaced by one that keeps only its token ids, and
  every sampling knob is passed on each call. transformers fills unset knobs from the checkpoint and then from
  global defaults (top_k=50!), so omitting one is never neutral;
- media placeholder tokens are suppressed: a random or weak model otherwise samples `<|video_pad|>` and the
  next prompt built from its text breaks the processor;
- per-completion token count (through EOS), finish reason and summed log-prob, recorded while decoding
  (one vocab-sized buffer) rather than from `output_scores` (steps × batch × vocab floats: GBs at 7B scale);
- an optional static KV cache with compiled decoding on CUDA.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from pipeline.backends.base import (
    Completion,
    GenerationRequest,
    GenerationResult,
    SamplingParams,
    clean_messages,
    count_parts,
    options_from_kwargs,
)

log = logging.getLogger(__name__)

PLACEHOLDER_TOKENS = ("<|video_pad|>", "<|image_pad|>", "<|AUDIO|>", "<|vision_pad|>")
VL_TYPES = ("qwen2_5_vl", "qwen2_vl")
AUDIO_TYPES = ("qwen2_audio",)
DEFAULT_FPS = 2.0  # Qwen2.5-VL's own default sampling rate, used when a request gives frames without fps
STATIC_CACHE_BUCKET = 256  # static KV caches are sized in multiples of this, so prompt-length jitter reuses a graph


@dataclass
class TransformersOptions:
    """Options of the transformers backend (`load_backend("transformers", model, **options)`)."""

    device: str = field(default="auto", metadata={"help": "cpu | cuda | cuda:N | auto (cuda when available)"})
    dtype: str = field(default="auto", metadata={"help": "auto (bf16 on CUDA, fp32 on CPU) | float32 | bfloat16 | "
                                                          "float16"})
    batch_size: int = field(default=4, metadata={"help": "requests (questions) per generate call; each brings n rows"})
    static_cache: bool = field(default=False, metadata={"help": "CUDA only: static KV cache + torch.compile'd "
                                                                "decoding (CUDA graphs)"})
    compile_mode: str = field(default="reduce-overhead", metadata={"help": "torch.compile mode for static_cache"})
    video_min_pixels: int | None = field(default=None, metadata={"help": "per-frame pixel floor; default: the "
                                                                         "checkpoint's video processor config"})
    video_max_pixels: int | None = field(default=None, metadata={"help": "per-frame pixel budget; default: the "
                                                                         "checkpoint's video processor config"})
    attn_implementation: str | None = field(default=None, metadata={"help": "sdpa | eager | flash_attention_2"})

    @classmethod
    def from_kwargs(cls, options: dict[str, Any]) -> TransformersOptions:
        opts = options_from_kwargs(cls, options, "transformers backend")
        if opts.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {opts.batch_size}")
        return opts


# ------------------------------------------------------------------------------------------------ helpers


def _resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for but CUDA is not available")
    return dev


def _resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    try:
        value = getattr(torch, dtype)
    except AttributeError:
        value = None
    if not isinstance(value, torch.dtype):
        raise ValueError(f"unknown dtype {dtype!r}; use auto, float32, bfloat16 or float16")
    return value


def _video_pixels(model: str) -> tuple[int, int] | None:
    """(min, max) per-frame pixels of a checkpoint's video processor, found the way transformers finds it for a local
    folder or a hub id alike (nested processor_config.json, then the video, then the image processor config).

    Only the config is read: building Qwen2VLVideoProcessor needs torchvision (docs/vllm-cpu.md §torchvision).
    """
    from transformers.video_processing_utils import BaseVideoProcessor

    try:
        cfg, _ = BaseVideoProcessor.get_video_processor_dict(model)
    except OSError:
        return None
    size = cfg.get("size") or {}
    lo = size.get("shortest_edge", cfg.get("min_pixels"))
    hi = size.get("longest_edge", cfg.get("max_pixels"))
    return (int(lo), int(hi)) if lo and hi else None


class _LogprobRecorder:
    """Records the log-prob of each sampled token while `generate` runs.

    A logits processor (runs before temperature/top-k/top-p, so the values are the model's distribution
    after repetition penalty and placeholder suppression) keeps the current step's log-softmax; a stopping
    criterion (called right after the token is appended) gathers the chosen token's value. Only one
    vocab-sized buffer is alive at a time.
    """

    def __init__(self) -> None:
        from transformers import LogitsProcessor, StoppingCriteria

        recorder = self
        self._current: torch.Tensor | None = None
        self.steps: list[torch.Tensor] = []

        class _Keep(LogitsProcessor):
            def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
                recorder._current = torch.log_softmax(scores.float(), dim=-1)
                return scores

        class _Gather(StoppingCriteria):
            def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
                if recorder._current is not None:
                    recorder.steps.append(recorder._current.gather(1, input_ids[:, -1:]).squeeze(1))
                    recorder._current = None
                return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)

        self.processor, self.criterion = _Keep(), _Gather()

    def per_step(self, rows: int) -> torch.Tensor:
        if not self.steps:
            return torch.zeros(rows, 0)
        return torch.stack(self.steps, dim=1).float().cpu()


# ------------------------------------------------------------------------------------------------ backend


class TransformersBackend:
    """`Backend` over transformers `generate`; see the module docstring for what it guarantees."""

    name = "transformers"

    def __init__(self, model: str, **options: Any) -> None:
        from transformers import AutoConfig

        self.options = TransformersOptions.from_kwargs(options)
        self.model_path = model  # a local folder or a hub id
        self.device = _resolve_device(self.options.device)
        self._check_static_cache()
        dtype = _resolve_dtype(self.options.dtype, self.device)
        t0 = time.perf_counter()
        config = AutoConfig.from_pretrained(model)
        kind = config.model_type
        self.processor_pixels = _video_pixels(model) if kind in VL_TYPES else None
        self._video_budget(kind)  # a vision model without frame sizes fails before loading its weights
        extra = {"attn_implementation": self.options.attn_implementation} if self.options.attn_implementation else {}
        if kind in VL_TYPES:
            from transformers import AutoModelForImageTextToText, AutoTokenizer

            net = AutoModelForImageTextToText.from_pretrained(model, dtype=dtype, **extra)
            tokenizer, processor = AutoTokenizer.from_pretrained(model), None
        elif kind in AUDIO_TYPES:
            from transformers import AutoProcessor, Qwen2AudioForConditionalGeneration

            net = Qwen2AudioForConditionalGeneration.from_pretrained(model, dtype=dtype, **extra)
            processor = AutoProcessor.from_pretrained(model)
            tokenizer = processor.tokenizer
        else:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            net = AutoModelForCausalLM.from_pretrained(model, dtype=dtype, **extra)
            tokenizer, processor = AutoTokenizer.from_pretrained(model), None
        self._setup(net.to(self.device).eval(), tokenizer, processor)
        log.info("loaded %s (%s, %s, %s) in %.2fs", model, kind, dtype, self.device, time.perf_counter() - t0)

    @classmethod
    def from_objects(cls, model: Any, tokenizer: Any, processor: Any = None, **options: Any) -> TransformersBackend:
        """Wrap an already-built model (e.g. a random 7B-architecture model for device checks) without disk."""
        self = cls.__new__(cls)
        self.options = TransformersOptions.from_kwargs(options)
        self.model_path = None
        video = getattr(processor, "video_processor", None)
        size = getattr(video, "size", None) or {}
        lo, hi = size.get("shortest_edge"), size.get("longest_edge")
        self.processor_pixels = (int(lo), int(hi)) if lo and hi else None
        self.device = next(model.parameters()).device
        self._check_static_cache()
        self._setup(model.eval(), tokenizer, processor)
        return self

    # -------------------------------------------------------------------------------------------- setup

    def _check_static_cache(self) -> None:
        if self.options.static_cache and self.device.type != "cuda":
            raise ValueError("static_cache=True needs a CUDA device (compiled decoding with CUDA graphs); "
                             f"this backend runs on {self.device.type}")

    def _setup(self, model: Any, tokenizer: Any, processor: Any) -> None:
        from transformers import GenerationConfig

        self.model, self.tokenizer, self.processor = model, tokenizer, processor
        self.kind = model.config.model_type
        tokenizer.padding_side = "left"
        if processor is not None and getattr(processor, "tokenizer", None) is not None:
            processor.tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        old = model.generation_config
        eos = old.eos_token_id if old.eos_token_id is not None else tokenizer.eos_token_id
        self.eos_ids = sorted({int(e) for e in (eos if isinstance(eos, list) else [eos]) if e is not None})
        pad = old.pad_token_id if old.pad_token_id is not None else tokenizer.pad_token_id
        # Keep only token ids: sampling defaults in a checkpoint (Qwen2.5-VL ships temperature/top_k/top_p and a
        # repetition penalty) must never leak into a run whose parameters are recorded as ours.
        model.generation_config = GenerationConfig(bos_token_id=old.bos_token_id, eos_token_id=self.eos_ids,
                                                   pad_token_id=pad)
        dropped = {k: v for k, v in old.to_diff_dict().items()
                   if k not in {"bos_token_id", "eos_token_id", "pad_token_id", "transformers_version"}}
        if dropped:
            log.warning("ignoring the checkpoint's generation_config defaults %s: sampling is always explicit",
                        dropped)
        self.checkpoint_generation_defaults = dropped
        self.pad_id = int(pad)
        vocab = len(tokenizer)
        ids = [tokenizer.convert_tokens_to_ids(t) for t in PLACEHOLDER_TOKENS if t in tokenizer.get_vocab()]
        for attr in ("image_token_id", "video_token_id", "audio_token_index", "audio_token_id"):
            value = getattr(model.config, attr, None)
            if isinstance(value, int):
                ids.append(value)
        self.suppress_ids = sorted({i for i in ids if i is not None and 0 <= i < max(vocab, self._vocab_size())})
        self.video_pixels = self._video_budget(self.kind)

    def _vocab_size(self) -> int:
        return int(self.model.get_output_embeddings().weight.shape[0])

    def _video_budget(self, kind: str) -> tuple[int, int] | None:
        """Per-frame pixel bounds: the options, else the checkpoint's video processor. A vision model with neither
        fails (before its weights load): a silent default would have a 7B teacher reason from thumbnails."""
        lo, hi = self.options.video_min_pixels, self.options.video_max_pixels
        if kind not in VL_TYPES or (lo and hi):
            return (lo, hi) if lo and hi else None
        found = self.processor_pixels
        if found is None:
            raise ValueError(f"cannot find the video processor's frame sizes of {self.model_path or 'this model'} "
                             "(no processor_config.json, video_preprocessor_config.json or preprocessor_config.json "
                             "with them); pass the backend options video_min_pixels and video_max_pixels")
        return lo or found[0], hi or found[1]

    # -------------------------------------------------------------------------------------------- encode

    def _render(self, request: GenerationRequest) -> str:
        messages = clean_messages(request.messages)
        template_owner = self.processor if self.processor is not None else self.tokenizer
        return template_owner.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def _encode(self, requests: Sequence[GenerationRequest]) -> dict[str, torch.Tensor]:
        texts = [self._render(r) for r in requests]
        if self.kind in VL_TYPES:
            return self._encode_video(requests, texts)
        if self.kind in AUDIO_TYPES:
            return self._encode_audio(requests, texts)
        for r in requests:
            if r.media.frames is not None or r.media.audio is not None:
                raise ValueError(f"request {r.request_id}: a text model ({self.kind}) cannot take media")
        return dict(self.tokenizer(texts, padding=True, return_tensors="pt"))

    def _encode_video(self, requests: Sequence[GenerationRequest], texts: list[str]) -> dict[str, torch.Tensor]:
        from pipeline.backends.vision import expand_video_tokens, preprocess_video

        pixels, grids, seconds = [], [], []
        for i, r in enumerate(requests):
            parts = count_parts(r.messages, "video")
            if r.media.audio is not None:
                raise ValueError(f"request {r.request_id}: a vision model ({self.kind}) cannot take audio")
            if r.media.frames is None:
                if parts:
                    raise ValueError(f"request {r.request_id}: a video part but no frames")
                continue
            if parts != 1:
                raise ValueError(f"request {r.request_id}: frames need exactly one video part, found {parts}")
            v = preprocess_video(np.asarray(r.media.frames), r.media.fps or DEFAULT_FPS,
                                 min_pixels=self.video_pixels[0], max_pixels=self.video_pixels[1])
            texts[i] = expand_video_tokens(texts[i], v["n_tokens"])
            pixels.append(v["pixel_values_videos"])
            grids.append(v["video_grid_thw"])
            seconds.append(v["second_per_grid_ts"])
        enc = dict(self.tokenizer(texts, padding=True, return_tensors="pt"))
        if pixels:
            enc["pixel_values_videos"] = torch.cat(pixels).to(self.model.dtype)
            enc["video_grid_thw"] = torch.cat(grids)
            enc["second_per_grid_ts"] = torch.cat(seconds)
        return enc

    def _encode_audio(self, requests: Sequence[GenerationRequest], texts: list[str]) -> dict[str, torch.Tensor]:
        audios = []
        for r in requests:
            parts = count_parts(r.messages, "audio")
            if r.media.frames is not None:
                raise ValueError(f"request {r.request_id}: an audio model ({self.kind}) cannot take frames")
            if r.media.audio is None:
                if parts:
                    raise ValueError(f"request {r.request_id}: an audio part but no audio")
                continue
            if parts != 1:
                raise ValueError(f"request {r.request_id}: audio needs exactly one audio part, found {parts}")
            if r.media.sample_rate != 16000:
                raise ValueError(f"request {r.request_id}: audio must be 16 kHz, got {r.media.sample_rate}")
            audios.append(np.asarray(r.media.audio, dtype=np.float32))
        kwargs: dict[str, Any] = {"audio": audios, "sampling_rate": 16000} if audios else {}
        enc = dict(self.processor(text=texts, padding=True, return_tensors="pt", **kwargs))
        if "input_features" in enc:
            enc["input_features"] = enc["input_features"].to(self.model.dtype)
        return enc

    # -------------------------------------------------------------------------------------------- generate

    def _generate_kwargs(self, sampling: SamplingParams, n: int, prompt_len: int) -> dict[str, Any]:
        greedy = sampling.greedy
        # Greedy ignores the warpers, so they are only passed (all of them) when sampling.
        warpers = {} if greedy else dict(temperature=float(sampling.temperature), top_p=float(sampling.top_p),
                                         top_k=int(sampling.top_k))
        kwargs: dict[str, Any] = dict(
            do_sample=not greedy,
            **warpers,
            repetition_penalty=float(sampling.repetition_penalty),
            max_new_tokens=int(sampling.max_new_tokens),
            min_new_tokens=int(sampling.max_new_tokens) if sampling.ignore_eos else 0,
            num_return_sequences=n,
            num_beams=1,
            suppress_tokens=self.suppress_ids or None,
            pad_token_id=self.pad_id,
            eos_token_id=self.eos_ids,
        )
        if self.options.static_cache:
            from transformers import CompileConfig

            need = prompt_len + int(sampling.max_new_tokens)
            kwargs.update(cache_implementation="static",
                          max_cache_len=math.ceil(need / STATIC_CACHE_BUCKET) * STATIC_CACHE_BUCKET,
                          compile_config=CompileConfig(mode=self.options.compile_mode))
        return kwargs

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """Results in request order; requests are grouped by (n, sampling) and run `batch_size` at a time."""
        groups: dict[tuple[int, SamplingParams], list[int]] = {}
        for i, r in enumerate(requests):
            if r.n < 1:
                raise ValueError(f"request {r.request_id}: n must be >= 1, got {r.n}")
            groups.setdefault((r.n, r.sampling), []).append(i)
        results: list[GenerationResult | None] = [None] * len(requests)
        bs = self.options.batch_size
        for (n, sampling), idx in groups.items():
            for s in range(0, len(idx), bs):
                chunk = idx[s:s + bs]
                for i, res in zip(chunk, self._generate_chunk([requests[i] for i in chunk], n, sampling),
                                  strict=True):
                    results[i] = res
        return [r for r in results if r is not None]

    @torch.inference_mode()
    def _generate_chunk(self, requests: Sequence[GenerationRequest], n: int,
                        sampling: SamplingParams) -> list[GenerationResult]:
        enc = {k: v.to(self.device) for k, v in self._encode(requests).items()}
        prompt_len = enc["input_ids"].shape[1]
        recorder = _LogprobRecorder()
        # Greedy rows are identical: decode one per request and repeat it (generate refuses greedy n > 1).
        rows = 1 if sampling.greedy else n
        kwargs = self._generate_kwargs(sampling, rows, prompt_len)
        if sampling.seed is not None:
            torch.manual_seed(sampling.seed)  # seeds CUDA too; one seed per chunk keeps a run reproducible
        t0 = time.perf_counter()
        out = self.model.generate(**enc, **kwargs, logits_processor=[recorder.processor],
                                  stopping_criteria=[recorder.criterion], return_dict_in_generate=True)
        seconds = time.perf_counter() - t0
        new = out.sequences[:, prompt_len:].cpu()
        steps = recorder.per_step(new.shape[0])
        prompt_tokens = enc["attention_mask"].sum(dim=1).tolist()
        eos = torch.tensor(self.eos_ids)
        results = []
        for q, r in enumerate(requests):
            completions = []
            for j in range(n):
                row = q * rows + (j if rows > 1 else 0)
                toks = new[row]
                hits = torch.isin(toks, eos).nonzero()
                if len(hits):
                    n_tok, finish = int(hits[0, 0]) + 1, "stop"
                else:
                    n_tok, finish = int(toks.shape[0]), "length"
                lp = float(steps[row, :n_tok].sum()) if steps.shape[1] >= n_tok else None
                text = self.tokenizer.decode(toks[:n_tok].tolist(), skip_special_tokens=True)
                completions.append(Completion(text=text, n_tokens=n_tok, finish_reason=finish, logprob=lp))
            results.append(GenerationResult(request_id=r.request_id, prompt_tokens=int(prompt_tokens[q]),
                                            completions=completions))
        log.debug("generated %d x %d rows in %.2fs (prompt %d tokens)", len(requests), n, seconds, prompt_len)
        return results

    def close(self) -> None:
        """Free the weights (a GPU worker may load another model next)."""
        self.model = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
