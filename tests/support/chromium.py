"""Headless Chromium for the browser tests, from Debian (`chromium`, `chromium-driver`;
scripts/ensure-chromium installs them). Missing, a test using it fails, unless
THREETIER_SKIP_BROWSER=1 says to skip it on purpose.

The flags are the ones this machine's closed network needs: without the
background-networking ones Chromium's own connections are refused many at a time.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--no-proxy-server", "--ignore-certificate-errors",
)


@contextmanager
def chromium(*, window: tuple[int, int] | None = None, browser_log: bool = False) -> Iterator:
    """A selenium driver of a fresh headless Chromium profile; quit and removed afterwards."""
    if os.environ.get("THREETIER_SKIP_BROWSER") == "1":
        pytest.skip("THREETIER_SKIP_BROWSER=1")
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        pytest.fail(
            f"the browser test needs {', '.join(missing)}: install them with "
            "`apt-get install chromium chromium-driver` (or ./scripts/ensure-chromium), "
            "or set THREETIER_SKIP_BROWSER=1 to skip this test on purpose",
            pytrace=False,
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="tt-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    if window:
        options.add_argument(f"--window-size={window[0]},{window[1]}")
    if browser_log:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
