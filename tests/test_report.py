"""Report rendering: terminal text, self-contained HTML with inline SVG plots, deterministic JSON."""

from __future__ import annotations

import io
import json
import re

from rich.console import Console

from lmprog.report import render_terminal, to_html, to_json, write_html

SCRIPT = "<script>alert(1)</script>"
LABELS = ["card_lost", "refund", "top_up", "exchange_rate", "balance"]


def single_label_report() -> dict:
    """A compile report for a 5-label task, with every optional section filled."""
    matrix = [[18, 1, 0, 1, 0], [2, 15, 1, 0, 2], [0, 1, 17, 0, 2], [0, 0, 1, 19, 0], [1, 2, 0, 0, 17]]
    per_label = [
        {"label": "card_lost", "precision": 0.857, "recall": 0.9, "f1": 0.878, "support": 20},
        {"label": "refund", "precision": 0.789, "recall": 0.75, "f1": 0.769, "support": 20},
        {"label": "top_up", "precision": 0.895, "recall": 0.85, "f1": 0.872, "support": 20},
        {"label": "exchange_rate", "precision": 0.95, "recall": 0.95, "f1": 0.95, "support": 20},
        {"label": "balance", "precision": 0.81, "recall": 0.85, "f1": 0.829, "support": 20},
    ]
    bins = [{"lower": i / 10, "upper": (i + 1) / 10, "count": 0, "mean_confidence": None, "accuracy": None}
            for i in range(10)]
    for i, count, confidence, accuracy in [(5, 6, 0.56, 0.5), (6, 10, 0.65, 0.6), (7, 14, 0.76, 0.71),
                                           (8, 30, 0.86, 0.83), (9, 40, 0.96, 0.95)]:
        bins[i].update(count=count, mean_confidence=confidence, accuracy=accuracy)
    return {
        "kind": "compile",
        "title": "banking77 · Classify · local/smollm2",
        "task": {"name": "banking77", "multi_label": False, "metric": "accuracy", "labels": 5},
        "program": {"class": "Classify", "lm": "local/smollm2", "artifact": "compiled.json", "run_id": "run-7f3a"},
        "data": {"path": "examples/banking77/test.jsonl", "examples": 100},
        "headline": {"metric": "accuracy", "value": 0.86, "before": 0.61, "before_label": "zero-shot (dev)",
                     "after_label": "compiled (test)"},
        "metrics": {"accuracy": 0.86, "macro_f1": 0.8596, "micro_f1": 0.86},
        "per_label": per_label,
        "confusions": [{"gold": "refund", "predicted": "card_lost", "count": 2},
                       {"gold": "balance", "predicted": "refund", "count": 2},
                       {"gold": "refund", "predicted": None, "count": 1}],
        "confusion_matrix": {"labels": LABELS, "matrix": matrix},
        "calibration": {"source": "logprobs", "ece": 0.0512, "bins": bins},
        "cost": {"paid_calls": 412, "ledger_hits": 88, "prompt_tokens": 183_422, "completion_tokens": 2_315,
                 "usd": 0.0312,
                 "by_module": [{"module": "classify", "calls": 380, "prompt_tokens": 170_000,
                                "completion_tokens": 1_900, "cost_usd": 0.0281},
                               {"module": None, "calls": 32, "prompt_tokens": 13_422, "completion_tokens": 415,
                                "cost_usd": None}]},
        "errors": {"parse_failure": 3, "provider_error": 0, "timeout": 1, "budget": 0},
        "failures": [
            {"text": f"I lost my card yesterday {SCRIPT} and need a new one", "gold": "card_lost",
             "predicted": "refund", "error": None},
            {"text": "[bold]not markup[/bold] where is my money " + "x" * 300, "gold": "refund", "predicted": None,
             "error": "parse_failure"},
        ],
        "candidates": [{"id": "zero-shot", "dev_score": 0.61, "stage": "baseline"},
                       {"id": "demos-0", "dev_score": 0.74, "stage": "demos"},
                       {"id": "demos-1", "dev_score": 0.79, "stage": "demos"},
                       {"id": "instructions-0", "dev_score": None, "stage": "instructions"}],
        "budget": {"max_calls": 500, "max_usd": None, "stopped_early": True},
    }


def extreme_multi_label_report() -> dict:
    """An evaluation over 2,000 labels (1,200 with support), no confusion matrix, no confidence."""
    per_label = []
    for i in range(2000):
        support = 1 + i % 5 if i < 1200 else 0
        f1 = round((i * 37 % 1000) / 1000, 3) if support else 0.0
        per_label.append({"label": f"skill {i:04d}", "precision": f1, "recall": f1, "f1": f1, "support": support})
    return {
        "kind": "evaluation",
        "title": "esco · InferRetrieveRank · openai/gpt-4o-mini",
        "task": {"name": "esco", "multi_label": True, "metric": "rp@10", "labels": 2000},
        "program": {"class": "InferRetrieveRank", "lm": "openai/gpt-4o-mini", "artifact": None, "run_id": None},
        "data": {"path": None, "examples": 300},
        "headline": {"metric": "rp@10", "value": 0.412, "before": None, "before_label": None, "after_label": None},
        "metrics": {"rp@10": 0.412, "micro_f1": 0.33, "macro_f1": 0.21},
        "per_label": per_label,
        "confusions": [],
        "confusion_matrix": None,
        "calibration": {"source": None, "ece": None, "bins": []},
        "cost": {"paid_calls": 600, "ledger_hits": 0, "prompt_tokens": 900_000, "completion_tokens": 40_000,
                 "usd": None, "by_module": []},
        "errors": {"parse_failure": 0, "provider_error": 0, "timeout": 0, "budget": 0},
        "failures": [],
        "candidates": [],
        "budget": None,
    }


def terminal_text(data: dict, top: int = 10) -> str:
    console = Console(record=True, width=120, file=io.StringIO())
    render_terminal(data, console, top=top)
    return console.export_text()


def flat(text: str) -> str:
    """Terminal text with line wrapping undone, for sentences that may wrap."""
    return " ".join(text.split())


def test_terminal_single_label_shows_every_section():
    text = terminal_text(single_label_report())
    assert "banking77 · Classify · local/smollm2" in text
    assert "zero-shot (dev) 0.610 → compiled (test) 0.860" in text and "+25.0 points" in text
    assert "budget reached: kept the best program found so far (max 500 paid calls)" in text
    assert "macro_f1 0.860" in text
    for label in LABELS:
        assert re.search(rf"{label}\s+\d\.\d{{3}}\s+\d\.\d{{3}}\s+\d\.\d{{3}}\s+20", text), label
    assert re.search(r"refund\s+card_lost\s+2", text) and "(no answer)" in text
    assert "ECE 0.051 · confidence from token log-probabilities · 100 predictions" in text
    assert "paid calls 412 · ledger hits 88 · tokens 183,422 prompt + 2,315 completion · $0.0312" in text
    assert re.search(r"\(no module\)\s+32\s+13,422\s+415\s+unpriced", text)
    assert "parse_failure 3 · timeout 1" in text and "provider_error" not in text
    assert "[bold]not markup[/bold]" in text and "…" in text  # user text is not rich markup, and is cut short
    assert SCRIPT in text  # the terminal shows text as it is
    assert re.search(r"demos-1\s+demos\s+0\.790\s+★ best", text)
    assert re.search(r"instructions-0\s+instructions\s+—", text)


def test_terminal_extreme_label_space_shows_top_and_bottom_only():
    data = extreme_multi_label_report()
    text = terminal_text(data)
    supported = sorted((r for r in data["per_label"] if r["support"]), key=lambda r: (-r["f1"], r["label"]))
    shown = [r["label"] for r in supported[:10] + supported[-10:]]
    hidden = [r["label"] for r in supported[10:-10]]
    assert all(label in text for label in shown)
    assert not any(label in text for label in hidden[::50])
    assert "showing the 10 best and 10 worst by F1 of 1,200 labels with support" in flat(text)
    assert "1,980 of 2,000 labels left out (800 without support)" in flat(text)
    assert "rp@10: 0.412" in text and "→" not in text.split("rp@10: 0.412")[0][-40:]
    assert "no confidence available" in text
    assert "unpriced" in text and "no errors" in text
    assert "confusions" not in text.lower() and "candidates" not in text.lower()


def test_terminal_top_parameter_changes_the_cut():
    text = terminal_text(extreme_multi_label_report(), top=3)
    assert "showing the 3 best and 3 worst" in text


EXTERNAL = re.compile(r"https?://")
ALLOWED = "http://www.w3.org/2000/svg"


def test_html_single_label_is_self_contained_with_plots_and_tables():
    page = to_html(single_label_report())
    assert page.startswith("<!DOCTYPE html>") and "<title>banking77 · Classify · local/smollm2</title>" in page
    for plot in ["plot-confusion", "plot-per-label-f1", "plot-reliability", "plot-candidates"]:
        figure = re.search(rf'<figure id="{plot}"[^>]*>(.*?)</figure>', page, re.S)
        assert figure and "<svg" in figure.group(1), plot
    for table in ["table-metrics", "table-per-label", "table-confusions", "table-calibration",
                  "table-cost-by-module", "table-errors", "table-failures", "table-candidates"]:
        assert f'<table id="{table}">' in page, table
    assert len(re.findall(r"<tr data-label=", page)) == 5
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page
    assert not EXTERNAL.search(page.replace(ALLOWED, ""))
    assert not re.search(r"<(script|link|img|iframe)\b", page)
    assert SCRIPT not in page and html_escaped(SCRIPT) in page
    assert "zero-shot (dev) 0.610" in page and "+25.0 points" in page and "budget reached" in page
    assert "ECE 0.051" in page and "$0.0312" in page and "parse_failure" in page
    assert re.search(r'<tr class="best"><td>demos-1 ★ best</td>', page)


def html_escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def test_html_svg_ids_are_unique_across_plots():
    ids = re.findall(r'\bid="([^"]+)"', to_html(single_label_report()))
    assert len(ids) == len(set(ids))


def test_html_extreme_label_space_is_cut_and_has_no_confidence_plot():
    page = to_html(extreme_multi_label_report())
    assert len(re.findall(r"<tr data-label=", page)) == 20
    assert '<tbody data-group="best">' in page and '<tbody data-group="worst">' in page
    assert "1,980 of 2,000 labels left out" in page
    assert 'id="plot-per-label-f1"' in page
    for absent in ["plot-confusion", "plot-reliability", "plot-candidates", "table-confusions", "table-failures"]:
        assert f'id="{absent}"' not in page
    assert "no confidence available" in page and "no errors" in page and "unpriced" in page
    assert not EXTERNAL.search(page.replace(ALLOWED, ""))


def test_html_escapes_labels_and_title_everywhere():
    data = single_label_report()
    data["title"] = f"evil {SCRIPT}"
    data["confusion_matrix"]["labels"][0] = data["confusions"][0]["gold"] = "a<b> & \"c\""
    data["per_label"][0]["label"] = 'x" onmouseover="alert(1)'
    data["candidates"][0]["id"] = SCRIPT
    page = to_html(data)
    tags = parsed_tags(page)
    assert "script" not in {tag for tag, _ in tags}
    assert not [name for _, attrs in tags for name, _ in attrs if name.startswith("on")]
    assert ("data-label", 'x" onmouseover="alert(1)') in {a for _, attrs in tags for a in attrs}
    assert "<title>evil &lt;script&gt;alert(1)&lt;/script&gt;</title>" in page
    assert "a&lt;b&gt; &amp; &quot;c&quot;" in page  # the confusion table's label cell
    assert "a&lt;b&gt; &amp; " in page.split('id="plot-confusion"')[1].split("</figure>")[0]  # the SVG tick label


def parsed_tags(page: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """Every start tag of the page with its attributes, as a browser's tokenizer reads them."""
    from html.parser import HTMLParser

    tags = []
    parser = HTMLParser()
    parser.handle_starttag = lambda tag, attrs: tags.append((tag, attrs))
    parser.feed(page)
    return tags


def test_confusion_matrix_may_have_an_extra_no_answer_column():
    data = single_label_report()
    matrix = data["confusion_matrix"]
    matrix["columns"] = LABELS + ["(no answer)"]
    matrix["matrix"] = [row + [1 if i == 1 else 0] for i, row in enumerate(matrix["matrix"])]
    figure = to_html(data).split('id="plot-confusion"')[1].split("</figure>")[0]
    assert "(no answer)" in figure and "<svg" in figure


def test_labels_with_dollar_signs_are_not_mathtext():
    data = single_label_report()
    data["confusion_matrix"]["labels"][1] = "$5 refund $x^2$"
    assert "$5 refund $x^2$" in to_html(data)


def test_write_html_writes_utf8(tmp_path):
    path = write_html(single_label_report(), tmp_path / "report.html")
    assert path.read_text(encoding="utf-8") == to_html(single_label_report())
    assert "·" in path.read_bytes().decode("utf-8")


def test_to_json_round_trips_and_is_deterministic():
    for data in [single_label_report(), extreme_multi_label_report()]:
        text = to_json(data)
        assert json.loads(text) == data
        assert text == to_json(json.loads(text))
        assert text.startswith('{\n  "budget"')  # sorted keys, indent 2


def test_to_json_turns_nan_into_null():
    data = single_label_report()
    data["metrics"]["macro_f1"] = float("nan")
    assert json.loads(to_json(data))["metrics"]["macro_f1"] is None


def test_importing_the_module_does_not_import_matplotlib():
    import subprocess
    import sys

    code = "import sys, lmprog.report; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
