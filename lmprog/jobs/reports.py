"""Reports the library builds for the commands: a compile's report, an evaluation's (with the zero-shot
baseline), and a report replayed from the ledger alone."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from lmprog.errors import ConfigurationError, DataError


def compile_report(compiled, *, train=None, dev=None, lm=None, ledger=None, artifact=None):
    """A compile's report: the out-of-fold scores before and after, every candidate, and what the compile cost.

    The headline is the optimizer's own score: every labelled example scored by a program built without it
    (re-running the compiled program on its labelled examples would score it on its own demos), with the
    interval and the paired difference to zero-shot the artifact records (``optimizer.why``). The supervised
    floor is cross-validated on the same labelled examples and, where the artifact records the program's
    score on each example, compared with it pair by pair.
    """
    from lmprog.evaluation import Evaluation, ledger_cost, run_cost
    from lmprog.evaluation.floor import floor_out_of_fold
    from lmprog.evaluation.intervals_of import example_scores_of, floor_data_out_of_fold, score_data
    from lmprog.evaluation.results import candidate_record
    from lmprog.report import EvaluationReport

    if lm is not None:
        ledger = getattr(lm, "ledger", None)
    evaluation = Evaluation(task=compiled.task, results=[], program=type(compiled.program).__name__,
                            output=compiled.output, lm=compiled.lm.get("model"), compiled=compiled)
    why = compiled.optimizer.get("why") or {}
    chosen, zero = candidate_record(compiled), candidate_record(compiled, "zero-shot")
    where = "out of fold" if "folds" in compiled.optimizer else "dev"
    data = evaluation.report(before=score_data(zero.get("interval")) or compiled.zero_shot_score,
                             before_label=f"zero-shot, {where}", after_label=f"compiled, {where}", kind="compile")
    data["task"]["metric"] = data["headline"]["metric"] = "dev score"
    data["headline"]["value"] = score_data(chosen.get("interval")) or compiled.dev_score
    if why.get("vs_zero_shot") and why.get("chosen") == why.get("best") and why.get("chosen") != "zero-shot":
        data["headline"]["difference"] = why["vs_zero_shot"]
    elif why.get("chosen_vs_zero_shot"):  # a free candidate chosen because the best one's gain was unproven
        data["headline"]["difference"] = why["chosen_vs_zero_shot"]
    data["data"]["examples"] = compiled.optimizer.get("examples", compiled.optimizer.get("dev", 0))
    if why:
        data["selection"] = why
    data["floor"] = floor_data_out_of_fold(floor_out_of_fold(compiled, seed=compiled.optimizer.get("seed", 0)),
                                           example_scores_of(chosen, len(compiled.examples or [])),
                                           program=data["headline"]["value"])
    data["title"] = f"{compiled.task.name} · {type(compiled.program).__name__} · {compiled.lm.get('model')} · compile"
    data["program"]["run_id"] = compiled.run_id
    data["program"]["artifact"] = str(artifact) if artifact is not None else None
    data["metrics"] |= ({"dev score (optimizer)": data["headline"]["value"]} | _seed_metrics(compiled.optimizer))
    if compiled.spent is not None:  # just compiled: the ledger's record of the run, or what a replay counted
        data["cost"] = run_cost(ledger, compiled.run_id, compiled.spent)
    else:
        data["cost"] = ledger_cost(ledger.stats(run_id=compiled.run_id)) if ledger is not None and compiled.run_id else {}
    return EvaluationReport.from_dict(data)


def _seed_metrics(optimizer: dict) -> dict:
    if "seed_mean" not in optimizer:
        return {}
    return {"dev score, mean over seeds": optimizer["seed_mean"], "dev score, std over seeds": optimizer["seed_std"]}


def evaluation_report(evaluation, compiled, *, artifact=None, baseline=None):
    """The report of ``evaluation`` of ``compiled``; ``baseline`` (the zero-shot program's evaluation on the
    same data) is the report's "before", with the paired difference. The supervised floor is trained on the
    artifact's labelled examples and scored on the same data. The optimizer's dev scores go along as
    context, never as "before" (dev and this data are different examples)."""
    from lmprog.evaluation.floor import floor_on
    from lmprog.evaluation.intervals_of import score_data
    from lmprog.evaluation.results import candidate_record
    from lmprog.report import EvaluationReport

    before = {"baseline": baseline, "before_label": "zero-shot", "after_label": "compiled"} if baseline else {}
    data = evaluation.report(**before, floor=floor_on(compiled, evaluation))
    if compiled.zero_shot_score is not None:
        data["metrics"]["dev score, zero-shot (compile)"] = (score_data(candidate_record(compiled, "zero-shot").get(
            "interval")) or compiled.zero_shot_score)
    if compiled.dev_score is not None:
        data["metrics"]["dev score, compiled (compile)"] = (score_data(candidate_record(compiled).get("interval"))
                                                            or compiled.dev_score)
    if compiled.optimizer.get("why"):
        data["selection"] = compiled.optimizer["why"]
    data["program"]["artifact"] = str(artifact) if artifact is not None else None
    return EvaluationReport.from_dict(data)


def evaluate_file(artifact: str | os.PathLike, data: str | os.PathLike, *, lm: str | None = None,
                  api_base: str | None = None, ledger=None, offline: bool = False, budget=None, threads: int = 8,
                  baseline: bool = False, report: str | os.PathLike | None = None, force: bool = False,
                  program_file=None, progress: Callable[[str, int, int], None] | None = None):
    """``lmprog evaluate``: score the artifact on a labelled data file; with ``baseline``, the zero-shot
    program on the same data too; with ``report``, write the HTML report there (checked before any call)."""
    from lmprog.evaluation import evaluate, zero_shot_version
    from lmprog.jobs.setup import is_report_file, load_artifact, load_labelled, open_models
    from lmprog.paths import check_output

    report = check_output(report, what="report", force=force, ours=is_report_file, inputs=[artifact, data])
    compiled = load_artifact(artifact, program_file)
    examples = load_labelled(data, compiled.task)
    model = open_models(lm or compiled.lm.get("model"), api_base=api_base, ledger=ledger, offline=offline).lm
    tick = (lambda stage: (lambda done, total: progress(stage, done, total))) if progress else (lambda stage: None)
    evaluation = evaluate(compiled, examples, lm=model, threads=threads, budget=budget, data_path=str(data),
                          artifact_path=str(artifact), progress=tick("evaluate"))
    zero_shot = evaluate(zero_shot_version(compiled), examples, lm=model, threads=threads, budget=budget,
                         progress=tick("zero-shot baseline")) if baseline else None
    built = evaluation_report(evaluation, compiled, artifact=artifact, baseline=zero_shot)
    if report is not None:
        built.write_html(report)
    return built


def replay_report(source: str, *, data=None, ledger=None, program_file=None, html=None, force: bool = False,
                  progress: Callable[[str, int, int], None] | None = None):
    """``lmprog report``: re-render a report from the artifact and the ledger alone (opened read-only, left
    byte-identical). ``source`` is an artifact (with ``data``: its evaluation replayed; without: its compile
    report) or the id of an earlier evaluate run."""
    from lmprog.evaluation import evaluate
    from lmprog.jobs.setup import is_report_file, load_artifact, load_labelled, open_models
    from lmprog.ledger import Ledger, ledger_path
    from lmprog.paths import check_output

    html = check_output(html, what="report", force=force, ours=is_report_file,
                        inputs=[p for p in (source, data) if p is not None])
    if not Path(source).is_file():
        source, data, ledger = _evaluate_run(source, data, ledger)
    compiled = load_artifact(source, program_file)
    if data is None:
        path = ledger_path(ledger)
        found = Ledger.open_readonly(path) if path.exists() else None
        built = compile_report(compiled, ledger=found, artifact=source)
    else:
        model = open_models(compiled.lm.get("model"), ledger=ledger, readonly=True).lm
        evaluation = evaluate(compiled, load_labelled(data, compiled.task), lm=model, data_path=str(data),
                              artifact_path=str(source),
                              progress=(lambda d, t: progress("replay", d, t)) if progress else None)
        built = evaluation_report(evaluation, compiled, artifact=source)
    if html is not None:
        built.write_html(html)
    return built


def _evaluate_run(run_id: str, data, ledger) -> tuple[str, Path, Path]:
    """The artifact and data of an earlier ``lmprog evaluate`` run, to replay it."""
    from lmprog.ledger import Ledger, ledger_path

    path = ledger_path(ledger)
    if not path.exists():
        raise ConfigurationError(f"{run_id} is neither a file nor a run in a ledger (no ledger at {path})")
    matches = [r for r in Ledger.open_readonly(path).runs(limit=None) if str(r["id"]).startswith(run_id)]
    if len(matches) != 1:
        raise ConfigurationError(f"{run_id} is neither a file nor {'a unique' if matches else 'a'} run id in {path}")
    run = matches[0]
    arguments = json.loads(run["arguments"]) if isinstance(run.get("arguments"), str) else run.get("arguments") or {}
    artifact = arguments.get("artifact")
    if run["command"] != "evaluate" or not artifact:
        raise ConfigurationError(f"run {run['id']} is a {run['command']!r} run; report re-renders evaluate runs, or "
                                 "pass the compiled program file instead")
    if not Path(artifact).is_file():
        raise DataError(f"run {run['id']} evaluated {artifact}, which no longer exists", path=artifact)
    return artifact, Path(data or arguments["data"]), path
