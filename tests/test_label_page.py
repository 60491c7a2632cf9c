"""The labelling page in a real browser: ``lmprog label`` in a subprocess, headless Debian Chromium driven by
selenium from the keyboard, offline (as tests/test_report_browser.py starts it).

Keyboard labelling appends exactly the answered rows; an audit flag is reviewed; row text is shown as text;
the server is killed with SIGKILL midway and restarted, and nothing answered is lost or written twice.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TASK = """name = "sms"
[inputs]
text = "the SMS message"
[labels]
names = ["ham", "spam", "promo"]
[data]
train = "train.jsonl"
"""
HOSTILE = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"><b>bold</b> & "quotes"'

pytestmark = pytest.mark.browser


class Server:
    """``lmprog label`` in a subprocess; ``url`` is the address it printed."""

    def __init__(self, folder: Path, *args: str):
        env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen([sys.executable, "-m", "lmprog.cli", "label", "task.toml", *args],
                                        cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        found: list[str] = []
        reader = threading.Thread(target=lambda: found.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(120)
        match = re.search(r"http://127\.0\.0\.1:\d+/[\w-]+/", found[0] if found else "")
        if match is None:
            self.process.kill()
            raise AssertionError(f"lmprog label printed no URL: {found} {self.process.stderr.read()}")
        self.url = match.group(0)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> str:
        self.process.send_signal(signal.SIGINT)
        out, _ = self.process.communicate(timeout=30)
        return out


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "task.toml").write_text(TASK)
    (tmp_path / "train.jsonl").write_text('{"text": "hello", "label": "ham"}\n{"text": "WIN NOW", "label": "ham"}\n')
    return tmp_path


def queue(folder: Path, texts: list[str]) -> None:
    (folder / "queue.jsonl").write_text("".join(json.dumps({"text": t, "why": f"why {i}"}) + "\n"
                                                for i, t in enumerate(texts)))


def rows(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "train.jsonl").read_text().splitlines() if line.strip()]


def open_page(driver, url: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.body.dataset.ready === 'true'"))


def press(driver, *keys: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    for key in keys:
        ActionChains(driver).send_keys(key).perform()


def answered(driver, count: int) -> None:
    """Wait until the page says ``count`` rows are answered (answers are saved before the count moves)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 30).until(
        lambda d: d.find_element(By.ID, "progress").text.startswith(f"{count} of "))


def shown_text(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, ".input-text").text


def test_keyboard_labelling_appends_exactly_the_answered_rows(browser, folder):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    queue(folder, ["win a cruise", "lunch at noon?", "50% off shoes", "skipped row"])
    server = Server(folder, "--queue", "queue.jsonl")
    try:
        open_page(browser, server.url)
        keys = browser.find_element(By.ID, "keys").text
        assert "Enter" in keys and "skip" in keys and "first letters" in keys  # the keys are on the page
        assert shown_text(browser) == "win a cruise"
        assert browser.find_element(By.ID, "context").text.split() == ["why", "why", "0"]
        press(browser, "2", Keys.ENTER)  # by number: spam
        answered(browser, 1)
        assert shown_text(browser) == "lunch at noon?"
        press(browser, "h", Keys.ENTER)  # by first letter: ham
        answered(browser, 2)
        press(browser, "p", "r", Keys.ENTER)  # promo
        answered(browser, 3)
        press(browser, Keys.ARROW_RIGHT)  # skip the last row, which wraps to the first
        assert shown_text(browser) == "win a cruise"
        assert browser.find_element(By.CSS_SELECTOR, ".label.highlighted").get_attribute("data-name") == "spam"
        press(browser, Keys.ARROW_DOWN, Keys.ENTER)  # change an answer: spam -> promo
        WebDriverWait(browser, 30).until(lambda d: {"text": "win a cruise", "label": "promo"} in rows(folder))
    finally:
        out = server.stop()
    assert "3 of 4 answered" in out
    assert rows(folder) == [{"text": "hello", "label": "ham"}, {"text": "WIN NOW", "label": "ham"},
                            {"text": "win a cruise", "label": "promo"}, {"text": "lunch at noon?", "label": "ham"},
                            {"text": "50% off shoes", "label": "promo"}]


def test_reviewing_an_audit_flag(browser, folder):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    (folder / "train.jsonl").write_text('{"text": "hello", "label": "ham"}\n{"text": "WIN NOW", "label": "ham"}\n'
                                        '{"text": "sale today", "label": "spam"}\n{"text": "hi mum", "label": "ham"}\n')
    flags = [{"line": 2, "text": "WIN NOW", "given": "ham", "suggested": "spam", "margin": 0.82},
             {"line": 3, "text": "sale today", "given": "spam", "suggested": "ham"},
             {"line": 4, "text": "hi mum", "given": "ham", "suggested": "spam"}]
    (folder / "audit.json").write_text(json.dumps({"data": "train.jsonl", "flags": flags}))
    server = Server(folder, "--audit", "audit.json")
    try:
        open_page(browser, server.url)
        assert browser.find_element(By.ID, "item-kind").text == "Review this gold label"
        assert browser.find_element(By.ID, "given").text == "ham"
        assert browser.find_element(By.ID, "suggested").text == "spam"
        assert "margin" in browser.find_element(By.ID, "context").text
        assert "keep the gold label" in browser.find_element(By.ID, "keys").text
        highlighted = browser.find_element(By.CSS_SELECTOR, ".label.highlighted")
        assert highlighted.get_attribute("data-name") == "spam"  # the suggestion is offered first
        press(browser, Keys.ENTER)  # take the suggested label
        answered(browser, 1)
        press(browser, "p", Keys.ENTER)  # choose another: promo
        answered(browser, 2)
        press(browser, "=")  # keep the gold label
        answered(browser, 3)
    finally:
        server.stop()
    assert rows(folder) == [{"text": "hello", "label": "ham"}, {"text": "WIN NOW", "label": "spam"},
                            {"text": "sale today", "label": "promo"}, {"text": "hi mum", "label": "ham"}]


def test_row_text_is_shown_as_text(browser, folder):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    queue(folder, [HOSTILE])
    server = Server(folder, "--queue", "queue.jsonl")
    try:
        open_page(browser, server.url)
        time.sleep(0.5)  # give an injected script or an image error handler time to run
        assert shown_text(browser) == HOSTILE
        box = browser.find_element(By.CSS_SELECTOR, ".input-text")
        assert box.find_elements(By.XPATH, ".//*") == []  # no element made of the text
        assert browser.execute_script("return window.pwned") is None
        press(browser, "s", Keys.ENTER)
        answered(browser, 1)
    finally:
        server.stop()
    assert rows(folder)[-1] == {"text": HOSTILE, "label": "spam"}


def test_server_killed_midway_loses_nothing_and_duplicates_nothing(browser, folder):
    texts = [f"message number {i}" for i in range(6)]
    queue(folder, texts)
    from selenium.webdriver.common.keys import Keys

    server = Server(folder, "--queue", "queue.jsonl")
    try:
        open_page(browser, server.url)
        for count, key in enumerate(["1", "2", "3"], start=1):
            press(browser, key, Keys.ENTER)
            answered(browser, count)
    finally:
        server.kill()  # SIGKILL: no clean-up runs
    again = Server(folder, "--queue", "queue.jsonl")
    try:
        assert again.url != server.url  # a new token
        open_page(browser, again.url)
        answered(browser, 3)  # the page knows what was answered before the kill
        assert shown_text(browser) == texts[3]
        for count, key in enumerate(["1", "2", "3"], start=4):
            press(browser, key, Keys.ENTER)
            answered(browser, count)
    finally:
        again.kill()
    third = Server(folder, "--queue", "queue.jsonl")  # and once more: the answers are all applied, once
    third.stop()
    labels = ["ham", "spam", "promo"] * 2
    assert rows(folder)[2:] == [{"text": t, "label": label} for t, label in zip(texts, labels)]
    assert len(rows(folder)) == 8


def test_multi_label_rows_take_every_ticked_label(browser, folder):
    from selenium.webdriver.common.keys import Keys

    (folder / "task.toml").write_text(TASK.replace("[inputs]", "multi_label = true\n[inputs]"))
    (folder / "train.jsonl").write_text('{"text": "hello", "labels": ["ham"]}\n')
    queue(folder, ["sale on ham sandwiches"])
    server = Server(folder, "--queue", "queue.jsonl")
    try:
        open_page(browser, server.url)
        press(browser, "1", " ", "3", " ", Keys.ENTER)
        answered(browser, 1)
    finally:
        server.stop()
    assert rows(folder)[-1] == {"text": "sale on ham sandwiches", "labels": ["ham", "promo"]}
