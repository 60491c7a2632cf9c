"""The labelling page's HTTP server (the standard library's ``http.server``), on 127.0.0.1 only.

Every path starts with a random access token (``http://127.0.0.1:PORT/TOKEN/``); a request without it,
or for another host name (DNS rebinding), is answered 403. The page is three static files served from
the package (HTML, CSS, a small script: nothing from elsewhere) under a strict Content-Security-Policy;
data travels as JSON and the script puts every text in the page as text, never as markup.

    GET  /TOKEN/            the page            GET  /TOKEN/api/state    the session's state (JSON)
    GET  /TOKEN/page.js     its script          POST /TOKEN/api/answer   {"id": ..., "labels": [...]}
    GET  /TOKEN/page.css    its style
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources

from lmprog.errors import LmprogError

HOST = "127.0.0.1"
MAX_BODY = 64 * 1024
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
ASSETS = {"": ("page.html", "text/html; charset=utf-8"), "page.js": ("page.js", "text/javascript; charset=utf-8"),
          "page.css": ("page.css", "text/css; charset=utf-8")}


class PageServer(ThreadingHTTPServer):
    """Serves one :class:`~lmprog.loop.page.session.LabelSession` at ``url`` until :meth:`shutdown`."""

    daemon_threads = True

    def __init__(self, session, *, port: int = 0, token: str | None = None):
        self.session = session
        self.token = token or secrets.token_urlsafe(24)
        super().__init__((HOST, port), Handler)
        self.port = self.server_address[1]
        self.hosts = {f"{HOST}:{self.port}", f"localhost:{self.port}"}

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/{self.token}/"


def asset(name: str) -> bytes:
    return resources.files("lmprog.loop.page").joinpath("static", name).read_bytes()


class Handler(BaseHTTPRequestHandler):
    server: PageServer
    server_version = "lmprog"
    sys_version = ""

    def log_message(self, format, *args) -> None:  # noqa: A002 - library code never prints
        pass

    def _route(self) -> str | None:
        """The path after the token, or None (403 sent) when the token or the host is wrong."""
        head, _, rest = self.path.split("?", 1)[0].lstrip("/").partition("/")
        if self.headers.get("Host") not in self.server.hosts or not hmac.compare_digest(
                head.encode(), self.server.token.encode()):
            self._send(HTTPStatus.FORBIDDEN, b"forbidden\n", "text/plain; charset=utf-8")
            return None
        return rest

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        route = self._route()
        if route is None:
            return
        if route == "" and not self.path.split("?", 1)[0].endswith("/"):
            self.send_response(HTTPStatus.MOVED_PERMANENTLY)
            self.send_header("Location", f"/{self.server.token}/")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif route in ASSETS:
            name, kind = ASSETS[route]
            self._send(HTTPStatus.OK, asset(name), kind)
        elif route == "favicon.ico":
            self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon")
        elif route == "api/state":
            self._json(HTTPStatus.OK, self.server.session.state())
        else:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")

    def do_POST(self) -> None:  # noqa: N802
        route = self._route()
        if route is None:
            return
        origin = self.headers.get("Origin")
        if origin is not None and origin.removeprefix("http://") not in self.server.hosts:
            self._send(HTTPStatus.FORBIDDEN, b"forbidden\n", "text/plain; charset=utf-8")
            return
        if route != "api/answer":
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")
            return
        body = self._body()
        if body is None:
            return
        try:
            item = self.server.session.answer(body.get("id"), body.get("labels"))
        except LmprogError as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        except OSError as exc:  # the disk: the answer is in the journal if that write succeeded
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"not saved: {exc.strerror or exc}"})
            return
        self._json(HTTPStatus.OK, {"item": item})

    def _body(self) -> dict | None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if not self.headers.get("Content-Type", "").startswith("application/json") or not 0 < length <= MAX_BODY:
            self._json(HTTPStatus.BAD_REQUEST, {"error": "send a JSON body"})
            return None
        try:
            body = json.loads(self.rfile.read(length))
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self._json(HTTPStatus.BAD_REQUEST, {"error": "send a JSON object"})
            return None
        return body

    def _json(self, status: HTTPStatus, data) -> None:
        self._send(status, json.dumps(data, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8")

    def _send(self, status: HTTPStatus, body: bytes, kind: str) -> None:
        self.send_response(status)
        for header, value in (("Content-Type", kind), ("Content-Length", str(len(body))),
                              ("Content-Security-Policy", CSP), ("X-Content-Type-Options", "nosniff"),
                              ("Referrer-Policy", "no-referrer"), ("Cache-Control", "no-store"),
                              ("X-Frame-Options", "DENY"), ("Cross-Origin-Resource-Policy", "same-origin")):
            self.send_header(header, value)
        self.end_headers()
        self.wfile.write(body)


def serve(session, *, port: int = 0, token: str | None = None, ready: Callable[[str], None] | None = None) -> None:
    """Serve ``session`` on 127.0.0.1:``port`` (0: a free port) until interrupted; ``ready(url)`` is called
    once the port is bound. The session is closed when the server stops."""
    server = PageServer(session, port=port, token=token)
    try:
        if ready is not None:
            ready(server.url)
        server.serve_forever()
    finally:
        server.server_close()
        session.close()
