"""Tiny checkpoints: real classes, offline reload, hub/vLLM weight layout, idempotent deterministic builds."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported by anything below

import numpy as np
import pytest
import torch
from safetensors import safe_open

from pipeline import tiny
from pipeline.backends import vision

CLASSES = {
    "tiny-qwen2": ("AutoModelForCausalLM", "Qwen2ForCausalLM"),
    "tiny-qwen2-audio": ("AutoModelForMultimodalLM", "Qwen2AudioForConditionalGeneration"),
    "tiny-qwen2_5-vl": ("AutoModelForImageTextToText", "Qwen2_5_VLForConditionalGeneration"),
}
CLASSES["tiny-qwen2-audio-2s"] = CLASSES["tiny-qwen2-audio"]  # the same student with a 2 s audio window
HUB_PREFIXES = {
    "tiny-qwen2": ("model.",),
    "tiny-qwen2-audio": ("audio_tower.", "multi_modal_projector.", "language_model.model.", "language_model.lm_head."),
    "tiny-qwen2_5-vl": ("model.", "visual.", "lm_head."),
}
HUB_PREFIXES["tiny-qwen2-audio-2s"] = HUB_PREFIXES["tiny-qwen2-audio"]


@pytest.fixture(scope="session")
def offline() -> None:
    import huggingface_hub.constants as hub

    saved, hub.HF_HUB_OFFLINE = hub.HF_HUB_OFFLINE, True
    yield
    hub.HF_HUB_OFFLINE = saved


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory: pytest.TempPathFactory, offline: None) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    tiny.build_all(root)
    return root


def _load(name: str, path: Path, **kwargs):
    import transformers

    return getattr(transformers, CLASSES[name][0]).from_pretrained(path, **kwargs)


def _sine(seconds: float, freq: float, sr: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("name", tiny.TINY_MODELS)
def test_it_reloads_offline_as_the_real_class_with_no_key_surprises(tiny_root: Path, name: str) -> None:
    model, info = _load(name, tiny_root / name, output_loading_info=True)
    assert type(model).__name__ == CLASSES[name][1]
    assert not any(info.values()), info  # no missing / unexpected / mismatched keys
    text = model.config.get_text_config()
    assert text.hidden_size // text.num_attention_heads >= 32
    marker = json.loads((tiny_root / name / tiny.MARKER).read_text())
    assert marker["param_count"] == sum(p.numel() for p in model.parameters())
    assert marker["recipe_version"] == tiny.RECIPE_VERSION


@pytest.mark.parametrize("name", tiny.TINY_MODELS)
def test_it_reloads_exactly_the_weights_it_built(tmp_path: Path, offline: None, name: str) -> None:
    built = tiny._BUILDERS[name](tiny.build_tokenizer(), tmp_path)  # the audio key rewrite must be lossless
    loaded = _load(name, tmp_path).state_dict()
    expected = built.state_dict()
    assert loaded.keys() == expected.keys()
    assert all(torch.equal(loaded[k], expected[k]) for k in expected)


@pytest.mark.parametrize("name", tiny.TINY_MODELS)
def test_it_writes_safetensors_keys_in_the_hub_layout(tiny_root: Path, name: str) -> None:
    with safe_open(tiny_root / name / "model.safetensors", "pt") as f:
        keys = list(f.keys())
    assert keys and all(k.startswith(HUB_PREFIXES[name]) for k in keys), keys
    transformers_layout = ("language_model.model.model.", "model.language_model.", "model.visual.")
    assert not any(k.startswith(transformers_layout) for k in keys)
    if not name.startswith("tiny-qwen2-audio"):  # tied: lm_head comes from the embeddings
        assert "lm_head.weight" not in keys


@pytest.mark.parametrize("name", tiny.TINY_MODELS)
def test_it_round_trips_text_and_keeps_reasoning_tags(tiny_root: Path, name: str) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_root / name)
    assert type(tok).__name__ == "Qwen2Tokenizer"
    assert (tok.eos_token, tok.pad_token) == ("<|im_end|>", "<|endoftext|>")
    text = "A violinist plays softly, then a dog barks 3 times! Ünïcode ok."
    assert tok.decode(tok(text)["input_ids"]) == text
    completion = "<|im_start|>assistant\n<think>I hear a siren.</think><answer>B</answer><|im_end|><|endoftext|>"
    decoded = tok.decode(tok(completion)["input_ids"], skip_special_tokens=True)
    assert decoded == "assistant\n<think>I hear a siren.</think><answer>B</answer>"
    for token in tiny.SPECIAL_TOKENS + tiny.REASONING_TOKENS:
        assert tok.tokenize(token) == [token]
    assert 900 <= len(tok) <= _load_config(tiny_root / name).get_text_config().vocab_size


def _load_config(path: Path):
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(path)


def test_it_expands_audio_tokens_through_the_processor(tiny_root: Path) -> None:
    from transformers import AutoProcessor

    proc = AutoProcessor.from_pretrained(tiny_root / "tiny-qwen2-audio")
    assert type(proc).__name__ == "Qwen2AudioProcessor"
    assert proc.feature_extractor.feature_size == 128
    enc = _audio_batch(proc, _sine(1.5, 440.0))
    assert tuple(enc["input_features"].shape) == (1, 128, 3000)
    frames = int(enc["feature_attention_mask"].sum())  # 150 mel frames for 1.5 s
    expected = ((frames - 1) // 2 + 1 - 2) // 2 + 1  # conv stride 2, then 2x avg-pool
    assert int((enc["input_ids"] == proc.audio_token_id).sum()) == expected == 37


def _audio_batch(proc, wav: np.ndarray):
    messages = [{"role": "user", "content": [{"type": "audio", "audio_url": "clip.wav"},
                                             {"type": "text", "text": "What is making the sound?"}]}]
    text = proc.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return proc(text=[text], audio=[wav], sampling_rate=16000, return_tensors="pt")


def test_it_generates_from_audio_and_the_audio_tower_changes_the_logits(tiny_root: Path) -> None:
    from transformers import AutoProcessor

    path = tiny_root / "tiny-qwen2-audio"
    proc, model = AutoProcessor.from_pretrained(path), _load("tiny-qwen2-audio", path)
    sine = _audio_batch(proc, _sine(1.5, 440.0))
    noise = _audio_batch(proc, np.random.default_rng(0).uniform(-0.5, 0.5, 24000).astype(np.float32))
    out = model.generate(**sine, max_new_tokens=6, do_sample=False)
    assert out.shape[1] > sine["input_ids"].shape[1]
    with torch.no_grad():
        a, b = model(**sine).logits[0, -1], model(**noise).logits[0, -1]
    assert (a - b).abs().max() > 1e-4


def test_it_generates_from_video_frames_through_pipeline_vision(tiny_root: Path) -> None:
    from transformers import AutoTokenizer
    from transformers.models.qwen2_vl import Qwen2VLImageProcessorPil

    path = tiny_root / "tiny-qwen2_5-vl"
    tok, model = AutoTokenizer.from_pretrained(path), _load("tiny-qwen2_5-vl", path)
    frames = np.random.default_rng(0).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    inputs = vision.video_inputs(tok, frames, fps=2.0, question="What is making the sound?",
                                  min_pixels=tiny.VIDEO_MIN_PIXELS, max_pixels=tiny.VIDEO_MAX_PIXELS)
    assert int((inputs["input_ids"] == model.config.video_token_id).sum()) == 8  # grid (2, 4, 4) / merge²
    out = model.generate(**inputs, max_new_tokens=6, do_sample=False)
    assert out.shape[1] > inputs["input_ids"].shape[1]
    # transformers.AutoImageProcessor is a torchvision-gated dummy on this stack; the PIL class loads the saved config
    image_proc = Qwen2VLImageProcessorPil.from_pretrained(path)
    assert image_proc.size["longest_edge"] == tiny.IMAGE_MAX_PIXELS
    image = image_proc(images=[frames[0]], return_tensors="pt")
    assert image["image_grid_thw"].tolist() == [[1, 4, 4]]  # 64x64 -> smart_resize 56x56 -> 4x4 patches
    video_cfg = json.loads((path / "processor_config.json").read_text())["video_processor"]
    assert video_cfg["size"] == {"shortest_edge": tiny.VIDEO_MIN_PIXELS, "longest_edge": tiny.VIDEO_MAX_PIXELS}


def test_it_skips_a_complete_build_of_the_same_recipe(tiny_root: Path) -> None:
    before = {n: (tiny_root / n / "model.safetensors").stat().st_mtime_ns for n in tiny.TINY_MODELS}
    start = time.perf_counter()
    assert tiny.build_all(tiny_root) == {n: tiny_root / n for n in tiny.TINY_MODELS}
    assert time.perf_counter() - start < 0.5
    assert before == {n: (tiny_root / n / "model.safetensors").stat().st_mtime_ns for n in tiny.TINY_MODELS}


@pytest.mark.parametrize("name", ["tiny-qwen2", "tiny-qwen2-audio"])
def test_it_rebuilds_identical_files_with_force(tmp_path: Path, offline: None, name: str) -> None:
    first = _digest(tiny.build_model(name, tmp_path / name))
    assert _digest(tiny.build_model(name, tmp_path / name, force=True)) == first


def test_it_rebuilds_when_the_recipe_version_changes(tmp_path: Path, offline: None,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    out = tiny.build_model("tiny-qwen2", tmp_path / "m")
    assert tiny.is_built("tiny-qwen2", out)
    monkeypatch.setattr(tiny, "RECIPE_VERSION", tiny.RECIPE_VERSION + 1)
    assert not tiny.is_built("tiny-qwen2", out)
    tiny.build_model("tiny-qwen2", out)
    assert json.loads((out / tiny.MARKER).read_text())["recipe_version"] == tiny.RECIPE_VERSION


def test_it_refuses_to_overwrite_a_folder_it_did_not_build(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        tiny.build_model("tiny-qwen2", tmp_path, force=True)
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_it_rejects_an_unknown_model_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown tiny model"):
        tiny.build_model("tiny-llama", tmp_path / "x")


def test_it_vendors_trls_qwen2_5_vl_chat_template_verbatim() -> None:
    trl_spec = importlib.util.find_spec("trl")
    if trl_spec is None:
        pytest.skip("trl not installed")
    shipped = Path(trl_spec.submodule_search_locations[0]) / "chat_templates" / "qwen2_5_vl.jinja"
    assert shipped.read_text() == tiny.QWEN2_5_VL_CHAT_TEMPLATE


def test_it_reports_every_path_from_the_cli(tiny_root: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="pipeline.tiny")
    tiny.main(["--out", str(tiny_root)])  # already built: a fast no-op that still lists the paths
    assert all(f"{n}\t{tiny_root / n}" in caplog.text for n in tiny.TINY_MODELS)


@pytest.mark.torchvision
def test_it_loads_the_full_vl_processor_where_torchvision_exists(tiny_root: Path) -> None:
    pytest.importorskip("torchvision")
    from transformers import AutoProcessor, AutoTokenizer

    path = tiny_root / "tiny-qwen2_5-vl"
    proc = AutoProcessor.from_pretrained(path)
    assert type(proc).__name__ == "Qwen2_5_VLProcessor"
    assert type(proc.video_processor).__name__ == "Qwen2VLVideoProcessor"
    frames = np.random.default_rng(1).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    question = "What is making the sound?"
    messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": question}]}]
    text = proc.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    ref = proc(text=[text], videos=[frames], return_tensors="pt", do_sample_frames=False)
    ours = vision.video_inputs(AutoTokenizer.from_pretrained(path), frames, fps=2.0, question=question,
                               min_pixels=tiny.VIDEO_MIN_PIXELS, max_pixels=tiny.VIDEO_MAX_PIXELS)
    assert ours["input_ids"].tolist() == ref["input_ids"].tolist()
    assert ours["video_grid_thw"].tolist() == ref["video_grid_thw"].tolist()
    assert (ours["pixel_values_videos"] - ref["pixel_values_videos"]).abs().max() < 1e-5
