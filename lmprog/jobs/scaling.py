"""``lmprog predict --engine ray``: the same command on a Ray cluster (:mod:`lmprog.scale`, the ``ray`` extra)."""

from __future__ import annotations

from pathlib import Path

from lmprog.errors import ConfigurationError
from lmprog.jobs.setup import load_artifact

CLASSIFIER_SUFFIX = ".skops"
SETTINGS = ("address", "concurrency", "rps", "max_in_flight", "batch_size", "num_cpus")


def predict_on_ray(model_path: Path, data: Path, out: Path, *, cascade, max_lm_fraction, min_score, lm, api_base,
                   ledger, offline, threads, program_file, force, budget, settings: dict, check_out):
    """:func:`lmprog.jobs.predict_to_file` with ``engine="ray"``; ``settings`` are :class:`ScaleSettings` fields,
    ``check_out(out, data, field, force, inputs)`` checks the output path before any work."""
    from lmprog.distillation import load_distilled
    from lmprog.ledger import ledger_path
    from lmprog.report import PredictReport

    try:
        from lmprog.scale import ModelSpec, ScaleSettings, label_file
    except ImportError as exc:
        raise ConfigurationError(f"--engine ray needs Ray Data: pip install 'lmprog[ray]' ({exc})") from None
    if offline:
        raise ConfigurationError("--offline is not supported with --engine ray; run it with the threads engine")
    unknown = set(settings) - set(SETTINGS)
    if unknown:
        raise ConfigurationError(f"unknown Ray settings: {', '.join(sorted(unknown))}")
    classifier = model_path if model_path.suffix == CLASSIFIER_SUFFIX else None
    program = cascade if classifier is not None else model_path
    model = load_distilled(classifier) if classifier is not None else load_artifact(program, program_file)
    inputs = [model_path, *([cascade] if cascade else [])]
    check_out(out, data, model.output.field, force, inputs)
    if classifier is None and program is not None:
        lm = lm or model.lm.get("model")
    spec = ModelSpec(program=None if program is None else str(program), classifier=classifier and str(classifier),
                     program_file=None if program_file is None else str(program_file), lm=lm, api_base=api_base,
                     threads=threads, max_lm_fraction=max_lm_fraction, min_score=min_score)
    scale = ScaleSettings(budget=budget, **{k: v for k, v in settings.items() if v is not None})
    summary = label_file(spec, data, out, ledger=ledger_path(ledger), settings=scale)
    extra = {"ledger": str(ledger_path(ledger))} if spec.uses_lm else {}
    return PredictReport.from_summary(summary, model=str(model_path), **extra)
