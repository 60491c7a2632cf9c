"""The ledger's names for failed calls (rate_limit, timeout, server_error, ...), from the exception's class."""

from __future__ import annotations

# Most specific first; matched by class name (lm15's errors inside the engine, DSPy's LM* wrappers of
# them outside it), so this module imports no LM library.
_BY_CLASS_NAME = (
    ("EmptyResponseError", "empty_response"),
    ("MalformedResponseError", "malformed_response"),
    ("ContextLengthError", "context_length"),
    ("ContextWindowExceededError", "context_length"),
    ("RateLimitError", "rate_limit"),
    ("LMRateLimitError", "rate_limit"),
    ("AuthError", "auth"),
    ("LMAuthError", "auth"),
    ("BillingError", "billing"),
    ("LMBillingError", "billing"),
    ("TimeoutError", "timeout"),
    ("LMTimeoutError", "timeout"),
    ("UnsupportedModelError", "unknown_model"),
    ("LMUnsupportedModelError", "unknown_model"),
    ("InvalidRequestError", "invalid_request"),
    ("LMInvalidRequestError", "invalid_request"),
    ("ServerError", "server_error"),
    ("LMServerError", "server_error"),
    ("TransportError", "transport"),
    ("LMTransportError", "transport"),
    ("ProviderError", "provider_error"),
    ("LMProviderError", "provider_error"),
)


# Failures the same request meets every time (the prompt does not fit; the provider rejects the request):
# the ledger answers them again, offline too, instead of calling again.
DETERMINISTIC = ("context_length", "invalid_request")


class RecordedFailure(Exception):
    """A failure the ledger recorded for this very request, raised again instead of calling again."""

    def __init__(self, kind: str, message: str):
        self.error_kind = kind
        super().__init__(f"(recorded) {message}")


def error_kind(exc: BaseException) -> str:
    """The ledger's name for a failure: rate_limit, timeout, server_error, ... or 'error'."""
    seen: BaseException | None = exc
    while seen is not None:  # DSPy wraps what an engine raises
        if isinstance(seen, RecordedFailure):
            return seen.error_kind
        seen = seen.__cause__ or seen.__context__
    names = {cls.__name__ for cls in type(exc).__mro__}
    return next((kind for cls_name, kind in _BY_CLASS_NAME if cls_name in names), "error")
