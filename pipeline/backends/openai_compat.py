"""Client backend for any OpenAI-compatible chat server: `vllm serve` on a GPU box shared by many workers, or a
hosted API. Same requests in, same result structures out, so a run can move between backends unchanged.

Media travel inline: frames as JPEG `image_url` data URLs (one per frame, in order), audio as `input_audio` WAV.
Requests run concurrently (bounded), each with a timeout, and retry with exponential backoff and jitter on
connection errors, timeouts, 408/409/429 and 5xx; other 4xx errors fail at once with the server's message.
The API key is read from an environment variable, never from a run's stored config.
"""

from __future__ import annotations

import base64
import io
import logging
import os
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.backends.base import Completion, GenerationRequest, GenerationResult, SamplingParams, options_from_kwargs

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


@dataclass
class OpenAIOptions:
    """Options of the OpenAI-compatible client (`load_backend("openai", model, **options)`)."""

    base_url: str = field(default="http://127.0.0.1:8000/v1", metadata={"help": "server root, ending in /v1"})
    api_key_env: str = field(default="OPENAI_API_KEY", metadata={"help": "environment variable holding the key "
                                                                         "(unset: no Authorization header)"})
    server: str = field(default="vllm", metadata={"help": "vllm (accepts top_k, repetition_penalty, ignore_eos) | "
                                                          "openai (strict OpenAI parameters only)"})
    max_concurrency: int = field(default=8, metadata={"help": "requests in flight at once"})
    timeout_s: float = field(default=120.0, metadata={"help": "per HTTP request"})
    max_retries: int = field(default=4, metadata={"help": "retries after the first attempt"})
    backoff_s: float = field(default=0.5, metadata={"help": "first retry delay; doubles each retry (+ jitter)"})
    jpeg_quality: int = field(default=90, metadata={"help": "frames are sent as JPEG images"})
    allowed_key_envs: list[str] | None = field(default=None, metadata={
        "help": "environment variables the key may come from (the web app passes its deployment's list; None: any)"})
    private_hosts: list[str] | None = field(default=None, metadata={
        "help": "host names allowed to resolve to loopback, link-local or private addresses (the web app passes "
                "its deployment's list, so a form cannot aim a worker at internal services; None: no check)"})

    @classmethod
    def from_kwargs(cls, options: dict[str, Any]) -> OpenAIOptions:
        opts = options_from_kwargs(cls, options, "openai backend")
        if opts.server not in ("vllm", "openai"):
            raise ValueError(f"server must be 'vllm' or 'openai', got {opts.server!r}")
        if opts.max_concurrency < 1 or opts.max_retries < 0:
            raise ValueError("max_concurrency must be >= 1 and max_retries >= 0")
        if opts.allowed_key_envs is not None and opts.api_key_env not in opts.allowed_key_envs:
            raise ValueError(f"the API key may come only from {', '.join(opts.allowed_key_envs) or 'no variable'}; "
                             f"{opts.api_key_env!r} is not one of them")
        return opts


def check_host(base_url: str, private_hosts: list[str] | None) -> None:
    """Refuse a server whose host resolves to a loopback, link-local, private or reserved address unless the
    deployment allow-listed that host name: a worker holds secrets and sits inside the network.

    >>> check_host("http://127.0.0.1:8000/v1", ["127.0.0.1"]), check_host("http://10.0.0.5/v1", None)
    (None, None)
    >>> try:
    ...     check_host("http://169.254.169.254/v1", [])
    ... except ServerError as exc:
    ...     print(str(exc)[:57])
    refusing 169.254.169.254: it resolves to 169.254.169.254,
    """
    import ipaddress
    import socket
    from urllib.parse import urlsplit

    if private_hosts is None:
        return
    host = urlsplit(base_url).hostname or ""
    if host in private_hosts:
        return
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError as exc:
        raise ServerError(f"cannot resolve {host}: {exc}") from exc
    for address in sorted(addresses):
        ip = ipaddress.ip_address(address.split("%")[0])
        if not ip.is_global:
            raise ServerError(f"refusing {host}: it resolves to {address}, a non-public address; a deployment that "
                              "runs its model servers privately lists their host names in MODEL_SERVER_PRIVATE_HOSTS")


class ServerError(RuntimeError):
    """The server refused a request (or kept failing after every retry); the message says which and why."""


# ------------------------------------------------------------------------------------------------ encoding


def jpeg_data_url(frame: np.ndarray, quality: int = 90) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(frame, dtype=np.uint8)).save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def wav_base64(audio: np.ndarray, sample_rate: int) -> str:
    import soundfile

    buf = io.BytesIO()
    soundfile.write(buf, np.asarray(audio, dtype=np.float32), sample_rate, format="WAV", subtype="PCM_16")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def openai_messages(request: GenerationRequest, jpeg_quality: int = 90) -> list[dict[str, Any]]:
    """Our chat messages with decoded media -> OpenAI content parts (frames as images, audio as input audio)."""
    out = []
    for message in request.messages:
        content = message.get("content")
        if not isinstance(content, list):
            out.append({"role": message["role"], "content": content})
            continue
        parts: list[dict[str, Any]] = []
        for part in content:
            kind = part.get("type")
            if kind == "text":
                parts.append({"type": "text", "text": part["text"]})
            elif kind == "video":
                if request.media.frames is None:
                    raise ValueError(f"request {request.request_id}: a video part but no frames")
                parts += [{"type": "image_url", "image_url": {"url": jpeg_data_url(f, jpeg_quality)}}
                          for f in request.media.frames]
            elif kind == "audio":
                if request.media.audio is None:
                    raise ValueError(f"request {request.request_id}: an audio part but no audio")
                parts.append({"type": "input_audio", "input_audio": {
                    "data": wav_base64(request.media.audio, request.media.sample_rate), "format": "wav"}})
            else:
                raise ValueError(f"request {request.request_id}: unsupported content part {kind!r}")
        out.append({"role": message["role"], "content": parts})
    return out


def request_body(model: str, request: GenerationRequest, options: OpenAIOptions) -> dict[str, Any]:
    """The chat-completions body; every sampling knob explicit, and refused where the server cannot honour it."""
    s: SamplingParams = request.sampling
    body: dict[str, Any] = {
        "model": model, "messages": openai_messages(request, options.jpeg_quality),
        "n": 1 if s.greedy else request.n, "temperature": 0.0 if s.greedy else s.temperature,
        "top_p": 1.0 if s.greedy else s.top_p, "max_tokens": s.max_new_tokens, "logprobs": True,
    }
    if s.seed is not None:
        body["seed"] = s.seed
    if options.server == "vllm":
        body.update(top_k=0 if s.greedy or not s.top_k else s.top_k, repetition_penalty=s.repetition_penalty,
                    ignore_eos=s.ignore_eos, min_tokens=s.max_new_tokens if s.ignore_eos else 0,
                    skip_special_tokens=True)
    else:
        unsupported = [name for name, off in (("top_k", s.top_k in (0, None)), ("repetition_penalty",
                       s.repetition_penalty == 1.0), ("ignore_eos", not s.ignore_eos)) if not off]
        if unsupported:
            raise ValueError(f"request {request.request_id}: an OpenAI API server has no {', '.join(unsupported)}; "
                             "set them to their neutral values or use server='vllm'")
    if request.json_schema is not None:
        body["response_format"] = {"type": "json_schema",
                                   "json_schema": {"name": "response", "schema": request.json_schema, "strict": True}}
    return body


def parse_response(request: GenerationRequest, data: dict[str, Any]) -> GenerationResult:
    completions = []
    for choice in sorted(data.get("choices") or [], key=lambda c: c.get("index", 0)):
        text = (choice.get("message") or {}).get("content") or ""
        tokens = ((choice.get("logprobs") or {}).get("content")) or []
        logprob = float(sum(t["logprob"] for t in tokens)) if tokens else None
        finish = "length" if choice.get("finish_reason") == "length" else "stop"
        completions.append(Completion(text=text, n_tokens=len(tokens), finish_reason=finish, logprob=logprob))
    if len(completions) == 1 and request.n > 1:
        completions *= request.n  # greedy: one decode stands for all n
    if len(completions) != request.n:
        raise ServerError(f"request {request.request_id}: asked for {request.n} completions, got {len(completions)}")
    usage = data.get("usage") or {}
    return GenerationResult(request_id=request.request_id, prompt_tokens=int(usage.get("prompt_tokens") or 0),
                            completions=completions)


# ------------------------------------------------------------------------------------------------ client


class OpenAIBackend:
    """`Backend` over HTTP; `model` is the served model name (what `vllm serve` was given, or the API's id)."""

    name = "openai"

    def __init__(self, model: str, **options: Any) -> None:
        import httpx

        self.model = model
        self.options = OpenAIOptions.from_kwargs(options)
        check_host(self.options.base_url, self.options.private_hosts)
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.options.api_key_env)
        self._secret = key or ""
        if key:
            headers["Authorization"] = f"Bearer {key}"
        limits = httpx.Limits(max_connections=self.options.max_concurrency,
                              max_keepalive_connections=self.options.max_concurrency)
        self._client = httpx.Client(base_url=self.options.base_url.rstrip("/"), headers=headers,
                                    timeout=self.options.timeout_s, limits=limits)
        self._lock = threading.Lock()
        self.stats = {"requests": 0, "retries": 0}

    def _post(self, body: dict[str, Any], request_id: str) -> dict[str, Any]:
        import httpx

        opts = self.options
        last = ""
        for attempt in range(opts.max_retries + 1):
            if attempt:
                delay = opts.backoff_s * 2 ** (attempt - 1) * (1 + random.random() * 0.25)
                with self._lock:
                    self.stats["retries"] += 1
                log.warning("request %s: %s; retry %d/%d in %.1fs", request_id, last, attempt, opts.max_retries,
                            delay)
                time.sleep(delay)
            check_host(opts.base_url, opts.private_hosts)  # at every send: DNS may have changed since
            try:
                response = self._client.post("/chat/completions", json=body)
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code == 200:
                return response.json()
            detail = response.text[:500].replace(self._secret, "[redacted]") if self._secret else response.text[:500]
            last = f"HTTP {response.status_code}: {detail}"
            if response.status_code not in RETRY_STATUS:
                raise ServerError(f"request {request_id} refused by {opts.base_url}: {last}")
        raise ServerError(f"request {request_id} failed after {opts.max_retries + 1} attempts at {opts.base_url}: "
                          f"{last}")

    def _one(self, request: GenerationRequest) -> GenerationResult:
        if request.n < 1:
            raise ValueError(f"request {request.request_id}: n must be >= 1, got {request.n}")
        body = request_body(self.model, request, self.options)
        with self._lock:
            self.stats["requests"] += 1
        return parse_response(request, self._post(body, request.request_id))

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """Results in request order; at most `max_concurrency` requests in flight."""
        if not requests:
            return []
        with ThreadPoolExecutor(max_workers=min(self.options.max_concurrency, len(requests))) as pool:
            return list(pool.map(self._one, requests))

    def close(self) -> None:
        self._client.close()
