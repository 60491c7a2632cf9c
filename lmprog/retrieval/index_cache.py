"""Index folders on disk: their names, and writing them so that no reader sees half an index.

An index folder is named after the kind, the fields, the model and the label space's hash, plus a
digest of everything that shapes the index (the *spec*)::

    cache/indexes/bm25-name+aliases-<labels hash[:12]>-<spec digest[:8]>/
    cache/indexes/dense-name+aliases-all-MiniLM-L6-v2-<labels hash[:12]>-<spec digest[:8]>/

``meta.json`` (the spec, the number of labels and the label file) is written last: a folder
without it is ignored. Folders are written under a temporary name and renamed into place, so
concurrent processes never read a half-written index. Nothing is pickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

FORMAT = 1  # bump when the index layout or the way documents are built changes
META = "meta.json"


def default_index_dir() -> Path:
    """``cache/indexes`` under the working directory."""
    return Path.cwd() / "cache" / "indexes"


def index_spec(kind: str, fields: Sequence[str], labels_hash: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """Everything that shapes an index; its digest is part of the folder name."""
    return {"format": FORMAT, "kind": kind, "fields": list(fields), "labels": labels_hash, **settings}


def index_path(root: str | os.PathLike | None, spec: Mapping[str, Any], model_name: str = "") -> Path:
    """The folder of the index ``spec`` describes, under ``root`` (None: :func:`default_index_dir`)."""
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
    labels_hash = spec["labels"]
    parts = (spec["kind"], "+".join(spec["fields"]), model_name, labels_hash[:12], digest[:8])
    base = Path(root) if root is not None else default_index_dir()
    return base / "-".join(p for p in parts if p)


def is_complete(path: Path) -> bool:
    """Whether ``path`` holds a finished index (its ``meta.json`` is written last)."""
    return (path / META).is_file()


def write_index(path: Path, write_files: Callable[[Path], None], meta: Mapping[str, Any]) -> None:
    """Write an index folder atomically: ``write_files(folder)`` fills a temporary folder, then
    ``meta.json`` is added and the folder renamed to ``path``. If another process finished the same
    index first, its folder is kept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        write_files(tmp)
        (tmp / META).write_text(json.dumps(dict(meta), indent=1, ensure_ascii=False), encoding="utf-8")
        try:
            os.rename(tmp, path)
        except OSError:
            if not is_complete(path):  # not another process winning the race
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
