"""Instruction proposal: a (teacher) LM drafts task instructions from the task, labels and examples.

Each draft is a candidate the optimizer scores on dev. Drafts are cleaned so that nothing of the
proposer's own prompt (its field names, its hints) reaches the program's instructions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

import dspy
from dspy.utils.exceptions import AdapterParseError

from lmprog.lm.context import module_name
from lmprog.task import Task

# One hint per draft, so the drafts differ in a useful direction rather than by sampling noise.
STYLES = (
    "Be concise: one or two sentences.",
    "Explain how to tell apart the labels that are easily confused.",
    "List the decisive cues for each label.",
    "Describe the typical input and the common mistakes to avoid.",
    "Write it as a short checklist.",
    "Focus on borderline cases.",
)

MAX_INSTRUCTION_CHARS = 1500


class ProposeInstruction(dspy.Signature):
    """Write the instructions a careful annotator needs to label inputs for this task.

    Use what the task description, the labels and the examples show. Address the annotator
    directly. Do not mention these directions, the examples' numbering or the drafting hint."""

    task_description: str = dspy.InputField()
    labels: str = dspy.InputField(desc="the label set, with descriptions where known")
    examples: str = dspy.InputField(desc="labelled inputs")
    hint: str = dspy.InputField(desc="how this draft should differ")
    instruction: str = dspy.OutputField(desc="the instructions, plain text")


# Words of the proposer's own prompt that must not leak into a program's instructions (the style
# hints too: a small model tends to copy its hint as the draft).
_LEAK_MARKERS = ("drafting hint", "this draft", "the examples' numbering", "these directions", "hint:",
                 "task_description", "[[ ##") + tuple(style.casefold().rstrip(".") for style in STYLES)


@dataclass
class Drafts:
    """The usable drafts, and why each unusable one was skipped (``{"index", "reason"}``)."""

    drafts: list[str] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)


def propose_instructions(task: Task, examples: Sequence[dspy.Example], *, lm, n: int, seed: int = 0,
                         max_examples: int = 8) -> list[str]:
    """Up to ``n`` distinct, cleaned instruction drafts (the task's own instructions are not included)."""
    return draft_instructions(task, examples, lm=lm, n=n, seed=seed, max_examples=max_examples).drafts


def draft_instructions(task: Task, examples: Sequence[dspy.Example], *, lm, n: int, seed: int = 0,
                       max_examples: int = 8) -> Drafts:
    """:func:`propose_instructions`, also saying why drafts were skipped: an answer DSPy cannot parse, an
    empty or leaking draft, or a repeat. A skipped draft costs its call (it is in the ledger) and nothing else."""
    result = Drafts()
    if n <= 0:
        return result
    proposer = dspy.Predict(ProposeInstruction)
    proposer.lm = lm
    shown = _format_examples(task, examples[:max_examples])
    # A schema-constrained answer where the LM supports one: small local models cannot follow the
    # free-form format, and each failed parse would cost a second, equally long call.
    json_answer = dspy.context(adapter=dspy.JSONAdapter()) if lm.supports_response_schema else nullcontext()
    with module_name(f"propose_instructions:{task.name}"), json_answer:
        for index in range(n):
            try:
                prediction = proposer(
                    task_description=task.instructions or f"Label each input with the {task.name} labels.",
                    labels=task.labels.describe(limit=60),
                    examples=shown,
                    hint=STYLES[index % len(STYLES)],
                    config={"temperature": 1.0, "rollout_id": seed * 1000 + index},
                )
            except AdapterParseError as error:
                result.skipped.append({"index": index, "reason": f"the teacher's answer did not parse: "
                                                                  f"{str(error.lm_response or '')[:120]!r}"})
                continue
            draft = clean_instruction(prediction.instruction or "")
            if not draft:
                result.skipped.append({"index": index, "reason": "empty, or it repeated the drafting prompt"})
            elif draft in result.drafts or draft == task.instructions.strip():
                result.skipped.append({"index": index, "reason": "the same as an earlier draft or the task's own"})
            else:
                result.drafts.append(draft)
    return result


def clean_instruction(text: str) -> str:
    """Strip labels like 'Instruction:', quotes and fences; reject drafts that leak the proposer's prompt."""
    text = text.strip().strip("`").strip()
    text = re.sub(r"^(instructions?|new instructions?)\s*:\s*", "", text, flags=re.IGNORECASE).strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    lowered = text.casefold()
    if not text or any(marker in lowered for marker in _LEAK_MARKERS):
        return ""
    return text[:MAX_INSTRUCTION_CHARS].strip()


def _format_examples(task: Task, examples: Sequence[dspy.Example]) -> str:
    lines = []
    for example in examples:
        inputs = " | ".join(str(example.get(name, "")) for name in task.input_fields)
        gold = example.get(task.output_field)
        gold = ", ".join(gold) if isinstance(gold, (list, tuple)) else gold
        lines.append(f"- {inputs} => {gold}")
    return "\n".join(lines)
