"""lmprog.audit finds labels planted wrong in small synthetic sets (single- and multi-label), with the right
suggested label and evidence, alone and with a compiled program's answers (the test server)."""

from __future__ import annotations

import io
import random

import pytest
from rich.console import Console

import lmprog
from lmprog.artifact import CompiledProgram
from lmprog.errors import DataError
from lmprog.loop import audit
from lmprog.report.audit import AuditReport
from lmprog.task import Task
from tests.loop_data import TOPICS, answering_rule, rows, task, topic_of

pytestmark = pytest.mark.server(rule=answering_rule())
NAMES = list(TOPICS)


def planted(seed: int, count: int = 8) -> tuple[list[dict], set[int]]:
    """90 labelled rows (15 per intent) with ``count`` labels changed to another intent."""
    data, rng = rows(15, seed=3 + seed), random.Random(seed)
    wrong = set(rng.sample(range(len(data)), count))
    for i in wrong:
        data[i] = dict(data[i], label=NAMES[(NAMES.index(data[i]["label"]) + 1 + rng.randrange(5)) % 6])
    return data, wrong


@pytest.mark.parametrize("seed", [0, 1])
def test_planted_label_errors_are_found_with_the_right_suggestion(seed):
    data, wrong = planted(seed)
    result = audit(task(), data, embeddings="tfidf", seed=seed)
    flagged = {f.row for f in result.flags}
    assert len(flagged & wrong) >= 5 and len(flagged & wrong) >= 0.8 * len(flagged), (flagged, wrong)
    for flag in result.flags:
        if flag.row in wrong:
            assert flag.suggested == topic_of(data[flag.row]["text"]) != flag.given
        assert flag.given == data[flag.row]["label"] and 0 <= flag.quality <= 1
        assert flag.evidence and flag.evidence[0].startswith("TF-IDF classifier (out of fold): ")
    assert [f.quality for f in result.flags] == sorted(f.quality for f in result.flags)
    assert result.views["TF-IDF classifier (out of fold)"] > 0.5  # the label names say little here
    assert result.examples == 90 and result.classes == 6 and result.classifier_agreement > 0.8


def test_a_clean_set_has_few_flags():
    result = audit(task(), rows(15, seed=9), embeddings="tfidf")
    assert len(result.flags) <= 2


def test_multi_label_errors_use_cleanlab_multi_label():
    tasked = Task(inputs=["text"], labels=NAMES, multi_label=True, name="multi")
    base, rng = rows(20, seed=0), random.Random(0)
    data = [{"text": f"{a['text']} and also {b['text']}", "labels": sorted({a["label"], b["label"]})}
            for a, b in zip(base[::2], base[1::2])]
    wrong = set(rng.sample(range(len(data)), 5))
    for i in wrong:  # a label left out
        data[i] = dict(data[i], labels=data[i]["labels"][:1] if len(data[i]["labels"]) > 1 else [NAMES[0]])
    result = audit(tasked, data, embeddings="tfidf")
    flagged = {f.row for f in result.flags}
    assert flagged and flagged <= wrong, (flagged, wrong)
    for flag in result.flags:
        assert set(flag.given) < set(flag.suggested) or set(flag.given) != set(flag.suggested)
        assert "also " in flag.evidence[0] or "not " in flag.evidence[0]
    assert result.multi_label and set(result.views) == {"TF-IDF classifier (out of fold)",
                                                        "embedding classifier (out of fold)"}


def test_the_program_s_answers_join_the_evidence(module_server, lm_for, tmp_path):
    data, wrong = planted(2)
    compiled = CompiledProgram(program=lmprog.Classify(task()), task=task(), lm={"model": "openai/test-model"})
    lm = lm_for(module_server, ledger=tmp_path / "ledger.db", api_key="sk-test")
    result = audit(task(), data, compiled=compiled, lm=lm, embeddings="tfidf", threads=4)
    assert result.views["compiled program"] > 0.2 and result.spent["calls"] == len(data)
    flagged = {f.row for f in result.flags}
    assert flagged <= wrong and len(flagged) >= len(wrong) - 1, (flagged, wrong)
    for flag in result.flags:
        assert flag.program_answer == flag.suggested and flag.program_confidence == pytest.approx(0.99, abs=0.01)
        assert any(line.startswith("compiled program: ") for line in flag.evidence)
    assert result.program_agreement == pytest.approx(1 - len(wrong) / len(data))


def test_the_report_renders_on_the_terminal_as_html_and_json(tmp_path):
    data, wrong = planted(0)
    result = audit(task(), data, embeddings="tfidf")
    report = AuditReport.from_audit(result, task(), data="train.jsonl", text_of=lambda inputs: inputs["text"], top=3)
    console = Console(file=io.StringIO(), width=100, color_system=None)
    console.print(report)
    text = console.file.getvalue()
    assert f"{len(result.flags)} of 90 labels look wrong" in text and "more: --json or --report" in text
    page = report.write_html(tmp_path / "audit.html").read_text()
    assert 'id="table-flags"' in page and "<script" not in page and page.count("<tr>") >= len(result.flags) + 1
    assert AuditReport.from_dict(report.to_dict()).to_dict() == report.to_dict()
    queue = result.queue_rows(task())
    assert [q["row"] for q in queue] == [f.row for f in result.flags]
    assert all(q["queue"] == "audit" and q["label"] == f.given and q["suggested"] == f.suggested and q["evidence"]
               for q, f in zip(queue, result.flags))


def test_too_little_data_is_a_one_sentence_error():
    with pytest.raises(DataError, match="at least 8 labelled rows"):
        audit(task(), rows(1), embeddings="tfidf")
    with pytest.raises(DataError, match="at least two different labels"):
        audit(task(), [{"text": f"card arrive {i}", "label": "card_arrival"} for i in range(10)], embeddings="tfidf")
