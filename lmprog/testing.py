"""An offline, scripted, OpenAI-compatible LM server for testing programs.

    from lmprog.testing import TestLMServer, answer_fields

    with TestLMServer(rule={"refund": answer_fields(label="billing"), "default": answer_fields(label="other")}) as server:
        lm = dspy.LM("openai/test-model", api_base=server.api_base, api_key="sk-fake")
        ...
        assert server.request_count == 3

The server listens on 127.0.0.1, answers ``POST /v1/chat/completions`` by a rule, and can inject
faults (rate limits, server errors, timeouts, broken bodies) at random with a seed or on demand.
Only the standard library is imported, so this module is cheap to import.
"""

from __future__ import annotations

import collections
import hashlib
import json
import random
import re
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Mapping, NamedTuple, Optional, Union
from urllib.parse import urlsplit

__all__ = ["FAULT_KINDS", "TestLMServer", "answer_fields", "echo_rule", "last_user_message"]

FAULT_KINDS = ("429", "500", "timeout", "malformed", "truncated", "empty_choices")
DEFAULT_LOGPROB = -0.01

Answer = Union[str, Mapping[str, Any]]
Rule = Callable[[dict], Answer]


def last_user_message(body: Mapping) -> str:
    """The text of the last ``user`` message of a chat request, or '' if there is none."""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, Mapping) and message.get("role") == "user":
            return _text(message.get("content"))
    return ""


def echo_rule(body: Mapping) -> str:
    """A rule that answers with the last user message."""
    return last_user_message(body)


def answer_fields(**fields: Any) -> str:
    """An answer in DSPy ChatAdapter format: ``answer_fields(label="spam")`` gives
    ``"[[ ## label ## ]]\\nspam\\n\\n[[ ## completed ## ]]"``. Non-string values are JSON-encoded."""
    parts = [f"[[ ## {name} ## ]]\n{value if isinstance(value, str) else json.dumps(value)}" for name, value in fields.items()]
    return "\n\n".join([*parts, "[[ ## completed ## ]]"])


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
    ``timeout_seconds`` may be changed while the server runs.
    """

    __test__ = False  # not a pytest test class despite the name

    def __init__(
        self,
        rule: Union[Rule, str, Mapping[str, Answer], None] = None,
        *,
        model: str = "test-model",
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        faults: Optional[Mapping[str, float]] = None,
        seed: int = 0,
        retry_after: float = 1,
        timeout_seconds: float = 30.0,
        faults_by_request: bool = False,
    ):
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
        self._seen_bodies: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self._queued: collections.deque[str] = collections.deque()
        self._requests: list[dict] = []
        self._request_count = 0
        self._fault_counts: dict[str, int] = {}
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
        self._rule = _as_rule(rule)

    @property
    def faults(self) -> dict[str, float]:
        """Fault kind -> probability per chat request."""
        return self._faults

    @faults.setter
    def faults(self, faults: Mapping[str, float]) -> None:
        faults = {str(kind): float(p) for kind, p in faults.items()}
        for kind in faults:
            _check_kind(kind)
        if sum(faults.values()) > 1:
            raise ValueError(f"fault probabilities add up to more than 1: {faults}")
        self._faults = faults

    def fail_next(self, kind: str, count: int = 1) -> None:
        """Make the next ``count`` chat requests fail with fault ``kind`` (before any random faults)."""
        _check_kind(kind)
        with self._lock:
            self._queued.extend([kind] * count)

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
            return dict(self._fault_counts)

    def reset(self) -> None:
        """Clear the request log, counters and queued faults, and reseed the fault RNG."""
        with self._lock:
            self._requests.clear()
            self._request_count = 0
            self._fault_counts.clear()
            self._queued.clear()
            self._seen_bodies.clear()
            self._random.seed(self.seed)

    # -- used by the request handler -----------------------------------------------------------

    def _record(self, body: Optional[dict]) -> None:
        with self._lock:
            self._request_count += 1
            if body is not None:
                self._requests.append(body)

    def _next_fault(self, body: Optional[dict] = None) -> Optional[str]:
        with self._lock:
            if self._queued:
                kind = self._queued.popleft()
            else:
                kind, draw = None, self._draw(body)
                for candidate, probability in self._faults.items():
                    draw -= probability
                    if draw < 0:
                        kind = candidate
                        break
            if kind is not None:
                self._fault_counts[kind] = self._fault_counts.get(kind, 0) + 1
            return kind

    def _draw(self, body: Optional[dict]) -> float:
        if not self.faults_by_request:
            return self._random.random()
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        attempt = self._seen_bodies[digest]
        self._seen_bodies[digest] += 1
        return random.Random(f"{self.seed}:{digest}:{attempt}").random()

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless the server stops first; True if it stopped."""
        return self._stopping.wait(seconds) if seconds > 0 else self._stopping.is_set()

    def _track(self, connection: socket.socket, is_open: bool) -> None:
        with self._lock:
            (self._connections.add if is_open else self._connections.discard)(connection)


# -- internals ------------------------------------------------------------------------------------


class _Completion(NamedTuple):
    tokens: list[str]
    finish_reason: str
    logprobs: Optional[list[dict]]  # one entry per token, when the request asked for logprobs

    @property
    def content(self) -> str:
        return "".join(self.tokens)


def _check_kind(kind: str) -> None:
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; use one of {', '.join(FAULT_KINDS)}")


def _as_rule(rule: Union[Rule, str, Mapping[str, Answer], None]) -> Rule:
    if rule is None:
        return echo_rule
    if isinstance(rule, str):
        return lambda body: rule
    if isinstance(rule, Mapping):
        return _substring_rule(dict(rule))
    if callable(rule):
        return rule
    raise TypeError(f"rule must be a callable, str, dict or None, not {type(rule).__name__}")


def _substring_rule(table: dict[str, Answer]) -> Rule:
    default = table.pop("default", None)

    def rule(body: dict) -> Answer:
        text = last_user_message(body)
        for key, answer in table.items():
            if key in text:
                return answer
        if default is None:
            raise LookupError(f"no rule key occurs in the last user message {text[:80]!r} and there is no 'default'")
        return default

    return rule


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return "" if content is None else str(content)


def _tokens(text: str) -> list[str]:
    """Whitespace tokens, each keeping its leading whitespace, so that ``"".join(tokens) == text``."""
    tokens = re.findall(r"\s*\S+", text)
    tail = text[sum(map(len, tokens)) :]
    if tail:
        tokens = [*tokens[:-1], tokens[-1] + tail] if tokens else [tail]
    return tokens


def _logprob_entry(token: str, given: Any, top_n: int) -> dict:
    if isinstance(given, Mapping):
        return dict(given)
    logprob = DEFAULT_LOGPROB if given is None else float(given)
    entry = {"token": token, "logprob": logprob, "bytes": list(token.encode())}
    return {**entry, "top_logprobs": [entry][:top_n]}


def _complete(rule: Rule, body: dict) -> _Completion:
    answer = rule(body)
    if isinstance(answer, str):
        answer = {"content": answer}
    tokens = _tokens(str(answer.get("content") or ""))
    finish_reason = answer.get("finish_reason") or "stop"
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if limit is not None and len(tokens) > int(limit):
        tokens, finish_reason = tokens[: int(limit)], "length"
    logprobs = None
    if body.get("logprobs"):
        given = answer.get("logprobs")
        if isinstance(given, Mapping):
            given = given.get("content")
        if not isinstance(given, list):
            given = [given] * len(tokens)
        top_n = int(body.get("top_logprobs") or 0)
        logprobs = [_logprob_entry(token, given[i] if i < len(given) else None, top_n) for i, token in enumerate(tokens)]
    return _Completion(tokens, finish_reason, logprobs)


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
            self._chat(raw)
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
            completion = _complete(owner.rule, body)
        except Exception as error:  # a broken rule is reported to the client, not swallowed
            self._send_json(500, _error_body(f"rule raised {type(error).__name__}: {error}", "server_error"))
            return
        if fault == "truncated":
            tokens = _tokens(completion.content[: len(completion.content) // 2])
            completion = _Completion(tokens, "length", completion.logprobs and completion.logprobs[: len(tokens)])
        choices = [] if fault == "empty_choices" else None
        self._answer(body, completion, stream, choices)

    def _answer(self, body: dict, completion: _Completion, stream: bool, choices: Optional[list]) -> None:
        prompt_words = sum(len(_text(m.get("content")).split()) for m in body.get("messages") or [] if isinstance(m, Mapping))
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
