"""Seeded fault injection per route (route = the SDK operation name, e.g. ``create_task``).

``emulator.faults.add("create_task_collection", "503", rate=0.1)`` makes one request in ten
to that route fail with 503 ``ServerBusy``. Kinds:

- ``"429"``: 429 ``TooManyRequests`` with ``Retry-After`` (seconds, ``retry_after=``),
- ``"503"``: 503 ``ServerBusy`` with ``Retry-After``,
- ``"403"``: 403 ``AuthorizationFailure``: the caller's role does not grant the operation
  (e.g. a runner without the pool-scoped re-arm role calling ``enableautoscale``),
- ``"reset_before"``: the connection is reset before the request is processed,
- ``"reset_after"``: the request IS processed (the task exists) but the connection is reset
  instead of answering, so the client sees an error for work that was done,
- ``"latency"``: ``latency=`` seconds are added before the answer.

``times=N`` limits a rule to its first N hits (``rate`` defaults to 1.0); ``after=N`` lets the
first N requests to the route pass untouched (e.g. the first task collection lands, every
later one is reset: a submission stalled part-way, for certain). Draws come from one
``random.Random(seed)`` so a run is repeatable for the same request order.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass

KINDS = ("429", "503", "403", "reset_before", "reset_after", "latency")


@dataclass
class FaultRule:
    route: str
    kind: str
    rate: float = 1.0
    times: int | None = None
    retry_after: float = 1
    latency: float = 0.0
    after: int = 0
    hits: int = 0
    passed: int = 0  # requests let through untouched because of ``after``


class FaultPlan:
    def __init__(self, seed: int = 0) -> None:
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.rules: list[FaultRule] = []
        self.injected: Counter[str] = Counter()  # "route:kind" -> times injected

    def add(
        self,
        route: str,
        kind: str,
        *,
        rate: float = 1.0,
        times: int | None = None,
        retry_after: float = 1,
        latency: float = 0.0,
        after: int = 0,
    ) -> FaultRule:
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; choose one of {KINDS}")
        rule = FaultRule(route, kind, rate, times, retry_after, latency, after)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self.injected.clear()

    def seed(self, seed: int) -> None:
        with self._lock:
            self._random.seed(seed)

    def draw(self, route: str) -> list[FaultRule]:
        """The rules that fire for this request (latency rules may combine with one other)."""
        fired: list[FaultRule] = []
        with self._lock:
            for rule in self.rules:
                if rule.route not in (route, "*"):
                    continue
                if rule.times is not None and rule.hits >= rule.times:
                    continue
                if rule.passed < rule.after:
                    rule.passed += 1
                    continue
                if rule.kind != "latency" and any(f.kind != "latency" for f in fired):
                    continue
                if self._random.random() < rule.rate:
                    rule.hits += 1
                    self.injected[f"{route}:{rule.kind}"] += 1
                    fired.append(rule)
        return fired
