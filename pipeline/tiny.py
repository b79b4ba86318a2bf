"""Tiny random-initialised checkpoints of the real Qwen architectures, built offline.

Tests, CI and the embedded demo need models that load through the same classes, processors and
weight layouts as the real hub checkpoints (so vLLM and TRL code paths are exercised for real),
but nothing may download.  Everything here is seeded, so a rebuild writes identical weights.
Sizes follow docs/vllm-cpu.md §Tiny models: head_dim 64 is the smallest that vLLM's CPU attention takes.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # heavy imports stay inside the builders: importing this module must stay cheap
    import torch
    from transformers import PreTrainedTokenizerBase

log = logging.getLogger(__name__)

# tiny-qwen2-audio-2s: the same student with a 2 s audio window (100 encoder positions instead of Whisper's 1500),
# sized for the demo task's one-second tones so SFT and evaluation take seconds on a CPU (pipeline/demo_task.py).
TINY_MODELS = ("tiny-qwen2", "tiny-qwen2-audio", "tiny-qwen2_5-vl", "tiny-qwen2-audio-2s")
SHORT_AUDIO_WINDOW_S = 2
# Bump whenever anything below changes what lands on disk: the marker makes stale builds rebuild.
RECIPE_VERSION = 1
MARKER = "sightsound_tiny.json"
SEED = 1234

SPECIAL_TOKENS = (
    "<|im_start|>", "<|im_end|>", "<|audio_bos|>", "<|AUDIO|>", "<|audio_eos|>",
    "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
)
# Plain added tokens: they must survive skip_special_tokens=True, because rewards parse them.
REASONING_TOKENS = ("<think>", "</think>", "<answer>", "</answer>")
BPE_VOCAB = 1000
VOCAB_MULTIPLE = 64  # real Qwen pads the embedding past len(tokenizer) too

TEXT_SIZES: dict[str, Any] = dict(
    hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
    max_position_embeddings=8192, rms_norm_eps=1e-6, use_sliding_window=False,
)
AUDIO_ENCODER = dict(
    d_model=128, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=256, num_mel_bins=128,
    max_source_positions=1500,
)
VISION = dict(
    depth=2, hidden_size=128, intermediate_size=256, num_heads=2, out_hidden_size=128, patch_size=14,
    spatial_merge_size=2, temporal_patch_size=2, window_size=112, fullatt_block_indexes=[1], tokens_per_second=2,
)
ROPE_THETA = 1_000_000.0
MROPE_SECTION = [8, 12, 12]  # sums to head_dim / 2 = 32
VIDEO_MIN_PIXELS, VIDEO_MAX_PIXELS = 56 * 56, 112 * 112
IMAGE_MIN_PIXELS, IMAGE_MAX_PIXELS = 56 * 56, 224 * 224

# ChatML; list content may carry text / image / video / audio parts, rendered the Qwen way.
TEXT_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif part['type'] == 'audio' %}<|audio_bos|><|AUDIO|><|audio_eos|>\n"
    "{% elif 'text' in part %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Verbatim copy of trl/chat_templates/qwen2_5_vl.jinja (trl 1.16.0); vendored so the recipe does not
# change with the trl version and builds where trl is absent. A test checks it still matches trl.
QWEN2_5_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}"
    "<|im_end|>\n{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' or 'image' in "
    "content or 'image_url' in content %}{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}"
    "Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] "
    "== 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}"
    "Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>{% elif 'text' in content "
    "%}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}"
    "<|im_start|>assistant\n{% endif %}"
)


# ---------------------------------------------------------------------------------------------- tokenizer
def _corpus() -> Iterator[str]:
    """Synthetic, seeded text in the domain (sounds, AVQA questions, tagged reasoning) so BPE merges are useful."""
    rng = random.Random(SEED)
    sources = ("dog cat cow horse sheep goat pig rooster chicken duck goose owl crow bird frog cricket bee fly lion "
               "tiger wolf elephant monkey baby child man woman crowd audience choir singer drummer violinist "
               "car truck motorcycle bus train airplane helicopter boat ship engine siren alarm horn bell clock "
               "phone doorbell door window glass hammer saw drill vacuum blender kettle microwave printer keyboard "
               "violin cello piano guitar bass drum cymbal trumpet saxophone flute clarinet harmonica accordion "
               "harp organ ukulele banjo xylophone tambourine whistle rain thunder wind waterfall river ocean waves "
               "fire fireworks gunshot explosion applause laughter footsteps typing breathing snoring coughing").split()
    verbs = ("barks meows moos neighs bleats crows quacks hoots caws chirps croaks buzzes roars howls cries laughs "
             "speaks shouts whispers sings claps plays strums drums honks rings beeps ticks knocks slams shatters "
             "rumbles whistles splashes hums clicks crackles booms bangs squeaks rattles pops hisses").split()
    qualities = ("loudly softly twice repeatedly briefly rhythmically steadily suddenly slowly quickly quietly "
                 "continuously occasionally faintly sharply gently far nearby outside indoors").split()
    places = ("in the kitchen", "on the street", "in a park", "at a concert", "in the forest", "near the beach",
              "inside a car", "at a stadium", "in a church", "on a farm", "in an office", "at the station")
    questions = ("What is making the sound?", "Which instrument is playing?", "Where is the sound coming from?",
                 "How many times does it ring?", "What animal can be heard?", "Is the sound inside or outside?",
                 "What happens after the siren?", "Which object produces the loudest sound?",
                 "What is the man doing?", "Which sound comes first?", "Is the music fast or slow?",
                 "How many different voices are there?", "What kind of vehicle is passing by?")
    for _ in range(500):
        s, v, q, where = rng.choice(sources), rng.choice(verbs), rng.choice(qualities), rng.choice(places)
        letter = rng.choice("ABCD")
        choices = " ".join(f"{c}. {rng.choice(sources)}" for c in "ABCD")
        yield f"A {s} {v} {q} {where}, and then a {rng.choice(sources)} {rng.choice(verbs)}."
        yield f"Question: {rng.choice(questions)} Choices: {choices}. Answer with the letter."
        yield (f"<think>I hear a {s} that {v} {q} {where}. The audio suggests option {letter}, "
               f"at {rng.randint(0, 30)}.{rng.randint(0, 9)} seconds.</think><answer>{letter}</answer>")
    yield "".join(chr(c) for c in range(32, 127))
    yield " ".join(str(i) for i in range(0, 101))
    yield "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789"


def build_tokenizer() -> PreTrainedTokenizerBase:
    """Train a byte-level BPE with Qwen2's own pre-tokenizer and wrap it as a real Qwen2Tokenizer.

    Training through the same regex split that Qwen2Tokenizer applies keeps the merges consistent with how
    text is segmented at use time.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=BPE_VOCAB, show_progress=False, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(_corpus(), trainer)
    model = json.loads(bpe.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    tok = Qwen2Tokenizer(vocab=model["vocab"], merges=merges)
    tok.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS)})
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in REASONING_TOKENS])
    tok.eos_token, tok.pad_token = "<|im_end|>", "<|endoftext|>"
    tok.chat_template = TEXT_CHAT_TEMPLATE
    return tok


# ---------------------------------------------------------------------------------------------- models
def _text_config(tok: PreTrainedTokenizerBase, *, tied: bool = True, **extra: Any) -> dict[str, Any]:
    vocab = -(-len(tok) // VOCAB_MULTIPLE) * VOCAB_MULTIPLE
    eot = tok.convert_tokens_to_ids("<|endoftext|>")
    config = dict(TEXT_SIZES, vocab_size=vocab, tie_word_embeddings=tied, bos_token_id=eot,
                  eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"), pad_token_id=eot,
                  rope_parameters={"rope_type": "default", "rope_theta": ROPE_THETA})
    return config | extra


def _generation_config(tok: PreTrainedTokenizerBase) -> Any:
    """Greedy defaults only: vLLM silently applies generation_config sampling values, so write none."""
    from transformers import GenerationConfig

    ids = tok.convert_tokens_to_ids
    return GenerationConfig(bos_token_id=ids("<|endoftext|>"), pad_token_id=ids("<|endoftext|>"),
                            eos_token_id=[ids("<|im_end|>"), ids("<|endoftext|>")])


def _seeded(cls: Any, config: Any) -> torch.nn.Module:
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        return cls(config).eval()


def _save_qwen2(tok: PreTrainedTokenizerBase, out: Path) -> torch.nn.Module:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    model = _seeded(Qwen2ForCausalLM, Qwen2Config(**_text_config(tok)))
    model.generation_config = _generation_config(tok)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return model


def save_qwen2_audio(tok: PreTrainedTokenizerBase, out: Path, chunk_s: int = 30) -> torch.nn.Module:
    """A tiny Qwen2-Audio whose feature extractor keeps `chunk_s` seconds (Whisper's 30 s by default).

    vLLM's Qwen2-Audio accepts only the 30 s window (3000 mel frames); shorter windows are for transformers.
    """
    from transformers import (
        Qwen2AudioConfig,
        Qwen2AudioForConditionalGeneration,
        Qwen2AudioProcessor,
        WhisperFeatureExtractor,
    )

    # Untied on purpose: Qwen2AudioForConditionalGeneration never ties lm_head to the embeddings (no
    # _tied_weights_keys), so saying "tied" would make vLLM (which honours the flag) drop lm_head and
    # compute different logits from transformers. Real Qwen2-Audio-7B is untied too.
    text = dict(model_type="qwen2", **_text_config(tok, tied=False))
    audio = dict(AUDIO_ENCODER, max_source_positions=chunk_s * 50)  # 100 mel frames/s, halved by the encoder
    config = Qwen2AudioConfig(audio_config=audio, text_config=text,
                              audio_token_index=tok.convert_tokens_to_ids("<|AUDIO|>"))
    model = _seeded(Qwen2AudioForConditionalGeneration, config)
    model.generation_config = _generation_config(tok)
    model.save_pretrained(out)
    rewrite_audio_keys(out / "model.safetensors")
    # chat_template=None selects Qwen2AudioProcessor's built-in template: the one the real checkpoint uses.
    extractor = WhisperFeatureExtractor(feature_size=128, sampling_rate=16000, chunk_length=chunk_s)
    processor = Qwen2AudioProcessor(extractor, tok)
    processor.save_pretrained(out)
    return model


def rewrite_audio_keys(path: Path) -> None:
    """transformers 5.17 saves `language_model.model.model.*`; vLLM and the hub use `language_model.model.*`.

    transformers reloads either spelling (its conversion mapping), vLLM only the hub one.
    """
    from safetensors.torch import load_file, save_file

    bad, good = "language_model.model.model.", "language_model.model."
    state = load_file(path)
    if not any(k.startswith(bad) for k in state):
        return
    log.debug("rewriting %s -> %s in %s", bad, good, path)
    save_file({(good + k[len(bad):] if k.startswith(bad) else k): v for k, v in state.items()}, path,
              metadata={"format": "pt"})


def _save_qwen2_5_vl(tok: PreTrainedTokenizerBase, out: Path) -> torch.nn.Module:
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
    from transformers.models.qwen2_vl import Qwen2VLImageProcessorPil

    ids = tok.convert_tokens_to_ids
    rope = {"rope_type": "default", "rope_theta": ROPE_THETA, "mrope_section": MROPE_SECTION}
    config = Qwen2_5_VLConfig(
        text_config=_text_config(tok, rope_parameters=rope), vision_config=VISION, tie_word_embeddings=True,
        image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"),
    )
    model = _seeded(Qwen2_5_VLForConditionalGeneration, config)
    model.generation_config = _generation_config(tok)
    model.save_pretrained(out)
    vl_tok = _with_template(tok, QWEN2_5_VL_CHAT_TEMPLATE)
    vl_tok.save_pretrained(out)
    # Qwen2_5_VLProcessor cannot be constructed without torchvision, so write the nested v5
    # processor_config.json by hand: AutoProcessor builds the full processor where torchvision exists
    # (GPU image, vLLM), and AutoImageProcessor/AutoTokenizer work here.
    image = Qwen2VLImageProcessorPil(min_pixels=IMAGE_MIN_PIXELS, max_pixels=IMAGE_MAX_PIXELS).to_dict()
    video = {k: v for k, v in image.items() if k != "image_processor_type"}
    video.update(video_processor_type="Qwen2VLVideoProcessor",
                 size={"shortest_edge": VIDEO_MIN_PIXELS, "longest_edge": VIDEO_MAX_PIXELS},
                 do_sample_frames=False, cap_pixels_per_frame=False, min_frames=4, max_frames=768)
    processor = {"image_processor": image, "video_processor": video, "processor_class": "Qwen2_5_VLProcessor"}
    (out / "processor_config.json").write_text(json.dumps(processor, indent=2, sort_keys=True) + "\n")
    return model


def _with_template(tok: PreTrainedTokenizerBase, template: str) -> PreTrainedTokenizerBase:
    import copy

    tok = copy.deepcopy(tok)
    tok.chat_template = template
    return tok


_BUILDERS = {
    "tiny-qwen2": _save_qwen2, "tiny-qwen2-audio": save_qwen2_audio, "tiny-qwen2_5-vl": _save_qwen2_5_vl,
    "tiny-qwen2-audio-2s": lambda tok, out: save_qwen2_audio(tok, out, chunk_s=SHORT_AUDIO_WINDOW_S),
}


def _read_marker(out_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((out_dir / MARKER).read_text())
    except (OSError, ValueError):
        return None


def is_built(name: str, out_dir: Path) -> bool:
    """True when out_dir holds a finished build of this recipe (marker written last, files all present)."""
    marker = _read_marker(out_dir)
    return (marker is not None and marker.get("name") == name and marker.get("recipe_version") == RECIPE_VERSION
            and all((out_dir / f).is_file() for f in marker.get("files", [])))


def build_model(name: str, out_dir: Path, *, force: bool = False) -> Path:
    """Build one tiny model into out_dir; a no-op when a complete build of the same recipe is there.

    The build goes to a sibling temp folder and is renamed into place, so a crash never leaves a
    half-written model that looks complete.  A non-empty folder that is not ours is never deleted.
    """
    if name not in _BUILDERS:
        raise ValueError(f"unknown tiny model {name!r}; choose from {TINY_MODELS}")
    out_dir = Path(out_dir)
    if not force and is_built(name, out_dir):
        log.debug("%s already built at %s", name, out_dir)
        return out_dir
    if out_dir.exists() and any(out_dir.iterdir()) and _read_marker(out_dir) is None:
        raise FileExistsError(f"{out_dir} is not empty and holds no {MARKER}; refusing to overwrite it")
    t0 = time.perf_counter()
    tmp = out_dir.with_name(f".{out_dir.name}.building")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        model = _BUILDERS[name](build_tokenizer(), tmp)
        files = sorted(p.name for p in tmp.iterdir())
        marker = {"name": name, "recipe_version": RECIPE_VERSION, "architecture": type(model).__name__,
                  "param_count": sum(p.numel() for p in model.parameters()), "files": files}
        (tmp / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
        shutil.rmtree(out_dir, ignore_errors=True)
        tmp.rename(out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("built %s (%d params) at %s in %.2fs", name, marker["param_count"], out_dir, time.perf_counter() - t0)
    return out_dir


def build_all(root: Path, *, force: bool = False) -> dict[str, Path]:
    """Build every tiny model under root/<name>."""
    return {name: build_model(name, Path(root) / name, force=force) for name in TINY_MODELS}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build tiny random Qwen checkpoints offline.")
    parser.add_argument("--out", type=Path, required=True, help="root folder; each model goes to OUT/<name>")
    parser.add_argument("--force", action="store_true", help="rebuild even when a complete build exists")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name, path in build_all(args.out, force=args.force).items():
        log.info("%s\t%s", name, path)


if __name__ == "__main__":
    main()
