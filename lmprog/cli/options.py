"""The options the commands share, defined once."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

Program = typer.Argument(..., help="A program file with build(task, **options), or a built-in program: "
                                   "classify, multilabel, infer_retrieve_rank.", show_default=False)
Artifact = typer.Argument(..., help="A compiled program (compiled.json).", show_default=False)
TaskFile = typer.Option(..., "--task", help="The task file (TOML): inputs, labels, data.", show_default=False)
Lm = typer.Option(None, "--lm", envvar="LMPROG_LM",
                  help="Model: a litellm model string (openai/gpt-4o-mini, ollama/llama3, ...) or local/smollm2 "
                       "[default: $LMPROG_LM, else local/smollm2]", show_default=False)
Teacher = typer.Option(None, "--teacher", help="Model that drafts instructions [default: --lm]", show_default=False)
ApiBase = typer.Option(None, "--api-base", help="Base URL of an OpenAI-compatible server (with openai/<name>).",
                       show_default=False)
Ledger = typer.Option(None, "--ledger", envvar="LMPROG_LEDGER", help="Ledger file [default: cache/lmprog.db]",
                      show_default=False)
Optimizer = typer.Option("bootstrap", "--optimizer", help="Optimizer name.")
BudgetUsd = typer.Option(None, "--budget-usd", help="Stop paying for calls at this many USD.", show_default=False)
MaxCalls = typer.Option(None, "--max-calls", help="Stop after this many paid LM calls.", show_default=False)
Seed = typer.Option(0, "--seed", help="Seed for the dev split, demo sets and drafts.")
Seeds = typer.Option(None, "--seeds", help="Compile once per seed (e.g. 0,1,2); keep the best, report mean/std.",
                     show_default=False)
ProgramOptions = typer.Option(None, "--option", "-o", help="A program option KEY=VALUE for build() (repeatable; "
                                                           "VALUE is read as JSON when it parses, else as text).",
                              show_default=False)
Threads = typer.Option(8, "--threads", help="LM calls in flight at once.")
Json = typer.Option(False, "--json", help="Print JSON for machines.", metavar="")
Report = typer.Option(None, "--report", help="Write an HTML report here.", show_default=False)
Offline = typer.Option(False, "--offline", help="Answer only from the ledger and leave it as it is (no hits counted, "
                                                "no run recorded); a call that is not there is an error, never paid "
                                                "for.")
ProgramFile = typer.Option(None, "--program-file", help="The program file of a custom program.", show_default=False)
Force = typer.Option(False, "--force", help="Replace an existing output file that lmprog did not write (lmprog's "
                                            "own artifacts, reports and predictions are replaced or continued "
                                            "without it).", metavar="")
Run = typer.Option(None, "--run", help="Only this run id.")


def optional_path(value: Optional[Path]) -> Optional[Path]:
    return Path(value) if value is not None else None
