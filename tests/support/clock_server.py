"""The Batch emulator's clock served over plain http on loopback, for a runner process the test
did not start in-process (the background watcher): ``SUPERBATCH_TEST_CLOCK=<url>`` makes its
cold-start re-arm read ``GET <url>/now`` and sleep by ``POST <url>/advance?seconds=S``, as an
in-process test passes ``rearm.Clock(now=clock.now, sleep=clock.advance)``."""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@contextmanager
def serve_clock(clock: Any) -> Iterator[str]:
    """Serve ``clock`` (``now()``, ``advance(seconds)``); yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return None

        def _answer(self, text: str) -> None:
            data = text.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._answer(repr(clock.now()))

        def do_POST(self) -> None:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            clock.advance(float(query["seconds"][0]))
            self._answer("ok")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
