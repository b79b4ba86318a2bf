"""torchvision-free Qwen2-VL / Qwen2.5-VL video preprocessing.

transformers' Qwen2VLVideoProcessor needs torchvision, which does not import beside the CPU torch wheel
(docs/vllm-cpu.md §torchvision).  This mirrors its `_preprocess` with plain torch/numpy — smart_resize, bicubic resize,
rescale/normalise with the OpenAI CLIP mean/std, temporal padding, patch flattening — so the CPU stack
can feed frames to Qwen2.5-VL `generate`.  The resize is the op torchvision runs on uint8 frames (torch's
native uint8 antialiased bicubic): PIL's bicubic is ±1 grey level off it, and torch's float bicubic
(a different cubic coefficient) up to ±20.
A torchvision-marked test pins the whole thing to the official processor.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)

OPENAI_CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
OPENAI_CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)
RESCALE = 1 / 255
VIDEO_PAD = "<|video_pad|>"


def smart_resize(height: int, width: int, factor: int = 28, min_pixels: int = 56 * 56,
                 max_pixels: int = 14 * 14 * 4 * 1280) -> tuple[int, int]:
    """Copy of transformers' qwen2_vl smart_resize: sides divisible by factor, area within [min, max] pixels."""
    if max(height, width) / min(height, width) > 200:
        ratio = max(height, width) / min(height, width)
        raise ValueError(f"absolute aspect ratio must be smaller than 200, got {ratio}")
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def preprocess_video(frames: np.ndarray, fps: float, *, min_pixels: int, max_pixels: int, patch: int = 14,
                     merge: int = 2, temporal_patch: int = 2) -> dict[str, Any]:
    """Turn (T, H, W, 3) uint8 frames into Qwen2.5-VL video inputs.

    The per-frame pixel bounds have no default: they are the checkpoint's (its video processor), and a guess
    would silently shrink a real teacher's frames to thumbnails.

    Returns pixel_values_videos (N, 3*temporal_patch*patch*patch) float32, video_grid_thw (1, 3),
    second_per_grid_ts (1,) — what the model's forward takes — and n_tokens, the number of
    `<|video_pad|>` placeholders the prompt must carry (one per merge×merge group of patches).
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected (T, H, W, 3) uint8 frames, got {frames.shape} {frames.dtype}")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    t, h, w, _ = frames.shape
    rh, rw = smart_resize(h, w, patch * merge, min_pixels, max_pixels)
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous()  # T, C, H, W uint8
    if (rh, rw) != (h, w):
        x = F.interpolate(x, size=(rh, rw), mode="bicubic", align_corners=False, antialias=True)
    x = x.float()
    # fused rescale + normalise with transformers' exact float32 arithmetic: (x - mean/r) / (std/r), r = 1/255
    mean = torch.tensor(OPENAI_CLIP_MEAN.tolist()) * (1.0 / RESCALE)
    std = torch.tensor(OPENAI_CLIP_STD.tolist()) * (1.0 / RESCALE)
    x = ((x - mean[:, None, None]) / std[:, None, None]).numpy()
    if pad := -t % temporal_patch:  # the encoder consumes frames in pairs: repeat the last one
        x = np.concatenate([x, np.repeat(x[-1:], pad, axis=0)])
        t += pad
    gt, gh, gw = t // temporal_patch, rh // patch, rw // patch
    p = x.reshape(gt, temporal_patch, 3, gh // merge, merge, patch, gw // merge, merge, patch)
    p = p.transpose(0, 3, 6, 4, 7, 2, 1, 5, 8).reshape(gt * gh * gw, 3 * temporal_patch * patch * patch)
    return {
        "pixel_values_videos": torch.from_numpy(np.ascontiguousarray(p)),
        "video_grid_thw": torch.tensor([[gt, gh, gw]]),
        "second_per_grid_ts": torch.tensor([temporal_patch / fps], dtype=torch.float32),
        "n_tokens": gt * gh * gw // merge**2,
    }


def expand_video_tokens(text: str, n_tokens: int, video_token: str = VIDEO_PAD) -> str:
    """Replace the single video placeholder the chat template emits with n_tokens copies, as the processor would."""
    if text.count(video_token) != 1:
        raise ValueError(f"expected exactly one {video_token} in the prompt, found {text.count(video_token)}")
    return text.replace(video_token, video_token * n_tokens)


def video_prompt(tokenizer: Any, question: str, n_tokens: int, *, system: str | None = None) -> str:
    """Render a one-turn Qwen2.5-VL chat (video, then question) with the placeholder already expanded."""
    messages: list[dict[str, Any]] = []
    if system is not None:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": [{"type": "video"}, {"type": "text", "text": question}]})
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return expand_video_tokens(text, n_tokens)


def video_inputs(tokenizer: Any, frames: np.ndarray, fps: float, question: str, *, min_pixels: int, max_pixels: int,
                 **kwargs: Any) -> dict[str, Any]:
    """Everything `Qwen2_5_VLForConditionalGeneration.generate` needs for one clip and one question."""
    video = preprocess_video(frames, fps, min_pixels=min_pixels, max_pixels=max_pixels, **kwargs)
    enc = tokenizer(video_prompt(tokenizer, question, video["n_tokens"]), return_tensors="pt")
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
            "pixel_values_videos": video["pixel_values_videos"], "video_grid_thw": video["video_grid_thw"],
            "second_per_grid_ts": video["second_per_grid_ts"]}
