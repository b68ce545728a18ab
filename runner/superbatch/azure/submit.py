"""Submission: the job, then its tasks in collections, exactly once each, at any size.

- The job is created with ``onAllTasksComplete=noaction`` (a job with no tasks yet would
  terminate at once) and switched to ``terminatejob`` after the last task is added.
- Tasks go out in ``addtaskcollection`` requests of at most 100 tasks and under 1 MB,
  pre-serialized, several in flight at once, generated lazily so memory stays flat.
- We do not use the SDK's ``create_tasks``: it re-queues a persistent 5xx forever. Here
  each collection has an attempt cap and the whole submission a deadline.
- Idempotent: task ids are stable, ``TaskExists`` counts as success. A request that failed
  in any way may have been processed anyway (a reset after the server answered), so after
  any error one ``list_tasks($select=id)`` reconciles: what is missing is sent again,
  nothing is ever added twice (Batch refuses a second task with the same id).
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from superbatch.azure.errors import (
    ThrottledError,
    call_with_retries,
    error_code,
    translate_azure_error,
)
from superbatch.azure.retry import backoff, retry_after, unexplained_400
from superbatch.azure.wire import wire_enum
from superbatch.errors import RemoteError

if TYPE_CHECKING:
    from azure.batch import BatchClient

_LOGGER = logging.getLogger(__name__)

MAX_TASKS_PER_REQUEST = 100
MAX_BODY_BYTES = 1_000_000  # Batch refuses 1 MiB; leave room for the envelope
SUBMIT_CONCURRENCY = 16
MAX_ATTEMPTS = 8
DEADLINE_SECONDS = 1800.0
# Per-task results that mean "send this task again later".
_RETRYABLE_TASK_CODES = {"ServerBusy", "OperationTimedOut", "InternalError"}


@dataclass(frozen=True, slots=True)
class Chunk:
    tasks: tuple[tuple[str, bytes], ...]
    attempt: int = 0
    asked: float | None = None  # the Retry-After of the answer that made us send it again

    def body(self) -> bytes:
        return b'{"value":[' + b",".join(body for _, body in self.tasks) + b"]}"


@dataclass
class SubmitReport:
    added: int = 0
    already_present: int = 0
    requests: int = 0
    errors: int = 0
    reconciliations: int = 0


def chunk_bodies(bodies: Iterable[tuple[str, bytes]]) -> Iterator[Chunk]:
    """Group serialized tasks into collections of <= 100 tasks and < 1 MB, lazily."""
    current: list[tuple[str, bytes]] = []
    size = 0
    for task_id, body in bodies:
        if len(body) + 16 > MAX_BODY_BYTES:
            raise RemoteError(f"task {task_id} is larger than Batch's 1 MB request limit")
        if current and (
            len(current) >= MAX_TASKS_PER_REQUEST or size + len(body) + 1 > MAX_BODY_BYTES
        ):
            yield Chunk(tuple(current))
            current, size = [], 16
        current.append((task_id, body))
        size += len(body) + 1
    if current:
        yield Chunk(tuple(current))


def existing_task_ids(client: BatchClient, job_id: str) -> set[str]:
    """Every task id of the job: one listing, 1000 ids per page, ids only."""
    return call_with_retries(
        lambda: {task.id for task in client.list_tasks(job_id, select=["id"], max_results=1000)},
        action=f"list the tasks of job {job_id}",
    )


@dataclass(frozen=True, slots=True)
class _Outcome:
    added: int = 0
    already_present: int = 0
    failed: bool = False  # the request failed: the server may or may not have processed it
    again: tuple[Chunk, ...] = ()


class TaskSubmitter:
    """Sends collections concurrently with a per-collection attempt cap and a deadline."""

    def __init__(
        self,
        client: BatchClient,
        job_id: str,
        *,
        concurrency: int = SUBMIT_CONCURRENCY,
        max_attempts: int = MAX_ATTEMPTS,
        deadline_seconds: float = DEADLINE_SECONDS,
        on_added: Callable[[int], None] | None = None,
    ) -> None:
        self._client = client
        self._job_id = job_id
        self._concurrency = concurrency
        self._max_attempts = max_attempts
        self._deadline = time.monotonic() + deadline_seconds
        self._on_added = on_added
        self.report = SubmitReport()

    def submit(
        self,
        bodies: Iterable[tuple[str, bytes]],
        *,
        expected: set[str],
        body_for: Callable[[str], bytes],
    ) -> SubmitReport:
        """Add every task in ``bodies``; ``expected`` is every id the job must end up with.

        ``body_for`` rebuilds one task's body when reconciliation finds it missing.
        """
        self._run(chunk_bodies(bodies))
        while self.report.errors:
            # Something failed somewhere: trust only the service's own list of tasks.
            self.report.errors = 0
            self.report.reconciliations += 1
            self.report.requests += 1
            present = existing_task_ids(self._client, self._job_id)
            missing = sorted(expected - present)
            _LOGGER.info("reconciled job %s: %d task(s) missing", self._job_id, len(missing))
            if not missing:
                break
            self._check_deadline(f"{len(missing)} task(s) still missing")
            self._run(chunk_bodies((task_id, body_for(task_id)) for task_id in missing))
        return self.report

    def _run(self, chunks: Iterator[Chunk]) -> None:
        queue: deque[Chunk] = deque()
        with ThreadPoolExecutor(max_workers=self._concurrency) as pool:
            running: set[Future[_Outcome]] = set()
            exhausted = False
            while True:
                while len(running) < self._concurrency and (queue or not exhausted):
                    chunk = queue.popleft() if queue else next(chunks, None)
                    if chunk is None:
                        exhausted = True
                        continue
                    running.add(pool.submit(self._send, chunk))
                if not running:
                    return
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    outcome = future.result()  # fatal errors surface here
                    self.report.requests += 1
                    self.report.added += outcome.added
                    self.report.already_present += outcome.already_present
                    self.report.errors += int(outcome.failed)
                    queue.extend(outcome.again)
                    if self._on_added is not None and outcome.added:
                        self._on_added(outcome.added)

    def _send(self, chunk: Chunk) -> _Outcome:
        """Post one collection (in a worker thread) and sort out its per-task results."""
        if chunk.attempt:
            self._check_deadline(f"{len(chunk.tasks)} task(s) not yet added")
            time.sleep(backoff(chunk.attempt, chunk.asked))
        try:
            values = self._post(chunk.body())
        except Exception as exc:
            return self._after_error(chunk, exc)
        by_id = dict(chunk.tasks)
        retry: list[tuple[str, bytes]] = []
        added = present = 0
        for value in values:
            task_id = value.get("taskId", "")
            error = value.get("error") or {}
            code = error.get("code", "")
            status = wire_enum(value.get("status"))
            if status == "success":
                added += 1
            elif code == "TaskExists":
                present += 1
            elif status == "servererror" or code in _RETRYABLE_TASK_CODES:
                retry.append((task_id, by_id[task_id]))
            else:
                message = (error.get("message") or {}).get("value", "")
                raise RemoteError(f"Batch refused task {task_id}: {code}: {message}")
        again: tuple[Chunk, ...] = ()
        if retry:
            again = (self._retry(Chunk(tuple(retry), chunk.attempt), "servererror results"),)
        return _Outcome(added=added, already_present=present, again=again)

    def _after_error(self, chunk: Chunk, exc: Exception) -> _Outcome:
        code = error_code(exc) or ""
        if code == "RequestBodyTooLarge" and len(chunk.tasks) > 1:
            half = len(chunk.tasks) // 2
            return _Outcome(
                again=(
                    Chunk(chunk.tasks[:half], chunk.attempt),
                    Chunk(chunk.tasks[half:], chunk.attempt),
                )
            )
        status = getattr(exc, "status_code", None)
        # A 400 without Batch's error body is not Batch's refusal (retry.unexplained_400):
        # like a reset, the collection may or may not have been added.
        transient = (
            status is None
            or status in {408, 429}
            or status >= 500
            or unexplained_400(getattr(exc, "response", None))
        )
        if not transient:
            raise translate_azure_error(exc, action=f"add tasks to job {self._job_id}") from exc
        _LOGGER.info("collection of %d task(s) failed (%s): retrying", len(chunk.tasks), exc)
        why = f"{status or type(exc).__name__} {code}".strip()
        asked = retry_after(getattr(getattr(exc, "response", None), "headers", None))
        try:
            retried = self._retry(chunk, why, asked)
        except ThrottledError as throttled:
            raise throttled from exc
        return _Outcome(failed=True, again=(retried,))

    def _retry(self, chunk: Chunk, why: str, asked: float | None = None) -> Chunk:
        if chunk.attempt + 1 >= self._max_attempts:
            raise ThrottledError(
                f"Batch kept failing ({why}) to add {len(chunk.tasks)} task(s) to job "
                f"{self._job_id} after {self._max_attempts} attempts: re-run the same "
                "command later, it resumes where it stopped"
            )
        return Chunk(chunk.tasks, chunk.attempt + 1, asked)

    def _check_deadline(self, what: str) -> None:
        if time.monotonic() > self._deadline:
            raise ThrottledError(
                f"submission to job {self._job_id} passed its deadline with {what}: "
                "re-run the same command later, it resumes where it stopped"
            )

    def _post(self, body: bytes) -> list[dict[str, Any]]:
        from azure.core.rest import HttpRequest

        request = HttpRequest(
            "POST",
            f"/jobs/{self._job_id}/addtaskcollection",
            params={"api-version": self._client._config.api_version},
            headers={
                "content-type": "application/json; odata=minimalmetadata",
                "accept": "application/json",
            },
            content=body,
        )
        # Auth and Batch's error mapping from the pipeline, but not its retries: this loop
        # (attempts, Retry-After, reconciliation by listing) is the one policy for adding.
        response = self._client.send_request(request, retry_total=0)
        response.raise_for_status()
        values: list[dict[str, Any]] = json.loads(response.read()).get("value", [])
        return values
