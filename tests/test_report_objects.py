"""Typed reports: made from report data and back without loss, rendered by rich, as HTML and as JSON."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys

import pytest
from rich.console import Console

from lmprog.errors import ConfigurationError
from lmprog.report import EvaluationReport, Score, render_terminal, to_html, to_json
from lmprog.report.sections import Candidate
from tests.test_report import (ALLOWED, EXTERNAL, SCRIPT, extreme_multi_label_report, html_escaped, parsed_tags,
                               single_label_report)


def rendered(renderable, width: int = 80) -> str:
    """What ``console.print(renderable)`` shows on a plain 80-column terminal."""
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(renderable)
    return console.file.getvalue()


def library_shaped_report() -> dict:
    """Report data as Evaluation.report and ledger_cost build it: keys the renderers do not use included."""
    data = single_label_report()
    data["kind"] = "evaluation"
    data["confusion_matrix"]["columns"] = data["confusion_matrix"]["labels"] + ["(no answer)"]
    data["confusion_matrix"]["matrix"] = [row + [0] for row in data["confusion_matrix"]["matrix"]]
    data["cost"] |= {"failed_attempts": 2, "attempt_errors": {"timeout": 2}}
    for row in data["cost"]["by_module"]:
        row["name"] = row["module"]
    data["budget"] = {"max_calls": None, "max_usd": None, "stopped_early": False}
    data["metrics"]["dev score, compiled (compile)"] = 0.9
    return data


REPORTS = {
    "compile": single_label_report,
    "extreme": extreme_multi_label_report,
    "library": library_shaped_report,
    "empty": dict,
    "compile without a ledger": lambda: {**single_label_report(), "cost": {}, "calibration": None},
    "unknown keys": lambda: {**single_label_report(), "added_later": {"x": [1, 2]}, "per_label": [
        {"label": "a", "precision": 1.0, "recall": 0.5, "f1": 0.667, "support": 2, "ci": [0.1, 0.9]}]},
}


@pytest.mark.parametrize("name", REPORTS)
def test_from_dict_to_dict_gives_the_data_back(name):
    data = REPORTS[name]()
    report = EvaluationReport.from_dict(data)
    assert report.to_dict() == data
    assert json.loads(report.to_json()) == json.loads(to_json(data))
    assert report.to_json() == to_json(data)


def test_the_report_holds_copies():
    data = single_label_report()
    report = EvaluationReport.from_dict(data)
    data["per_label"][0]["label"] = "changed"
    out = report.to_dict()
    out["confusion_matrix"]["matrix"][0][0] = -1
    assert report.per_label[0].label == "card_lost" and report.confusion_matrix.matrix[0][0] == 18


def test_sections_are_typed():
    report = EvaluationReport.from_dict(library_shaped_report())
    assert report.kind == "evaluation" and report.task.name == "banking77" and report.task.labels == 5
    assert report.program.class_name == "Classify" and report.data.examples == 100
    assert report.headline.value == Score(0.86) and report.headline.before == Score(0.61)
    assert report.metrics["accuracy"] == Score(0.86)
    assert report.per_label[1].label == "refund" and report.per_label[1].support == 20
    assert report.confusions[2].predicted is None
    assert report.calibration.source == "logprobs" and report.calibration.bins[9].count == 40
    assert report.cost.by_module[1].module is None and report.cost.by_module[1].extra == {"name": None}
    assert report.cost.attempt_errors == {"timeout": 2}
    assert report.failures[1].error == "parse_failure"
    assert report.candidates[1] == Candidate(id="demos-0", dev_score=Score(0.74), stage="demos")
    assert report.budget.stopped_early is False and report.budget.note() is None


def test_console_print_renders_every_section_in_80_columns():
    report = EvaluationReport.from_dict(single_label_report())
    text = rendered(report)
    assert text.startswith("Compile report: banking77 · Classify · local/smollm2 ─")
    for heading in ["Per label", "Top confusions (gold → predicted)", "Calibration", "Cost", "Errors",
                    "Failed examples", "Optimizer candidates"]:
        assert f"\n{heading}\n" in text, heading
    assert "zero-shot (dev) 0.610 → compiled (test) 0.860  (+25.0 points)" in text
    assert "[bold]not markup[/bold]" in text and "yesterday <script>" in text  # text, not markup
    assert max(len(line) for line in text.splitlines()) <= 80
    console = Console(file=io.StringIO(), width=80, color_system=None)
    render_terminal(single_label_report(), console)
    assert console.file.getvalue() == text  # the module function is the object, printed


def test_an_evaluation_report_says_so_and_leaves_out_what_it_lacks():
    text = rendered(EvaluationReport.from_dict(extreme_multi_label_report()))
    assert text.startswith("Evaluation report: esco")
    assert "rp@10: 0.412" in text and "no confidence available" in text and "no errors" in text
    assert "Optimizer candidates" not in text and "confusions" not in text.lower()


def test_an_empty_report_renders():
    report = EvaluationReport.from_dict({})
    assert "score: —" in rendered(report) and "no errors" in rendered(report)
    assert "<h1></h1>" in report.to_html() and "<title>lmprog report</title>" in report.to_html()


def test_top_is_a_render_option_not_data():
    report = EvaluationReport.from_dict(extreme_multi_label_report(), top=3)
    assert "showing the 3 best and 3 worst" in " ".join(rendered(report).split())
    assert len(re.findall(r"<tr data-label=", report.to_html())) == 6
    assert report.to_dict() == extreme_multi_label_report()
    with pytest.raises(ValueError, match="top must be a positive integer"):
        EvaluationReport.from_dict(extreme_multi_label_report(), top=0)


def test_to_html_is_self_contained_and_escapes_every_text():
    data = single_label_report()
    data["title"] = f"evil {SCRIPT}"
    data["program"]["class"] = "<b>Classify</b>"
    data["failures"][0]["error"] = SCRIPT
    data["cost"]["by_module"][0]["module"] = "<i>classify</i>"
    page = EvaluationReport.from_dict(data).to_html()
    assert page == to_html(data)
    assert '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'; ' \
           'img-src data:">' in page
    assert not EXTERNAL.search(page.replace(ALLOWED, ""))
    tags = parsed_tags(page)
    assert not {tag for tag, _ in tags} & {"script", "link", "img", "iframe", "object", "embed", "base"}
    assert not [name for _, attrs in tags for name, _ in attrs if name.startswith("on")]
    assert SCRIPT not in page and "<b>Classify" not in page and "<i>classify" not in page
    assert html_escaped("<b>Classify</b>") in page and html_escaped("<i>classify</i>") in page


def test_write_html_writes_the_page_and_refuses_a_missing_directory(tmp_path):
    report = EvaluationReport.from_dict(single_label_report())
    assert report.write_html(tmp_path / "r.html").read_text(encoding="utf-8") == report.to_html()
    with pytest.raises(ConfigurationError, match="cannot write the report to .*missing.*r.html"):
        report.write_html(tmp_path / "missing" / "r.html")


def test_score_text_and_data():
    assert Score(0.74).text() == "0.740" and str(Score(0.74)) == "0.740"
    with_interval = Score(0.74, 0.65, 0.82, 100)
    assert with_interval.text() == "0.740 [0.650, 0.820] n=100" and with_interval.has_interval
    assert Score.dump(Score(0.74)) == 0.74 and Score.dump(None) is None
    assert Score.dump(with_interval) == {"value": 0.74, "low": 0.65, "high": 0.82, "n": 100}
    for data in [0.74, 1, None, {"value": 0.74, "low": 0.65, "high": 0.82, "n": 100}]:
        assert Score.dump(Score.load(data)) == data


def test_a_score_with_an_interval_is_shown_with_it_everywhere():
    data = single_label_report()
    data["headline"]["value"] = {"value": 0.86, "low": 0.8, "high": 0.91, "n": 100}
    data["metrics"]["macro_f1"] = {"value": 0.8596, "low": 0.79, "high": 0.92, "n": 100}
    data["candidates"][2]["dev_score"] = {"value": 0.79, "low": 0.7, "high": 0.86, "n": 40}
    report = EvaluationReport.from_dict(data)
    assert report.to_dict() == data
    text = rendered(report, width=120)
    assert "compiled (test) 0.860 [0.800, 0.910] n=100  (+25.0 points)" in text
    assert "macro_f1 0.860 [0.790, 0.920] n=100" in text
    assert re.search(r"demos-1\s+demos\s+0\.790 \[0\.700, 0\.860\] n=40\s+★ best", text)
    page = report.to_html()
    assert "0.860 [0.800, 0.910] n=100" in page and 'id="plot-candidates"' in page


def test_importing_the_package_imports_neither_matplotlib_nor_dspy():
    code = "import sys, lmprog.report; print(sorted({m.split('.')[0] for m in sys.modules} & {'matplotlib', 'dspy'}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_on_a_narrow_terminal_text_columns_shrink_first():
    text = rendered(EvaluationReport.from_dict(single_label_report()))
    failures = text.split("Failed examples")[1].split("Optimizer candidates")[0]
    assert "(no answer) [parse_failure]" in failures  # the error kind is not cut off
    assert re.search(r"I lost my card .*…\s+card_lost\s+refund", failures)
