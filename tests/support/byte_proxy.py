"""A loopback TCP proxy that counts the bytes going each way (TLS passes through untouched).

Tests put it between the runner and Azurite to measure what a command really sent or
received: request bodies dominate, so a re-run that sends only missing blocks shows up as
far fewer bytes than the file.
"""

from __future__ import annotations

import socket
import threading

from tests.support.relay import Relays, stop_listener


class ByteProxy:
    def __init__(self, target_port: int) -> None:
        self._target = target_port
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(256)
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self.up = 0  # client -> server
        self.down = 0  # server -> client
        self.delay = 0.0  # seconds per chunk: slows a transfer so a test can stop it midway
        self._relays = Relays(f"byte proxy :{self.port}")
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    @property
    def connections(self) -> int:
        """Connections still relayed: 0 once a killed client's have ended, that is once all
        it had sent has been carried to the server (at ``delay``)."""
        return self._relays.open

    def reset(self) -> None:
        with self._lock:
            self.up = self.down = 0

    def _count_up(self, amount: int) -> None:
        with self._lock:
            self.up += amount

    def _count_down(self, amount: int) -> None:
        with self._lock:
            self.down += amount

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self._target))
            except OSError:
                client.close()
                continue
            self._relays.relay(
                client,
                server,
                count_ab=self._count_up,
                count_ba=self._count_down,
                delay=lambda: self.delay,
            )

    def close(self) -> None:
        """Stop accepting, then end every relayed connection: no pump outlives the proxy."""
        stop_listener(self._listener, self._accepting)
        self._relays.close()


def main() -> None:
    """``python -m tests.support.byte_proxy TARGET_PORT [DELAY]``: serve until killed, printing
    the port first (benchmarks run it apart, so its threads never share the runner's GIL)."""
    import sys

    proxy = ByteProxy(int(sys.argv[1]))
    proxy.delay = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    print(proxy.port, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
