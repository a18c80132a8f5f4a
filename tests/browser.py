"""Headless Chromium for report tests (Debian's chromium + chromium-driver)."""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_driver(tmp_dir: str) -> Any:
    """A selenium Chrome driver on the system Chromium, or skip (fail in CI) when there is none."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not binary or not driver_path:
        msg = "headless Chromium not installed (apt-get install -y chromium chromium-driver)"
        if os.environ.get("TUNELAB_REQUIRE_BROWSER"):
            pytest.fail(msg)
        pytest.skip(msg)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for f in FLAGS + [f"--user-data-dir={tmp_dir}"]:
        opts.add_argument(f)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver_path), options=opts)


def check_page(driver: Any, url: str, screenshot: str) -> dict[str, Any]:
    """Open a page; return console errors and the rendered size of every image; save a screenshot."""
    driver.set_window_size(1280, 2000)
    driver.get(url)
    images = driver.execute_script(
        "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight, "
        "i.getBoundingClientRect().width, i.getBoundingClientRect().height]);"
    )
    errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    widths = driver.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];"
    )
    driver.save_screenshot(screenshot)
    return {
        "images": images,
        "errors": errors,
        "title": driver.title,
        "scroll_width": widths[0],
        "client_width": widths[1],
    }
