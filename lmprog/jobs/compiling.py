"""``lmprog compile`` and ``lmprog plan`` as library calls: read the task file, build the program, run."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from lmprog.errors import BudgetExceededError
from lmprog.jobs.setup import Models, is_report_file, open_models, parse_options, parse_seeds
from lmprog.paths import check_output
from lmprog.run import Budget


@dataclass
class TaskSetup:
    """A task file's task, its labelled examples, the program built for it, and the LMs."""

    task: object
    train: object
    dev: object | None
    program: object
    models: Models
    seed: int
    seeds: list[int] | None

    @classmethod
    def read(cls, program: str, task_path, *, lm=None, teacher=None, api_base=None, ledger=None, options=None,
             seed: int = 0, seeds: str | None = None, offline: bool = False) -> TaskSetup:
        from lmprog.modules.program_file import build_program
        from lmprog.task import Task

        task = Task.from_toml(task_path)
        train = task.load("train")
        dev = task.load("dev") if task.data.dev else None
        built = build_program(program, task, parse_options(options))
        models = open_models(lm, teacher=teacher, api_base=api_base, ledger=ledger, offline=offline)
        return cls(task, train, dev, built, models, seed, parse_seeds(seeds))

    def arguments(self) -> dict:
        return {"lm": self.models.lm, "teacher": self.models.teacher, "seed": self.seed, "seeds": self.seeds}

    def data_files(self) -> list:
        return [p for p in (self.task.data.train, self.task.data.dev, self.task.data.test) if p is not None]


@dataclass
class CompileResult:
    """What ``lmprog compile`` made: the program, its saved path, its summary and, if asked, its report."""

    compiled: object
    summary: object
    report: object | None = None


def compile_task(program: str, task_path: str | os.PathLike, *, out: str | os.PathLike = "compiled.json",
                 report: str | os.PathLike | None = None, force: bool = False, budget: Budget | None = None,
                 optimizer: str = "bootstrap", threads: int = 8, progress: Callable[[dict], None] | None = None,
                 **setup_options) -> CompileResult:
    """Compile ``program`` (a program file or a built-in name) on the task file's labelled examples, save the
    artifact to ``out`` and, with ``report``, write the compile report there. Outputs are checked before the
    compile starts: an existing ``out`` must be an artifact and ``report`` an lmprog report (or ``force``)."""
    import lmprog
    from lmprog.artifact import is_artifact_file
    from lmprog.jobs.reports import compile_report
    from lmprog.report import CompileSummary

    setup = TaskSetup.read(program, task_path, **setup_options)
    inputs = [task_path, *setup.data_files()]
    out = check_output(out, what="artifact", force=force, ours=is_artifact_file, inputs=inputs)
    report = check_output(report, what="report", force=force, ours=is_report_file, inputs=[*inputs, out])
    budget = budget or Budget()
    compiled = lmprog.compile(setup.program, setup.train, setup.dev, optimizer=optimizer, budget=budget,
                              threads=threads, progress=progress, **setup.arguments())
    if compiled.dev_score is None:
        raise BudgetExceededError(f"the budget ({budget.describe()}) ran out before the zero-shot program was scored "
                                  "on dev; 'lmprog plan' with the same arguments shows what a compile needs")
    compiled.save(out)
    built = None
    if report is not None:
        built = compile_report(compiled, train=setup.train, dev=setup.dev, lm=setup.models.lm, artifact=out)
        built.write_html(report)
    return CompileResult(compiled, CompileSummary.from_compiled(compiled, str(out),
                                                                html_path=str(report) if report else None), built)


def plan_task(program: str, task_path: str | os.PathLike, *, budget: Budget | None = None, **setup_options):
    """The cost estimate of ``compile_task`` with the same arguments; makes no LM call."""
    import lmprog
    from lmprog.report import PlanReport

    setup = TaskSetup.read(program, task_path, **setup_options)
    estimate = lmprog.plan(setup.program, setup.train, setup.dev, **setup.arguments())
    return PlanReport.from_plan(estimate, budget=(budget or Budget()).describe())


