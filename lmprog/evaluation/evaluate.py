"""``lmprog.evaluate``: run a program on labelled examples and keep one record per example.

Every call goes through the ledger, so evaluating again (or re-rendering a report) pays for nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import dspy

from lmprog import outputs
from lmprog.artifact import CompiledProgram
from lmprog.errors import ConfigurationError
from lmprog.evaluation.cost import run_cost
from lmprog.evaluation.results import Evaluation, ExampleResult
from lmprog.modules.protocol import confidence_of, zero_shot
from lmprog.run import Budget, Outcome, ledger_of, open_run, run_module


def evaluate(program, examples: Sequence[dspy.Example], *, lm=None, threads: int = 8, budget: Budget | None = None,
             data_path: str | None = None, artifact_path: str | None = None,
             progress: Callable[[int, int], None] | None = None) -> Evaluation:
    """Run ``program`` (a :class:`~lmprog.CompiledProgram` or a label module) on labelled ``examples``.

    Args:
        lm: the LM to predict with (default for a compiled program: its recorded model via ``make_lm``;
            a bare module needs one).
        threads: examples in flight at once.
        budget: a cap on paid calls / USD; examples it stops are recorded with error ``budget``.
        data_path / artifact_path: recorded with the ledger run, so ``lmprog report RUN_ID`` can replay it.
        progress: called with ``(done, total)`` as examples finish.

    A failure on one example (provider error after retries, unparseable answer) is recorded on that
    example and the rest go on; an lmprog error the user must act on (a replay miss) is raised.
    """
    compiled = program if isinstance(program, CompiledProgram) else None
    module = compiled.program if compiled is not None else program
    task = getattr(module, "task", None) or (compiled.task if compiled is not None else None)
    if task is None:
        raise ConfigurationError("evaluate() needs a label module or a CompiledProgram (they carry the task)")
    if lm is None and compiled is not None:
        lm = compiled.make_lm()
    if lm is None:
        raise ConfigurationError("evaluate() needs an LM for a bare module: pass lm=lmprog.make_lm(...)")
    from lmprog.data.frames import is_dataframe

    examples = list(task.read_examples(examples) if is_dataframe(examples) else examples)
    kind = compiled.output if compiled is not None else outputs.of(module)
    arguments = {"program": type(module).__name__, "task": task.name, "examples": len(examples), "data": data_path,
                 "artifact": artifact_path, "artifact_run": compiled.run_id if compiled is not None else None}
    with open_run(lm, "evaluate", arguments, budget=budget) as run:
        outcomes = run_module(module, [example.inputs() for example in examples], lm=lm, threads=threads,
                              progress=progress)
    ledger = ledger_of(lm)
    cost = run_cost(ledger, run.run_id, run.budget.summary())
    results = [example_result(i, example, outcome, module, task, kind)
               for i, (example, outcome) in enumerate(zip(examples, outcomes))]
    return Evaluation(task=task, results=results, program=type(module).__name__, output=kind, lm=str(lm.model),
                      run_id=run.run_id, cost=cost, data_path=data_path, compiled=compiled,
                      budget_stopped=run.budget.exhausted)


def example_result(index: int, example: dspy.Example, outcome: Outcome, module, task, kind) -> ExampleResult:
    """One example's record from the runner's outcome."""
    gold = example.get(kind.field)
    text = "\n".join(str(example.get(name, "")) for name in task.input_fields)
    if not outcome.ok:
        return ExampleResult(index, text, gold, None, 0.0, error=outcome.error, message=outcome.message)
    prediction = outcome.prediction
    predicted = prediction.get(kind.field)
    result = ExampleResult(index, text, gold, predicted, kind.example_score(gold, predicted),
                           confidence=confidence_of(module, prediction),
                           confidence_source=prediction.get("confidence_source"))
    if prediction.get("parse_error") or (predicted in (None, []) and prediction.get("unparsed")):
        result.error = "parse_failure"
        result.message = f"unparsed answer: {str(prediction.get('raw') or '')[:200]!r}"
    return result


def zero_shot_version(program):
    """``program`` (a CompiledProgram or a module) as it was before compile, as the module says."""
    return program.zero_shot_program() if isinstance(program, CompiledProgram) else zero_shot(program)
