"""The tiny checkpoints run on CUDA and agree with the CPU: the same files serve tests and GPU workers.

Marked `gpu`: run on the device machine by scripts/gpu_checks.sh, never in the CPU tiers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline import tiny
from pipeline.backends import vision

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if not torch.cuda.is_available():
        pytest.fail("the gpu tier needs a CUDA device")
    return tiny.build_all(tmp_path_factory.mktemp("tiny"))


def _audio_inputs(path: Path) -> dict[str, torch.Tensor]:
    from transformers import AutoProcessor

    proc = AutoProcessor.from_pretrained(path)
    t = np.arange(24000) / 16000
    messages = [{"role": "user", "content": [{"type": "audio", "audio_url": "a.wav"},
                                             {"type": "text", "text": "What is making the sound?"}]}]
    text = proc.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    wav = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    return dict(proc(text=[text], audio=[wav], sampling_rate=16000, return_tensors="pt"))


def _video_inputs(path: Path) -> dict[str, torch.Tensor]:
    from transformers import AutoTokenizer

    frames = np.random.default_rng(0).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    return vision.video_inputs(AutoTokenizer.from_pretrained(path), frames, fps=2.0, question="What is heard?",
                               min_pixels=tiny.VIDEO_MIN_PIXELS, max_pixels=tiny.VIDEO_MAX_PIXELS)


@pytest.mark.parametrize(("name", "make_inputs"), [("tiny-qwen2-audio", _audio_inputs),
                                                   ("tiny-qwen2_5-vl", _video_inputs)])
def test_it_matches_cpu_logits_on_cuda_and_generates(models: dict[str, Path], name: str, make_inputs) -> None:
    from transformers import AutoModelForImageTextToText, Qwen2AudioForConditionalGeneration

    cls = Qwen2AudioForConditionalGeneration if name == "tiny-qwen2-audio" else AutoModelForImageTextToText
    inputs = make_inputs(models[name])
    cpu = cls.from_pretrained(models[name], dtype=torch.float32).eval()
    gpu = cls.from_pretrained(models[name], dtype=torch.float32).eval().to("cuda")
    on_gpu = {k: v.to("cuda") if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}
    with torch.no_grad():
        a = cpu(**inputs).logits[0, -1]
        b = gpu(**on_gpu).logits[0, -1].cpu()
    assert torch.allclose(a, b, atol=2e-3), (a - b).abs().max()
    out = gpu.generate(**on_gpu, max_new_tokens=8, do_sample=True, temperature=1.0, num_return_sequences=4)
    assert out.shape[0] == 4 and out.shape[1] > inputs["input_ids"].shape[1]
