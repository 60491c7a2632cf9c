"""The distillation report: built from a Distilled, rendered by rich, as HTML and as JSON."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest

from lmprog.report import DistillReport, Score
from tests.test_report import ALLOWED, EXTERNAL, SCRIPT, html_escaped, parsed_tags
from tests.test_report_objects import rendered


def curve(points: int = 51) -> list[dict]:
    """Score rising from 0.80 (no input to the LM) to 0.95 (every input to the LM)."""
    return [{"threshold": round(1 - i / (points - 1), 4), "lm_fraction": i / (points - 1),
             "score": round(0.80 + 0.15 * (i / (points - 1)) ** 0.5, 4)} for i in range(points)]


def distilled(*, gold: bool = True, name: str = "sms_spam", program_class: str = "Classify"):
    """What DistillReport reads of a Distilled: task, program, training, metrics, cascade, throughput."""
    metrics = {"agreement_cv": 0.93, "pseudo_labels": 180}
    if gold:
        metrics |= {"gold_examples": 50, "program_score": 0.96, "classifier_score": 0.9, "agreement_gold": 0.91,
                    "program_errors_on_gold": 0}
    return SimpleNamespace(
        task=SimpleNamespace(name=name, multi_label=False, metric="accuracy", labels=["ham", "spam", "other"]),
        ranked=False, features="tfidf",
        program={"class": program_class, "fingerprint": "f" * 64, "model": "openai/test-model",
                 "artifact": "compiled.json", "compile_run": "run-1", "distill_run": "run-2"},
        metrics=metrics,
        throughput={"classifier_predictions_per_second": 12345.6, "classifier_usd_per_1000": 0.0,
                    "program_seconds_per_prediction": 0.5, "program_predictions_per_second": 2.0,
                    "program_usd_per_1000": 0.125, "program_latency_from": "mean of the ledger's 200 paid calls"},
        cascade={"reference": "gold" if gold else "program (out-of-fold pseudo-labels)",
                 "examples": 50 if gold else 180, "curve": curve()},
        training={"texts": 200, "pseudo_labelled": 198, "kept": 180, "dropped": {"low confidence": 18, "failed": 2},
                  "rare_labels_removed": ["other"], "classes": 2, "label_space": 3, "min_confidence": 0.5,
                  "samples": 1, "balance": "class weights inversely proportional to frequency", "seed": 0,
                  "features": "tfidf", "spent": {"calls": 198, "hits": 2}, "budget_stopped": False,
                  "notes": [f"a note with {SCRIPT}"]},
    )


def test_from_distilled_compares_program_classifier_and_cascade():
    report = DistillReport.from_distilled(distilled(), model_path="model.skops")
    assert report.title == "sms_spam · Classify distilled · tfidf" and report.kind == "distill"
    assert report.score_reference == "gold (50 examples)" and report.task.ranked is False
    program, classifier, cascade = report.comparison
    assert (program.name, program.score, program.agreement, program.lm_fraction) == ("program", Score(0.96),
                                                                                     Score(1.0), 1.0)
    assert (classifier.score, classifier.agreement, classifier.usd_per_1000) == (Score(0.9), Score(0.91), 0.0)
    chosen = report.cascade.chosen  # the best score with at most 20% of inputs to the LM
    assert chosen.lm_fraction == 0.2 and chosen.met is True and cascade.score == Score(chosen.score)
    assert cascade.name == f"cascade (threshold {chosen.threshold:.3f})"
    assert cascade.usd_per_1000 == pytest.approx(0.2 * 0.125)
    assert cascade.predictions_per_second == pytest.approx(1 / (1 / 12345.6 + 0.2 * 0.5))
    assert report.program.class_name == "Classify" and report.program.extra["fingerprint"] == "f" * 64
    assert report.training.extra["min_confidence"] == 0.5 and report.model_path == "model.skops"


def test_without_gold_scores_are_agreement_with_the_program():
    report = DistillReport.from_distilled(distilled(gold=False))
    assert report.score_reference == "agreement with the program, out of fold (180 pseudo-labels)"
    assert report.comparison[0].score == Score(1.0) and report.comparison[1].score == Score(0.93)
    assert report.comparison[1].agreement == Score(0.93)


@pytest.mark.parametrize("gold", [True, False])
def test_the_data_round_trips_and_the_html_path_is_added_once_written(gold):
    report = DistillReport.from_distilled(distilled(gold=gold), max_lm_fraction=0.1, model_path="m.skops")
    data = report.to_dict()
    assert "report" not in data and DistillReport.from_dict(data).to_dict() == data
    assert json.loads(report.to_json()) == data
    report.html_path = "distill.html"
    assert report.to_dict() == data | {"report": "distill.html"}
    assert DistillReport.from_dict(report.to_dict()).to_dict() == report.to_dict()


def test_console_print_shows_the_comparison_and_training():
    text = rendered(DistillReport.from_distilled(distilled(), model_path="model.skops"), width=120)
    assert text.splitlines()[0].strip("─ ") == "sms_spam · Classify distilled · tfidf"
    assert "score: accuracy vs gold (50 examples)" in text
    assert re.search(r"program\s+0\.960\s+1\.000\s+100%\s+2\.0\s+\$0\.1250", text)
    assert re.search(r"classifier\s+0\.900\s+0\.910\s+0%\s+12,346\s+\$0\.0000", text)
    assert re.search(r"cascade \(threshold \d\.\d{3}\)\s+0\.\d{3}\s+–\s+20%", text)
    assert "200 texts, 198 pseudo-labelled, 180 kept; dropped: 18 low confidence, 2 failed" in text
    assert "labels removed for having fewer than 2 examples: 1" in text
    assert "pseudo-labelling paid 198 calls, 2 ledger hits" in text and SCRIPT in text
    assert "saved model.skops" in text and "no cascade threshold" not in text


def test_a_target_no_threshold_meets_is_said():
    report = DistillReport.from_distilled(distilled(), model_path="model.skops")
    report.cascade.chosen.met = False
    assert "no cascade threshold sends at most 20% to the LM" in rendered(report)


def test_html_is_self_contained_with_the_cascade_curve_and_escapes_every_text():
    report = DistillReport.from_distilled(distilled(name=f"task {SCRIPT}", program_class="<b>C</b>"),
                                          model_path="model.skops")
    page = report.to_html()
    assert page.startswith("<!DOCTYPE html>") and "Content-Security-Policy" in page
    figure = re.search(r'<figure id="plot-cascade"[^>]*>(.*?)</figure>', page, re.S)
    assert figure and "<svg" in figure.group(1)
    assert '<table id="table-comparison">' in page and '<table id="table-cascade">' in page
    assert len(re.findall(r"<tr>", page.split('id="table-cascade"')[1].split("</table>")[0])) == 1 + 11
    assert not EXTERNAL.search(page.replace(ALLOWED, ""))
    assert "script" not in {tag for tag, _ in parsed_tags(page)} and SCRIPT not in page
    assert html_escaped(f"task {SCRIPT} · <b>C</b> distilled · tfidf") in page
    assert "<b>C</b>" not in page


def test_write_html(tmp_path):
    report = DistillReport.from_distilled(distilled())
    assert report.write_html(tmp_path / "d.html").read_text(encoding="utf-8") == report.to_html()


def test_numbers_stay_whole_in_80_columns():
    text = rendered(DistillReport.from_distilled(distilled(), model_path="model.skops"))
    assert max(len(line) for line in text.splitlines()) <= 80
    assert re.search(r"program\s+0\.960\s+1\.000\s+100%\s+2\.0\s+\$0\.1250", text)
    assert re.search(r"classifier\s+0\.900\s+0\.910\s+0%\s+12,346\s+\$0\.0000", text)
    assert re.search(r"cascade \(thr.*…\s+0\.\d{3}\s+–\s+20%\s+\d+\.\d\s+\$0\.0250", text)  # the name is cut instead
