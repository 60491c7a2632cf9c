"""``lmprog compile`` and ``lmprog plan``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from lmprog.cli import options as opt
from lmprog.cli.output import show


def register(app: typer.Typer) -> None:
    app.command("compile")(compile_command)
    app.command("plan")(plan_command)


def compile_command(
    program: str = opt.Program, task: Path = opt.TaskFile, lm: Optional[str] = opt.Lm,
    teacher: Optional[str] = opt.Teacher, api_base: Optional[str] = opt.ApiBase, optimizer: str = opt.Optimizer,
    budget_usd: Optional[float] = opt.BudgetUsd, max_calls: Optional[int] = opt.MaxCalls, seed: int = opt.Seed,
    seeds: Optional[str] = opt.Seeds,
    out: Path = typer.Option(Path("compiled.json"), "--out", help="Where to save the compiled program."),
    report: Optional[Path] = opt.Report, option: Optional[list[str]] = opt.ProgramOptions,
    threads: int = opt.Threads, ledger: Optional[Path] = opt.Ledger, offline: bool = opt.Offline,
    force: bool = opt.Force, as_json: bool = opt.Json,
) -> None:
    """Compile PROGRAM on the task's labelled examples and save the artifact.

    Example: lmprog compile classify --task examples/sms_spam/task.toml --out compiled.json
    """
    from lmprog.jobs import compile_task
    from lmprog.run import Budget
    from lmprog.run.progress import CompileProgress

    result = compile_task(program, task, out=out, report=report, force=force,
                          budget=Budget(max_calls=max_calls, max_usd=budget_usd), optimizer=optimizer,
                          threads=threads, progress=None if as_json else CompileProgress(), lm=lm, teacher=teacher,
                          api_base=api_base, ledger=ledger, options=option, seed=seed, seeds=seeds, offline=offline)
    show(result.summary, as_json)


def plan_command(
    program: str = opt.Program, task: Path = opt.TaskFile, lm: Optional[str] = opt.Lm,
    teacher: Optional[str] = opt.Teacher, api_base: Optional[str] = opt.ApiBase, optimizer: str = opt.Optimizer,
    budget_usd: Optional[float] = opt.BudgetUsd, max_calls: Optional[int] = opt.MaxCalls, seed: int = opt.Seed,
    seeds: Optional[str] = opt.Seeds, option: Optional[list[str]] = opt.ProgramOptions,
    ledger: Optional[Path] = opt.Ledger, as_json: bool = opt.Json,
) -> None:
    """Estimate what 'lmprog compile' with the same arguments would cost; makes no LM call."""
    from lmprog.jobs import plan_task
    from lmprog.run import Budget

    show(plan_task(program, task, budget=Budget(max_calls=max_calls, max_usd=budget_usd), lm=lm, teacher=teacher,
                   api_base=api_base, ledger=ledger, options=option, seed=seed, seeds=seeds), as_json)
