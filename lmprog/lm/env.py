"""Import litellm the way lmprog needs it: offline price table, no telemetry, quiet."""

from __future__ import annotations

import os


def prepare_environment() -> None:
    """Set before litellm is imported, or every import waits on a network fetch of the price map."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_TELEMETRY", "False")


def import_litellm():
    prepare_environment()
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    return litellm


def import_dspy():
    prepare_environment()
    import dspy

    return dspy
