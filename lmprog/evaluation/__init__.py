"""Running programs on data: :func:`evaluate` (labelled examples -> an :class:`Evaluation`) and streaming
prediction of files (:func:`predict_file`)."""

from lmprog.evaluation.cost import ledger_cost, run_cost
from lmprog.evaluation.evaluate import evaluate, example_result, zero_shot_version
from lmprog.evaluation.predict import PredictSummary, answer_file, predict_file
from lmprog.evaluation.results import Evaluation, ExampleResult

__all__ = ["Evaluation", "ExampleResult", "PredictSummary", "answer_file", "evaluate", "example_result",
           "ledger_cost", "predict_file", "run_cost", "zero_shot_version"]
