"""The HTML report in a real browser: headless Debian Chromium driven by selenium, offline.

Selenium is pointed at /usr/bin/chromedriver and /usr/bin/chromium explicitly, so selenium-manager
never runs and nothing is downloaded. Without Chromium the test is skipped, except under CI=true,
where a missing browser is a failure.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lmprog.report import write_html
from tests.test_report import SCRIPT, extreme_multi_label_report, single_label_report

PLOTS = ["plot-confusion", "plot-per-label-f1", "plot-reliability", "plot-candidates"]
TABLES = ["table-metrics", "table-per-label", "table-confusions", "table-calibration", "table-cost-by-module",
          "table-errors", "table-failures", "table-candidates"]

pytestmark = pytest.mark.browser


def open_report(driver, data: dict, path: Path) -> None:
    write_html(data, path)
    driver.get(path.as_uri())


def rendered_size(driver, selector: str) -> dict:
    return driver.execute_script(
        "const r = document.querySelector(arguments[0]).getBoundingClientRect();"
        "return {width: r.width, height: r.height};", selector)


def test_single_label_report_renders_plots_and_tables(browser, tmp_path):
    from selenium.webdriver.common.by import By

    data = single_label_report()
    open_report(browser, data, tmp_path / "report.html")
    assert browser.title == data["title"]
    for plot in PLOTS:
        figure = browser.find_element(By.ID, plot)
        assert figure.is_displayed(), plot
        assert len(figure.find_elements(By.TAG_NAME, "svg")) == 1, plot
        size = rendered_size(browser, f"#{plot} svg")
        assert size["width"] > 100 and size["height"] > 100, (plot, size)
    for table in TABLES:
        assert browser.find_element(By.ID, table).is_displayed(), table
    rows = browser.find_elements(By.CSS_SELECTOR, "#table-per-label tbody tr[data-label]")
    assert [r.get_attribute("data-label") for r in rows] == [r["label"] for r in data["per_label"]]
    # the inline stylesheet applied under the page's Content-Security-Policy
    background = browser.execute_script("return getComputedStyle(document.querySelector('section')).backgroundColor")
    assert background == "rgb(255, 255, 255)"
    # the <script> inside a failed example's text is shown as text, never run
    assert "<script>alert(1)</script>" in browser.find_element(By.ID, "table-failures").text
    assert browser.execute_script("return document.scripts.length") == 0
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]

    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1200, height + 100)
    screenshot = tmp_path / "report.png"
    assert browser.save_screenshot(str(screenshot))
    png = screenshot.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


def test_extreme_label_space_shows_twenty_rows(browser, tmp_path):
    from selenium.webdriver.common.by import By

    open_report(browser, extreme_multi_label_report(), tmp_path / "big.html")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#table-per-label tbody tr[data-label]")) == 20
    assert rendered_size(browser, "#plot-per-label-f1 svg")["height"] > 100
    assert not browser.find_elements(By.ID, "plot-confusion")
    assert "no confidence available" in browser.find_element(By.ID, "calibration").text


def test_distill_report_renders_its_cascade_curve(browser, tmp_path):
    from selenium.webdriver.common.by import By

    from lmprog.report import DistillReport
    from tests.test_report_distill import distilled

    report = DistillReport.from_distilled(distilled(), model_path="model.skops")
    browser.get(report.write_html(tmp_path / "distill.html").as_uri())
    assert browser.title == report.title
    assert browser.find_element(By.ID, "plot-cascade").is_displayed()
    size = rendered_size(browser, "#plot-cascade svg")
    assert size["width"] > 100 and size["height"] > 100, size
    for table in ["table-comparison", "table-cascade"]:
        assert browser.find_element(By.ID, table).is_displayed(), table
    assert "<script>alert(1)</script>" in browser.find_element(By.ID, "training").text
    assert browser.execute_script("return document.scripts.length") == 0
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def report_with_intervals() -> dict:
    """The single-label report with intervals everywhere, a paired difference, the floor and the selection."""
    data = single_label_report()
    data["headline"] |= {"value": {"value": 0.86, "low": 0.78, "high": 0.91, "n": 100},
                         "before": {"value": 0.61, "low": 0.51, "high": 0.7, "n": 100},
                         "difference": {"value": 0.25, "low": 0.14, "high": 0.35, "n": 100, "verdict": "better"}}
    data["metrics"]["macro_f1"] = {"value": 0.8596, "low": 0.79, "high": 0.92, "n": 100}
    for row in data["per_label"]:
        row["f1"] = {"value": row["f1"], "low": row["f1"] - 0.1, "high": min(1.0, row["f1"] + 0.08), "n": 100}
    data["floor"] = {"method": "TF-IDF + logistic regression", "training": "trained on the artifact's 50 labelled "
                     "examples", "trained_on": 50, "unknown": None, "metric": "accuracy",
                     "score": {"value": 0.93, "low": 0.86, "high": 0.97, "n": 100}, "examples": 100,
                     "paired": {"examples": 100, "program": {"value": 0.86, "low": 0.78, "high": 0.91, "n": 100},
                                "floor": {"value": 0.93, "low": 0.86, "high": 0.97, "n": 100},
                                "difference": {"value": -0.07, "low": -0.14, "high": -0.01, "n": 100,
                                               "verdict": "worse"}}}
    data["candidates"][2] |= {"interval": {"value": 0.79, "low": 0.6, "high": 0.9, "n": 24},
                              "vs_baseline": {"value": 0.18, "low": 0.02, "high": 0.33, "n": 24, "verdict": "better"}}
    data["selection"] = {"chosen": "demos-1", "best": "demos-1", "reason": f"it won {SCRIPT}"}
    return data


def test_a_report_with_intervals_and_the_floor_renders(browser, tmp_path):
    from selenium.webdriver.common.by import By

    open_report(browser, report_with_intervals(), tmp_path / "intervals.html")
    for plot in PLOTS + ["plot-scores"]:
        assert browser.find_element(By.ID, plot).is_displayed(), plot
        size = rendered_size(browser, f"#{plot} svg")
        assert size["width"] > 100 and size["height"] > 50, (plot, size)
    floor = browser.find_element(By.ID, "floor")
    assert "the labels alone do better than the program" in floor.text
    color = browser.execute_script("return getComputedStyle(document.getElementById('floor-verdict')).color")
    assert color == "rgb(192, 80, 77)"  # the report's red: the program is below the floor
    assert "+25.0 points [+14.0, +35.0]: better" in browser.find_element(By.ID, "headline-value").text
    assert "0.878 [0.78, 0.96]" in browser.find_element(By.ID, "table-per-label").text
    assert f"it won {SCRIPT}" in browser.find_element(By.ID, "candidates").text
    assert browser.execute_script("return document.scripts.length") == 0
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def test_a_distill_report_with_the_floor_and_paired_differences_renders(browser, tmp_path):
    from selenium.webdriver.common.by import By

    from lmprog.report import DistillReport
    from tests.test_report_distill import distilled

    score = {"value": 0.9, "low": 0.8, "high": 0.95, "n": 50}
    paired = {"scores": {"classifier": score, "supervised floor": score}, "agreement": {},
              "differences": [{"a": "program", "b": "supervised floor", "metric": "accuracy", "value": -0.06,
                               "low": -0.12, "high": -0.01, "n": 50, "verdict": "worse"}],
              "floor": report_with_intervals()["floor"]}
    report = DistillReport.from_distilled(distilled(), model_path="model.skops", paired=paired)
    browser.get(report.write_html(tmp_path / "distill.html").as_uri())
    assert "supervised floor" in browser.find_element(By.ID, "table-comparison").text
    assert "worse" in browser.find_element(By.ID, "table-differences").text
    assert "the labels alone do better" in browser.find_element(By.ID, "floor").text
    assert browser.find_element(By.ID, "plot-cascade").is_displayed()
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
