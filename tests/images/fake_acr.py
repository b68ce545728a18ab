"""A loopback fake of Azure Container Registry's token endpoints in front of a real registry.

It follows the contract Microsoft documents (Azure/acr docs/AAD-OAuth.md):

- ``POST /oauth2/exchange``, form-encoded ``grant_type=access_token&service=<login server>
  &tenant=<tenant>&access_token=<Entra token>`` -> ``200 {"refresh_token": ...}``;
- ``POST /oauth2/token``, form-encoded ``grant_type=refresh_token&service=...&scope=...
  &refresh_token=...`` -> ``200 {"access_token": ...}``;
- ``GET /oauth2/token?service=...&scope=...`` with Basic auth (user
  ``00000000-0000-0000-0000-000000000000``, password an ACR refresh token): what
  docker/podman do after ``login``;
- errors as ACR's ``{"errors": [{"code": ..., "message": ...}]}`` with 400 (malformed
  request) or 401 (bad credentials);
- ``/v2/...`` without a valid bearer token: ``401`` with ``WWW-Authenticate: Bearer
  realm="<base>/oauth2/token",service="<login server>",scope="repository:<repo>:pull,push"``.

Authenticated ``/v2/...`` requests are proxied to a real registry (Debian's docker-registry,
``relativeurls: true``), so pushes and pulls through the fake exercise the whole flow. Tokens
are random strings held in memory; nothing is written to disk.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import secrets
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NULL_GUID = "00000000-0000-0000-0000-000000000000"
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "authorization",
}


@dataclass
class FakeAcrState:
    login_server: str
    upstream: str  # "127.0.0.1:PORT" of the real registry
    tenant: str
    entra_tokens: set[str] = field(default_factory=set)  # what the fake Entra ID issued
    refresh_tokens: set[str] = field(default_factory=set)
    access_tokens: dict[str, set[str]] = field(default_factory=dict)  # token -> granted scopes
    calls: list[tuple[str, str, dict[str, list[str]]]] = field(
        default_factory=list
    )  # method, path, form (tokens redacted)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Transient faults: the next requests answer these statuses (503, 429 ...) with
    # ``Retry-After: 0`` and an ACR error body, before anything else is looked at.
    faults: list[int] = field(default_factory=list)


def _redacted(form: dict[str, list[str]]) -> dict[str, list[str]]:
    return {k: (["<redacted>"] if k.endswith("token") else v) for k, v in form.items()}


def _required_scope(method: str, path: str) -> str | None:
    """The scope a /v2 request needs, like ACR's challenge names it (None: just signed in)."""
    if path.rstrip("/") == "/v2":
        return None
    if path.startswith("/v2/_catalog"):
        return "registry:catalog:*"
    match = re.match(r"/v2/(.+?)/(?:manifests|blobs|tags)/", path)
    if not match:
        return None
    action = "pull" if method in ("GET", "HEAD") else "pull,push"
    return f"repository:{match.group(1)}:{action}"


def _granted(scopes: set[str], needed: str) -> bool:
    kind, _, rest = needed.rpartition(":")
    wanted = set(rest.split(","))
    for scope in scopes:
        s_kind, _, s_actions = scope.rpartition(":")
        if s_kind == kind and (wanted <= set(s_actions.split(",")) or s_actions == "*"):
            return True
    return False


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    # ---- helpers ---------------------------------------------------------------
    def _json(self, status: int, payload: object, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        self._json(status, {"errors": [{"code": code, "message": message}]}, headers)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _form(self) -> dict[str, list[str]] | None:
        if (
            self.headers.get("Content-Type", "").split(";")[0].strip()
            != "application/x-www-form-urlencoded"
        ):
            self._body()
            self._error(
                400, "BAD_REQUEST", "Content-Type must be application/x-www-form-urlencoded"
            )
            return None
        return urllib.parse.parse_qs(self._body().decode(), keep_blank_values=True)

    def _issue_access_token(self, scopes: list[str]) -> str:
        token = "fake-acr-access-" + secrets.token_urlsafe(24)
        with self.server.state.lock:
            self.server.state.access_tokens[token] = set(scopes)
        return token

    # ---- endpoints ---------------------------------------------------------------
    def _exchange(self) -> None:
        form = self._form()
        if form is None:
            return
        state = self.server.state
        state.calls.append(("POST", "/oauth2/exchange", _redacted(form)))
        one = {k: v[0] for k, v in form.items()}
        if one.get("grant_type") != "access_token":
            return self._error(400, "UNSUPPORTED_GRANT_TYPE", "grant_type must be access_token")
        if one.get("service") != state.login_server:
            return self._error(400, "BAD_REQUEST", f"service must be {state.login_server}")
        if not one.get("access_token"):
            return self._error(400, "BAD_REQUEST", "access_token is required")
        if one.get("tenant") not in (None, state.tenant):
            return self._error(401, "UNAUTHORIZED", "tenant does not match the token")
        if one["access_token"] not in state.entra_tokens:
            return self._error(401, "UNAUTHORIZED", "invalid Entra access token")
        refresh = "fake-acr-refresh-" + secrets.token_urlsafe(24)
        with state.lock:
            state.refresh_tokens.add(refresh)
        self._json(200, {"refresh_token": refresh})

    def _token_post(self) -> None:
        form = self._form()
        if form is None:
            return
        state = self.server.state
        state.calls.append(("POST", "/oauth2/token", _redacted(form)))
        one = {k: v[0] for k, v in form.items()}
        if one.get("grant_type") != "refresh_token":
            return self._error(400, "UNSUPPORTED_GRANT_TYPE", "grant_type must be refresh_token")
        if one.get("service") != state.login_server or not form.get("scope"):
            return self._error(400, "BAD_REQUEST", "service and scope are required")
        if one.get("refresh_token") not in state.refresh_tokens:
            return self._error(401, "UNAUTHORIZED", "invalid refresh token")
        self._json(200, {"access_token": self._issue_access_token(form["scope"])})

    def _token_get(self, query: dict[str, list[str]]) -> None:
        state = self.server.state
        state.calls.append(("GET", "/oauth2/token", query))
        auth = self.headers.get("Authorization", "")
        try:
            user, _, password = (
                base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
            )
        except ValueError:
            user, password = "", ""
        if (
            not auth.startswith("Basic ")
            or user != NULL_GUID
            or password not in state.refresh_tokens
        ):
            return self._error(401, "UNAUTHORIZED", "authentication required")
        token = self._issue_access_token(query.get("scope", []))
        self._json(200, {"access_token": token, "token": token})

    def _registry(self) -> None:
        state = self.server.state
        path = urllib.parse.urlsplit(self.path).path
        needed = _required_scope(self.command, path)
        auth = self.headers.get("Authorization", "")
        granted = (
            state.access_tokens.get(auth.removeprefix("Bearer "))
            if auth.startswith("Bearer ")
            else None
        )
        if granted is None or (needed is not None and not _granted(granted, needed)):
            self._body()  # drain it: the connection stays usable for the retry
            scope = f',scope="{needed}"' if needed else ""
            challenge = f'Bearer realm="http://{state.login_server}/oauth2/token",service="{state.login_server}"{scope}'
            return self._error(
                401, "UNAUTHORIZED", "authentication required", {"WWW-Authenticate": challenge}
            )
        self._proxy()

    def _proxy(self) -> None:
        body = self._body() if self.command in ("POST", "PUT", "PATCH") else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        if body is not None:
            headers["Content-Length"] = str(len(body))
        upstream = http.client.HTTPConnection(self.server.state.upstream, timeout=120)
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            payload = response.read()
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                    self.send_header(key, value)
            length = (
                response.getheader("Content-Length")
                if self.command == "HEAD"
                else str(len(payload))
            )
            self.send_header("Content-Length", length or "0")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
        finally:
            upstream.close()

    def _route(self) -> None:
        split = urllib.parse.urlsplit(self.path)
        with self.server.state.lock:
            fault = self.server.state.faults.pop(0) if self.server.state.faults else None
        if fault is not None:
            self._body()
            return self._error(fault, "UNAVAILABLE", "try again", {"Retry-After": "0"})
        if split.path == "/oauth2/exchange" and self.command == "POST":
            return self._exchange()
        if split.path == "/oauth2/token" and self.command == "POST":
            return self._token_post()
        if split.path == "/oauth2/token" and self.command == "GET":
            return self._token_get(urllib.parse.parse_qs(split.query))
        if split.path.startswith("/v2"):
            return self._registry()
        self._body()
        self._error(404, "NOT_FOUND", "no such endpoint")

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _route


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: FakeAcrState


class FakeAcr:
    """Start with :meth:`start`; ``login_server`` is ``127.0.0.1:<port>``."""

    def __init__(self, upstream: str, *, tenant: str) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self.login_server = f"127.0.0.1:{self._server.server_address[1]}"
        self.state = FakeAcrState(self.login_server, upstream, tenant)
        self._server.state = self.state
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FakeAcr:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def issue_entra_token(self, *, tenant: str | None = None) -> str:
        """A JWT-shaped Entra access token (unsigned: the fake only looks it up)."""

        def part(data: dict[str, object]) -> str:
            return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

        claims = {
            "aud": "https://containerregistry.azure.net",
            "tid": tenant or self.state.tenant,
            "n": secrets.token_hex(8),
        }
        token = f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.sig"
        with self.state.lock:
            self.state.entra_tokens.add(token)
        return token

    def all_secrets(self) -> set[str]:
        with self.state.lock:
            return (
                set(self.state.entra_tokens)
                | set(self.state.refresh_tokens)
                | set(self.state.access_tokens)
            )
