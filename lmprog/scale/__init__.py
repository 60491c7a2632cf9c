"""Labelling at cluster scale on Ray Data (the ``ray`` extra): a compiled program, a distilled classifier or
the classifier cascaded to its program, run by an actor pool with the ledger, limits and budget kept for
the whole cluster.

    import lmprog.scale
    summary = lmprog.scale.label("in.parquet", "compiled.json", out="out.parquet", rps=100)
    frame = lmprog.scale.label(ray_dataset, compiled)          # a pandas DataFrame

See :mod:`lmprog.scale.job` (the driver), :mod:`lmprog.scale.worker` (what each actor runs),
:mod:`lmprog.scale.gate` (the coordinator every LM call passes) and :mod:`lmprog.scale.recording`
(a worker's LM engine).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lmprog.run import Budget
from lmprog.scale.job import ScaleSettings, ScaleSummary, connect, label_dataset, label_file
from lmprog.scale.worker import ModelSpec

__all__ = ["ModelSpec", "ScaleSettings", "ScaleSummary", "connect", "label", "label_dataset", "label_file"]


def label(data: Any, model: Any, *, out: str | os.PathLike | None = None, cascade: Any = None,
          lm: str | None = None, api_base: str | None = None, ledger: str | os.PathLike | None = None,
          address: str | None = None, concurrency: int = 2, threads: int = 8, rps: float | None = None,
          max_in_flight: int | None = None, budget: Budget | None = None, batch_size: int | None = None,
          threshold: float | None = None, max_lm_fraction: float | None = None, min_score: float | None = None,
          program_file: str | os.PathLike | None = None):
    """Label ``data`` (a Ray Dataset, or a data file path) with ``model`` (a CompiledProgram, a Distilled, or
    a path to either; a Distilled with ``cascade``, the compiled program it came from, is a cascade).

    With ``out``, the rows and their answers are written there (resuming what it holds) and a
    :class:`ScaleSummary` is returned; without, a Dataset's rows come back as a pandas DataFrame with the
    answer columns added.
    """
    classifier = model if _is_classifier(model) else None
    program = cascade if classifier is not None else model
    spec = ModelSpec(program=program, classifier=classifier, lm=lm, api_base=api_base, threads=threads,
                     threshold=threshold, max_lm_fraction=max_lm_fraction, min_score=min_score,
                     program_file=None if program_file is None else str(program_file))
    settings = ScaleSettings(address=address, concurrency=concurrency, batch_size=batch_size, rps=rps,
                             max_in_flight=max_in_flight, budget=budget)
    if isinstance(data, (str, os.PathLike)):
        if out is None:
            raise TypeError("label(path, ...) needs out= (where to write the labelled rows)")
        return label_file(spec, data, out, ledger=ledger, settings=settings)
    import pyarrow as pa

    tables = list(label_dataset(data, spec, ledger=ledger, settings=settings))
    frame = pa.concat_tables(tables).to_pandas() if tables else None
    if out is not None:
        from lmprog.data.sinks import open_sink

        sink = open_sink(out)
        sink.write(frame.to_dict("records") if frame is not None else [])
        return sink.finish()
    return frame


def _is_classifier(model: Any) -> bool:
    if isinstance(model, (str, os.PathLike)):
        return Path(model).suffix == ".skops"
    return hasattr(model, "answer_rows") and hasattr(model, "predict_proba")
