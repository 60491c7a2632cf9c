"""The one place lmprog uses names DSPy does not publish: lm15's request/response serialization.

DSPy 3.4 bundles lm15 and re-exports its types in ``dspy.lm15``, but not the ``serde`` functions that
turn a Request or Response into plain JSON data and back. The ledger needs exactly that (a cache key
is a canonical serialization of the request; a rich answer is stored as data), so they are wrapped
here; ``tests/test_dspy_compat.py`` fails loudly if a DSPy upgrade moves or changes them.
"""

from __future__ import annotations

from typing import Any

from dspy._vendor.lm15 import serde as _serde

TESTED_DSPY = ("3.4",)  # the DSPy minor versions these wrappers were checked against


def request_to_dict(request) -> dict[str, Any]:
    """A ``dspy.lm15.Request`` as plain JSON data (model, messages, system, tools, config)."""
    return _serde.request_to_dict(request)


def response_to_dict(response) -> dict[str, Any]:
    """A ``dspy.lm15.Response`` as plain JSON data."""
    return _serde.response_to_dict(response)


def response_from_dict(data: dict[str, Any]):
    """The ``dspy.lm15.Response`` that :func:`response_to_dict` described."""
    return _serde.response_from_dict(data)
