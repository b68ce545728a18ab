"""Byte relays for the suite's proxies: one pump, and a set of relays a proxy tears down.

Both rules come from the Batch/Azurite crossing (tests/support/batch_guard.py), where a
request to the Batch emulator was answered by Azurite. The cause: ``ByteProxy.close``
closed its listener while its accept thread was blocked in ``accept4(N)``. Linux does not
wake such a call on ``close``, and the number N went back to the process. The next test's
emulator got N for its listener. When the blocked call was restarted in the kernel (a stop
and continue, a tracer attaching, glibc's set*id broadcast: reproduced with the last two),
it ran on N again, now the emulator's socket. It accepted the runner's Batch connection
and relayed it, TLS and all, to Azurite.

- A number is never given back while a thread may be blocked on it.
  :func:`stop_listener` shuts a listener down (which wakes ``accept``), joins the accept
  loop, and only then closes it. :meth:`Relays.close` shuts every connection it carries
  (which wakes a pump blocked in ``recv``) and joins the pumps. The last pump of a
  connection closes both of its sockets, so no relay outlives its proxy.
- A pump only ever moves bytes between the two connections it was given. Around every read
  and before every write it checks both ends' addresses. On a change (a number reused
  behind its back) it stops, dropping what it read rather than carrying it, and leaves the
  number alone. It records the change in :data:`STOLEN`, which the suite reports as a
  warning on the test that was running (tests/conftest.py).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable

# "<proxy>: fd N now carries A -> B, not C -> D": filled by pumps, emptied by the suite
STOLEN: list[str] = []


def _ends(sock: socket.socket) -> tuple[object, object] | None:
    """The connection a socket object's number carries now; None once it is closed."""
    try:
        local = sock.getsockname()
    except OSError:
        return None
    try:
        return local, sock.getpeername()
    except OSError:  # shut down, or the number is now a listener's
        return local, None


def _other(was: tuple[object, object] | None, now: tuple[object, object] | None) -> bool:
    """Whether a socket's number, once ``was``, now carries another socket (not merely the
    same one closed, shut down or reset by its peer)."""
    if now is None or was is None or now == was:
        return False
    return now[0] != was[0] or now[1] is not None


class _Pair:
    """Two connections relayed both ways, as they were when the relay began."""

    def __init__(self, a: socket.socket, b: socket.socket) -> None:
        self.sockets = (a, b)
        self.given = {id(a): _ends(a), id(b): _ends(b)}
        self.threads: list[threading.Thread] = []  # its two pumps
        self.pumps = 2
        self.stolen: set[int] = set()  # ids of sockets whose number now carries another

    def same(self, sock: socket.socket, name: str) -> bool:
        """Whether ``sock`` still carries its own connection, still open."""
        was, now = self.given[id(sock)], _ends(sock)
        if not _other(was, now):
            return now is not None and now == was
        self.stolen.add(id(sock))
        STOLEN.append(
            f"{name}: fd {sock.fileno()} now carries {now and now[1]} -> {now and now[0]}, "
            f"not {was and was[1]} -> {was and was[0]}: its number was closed by someone else "
            "and reused"
        )
        return False

    def ours(self) -> list[socket.socket]:
        """The sockets whose numbers still carry our connections (checked now)."""
        for sock in self.sockets:
            if _other(self.given[id(sock)], _ends(sock)):
                self.stolen.add(id(sock))
        return [sock for sock in self.sockets if id(sock) not in self.stolen]

    def let_go(self) -> None:
        """Close our connections; a stolen number is only forgotten (it is someone else's)."""
        ours = self.ours()
        for sock in self.sockets:
            if sock in ours:
                _close(sock)
            else:
                sock.detach()


class Relays:
    """The connections one proxy relays, and the threads pumping them."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._pairs: list[_Pair] = []  # until both pumps of a pair have ended
        self._closed = False

    def relay(
        self,
        a: socket.socket,
        b: socket.socket,
        *,
        count_ab: Callable[[int], None] | None = None,
        count_ba: Callable[[int], None] | None = None,
        delay: Callable[[], float] = lambda: 0.0,
    ) -> None:
        """Relay between connections ``a`` and ``b``, both ways, on threads of their own,
        until either end closes; then both are closed. Once the relays are closed, both are
        closed at once instead."""
        pair = _Pair(a, b)
        pair.threads = [
            threading.Thread(target=self._pump, args=(pair, a, b, count_ab, delay), daemon=True),
            threading.Thread(target=self._pump, args=(pair, b, a, count_ba, delay), daemon=True),
        ]
        with self._lock:
            refused = self._closed
            if not refused:
                self._pairs.append(pair)
        if refused:
            pair.let_go()
            return
        for thread in pair.threads:
            thread.start()

    @property
    def open(self) -> int:
        """Connection pairs still relayed (a pair ends once both its pumps have)."""
        with self._lock:
            return len(self._pairs)

    def _pump(
        self,
        pair: _Pair,
        source: socket.socket,
        sink: socket.socket,
        count: Callable[[int], None] | None,
        delay: Callable[[], float],
    ) -> None:
        try:
            while pair.same(source, self.name) and (data := source.recv(1 << 16)):
                if not pair.same(source, self.name):  # reused between the check and recv:
                    break  # these bytes are someone else's, dropped rather than carried
                if count is not None:
                    count(len(data))
                if pause := delay():
                    time.sleep(pause)
                if not pair.same(sink, self.name):
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in pair.ours():  # wakes the other pump
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
            with self._lock:
                pair.pumps -= 1
                last = pair.pumps == 0
                if last:
                    self._pairs.remove(pair)
            if last:  # the other pump has ended: nobody uses these numbers any more
                pair.let_go()

    def close(self, timeout: float = 10.0) -> None:
        """Stop relaying: wake every pump and wait for it (each pair is closed by its last)."""
        with self._lock:
            self._closed = True
            sockets = [sock for pair in self._pairs for sock in pair.ours()]
            threads = [thread for pair in self._pairs for thread in pair.threads]
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in threads if t.is_alive()]
        assert not alive, f"{self.name}: pumps still running after close: {alive}"


def stop_listener(listener: socket.socket, accepting: threading.Thread | None) -> None:
    """Close a listening socket so that no thread is left inside ``accept`` on its number:
    ``shutdown`` wakes a blocked ``accept`` (plain ``close`` does not, on Linux), the accept
    loop ends, and only then is the number given back."""
    with contextlib.suppress(OSError):
        listener.shutdown(socket.SHUT_RDWR)
    if accepting is not None and accepting is not threading.current_thread():
        accepting.join(10)
        assert not accepting.is_alive(), "the accept loop did not stop"
    _close(listener)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()
