"""A local HTTP receiver for apprise ``json://`` notifications, in a child process.

It keeps the wall-clock time the first POST to each path arrived. It runs in its own process so
that its threads do not share the hub's interpreter lock: the arrival times are the receiver's,
not delayed by the hub the benchmark measures, and the hub is not slowed by the receiver.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from types import TracebackType


def _serve(conn: Connection) -> None:
    arrivals: dict[str, float] = {}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            at = time.time()
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                arrivals.setdefault(self.path, at)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.request_queue_size = 1024
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conn.send(server.server_address[1])
    while True:
        request = conn.recv()
        with lock:
            conn.send(len(arrivals) if request == "count" else dict(arrivals))
        if request == "stop":
            server.shutdown()
            return


class AppriseReceiver:
    """``with AppriseReceiver() as r``: ``r.url(path)`` for apprise, ``r.count()`` paths heard,
    ``r.arrivals()`` the first arrival (wall-clock seconds) by path."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child,), daemon=True)
        self.port = 0

    def __enter__(self) -> AppriseReceiver:
        self._process.start()
        self.port = int(self._conn.recv())
        return self

    def url(self, path: str) -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    def count(self) -> int:
        self._conn.send("count")
        return int(self._conn.recv())

    def arrivals(self) -> dict[str, float]:
        self._conn.send("arrivals")
        found: dict[str, float] = self._conn.recv()
        return found

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._process.is_alive():
            self._conn.send("stop")
            self._conn.recv()
        self._process.join(5)
