"""The OpenAI-compatible client: media encoding, explicit sampling, retries, timeouts and bounded concurrency.

The HTTP behaviour is checked against a real local HTTP server (threads, real sockets) that misbehaves on purpose;
the client against a real `vllm serve` is in tests/vllm/test_vllm_serving.py.
"""

from __future__ import annotations

import base64
import doctest
import io
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest
import soundfile
from PIL import Image

from pipeline.backends import GenerationRequest, Media, SamplingParams, load_backend
from pipeline.backends import vllm as vllm_backend
from pipeline.backends.openai_compat import OpenAIOptions, ServerError, openai_messages, request_body
from pipeline.validate.judge import judgement_schema

AUDIO = (0.3 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)).astype(np.float32)
FRAMES = np.stack([np.full((32, 48, 3), 40 * i, np.uint8) for i in range(3)])


def _request(**kw: Any) -> GenerationRequest:
    msgs = [{"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": "What do you hear?"}]}]
    return GenerationRequest(request_id="r1", messages=msgs, media=Media(audio=AUDIO), **kw)


def test_audio_travels_as_input_audio_wav_with_the_same_samples() -> None:
    msgs = openai_messages(_request())
    assert msgs[0] == {"role": "system", "content": "be brief"}
    audio_part, text_part = msgs[1]["content"]
    assert audio_part["type"] == "input_audio" and audio_part["input_audio"]["format"] == "wav"
    decoded, sr = soundfile.read(io.BytesIO(base64.b64decode(audio_part["input_audio"]["data"])), dtype="float32")
    assert sr == 16000 and decoded.shape == AUDIO.shape
    assert np.abs(decoded - AUDIO).max() < 1e-3  # 16-bit PCM
    assert text_part == {"type": "text", "text": "What do you hear?"}


def test_frames_travel_as_one_jpeg_image_per_frame_in_order() -> None:
    msgs = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "What sounds?"}]}]
    parts = openai_messages(GenerationRequest("v", msgs, Media(frames=FRAMES, fps=2.0)))[0]["content"]
    images = [p for p in parts if p["type"] == "image_url"]
    assert len(images) == len(FRAMES) and parts[-1]["type"] == "text"
    for frame, part in zip(FRAMES, images, strict=True):
        url = part["image_url"]["url"]
        assert url.startswith("data:image/jpeg;base64,")
        img = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
        assert img.shape == frame.shape and abs(float(img.mean()) - float(frame.mean())) < 3


def test_a_video_part_without_frames_is_refused() -> None:
    msgs = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "?"}]}]
    with pytest.raises(ValueError, match="video part but no frames"):
        openai_messages(GenerationRequest("v", msgs))


def test_every_sampling_knob_is_sent_explicitly_to_a_vllm_server() -> None:
    body = request_body("m", _request(n=4, sampling=SamplingParams(temperature=0.7, top_p=0.9, top_k=20,
                                                                   repetition_penalty=1.1, max_new_tokens=64,
                                                                   seed=3)), OpenAIOptions())
    assert {k: body[k] for k in ("n", "temperature", "top_p", "top_k", "repetition_penalty", "max_tokens", "seed",
                                 "logprobs")} == {"n": 4, "temperature": 0.7, "top_p": 0.9, "top_k": 20,
                                                  "repetition_penalty": 1.1, "max_tokens": 64, "seed": 3,
                                                  "logprobs": True}


def test_a_strict_openai_server_refuses_knobs_it_cannot_honour_rather_than_dropping_them() -> None:
    opts = OpenAIOptions(server="openai")
    with pytest.raises(ValueError, match="top_k"):
        request_body("m", _request(sampling=SamplingParams(top_k=20)), opts)
    body = request_body("m", _request(sampling=SamplingParams(temperature=0.5)), opts)
    assert "top_k" not in body and "repetition_penalty" not in body


def test_a_json_schema_becomes_a_structured_response_format() -> None:
    body = request_body("m", _request(json_schema=judgement_schema(2)), OpenAIOptions())
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"]["properties"]["claims"]["maxItems"] == 2


def test_the_judge_schema_doctests_pass() -> None:
    from pipeline.validate import judge

    assert doctest.testmod(judge).failed == 0


def test_the_vllm_backend_says_how_to_get_vllm_when_it_is_absent() -> None:
    """The app environment deliberately has no vllm (the vLLM tier has its own)."""
    with pytest.raises(RuntimeError, match="setup_vllm.sh"):
        load_backend("vllm", "any-model")
    assert doctest.testmod(vllm_backend).failed == 0


# ------------------------------------------------------------------------------------------------ HTTP behaviour


class _Server:
    """A real threaded HTTP server answering chat completions; `plan` lists status codes to return first."""

    def __init__(self, plan: list[int] | None = None, delay: float = 0.0, echo_auth: bool = False) -> None:
        self.plan = list(plan or [])
        self.delay = delay
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        self.bodies: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.active += 1
                    server.max_active = max(server.max_active, server.active)
                    server.bodies.append(body)
                    status = server.plan.pop(0) if server.plan else 200
                time.sleep(server.delay)
                if status == 200:
                    n = body.get("n", 1)
                    payload = {"choices": [{"index": i, "finish_reason": "stop", "message": {
                        "content": f"<answer>{'ABCD'[i % 4]}</answer>"}, "logprobs": {"content": [
                            {"logprob": -0.5}, {"logprob": -0.25}]}} for i in range(n)],
                        "usage": {"prompt_tokens": 42}}
                    data = json.dumps(payload).encode()
                else:
                    echoed = f" (you sent {self.headers.get('Authorization')})" if echo_auth else ""
                    data = json.dumps({"error": {"message": f"status {status} on purpose{echoed}"}}).encode()
                with server.lock:
                    server.active -= 1
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server_factory() -> Iterator[Any]:
    made: list[_Server] = []

    def make(**kw: Any) -> _Server:
        made.append(_Server(**kw))
        return made[-1]

    yield make
    for s in made:
        s.close()


def test_completions_come_back_in_request_order_with_summed_logprobs(server_factory: Any) -> None:
    srv = server_factory()
    backend = load_backend("openai", "served", base_url=srv.url)
    reqs = [GenerationRequest(f"q{i}", [{"role": "user", "content": "hi"}], n=3) for i in range(5)]
    results = backend.generate(reqs)
    assert [r.request_id for r in results] == [f"q{i}" for i in range(5)]
    assert all(r.prompt_tokens == 42 and len(r.completions) == 3 for r in results)
    first = results[0].completions[0]
    assert (first.text, first.n_tokens, first.finish_reason, first.logprob) == ("<answer>A</answer>", 2, "stop", -0.75)


def test_it_retries_overload_and_server_errors_with_backoff(server_factory: Any) -> None:
    srv = server_factory(plan=[503, 429])
    backend = load_backend("openai", "served", base_url=srv.url, backoff_s=0.05)
    t0 = time.perf_counter()
    [result] = backend.generate([GenerationRequest("q", [{"role": "user", "content": "hi"}])])
    assert result.completions[0].text == "<answer>A</answer>"
    assert backend.stats == {"requests": 1, "retries": 2}
    assert time.perf_counter() - t0 >= 0.05 + 0.1  # 0.05 then 0.10 s of backoff


def test_a_bad_request_fails_at_once_with_the_servers_message(server_factory: Any) -> None:
    srv = server_factory(plan=[400])
    backend = load_backend("openai", "served", base_url=srv.url, backoff_s=0.05)
    with pytest.raises(ServerError, match="HTTP 400: .*status 400 on purpose"):
        backend.generate([GenerationRequest("q", [{"role": "user", "content": "hi"}])])
    assert backend.stats["retries"] == 0


def test_an_unreachable_server_fails_after_its_retries() -> None:
    backend = load_backend("openai", "served", base_url="http://127.0.0.1:9/v1", max_retries=2, backoff_s=0.01,
                           timeout_s=2)
    with pytest.raises(ServerError, match="failed after 3 attempts"):
        backend.generate([GenerationRequest("q", [{"role": "user", "content": "hi"}])])


def test_a_slow_server_times_out_and_is_retried(server_factory: Any) -> None:
    srv = server_factory(delay=0.6)
    backend = load_backend("openai", "served", base_url=srv.url, timeout_s=0.2, max_retries=1, backoff_s=0.01)
    with pytest.raises(ServerError, match="ReadTimeout"):
        backend.generate([GenerationRequest("q", [{"role": "user", "content": "hi"}])])
    assert backend.stats["retries"] == 1


def test_no_more_than_max_concurrency_requests_are_in_flight(server_factory: Any) -> None:
    srv = server_factory(delay=0.15)
    backend = load_backend("openai", "served", base_url=srv.url, max_concurrency=3)
    backend.generate([GenerationRequest(f"q{i}", [{"role": "user", "content": "hi"}]) for i in range(9)])
    assert srv.max_active == 3


def test_the_api_key_comes_from_the_environment(server_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGHTSOUND_TEST_KEY", "sk-test")
    backend = load_backend("openai", "served", base_url="http://127.0.0.1:9/v1", api_key_env="SIGHTSOUND_TEST_KEY")
    assert backend._client.headers["Authorization"] == "Bearer sk-test"



def test_it_takes_the_key_only_from_an_allow_listed_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", "django-secret")
    with pytest.raises(ValueError, match="'SECRET_KEY' is not one of them"):
        load_backend("openai", "served", base_url="http://127.0.0.1:9/v1", api_key_env="SECRET_KEY",
                     allowed_key_envs=["OPENAI_API_KEY"], private_hosts=["127.0.0.1"])


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/v1", "http://169.254.169.254/v1", "http://10.1.2.3:8000/v1",
                                 "http://localhost:8000/v1", "http://[::1]:8000/v1"])
def test_it_refuses_internal_addresses_the_deployment_did_not_allow(url: str) -> None:
    with pytest.raises(ServerError, match="non-public address"):
        load_backend("openai", "served", base_url=url, private_hosts=["gpu-box"])


def test_it_redacts_the_key_from_a_servers_error_body(server_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-abcdef123456")
    srv = server_factory(plan=[400], echo_auth=True)
    backend = load_backend("openai", "served", base_url=srv.url, allowed_key_envs=["OPENAI_API_KEY"],
                           private_hosts=["127.0.0.1"])
    with pytest.raises(ServerError) as err:
        backend.generate([GenerationRequest("q", [{"role": "user", "content": "hi"}])])
    assert "sk-live-abcdef123456" not in str(err.value) and "[redacted]" in str(err.value)
