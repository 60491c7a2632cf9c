"""Answer rules for the test server, and how a rule's answer becomes a completion (tokens, logprobs)."""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Mapping, NamedTuple, Optional, Union

DEFAULT_LOGPROB = -0.01

Answer = Union[str, Mapping[str, Any]]
Rule = Callable[[dict], Answer]


def last_user_message(body: Mapping) -> str:
    """The text of the last ``user`` message of a chat request, or '' if there is none."""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, Mapping) and message.get("role") == "user":
            return message_text(message.get("content"))
    return ""


def echo_rule(body: Mapping) -> str:
    """A rule that answers with the last user message."""
    return last_user_message(body)


def answer_fields(**fields: Any) -> str:
    """An answer in DSPy ChatAdapter format: ``answer_fields(label="spam")`` gives
    ``"[[ ## label ## ]]\\nspam\\n\\n[[ ## completed ## ]]"``. Non-string values are JSON-encoded."""
    parts = [f"[[ ## {name} ## ]]\n{value if isinstance(value, str) else json.dumps(value)}" for name, value in fields.items()]
    return "\n\n".join([*parts, "[[ ## completed ## ]]"])


def as_rule(rule: Union[Rule, str, Mapping[str, Answer], None]) -> Rule:
    """Any accepted rule form (callable, str, dict of substring -> answer, None) as a callable."""
    if rule is None:
        return echo_rule
    if isinstance(rule, str):
        return lambda body: rule
    if isinstance(rule, Mapping):
        return _substring_rule(dict(rule))
    if callable(rule):
        return rule
    raise TypeError(f"rule must be a callable, str, dict or None, not {type(rule).__name__}")


def _substring_rule(table: dict[str, Answer]) -> Rule:
    default = table.pop("default", None)

    def rule(body: dict) -> Answer:
        text = last_user_message(body)
        for key, answer in table.items():
            if key in text:
                return answer
        if default is None:
            raise LookupError(f"no rule key occurs in the last user message {text[:80]!r} and there is no 'default'")
        return default

    return rule


def message_text(content: Any) -> str:
    """A chat message's content as text (OpenAI content parts joined by line breaks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return "" if content is None else str(content)


# -- completions -----------------------------------------------------------------------------------


class Completion(NamedTuple):
    """What the server sends back for one chat request."""

    tokens: list[str]
    finish_reason: str
    logprobs: Optional[list[dict]]  # one entry per token, when the request asked for logprobs

    @property
    def content(self) -> str:
        return "".join(self.tokens)


def tokens_of(text: str) -> list[str]:
    """Whitespace tokens, each keeping its leading whitespace, so that ``"".join(tokens) == text``."""
    tokens = re.findall(r"\s*\S+", text)
    tail = text[sum(map(len, tokens)) :]
    if tail:
        tokens = [*tokens[:-1], tokens[-1] + tail] if tokens else [tail]
    return tokens


def _logprob_entry(token: str, given: Any, top_n: int) -> dict:
    if isinstance(given, Mapping):
        return dict(given)
    logprob = DEFAULT_LOGPROB if given is None else float(given)
    entry = {"token": token, "logprob": logprob, "bytes": list(token.encode())}
    return {**entry, "top_logprobs": [entry][:top_n]}


def complete(rule: Rule, body: dict) -> Completion:
    """Ask ``rule`` for its answer to ``body``; cut it at the request's token limit; add logprobs if asked."""
    answer = rule(body)
    if isinstance(answer, str):
        answer = {"content": answer}
    tokens = tokens_of(str(answer.get("content") or ""))
    finish_reason = answer.get("finish_reason") or "stop"
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if limit is not None and len(tokens) > int(limit):
        tokens, finish_reason = tokens[: int(limit)], "length"
    logprobs = None
    if body.get("logprobs"):
        given = answer.get("logprobs")
        if isinstance(given, Mapping):
            given = given.get("content")
        if not isinstance(given, list):
            given = [given] * len(tokens)
        top_n = int(body.get("top_logprobs") or 0)
        logprobs = [_logprob_entry(token, given[i] if i < len(given) else None, top_n) for i, token in enumerate(tokens)]
    return Completion(tokens, finish_reason, logprobs)


def truncated(completion: Completion) -> Completion:
    """The first half of a completion's text, cut as if by the token limit (the ``truncated`` fault)."""
    tokens = tokens_of(completion.content[: len(completion.content) // 2])
    return Completion(tokens, "length", completion.logprobs and completion.logprobs[: len(tokens)])
