"""`superbatch report` through the real command, the page opened in headless chromium."""

from __future__ import annotations

import json
from pathlib import Path

from tests.runner.conftest import superbatch, write
from tests.support.browser import open_page, remote_requests

# n=1,2 fail their first attempt and then succeed; n=3 fails both: 6 attempts in all.
FLAKY = {
    "p.csv": "n\n1\n2\n3\n",
    "job.toml": """\
        name = "flaky"
        tasks = "p.csv"
        retries = 1
        command = '''if [ {n} = 3 ]; then echo 'bad row 3' >&2; exit 5; fi
        test -e ../../flaky-{n} || { touch ../../flaky-{n}; echo 'first try' >&2; exit 3; }
        sleep 0.2; echo ok'''
        """,
}


def check_report_page(html: Path, numbers: dict, attempts_in_timings: int) -> None:  # type: ignore[type-arg]
    with open_page(html) as visit:
        assert visit.console == []  # no console error (nor anything else)
        assert remote_requests(visit) == []  # loads nothing from anywhere
        bars = visit.driver.find_elements("css selector", "svg.gantt rect.attempt")
        assert len(bars) == numbers["attempts"] == attempts_in_timings
        pairs = {(b.get_attribute("data-task"), b.get_attribute("data-attempt")) for b in bars}
        assert len(pairs) == len(bars)  # one bar per task attempt

        def cell(key: str) -> str:
            return str(visit.driver.find_element("id", key).text)

        assert cell("pool") == numbers["pool"]
        assert cell("tasks") == str(numbers["tasks"])
        assert cell("attempts") == str(numbers["attempts"])
        assert cell("node-hours") == f"{numbers['node_hours']:.4f}"
        assert cell("cost") == f"{numbers['cost']:.2f}"
        assert cell("price") == f"{numbers['price_per_node_hour']:g} ({numbers['price_source']})"
        assert cell("duration-median") == f"{numbers['durations']['median']:.2f}"
        groups = visit.driver.find_elements("css selector", "tr.failure-group")
        assert len(groups) == len(numbers["failures"])
        bins = visit.driver.find_elements("css selector", "svg.histogram rect.bin")
        assert (
            sum(int(b.get_attribute("data-count")) for b in bins) == numbers["durations"]["count"]
        )


def test_report_page_in_chromium_matches_json(project: Path) -> None:
    write(project, FLAKY)
    run = superbatch("run", "job.toml", "--local", "--no-container", "--json", cwd=project)
    assert run.code == 1
    job_id = run.json()["job_id"]
    timings = json.loads((project / "results" / job_id / "timings.json").read_text())
    attempts = sum(len(t["attempts"]) for t in timings["tasks"])
    assert attempts == 6
    manifest = (project / "results" / job_id / "manifest.json").read_text()
    assert "start" not in manifest and "time" not in manifest  # timings live beside it

    price = ("--price-per-node-hour", "3.5")
    numbers = superbatch("report", job_id, "--local", *price, "--json", cwd=project).json()
    assert numbers["pool"] == "default"  # the job's pool, as status names it
    assert numbers["failures"] == [{"error": "bad row 3", "count": 1, "tasks": ["2"]}]
    assert numbers["cost"] == numbers["node_hours"] * 3.5 > 0
    assert numbers["price_source"] == "--price-per-node-hour"
    html = Path(numbers["html"])
    assert html == project / "results" / job_id / "report.html"
    check_report_page(html, numbers, attempts)
    # No stack here: without the flag there is no price, so no cost (never a lookup).
    unpriced = superbatch("report", job_id, "--local", "--json", cwd=project).json()
    assert (unpriced["cost"], unpriced["price_source"]) == (None, None)
    assert unpriced["node_hours"] == numbers["node_hours"]
