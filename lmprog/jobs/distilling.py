"""``lmprog distill`` as a library call: pseudo-label with the compiled program, train the classifier,
save it and its report; outputs are checked before the first LM call."""

from __future__ import annotations

import os
from collections.abc import Callable

from lmprog.jobs.setup import is_report_file, load_artifact, open_models
from lmprog.paths import check_output
from lmprog.run import Budget


def distill_file(artifact: str | os.PathLike, unlabeled: str | os.PathLike, *, out: str | os.PathLike = "model.skops",
                 report: str | os.PathLike | None = None, gold: str | os.PathLike | None = None,
                 features: str = "tfidf", min_confidence: float | None = None, samples: int = 1, balance: bool = True,
                 seed: int = 0, max_lm_fraction: float = 0.2, lm: str | None = None, api_base: str | None = None,
                 ledger=None, offline: bool = False, budget: Budget | None = None, threads: int = 8,
                 program_file=None, force: bool = False, progress: Callable[[str, int, int], None] | None = None):
    """Distill the artifact into a classifier saved at ``out``; returns its :class:`lmprog.report.DistillReport`
    (written as HTML to ``report`` when given). An existing ``out`` must be an lmprog model file and
    ``report`` an lmprog report, unless ``force``. The report scores the program, the classifier, the
    cascade and the supervised floor with their intervals, paired on the gold examples when given."""
    import lmprog
    from lmprog.distillation import is_distilled_file
    from lmprog.report import DistillReport

    inputs = [p for p in (artifact, unlabeled, gold) if p is not None]
    out = check_output(out, what="model file", force=force, ours=is_distilled_file, inputs=inputs)
    report = check_output(report, what="report", force=force, ours=is_report_file, inputs=[*inputs, out])
    compiled = load_artifact(artifact, program_file)
    model = open_models(lm or compiled.lm.get("model"), api_base=api_base, ledger=ledger, offline=offline).lm
    distilled = lmprog.distill(compiled, unlabeled, lm=model, features=features, gold=gold,
                               min_confidence=min_confidence, samples=samples, balance=balance, seed=seed,
                               budget=budget, threads=threads, artifact_path=str(artifact), progress=progress)
    distilled.save(out)
    paired = _paired_scores(compiled, distilled, gold, lm=model, samples=samples, threads=threads, seed=seed,
                            max_lm_fraction=max_lm_fraction)
    built = DistillReport.from_distilled(distilled, max_lm_fraction=max_lm_fraction, model_path=str(out),
                                         paired=paired)
    if report is not None:
        built.write_html(report)
    return built


def _paired_scores(compiled, distilled, gold, *, lm, samples: int, threads: int, seed: int,
                   max_lm_fraction: float) -> dict:
    """The rows' scores with intervals and paired differences (:func:`lmprog.evaluation.distilled.distill_scores`).
    The program's answers on gold are the ones distillation asked for (the same calls: ledger hits)."""
    from lmprog.distillation import choose_threshold
    from lmprog.evaluation import evaluate
    from lmprog.evaluation.distilled import distill_scores

    program = None
    if gold is not None:
        module = compiled.program if samples == 1 else compiled.program.sampling(samples)
        program = evaluate(module, compiled.task.read_examples(gold), lm=lm, threads=threads)
    curve = distilled.cascade.get("curve") if distilled.cascade.get("reference") == "gold" else None
    threshold = choose_threshold(curve, max_lm_fraction=max_lm_fraction)["threshold"] if curve else None
    return distill_scores(compiled, distilled, program, threshold=threshold, seed=seed)
