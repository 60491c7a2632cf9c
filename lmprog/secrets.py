"""What counts as a secret, in one place: keys never written to the ledger, artifacts, reports or logs.

Two questions are asked: is this *setting name* a credential or an endpoint (an artifact's LM settings,
a model file's metadata), and which *values* must be masked in a text (an error message a provider
returned, which may quote the key it was sent).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

# Setting names never written anywhere, at any depth: credentials and where they are sent.
SECRET_SETTING = re.compile(
    r"(api_?key|secret|passw(or)?d|credential|authori[sz]ation|bearer|(auth|access|session|id|refresh)_?token"
    r"|api_?base|base_?url|endpoint|headers|cookie|^key$|_key$|^token$)",
    re.IGNORECASE,
)
# Environment variables whose values are masked in any text lmprog stores.
SECRET_VARIABLE = re.compile(r"(_API_KEY|_TOKEN|_SECRET|_ACCESS_KEY)$")
MIN_SECRET_CHARS = 8  # shorter values ("1", "true") would mask ordinary words
MASK = "***"


def is_secret_setting(name: object) -> bool:
    """True for a setting name that holds a credential or an endpoint (``api_key``, ``api_base``, ``headers``...)."""
    return bool(SECRET_SETTING.search(str(name)))


def without_secrets(value: Any) -> Any:
    """``value`` with every mapping key that :func:`is_secret_setting` flags removed, at any depth."""
    if isinstance(value, Mapping):
        return {k: without_secrets(v) for k, v in value.items() if not is_secret_setting(k)}
    if isinstance(value, (list, tuple)):
        return [without_secrets(v) for v in value]
    return value


def environment_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of the environment's key variables (``OPENAI_API_KEY``...) long enough to mask safely."""
    environ = os.environ if environ is None else environ
    return [v for k, v in environ.items() if SECRET_VARIABLE.search(k) and len(v) >= MIN_SECRET_CHARS]


def mask(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every given secret and every environment key value replaced by ``***``."""
    for secret in [*secrets, *environment_secrets()]:
        if secret:
            text = text.replace(secret, MASK)
    return text
