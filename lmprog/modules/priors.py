"""Label priors of an Infer-Retrieve-Rank program as saved parameters: inline, or a JSON file by reference.

A large priors table (one number per ESCO skill) is better kept in its own file: the artifact then
records the file's path (relative to the artifact) and the hash of its content, and loading checks it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path

from lmprog.errors import ArtifactError, ConfigurationError, ParameterError
from lmprog.paths import relative_to


def priors_hash(priors: Mapping) -> str:
    """sha256 of the canonical JSON of a priors table."""
    body = json.dumps(dict(priors), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(b"lmprog.priors/1\n" + body.encode("utf-8")).hexdigest()


def read_priors(path: Path) -> dict:
    """A priors file: a JSON object of label name -> number."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"priors file {path} does not exist", path=str(path)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ArtifactError(f"priors file {path} is not valid JSON: {error}", path=str(path)) from None
    if not isinstance(data, dict) or not all(_is_number(v) for v in data.values()):
        raise ArtifactError(f"priors file {path} must be a JSON object of label -> number", path=str(path))
    return data


def priors_params(priors: Mapping | None, priors_file, base: Path | None) -> dict | None:
    """The priors as saved: ``{"inline": {...}}``, or ``{"file": {"path", "hash"}}`` when ``priors_file``
    (which must hold exactly these priors) is given; None without priors."""
    if not priors:
        if priors_file is not None:
            raise ArtifactError("priors_file was given but the program has no priors")
        return None
    bad = [name for name, value in priors.items() if not _is_number(value) or not math.isfinite(value)]
    if bad:
        raise ConfigurationError(f"the prior of label {bad[0]!r} is not a finite number")
    if priors_file is None:
        return {"inline": dict(priors)}
    path = Path(priors_file)
    if priors_hash(read_priors(path)) != priors_hash(priors):
        raise ArtifactError(f"priors file {path} does not hold the program's priors")
    return {"file": {"path": relative_to(path, base or Path.cwd()), "hash": priors_hash(priors)}}


def priors_from_params(data: Mapping | None, base: Path | None) -> dict | None:
    """The priors :func:`priors_params` saved; a referenced file must still have the recorded hash."""
    if data is None:
        return None
    if "inline" in data:
        if not isinstance(data["inline"], dict):
            raise ParameterError("priors.inline", "an object", type(data["inline"]).__name__)
        return dict(data["inline"])
    ref = data.get("file")
    if not isinstance(ref, dict):
        raise ParameterError("priors", "an object holding 'inline' or 'file'", type(ref).__name__)
    for key in ("path", "hash"):
        if not isinstance(ref.get(key), str):
            raise ParameterError(f"priors.file.{key}", "a string", type(ref.get(key)).__name__)
    path = Path(ref["path"])
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    priors = read_priors(path)
    found = priors_hash(priors)
    if found != ref["hash"]:
        raise ArtifactError(f"priors file {path} has changed since the program was saved: its hash is {found}, "
                            f"the program expects {ref['hash']}", path=str(path))
    return priors


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
