"""What runs inside each Ray actor: the model loaded once, then one batch of rows at a time.

:class:`ModelSpec` says what to load (a compiled program, a distilled classifier, or the classifier
cascaded to its program) and how to reach the LM; :class:`LabelWorker` is the callable class given
to ``map_batches``: it loads the spec once per actor, answers each batch (identical inputs in a
batch answered once; one bad row recorded with its error, never failing the batch) and returns the
batch with the answer columns added.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PAID, HITS = "__lmprog_paid", "__lmprog_hits"  # per-batch counts, on the batch's first row
STAGED = "__lmprog_staged"  # a batch of staged file paths: the rows are read from those files


@dataclass
class ModelSpec:
    """What a worker loads: ``program`` (a CompiledProgram or an artifact path) and/or ``classifier`` (a
    Distilled or a ``.skops`` path); with both, the classifier answers and the program takes the rows it is
    unsure of (``threshold``, or chosen by ``max_lm_fraction`` / ``min_score`` from the classifier's curve).

    ``lm`` (default: the artifact's model), ``api_base`` and ``lm_options`` build the LM as
    :func:`lmprog.make_lm` does; ``threads`` is how many rows an actor runs at once.
    """

    program: Any = None
    classifier: Any = None
    program_file: str | None = None
    lm: str | None = None
    api_base: str | None = None
    lm_options: dict = field(default_factory=dict)
    threshold: float | None = None
    max_lm_fraction: float | None = None
    min_score: float | None = None
    threads: int = 8

    @property
    def uses_lm(self) -> bool:
        return self.program is not None

    def compiled(self):
        if self.program is None or not isinstance(self.program, (str, os.PathLike)):
            return self.program
        from lmprog.artifact import load

        return load(self.program, program_file=self.program_file)

    def distilled(self):
        if self.classifier is None or not isinstance(self.classifier, (str, os.PathLike)):
            return self.classifier
        from lmprog.distillation import load_distilled

        return load_distilled(self.classifier)

    def task_and_output(self) -> tuple[Any, Any, list[str]]:
        """The task, its output kind and the answer columns the job adds (loads the model here)."""
        model = self.distilled() or self.compiled()
        columns = [model.output.field, "confidence"] + (["source"] if self.classifier is not None else []) + ["error"]
        return model.task, model.output, columns

    def answerer(self, lm):
        """``answer(rows of input fields) -> answer dicts``, with ``lm`` for the program."""
        from lmprog.distillation import Cascade
        from lmprog.evaluation.predict import program_answerer

        classifier, compiled = self.distilled(), self.compiled()
        if classifier is None:
            return program_answerer(compiled.program, compiled.task, lm=lm, threads=self.threads)
        if compiled is None:
            return classifier.answer_rows
        choose = (self.max_lm_fraction, self.min_score)
        chain = Cascade(classifier, compiled, lm=lm, threshold=self.threshold, threads=self.threads,
                        max_lm_fraction=0.2 if self.threshold is None and choose == (None, None) else choose[0],
                        min_score=choose[1])
        return chain.answer_rows

    def default_model(self) -> str | None:
        compiled = self.compiled()
        return self.lm or (compiled.lm.get("model") if compiled is not None else None)


def gated_lm(spec: ModelSpec, model: str | None, gate_client):
    """The LM ``make_lm`` builds for ``model``, its calls made through the gate (see :mod:`lmprog.scale.recording`).

    ``make_lm`` wants a ledger; a worker's is a scratch file nobody reads (its engine is set to ``off``
    and replaced)."""
    from lmprog.ledger import Ledger
    from lmprog.lm import make_lm
    from lmprog.scale.recording import GatedEngine

    scratch = Path(tempfile.mkdtemp(prefix="lmprog-worker-")) / "unused.db"
    base = make_lm(model, api_base=spec.api_base, ledger=Ledger(scratch), cache="off", **spec.lm_options)
    engine = GatedEngine(base.ledger_engine, gate_client)
    return base.copy(engine=engine), engine


class LabelWorker:
    """The callable class ``map_batches`` runs in each actor of the pool (the model is loaded once here).

    ``columns`` maps each input field to the batch column holding it; ``answer_columns`` are the columns
    added (answer field, confidence, [source,] error).
    """

    def __init__(self, spec: ModelSpec, columns: dict[str, str], answer_columns: list[str], gate=None):
        self.columns, self.answer_columns = dict(columns), list(answer_columns)
        self.engine = self.client = None
        lm = None
        if spec.uses_lm and gate is not None:
            from lmprog.scale.recording import GateClient

            self.client = GateClient(gate, f"{socket.gethostname()}:{os.getpid()}")
            lm, self.engine = gated_lm(spec, spec.default_model(), self.client)
        self.answer = spec.answerer(lm)

    def __call__(self, batch):
        import pyarrow as pa

        table = batch if isinstance(batch, pa.Table) else pa.Table.from_pydict(batch)
        if STAGED in table.column_names:
            import pyarrow.parquet as pq

            table = pa.concat_tables([pq.read_table(path) for path in table.column(STAGED).to_pylist()])
        rows = [{name: "" if value is None else str(value) for name, value in zip(self.columns, values)}
                for values in zip(*(table.column(column).to_pylist() for column in self.columns.values()))]
        answers = self.answer_unique(rows)
        log, hits = self.engine.drain() if self.engine is not None else ([], 0)
        paid = sum(record.get("error_kind") is None for record in log)
        return append_answers(table, answers, self.answer_columns, paid=paid, hits=hits)

    def answer_unique(self, rows: list[dict]) -> list[dict]:
        """Answers for ``rows``; identical rows are answered once."""
        index: dict[str, int] = {}
        unique: list[dict] = []
        positions = []
        for row in rows:
            key = json.dumps(row, sort_keys=True)
            if key not in index:
                index[key] = len(unique)
                unique.append(row)
            positions.append(index[key])
        answered = self.answer(unique) if unique else []
        return [answered[i] for i in positions]


def append_answers(table, answers: list[dict], columns: list[str], *, paid: int = 0, hits: int = 0):
    """``table`` with one column per answer column (JSON-typed by value) and the batch's counts."""
    import pyarrow as pa

    table = table.drop_columns([name for name in [*columns, PAID, HITS] if name in table.column_names])
    for name in columns:
        values = [answer.get(name) for answer in answers]
        if name == "confidence":
            array = pa.array([None if v is None else float(v) for v in values], type=pa.float64())
        elif name in ("error", "source", "label"):
            array = pa.array([None if v is None else str(v) for v in values], type=pa.string())
        else:  # labels, a ranking
            array = pa.array([None if v is None else [str(x) for x in v] for v in values], type=pa.list_(pa.string()))
        table = table.append_column(name, array)
    for name, count in ((PAID, paid), (HITS, hits)):
        table = table.append_column(name, pa.array([count] + [0] * (table.num_rows - 1) if table.num_rows else [],
                                                    type=pa.int64()))
    return table
