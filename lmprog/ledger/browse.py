"""``lmprog cache browse``: the ledger in Datasette (the optional extra ``lmprog[browse]``), read only.

The file is opened ``immutable`` (SQLite reads it as a plain file: no lock, no journal, nothing written,
byte-identical afterwards). When a ``-wal`` file lies next to it (a process is writing, or one was killed
before folding its log in), the file is opened ``mode=ro`` instead, so the calls in the log are shown too;
SQLite then reads the log and writes nothing to the ledger file. The server listens on 127.0.0.1 only.
The SQL functions and canned queries are in :mod:`lmprog.ledger.browse_queries`.
"""

from __future__ import annotations

import os
import socket
import sqlite3
from collections.abc import Callable
from pathlib import Path

from lmprog.errors import ConfigurationError, LedgerError
from lmprog.ledger import schema
from lmprog.ledger.browse_queries import DATABASE, QUERIES

HOST = "127.0.0.1"
PLUGIN = "lmprog-ledger"
SETTINGS = {"sql_time_limit_ms": 5000, "facet_time_limit_ms": 500, "default_page_size": 50}


def live_log(path: Path) -> bool:
    """A ``-wal`` file lies next to the ledger: its newest calls may be there, not in the file yet."""
    return os.path.exists(f"{path}-wal")


def check_ledger(path: Path) -> None:
    """Raise :class:`LedgerError` unless ``path`` is a ledger this lmprog can read (read as browse will)."""
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        raise LedgerError(f"cannot open ledger {path}: the file {what}")
    uri = path.absolute().as_uri() + ("?mode=ro" if live_log(path) else "?immutable=1")
    conn = sqlite3.connect(uri, uri=True)
    try:
        missing = schema.missing_for_reading(conn)
    except sqlite3.DatabaseError as exc:
        raise LedgerError(f"cannot open ledger {path}: {exc}") from exc
    finally:
        conn.close()
    if missing:
        raise LedgerError(f"cannot read ledger {path}: it has no {', '.join(missing)}")


def metadata(path: Path) -> dict:
    """Datasette metadata: titles, column notes, hidden bookkeeping tables, the canned queries."""
    return {
        "title": f"lmprog ledger {path.name}",
        "description": f"{path.absolute()} (read only). Requests are stored compactly: read them with the "
                       "canned queries or lmprog_prompt(request) / lmprog_request(request) in SQL.",
        "databases": {DATABASE: {
            "tables": {
                "calls": {"description": "One row per call attempt; error_kind is null for a paid answer.",
                          "columns": {"key": "sha256 of the request (lower(hex(key)) in SQL)",
                                      "request": "the request, packed: lmprog_prompt(request) reads it",
                                      "cost_usd": "null when the model has no known price"}},
                "texts": {"description": "Long paragraphs repeated across requests, stored once by hash."},
                "runs": {"description": "One row per run: a command or a Python session."},
                "run_hits": {"hidden": True},
                "claims": {"hidden": True},
                "_sqlite_migrations": {"hidden": True},
            },
            "queries": QUERIES,
        }},
    }


def datasette_app(path: Path):
    """A Datasette instance serving the ledger at ``path`` read only, as database ``ledger``."""
    try:
        from datasette.app import Datasette
        from datasette.database import Database
        from datasette.plugins import pm
    except ImportError as exc:
        raise ConfigurationError("lmprog cache browse needs Datasette: pip install 'lmprog[browse]'") from exc
    from lmprog.ledger import browse_plugin

    if pm.get_plugin(PLUGIN) is None:
        pm.register(browse_plugin, name=PLUGIN)
    path = path.absolute()
    ds = Datasette([], metadata=metadata(path), settings=SETTINGS)
    ds.add_database(Database(ds, str(path), is_mutable=live_log(path)), name=DATABASE)
    return ds


def listen(port: int) -> socket.socket:
    """A socket listening on 127.0.0.1:``port`` (0: a free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
        sock.listen(128)  # connections wait in the backlog until the server starts accepting
    except OSError as exc:
        sock.close()
        raise ConfigurationError(f"cannot listen on {HOST}:{port}: {exc.strerror}; choose another --port") from exc
    return sock


def serve(path: str | os.PathLike, *, port: int = 8001, ready: Callable[[str], None] | None = None) -> None:
    """Serve the ledger at ``path`` in Datasette on 127.0.0.1 until interrupted; ``ready(url)`` is called
    once the port is bound (``port=0`` picks a free one)."""
    import uvicorn

    path = Path(path)
    check_ledger(path)
    app = datasette_app(path).app()
    sock = listen(port)
    url = f"http://{HOST}:{sock.getsockname()[1]}/{DATABASE}"
    server = uvicorn.Server(uvicorn.Config(app, host=HOST, port=sock.getsockname()[1], log_level="warning",
                                           lifespan="on"))
    if ready is not None:
        ready(url)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
