"""Recorded exchanges of the real Batch service, replayed against the emulator.

Every exchange kept in ``recordings/`` is either matched (status, kept headers and body
fields as Batch sent them) or out of scope with its reason; adaptations are named and
counted. The summary is printed at the end of the run (``python -m tests.conformance``
prints it alone).
"""

from __future__ import annotations

import pytest

from tests.conformance import replay

RECORDINGS = [path.stem for path in replay.recordings()]


def test_recordings_name_their_source_and_every_exchange_is_accounted_for() -> None:
    assert RECORDINGS, "no recordings in tests/conformance/recordings"
    for path in replay.recordings():
        data = replay.load(path)
        source = data["source"]
        assert {"repository", "path", "commit", "api_version", "kept"} <= set(source), path
        assert len(source["commit"]) == 40 and source["api_version"] in replay.API_VERSIONS
        for n, exchange in enumerate(data["exchanges"]):
            assert {"method", "uri", "status"} <= set(exchange), (path.name, n)
            assert exchange.get("out_of_scope", "x").strip(), (path.name, n)
            unknown = set(exchange.get("adapt", ())) - set(replay.ADAPTATIONS)
            assert not unknown, (path.name, n, unknown)


@pytest.mark.parametrize("recording", RECORDINGS)
def test_every_in_scope_exchange_matches(outcomes: list[replay.Outcome], recording: str) -> None:
    mine = [o for o in outcomes if o.recording == recording]
    assert mine, f"{recording} was not replayed"
    differ = [o.line() for o in mine if o.status == "differs"]
    assert not differ, "\n".join(differ)
    for outcome in mine:
        assert outcome.status == "matched" or outcome.reason, outcome.line()


def test_the_comparison_sees_casing_types_and_missing_fields() -> None:
    recorded = {
        "odata.metadata": "https://a.batch.azure.com/$metadata#files",
        "status": "Success",
        "properties": {"contentLength": "20", "lastModified": "2025-09-04T21:42:39Z"},
        "value": [{"id": "a", "state": "active"}],
        "odata.nextLink": "https://a.batch.azure.com/pools?maxresults=1&$skiptoken=x",
    }
    same = {
        "odata.metadata": "http://127.0.0.1:1/$metadata#files",
        "status": "Success",
        "properties": {"contentLength": "20", "lastModified": "2026-01-01T00:00:00Z"},
        "value": [{"id": "b", "state": "active"}, {"id": "a", "state": "active", "x": 1}],
        "odata.nextLink": "http://127.0.0.1:1/pools?maxresults=1&$skiptoken=100",
    }
    assert list(replay.compare(recorded, same, "", set())) == []
    differs = {
        "odata.metadata": "http://127.0.0.1:1/$metadata",
        "status": "success",
        "properties": {"contentLength": 20, "lastModified": "2026-01-01T00:00:00Z"},
        "value": [{"id": "a", "state": "Active"}],
    }
    found = list(replay.compare(recorded, differs, "", set()))
    assert len(found) == 5, found  # metadata, casing, number for string, state, nextLink


def test_the_summary_adds_up(outcomes: list[replay.Outcome]) -> None:
    report = replay.summary(outcomes)
    out_of_scope = sum(report["out_of_scope"].values())
    assert report["in_scope"] + out_of_scope == report["exchanges"] == len(outcomes)
    assert report["matched"] + len(report["differs"]) == report["in_scope"]
    assert report["in_scope"] > out_of_scope
