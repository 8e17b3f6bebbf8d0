"""A local HTTP server that answers like Twilio's Calls API, for the twilio client to call.

It answers `POST /2010-04-01/Accounts/<sid>/Calls.json` (create) and
`GET`/`POST /2010-04-01/Accounts/<sid>/Calls/<CallSid>.json` (fetch, update) with the JSON
Twilio sends, keeps every request it was sent, and fails on demand: queue a status code
(500, 429, 400...) with `fail_next` and the next request gets it, Twilio's error body and
all.
"""

import base64
import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

CALLS = re.compile(r"^/2010-04-01/Accounts/(?P<account>AC\w+)/Calls(?:/(?P<sid>CA\w+))?\.json$")
ERRORS = {
    400: (21211, "The 'To' number is not a valid phone number."),
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
}


@dataclass
class Recorded:
    method: str
    path: str
    form: dict[str, list[str]]
    account: str  # the user of the Basic credentials
    password: str
    status: int = 0  # what the fake answered


@dataclass
class FakeTwilio:
    """The server's state: the calls it created and the requests it was sent."""

    requests: list[Recorded] = field(default_factory=list)
    calls: dict[str, dict] = field(default_factory=dict)
    failures: list[int] = field(default_factory=list)
    url: str = ""
    _sids = itertools.count(1)

    def fail_next(self, *statuses: int) -> None:
        self.failures.extend(statuses)

    @property
    def created(self) -> list[Recorded]:
        """The requests that created a call (a failed one created none)."""
        return [r for r in self.requests if r.path.endswith("/Calls.json") and r.status == 201]

    def answer(self, handler: BaseHTTPRequestHandler) -> tuple[int, dict]:
        length = int(handler.headers.get("Content-Length") or 0)
        form = parse_qs(handler.rfile.read(length).decode(), keep_blank_values=True)
        user, _, password = _credentials(handler.headers.get("Authorization", ""))
        path = handler.path.split("?")[0]
        recorded = Recorded(handler.command, path, form, user, password)
        self.requests.append(recorded)
        recorded.status, body = self._answer(handler, path, form)
        return recorded.status, body

    def _answer(self, handler, path: str, form: dict[str, list[str]]) -> tuple[int, dict]:
        match = CALLS.match(path)
        if match is None:
            return 404, _error(404, 20404, "The requested resource was not found")
        if self.failures:
            status = self.failures.pop(0)
            code, message = ERRORS.get(status, (status, "Error"))
            return status, _error(status, code, message)
        account, sid = match["account"], match["sid"]
        if sid is None:
            if handler.command != "POST":
                return 200, {"calls": list(self.calls.values())}
            sid = f"CA{next(self._sids):032x}"
            self.calls[sid] = _call(account, sid, form)
            return 201, self.calls[sid]
        if sid not in self.calls:
            return 404, _error(404, 20404, f"The requested resource {path} was not found")
        if handler.command == "POST" and "Status" in form:
            self.calls[sid]["status"] = form["Status"][0]
        return 200, self.calls[sid]


def _credentials(header: str) -> tuple[str, str, str]:
    if not header.startswith("Basic "):
        return "", "", ""
    return base64.b64decode(header[6:]).decode().partition(":")


def _error(status: int, code: int, message: str) -> dict:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _call(account: str, sid: str, form: dict[str, list[str]]) -> dict:
    first = {name: values[0] for name, values in form.items()}
    return {
        "sid": sid,
        "account_sid": account,
        "to": first.get("To", ""),
        "from": first.get("From", ""),
        "status": "queued",
        "direction": "outbound-api",
        "api_version": "2010-04-01",
        "uri": f"/2010-04-01/Accounts/{account}/Calls/{sid}.json",
        "date_created": "Mon, 23 Nov 2026 15:00:00 +0000",
    }


def start_fake_twilio() -> tuple[FakeTwilio, ThreadingHTTPServer]:
    """Start the server on a free local port, in a thread; stop it with `server.shutdown()`."""
    fake = FakeTwilio()

    class Handler(BaseHTTPRequestHandler):
        def _reply(self):
            status, body = fake.answer(self)
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _reply

        def log_message(self, *args):  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return fake, server
