"""The OData subset Batch list calls take: ``$filter``, ``$select``, ``maxresults``, paging.

``$filter`` accepts ``path eq 'value'`` / ``ne`` clauses (``path`` may be nested with ``/``,
e.g. ``executionInfo/result``) and ``startswith(path, 'prefix')`` (which a recording of the
real service shows on pool ids) joined by ``and`` / ``or`` (``and`` binds tighter), which
covers what the runner sends; anything else is Batch's 400 ``InvalidQueryParameterValue``.
Pages hold ``maxresults`` items (default and maximum 1000) and link to the next one with an
absolute ``odata.nextLink`` that repeats the query and adds ``$skiptoken``.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

from tests.emulator.errors import BatchServiceError

MAX_RESULTS = 1000
_CLAUSE = re.compile(r"^\s*([A-Za-z][\w/]*)\s+(eq|ne)\s+'((?:[^']|'')*)'\s*$")
_STARTSWITH = re.compile(r"^\s*startswith\(\s*([A-Za-z][\w/]*)\s*,\s*'((?:[^']|'')*)'\s*\)\s*$")


def bad_query(name: str, value: str, reason: str) -> BatchServiceError:
    return BatchServiceError(
        400,
        "InvalidQueryParameterValue",
        "Value for one of the query parameters specified in the request URI is invalid.",
        QueryParameterName=name,
        QueryParameterValue=value,
        Reason=reason,
    )


def _lookup(item: dict[str, Any], path: str) -> Any:
    value: Any = item
    for part in path.split("/"):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def compile_filter(text: str | None) -> Callable[[dict[str, Any]], bool]:
    if not text:
        return lambda _item: True
    alternatives: list[list[tuple[str, str, str]]] = []
    for alternative in re.split(r"\s+or\s+", text):
        clauses = []
        for clause in re.split(r"\s+and\s+", alternative):
            prefix = _STARTSWITH.match(clause.strip())
            match = _CLAUSE.match(clause.strip("() "))
            if prefix is not None:
                clauses.append((prefix[1], "startswith", prefix[2].replace("''", "'")))
            elif match is not None:
                clauses.append((match[1], match[2], match[3].replace("''", "'")))
            else:
                raise bad_query("$filter", text, f"unsupported clause: {clause.strip()}")
        alternatives.append(clauses)

    def matches(item: dict[str, Any]) -> bool:
        def clause_holds(path: str, op: str, value: str) -> bool:
            actual = _lookup(item, path)
            if op == "startswith":
                return actual is not None and str(actual).lower().startswith(value.lower())
            equal = actual is not None and str(actual).lower() == value.lower()
            return equal if op == "eq" else not equal

        return any(all(clause_holds(*c) for c in clauses) for clauses in alternatives)

    return matches


def apply_select(item: dict[str, Any], select: str | None) -> dict[str, Any]:
    if not select:
        return item
    names = [name.strip() for name in select.split(",") if name.strip()]
    return {name: item[name] for name in names if name in item}


def page(
    items: Sequence[dict[str, Any]],
    query: dict[str, str],
    url_without_query: str,
) -> dict[str, Any]:
    """One page of ``items`` for the request's query, with ``odata.nextLink`` when more.

    ``items`` may be the store's live dicts (call under the store's lock): only the page is
    copied out.
    """
    raw_max = query.get("maxresults", str(MAX_RESULTS))
    try:
        max_results = int(raw_max)
    except ValueError:
        raise bad_query("maxresults", raw_max, "not an integer") from None
    if max_results < 1:  # as Batch answers maxresults=-5 (JS SDK pool listing recording)
        raise bad_query("maxresults", raw_max, "MaxResults cannot be less than 1")
    if max_results > MAX_RESULTS:
        raise BatchServiceError(
            400,
            "OutOfRangeQueryParameterValue",
            "A query parameter specified in the request URI is outside the permissible range.",
            QueryParameterName="maxresults",
            QueryParameterValue=raw_max,
        )
    raw_skip = query.get("$skiptoken", "0")
    if not raw_skip.isdigit():
        raise bad_query("$skiptoken", raw_skip, "not a continuation token from this service")
    start = int(raw_skip)
    chunk = items[start : start + max_results]
    parts = urllib.parse.urlsplit(url_without_query)
    entity = parts.path.rstrip("/").rsplit("/", 1)[-1]  # jobs, tasks, files, nodes, pools
    body: dict[str, Any] = {  # as Batch: "{account}/$metadata#files" (.NET GetTaskFile)
        "odata.metadata": f"{parts.scheme}://{parts.netloc}/$metadata#{entity}",
        # a deep copy of just this page: callers pass live state and hold its lock
        "value": json.loads(
            json.dumps([apply_select(item, query.get("$select")) for item in chunk])
        ),
    }
    if start + max_results < len(items):
        next_query = {k: v for k, v in query.items() if k != "$skiptoken"}
        next_query["$skiptoken"] = str(start + max_results)
        body["odata.nextLink"] = f"{url_without_query}?{urllib.parse.urlencode(next_query)}"
    return body
