"""Paths a command reads and writes: relative references, and output files checked before any work starts.

lmprog's rule for outputs: a file lmprog wrote itself (an artifact, a report, a model file, a
predictions file it resumes) may be replaced or continued by the command that makes it; any other
existing file is left alone unless the user passes ``force=True`` (the CLI's ``--force``). Every output
is checked before the expensive work starts, so a bad path fails in one sentence, not after a
thirty-minute run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from lmprog.errors import ConfigurationError


def relative_to(path: str | os.PathLike, base: str | os.PathLike) -> str:
    """``path`` relative to the folder ``base`` (POSIX separators), or absolute if it cannot be."""
    path, base = Path(path), Path(base)
    try:
        return Path(os.path.relpath(path.resolve(), base.resolve())).as_posix()
    except ValueError:  # another drive on Windows
        return path.resolve().as_posix()


def check_output(path: str | os.PathLike | None, *, what: str, force: bool = False,
                 ours: Callable[[Path], bool] | None = None, inputs: Sequence[str | os.PathLike] = ()) -> Path | None:
    """Check, before any work, that ``path`` can be written: its folder exists and is writable, it is not
    one of ``inputs``, and an existing file is one lmprog may replace (``ours(path)`` says it wrote it)
    or ``force`` is set. Returns the path (None stays None); raises ConfigurationError in one sentence."""
    if path is None:
        return None
    path = Path(path)
    for source in inputs:
        if source is not None and _same_file(path, Path(source)):
            raise ConfigurationError(f"{what} {path} is also an input of this command; write it somewhere else")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ConfigurationError(f"cannot write the {what} {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise ConfigurationError(f"cannot write the {what} {path}: the folder {folder} is not writable")
    if path.is_dir():
        raise ConfigurationError(f"cannot write the {what} {path}: it is a folder")
    if path.exists() and not force and not (ours is not None and ours(path)):
        raise ConfigurationError(f"{path} exists and is not a file lmprog wrote; choose another {what} path, or "
                                 "pass --force (force=True) to replace it")
    return path


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def starts_with(path: Path, markers: Sequence[bytes], limit: int = 4096) -> bool:
    """Whether the first ``limit`` bytes of ``path`` contain one of ``markers`` (how lmprog recognises its own files)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(limit)
    except OSError:
        return False
    return any(marker in head for marker in markers)
