"""The emulator's HTTP(S) front: a threaded server on 127.0.0.1 speaking Batch's wire protocol.

``start_emulator()`` returns a running :class:`BatchEmulator`; tests use the
``batch_emulator`` fixture (:mod:`tests.emulator.fixtures`). Per request: count it by route,
apply injected faults, check ``api-version`` and authentication, run the route's handler,
answer with Batch's headers and error envelope.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import email.utils
import json
import secrets
import socket
import ssl
import struct
import tempfile
import threading
import time
import traceback
import urllib.parse
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.emulator import casing, job_control, routes
from tests.emulator.auth import authenticate
from tests.emulator.clock import Clock
from tests.emulator.errors import BatchServiceError
from tests.emulator.executor import Node
from tests.emulator.faults import FaultPlan
from tests.emulator.pools import Pool, PoolSpec
from tests.emulator.storage import StorageAccess
from tests.emulator.store import Account
from tests.support.batch_guard import HEADER as STAND_IN_HEADER

if TYPE_CHECKING:
    from azure.batch import BatchClient

    from tests.support.azurite import Azurite

API_VERSION = "2025-06-01"
DEFAULT_IDENTITY = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/superbatch-test"
    "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/superbatch-nodes"
)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    emulator: BatchEmulator

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients dropping their connections is normal; anything else is an emulator bug."""
        import sys

        if not isinstance(sys.exc_info()[1], OSError):
            self.emulator.errors.append(traceback.format_exc())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def date_time_string(self, timestamp: float | None = None) -> str:
        # send_response() adds this Date header itself: the emulated clock's, so an answer
        # carries one Date (a second, host-time one made clients see "host, emulated")
        return email.utils.formatdate(self.server.emulator.clock.now(), usegmt=True)

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()

    def _serve(self) -> None:
        emu = self.server.emulator
        path, _, raw_query = self.path.partition("?")
        query = {k: v[0] for k, v in urllib.parse.parse_qs(raw_query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            found = routes.match(self.command, path)
        except BatchServiceError as error:
            self._send_error(error)
            return
        if found is None:
            self._send_error(job_control.unknown_resource(emu, path))
            return
        name, handler, params = found
        emu.count(name, query.get("$select", ""))
        fired = emu.faults.draw(name)
        delay = sum(rule.latency for rule in fired if rule.kind == "latency")
        if delay:
            time.sleep(delay)
        fault = next((rule for rule in fired if rule.kind != "latency"), None)
        if fault is not None and fault.kind in ("429", "503"):
            code = "TooManyRequests" if fault.kind == "429" else "ServerBusy"
            message = (
                "The server is currently unable to receive requests. Please retry your request."
                if fault.kind == "503"
                else "The request rate is too high. Please retry later."
            )
            retry = {"Retry-After": str(int(fault.retry_after))}
            self._send_error(BatchServiceError(int(fault.kind), code, message), extra=retry)
            return
        if fault is not None and fault.kind == "403":
            self._send_error(
                BatchServiceError(
                    403,
                    "AuthorizationFailure",
                    "This request is not authorized to perform this operation.",
                )
            )
            return
        if fault is not None and fault.kind == "reset_before":
            self._reset()
            return
        try:
            if "api-version" not in query:
                raise BatchServiceError(
                    400,
                    "MissingRequiredQueryParameter",
                    "A required query parameter was not specified for this request.",
                    QueryParameterName="api-version",
                )
            headers = {k.lower(): v for k, v in self.headers.items()}
            principal = authenticate(
                self.command, self.path, headers, emu.account_name, emu.account_key
            )
            emu.record_principal(principal)
            scheme = "https" if emu.https else "http"
            request = routes.Request(
                self.command,
                params,
                query,
                body,
                f"{scheme}://{self.headers.get('Host', emu.host)}",
                path,
                self.headers.get("ocp-range"),
            )
            status, headers, payload = handler(emu, request)
        except Exception as unexpected:
            if isinstance(unexpected, BatchServiceError):
                answer = unexpected
            else:  # an emulator bug: answer 500 and keep the traceback for the test
                emu.errors.append(traceback.format_exc())
                answer = BatchServiceError(500, "InternalError", f"emulator bug: {unexpected!r}")
            if fault is not None and fault.kind == "reset_after":
                self._reset()
                return
            self._send_error(answer)
            return
        if fault is not None and fault.kind == "reset_after":
            self._reset()
            return
        self._send(status, headers, payload)

    def _reset(self) -> None:
        """Close with RST: the client sees a connection reset, with no answer."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    def _common_headers(self) -> dict[str, str]:
        headers = {
            "request-id": str(uuid.uuid4()),
            "DataServiceVersion": "3.0",
            # not Batch's: the suite's mark of a Batch stand-in (tests/support/batch_guard.py)
            STAND_IN_HEADER: self.server.emulator.url,
        }
        client_request_id = self.headers.get("client-request-id")
        if client_request_id and self.headers.get("return-client-request-id", "").lower() == "true":
            headers["client-request-id"] = client_request_id
        return headers

    def _send_error(self, error: BatchServiceError, extra: dict[str, str] | None = None) -> None:
        emu = self.server.emulator
        body = error.body(emu.url)
        headers = {"Content-Type": "application/json;odata=minimalmetadata", **(extra or {})}
        self._send(error.status, headers, body)

    def _send(self, status: int, headers: dict[str, str], payload: Any) -> None:
        if isinstance(payload, dict):
            data = json.dumps(payload).encode()
            headers = {"Content-Type": "application/json;odata=minimalmetadata", **headers}
        elif isinstance(payload, bytes):
            data = payload
        else:
            data = b""
        try:
            self.send_response(status)
            for key, value in {**self._common_headers(), **headers}.items():
                self.send_header(key, value)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        except OSError:
            self.close_connection = True


class BatchEmulator:
    """A running emulated Batch account with one pool. See README.md for the API."""

    def __init__(
        self,
        *,
        azurite: Azurite | None = None,
        https: bool = False,
        slots: int = 4,
        hold: bool = False,
        seed: int = 0,
        account_name: str = "emulated",
        pool_id: str = "superbatch-pool",
        identity_resource_id: str = DEFAULT_IDENTITY,
        node_root: Path | None = None,
        podman_env: dict[str, str] | None = None,
        pool: PoolSpec | None = None,
        container: bool = True,
    ) -> None:
        self.account_name = account_name
        self.started = self.stamp(time.time())
        # generated per run: a throwaway key for SharedKey tests, valid nowhere else
        self.account_key = base64.b64encode(secrets.token_bytes(32)).decode()
        if pool is not None:
            pool_id = pool.id
            if not pool.identity_resource_ids:
                pool.identity_resource_ids = [identity_resource_id]
        self.pool_id = pool_id
        self.clock = Clock()
        self.identity_resource_id = identity_resource_id
        self.azurite = azurite
        self.https = https
        self.ca_bundle: Path | None = None
        self.faults = FaultPlan(seed)
        # `ocp-range` on task file downloads; False answers the whole file, as a service
        # that ignores the header would (the runner must be right either way)
        self.honour_ranges = True
        self.requests: Counter[str] = Counter()
        # (route, its $select): tells apart two readers of one resource (a poll, a probe)
        self.selected: Counter[tuple[str, str]] = Counter()
        self.principals: Counter[str] = Counter()  # "sharedkey" / "bearer" -> requests
        self.bearer_tokens: list[str] = []
        self.errors: list[str] = []  # tracebacks of emulator bugs while answering
        self._count_lock = threading.Lock()
        self._tmp = None if node_root else tempfile.TemporaryDirectory(prefix="batch-node-")
        self.node_root = node_root or Path(self._tmp.name)  # type: ignore[union-attr]
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.emulator = self
        if https:
            from tests.support.tls import tls_material

            tls = tls_material()
            self.ca_bundle = tls.ca_bundle
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls.cert, tls.key)
            self._server.socket = context.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self.host = f"127.0.0.1:{self._server.server_address[1]}"
        self.url = f"{'https' if https else 'http'}://{self.host}"
        self.account = Account(self.url, self.clock)
        self.account.add_pool(
            pool
            or PoolSpec(
                id=pool_id,
                slots=slots,
                identity_resource_ids=[identity_resource_id],
                container=container,
            )
        )
        self.clock.on_step(self.account.tick_pools)
        storage = StorageAccess(azurite)
        self.node = Node(
            self.account,
            self.node_root,
            storage,
            self.url,
            self.account_name,
            podman_env=podman_env,
        )
        self.node.hold = hold
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True, name="batch-emulator"
        )
        self._thread.start()
        self.node.start()

    # -- fixture API ----------------------------------------------------------------------------

    @property
    def hold(self) -> bool:
        return self.node.hold

    @hold.setter
    def hold(self, value: bool) -> None:
        self.node.hold = value
        with self.account.lock:
            self.account.changed.notify_all()

    @property
    def terminate_on_late_switch(self) -> bool:
        """Whether switching ``onAllTasksComplete`` to ``terminatejob`` after every task has
        completed ends the job (True, the default) or leaves it active (unverified which)."""
        return self.account.terminate_on_late_switch

    @terminate_on_late_switch.setter
    def terminate_on_late_switch(self, value: bool) -> None:
        with self.account.lock:
            self.account.terminate_on_late_switch = value

    @property
    def lowercase_add_results(self) -> bool:
        """Answer add-collection results in lower case (the SDK spec's values) instead of
        Batch's recorded ``Success``; the casing of a failed add is not recorded."""
        return self.account.add_status["success"] == "success"

    @lowercase_add_results.setter
    def lowercase_add_results(self, value: bool) -> None:
        with self.account.lock:
            self.account.add_status = {
                name: name if value else batch for name, batch in casing.ADD_STATUS.items()
            }

    @property
    def terminate_at_once(self) -> bool:
        """``onAllTasksComplete=terminatejob`` applies at once, also to a job created without
        tasks (the reference; default), or not at all (a Go SDK recording shows the job
        staying active)."""
        return self.account.terminate_at_once

    @terminate_at_once.setter
    def terminate_at_once(self, value: bool) -> None:
        self.account.terminate_at_once = value

    @property
    def slots(self) -> int:
        return self.pool().slots

    def pool(self, pool_id: str | None = None) -> Pool:
        """The emulated pool (the default one unless named): ``.inject``, ``.preempt()``,
        ``.nodes``, ``.wire()``. Read and change it under ``emulator.account.lock``."""
        with self.account.lock:
            return self.account.pool(pool_id or self.pool_id)

    def add_pool(self, spec: PoolSpec) -> Pool:
        """Another pool, as ``pulumi up`` would create it (a bad formula is refused: 400)."""
        if not spec.identity_resource_ids:
            spec.identity_resource_ids = [self.identity_resource_id]
        return self.account.add_pool(spec)

    def pool_wire(self, pool_id: str | None = None) -> dict[str, Any]:
        """A copy of the pool as ``GET /pools/{id}`` shows it."""
        with self.account.lock:
            return dict(json.loads(json.dumps(self.account.pool(pool_id or self.pool_id).wire())))

    def nodes(self, pool_id: str | None = None) -> list[dict[str, Any]]:
        """Copies of the pool's nodes as ``GET /pools/{id}/nodes`` shows them."""
        with self.account.lock:
            pool = self.account.pool(pool_id or self.pool_id)
            return [pool.node_wire(node) for node in pool.nodes]

    def use_podman(self, env: dict[str, str]) -> None:
        """Run tasks that have containerSettings inside their image with podman."""
        self.node.podman_env = env

    def client(self, credential: Any = None, **kwargs: Any) -> BatchClient:
        """An azure-batch ``BatchClient`` for this account (SharedKey unless told otherwise)."""
        from azure.batch import BatchClient
        from azure.core.credentials import AzureNamedKeyCredential

        if credential is None:
            credential = AzureNamedKeyCredential(self.account_name, self.account_key)
        if self.ca_bundle is not None:
            kwargs.setdefault("connection_verify", str(self.ca_bundle))
        return BatchClient(self.url, credential, **kwargs)

    def tasks(self, job_id: str) -> list[dict[str, Any]]:
        """Copies of the job's tasks as Batch's wire JSON (for inspection in tests)."""
        with self.account.lock:
            return [json.loads(json.dumps(t.wire)) for t in self.account.job(job_id).tasks.values()]

    def job(self, job_id: str) -> dict[str, Any]:
        with self.account.lock:
            return dict(json.loads(json.dumps(self.account.job(job_id).wire)))

    def wait_idle(self, timeout: float = 60) -> None:
        """Block until no task is running or runnable (ends early in hold mode)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.node.idle():
                return
            time.sleep(0.05)
        raise TimeoutError(f"emulator still busy after {timeout}s")

    def reset(self) -> None:
        """Forget jobs, faults and counters (between tests sharing one emulator)."""
        with self.account.lock:
            for job_id in list(self.account.jobs):
                self.account.delete_job(job_id)
        self.wait_idle()
        self.account.settle_jobs()
        self.faults.clear()
        self.hold = False
        with self._count_lock:
            self.requests.clear()
            self.selected.clear()
            self.principals.clear()
            self.bearer_tokens.clear()

    def bug_reports(self) -> list[str]:
        """Tracebacks of exceptions inside the emulator (answering or running tasks)."""
        return [*self.errors, *self.node.errors]

    def stop(self) -> None:
        self.node.stop()
        self._server.shutdown()
        self._server.server_close()
        if self._tmp is not None:
            self._tmp.cleanup()

    # -- used by the request handler ------------------------------------------------------------

    def count(self, route: str, select: str = "") -> None:
        with self._count_lock:
            self.requests[route] += 1
            self.selected[(route, select)] += 1

    def record_principal(self, principal: str) -> None:
        with self._count_lock:
            if principal == "sharedkey":
                self.principals["sharedkey"] += 1
            else:
                self.principals["bearer"] += 1
                self.bearer_tokens.append(principal)

    @staticmethod
    def stamp(epoch: float) -> str:
        return (
            datetime.datetime.fromtimestamp(epoch, datetime.UTC).isoformat().replace("+00:00", "Z")
        )

    @staticmethod
    def http_date(epoch: float) -> str:
        return email.utils.formatdate(epoch, usegmt=True)


def start_emulator(**options: Any) -> BatchEmulator:
    """Start an emulator (for benchmarks and scripts); call ``.stop()`` when done."""
    return BatchEmulator(**options)
