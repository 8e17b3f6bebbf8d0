"""A local webhook receiver for tests: records each POST, and can answer 500 or hang."""

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int | None  # the status answered; None when it hung past the client's timeout


class WebhookReceiver:
    """Listen on 127.0.0.1 at a free port; answer 200 unless told otherwise.

    `fail(n, status)` answers the next n requests with that status; `slow(n, seconds)`
    answers the next n 200 after that long; `hang(n, seconds)` makes the next n wait that
    long and close without answering (past a client's timeout).
    """

    def __init__(self):
        self.requests: list[Received] = []
        self._plan: list[tuple[str, float]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                action, value = receiver._next_action()
                if action == "hang":
                    receiver._stop.wait(value)
                    receiver._record(self, body, None)
                    self.close_connection = True
                    return
                if action == "slow":
                    receiver._stop.wait(value)
                    action, value = "status", 200
                status = int(value)
                receiver._record(self, body, status)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/leadline"

    def _next_action(self) -> tuple[str, float]:
        with self._lock:
            return self._plan.pop(0) if self._plan else ("status", 200)

    def _record(self, handler, body: bytes, answered: int | None) -> None:
        with self._lock:
            self.requests.append(Received(handler.path, dict(handler.headers), body, answered))

    def fail(self, times: int, status: int = 500) -> None:
        with self._lock:
            self._plan += [("status", status)] * times

    def slow(self, times: int, seconds: float) -> None:
        """Answer the next n requests 200, each after this long."""
        with self._lock:
            self._plan += [("slow", seconds)] * times

    def hang(self, times: int, seconds: float) -> None:
        with self._lock:
            self._plan += [("hang", seconds)] * times

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.requests)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
