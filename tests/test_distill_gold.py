"""Distillation learns from the user's labels too (issue 14): the labelled examples a program was compiled from
are training rows beside the pseudo-labels, and a user's label wins over the program's answer."""

from __future__ import annotations

import lmprog
from lmprog.modules.label_classifier import LabelClassifier
from tests.test_compile import TASK, examples


def test_distill_trains_on_the_compile_labels_as_well(server, lm_for):
    labelled = examples(24)
    compiled = lmprog.CompiledProgram(program=LabelClassifier(TASK, labelled), task=TASK,
                                      lm={"model": "openai/test-model"}, examples=labelled)
    pool = [{"text": f"another note {i} about my {cue}"} for i, cue in enumerate(["bill", "card", "refund",
                                                                                  "transfer"] * 10)]
    pool += [{"text": labelled[0].text}]  # a text the user labelled: the user's label is used for it
    distilled = lmprog.distill(compiled, pool, lm=lm_for(server))
    assert distilled.training["gold_labels"] == 24 and distilled.metrics["gold_labels"] == 24
    assert any("labelled examples the program was compiled from" in note for note in distilled.training["notes"])
    assert distilled.predict(["my card is stuck"]) == ["card"]
    assert server.request_count == 0  # the classifier program answered every pseudo-label without an LM
