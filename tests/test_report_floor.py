"""The supervised floor and paired comparisons in every report: evaluate (floor trained on the artifact's
examples, scored on the same data), compile (floor out of fold, the artifact's intervals and why), the compile
summary, and distill (program vs classifier vs cascade vs floor on gold)."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import numpy as np
import pytest

import lmprog
from lmprog import outputs
from lmprog.artifact import CompiledProgram
from lmprog.evaluation.distilled import FLOOR, distill_scores
from lmprog.evaluation.floor import floor_on, floor_out_of_fold
from lmprog.jobs.reports import compile_report
from lmprog.report import CompileSummary, DistillReport, EvaluationReport
from lmprog.testing import answer_fields
from tests.test_report import ALLOWED, EXTERNAL, SCRIPT, html_escaped
from tests.test_report_intervals import TASK, evaluation
from tests.test_report_objects import rendered

CUES = {"bill": "billing", "card": "card", "refund": "refund", "transfer": "transfer"}


def labelled(n: int, start: int = 0) -> list[dict]:
    cues = list(CUES)
    return [{"text": f"question {i} about my {cues[i % 4]}", "label": CUES[cues[i % 4]]} for i in range(start, start + n)]


def compiled(examples: list[dict] | None = None, **more) -> CompiledProgram:
    return CompiledProgram(program=lmprog.Classify(TASK), task=TASK, lm={"model": "openai/test-model"},
                           examples=labelled(40) if examples is None else examples, **more)


def flat(text: str) -> str:
    return " ".join(text.split())


def always_billing(gold: list) -> object:
    return evaluation(gold, ["billing"] * len(gold), compiled=compiled())


def test_the_floor_is_trained_on_the_artifacts_examples_and_scored_on_the_evaluated_ones():
    test = labelled(40, start=100)
    program = evaluation([r["label"] for r in test], ["billing"] * 40, compiled=compiled())
    for result, row in zip(program.results, test):
        result.text = row["text"]
    floor = floor_on(program.compiled, program)
    assert floor.trained_on == 40 and "40 labelled examples" in floor.training and floor.unknown is None
    assert [r.text for r in floor.evaluation.results] == [r.text for r in program.results]
    assert floor.evaluation.score >= 0.9  # the cue words alone give the label
    data = program.report(floor=floor)["floor"]
    assert data["score"]["n"] == 40 and data["paired"]["examples"] == 40
    assert data["paired"]["difference"]["verdict"] == "worse" and data["paired"]["program"]["value"] == 0.25
    report = EvaluationReport.from_dict(program.report(floor=floor))
    text = flat(rendered(report))
    assert "Supervised floor" in text
    assert re.search(r"the labels alone do better than the program: TF-IDF \+ logistic regression scores "
                     r"\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\] n=40 against the program's 0\.250 \[0\.\d{3}, 0\.\d{3}\] n=40 "
                     r"on the same 40 examples \(program − floor -\d+\.\d points \[-\d+\.\d, -\d+\.\d\]: worse\)", text)
    page = report.to_html()
    assert 'id="floor"' in page and 'class="verdict down"' in page and "the labels alone do better" in page


def test_an_artifact_without_its_examples_says_the_floor_is_unknown():
    program = evaluation(["card", "refund"] * 10, ["card"] * 20, compiled=compiled(examples=[]))
    data = program.report(floor=floor_on(program.compiled, program))["floor"]
    assert data["unknown"].startswith("unknown: the artifact does not carry the labelled examples")
    assert "score" not in data and "paired" not in data
    assert "compile again to see the floor" in flat(rendered(EvaluationReport.from_dict(program.report(
        floor=floor_on(program.compiled, program)))))


def test_a_program_above_the_floor_is_said_to_do_better():
    test = labelled(40, start=100)
    gold = [r["label"] for r in test]
    program = evaluation(gold, gold, compiled=compiled(examples=labelled(8)))
    for result, row in zip(program.results, test):
        result.text = "no cue here " + str(result.index)  # the floor cannot read the label
    data = program.report(floor=floor_on(program.compiled, program))
    assert data["floor"]["paired"]["difference"]["verdict"] == "better"
    assert "the program does better than the labels alone" in flat(rendered(EvaluationReport.from_dict(data)))


def why(chosen: str = "demos-1") -> dict:
    return {"chosen": chosen, "best": "demos-1", "runner_up": "demos-0", "examples": 40,
            "vs_zero_shot": {"value": 0.3, "low": 0.15, "high": 0.45, "n": 40, "verdict": "better"},
            "vs_runner_up": {"value": 0.05, "low": -0.05, "high": 0.15, "n": 40, "verdict": "no detectable difference"},
            "reason": "demos-1 beat zero-shot by +30.0 points [+15.0, +45.0] (better) on 40 examples scored out of fold"}


def candidates(scores: bool = True) -> list[dict]:
    def interval(value, low, high):
        return {"value": value, "low": low, "high": high, "n": 40, "method": "bootstrap"}

    rows = [{"id": "zero-shot", "dev_score": 0.25, "stage": "predict", "interval": interval(0.25, 0.13, 0.4)},
            {"id": "demos-0", "dev_score": 0.5, "stage": "predict", "interval": interval(0.5, 0.35, 0.65),
             "vs_baseline": {"value": 0.25, "low": 0.1, "high": 0.4, "n": 40, "verdict": "better"}},
            {"id": "demos-1", "dev_score": 0.55, "stage": "predict", "interval": interval(0.55, 0.4, 0.7),
             "vs_baseline": {"value": 0.3, "low": 0.15, "high": 0.45, "n": 40, "verdict": "better"}}]
    if scores:
        rows[2]["example_scores"] = [1.0 if i % 4 in (1, 2) else (1.0 if i % 8 == 0 else 0.0) for i in range(40)]
    return rows


def test_the_compile_report_shows_the_artifacts_intervals_why_and_the_floor_out_of_fold():
    program = compiled(candidates=candidates(), dev_score=0.55, optimizer={"seed": 0, "folds": 5, "examples": 40,
                                                                           "why": why()})
    report = compile_report(program, artifact="compiled.json")
    data = report.to_dict()
    assert data["headline"]["value"] == {"value": 0.55, "low": 0.4, "high": 0.7, "n": 40}
    assert data["headline"]["before"] == {"value": 0.25, "low": 0.13, "high": 0.4, "n": 40}
    assert data["headline"]["difference"]["verdict"] == "better" and data["data"]["examples"] == 40
    floor = data["floor"]
    assert floor["training"] == "cross-validated (5 folds) on the compile's 40 labelled examples"
    assert floor["metric"] == "dev score" and floor["score"]["n"] == 40 and floor["paired"]["examples"] == 40
    assert floor["paired"]["program"]["value"] == pytest.approx(0.625)
    text = flat(rendered(report, width=120))
    assert ("zero-shot, out of fold 0.250 [0.130, 0.400] n=40 → compiled, out of fold 0.550 [0.400, 0.700] n=40 "
            "(+30.0 points [+15.0, +45.0]: better)") in text
    assert "kept demos-1: demos-1 beat zero-shot" in text
    assert "demos-1 vs the runner-up demos-0: +5.0 points [-5.0, +15.0]: no detectable difference (paired, n=40)" in text
    table = rendered(report, width=120).split("Optimizer candidates")[1]
    assert re.search(r"demos-1\s+predict\s+0\.550 \[0\.40, 0\.70\]\s+\+30\.0 \[\+15\.0, \+45\.0\]\s+★ chosen\n"
                     r"\s+n=40\s+better", table)
    assert "vs baseline (points)" in table and max(len(line) for line in rendered(report).splitlines()) <= 80
    assert "the labels alone do better than the program" in text or "no detectable difference between" in text
    assert EvaluationReport.from_dict(data).to_dict() == data
    page = report.to_html()
    assert "vs baseline (paired)" in page and "kept demos-1" in page and 'id="floor"' in page


def test_without_per_example_scores_the_compile_report_does_not_pair_the_floor():
    program = compiled(candidates=candidates(scores=False), dev_score=0.55, optimizer={"seed": 0, "why": why()})
    floor = compile_report(program).to_dict()["floor"]
    assert "paired" not in floor and floor["score"]["n"] == 40
    assert floor["program"] == {"value": 0.55, "low": 0.4, "high": 0.7, "n": 40}
    assert re.search(r"the program scores below the labels alone: TF-IDF \+ logistic regression scores 1\.000 .* "
                     r"against the program's 0\.550 \[0\.400, 0\.700\] n=40 \(not paired: the artifact does not "
                     r"record the program's out-of-fold score on each example\)", flat(rendered(compile_report(program))))


def test_an_old_artifacts_dev_scores_get_wilsons_interval_and_are_not_paired():
    from lmprog.intervals import proportion_interval

    old = [{"id": "zero-shot", "dev_score": 0.25}, {"id": "demos-0", "dev_score": 0.75, "stage": "demos"}]
    report = compile_report(compiled(examples=[], candidates=old, dev_score=0.75, optimizer={"dev": 12}))
    data = report.to_dict()
    wilson = proportion_interval(9, 12)
    assert data["headline"]["value"] == {"value": 0.75, "low": wilson.low, "high": wilson.high, "n": 12}
    assert data["headline"]["before"]["value"] == 0.25 and data["candidates"][1]["interval"]["method"] == "wilson"
    assert "difference" not in data["headline"] and data["floor"]["unknown"].startswith("unknown")
    text = flat(rendered(report))
    assert "(+50.0 points)" in text and "the change is not a paired comparison" in text
    assert "small sample: n=12" in text
    shares = [{"id": "zero-shot", "dev_score": 0.3}, {"id": "demos-0", "dev_score": 0.71}]  # not a count of 12
    plain = compile_report(compiled(examples=[], candidates=shares, dev_score=0.71, optimizer={"dev": 12}))
    assert plain.to_dict()["headline"]["value"] == 0.71


def test_the_compile_summary_prints_the_paired_difference_the_artifact_records():
    program = compiled(candidates=candidates(), dev_score=0.55, optimizer={"seed": 0, "why": why()})
    program.spent = {"calls": 42, "usd": 0.0, "unpriced_calls": 0, "hits": 3, "tokens": 12345}
    summary = CompileSummary.from_compiled(program, "compiled.json")
    lines = rendered(summary, width=160).splitlines()
    assert lines[0] == ("dev score 0.550 [0.400, 0.700] n=40 (zero-shot 0.250 [0.130, 0.400] n=40, +30.0 points "
                        "[+15.0, +45.0]: better) over 3 candidates")
    assert lines[1].startswith("why: demos-1 beat zero-shot")
    data = summary.to_dict()
    assert data["selection"]["chosen"] == "demos-1" and CompileSummary.from_dict(data).to_dict() == data
    zero_kept = compiled(candidates=candidates(), dev_score=0.25, optimizer={"why": why(chosen="zero-shot")})
    zero_kept.spent = program.spent
    kept = CompileSummary.from_compiled(zero_kept, "c.json")
    assert ("(zero-shot kept; the best candidate demos-1 vs zero-shot: +30.0 points [+15.0, +45.0]: better)"
            in rendered(kept, width=160))


class FakeDistilled:
    """What distill_scores reads of a Distilled: it answers 'card' with high confidence for 'card' texts and
    'billing' with low confidence otherwise."""

    def __init__(self):
        self.task, self.output = TASK, outputs.LABEL
        self.metrics = {"agreement_gold": 0.5, "agreement_cv": 0.9, "pseudo_labels": 100}

    def predict_proba(self, texts):
        return np.array([[0.0, 0.9, 0.05, 0.05] if "card" in t else [0.4, 0.2, 0.2, 0.2] for t in texts])

    def answers(self, proba):
        return [TASK.labels.names[int(j)] for j in proba.argmax(axis=1)]

    def confidence(self, proba):
        return proba.max(axis=1)


def test_distill_scores_pair_every_row_with_the_program_on_gold():
    test = labelled(40, start=100)
    program = evaluation([r["label"] for r in test], [r["label"] for r in test], compiled=compiled())
    for result, row in zip(program.results, test):
        result.text = row["text"]
    data = distill_scores(compiled(), FakeDistilled(), program, threshold=0.5)
    assert set(data["scores"]) == {"program", "classifier", "cascade", FLOOR}
    assert data["scores"]["program"]["value"] == 1.0 and data["scores"]["classifier"]["value"] == 0.5
    assert data["scores"]["cascade"]["value"] == 1.0  # unsure answers go to the program
    verdicts = {d["b"]: d["verdict"] for d in data["differences"]}
    assert verdicts["classifier"] == "worse" and verdicts["cascade"] == "no detectable difference"
    assert data["agreement"]["classifier"]["n"] == 40 and data["floor"]["paired"]["examples"] == 40
    report = DistillReport.from_distilled(distilled_namespace(), model_path="model.skops", paired=data)
    rows = [row.name for row in report.comparison]
    assert rows[0] == "program" and rows[-1] == FLOOR and report.floor.paired.examples == 40
    text = rendered(report)
    assert max(len(line) for line in text.splitlines()) <= 80 and "score [95%]" in text
    assert re.search(r"classifier\s+0\.500 \[0\.\d\d, 0\.\d\d\]", text)
    assert "classifier vs program: -50.0 points [" in flat(text) and "Supervised floor" in text
    page = report.to_html()
    assert '<table id="table-differences">' in page and 'id="floor"' in page
    assert not EXTERNAL.search(page.replace(ALLOWED, "")) and SCRIPT not in page and html_escaped(SCRIPT) in page
    assert DistillReport.from_dict(report.to_dict()).to_dict() == report.to_dict()
    assert json.loads(report.to_json())["differences"][0]["b"] == "classifier"


def distilled_namespace():
    from tests.test_report_distill import distilled

    return distilled()


def test_without_gold_the_floor_is_cross_validated_and_agreement_gets_wilsons_interval():
    data = distill_scores(compiled(), FakeDistilled(), None, threshold=None)
    assert data["scores"]["classifier"]["n"] == 100 and data["scores"]["classifier"]["low"] < 0.9
    assert data["floor"]["training"].startswith("cross-validated") and data["scores"][FLOOR]["n"] == 40
    unknown = distill_scores(compiled(examples=[]), FakeDistilled(), None, threshold=None)
    assert FLOOR not in unknown["scores"] and unknown["floor"]["unknown"].startswith("unknown")


def test_the_out_of_fold_floor_answers_every_labelled_example_once():
    floor = floor_out_of_fold(compiled())
    assert len(floor.evaluation.results) == 40 and floor.evaluation.score >= 0.9
    assert floor.evaluation.output is outputs.LABEL


def test_a_ranking_programs_floor_ranks_labels_by_probability():
    from lmprog.evaluation import Evaluation, ExampleResult
    from lmprog.task import Task

    task = Task(inputs={"text": "a sentence"}, labels=["python", "sql", "java", "excel"], multi_label=True,
                name="skills", metric="rp@10")
    rows = [{"text": f"uses {a} and {b} daily", "labels": [a, b]} for a, b in
            [("python", "sql"), ("java", "excel"), ("python", "excel"), ("sql", "java")] * 6]
    artifact = CompiledProgram(program=lmprog.MultiLabelClassify(task), task=task, examples=rows[:16])
    results = [ExampleResult(i, row["text"], row["labels"], [], 0.0) for i, row in enumerate(rows[16:])]
    program = Evaluation(task=task, results=results, program="InferRetrieveRank", output=outputs.RANKING,
                         compiled=artifact)
    floor = floor_on(artifact, program)
    assert floor.evaluation.output is outputs.RANKING and floor.evaluation.headline_metric == "rp@10"
    assert all(len(r.predicted) == 4 for r in floor.evaluation.results)  # every label it knows, best first
    data = program.report(floor=floor)
    assert data["floor"]["metric"] == "rp@10" and data["floor"]["paired"]["difference"]["verdict"] == "worse"


def test_the_evaluate_job_reports_floor_and_paired_baseline(server, tmp_path, monkeypatch):
    from lmprog.jobs import evaluate_file

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-floor")
    server.rule = lambda body: answer_fields(label="billing")
    artifact = compiled().save(tmp_path / "compiled.json")
    data = tmp_path / "test.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in labelled(24, start=200)))
    report = evaluate_file(artifact, data, api_base=server.api_base, ledger=tmp_path / "ledger.db", baseline=True,
                           report=tmp_path / "r.html", threads=2)
    out = report.to_dict()
    assert "selection" not in out  # the artifact records no why
    assert out["headline"]["difference"]["verdict"] == "no detectable difference"
    assert out["floor"]["paired"]["difference"]["verdict"] == "worse"
    text = flat(rendered(report))
    assert "small sample: n=24" in text and "the labels alone do better than the program" in text
    assert 'id="floor"' in (tmp_path / "r.html").read_text(encoding="utf-8")
