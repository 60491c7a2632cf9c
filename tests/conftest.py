"""Fixtures shared by the test suite: the test LM server, a ledgered LM pointed at it, and the lmprog
command in a subprocess.

    pytestmark = pytest.mark.server(rule=answer_fields(label="spam"))  # or on one test or class

    def test_something(server, lm_for, cli, tmp_path):
        lm = lm_for(server)  # openai/test-model at server.api_base, ledger tmp_path / "ledger.db"
        result = cli("cache", "stats", "--ledger", tmp_path / "ledger.db", "--json")

The ``server`` marker takes TestLMServer's keyword arguments (``rule``, ``latency``, ``faults``,
``retry_after``...); without one the server echoes the last user message.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from lmprog.testing import TestLMServer

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # else importing litellm waits on the network

TEST_MODEL = "openai/test-model"
CLI_TIMEOUT = 600  # seconds; a hung command fails instead of stalling the suite


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "server(**options): TestLMServer keyword arguments for the server and module_server fixtures")


def _server_options(node: pytest.Item | pytest.Collector) -> dict[str, Any]:
    marker = node.get_closest_marker("server")
    if marker is None:
        return {}
    if marker.args:
        raise TypeError("give the server marker keyword arguments only, e.g. pytest.mark.server(rule=...)")
    return dict(marker.kwargs)


@pytest.fixture
def server(request: pytest.FixtureRequest):
    """A running TestLMServer for one test, configured by the nearest ``server`` marker."""
    with TestLMServer(**_server_options(request.node)) as running:
        yield running


@pytest.fixture(scope="module")
def module_server(request: pytest.FixtureRequest):
    """One running TestLMServer shared by a module's tests (its requests add up across them),
    configured by the module's ``server`` marker (``pytestmark``)."""
    with TestLMServer(**_server_options(request.node)) as running:
        yield running


@pytest.fixture
def lm_for(tmp_path: Path) -> Callable[..., Any]:
    """``lm_for(server, ledger=None, **make_lm_options)``: ``lmprog.make_lm`` for openai/test-model at the
    server, recording in ``ledger`` (default ``tmp_path / "ledger.db"``, the same file on every call)."""
    import lmprog

    def make(server: TestLMServer, ledger: Optional[Path] = None, **options: Any):
        return lmprog.make_lm(TEST_MODEL, api_base=server.api_base, ledger=ledger or tmp_path / "ledger.db", **options)

    return make


def _run_cli(*args: Any, cwd: Optional[Path] = None, env: Optional[dict[str, str]] = None,
            timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess:
    """``python -m lmprog.cli ARGS`` as a user runs it: stdin closed, output captured, the caller's
    LMPROG_LM / LMPROG_LEDGER dropped from the environment and ``env`` added to it."""
    environment = {k: v for k, v in os.environ.items() if k not in ("LMPROG_LM", "LMPROG_LEDGER")}
    return subprocess.run([sys.executable, "-m", "lmprog.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env={**environment, **(env or {})}, stdin=subprocess.DEVNULL, timeout=timeout)


@pytest.fixture(scope="session")
def cli() -> Callable[..., subprocess.CompletedProcess]:
    """``cli(*args, cwd=None, env=None, timeout=600)``: the lmprog command in a subprocess (see ``_run_cli``).
    A module that needs, say, an API key in every run overrides it::

        @pytest.fixture(scope="module")
        def cli(cli):
            return functools.partial(cli, env={"OPENAI_API_KEY": KEY})
    """
    return _run_cli


CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def browser_unavailable(reason: str) -> None:
    """Skip a browser test, except under CI=true, where a missing browser is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: browser tests must run; install Debian's chromium and chromium-driver)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    """Headless Debian Chromium driven by selenium, offline: selenium-manager never runs, nothing is downloaded."""
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        browser_unavailable(f"headless Chromium needs {CHROMIUM} and {CHROMEDRIVER} (Debian: chromium, chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        browser_unavailable("selenium is not installed (pip install -e '.[dev]')")
    os.environ["SE_OFFLINE"] = "true"  # selenium-manager must never fetch a driver
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1200,900", f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
