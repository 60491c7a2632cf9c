"""``lmprog label``: label suggested rows, or review audit flags, in a local web page."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("label")(label_command)


def label_command(
    task: Path = typer.Argument(..., help="The task file (TOML); answers go to the train file its data section names.",
                                show_default=False),
    queue: Optional[Path] = typer.Option(None, "--queue", help="Rows to label (lmprog suggest --out; JSONL, JSON, "
                                                               "CSV or TSV with the task's input columns).",
                                         show_default=False),
    audit: Optional[Path] = typer.Option(None, "--audit", help="Audit flags to review (lmprog audit --json), "
                                                               "corrected in the audited file.",
                                         show_default=False),
    port: int = typer.Option(0, "--port", "-p", help="Port on 127.0.0.1 (0: any free port)."),
    open_browser: bool = typer.Option(False, "--open", help="Open the page in the default browser."),
) -> None:
    """Label rows from the keyboard in a page on 127.0.0.1 (the URL holds an access token). Each answer is
    written to the task's labelled file at once, so the next lmprog compile uses it; Ctrl-C stops."""
    from lmprog.jobs.label import label_page

    def ready(url: str) -> None:
        typer.echo(f"Labelling {task} at {url}  (answers go to the task's [data] train file; Ctrl-C stops)")
        if open_browser:
            import webbrowser

            webbrowser.open(url)

    summary = label_page(task, queue=queue, audit=audit, port=port, ready=ready)
    typer.echo(f"{summary.answered} of {summary.items} answered; labels in {summary.file} "
               f"(answers journal {summary.journal})")
