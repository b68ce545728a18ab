"""One retry policy per Azure client (Batch, storage), bounded in total time.

Every request to Batch or storage is retried by its client's pipeline, once, here:

- transient failures (no connection, a reset, a timeout, 408/429/500/502/503/504) are
  retried after 0, 1, 2, 4, 8 s (Batch, azure-core's exponential schedule) or 0.5-8 s
  (storage, jittered), and a server's ``Retry-After`` (``retry-after-ms``,
  ``x-ms-retry-after-ms``, ``Retry-After``) is honoured up to :data:`RETRY_AFTER_MAX`;
- a request gives up after :data:`TOTAL_SECONDS` in all (``SUPERBATCH_RETRY_SECONDS``
  changes it; an attempt is not started when it could not end in time): an unreachable
  endpoint is one line in under 30 s, not minutes;
- an attempt waits at most :data:`CONNECT_TIMEOUT` to connect and :data:`READ_TIMEOUT`
  between bytes of the answer (azure-core's defaults are 300 s; storage's backoff starts
  at 15 s).

Nothing outside retries these requests again (``call_with_retries`` only translates
errors), except the non-idempotent POSTs, which keep their explicit reconciliation
(adding tasks: a listing of ids after a failed collection; creating the job: "already
exists" is success).
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping
from typing import Any

TOTAL_SECONDS = 20.0  # with a CLI start (3-5 s on a busy machine): under 30 s
TOTAL_ENV_VAR = "SUPERBATCH_RETRY_SECONDS"  # another bound, e.g. for a flaky CI network
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
RETRIES = 6
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 8.0
RETRY_AFTER_MAX = 10.0


def total_seconds() -> float:
    """How long one request may take with its retries (``SUPERBATCH_RETRY_SECONDS``)."""
    import os

    value = os.environ.get(TOTAL_ENV_VAR)
    if not value:
        return TOTAL_SECONDS
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 1 <= seconds <= 3600:
        from superbatch.errors import ConfigError

        raise ConfigError(f"{TOTAL_ENV_VAR}={value!r}: give seconds from 1 to 3600")
    return seconds


def transport_timeouts() -> dict[str, float]:
    """``connection_timeout`` / ``read_timeout`` for an azure-core transport."""
    total = total_seconds()
    return {
        "connection_timeout": min(CONNECT_TIMEOUT, total / 2),
        "read_timeout": min(READ_TIMEOUT, total / 2),
    }


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds a server asked us to wait (``retry-after-ms``, ``x-ms-retry-after-ms`` or
    ``Retry-After`` as seconds or an HTTP date), or None."""
    if not headers:
        return None
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        value = headers.get(name)
        if value:
            try:
                return max(0.0, float(value) / 1000)
            except ValueError:
                pass
    value = headers.get("Retry-After") or headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def backoff(retry: int, server_asked: float | None = None) -> float:
    """Seconds before retry number ``retry`` (1, 2, ...): the server's ``Retry-After``
    (capped), else 0.5, 1, 2, 4, 8, 8 ... with jitter."""
    if server_asked is not None:
        return min(server_asked, RETRY_AFTER_MAX)
    return min(BACKOFF_MAX, BACKOFF_FIRST * 2.0 ** (retry - 1)) * random.uniform(0.5, 1.0)


_LAST_ERROR = "superbatch_last_error"


def unexplained_400(response: Any) -> bool:
    """Whether ``response`` (an azure-core HTTP response, or None) is a 400 without Batch's
    JSON error body: not Batch's answer.

    Batch refuses a request with its JSON error body (a code and a message), and such a
    refusal is final. A 400 without one was said by something else on the way (a proxy or
    gateway that broke the exchange, or in a test run another loopback server), so the
    Batch retry policy and the task submitter both treat it like a lost connection: tried
    again within the same bounds (the submitter reconciles by listing, the request may have
    reached Batch). The one rule for both, so they cannot drift apart.
    """
    if response is None or getattr(response, "status_code", None) != 400:
        return False
    headers = response.headers  # azure-core's: case-insensitive
    explained = (
        "json" in (headers.get("Content-Type") or "").lower()
        and headers.get("Content-Length") != "0"
    )
    return not explained


def batch_retry_policy() -> Any:
    """azure-core's RetryPolicy with our bounds (it already honours Retry-After)."""
    from azure.core.pipeline.policies import RetryPolicy

    read_timeout = transport_timeouts()["read_timeout"]

    class BoundedRetryPolicy(RetryPolicy):  # type: ignore[type-arg]
        # azure-core bounds the attempts by `timeout`, not the sleeps between them: a wait
        # never outlasts the time left (the next attempt then raises the last error).
        def configure_retries(self, options: dict[str, Any]) -> dict[str, Any]:
            settings: dict[str, Any] = super().configure_retries(options)
            settings["superbatch_end"] = time.monotonic() + float(settings["timeout"])
            return settings

        def get_backoff_time(self, settings: dict[str, Any]) -> float:
            left = float(settings["superbatch_end"]) - time.monotonic()
            return max(0.0, min(float(super().get_backoff_time(settings)), left))

        def is_retry(self, settings: Any, response: Any) -> bool:
            if unexplained_400(response.http_response):
                return True  # not Batch's refusal: like a lost connection (see there)
            return bool(super().is_retry(settings, response))

        def increment(self, settings: Any, response: Any = None, error: Any = None) -> bool:
            if error is not None and hasattr(response, "context"):
                response.context[_LAST_ERROR] = error  # why it failed, for the final error
            return bool(super().increment(settings, response=response, error=error))

        def _configure_timeout(
            self, request: Any, absolute_timeout: float, is_response_error: bool
        ) -> None:
            last = request.context.get(_LAST_ERROR)
            if absolute_timeout <= 0 and last is not None:
                raise last  # out of time: the last real failure says more than "timeout"
            super()._configure_timeout(request, absolute_timeout, is_response_error)
            # azure-core bounds the connect by the time left, not the wait for an answer
            options = request.context.options
            options["read_timeout"] = max(0.1, min(read_timeout, absolute_timeout))

        def sleep(self, settings: Any, transport: Any, response: Any = None) -> None:
            asked = self.get_retry_after(response) if response is not None else None
            if asked:
                left = settings["superbatch_end"] - time.monotonic()
                transport.sleep(max(0.0, min(asked, RETRY_AFTER_MAX, left)))
                return
            self._sleep_backoff(settings, transport)

    return BoundedRetryPolicy(
        retry_total=RETRIES,
        retry_connect=RETRIES,
        retry_read=RETRIES,  # bounded by the time left (read_timeout above)
        retry_status=RETRIES,
        retry_backoff_factor=BACKOFF_FIRST,  # azure-core: 0, 1, 2, 4, 8 s
        retry_backoff_max=BACKOFF_MAX,
        timeout=total_seconds(),
    )


def storage_retry_policy() -> Any:
    """azure-storage-blob's retry policy with our schedule, deadline and Retry-After."""
    from azure.storage.blob._shared.policies import StorageRetryPolicy

    total = total_seconds()

    class BoundedStorageRetry(StorageRetryPolicy):
        def __init__(self) -> None:
            super().__init__(
                retry_total=RETRIES,
                retry_connect=RETRIES,
                retry_read=RETRIES,  # bounded by the deadline in increment()
                retry_status=RETRIES,
                retry_to_secondary=False,
            )

        def configure_retries(self, request: Any) -> dict[str, Any]:
            settings: dict[str, Any] = super().configure_retries(request)
            now = time.monotonic()
            settings.update(deadline=now + total, attempt_start=now, asked=None)
            return settings

        def increment(
            self, settings: dict[str, Any], request: Any, response: Any = None, error: Any = None
        ) -> bool:
            settings["asked"] = retry_after(getattr(response, "headers", None))
            if not super().increment(settings, request, response=response, error=error):
                return False
            # Start another attempt only if it can end in time, were it as slow as this one.
            now = time.monotonic()
            last = now - settings["attempt_start"]
            wait = self.get_backoff_time(settings)
            if now + wait + last > settings["deadline"]:
                return False
            settings["attempt_start"] = now + wait
            return True

        def get_backoff_time(self, settings: dict[str, Any]) -> float:
            if "wait" in settings and settings.get("wait_count") == settings["count"]:
                return float(settings["wait"])  # the same wait increment() planned with
            settings["wait"] = backoff(settings["count"], settings.get("asked"))
            settings["wait_count"] = settings["count"]
            return float(settings["wait"])

    return BoundedStorageRetry()


class Deadline:
    """The same bounds for our own loops (the lean uploader, adding task collections)."""

    def __init__(self, seconds: float | None = None) -> None:
        self.end = time.monotonic() + (total_seconds() if seconds is None else seconds)
        self.retries = 0
        self._attempt_start = time.monotonic()

    def retry(self, server_asked: float | None = None) -> bool:
        """Sleep before the next attempt and return True, or False when it would not end in
        time (or the retries are used up)."""
        self.retries += 1
        if self.retries > RETRIES:
            return False
        now = time.monotonic()
        wait = backoff(self.retries, server_asked)
        if now + wait + (now - self._attempt_start) > self.end:
            return False
        time.sleep(wait)
        self._attempt_start = time.monotonic()
        return True
