"""``lmprog cache``: inspect and manage the ledger. Reading commands open it read-only and leave the file
byte-identical; only ``clear`` writes."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from lmprog.cli import options as opt
from lmprog.jobs import browse_ledger, export_ledger, merge_ledgers, read_ledger

cache_app = typer.Typer(
    help="Inspect and manage the ledger of LM calls (the cache).\n\n"
    "Examples:\n\n  lmprog cache stats --json\n\n  lmprog cache ls --limit 5\n\n  lmprog cache show 3fa9c2\n\n"
    "  lmprog cache merge shards/*.db --into cache/lmprog.db",
    no_args_is_help=True,
)


def fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def open_writable(ledger: Optional[Path]):
    from lmprog.ledger import Ledger

    read_ledger(ledger)  # the same "no ledger at ..." error as the reading commands
    from lmprog.ledger import ledger_path

    return Ledger(ledger_path(ledger))


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
def cache_path(ledger: Optional[Path] = opt.Ledger) -> None:
    """Print where the ledger file is."""
    from lmprog.ledger import DEFAULT_LEDGER

    typer.echo(str(Path(ledger or DEFAULT_LEDGER).resolve()))


@cache_app.command("stats")
def cache_stats(
    ledger: Optional[Path] = opt.Ledger,
    run: Optional[str] = typer.Option(None, "--run", help="Only this run id."),
    as_json: bool = opt.Json,
) -> None:
    """Totals: paid calls, ledger hits, failed attempts, tokens and USD, by model and module."""
    stats = read_ledger(ledger).stats(run_id=run)
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
    ledger: Optional[Path] = opt.Ledger,
    limit: int = typer.Option(20, "--limit", "-n", help="How many calls (0 = all)."),
    run: Optional[str] = typer.Option(None, "--run", help="Only this run id."),
    errors: bool = typer.Option(False, "--errors", help="Only failed attempts.", metavar=""),
    as_json: bool = opt.Json,
) -> None:
    """List recent calls, newest first."""
    rows = read_ledger(ledger).calls(limit=limit or None, run_id=run, errors=True if errors else None)
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
    ledger: Optional[Path] = opt.Ledger,
    limit: int = typer.Option(20, "--limit", "-n", help="How many runs (0 = all)."),
    as_json: bool = opt.Json,
) -> None:
    """List runs (commands and Python sessions), newest first."""
    led = read_ledger(ledger)
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
               ledger: Optional[Path] = opt.Ledger) -> None:
    """Show one call in full: request messages, response, tokens, cost."""
    rows = read_ledger(ledger).find(key)
    if not rows:
        fail(f"no call with key {key!r} in the ledger")
    keys = {row["key"] for row in rows}
    if len(keys) > 1:
        fail(f"key prefix {key!r} matches {len(keys)} calls; give more characters")
    for row in rows:
        row["created_at"] = _when(row["created_at"])
    typer.echo(json.dumps(rows if len(rows) > 1 else rows[0], indent=2, ensure_ascii=False))


@cache_app.command("export")
def cache_export(ledger: Optional[Path] = opt.Ledger,
                 out: Optional[Path] = typer.Option(None, "--out", "-o", help="JSONL file [default: stdout]"),
                 force: bool = opt.Force) -> None:
    """Write every call, with its full request, as JSON Lines (an existing file that is not an earlier
    export is refused unless --force)."""
    count = export_ledger(ledger, out, force=force)
    if out:
        typer.echo(f"wrote {count} calls to {out}", err=True)


@cache_app.command("clear")
def cache_clear(
    ledger: Optional[Path] = opt.Ledger,
    run: Optional[str] = typer.Option(None, "--run", help="Only this run's calls."),
    errors: bool = typer.Option(False, "--errors", help="Only failed attempts.", metavar=""),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.", metavar=""),
) -> None:
    """Delete calls from the ledger (all of them unless --run or --errors)."""
    led = open_writable(ledger)
    what = "failed attempts" if errors else "calls"
    scope = f" of run {run}" if run else ""
    if not yes:
        if not sys.stdin.isatty():
            fail(f"refusing to delete {what}{scope} from {led.path} without --yes")
        if not typer.confirm(f"Delete {what}{scope} from {led.path}?"):
            raise typer.Exit(1)
    deleted = led.clear(run_id=run, errors_only=errors)
    typer.echo(f"deleted {deleted} {what}{scope}")


@cache_app.command("merge")
def cache_merge(
    shards: list[Path] = typer.Argument(..., help="Ledger files to merge (only read)."),
    into: Path = typer.Option(..., "--into", help="The ledger to merge them into (created if missing)."),
    as_json: bool = opt.Json,
) -> None:
    """Merge ledger shards into one ledger. Idempotent: merging a shard again adds only what it gained since
    (each paid call once, failed attempts once, each run's hits once)."""
    import dataclasses

    merged = [dataclasses.asdict(counts) for counts in merge_ledgers(shards, into)]
    if as_json:
        typer.echo(json.dumps(merged, indent=2))
        return
    from rich.table import Table

    table = Table(title=f"Merged into {into}")
    columns = ("shard", "calls", "failures", "present", "paid_twice", "texts", "runs", "hits")
    for column in columns:
        table.add_column(column.replace("_", " "), justify="left" if column == "shard" else "right",
                         overflow="fold" if column == "shard" else "ellipsis", no_wrap=column != "shard")
    for counts in merged:
        table.add_row(*(str(counts[c]) if c == "shard" else f"{counts[c]:,}" for c in columns))
    _console().print(table)
    if any(counts["paid_twice"] for counts in merged):
        typer.echo("paid twice: two ledgers both paid for these calls; the first answer merged is kept", err=True)


@cache_app.command("browse")
def cache_browse(
    ledger: Optional[Path] = opt.Ledger,
    port: int = typer.Option(8001, "--port", "-p", help="Port on 127.0.0.1 (0: any free port)."),
) -> None:
    """Browse the ledger in Datasette on 127.0.0.1, read only: spend by run, module and model, failed calls,
    slowest calls, and every request readable (needs the browse extra: pip install 'lmprog[browse]')."""

    def ready(url: str) -> None:
        typer.echo(f"Browsing {ledger or 'the ledger'} at {url} (read only; Ctrl-C stops)")

    browse_ledger(ledger, port=port, ready=ready)
