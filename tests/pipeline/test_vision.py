"""torchvision-free Qwen2.5-VL video preprocessing: shapes, values, layout, and parity with the official processor."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.backends import vision

PATCH, TPS = 14, 2
MEAN, STD = vision.OPENAI_CLIP_MEAN, vision.OPENAI_CLIP_STD
PIXELS = {"min_pixels": 56 * 56, "max_pixels": 112 * 112}  # the tiny checkpoint's video processor


def _constant_frames(values: list[int], size: int = 56) -> np.ndarray:
    return np.stack([np.full((size, size, 3), v, dtype=np.uint8) for v in values])


def _channel(row: torch.Tensor, c: int) -> torch.Tensor:
    """One patch row is laid out (channel, temporal, 14, 14)."""
    n = TPS * PATCH * PATCH
    return row[c * n:(c + 1) * n].reshape(TPS, PATCH, PATCH)


def test_it_computes_grid_and_token_count_for_8_frames_of_64px() -> None:
    frames = np.random.default_rng(0).integers(0, 256, (8, 64, 64, 3), dtype=np.uint8)
    out = vision.preprocess_video(frames, fps=4.0, **PIXELS)
    # smart_resize(64, 64, factor 28) -> 56x56 -> 4x4 patches; 8 frames / temporal patch 2 -> 4
    assert out["video_grid_thw"].tolist() == [[4, 4, 4]]
    assert tuple(out["pixel_values_videos"].shape) == (4 * 4 * 4, 3 * TPS * PATCH * PATCH)
    assert out["pixel_values_videos"].dtype == torch.float32
    assert out["n_tokens"] == 16  # 64 patches / merge 2x2
    assert out["second_per_grid_ts"].tolist() == [0.5]


def test_it_keeps_within_the_pixel_budget() -> None:
    frames = np.zeros((2, 480, 640, 3), dtype=np.uint8)
    out = vision.preprocess_video(frames, fps=1.0, min_pixels=56 * 56, max_pixels=112 * 112)
    _, gh, gw = out["video_grid_thw"][0].tolist()
    assert (gh * PATCH) * (gw * PATCH) <= 112 * 112 and gh % 2 == 0 and gw % 2 == 0
    assert (gh, gw) == (6, 8)  # smart_resize(480, 640) under 12544 px -> 84x112


def test_it_normalises_with_the_openai_clip_mean_and_std() -> None:
    out = vision.preprocess_video(_constant_frames([0, 0, 255, 255]), fps=2.0, **PIXELS)  # 56x56: no resize
    first, last = out["pixel_values_videos"][0], out["pixel_values_videos"][-1]
    for c in range(3):
        assert torch.allclose(_channel(first, c), torch.tensor(-MEAN[c] / STD[c]), atol=1e-6)
        assert torch.allclose(_channel(last, c), torch.tensor((1 - MEAN[c]) / STD[c]), atol=1e-6)


def test_it_pads_an_odd_frame_count_by_repeating_the_last_frame() -> None:
    out = vision.preprocess_video(_constant_frames([10, 20, 30]), fps=3.0, **PIXELS)
    assert out["video_grid_thw"].tolist() == [[2, 4, 4]]
    expected = (np.float32(30) / 255 - MEAN[0]) / STD[0]
    tail = _channel(out["pixel_values_videos"][-1], 0)
    assert torch.allclose(tail, torch.tensor(expected), atol=1e-6)  # both temporal slots hold frame 3
    head = _channel(out["pixel_values_videos"][0], 0)
    assert not torch.allclose(head[0], head[1])  # frames 1 and 2 stay distinct


def test_it_orders_patches_in_merge_blocks() -> None:
    frames = np.zeros((2, 56, 56, 3), dtype=np.uint8)
    for i in range(4):  # mark each 14x14 patch with its (row, col) index
        for j in range(4):
            frames[:, i * 14:(i + 1) * 14, j * 14:(j + 1) * 14, 0] = 16 * i + j
    rows = vision.preprocess_video(frames, fps=2.0, **PIXELS)["pixel_values_videos"]
    marks = [round(float(_channel(r, 0)[0, 0, 0] * STD[0] + MEAN[0]) * 255) for r in rows]
    # Qwen order: 2x2 merge blocks row-major, and row-major inside each block
    assert marks[:8] == [0, 1, 16, 17, 2, 3, 18, 19]


def test_it_matches_transformers_smart_resize() -> None:
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    for h, w in [(64, 64), (480, 640), (17, 300), (1080, 1920), (28, 28), (100, 57)]:
        for lo, hi in [(56 * 56, 112 * 112), (3136, 200704)]:
            assert vision.smart_resize(h, w, 28, lo, hi) == smart_resize(h, w, 28, lo, hi)


def test_it_expands_the_video_placeholder_in_the_chat_prompt() -> None:
    from pipeline.tiny import QWEN2_5_VL_CHAT_TEMPLATE, build_tokenizer

    tok = build_tokenizer()
    tok.chat_template = QWEN2_5_VL_CHAT_TEMPLATE
    text = vision.video_prompt(tok, "What is making the sound?", 16)
    assert text.count("<|video_pad|>") == 16
    assert "<|vision_start|>" + "<|video_pad|>" * 16 + "<|vision_end|>What is making the sound?" in text
    assert text.endswith("<|im_start|>assistant\n")
    with pytest.raises(ValueError):
        vision.expand_video_tokens("no placeholder here", 4)


def test_it_rejects_frames_that_are_not_thwc_uint8() -> None:
    with pytest.raises(ValueError):
        vision.preprocess_video(np.zeros((4, 64, 64, 3), dtype=np.float32), fps=2.0, **PIXELS)
    with pytest.raises(ValueError):
        vision.preprocess_video(np.zeros((64, 64, 3), dtype=np.uint8), fps=2.0, **PIXELS)


@pytest.mark.torchvision
def test_it_matches_the_official_qwen2vl_video_processor() -> None:
    pytest.importorskip("torchvision")
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

    size = {"shortest_edge": 56 * 56, "longest_edge": 112 * 112}
    official = Qwen2VLVideoProcessor(size=size, cap_pixels_per_frame=False)
    rng = np.random.default_rng(0)
    # an odd frame count and sizes that need resizing (up and down), plus one that does not
    for shape in [(5, 70, 90, 3), (4, 64, 64, 3), (2, 40, 44, 3), (3, 56, 112, 3)]:
        frames = rng.integers(0, 256, shape, dtype=np.uint8)
        ref = official(videos=[frames], return_tensors="pt", do_sample_frames=False)
        ours = vision.preprocess_video(frames, fps=2.0, min_pixels=56 * 56, max_pixels=112 * 112)
        assert ours["video_grid_thw"].tolist() == ref["video_grid_thw"].tolist(), shape
        diff = (ours["pixel_values_videos"] - ref["pixel_values_videos"]).abs().max().item()
        assert diff < 1e-5, (shape, diff)
