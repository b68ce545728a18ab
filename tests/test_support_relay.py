"""The suite's byte relays (tests/support/relay.py): none outlives its proxy, and none ever
carries a connection that is not its own, even when its socket number is reused."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.support import relay
from tests.support.byte_proxy import ByteProxy


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(10)
    try:
        yield server
    finally:
        server.close()


def connection(server: socket.socket) -> tuple[socket.socket, socket.socket]:
    """A loopback TCP connection: (the connecting end, the accepted end)."""
    near = socket.create_connection(server.getsockname(), timeout=10)
    far, _ = server.accept()
    far.settimeout(10)
    return near, far


def pumps() -> list[threading.Thread]:
    return [
        t
        for t in threading.enumerate()
        if getattr(t, "_target", None) is not None and getattr(t._target, "__name__", "") == "_pump"
    ]  # type: ignore[attr-defined]


def test_closing_a_proxy_ends_its_idle_connections_and_every_pump(
    listener: socket.socket,
) -> None:
    proxy = ByteProxy(listener.getsockname()[1])
    client = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
    upstream, _ = listener.accept()
    client.sendall(b"ping")
    assert upstream.recv(4) == b"ping"
    upstream.sendall(b"pong")
    assert client.recv(4) == b"pong"  # both pumps run
    before = len(pumps())
    assert before >= 2  # both ways of the connection, idle like a pooled keep-alive one

    proxy.close()

    assert client.recv(1) == b""  # the proxy closed its side
    assert len(pumps()) == before - 2
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=2)
    client.close()
    upstream.close()


def test_a_pump_whose_socket_number_is_reused_stops_and_says_so(listener: socket.socket) -> None:
    """What happened in the Batch/Azurite crossing: the number of a relayed socket closed by
    someone else, and then given to a new connection. The pump must not carry it."""
    a_near, a_far = connection(listener)  # the proxy's accepted client connection is a_far
    b_near, b_far = connection(listener)  # the proxy's connection to its target is b_near
    x_near, x_far = connection(listener)  # someone else's connection, e.g. to the emulator
    for relayed in (a_far, b_near):
        relayed.settimeout(None)  # as a proxy's: a pump waits as long as its connection lives
    relays = relay.Relays("test relay")
    relays.relay(a_far, b_near)
    a_near.sendall(b"one")
    assert b_far.recv(3) == b"one"
    relay.STOLEN.clear()
    time.sleep(0.2)  # not a measurement: lets the pump block in recv, as the leftover ones were

    os.dup2(x_far.fileno(), a_far.fileno())  # a_far's number closed, and now x_far's
    a_near.sendall(b"two")  # wakes the pump blocked on the old connection
    x_near.sendall(b"secret")

    received = b""
    while chunk := b_far.recv(64):
        received += chunk
    assert b"secret" not in received  # the old pump read x's connection and relayed it
    assert any("test relay: fd" in line and "reused" in line for line in relay.STOLEN)
    relays.close()
    x_near.sendall(b"still open")  # the stolen number was neither shut down nor closed
    seen = b""
    while not seen.endswith(b"still open"):
        seen += x_far.recv(64)
    relay.STOLEN.clear()
    for sock in (a_near, b_near, b_far, x_near, x_far):
        sock.close()
