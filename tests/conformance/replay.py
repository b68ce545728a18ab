"""Replay recorded exchanges of the real Batch service against the emulator, in order.

A recording (``recordings/*.json``) keeps, per source file of the Azure SDKs' own test
recordings, the exchanges we depend on: request (method, URI, body) and the answer (status,
the headers and body fields that the runner or the emulator's tests read). Each exchange is
sent through the SDK's own pipeline (``BatchClient.send_request``: SharedKey auth, retries,
Batch error mapping) and the answer compared:

- status code, always;
- every field kept in the recorded body: values equal (enums case-sensitively, as Batch wrote
  them), except fields that differ by nature (ids of requests, times, ETags, URLs), which
  must be present with the same JSON type;
- recorded headers: ``ETag``/``Last-Modified``/``Date`` present, the others equal;
- raw bodies (file downloads) byte for byte.

What a recording cannot show as-is is adapted, each adaptation named (``ADAPTATIONS``) and
counted. An exchange is ``matched``, ``differs`` (with the differences) or ``out of scope``
with its reason.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RECORDINGS = Path(__file__).parent / "recordings"
API_VERSION = "2025-06-01"

ADAPTATIONS = {
    "pool-by-setup": "the pool the recorded test made with POST /pools is made by the test "
    "(PoolSpec), as `pulumi up` makes the stack's pools",
    "job-by-setup": "a job or task made by an earlier test of the recorded suite is made by setup",
    "windows-command": "a Windows command line (cmd /c echo ...) replaced by one that writes the "
    "same bytes on Linux (printf '...\\r\\n')",
    "no-node": "the recorded pool had no node ready: the emulator holds tasks (hold=True)",
    "foreign-items": "items made by other tests of the recorded suite are not looked for",
    "timing": "a value that depends on when the real service was asked (allocation in "
    "progress, counts of tasks run by other tests) is compared by type, not value",
    "poll": "the request is one step of a polling loop: repeated (up to 10 s) until it gives "
    "the recorded status",
    "wait-for-tasks": "the recorded test polled until its tasks completed: the replay waits too",
    "node-ready": "the recorded pool's node became ready here: the emulator stops holding tasks",
    "windows-node": "a Windows node lists files with creationTime and without fileMode: not "
    "compared (the emulator is a Linux node, as the Go SDK's recording shows one)",
    "api-version": "recorded at api-version 2024-07-01.20.0, replayed at 2025-06-01",
    "sanitized-id": "the recording replaced the job's id by 'Sanitized' in bodies: the id from "
    "its URLs is used and the id field is not compared",
    "terminatejob-lag": "the recorded job (onAllTasksComplete=terminatejob) took tasks 2 s after "
    "it was created empty and stayed active with all its tasks completed; the emulator "
    "applies terminatejob at once (the reference): switched off for this recording",
}
API_VERSIONS = (API_VERSION, "2024-07-01.20.0")

# Fields whose value differs by nature between two runs: same JSON type is enough.
_BY_TYPE = {
    "url",
    "location",
    "eTag",
    "lastModified",
    "creationTime",
    "stateTransitionTime",
    "previousStateTransitionTime",
    "allocationStateTransitionTime",
    "startTime",
    "endTime",
    "timestamp",
}
_TIME_HEADERS = {"etag", "last-modified", "date", "ocp-creation-time"}
_ITEM_KEYS = ("id", "taskId", "name")


@dataclass
class Outcome:
    recording: str
    index: int
    method: str
    uri: str
    status: str  # "matched" | "differs" | "out of scope"
    reason: str = ""
    differences: list[str] = field(default_factory=list)
    adaptations: list[str] = field(default_factory=list)
    pool: bool = False  # a pool route (compute-emu's model)

    def line(self) -> str:
        detail = self.reason or "; ".join(self.differences)
        return f"{self.recording}#{self.index} {self.method} {self.uri}: {self.status} {detail}"


def recordings() -> list[Path]:
    return sorted(RECORDINGS.glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


# -- comparing ------------------------------------------------------------------------------


def _same_type(recorded: Any, actual: Any) -> bool:
    if isinstance(recorded, bool) or isinstance(actual, bool):
        return type(recorded) is type(actual)
    if isinstance(recorded, int | float) and isinstance(actual, int | float):
        return True
    return type(recorded) is type(actual)


def compare(recorded: Any, actual: Any, where: str, loose: set[str]) -> Iterator[str]:
    """Differences between a kept recorded value and the emulator's (recorded keys only)."""
    if isinstance(recorded, dict):
        if not isinstance(actual, dict):
            yield f"{where}: {type(actual).__name__} where Batch sent an object"
            return
        for key, value in recorded.items():
            path = f"{where}.{key}" if where else key
            if key not in actual:
                yield f"{path} missing"
            elif key == "odata.nextLink":  # same path and query; the skip token is opaque
                if _link(actual[key]) != _link(value):
                    yield f"{path}: {actual[key]!r} where Batch sent {value!r}"
            elif key == "odata.metadata":  # hosts differ; what follows '#' names the entity
                if str(actual[key]).partition("#")[2] != str(value).partition("#")[2]:
                    yield f"{path}: {actual[key]!r} where Batch sent {value!r}"
            elif key in _BY_TYPE or key in loose:
                if not _same_type(value, actual[key]):
                    yield f"{path}: {actual[key]!r} is not a {type(value).__name__} like {value!r}"
            else:
                yield from compare(value, actual[key], path, loose)
    elif isinstance(recorded, list):
        yield from _compare_list(recorded, actual, where, loose)
    elif not _same_type(recorded, actual) or recorded != actual:
        yield f"{where}: {actual!r} where Batch sent {recorded!r}"


def _link(url: Any) -> tuple[str, dict[str, str]]:
    parts = urllib.parse.urlsplit(str(url))
    query = dict(urllib.parse.parse_qsl(parts.query))
    query["$skiptoken"] = "*" if "$skiptoken" in query else ""
    return parts.path, query


def _item_key(item: Any) -> tuple[str, Any] | None:
    if isinstance(item, dict):
        for key in _ITEM_KEYS:
            if key in item:
                return key, item[key]
    return None


def _compare_list(recorded: list[Any], actual: Any, where: str, loose: set[str]) -> Iterator[str]:
    if not isinstance(actual, list):
        yield f"{where}: {type(actual).__name__} where Batch sent a list"
        return
    keyed = [_item_key(item) for item in recorded]
    if recorded and all(keyed):  # resources: matched by id/name, order free
        for item, (key, value) in zip(recorded, keyed, strict=True):  # type: ignore[misc]
            found = [a for a in actual if isinstance(a, dict) and a.get(key) == value]
            if not found:
                yield f"{where}[{key}={value}] missing"
            else:
                yield from compare(item, found[0], f"{where}[{value}]", loose)
        return
    if len(recorded) != len(actual):
        yield f"{where}: {len(actual)} item(s) where Batch sent {len(recorded)}"
        return
    for n, (item, other) in enumerate(zip(recorded, actual, strict=True)):
        yield from compare(item, other, f"{where}[{n}]", loose)


# -- replaying ------------------------------------------------------------------------------


def _send(client: Any, emulator: Any, exchange: dict[str, Any]) -> Any:
    from azure.core.exceptions import HttpResponseError
    from azure.core.rest import HttpRequest

    uri = exchange["uri"]
    path, _, query = uri.partition("?")
    params = dict(part.split("=", 1) for part in query.split("&") if part)
    params["api-version"] = API_VERSION
    headers = {"accept": "application/json"}
    body = exchange.get("request")
    content = None
    if exchange["method"] in ("POST", "PUT", "PATCH"):
        headers["content-type"] = "application/json; odata=minimalmetadata"
        content = json.dumps(body) if body is not None else ""
    request = HttpRequest(
        exchange["method"], f"{emulator.url}{path}", params=params, headers=headers, content=content
    )
    try:
        response = client.send_request(request)
    except HttpResponseError as error:  # the SDK maps Batch's errors; the answer is kept
        response = error.response
    response.read()
    return response


def _check(exchange: dict[str, Any], response: Any) -> list[str]:
    differences = []
    if response.status_code != exchange["status"]:
        differences.append(f"status {response.status_code} where Batch sent {exchange['status']}")
    loose = set(exchange.get("loose", ()))
    loose_headers = {name.lower() for name in exchange.get("loose_headers", ())} | _TIME_HEADERS
    for name, value in (exchange.get("headers") or {}).items():
        got = response.headers.get(name)
        if got is None:
            differences.append(f"header {name} missing")
        elif name.lower() in ("location", "dataserviceid"):  # the account's host differs
            if urllib.parse.urlsplit(got).path != urllib.parse.urlsplit(value).path:
                differences.append(f"header {name}: {got!r} where Batch sent {value!r}")
        elif name.lower() not in loose_headers and got != value:
            differences.append(f"header {name}: {got!r} where Batch sent {value!r}")
    if "raw" in exchange:
        if response.content != exchange["raw"].encode():
            differences.append(f"body {response.content!r} where Batch sent {exchange['raw']!r}")
    elif exchange.get("response") is not None:
        try:
            body = json.loads(response.content or b"null")
        except ValueError:
            body = response.content
        differences.extend(compare(exchange["response"], body, "", loose))
        items = body.get("value") if isinstance(body, dict) else None
        recorded = exchange["response"].get("value") or []
        if exchange.get("all_items") and len(items or []) != len(recorded):  # a filter
            differences.append(f"{len(items or [])} items where Batch sent {len(recorded)}")
    return differences


def _setup(data: dict[str, Any], azurite: Any = None) -> Any:
    from tests.emulator.pools import PoolSpec
    from tests.emulator.server import start_emulator

    setup = data.get("setup", {})
    specs = [
        PoolSpec(
            id=pool["id"],
            dedicated=pool.get("dedicated", 0),
            formula=pool.get("formula"),
            interval_seconds=pool.get("interval_seconds", 900.0),
            slots=pool.get("slots", 1),
            # the recorded pools have no containerConfiguration: tasks run without images
            container=pool.get("container", False),
        )
        for pool in setup.get("pools", [])
    ]
    emulator = start_emulator(azurite=azurite, pool=specs[0] if specs else None, container=False)
    for spec in specs[1:]:
        emulator.add_pool(spec)
    emulator.hold = bool(setup.get("hold"))
    emulator.terminate_at_once = setup.get("terminate_at_once", True)
    return emulator


def _prepare(client: Any, setup: dict[str, Any]) -> None:
    from azure.batch import models as m

    for job in setup.get("jobs", []):
        client.create_job(
            m.BatchJobCreateOptions(id=job["id"], pool_info=m.BatchPoolInfo(pool_id=job["poolId"]))
        )
    for task in setup.get("tasks", []):
        client.create_task(
            task["jobId"], m.BatchTaskCreateOptions(id=task["id"], command_line=task["commandLine"])
        )


def replay(path: Path) -> list[Outcome]:
    data = load(path)
    emulator = _setup(data)
    outcomes = []
    try:
        client = emulator.client()
        _prepare(client, data.get("setup", {}))
        for index, exchange in enumerate(data["exchanges"]):
            outcome = Outcome(
                path.stem,
                index,
                exchange["method"],
                exchange["uri"],
                "out of scope",
                adaptations=list(exchange.get("adapt", ())),
                pool=exchange["uri"].startswith("/pools"),
            )
            outcomes.append(outcome)
            if "out_of_scope" in exchange:
                outcome.reason = exchange["out_of_scope"]
                continue
            if "node-ready" in outcome.adaptations:
                emulator.hold = False
            if "wait-for-tasks" in outcome.adaptations:
                emulator.wait_idle(30)
            deadline = time.monotonic() + 60  # a guard: it ends once the answer matches
            while True:
                response = _send(client, emulator, exchange)
                differences = _check(exchange, response)
                if not differences or "poll" not in outcome.adaptations:
                    break
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            outcome.status = "differs" if differences else "matched"
            outcome.differences = differences
    finally:
        emulator.stop()
    bugs = emulator.bug_reports()
    assert not bugs, f"the emulator raised while replaying {path.name}: {bugs}"
    return outcomes


# -- summary --------------------------------------------------------------------------------


def summary(outcomes: list[Outcome]) -> dict[str, Any]:
    in_scope = [o for o in outcomes if o.status != "out of scope"]
    adapted = Counter(a for o in in_scope for a in o.adaptations)
    return {
        "recordings": len({o.recording for o in outcomes}),
        "exchanges": len(outcomes),
        "in_scope": len(in_scope),
        "matched": sum(1 for o in in_scope if o.status == "matched"),
        "differs": [o.line() for o in in_scope if o.status == "differs"],
        "out_of_scope": dict(
            Counter(o.reason for o in outcomes if o.status == "out of scope").most_common()
        ),
        "adapted_exchanges": sum(1 for o in in_scope if o.adaptations),
        "adaptations": dict(adapted.most_common()),
    }


def replay_all() -> list[Outcome]:
    return [outcome for path in recordings() for outcome in replay(path)]


def render(report: dict[str, Any]) -> str:
    lines = [
        f"conformance: {report['recordings']} recordings, {report['exchanges']} exchanges, "
        f"{report['in_scope']} in scope, {report['matched']} matched, "
        f"{len(report['differs'])} differ, "
        f"{report['exchanges'] - report['in_scope']} out of scope",
        f"adapted: {report['adapted_exchanges']} exchange(s): "
        + ", ".join(f"{name} x{n}" for name, n in report["adaptations"].items()),
        "out of scope:",
        *(f"  {n} x {reason}" for reason, n in report["out_of_scope"].items()),
    ]
    if report["differs"]:
        lines += ["differ:", *(f"  {line}" for line in report["differs"])]
    return "\n".join(lines)
