"""TestLMServer: an OpenAI-compatible chat server on 127.0.0.1 that answers by a rule, and its HTTP handler."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Mapping, Optional, Union
from urllib.parse import urlsplit

from lmprog.testing.faults import FaultPlan, checked_probabilities
from lmprog.testing.meter import Meter
from lmprog.testing.rules import Answer, Completion, Rule, as_rule, complete, message_text, truncated

LOOPBACK = "127.0.0.1"


class TestLMServer:
    """OpenAI-compatible chat server on 127.0.0.1 that answers by a scripted ``rule``.

    ``rule`` is a callable ``rule(body) -> str | dict`` (a dict may give ``content``, ``logprobs``,
    ``finish_reason``), a str (always that answer), a dict of substring -> answer (the first key found
    in the last user message wins, else the ``"default"`` entry), or None (echo the last user message).
    A rule that raises makes the server answer 500 with the error message.

    ``faults`` maps fault kinds (see ``FAULT_KINDS``) to probabilities, drawn from ``random.Random(seed)``
    in arrival order, or with ``faults_by_request`` from the request body and how many times it came
    before (the same faults whatever order threads send in: the n-th attempt of a request meets the
    same fate in every run); ``fail_next`` queues faults deterministically. ``latency``, ``faults``, ``retry_after`` and
    ``timeout_seconds`` may be changed while the server runs. It listens on 127.0.0.1 only.

    ``rate_limit`` (requests per second, bursts up to one second's worth) answers requests beyond it with
    429 and the ``Retry-After`` seconds until the next would pass; :attr:`meter` tells the most requests in
    flight at once (``max_in_flight``), when admitted requests arrived and how many were limited.
    """

    __test__ = False  # not a pytest test class despite the name

    def __init__(
        self,
        rule: Union[Rule, str, Mapping[str, Answer], None] = None,
        *,
        model: str = "test-model",
        host: str = LOOPBACK,
        port: int = 0,
        latency: float = 0.0,
        faults: Optional[Mapping[str, float]] = None,
        seed: int = 0,
        retry_after: float = 1,
        timeout_seconds: float = 30.0,
        faults_by_request: bool = False,
        rate_limit: Optional[float] = None,
    ):
        if host != LOOPBACK:
            raise ValueError(f"TestLMServer listens on {LOOPBACK} only, not {host!r}")
        self._lock = threading.Lock()
        self._plan = FaultPlan(seed)
        self.rule = rule
        self.model = model
        self.host = host
        self.port = port
        self.latency = latency
        self.faults = faults or {}
        self.seed = seed
        self.retry_after = retry_after
        self.timeout_seconds = timeout_seconds
        self.faults_by_request = faults_by_request
        self.meter = Meter(rate_limit)
        self._requests: list[dict] = []
        self._request_count = 0
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._httpd: Optional[_HTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    # -- configuration -------------------------------------------------------------------------

    @property
    def rule(self) -> Rule:
        """The answering rule, normalized to a callable. Assign any accepted form to change it."""
        return self._rule

    @rule.setter
    def rule(self, rule: Union[Rule, str, Mapping[str, Answer], None]) -> None:
        self._rule = as_rule(rule)

    @property
    def faults(self) -> dict[str, float]:
        """Fault kind -> probability per chat request."""
        return self._plan.probabilities

    @faults.setter
    def faults(self, faults: Mapping[str, float]) -> None:
        self._plan.probabilities = checked_probabilities(faults)

    def fail_next(self, kind: str, count: int = 1) -> None:
        """Make the next ``count`` chat requests fail with fault ``kind`` (before any random faults)."""
        with self._lock:
            self._plan.queue(kind, count)

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> "TestLMServer":
        """Start serving in a background daemon thread; returns self."""
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = _HTTPServer((self.host, self.port), self)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=f"TestLMServer:{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving promptly, cutting open connections and ending hanging timeout faults."""
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> "TestLMServer":
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    # -- observation -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Root URL, e.g. ``http://127.0.0.1:54321``."""
        if self._httpd is None:
            raise RuntimeError("TestLMServer is not running; call start() or use it as a context manager")
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        """The OpenAI ``api_base``: ``url + "/v1"``."""
        return self.url + "/v1"

    @property
    def requests(self) -> list[dict]:
        """A copy of the JSON bodies of the chat requests received, in order."""
        with self._lock:
            return list(self._requests)

    @property
    def request_count(self) -> int:
        """Chat requests received, faulted ones included."""
        with self._lock:
            return self._request_count

    @property
    def fault_counts(self) -> dict[str, int]:
        """Fault kind -> how many times it was injected."""
        with self._lock:
            return dict(self._plan.counts)

    def reset(self) -> None:
        """Clear the request log, counters and queued faults, and reseed the fault RNG."""
        with self._lock:
            self._requests.clear()
            self._request_count = 0
            self._plan.reset(self.seed)
            self.meter.reset()

    # -- used by the request handler -----------------------------------------------------------

    def _record(self, body: Optional[dict]) -> None:
        with self._lock:
            self._request_count += 1
            if body is not None:
                self._requests.append(body)

    def _admit(self) -> Optional[float]:
        with self._lock:
            return self.meter.admit()

    def _in_flight(self, entering: bool) -> None:
        with self._lock:
            (self.meter.enter if entering else self.meter.leave)()

    def _next_fault(self, body: Optional[dict] = None) -> Optional[str]:
        with self._lock:
            return self._plan.next(body, seed=self.seed, by_request=self.faults_by_request)

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless the server stops first; True if it stopped."""
        return self._stopping.wait(seconds) if seconds > 0 else self._stopping.is_set()

    def _track(self, connection: socket.socket, is_open: bool) -> None:
        with self._lock:
            (self._connections.add if is_open else self._connections.discard)(connection)


def _error_body(message: str, error_type: str, code: Optional[str] = None) -> dict:
    return {"error": {"message": message, "type": error_type, "param": None, "code": code}}


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], owner: TestLMServer):
        self.owner = owner
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # clients hanging up are expected
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else keep-alive requests stall ~40 ms on delayed ACKs
    server_version = "lmprog-TestLMServer/1"
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        path = self._path()
        if path == "/health":
            self._send_json(200, {"status": "ok"})
        elif path in ("/v1/models", "/models"):
            model = {"id": self.server.owner.model, "object": "model", "created": 0, "owned_by": "lmprog"}
            self._send_json(200, {"object": "list", "data": [model]})
        else:
            self._not_found()

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self._path() in ("/v1/chat/completions", "/chat/completions"):
            self.server.owner._in_flight(True)
            try:
                self._chat(raw)
            finally:
                self.server.owner._in_flight(False)
        else:
            self._not_found()

    def _path(self) -> str:
        return urlsplit(self.path).path.rstrip("/") or "/"

    def _not_found(self) -> None:
        self._send_json(404, _error_body(f"Invalid URL ({self.command} {self._path()})", "invalid_request_error", "not_found"))

    def _chat(self, raw: bytes) -> None:
        owner = self.server.owner
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            owner._record(None)
            self._send_json(400, _error_body("request body must be a JSON object", "invalid_request_error"))
            return
        owner._record(body)
        wait = owner._admit()
        if wait is not None:
            headers = {"Retry-After": f"{wait:.3f}"}
            self._send_json(429, _error_body("Rate limit reached for requests", "requests", "rate_limit_exceeded"),
                            headers)
            return
        fault = owner._next_fault(body)
        if owner._sleep(owner.latency) or (fault == "timeout" and owner._sleep(owner.timeout_seconds)):
            self.close_connection = True  # stopping: hang up without answering
            return
        stream = bool(body.get("stream"))
        if fault == "429":
            message = "Rate limit reached for requests (injected fault)"
            headers = {"Retry-After": str(owner.retry_after)}
            self._send_json(429, _error_body(message, "requests", "rate_limit_exceeded"), headers)
            return
        if fault == "500":
            self._send_json(500, _error_body("The server had an error (injected fault)", "server_error"))
            return
        if fault == "malformed":
            payload = b'data: {"choices": [\n\n' if stream else b'{"choices": ['
            self._send(200, payload, "text/event-stream" if stream else "application/json")
            return
        try:
            completion = complete(owner.rule, body)
        except Exception as error:  # a broken rule is reported to the client, not swallowed
            self._send_json(500, _error_body(f"rule raised {type(error).__name__}: {error}", "server_error"))
            return
        if fault == "truncated":
            completion = truncated(completion)
        choices = [] if fault == "empty_choices" else None
        self._answer(body, completion, stream, choices)

    def _answer(self, body: dict, completion: Completion, stream: bool, choices: Optional[list]) -> None:
        prompt_words = sum(len(message_text(m.get("content")).split()) for m in body.get("messages") or [] if isinstance(m, Mapping))
        prompt_tokens, completion_tokens = max(1, prompt_words), max(1, len(completion.tokens))
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens}
        head = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion.chunk" if stream else "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or self.server.owner.model,
        }
        if not stream:
            if choices is None:
                message = {"role": "assistant", "content": completion.content}
                logprobs = None if completion.logprobs is None else {"content": completion.logprobs}
                choices = [{"index": 0, "message": message, "logprobs": logprobs, "finish_reason": completion.finish_reason}]
            self._send_json(200, {**head, "choices": choices, "usage": usage})
            return
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        extra = {"usage": None} if include_usage else {}

        def chunk(delta: dict, logprobs: Optional[list] = None, finish_reason: Optional[str] = None) -> dict:
            choice = {"index": 0, "delta": delta, "logprobs": logprobs and {"content": logprobs}, "finish_reason": finish_reason}
            return {**head, "choices": [choice], **extra}

        chunks = []
        if choices is None:
            chunks.append(chunk({"role": "assistant", "content": ""}))
            for i, token in enumerate(completion.tokens):
                chunks.append(chunk({"content": token}, completion.logprobs and completion.logprobs[i : i + 1]))
            chunks.append(chunk({}, finish_reason=completion.finish_reason))
        else:
            chunks.append({**head, "choices": [], **extra})
        if include_usage:
            chunks.append({**head, "choices": [], "usage": usage})
        events = [f"data: {json.dumps(c)}\n\n" for c in chunks] + ["data: [DONE]\n\n"]
        self._send(200, "".join(events).encode(), "text/event-stream")

    def _send_json(self, status: int, payload: dict, headers: Optional[Mapping[str, str]] = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _send(self, status: int, payload: bytes, content_type: str, headers: Optional[Mapping[str, str]] = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
