"""Errors a user can cause. Each carries one sentence that says what went wrong and how to fix it.

    LmprogError
    ├── ConfigurationError        bad model string, unknown ledger mode, missing optional extra
    │   ├── MissingApiKeyError    the provider's key variable is not set
    │   └── ParameterError        a program parameter is missing or of the wrong type
    ├── LedgerError               the ledger file cannot be opened or is from a newer lmprog
    │   └── LedgerMissError       replay mode met a call that is not in the ledger
    ├── ProviderError             the provider refused or failed after retries
    ├── BudgetExceededError       a run reached its cap on paid calls or USD
    ├── DataError                 a data file cannot be read or has invalid rows
    └── ArtifactError             a compiled-program artifact is invalid, modified or from a newer lmprog

The CLI prints ``str(error)`` on one line and exits with code 2. Anything else is a bug.
:class:`LmprogWarning` is for what lmprog fixed on the way (an input cut to the model's context).
"""

from __future__ import annotations


class LmprogError(Exception):
    """Base class for every error a user can cause and fix."""


class ConfigurationError(LmprogError):
    """A setting is invalid or something needed is not installed; ``path`` is the file at fault, if any."""

    def __init__(self, message: str, *, path: str | None = None):
        self.path = path
        super().__init__(message)


class MissingApiKeyError(ConfigurationError):
    """The model needs an API key and none was given or found in the environment."""

    def __init__(self, model: str, variables: list[str]):
        self.model = model
        self.variables = variables
        names = " or ".join(variables)
        super().__init__(f"model {model!r} needs an API key: set {names} or pass api_key=")


class ParameterError(ConfigurationError):
    """A program module's parameter is missing (``expected`` None) or not of the ``expected`` type.

    ``key`` is the parameter's dotted name (``samples``, ``retriever.kind``), so a caller reading the
    parameters from a file can name where it is (``program.params.samples``).
    """

    def __init__(self, key: str, expected: str | None = None, found: str | None = None):
        self.key, self.expected, self.found = key, expected, found
        if expected is None:
            super().__init__(f"program parameter {key!r} is missing")
        else:
            super().__init__(f"program parameter {key!r} must be {expected}, not {found}")


class LedgerError(LmprogError):
    """The ledger file cannot be used."""


class LedgerMissError(LedgerError):
    """Replay mode met a call that the ledger has never seen."""

    def __init__(self, key: str, model: str, preview: str, ledger_path: str):
        self.key = key
        self.model = model
        self.preview = preview
        super().__init__(
            f"replay mode: call {key[:12]} to {model} ({preview!r}) is not in the ledger {ledger_path}; "
            "run once without --offline (cache='readwrite' in Python) to pay for it and record it"
        )


class ProviderError(LmprogError):
    """The provider failed or refused a call; ``kind`` is one of the ledger's error kinds."""

    def __init__(self, message: str, kind: str = "provider_error"):
        self.kind = kind
        super().__init__(message)


class DataError(LmprogError):
    """A data file cannot be read, or some of its rows are invalid.

    ``path`` is the file (or None), ``problems`` a list of ``(line, message)``, one per bad row.
    """

    def __init__(self, message: str, *, path: str | None = None, problems: list[tuple[int, str]] | None = None):
        self.path = path
        self.problems = list(problems or [])
        super().__init__(message)


class BudgetExceededError(LmprogError):
    """A run reached its budget (paid calls or USD); what was paid for is in the ledger."""


class ArtifactError(LmprogError):
    """A compiled-program artifact cannot be saved or loaded; ``path`` is the file (or None)."""

    def __init__(self, message: str, *, path: str | None = None):
        self.path = path
        super().__init__(message)


class LmprogWarning(UserWarning):
    """Something lmprog changed to carry on (e.g. an input truncated to the model's context)."""
