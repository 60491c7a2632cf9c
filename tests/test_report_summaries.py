"""What compile, predict and plan print: typed summaries, rendered by rich and as JSON."""

from __future__ import annotations

import json
from types import SimpleNamespace

from lmprog.report import CompileSummary, PlanReport, PredictReport, Score
from tests.test_report_objects import rendered


def compiled(*, seeds: bool = True, stopped: bool = True, zero_shot: float | None = 0.5):
    """What CompileSummary reads of a CompiledProgram."""
    candidates = [{"id": "zero-shot", "dev_score": 0.5}, {"id": "demos-0", "dev_score": 0.875, "stage": "demos"}]
    optimizer = {"seed": 0, "dev": 8, "demo_sets": 6}
    if seeds:
        optimizer |= {"seed_scores": [0.8, 0.875], "seed_mean": 0.8375, "seed_std": 0.0375}
    return SimpleNamespace(
        dev_score=0.875, run_id="run-abc", zero_shot_score=zero_shot, candidate_scores=lambda: candidates,
        spent={"max_calls": 40, "max_usd": None, "calls": 42, "usd": 0.0123, "unpriced_calls": 0, "hits": 3,
               "tokens": 12345, "stopped_by": "calls" if stopped else None},
        budget={"max_calls": 40, "max_usd": None, "stopped_early": stopped}, optimizer=optimizer)


def test_compile_summary_data_is_what_compile_printed():
    summary = CompileSummary.from_compiled(compiled(), "out/compiled.json")
    data = summary.to_dict()
    assert data == {"artifact": "out/compiled.json", "dev_score": 0.875, "run_id": "run-abc",
                    "candidates": compiled().candidate_scores(), "zero_shot_score": 0.5, "spent": compiled().spent,
                    "budget": compiled().budget,
                    "optimizer": {"seed": 0, "seed_scores": [0.8, 0.875], "seed_mean": 0.8375, "seed_std": 0.0375}}
    assert CompileSummary.from_dict(data).to_dict() == data and json.loads(summary.to_json()) == data
    assert summary.dev_score == Score(0.875) and summary.spent.calls == 42 and summary.candidates[1].stage == "demos"
    summary.html_path = "out/c.html"
    assert summary.to_dict() == data | {"report": "out/c.html"}
    with_path = CompileSummary.from_compiled(compiled(), "out/compiled.json", html_path="out/c.html")
    assert with_path.to_dict() == summary.to_dict()


def test_compile_summary_on_the_terminal():
    summary = CompileSummary.from_compiled(compiled(), "out/compiled.json", html_path="out/c.html")
    assert rendered(summary).splitlines() == [
        "dev score 0.875 (zero-shot 0.500, +37.5 points) over 2 candidates",
        "paid calls 42 · ledger hits 3 · tokens 12,345 · $0.0123 · run run-abc",
        "budget reached: kept the best program found so far",
        "seeds [0.8, 0.875]: mean 0.838 ± 0.037",
        "saved out/compiled.json · report out/c.html",
    ]
    plain = CompileSummary.from_compiled(compiled(seeds=False, stopped=False, zero_shot=None), "[bold]x[/bold].json")
    assert rendered(plain).splitlines() == [
        "dev score 0.875 over 2 candidates",
        "paid calls 42 · ledger hits 3 · tokens 12,345 · $0.0123 · run run-abc",
        "saved [bold]x[/bold].json",  # a path is text, not console markup
    ]


def test_unpriced_calls_are_said():
    data = CompileSummary.from_compiled(compiled(), "c.json").to_dict()
    data["spent"]["unpriced_calls"] = 42
    assert "tokens 12,345 · unpriced · run run-abc" in rendered(CompileSummary.from_dict(data))


def test_predict_report():
    summary = SimpleNamespace(written=11, skipped=1, failed=0, out="preds.jsonl")
    report = PredictReport.from_summary(summary, ledger="ledger.db")
    assert report.to_dict() == {"written": 11, "skipped": 1, "failed": 0, "out": "preds.jsonl", "ledger": "ledger.db"}
    assert rendered(report) == "wrote 11 rows to preds.jsonl (1 already there, 0 failed)\n"
    cascade = PredictReport.from_dict(report.to_dict() | {"model": "model.skops", "lm_rows": 3, "threshold": 0.8123,
                                                           "lm_fraction_expected": 0.2})
    assert " ".join(rendered(cascade).split()) == ("wrote 11 rows to preds.jsonl (1 already there, 0 failed); the "
                                                   "program answered 3 of them (threshold 0.812, 20% expected)")
    assert json.loads(cascade.to_json())["lm_rows"] == 3


class Plan:
    def to_dict(self) -> dict:
        return {"calls": 120, "paid_calls": 100, "cached_calls": 20, "prompt_tokens": 50_000,
                "completion_tokens": 2_000, "usd": None, "run_id": None, "phases": [
                    {"name": "zero-shot dev", "calls": 20, "prompt_tokens": 300, "completion_tokens": 5,
                     "model": "openai/test-model"},
                    {"name": "demo sets", "calls": 100, "prompt_tokens": 440, "completion_tokens": 19,
                     "model": "openai/test-model"}]}


def test_plan_report():
    report = PlanReport.from_plan(Plan(), budget="40 paid calls")
    data = report.to_dict()
    assert data == Plan().to_dict() | {"budget": "40 paid calls"} and PlanReport.from_dict(data).to_dict() == data
    text = rendered(report)
    assert "compile plan (no LM called)" in text and "zero-shot dev" in text and "demo sets" in text
    assert ("120 calls (20 already in the ledger, 100 to pay) · 52,000 tokens · unpriced model · budget: 40 paid "
            "calls") in " ".join(text.split())
    priced = PlanReport.from_dict(data | {"usd": 1.5})
    assert "· $1.5000 ·" in rendered(priced)
