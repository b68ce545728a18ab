"""A loopback TCP proxy that makes an endpoint unreachable, hang, or fail for a while.

It forwards bytes (TLS included, so the endpoint's certificate still matches) between
127.0.0.1:<port> and a target on loopback. Modes:

- ``"pass"``: forward everything;
- ``"hang"``: accept connections and never answer (a server that stopped responding);
- ``"reset"``: accept and reset at once (RST), like a dropped connection;
- ``"refuse"``: nothing listens on the port any more (connection refused).

``fail_next(n)`` resets the next ``n`` connections, then passes again: a transient fault.
Only loopback addresses are used, for the listener and the target.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import urllib.parse

from tests.support.relay import Relays, stop_listener

MODES = ("pass", "hang", "reset", "refuse")


class FaultProxy:
    def __init__(self, target_url: str) -> None:
        parts = urllib.parse.urlsplit(target_url)
        assert parts.hostname in ("127.0.0.1", "localhost"), "loopback targets only"
        assert parts.port is not None
        self._target = ("127.0.0.1", parts.port)
        self._parts = parts
        self.mode = "pass"
        self._failures = 0
        self._lock = threading.Lock()
        self._hung: list[socket.socket] = []
        self._stopped = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.connections = 0
        self._relays = Relays(f"fault proxy :{self.port}")
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def url(self, original: str | None = None) -> str:
        """``original`` (default: the target URL) pointed at the proxy instead."""
        parts = urllib.parse.urlsplit(original or self._parts.geturl())
        host = parts.hostname or "127.0.0.1"
        return parts._replace(netloc=f"{host}:{self.port}").geturl()

    def set_mode(self, mode: str) -> None:
        assert mode in MODES, mode
        with self._lock:
            self.mode = mode
            if mode != "hang":
                for sock in self._hung:
                    with contextlib.suppress(OSError):
                        sock.close()
                self._hung.clear()

    def fail_next(self, count: int) -> None:
        with self._lock:
            self._failures = count

    def stop(self) -> None:
        """Stop accepting, drop hung connections and end every relayed one."""
        self._stopped.set()
        stop_listener(self._listener, self._thread)
        self.set_mode("pass")
        self._relays.close()

    # -- internals --------------------------------------------------------------------------

    def _serve(self) -> None:
        self._listener.settimeout(0.2)
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                mode = self.mode
                if self._failures > 0:
                    self._failures -= 1
                    mode = "reset"
            if mode in ("reset", "refuse"):
                # "refuse" cannot un-listen one port while others stay served; a reset at
                # once is what a refused connect looks like to a client (no bytes, an error).
                _reset(client)
            elif mode == "hang":
                with self._lock:
                    self._hung.append(client)
            else:
                threading.Thread(target=self._forward, args=(client,), daemon=True).start()

    def _forward(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self._target, timeout=5)
        except OSError:
            _reset(client)
            return
        upstream.settimeout(None)
        self._relays.relay(client, upstream)


def _reset(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


# Sockets bound by closed_port_url, never listening, kept for the life of the test process.
_HELD_PORTS: list[socket.socket] = []


def closed_port_url(original: str) -> str:
    """``original`` pointed at a loopback port where nothing listens (connection refused).

    The port stays bound (never listening) for the rest of the test process: a freed port
    could be taken meanwhile by another xdist worker's server, or become the local end of
    a connection to itself, and a test that says "refused" would then reach something."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    _HELD_PORTS.append(sock)
    port = sock.getsockname()[1]
    parts = urllib.parse.urlsplit(original)
    return parts._replace(netloc=f"{parts.hostname or '127.0.0.1'}:{port}").geturl()
