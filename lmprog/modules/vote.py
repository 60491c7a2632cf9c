"""A vote of several programs: the majority answer, and the share that agrees with it as the confidence.

The compile builds one from its best candidates when their agreement scores better than any of them; it
costs one call per member per input. Members are label modules saved by their own ``params()``.
"""

from __future__ import annotations

from collections import Counter

import dspy

from lmprog import outputs
from lmprog.errors import ConfigurationError, ParameterError
from lmprog.modules.protocol import LabelModuleBase, builtin_subclass, check_params, params_of, zero_shot

CONFIDENCE_SOURCE = "vote"


def majority(answers: list, multi: bool) -> tuple[object, float | None]:
    """The majority answer of ``answers`` (a label each, or a label list each) and the share agreeing with it.
    Single-label ties go to the earliest member's answer; a label set keeps labels at least half the members give."""
    if not answers:
        return ([] if multi else None), None
    if multi:
        counts = Counter(label for answer in answers for label in set(answer or []))
        chosen = sorted((label for label, n in counts.items() if 2 * n >= len(answers)), key=str)
        agree = sum(set(answer or []) == set(chosen) for answer in answers) / len(answers)
        return chosen, agree
    counts = Counter(answer for answer in answers if answer is not None)
    if not counts:
        return None, 0.0
    best = max(counts.values())
    chosen = next(answer for answer in answers if answer is not None and counts[answer] == best)
    return chosen, best / len(answers)


class Vote(LabelModuleBase):
    """The majority of ``members`` (label modules of one task, each answering a label or a label set)."""

    def __init__(self, task, members: list):
        super().__init__()
        if not members:
            raise ConfigurationError("a vote needs at least one member")
        kinds = {outputs.of(member).name for member in members}
        if len(kinds) != 1 or outputs.of(members[0]).ranked:
            raise ConfigurationError(f"a vote's members must all answer labels or label sets, not {sorted(kinds)}")
        self.task, self.members = task, list(members)
        self.output = outputs.of(members[0])

    def params(self, *, base=None, references=None) -> dict:
        return {"members": [{"class": type(member).__name__, "params": params_of(member, base=base,
                                                                                  references=references)}
                            for member in self.members]}

    @classmethod
    def from_params(cls, task, params, *, base=None) -> Vote:
        check_params(params, {"members": list})
        members = []
        for index, member in enumerate(params["members"]):
            check_params(member, {"class": str, "params": dict}, prefix=f"members[{index}].")
            found = builtin_subclass(member["class"]) if member["class"] != cls.__name__ else None
            if found is None:
                raise ParameterError(f"members[{index}].class", "one of lmprog's label modules", member["class"])
            members.append(found.from_params(task, member["params"], base=base))
        return cls(task, members)

    def compile_phases(self):
        return []  # its members were compiled already

    def zero_shot(self) -> Vote:
        return Vote(self.task, [zero_shot(member) for member in self.members])

    def forward(self, **inputs) -> dspy.Prediction:
        field = self.output.field
        answers = [member(**inputs).get(field) for member in self.members]
        answer, agreement = majority(answers, self.output.multi)
        return dspy.Prediction(**{field: answer}, votes=answers, confidence=agreement,
                               confidence_source=CONFIDENCE_SOURCE)
