"""The program verbs of the ``lmprog`` command: compile, plan, evaluate, predict, report.

Each opens what it is given (task file, artifact, data), calls one library function and prints.
Heavy imports happen inside the commands, so ``lmprog --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Optional

import typer

from lmprog.errors import ConfigurationError, DataError

ProgramArgument = typer.Argument(..., help="A program file with build(task, **options), or a built-in program: "
                                            "classify, multilabel, infer_retrieve_rank.", show_default=False)
TaskOption = typer.Option(..., "--task", help="The task file (TOML): inputs, labels, data.", show_default=False)
LmOption = typer.Option(None, "--lm", envvar="LMPROG_LM",
                        help="Model: a litellm model string (openai/gpt-4o-mini, ollama/llama3, ...) or "
                             "local/smollm2 [default: $LMPROG_LM, else local/smollm2]", show_default=False)
TeacherOption = typer.Option(None, "--teacher", help="Model that drafts instructions [default: --lm]",
                             show_default=False)
ApiBaseOption = typer.Option(None, "--api-base", help="Base URL of an OpenAI-compatible server (with openai/<name>).",
                             show_default=False)
LedgerOption = typer.Option(None, "--ledger", envvar="LMPROG_LEDGER", help="Ledger file [default: cache/lmprog.db]",
                            show_default=False)
OptimizerOption = typer.Option("bootstrap", "--optimizer", help="Optimizer name.")
BudgetUsdOption = typer.Option(None, "--budget-usd", help="Stop paying for calls at this many USD.", show_default=False)
MaxCallsOption = typer.Option(None, "--max-calls", help="Stop after this many paid LM calls.", show_default=False)
SeedOption = typer.Option(0, "--seed", help="Seed for the dev split, demo sets and drafts.")
SeedsOption = typer.Option(None, "--seeds", help="Compile once per seed (e.g. 0,1,2); keep the best, report mean/std.",
                           show_default=False)
OptionOption = typer.Option(None, "--option", "-o", help="A program option KEY=VALUE for build() (repeatable; "
                                                         "VALUE is read as JSON when it parses, else as text).",
                            show_default=False)
ThreadsOption = typer.Option(8, "--threads", help="LM calls in flight at once.")
JsonOption = typer.Option(False, "--json", help="Print JSON for machines.", metavar="")
ReportOption = typer.Option(None, "--report", help="Write an HTML report here.", show_default=False)
OfflineOption = typer.Option(False, "--offline", help="Answer only from the ledger; a call that is not there is an "
                                                      "error, never paid for.")


def register(app: typer.Typer, fail) -> None:
    """Add the program verbs to ``app``; ``fail(message)`` prints one line and exits 2."""

    @app.command("compile")
    def compile_command(
        program: str = ProgramArgument, task: Path = TaskOption, lm: Optional[str] = LmOption,
        teacher: Optional[str] = TeacherOption, api_base: Optional[str] = ApiBaseOption,
        optimizer: str = OptimizerOption, budget_usd: Optional[float] = BudgetUsdOption,
        max_calls: Optional[int] = MaxCallsOption, seed: int = SeedOption, seeds: Optional[str] = SeedsOption,
        out: Path = typer.Option(Path("compiled.json"), "--out", help="Where to save the compiled program."),
        report: Optional[Path] = ReportOption, option: Optional[list[str]] = OptionOption,
        threads: int = ThreadsOption, ledger: Optional[Path] = LedgerOption, offline: bool = OfflineOption,
        as_json: bool = JsonOption,
    ) -> None:
        """Compile PROGRAM on the task's labelled examples and save the artifact.

        Example: lmprog compile classify --task examples/sms_spam/task.toml --out compiled.json
        """
        from lmprog.progress import CompileProgress
        from lmprog.report import CompileSummary

        setup = _Setup(program, task, lm, teacher, api_base, ledger, option, seed, seeds, budget_usd, max_calls,
                       cache="replay" if offline else "readwrite")
        compiled = setup.compile(optimizer=optimizer, threads=threads,
                                 progress=None if as_json else CompileProgress())
        if compiled.dev_score is None:
            fail(f"the budget ({setup.budget.describe()}) ran out before the zero-shot program was scored on dev; "
                 f"'lmprog plan' with the same arguments shows what a compile needs")
        _save(compiled, out)
        summary = CompileSummary.from_compiled(compiled, str(out))
        if report is not None:
            _write_report(_with_artifact(_compile_report(compiled, setup), out), report)
            summary.html_path = str(report)
        _print(summary, as_json)

    @app.command("plan")
    def plan_command(
        program: str = ProgramArgument, task: Path = TaskOption, lm: Optional[str] = LmOption,
        teacher: Optional[str] = TeacherOption, api_base: Optional[str] = ApiBaseOption,
        optimizer: str = OptimizerOption, budget_usd: Optional[float] = BudgetUsdOption,
        max_calls: Optional[int] = MaxCallsOption, seed: int = SeedOption, seeds: Optional[str] = SeedsOption,
        option: Optional[list[str]] = OptionOption, ledger: Optional[Path] = LedgerOption,
        as_json: bool = JsonOption,
    ) -> None:
        """Estimate what 'lmprog compile' with the same arguments would cost; makes no LM call."""
        from lmprog.report import PlanReport

        setup = _Setup(program, task, lm, teacher, api_base, ledger, option, seed, seeds, budget_usd, max_calls)
        estimate = setup.plan()
        _print(PlanReport.from_plan(estimate, budget=setup.budget.describe()), as_json)

    @app.command("evaluate")
    def evaluate_command(
        compiled: Path = typer.Argument(..., help="A compiled program (compiled.json).", show_default=False),
        data: Path = typer.Option(..., "--data", help="Labelled examples (JSONL, JSON, CSV or TSV).",
                                  show_default=False),
        lm: Optional[str] = LmOption, api_base: Optional[str] = ApiBaseOption,
        budget_usd: Optional[float] = BudgetUsdOption, max_calls: Optional[int] = MaxCallsOption,
        report: Optional[Path] = ReportOption, program_file: Optional[Path] = typer.Option(
            None, "--program-file", help="The program file of a custom program.", show_default=False),
        threads: int = ThreadsOption, ledger: Optional[Path] = LedgerOption, offline: bool = OfflineOption,
        baseline: bool = typer.Option(False, "--baseline", help="Also run the zero-shot program on the same data "
                                                                "and report before -> after (more LM calls)."),
        as_json: bool = JsonOption,
    ) -> None:
        """Score a compiled program on labelled data: metrics, per-label scores, errors and cost."""
        from lmprog.budget import Budget

        artifact = _load_artifact(compiled, program_file)
        examples = _load_data(data, artifact.task)
        model = _make_lm(lm or artifact.lm.get("model"), api_base, ledger, "replay" if offline else "readwrite")
        budget = Budget(max_calls=max_calls, max_usd=budget_usd)
        evaluation = _evaluate(artifact, examples, model, threads, budget, data, compiled, quiet=as_json)
        before = _baseline(artifact, examples, model, threads, budget, as_json) if baseline else {}
        _show_report(_with_artifact(_evaluation_report(evaluation, artifact, before), compiled), report, as_json)

    @app.command("predict")
    def predict_command(
        compiled: Path = typer.Argument(..., help="A compiled program (compiled.json) or a distilled classifier "
                                                  "(model.skops).", show_default=False),
        data: Path = typer.Option(..., "--data", help="Rows to label (JSONL with the task's input fields).",
                                  show_default=False),
        out: Path = typer.Option(..., "--out", help="Where to write the rows with their labels (JSONL); "
                                                    "rows already there are skipped.", show_default=False),
        cascade: Optional[Path] = typer.Option(None, "--cascade", show_default=False, help=(
            "With a classifier: the compiled program it was distilled from, which answers the rows the "
            "classifier is unsure of.")),
        max_lm_fraction: Optional[float] = typer.Option(None, "--max-lm-fraction", show_default=False, help=(
            "Cascade: send at most this share of rows to the LM, at the best score the classifier's cascade "
            "curve shows [default: 0.2].")),
        min_score: Optional[float] = typer.Option(None, "--min-score", show_default=False,
                                                  help="Cascade: the fewest LM calls that reach this score."),
        lm: Optional[str] = LmOption, api_base: Optional[str] = ApiBaseOption,
        program_file: Optional[Path] = typer.Option(None, "--program-file", show_default=False,
                                                    help="The program file of a custom program."),
        threads: int = ThreadsOption, ledger: Optional[Path] = LedgerOption, offline: bool = OfflineOption,
        as_json: bool = JsonOption,
    ) -> None:
        """Label every row of --data into --out, streaming; a rerun resumes where it stopped.

        Examples: lmprog predict compiled.json --data in.jsonl --out out.jsonl

          lmprog predict model.skops --data in.jsonl --out out.jsonl --cascade compiled.json --max-lm-fraction 0.2
        """
        from lmprog.predict import predict_file
        from lmprog.report import PredictReport

        if compiled.suffix == ".skops":
            from lmprog.cli_distill import predict_with_classifier

            result = predict_with_classifier(compiled, data, out, cascade=cascade, max_lm_fraction=max_lm_fraction,
                                             min_score=min_score, lm=lm, api_base=api_base, ledger=ledger,
                                             offline=offline, threads=threads, program_file=program_file)
        else:
            if cascade is not None or max_lm_fraction is not None or min_score is not None:
                raise ConfigurationError("--cascade, --max-lm-fraction and --min-score go with a distilled "
                                         f"classifier (model.skops), not {compiled}")
            artifact = _load_artifact(compiled, program_file)
            model = _make_lm(lm or artifact.lm.get("model"), api_base, ledger, "replay" if offline else "readwrite")
            with model.ledger.run("predict", {"artifact": str(compiled), "data": str(data), "out": str(out)}):
                summary = predict_file(artifact.program, artifact.task, data, out, lm=model, threads=threads)
            result = summary.__dict__ | {"ledger": str(model.ledger.path)}
        _print(PredictReport.from_dict(result), as_json)

    @app.command("report")
    def report_command(
        source: str = typer.Argument(..., help="A compiled program (compiled.json) or a ledger run id.",
                                     show_default=False),
        data: Optional[Path] = typer.Option(None, "--data", help="Labelled examples to report on (replayed from "
                                                                 "the ledger).", show_default=False),
        html: Optional[Path] = typer.Option(None, "--html", help="Write an HTML report here.", show_default=False),
        program_file: Optional[Path] = typer.Option(None, "--program-file", show_default=False,
                                                    help="The program file of a custom program."),
        ledger: Optional[Path] = LedgerOption, as_json: bool = JsonOption,
    ) -> None:
        """Re-render a report from the ledger and the artifact, without any LM call.

        With a compiled program and --data, the evaluation is replayed from the ledger (a call that is
        not there is an error, never paid for); with a run id, that evaluate run is replayed.
        """
        if not Path(source).is_file():
            source, data, ledger = _evaluate_run(source, data, ledger, fail)
        artifact = _load_artifact(Path(source), program_file)
        if data is None:
            _show_report(_with_artifact(_compile_report(artifact, None, ledger), source), html, as_json)
            return
        model = _make_lm(artifact.lm.get("model"), None, ledger, cache="replay")
        evaluation = _evaluate(artifact, _load_data(data, artifact.task), model, 8, None, data, Path(source),
                               quiet=as_json)
        _show_report(_with_artifact(_evaluation_report(evaluation, artifact, {}), source), html, as_json)


class _Setup:
    """What compile and plan share: the task, its data, the program and the LMs."""

    def __init__(self, program, task_path, lm, teacher, api_base, ledger, options, seed, seeds, budget_usd,
                 max_calls, cache: str = "readwrite"):
        from lmprog.budget import Budget
        from lmprog.program_file import build_program
        from lmprog.task import Task

        self.task = Task.from_toml(task_path)
        self.train = self.task.load("train")
        self.dev = self.task.load("dev") if self.task.data.dev else None
        self.program = build_program(program, self.task, _options(options))
        self.lm = _make_lm(lm, api_base, ledger, cache)
        self.teacher = _make_lm(teacher, api_base, ledger, cache) if teacher else None
        self.seed, self.seeds = seed, _seed_list(seeds)
        self.budget = Budget(max_calls=max_calls, max_usd=budget_usd)

    def arguments(self) -> dict:
        return {"lm": self.lm, "teacher": self.teacher, "seed": self.seed, "seeds": self.seeds}

    def compile(self, *, optimizer: str, threads: int, progress):
        import lmprog

        return lmprog.compile(self.program, self.train, self.dev, optimizer=optimizer, budget=self.budget,
                              threads=threads, progress=progress, **self.arguments())

    def plan(self):
        import lmprog

        return lmprog.plan(self.program, self.train, self.dev, **self.arguments())

    def dev_examples(self, seed: int):
        from lmprog.optimize.compile import Settings, _split

        return _split(list(self.train), list(self.dev) if self.dev is not None else None, seed,
                      Settings().dev_fraction)[1]


EMBED_LABELS_MAX = 1000


def _save(compiled, out: Path) -> None:
    """Save the artifact; a large label space read from a file is stored by reference (its path,
    relative to the artifact, and its hash) instead of being copied into every artifact."""
    from lmprog.errors import ArtifactError

    if len(compiled.task.labels) > EMBED_LABELS_MAX:
        try:
            compiled.save(out, embed_labels=False)
            return
        except ArtifactError:
            pass  # not from a file, or not readable with the default columns: embed it
    compiled.save(out)


def _options(pairs: list[str] | None) -> dict:
    options = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigurationError(f"--option {pair!r} is not KEY=VALUE")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def _seed_list(seeds: str | None) -> list[int] | None:
    if seeds is None:
        return None
    try:
        return [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise ConfigurationError(f"--seeds {seeds!r} must be integers separated by commas, e.g. 0,1,2") from None


def _make_lm(model, api_base, ledger, cache: str = "readwrite"):
    from lmprog.lm import make_lm

    return make_lm(model, api_base=api_base, ledger=ledger, cache=cache)


def _load_artifact(path: Path, program_file: Path | None):
    from lmprog.artifact import load

    return load(path, program_file=program_file)


def _load_data(path: Path, task):
    from lmprog.data import load_examples

    return load_examples(path, text=task.input_fields, label=task.output_field, multi_label=task.multi_label,
                         labels=task.labels)


@contextlib.contextmanager
def _progress(quiet: bool, label: str, total: int):
    from rich.progress import Progress

    with Progress(transient=True, disable=quiet) as bar:
        task_id = bar.add_task(label, total=total)
        yield lambda done, _total: bar.update(task_id, completed=done)


def _evaluate(artifact, examples, lm, threads, budget, data_path, artifact_path, *, quiet: bool):
    from lmprog.evaluation import evaluate

    with _progress(quiet, "evaluate", len(examples)) as advance:
        return evaluate(artifact, examples, lm=lm, threads=threads, budget=budget, data_path=str(data_path),
                        artifact_path=str(artifact_path), progress=advance)


def _baseline(artifact, examples, lm, threads, budget, quiet: bool) -> dict:
    """The zero-shot program's score on the same examples: the report's 'before'."""
    from lmprog.evaluation import evaluate, zero_shot_version

    with _progress(quiet, "zero-shot baseline", len(examples)) as advance:
        zero_shot = evaluate(zero_shot_version(artifact), examples, lm=lm, threads=threads, budget=budget,
                             progress=advance)
    return {"before": zero_shot.score, "before_label": "zero-shot", "after_label": "compiled"}


def _evaluation_report(evaluation, artifact, before: dict) -> dict:
    """The report of an evaluation; the optimizer's dev scores go along as context, never as 'before'
    (dev and this data are different examples)."""
    data = evaluation.report(**before)
    if artifact.zero_shot_score is not None:
        data["metrics"]["dev score, zero-shot (compile)"] = artifact.zero_shot_score
    if artifact.dev_score is not None:
        data["metrics"]["dev score, compiled (compile)"] = artifact.dev_score
    return data


def _with_artifact(data: dict, path) -> dict:
    data["program"]["artifact"] = str(path)
    return data


def _compile_report(compiled, setup: _Setup | None, ledger: Path | None = None) -> dict:
    """A compile's report: dev scores before and after, every candidate, and what the compile cost.

    With the compile's setup at hand, the compiled program is run again on its dev split to fill in
    per-label scores and errors; those are the calls the compile already made, so all ledger hits.
    Without it, the headline is the optimizer's own dev score.
    """
    from lmprog.evaluation import Evaluation, evaluate, ledger_cost
    from lmprog.ledger import Ledger, ledger_path

    if setup is not None:
        dev = setup.dev_examples(compiled.optimizer.get("seed", 0))
        evaluation = evaluate(compiled, dev, lm=setup.lm, threads=8)
    else:
        evaluation = Evaluation(task=compiled.task, results=[], program=type(compiled.program).__name__,
                                lm=compiled.lm.get("model"), compiled=compiled)
    data = evaluation.report(before=compiled.zero_shot_score, before_label="zero-shot, dev",
                             after_label="compiled, dev", kind="compile")
    if not evaluation.results:
        data["task"]["metric"] = data["headline"]["metric"] = "dev score"
        data["headline"]["value"] = compiled.dev_score
        data["data"]["examples"] = compiled.optimizer.get("dev", 0)
    data["title"] = f"{compiled.task.name} · {type(compiled.program).__name__} · {compiled.lm.get('model')} · compile"
    data["program"]["run_id"] = compiled.run_id
    data["metrics"] |= {"dev score (optimizer)": compiled.dev_score} | _seed_metrics(compiled.optimizer)
    if setup is not None:
        found = setup.lm.ledger
    else:
        path = Path(ledger) if ledger else ledger_path()
        found = Ledger(path) if path.exists() else None
    data["cost"] = ledger_cost(found.stats(run_id=compiled.run_id)) if found is not None and compiled.run_id else {}
    return data


def _seed_metrics(optimizer: dict) -> dict:
    if "seed_mean" not in optimizer:
        return {}
    return {"dev score, mean over seeds": optimizer["seed_mean"], "dev score, std over seeds": optimizer["seed_std"]}


def _evaluate_run(run_id: str, data: Path | None, ledger: Path | None, fail):
    """The artifact and data of an earlier ``lmprog evaluate`` run, to replay it."""
    from lmprog.ledger import Ledger, ledger_path

    path = Path(ledger) if ledger else ledger_path()
    if not path.exists():
        fail(f"{run_id} is neither a file nor a run in a ledger (no ledger at {path})")
    matches = [r for r in Ledger(path).runs(limit=100000) if str(r["id"]).startswith(run_id)]
    if len(matches) != 1:
        fail(f"{run_id} is neither a file nor {'a unique' if matches else 'a'} run id in {path}")
    run = matches[0]
    arguments = json.loads(run["arguments"]) if isinstance(run.get("arguments"), str) else run.get("arguments") or {}
    artifact = arguments.get("artifact")
    if run["command"] != "evaluate" or not artifact:
        fail(f"run {run['id']} is a {run['command']!r} run; report re-renders evaluate runs, or pass the compiled "
             "program file instead")
    if not Path(artifact).is_file():
        raise DataError(f"run {run['id']} evaluated {artifact}, which no longer exists", path=artifact)
    return artifact, data or Path(arguments["data"]), path


def _show_report(data: dict, html: Path | None, as_json: bool) -> None:
    from lmprog.report import EvaluationReport

    report = EvaluationReport.from_dict(data)
    if html is not None:
        report.write_html(html)
    _print(report, as_json)
    if html is not None and not as_json:
        print(f"HTML report: {html}")


def _write_report(data: dict, path: Path) -> None:
    from lmprog.report import EvaluationReport

    EvaluationReport.from_dict(data).write_html(path)


def _print(report, as_json: bool) -> None:
    """Print a report object (lmprog.report): its JSON, or rendered on the terminal."""
    if as_json:
        print(report.to_json())
        return
    from rich.console import Console

    Console().print(report)
