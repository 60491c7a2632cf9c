"""The artifact as a JSON document: plain data only, canonical bytes, an integrity hash, atomic writes."""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dspy

from lmprog.errors import ArtifactError
from lmprog.secrets import is_secret_setting, without_secrets

FORMAT_VERSION = 2
KIND = "lmprog.compiled_program"


def lm_settings(lm) -> dict | None:
    """What an artifact may record about a ``dspy.LM``: its model string and sampling settings.

    API keys, base URLs, headers and anything that looks like a credential are left out.
    """
    if lm is None:
        return None
    if isinstance(lm, Mapping):
        return without_secrets(dict(lm))
    settings: dict[str, Any] = {"model": str(getattr(lm, "model", type(lm).__name__))}
    for key, value in sorted((getattr(lm, "kwargs", None) or {}).items()):
        if not is_secret_setting(key) and _is_json_scalar_tree(value):
            settings[key] = value
    return settings


def _is_json_scalar_tree(value: Any) -> bool:
    if value is None or isinstance(value, (str, bool, int)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return all(_is_json_scalar_tree(v) for v in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _is_json_scalar_tree(v) for k, v in value.items())
    return False


def plain(value: Any, where: str) -> Any:
    """``value`` as plain JSON data (dspy.Example -> dict, tuple -> list); ArtifactError otherwise."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ArtifactError(f"cannot save {where}: {value!r} is not a finite number")
        return float(value)
    if isinstance(value, dspy.Example):
        value = value.toDict()
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ArtifactError(f"cannot save {where}: key {key!r} is not a string")
            out[key] = plain(item, f"{where}.{key}")
        return out
    if isinstance(value, (list, tuple)):
        return [plain(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if type(value).__module__ == "numpy" and hasattr(value, "item"):  # numpy scalars from metrics
        return plain(value.item(), where)
    if isinstance(value, Path):
        return value.as_posix()
    raise ArtifactError(f"cannot save {where}: a {type(value).__name__} is not plain JSON data")


def canonical(document: Mapping) -> bytes:
    """The one serialization hashes are computed from."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def integrity(document: Mapping) -> str:
    """sha256 of the canonical JSON of everything but the ``integrity`` key."""
    body = {k: v for k, v in document.items() if k != "integrity"}
    return hashlib.sha256(b"lmprog.artifact/1\n" + canonical(body)).hexdigest()


def dumps(document: Mapping) -> str:
    """The file's text: sorted keys, indent 1, UTF-8, a trailing newline (the same program, the same bytes)."""
    return json.dumps(document, sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False) + "\n"


def write_atomically(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file renamed into place (a crash leaves no half file)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file private; an artifact is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    """The process umask, read without setting it (os.umask would change it for other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def is_artifact_file(path: Path) -> bool:
    """Whether ``path`` is an lmprog artifact (so a compile may replace it)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(document, dict) and document.get("kind") == KIND
