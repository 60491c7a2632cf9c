"""What the ledger stores for one call, and the key a call is stored under."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any


def canonical_json(value: Any) -> str:
    """The one serialization keys are computed from: sorted keys, no whitespace, UTF-8 text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def call_key(canonical_request: dict) -> str:
    """sha256 (hex) of a canonical request. Callers must leave credentials and URLs out of it."""
    return hashlib.sha256(canonical_json(canonical_request).encode("utf-8")).hexdigest()


@dataclass
class CallRecord:
    """One LM call as the ledger stores it. ``request`` is the canonical request (a dict)."""

    key: str
    model: str
    request: dict
    response: str | None = None
    response_extra: dict | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    latency_ms: float | None = None
    created_at: float = field(default_factory=time.time)
    run_id: str | None = None
    module: str | None = None
    error_kind: str | None = None
    error: str | None = None


@dataclass
class CachedAnswer:
    """What a cache hit needs to rebuild the response (the request itself is not read)."""

    key: str
    model: str
    response: str | None
    response_extra: dict | None
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
