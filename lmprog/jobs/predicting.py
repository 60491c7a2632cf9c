"""``lmprog predict`` as a library call: label every row of a file with a compiled program, a distilled
classifier, or the classifier cascaded to the program; streaming, resumable, every LM call ledgered."""

from __future__ import annotations

import os
from pathlib import Path

from lmprog.errors import ConfigurationError
from lmprog.jobs.setup import is_predictions_file, load_artifact, open_models
from lmprog.paths import check_output

CLASSIFIER_SUFFIX = ".skops"


def predict_to_file(model_path: str | os.PathLike, data: str | os.PathLike, out: str | os.PathLike, *,
                    cascade: str | os.PathLike | None = None, max_lm_fraction: float | None = None,
                    min_score: float | None = None, lm: str | None = None, api_base: str | None = None,
                    ledger=None, offline: bool = False, threads: int = 8, program_file=None, force: bool = False,
                    budget=None, engine: str = "threads", ray: dict | None = None):
    """Label ``data`` into ``out`` (JSONL, or Parquet for ``.parquet``) with ``model_path`` (a compiled
    program, or a distilled ``.skops`` classifier, optionally cascaded to the compiled program it came from).
    An existing ``out`` that holds this task's predictions is continued (rows already there are skipped);
    any other existing file is refused unless ``force`` (then it is replaced). ``budget`` (a
    :class:`lmprog.run.Budget`) stops paying; the rows it stopped are left for a rerun. ``engine="ray"``
    runs on a Ray cluster (:mod:`lmprog.scale`; ``ray`` holds its settings: address, concurrency, rps,
    max_in_flight). Returns a :class:`lmprog.report.PredictReport`."""
    model_path, data, out = Path(model_path), Path(data), Path(out)
    if Path(model_path).suffix != CLASSIFIER_SUFFIX and (cascade or max_lm_fraction is not None
                                                         or min_score is not None):
        raise ConfigurationError("--cascade, --max-lm-fraction and --min-score go with a distilled classifier "
                                 f"(model.skops), not {model_path}")
    if engine not in ("threads", "ray"):
        raise ConfigurationError(f"--engine must be threads or ray, not {engine!r}")
    if engine == "ray":
        from lmprog.jobs.scaling import predict_on_ray

        return predict_on_ray(model_path, data, out, cascade=cascade, max_lm_fraction=max_lm_fraction,
                              min_score=min_score, lm=lm, api_base=api_base, ledger=ledger, offline=offline,
                              threads=threads, program_file=program_file, force=force, budget=budget,
                              settings=dict(ray or {}), check_out=check_predictions_out)
    if model_path.suffix == CLASSIFIER_SUFFIX:
        return _with_classifier(model_path, data, out, cascade=cascade, max_lm_fraction=max_lm_fraction,
                                min_score=min_score, lm=lm, api_base=api_base, ledger=ledger, offline=offline,
                                threads=threads, program_file=program_file, force=force, budget=budget)
    from lmprog.evaluation import predict_file
    from lmprog.report import PredictReport
    from lmprog.run import open_run

    compiled = load_artifact(model_path, program_file)
    check_predictions_out(out, data, compiled.output.field, force, inputs=[model_path])
    model = open_models(lm or compiled.lm.get("model"), api_base=api_base, ledger=ledger, offline=offline).lm
    arguments = {"artifact": str(model_path), "data": str(data), "out": str(out)}
    with open_run(model, "predict", arguments, budget=budget):
        summary = predict_file(compiled.program, compiled.task, data, out, lm=model, threads=threads)
    return PredictReport.from_summary(summary, ledger=str(model.ledger.path))


def check_predictions_out(out: Path, data: Path, field: str, force: bool, inputs) -> None:
    """``out`` may be written: new, this task's predictions (continued), or replaced with ``force``."""
    from lmprog.data.sinks import remove_output

    check_output(out, what="output", force=force, ours=lambda path: is_predictions_file(path, field),
                 inputs=[data, *inputs])
    if force and out.exists() and not is_predictions_file(out, field):
        remove_output(out)  # asked to replace it: start the predictions afresh


def _with_classifier(model_path: Path, data: Path, out: Path, *, cascade, max_lm_fraction, min_score, lm, api_base,
                     ledger, offline, threads, program_file, force, budget):
    from lmprog.distillation import Cascade, load_distilled
    from lmprog.evaluation import answer_file
    from lmprog.report import PredictReport
    from lmprog.run import open_run

    classifier = load_distilled(model_path)
    check_predictions_out(out, data, classifier.output.field, force,
                          inputs=[model_path, *([cascade] if cascade else [])])
    if cascade is None:
        if max_lm_fraction is not None or min_score is not None:
            raise ConfigurationError("--max-lm-fraction and --min-score need --cascade compiled.json (the program "
                                     "that answers what the classifier is unsure of)")
        return PredictReport.from_summary(answer_file(classifier.answer_rows, classifier.task, data, out),
                                          model=str(model_path))
    artifact = load_artifact(cascade, program_file)
    model = open_models(lm or artifact.lm.get("model"), api_base=api_base, ledger=ledger, offline=offline).lm
    if max_lm_fraction is None and min_score is None:
        max_lm_fraction = 0.2
    chain = Cascade(classifier, artifact, lm=model, max_lm_fraction=max_lm_fraction, min_score=min_score,
                    threads=threads)
    lm_rows = 0

    def answer(rows: list[dict]) -> list[dict]:
        nonlocal lm_rows
        answers = chain.answer_rows(rows)
        lm_rows += sum(a["source"] == "program" or "error" in a for a in answers)
        return answers

    with open_run(model, "predict", {"model": str(model_path), "cascade": str(cascade), "data": str(data),
                                     "out": str(out), "threshold": chain.threshold}, budget=budget):
        summary = answer_file(answer, classifier.task, data, out, chunk=max(1, threads) * 16)
    return PredictReport.from_summary(summary, model=str(model_path), ledger=str(model.ledger.path), lm_rows=lm_rows,
                                      threshold=chain.threshold,
                                      lm_fraction_expected=chain.chosen.get("lm_fraction"))
