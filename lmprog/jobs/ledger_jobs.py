"""The ``lmprog cache`` commands' library side: the ledger opened read-only for reading, exports, merges, and
the ledger served in Datasette."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from lmprog.errors import ConfigurationError
from lmprog.paths import check_output


def read_ledger(path: str | os.PathLike | None):
    """The ledger at ``path`` (default ``$LMPROG_LEDGER``, then ``cache/lmprog.db``), opened read-only: reading
    it never changes the file."""
    from lmprog.ledger import Ledger, ledger_path

    found = ledger_path(path)
    if not found.exists():
        raise ConfigurationError(f"no ledger at {found.absolute()}; it is created by the first LM call "
                                 "(set --ledger or LMPROG_LEDGER)")
    return Ledger.open_readonly(found)


def is_export_file(path: Path) -> bool:
    """A file ``lmprog cache export`` wrote: empty, or JSON Lines of calls (key, model, request)."""
    try:
        with path.open("rb") as handle:
            first = handle.readline()
    except OSError:
        return False
    if not first:
        return True
    try:
        row = json.loads(first)
    except ValueError:
        return False
    return isinstance(row, dict) and {"key", "model", "request"} <= set(row)


def export_ledger(path: str | os.PathLike | None, out: str | os.PathLike | None = None, *, force: bool = False,
                  stream: TextIO | None = None) -> int:
    """Write every call with its full request as JSON Lines to ``out`` (or ``stream``, default stdout);
    returns how many. An existing ``out`` that is not an earlier export is refused unless ``force``."""
    ledger = read_ledger(path)
    if out is None:
        return _write_rows(ledger, stream or sys.stdout)
    target = check_output(out, what="export file", force=force, ours=is_export_file,
                          inputs=[ledger.path])
    with open(target, "w", encoding="utf-8") as handle:
        return _write_rows(ledger, handle)


def _write_rows(ledger, stream: TextIO) -> int:
    count = 0
    for row in ledger.iter_export():
        stream.write(json.dumps(row, ensure_ascii=False) + "\n")
        count += 1
    return count


def merge_ledgers(shards: list[str | os.PathLike], into: str | os.PathLike) -> list:
    """Merge the ledger shards into the ledger ``into`` (created if missing), one after another; returns
    one :class:`lmprog.ledger.merge.MergeCounts` per shard. Merging again adds nothing twice."""
    from lmprog.ledger import Ledger

    target = Path(into)
    for shard in shards:
        found = Path(shard)
        if not found.is_file():
            raise ConfigurationError(f"no ledger at {found.absolute()}")
        if target.exists() and found.resolve() == target.resolve():
            raise ConfigurationError(f"{found} is the ledger being merged into; name it once, after --into")
    ledger = Ledger(target)
    try:
        return [ledger.merge(shard) for shard in shards]
    finally:
        ledger.close()


def browse_ledger(path: str | os.PathLike | None, *, port: int = 8001,
                  ready: Callable[[str], None] | None = None) -> None:
    """Serve the ledger (default as for :func:`read_ledger`) in Datasette on 127.0.0.1:``port``, read only,
    until interrupted; ``ready(url)`` is called once the port is bound."""
    from lmprog.ledger import ledger_path
    from lmprog.ledger.browse import serve

    found = ledger_path(path)
    if not found.exists():
        raise ConfigurationError(f"no ledger at {found.absolute()}; it is created by the first LM call "
                                 "(set --ledger or LMPROG_LEDGER)")
    serve(found, port=port, ready=ready)
