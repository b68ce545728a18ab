"""A TLS-terminating loopback proxy in front of https Azurite that records every request.

Tests route the runner's storage requests through it to count what the runner really
asked (``requests``: method and target of each, e.g. no ``PUT`` at all). It serves the
test certificate (the CA the runner trusts already) and forwards each request, unchanged,
over its own https connection to Azurite. ``max_results`` caps ``List Blobs`` pages below
the service's 5,000, as the service itself may (a page can hold fewer than asked for, with
a ``NextMarker``): a thousand blobs then cover several pages.

Two ways in: as the storage endpoint itself (``port``), or as the runner's
``HTTPS_PROXY`` (``connect_port``): a ``CONNECT`` to Azurite's port is answered by this
proxy's own TLS and recorded; any other ``CONNECT`` (the Batch emulator) is tunnelled
untouched. The second leaves every URL as it was, so nodes still reach storage directly.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.relay import Relays, stop_listener
from tests.support.tls import TlsMaterial

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class RequestProxy:
    def __init__(
        self, target_port: int, tls: TlsMaterial, *, max_results: int | None = None
    ) -> None:
        self.target_port = target_port
        self.max_results = max_results
        self.client_context = ssl.create_default_context(cafile=str(tls.ca_bundle))
        server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_context.load_cert_chain(str(tls.cert), str(tls.key))
        self._lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []  # (method, target as forwarded)
        self._serving = 0  # client connections open here (see `serving`)
        self._server = _Server(self, server_context)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.connect_port = self._listener.getsockname()[1]
        self._relays = Relays(f"request proxy CONNECT :{self.connect_port}")
        self._accepting = threading.Thread(target=self._accept_connects, daemon=True)
        self._accepting.start()

    def _accept_connects(self) -> None:
        while True:
            try:
                client, address = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._connect, args=(client, address), daemon=True).start()

    @property
    def serving(self) -> int:
        """Client connections this proxy still reads, forwards or answers. 0 once a killed
        client's connections are gone: every request it had sent in full was answered by
        Azurite first (a request cut short is dropped, never forwarded)."""
        with self._lock:
            return self._serving

    @contextlib.contextmanager
    def _one_connection(self) -> Iterator[None]:
        with self._lock:
            self._serving += 1
        try:
            yield
        finally:
            with self._lock:
                self._serving -= 1

    def _connect(self, client: socket.socket, address: Any) -> None:
        with self._one_connection(), contextlib.suppress(OSError, ssl.SSLError):
            reader = client.makefile("rb")
            request = reader.readline().decode("latin-1").split()
            while reader.readline() not in (b"\r\n", b"\n", b""):
                pass
            if len(request) < 2 or request[0] != "CONNECT":
                client.close()
                return
            port = int(request[1].rsplit(":", 1)[1])
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if port == self.target_port:
                tls = self._server.context.wrap_socket(client, server_side=True)
                _Handler(tls, address, self._server)
                return
            upstream = socket.create_connection(("127.0.0.1", port))
            self._relays.relay(client, upstream)

    def record(self, method: str, target: str) -> None:
        with self._lock:
            self.requests.append((method, target))

    def rewrite(self, target: str) -> str:
        path, _, query = target.partition("?")
        fields = urllib.parse.parse_qsl(query, keep_blank_values=True)
        if self.max_results is None or ("comp", "list") not in fields:
            return target
        asked = int(dict(fields).get("maxresults") or 5000)
        kept = [(k, v) for k, v in fields if k != "maxresults"]
        kept.append(("maxresults", str(min(asked, self.max_results))))
        return f"{path}?{urllib.parse.urlencode(kept, quote_via=urllib.parse.quote)}"

    def close(self) -> None:
        """Stop accepting on both ports and end every tunnel: nothing relays after this."""
        stop_listener(self._listener, self._accepting)
        self._relays.close()
        self._server.shutdown()
        self._server.server_close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, proxy: RequestProxy, context: ssl.SSLContext) -> None:
        self.proxy = proxy
        self.context = context
        super().__init__(("127.0.0.1", 0), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # the handshake in the connection's own thread, not the accepting one
        with self.proxy._one_connection():
            tls = self.context.wrap_socket(request, server_side=True)
            super().finish_request(tls, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    _upstream: http.client.HTTPSConnection | None = None

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(_whole(self.rfile.read(size), size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return _whole(self.rfile.read(length), length) if length else None

    def _forward(self) -> None:
        proxy = self.server.proxy
        body = self._body()
        target = proxy.rewrite(self.path)
        proxy.record(self.command, target)
        if self._upstream is None:
            self._upstream = http.client.HTTPSConnection(
                "127.0.0.1", proxy.target_port, context=proxy.client_context, timeout=60
            )
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        if body is not None:
            headers["Content-Length"] = str(len(body))
        self._upstream.request(self.command, target, body=body, headers=headers)
        answer = self._upstream.getresponse()
        data = answer.read()
        self.send_response_only(answer.status, answer.reason)
        for name, value in answer.getheaders():
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        length = answer.getheader("Content-Length") if self.command == "HEAD" else None
        self.send_header("Content-Length", length or str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = do_PATCH = _forward


def _whole(data: bytes, length: int) -> bytes:
    """A body cut short (its client died sending it) is never forwarded: the service would
    not store it either."""
    if len(data) < length:
        raise ConnectionError(f"the client sent {len(data)} of {length} bytes, then went")
    return data
