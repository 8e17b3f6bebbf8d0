"""A local HTTP server that answers like Twilio's REST API for Messages, for tests and benches.

Messages are created, fetched and listed (newest first, filtered by To and From) with sids and
statuses as Twilio's own are; the server can be told to refuse the next requests with an
HTTP status and a Twilio error code, or to hang after taking a message (as Twilio does when
the network drops its answer). Point Leadline at it with TWILIO_API_BASE_URL = `server.url`.
"""

import base64
import datetime
import email.utils
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MESSAGES = re.compile(
    r"^/2010-04-01/Accounts/(?P<account>AC\w+)/Messages(?:/(?P<sid>SM\w+))?\.json$"
)


@dataclass
class FakeMessage:
    sid: str
    account_sid: str
    to: str
    from_: str
    body: str
    status_callback: str
    status: str = "queued"
    created_at: datetime.datetime = field(
        default_factory=lambda: datetime.datetime.now(datetime.UTC)
    )
    taken_at: float = field(default_factory=time.monotonic)  # this process's clock

    def as_json(self) -> dict:
        created = email.utils.format_datetime(self.created_at.replace(microsecond=0), usegmt=True)
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "to": self.to,
            "from": self.from_,
            "body": self.body,
            "status": self.status,
            "direction": "outbound-api",
            "num_segments": "1",
            "date_created": created,
            "date_updated": created,
            "date_sent": None,
            "error_code": None,
            "error_message": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{self.sid}.json",
        }


@dataclass
class Failure:
    status: int
    code: int | None
    message: str


class FakeTwilio(ThreadingHTTPServer):
    """The server; read `messages`, call `fail_next`, set and clear `hang`."""

    daemon_threads = True

    def __init__(self, account_sid: str, auth_token: str, port: int = 0):
        super().__init__(("127.0.0.1", port), _Handler)
        self.account_sid, self.auth_token = account_sid, auth_token
        self.messages: list[FakeMessage] = []
        self.failures: list[Failure] = []
        self.requests: list[tuple[str, str]] = []
        # While set, a create takes the message and then answers nothing until cleared.
        self.hang = threading.Event()
        self.released = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> "FakeTwilio":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.released.set()
        self.shutdown()
        self.server_close()

    def fail_next(self, status: int, *, code: int | None = None, times: int = 1, message=""):
        """Refuse the next `times` creates with this HTTP status and Twilio error code."""
        with self.lock:
            self.failures += [Failure(status, code, message or f"Fake failure {status}")] * times

    def sent_to(self, to: str) -> list[str]:
        """The bodies of the messages taken for this number, oldest first."""
        with self.lock:
            return [message.body for message in self.messages if message.to == to]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    server: FakeTwilio

    def log_message(self, *args):  # quiet
        pass

    def do_POST(self):
        self._handle("POST")

    def do_GET(self):
        self._handle("GET")

    def _handle(self, method: str) -> None:
        server = self.server
        parts = urlsplit(self.path)
        server.requests.append((method, parts.path))
        expected = base64.b64encode(f"{server.account_sid}:{server.auth_token}".encode()).decode()
        if self.headers.get("Authorization") != f"Basic {expected}":
            return self._answer(401, {"code": 20003, "message": "Authenticate", "status": 401})
        match = MESSAGES.match(parts.path)
        if not match or match["account"] != server.account_sid:
            return self._answer(404, {"code": 20404, "message": "Not found", "status": 404})
        if method == "POST" and not match["sid"]:
            return self._create()
        with server.lock:
            if match["sid"]:
                found = [m for m in server.messages if m.sid == match["sid"]]
                if not found:
                    return self._answer(404, {"code": 20404, "message": "Not found", "status": 404})
                return self._answer(200, found[0].as_json())
            query = parse_qs(parts.query)
            listed = [
                m.as_json()
                for m in reversed(server.messages)
                if m.to == query.get("To", [m.to])[0] and m.from_ == query.get("From", [m.from_])[0]
            ][: int(query.get("PageSize", ["50"])[0])]
        self._answer(
            200,
            {
                "messages": listed,
                "page": 0,
                "page_size": len(listed),
                "start": 0,
                "end": max(len(listed) - 1, 0),
                "first_page_uri": parts.path,
                "previous_page_uri": None,
                "next_page_uri": None,
                "uri": self.path,
            },
        )

    def _create(self) -> None:
        server = self.server
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        with server.lock:
            failure = server.failures.pop(0) if server.failures else None
        if failure is not None:
            return self._answer(
                failure.status,
                {"code": failure.code, "message": failure.message, "status": failure.status},
            )
        missing = [name for name in ("To", "From", "Body") if not form.get(name)]
        if missing:
            return self._answer(
                400, {"code": 21604, "message": f"{missing[0]} is required", "status": 400}
            )
        message = FakeMessage(
            sid=f"SM{uuid.uuid4().hex}",
            account_sid=server.account_sid,
            to=form["To"],
            from_=form["From"],
            body=form["Body"],
            status_callback=form.get("StatusCallback", ""),
        )
        with server.lock:
            server.messages.append(message)
        if server.hang.is_set():
            server.released.wait()  # the message is taken; its answer never comes
            return
        self._answer(201, message.as_json())

    def _answer(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
