"""Headless Debian Chromium for the tests that look at pages: the HTML report, the MLflow UI.

`.ci/run` installs `chromium` and `chromium-driver`; elsewhere a missing browser skips
these tests, unless HPSEARCH_REQUIRE_BROWSER=1 (set by CI) makes that a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
#: What this machine needs: no sandbox as root, and no calls home (the network is closed).
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--window-size=1400,1000",
)


def browser_missing() -> str | None:
    """Why no headless browser test can run here, or None when Chromium and its driver are."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if not missing:
        return None
    return (
        f"headless browser test needs {', '.join(missing)} "
        "(apt-get install chromium chromium-driver)"
    )


def require_browser() -> None:
    """Skip (or fail, under CI) when Chromium or its driver is missing."""
    message = browser_missing()
    if message is None:
        return
    if os.environ.get("HPSEARCH_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def chromium(profile: Path) -> Iterator[Any]:
    """A Selenium driver on headless Chromium with a fresh profile; console logs kept."""
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver: Any) -> list[str]:
    """The page's console errors and uncaught exceptions (SEVERE entries)."""
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
