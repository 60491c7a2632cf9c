"""The ``lmprog`` command. Commands are thin: open the resource, call one library function, print.

Heavy libraries (dspy, litellm) are imported inside commands only, so ``lmprog --help`` is fast.
User errors print one line on stderr and exit with code 2; tracebacks are for bugs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from lmprog.errors import LmprogError

app = typer.Typer(
    help="Compile LM programs for label tasks from tens of examples; every LM call is kept in a SQLite ledger.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
cache_app = typer.Typer(
    help="Inspect and manage the ledger of LM calls (the cache).\n\n"
    "Examples:\n\n  lmprog cache stats --json\n\n  lmprog cache ls --limit 5\n\n  lmprog cache show 3fa9c2",
    no_args_is_help=True,
)
app.add_typer(cache_app, name="cache")

LedgerOption = typer.Option(
    None, "--ledger", envvar="LMPROG_LEDGER", help="Ledger file [default: cache/lmprog.db]", show_default=False
)
JsonOption = typer.Option(False, "--json", help="Print JSON for machines.", metavar="")


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _open(ledger: Optional[Path], must_exist: bool = True):
    from lmprog.ledger import DEFAULT_LEDGER, Ledger

    path = Path(ledger or DEFAULT_LEDGER).absolute()
    if must_exist and not path.exists():
        _fail(f"no ledger at {path}; it is created by the first LM call (set --ledger or LMPROG_LEDGER)")
    return Ledger(path)


def _console():
    from rich.console import Console

    return Console()


def _when(timestamp: float | None, time_only: bool = False) -> str:
    import datetime as dt

    if timestamp is None:
        return "–"
    return dt.datetime.fromtimestamp(timestamp).strftime("%H:%M:%S" if time_only else "%Y-%m-%d %H:%M:%S")


def _money(value) -> str:
    return "–" if value is None else f"${value:,.4f}"


@cache_app.command("path")
def cache_path(ledger: Optional[Path] = LedgerOption) -> None:
    """Print where the ledger file is."""
    from lmprog.ledger import DEFAULT_LEDGER

    typer.echo(str(Path(ledger or DEFAULT_LEDGER).resolve()))


@cache_app.command("stats")
def cache_stats(
    ledger: Optional[Path] = LedgerOption,
    run: Optional[str] = typer.Option(None, "--run", help="Only this run id."),
    as_json: bool = JsonOption,
) -> None:
    """Totals: paid calls, ledger hits, failed attempts, tokens and USD, by model and module."""
    stats = _open(ledger).stats(run_id=run)
    if as_json:
        typer.echo(json.dumps(stats, indent=2))
        return
    from rich.table import Table

    console = _console()
    head = Table(title=f"Ledger {stats['ledger']}", show_header=False)
    for label, value in [
        ("paid calls", f"{stats['calls']:,}"),
        ("ledger hits", f"{stats['hits']:,}"),
        ("failed attempts", f"{stats['errors']:,}"),
        ("prompt tokens", f"{stats['prompt_tokens']:,}"),
        ("completion tokens", f"{stats['completion_tokens']:,}"),
        ("cost", _money(stats["cost_usd"]) + (f" ({stats['calls_unpriced']} calls unpriced)"
                                                if stats["calls_unpriced"] else "")),
        ("runs", f"{stats['runs']:,}"),
        ("file size", f"{stats['bytes'] / 1e6:.2f} MB"),
    ]:
        head.add_row(label, value)
    console.print(head)
    for title, rows in (("By model", stats["by_model"]), ("By module", stats["by_module"])):
        if not rows:
            continue
        table = Table(title=title)
        for column in ("name", "calls", "errors", "tokens in", "tokens out", "cost"):
            table.add_column(column, justify="left" if column == "name" else "right")
        for row in rows:
            table.add_row(str(row["name"] or "–"), f"{row['calls']:,}", f"{row['errors']:,}",
                          f"{row['prompt_tokens']:,}", f"{row['completion_tokens']:,}", _money(row["cost_usd"]))
        console.print(table)
    if stats["errors_by_kind"]:
        console.print("Failed attempts by kind: " + ", ".join(f"{k} {v}" for k, v in stats["errors_by_kind"].items()))


@cache_app.command("ls")
def cache_ls(
    ledger: Optional[Path] = LedgerOption,
    limit: int = typer.Option(20, "--limit", "-n", help="How many calls (0 = all)."),
    run: Optional[str] = typer.Option(None, "--run", help="Only this run id."),
    errors: bool = typer.Option(False, "--errors", help="Only failed attempts.", metavar=""),
    as_json: bool = JsonOption,
) -> None:
    """List recent calls, newest first."""
    rows = _open(ledger).calls(limit=limit or None, run_id=run, errors=True if errors else None)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False, collapse_padding=True)
    table.add_column("key", no_wrap=True, min_width=12)
    table.add_column("time", no_wrap=True, min_width=8)
    table.add_column("model", no_wrap=True, max_width=16, overflow="ellipsis")
    table.add_column("module", no_wrap=True, max_width=14, overflow="ellipsis")
    table.add_column("tokens", no_wrap=True, justify="right", min_width=7)
    table.add_column("ms", no_wrap=True, justify="right", min_width=5)
    table.add_column("result", no_wrap=True, overflow="ellipsis", ratio=1, min_width=10)
    for row in rows:
        result = f"[red]{row['error_kind']}[/red]" if row["error_kind"] else " ".join((row["response"] or "").split())
        table.add_row(row["key"][:12], _when(row["created_at"], time_only=True), row["model"], row["module"] or "–",
                      f"{row['prompt_tokens'] or 0}+{row['completion_tokens'] or 0}", f"{row['latency_ms'] or 0:.0f}",
                      result)
    _console().print(table)


@cache_app.command("runs")
def cache_runs(
    ledger: Optional[Path] = LedgerOption,
    limit: int = typer.Option(20, "--limit", "-n", help="How many runs (0 = all)."),
    as_json: bool = JsonOption,
) -> None:
    """List runs (commands and Python sessions), newest first."""
    led = _open(ledger)
    rows = led.runs(limit=limit or None)
    for row in rows:
        row.update({k: v for k, v in led.stats(run_id=row["id"]).items() if k in ("calls", "errors", "cost_usd")})
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False, collapse_padding=True)
    table.add_column("run", no_wrap=True, min_width=22)
    table.add_column("command", overflow="fold", min_width=12, ratio=1)
    for column in ("paid", "hits", "failed", "cost"):
        table.add_column(column, no_wrap=True, justify="right")
    for row in rows:
        table.add_row(row["id"], row["command"], f"{row['calls']:,}", f"{row['hits']:,}", f"{row['errors']:,}",
                      _money(row["cost_usd"]))
    _console().print(table)


@cache_app.command("show")
def cache_show(key: str = typer.Argument(..., help="A call key or a unique prefix of one."),
               ledger: Optional[Path] = LedgerOption) -> None:
    """Show one call in full: request messages, response, tokens, cost."""
    rows = _open(ledger).find(key)
    if not rows:
        _fail(f"no call with key {key!r} in the ledger")
    keys = {row["key"] for row in rows}
    if len(keys) > 1:
        _fail(f"key prefix {key!r} matches {len(keys)} calls; give more characters")
    for row in rows:
        row["created_at"] = _when(row["created_at"])
    typer.echo(json.dumps(rows if len(rows) > 1 else rows[0], indent=2, ensure_ascii=False))


@cache_app.command("export")
def cache_export(ledger: Optional[Path] = LedgerOption,
                 out: Optional[Path] = typer.Option(None, "--out", "-o", help="JSONL file [default: stdout]")) -> None:
    """Write every call, with its full request, as JSON Lines."""
    led = _open(ledger)
    stream = open(out, "w", encoding="utf-8") if out else sys.stdout
    try:
        count = 0
        for row in led.iter_export():
            stream.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    finally:
        if out:
            stream.close()
    if out:
        typer.echo(f"wrote {count} calls to {out}", err=True)


@cache_app.command("clear")
def cache_clear(
    ledger: Optional[Path] = LedgerOption,
    run: Optional[str] = typer.Option(None, "--run", help="Only this run's calls."),
    errors: bool = typer.Option(False, "--errors", help="Only failed attempts.", metavar=""),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.", metavar=""),
) -> None:
    """Delete calls from the ledger (all of them unless --run or --errors)."""
    led = _open(ledger)
    what = "failed attempts" if errors else "calls"
    scope = f" of run {run}" if run else ""
    if not yes:
        if not sys.stdin.isatty():
            _fail(f"refusing to delete {what}{scope} from {led.path} without --yes")
        if not typer.confirm(f"Delete {what}{scope} from {led.path}?"):
            raise typer.Exit(1)
    deleted = led.clear(run_id=run, errors_only=errors)
    typer.echo(f"deleted {deleted} {what}{scope}")


from lmprog.cli_distill import register as register_distill  # noqa: E402
from lmprog.cli_programs import register  # noqa: E402 - the verbs need _fail defined above

register(app, _fail)
register_distill(app)


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


if __name__ == "__main__":
    main()
