"""Instruction proposal: distinct drafts, cleaned, nothing of the proposer's prompt leaks."""

from __future__ import annotations

import itertools

import dspy
import pytest

from lmprog.optimize.instructions import clean_instruction, propose_instructions
from lmprog.task import Task
from lmprog.testing import TestLMServer, answer_fields

TASK = Task(inputs={"text": "the SMS"}, labels=["ham", "spam"], instructions="Is the SMS spam?", name="sms")
EXAMPLES = [dspy.Example(text="WIN cash now", label="spam").with_inputs("text"),
            dspy.Example(text="see you at 6", label="ham").with_inputs("text")]


def test_drafts_are_distinct_cleaned_and_recorded(lm_for):
    drafts = itertools.cycle([
        "Instruction: Mark prize, cash and premium-rate offers as spam; everything personal is ham.",
        '"Label unsolicited advertising as spam, ordinary messages as ham."',
        "Mark prize, cash and premium-rate offers as spam; everything personal is ham.",  # a repeat
        "Following the drafting hint, label the SMS.",  # leaks the proposer's prompt
    ])
    with TestLMServer(rule=lambda body: answer_fields(instruction=next(drafts))) as server:
        lm = lm_for(server)
        proposals = propose_instructions(TASK, EXAMPLES, lm=lm, n=4, seed=0)
        prompt = server.requests[0]["messages"][-1]["content"]
    assert proposals == ["Mark prize, cash and premium-rate offers as spam; everything personal is ham.",
                         "Label unsolicited advertising as spam, ordinary messages as ham."]
    assert "WIN cash now => spam" in prompt and "- ham" in prompt
    assert server.request_count == 4
    bodies = [b["temperature"] for b in server.requests]
    assert bodies == [1.0] * 4
    assert lm.ledger.stats()["by_module"][0]["name"] == "propose_instructions:sms"


def test_same_seed_is_answered_from_the_ledger(lm_for):
    with TestLMServer(rule=lambda body: answer_fields(instruction=f"Draft {len(body['messages'][-1]['content'])}")) as server:
        lm = lm_for(server)
        first = propose_instructions(TASK, EXAMPLES, lm=lm, n=3, seed=5)
        again = propose_instructions(TASK, EXAMPLES, lm=lm, n=3, seed=5)
        assert server.request_count == 3
        propose_instructions(TASK, EXAMPLES, lm=lm, n=3, seed=6)
        assert server.request_count == 6  # another seed: other rollouts, new calls
    assert first == again


@pytest.mark.parametrize("raw, cleaned", [
    ("```Label spam.```", "Label spam."),
    ("Instructions: Label spam.", "Label spam."),
    ("'Label spam.'", "Label spam."),
    ("Use the hint: be brief", ""),
    ("[[ ## instruction ## ]] label", ""),
    ("", ""),
])
def test_clean_instruction(raw, cleaned):
    assert clean_instruction(raw) == cleaned


def test_a_draft_that_copies_its_style_hint_is_rejected():
    from lmprog.optimize.instructions import STYLES

    assert clean_instruction(STYLES[0] + " One or two words.") == ""
    assert clean_instruction("Label spam when the message sells something.") == "Label spam when the message sells something."
