"""The ``lmprog`` command. Commands are thin: parse the arguments, call one library function
(:mod:`lmprog.jobs`), print what it returns.

Heavy libraries (dspy, litellm) are imported inside commands only, so ``lmprog --help`` is fast.
User errors print one line on stderr and exit with code 2; tracebacks are for bugs.
"""

from __future__ import annotations

import sys

import typer

from lmprog.cli import cache, label, loop, programs, running
from lmprog.errors import LmprogError

app = typer.Typer(
    help="Compile LM programs for label tasks from tens of examples; every LM call is kept in a SQLite ledger.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(cache.cache_app, name="cache")
programs.register(app)
running.register(app)
label.register(app)
loop.register(app)


def main() -> None:
    """Entry point: run the app, turning lmprog errors into one line and exit code 2, and Ctrl-C into
    one line and exit code 130 (every call finished before it is in the ledger)."""
    _one_line_warnings()
    try:
        app()
    except LmprogError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        _interrupted()
    except SystemExit as exc:
        if exc.code == 130:  # typer turns Ctrl-C into a silent exit 130
            _interrupted()
        raise


def _interrupted() -> None:
    typer.echo("interrupted: every LM call that finished is in the ledger; run the same command again to "
               "continue without paying for them twice", err=True)
    sys.exit(130)


def _one_line_warnings() -> None:
    """lmprog's warnings (a truncated input, ...) as one 'warning:' line each, printed once."""
    import warnings

    from lmprog.errors import LmprogWarning

    shown: set[str] = set()
    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if not issubclass(category, LmprogWarning):
            return default(message, category, filename, lineno, file, line)
        text = str(message)
        if text not in shown:
            shown.add(text)
            typer.echo(f"warning: {text}", err=True)

    warnings.showwarning = show




