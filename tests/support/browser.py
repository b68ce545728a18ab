"""Debian's chromium, headless, driven by selenium through Debian's chromedriver (no
browser or driver is ever downloaded): open a page, collect console messages and every
network request it made."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
LOCAL_SCHEMES = ("file:", "data:", "about:", "chrome:", "chrome-error:")


@dataclass
class PageVisit:
    driver: Any
    console: list[dict[str, Any]]
    requests: list[str]  # URLs of every request the page made


@contextmanager
def open_page(path: Path) -> Iterator[PageVisit]:
    for needed, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not needed.exists():
            pytest.fail(
                f"{needed} is missing: apt-get install {package} (scripts/install-test-deps)"
            )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        for argument in (
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}",
        ):  # fmt: skip
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        try:
            driver.get(path.absolute().as_uri())
            console = driver.get_log("browser")  # type: ignore[no-untyped-call]
            requests = []
            for entry in driver.get_log("performance"):  # type: ignore[no-untyped-call]
                message = json.loads(entry["message"])["message"]
                if message["method"] == "Network.requestWillBeSent":
                    requests.append(message["params"]["request"]["url"])
            yield PageVisit(driver, console, requests)
        finally:
            driver.quit()


def remote_requests(visit: PageVisit) -> list[str]:
    return [url for url in visit.requests if not url.startswith(LOCAL_SCHEMES)]
