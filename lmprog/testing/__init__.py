"""An offline, scripted, OpenAI-compatible LM server for testing programs.

    from lmprog.testing import TestLMServer, answer_fields

    with TestLMServer(rule={"refund": answer_fields(label="billing"), "default": answer_fields(label="other")}) as server:
        lm = dspy.LM("openai/test-model", api_base=server.api_base, api_key="sk-fake")
        ...
        assert server.request_count == 3

The server listens on 127.0.0.1, answers ``POST /v1/chat/completions`` by a rule, and can inject
faults (rate limits, server errors, timeouts, broken bodies) at random with a seed or on demand.
Only the standard library is imported, so this package is cheap to import.
"""

from lmprog.testing.faults import FAULT_KINDS
from lmprog.testing.rules import answer_fields, echo_rule, last_user_message
from lmprog.testing.server import TestLMServer

__all__ = ["FAULT_KINDS", "TestLMServer", "answer_fields", "echo_rule", "last_user_message"]
