"""A Lambda Runtime API for one runtime, as AWS's Runtime Interface Emulator behaves.

The tests run the real executor (`python3 -m executor`) against it, as Lambda
and the local server do. It answers every caller the way the service would,
including a script that reaches it: a second /next during an invocation gets
the same event again (the emulator's behaviour; nothing documents that real
Lambda refuses it), a post for the active request id is accepted from
anyone. What a genuine runtime never does is recorded as an anomaly, so a
test can tell that a script talked to the API.
"""

from __future__ import annotations

import dataclasses
import http.server
import itertools
import json
import threading
import time
from typing import Any, Callable, Optional

PREFIX = "/2018-06-01/runtime"
# Lambda's synchronous response limit (the emulator's MaxPayloadSize).
MAX_RESPONSE_BYTES = 6 * 1024 * 1024 + 100
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:executor"


@dataclasses.dataclass
class Answer:
    kind: str  # "response" or "error"
    body: bytes
    status: int  # what the API answered the post with
    request_id: str = ""

    def json(self) -> Any:
        return json.loads(self.body)


@dataclasses.dataclass
class _Invocation:
    request_id: str
    body: bytes
    deadline_ms: int
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    delivered: int = 0
    answer: Optional[Answer] = None
    # ready_count when the answer arrived: the runtime has finished with this
    # invocation once it asks for work again after that.
    ready_at_answer: int = 0
    done: threading.Event = dataclasses.field(default_factory=threading.Event)


class RuntimeApi:
    def __init__(self, function_timeout_s: float = 30.0) -> None:
        self.function_timeout_s = function_timeout_s
        self._lock = threading.Condition()
        self._queue: list[_Invocation] = []
        self._active: Optional[_Invocation] = None
        self._by_id: dict[str, _Invocation] = {}
        self._counter = itertools.count(1)
        self.init_errors: list[tuple[bytes, dict[str, str]]] = []
        self.init_error_seen = threading.Event()
        self.anomalies: list[str] = []
        self.closing = False
        # Called with the request id while a post for the open invocation is
        # being accepted, before anyone can see the answer: the moment at
        # which nothing of the execution may be alive any more.
        self.on_answer: Optional[Callable[[str], None]] = None
        self.nexts = 0
        # How many times the runtime came back for more work: a /next with no
        # invocation open (its recycling after the last one is done).
        self.ready_count = 0
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without this, Nagle's
            # algorithm and the client's delayed ACK add 40 ms to each answer
            # (Lambda's own Runtime API, in Go, sets TCP_NODELAY too).
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path != f"{PREFIX}/invocation/next":
                    api._note(f"GET {self.path}")
                    self._send(404, b'{"errorType":"NotFound"}')
                    return
                invocation = api._next()
                if invocation is None:
                    self._send(503, b'{"errorType":"ShuttingDown"}')
                    return
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", invocation.request_id)
                self.send_header("Lambda-Runtime-Deadline-Ms", str(invocation.deadline_ms))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", FUNCTION_ARN)
                for name, value in invocation.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(invocation.body)))
                self.end_headers()
                self.wfile.write(invocation.body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                if length > MAX_RESPONSE_BYTES:
                    self.rfile.read(length)
                    self._send(413, b'{"errorType":"RequestEntityTooLarge"}')
                    api._post_too_large(self.path)
                    return
                body = self.rfile.read(length)
                parts = self.path[len(PREFIX):].strip("/").split("/")
                if self.path.startswith(PREFIX) and parts[:2] == ["init", "error"]:
                    api._init_error(body, dict(self.headers))
                    self._send(202, b'{"status":"OK"}')
                    return
                if not (self.path.startswith(PREFIX) and len(parts) == 3
                        and parts[0] == "invocation" and parts[2] in ("response", "error")):
                    api._note(f"POST {self.path}")
                    self._send(404, b'{"errorType":"NotFound"}')
                    return
                if api.on_answer is not None:
                    api.on_answer(parts[1])
                status = api._answer(parts[1], parts[2], body)
                self._send(status, b'{"status":"OK"}' if status == 202
                           else b'{"errorType":"InvalidRequestID"}')

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that went away mid-request is not the test's failure

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    # ------------------------------------------------------------------ the test's side

    def submit(self, body: bytes, request_id: Optional[str] = None,
               deadline_ms: Optional[int] = None, headers: Optional[dict[str, str]] = None) -> str:
        request_id = request_id or f"invocation-{next(self._counter)}"
        deadline = deadline_ms or int(time.time() * 1000 + self.function_timeout_s * 1000)
        invocation = _Invocation(request_id, body, deadline, dict(headers or {}))
        with self._lock:
            self._by_id[request_id] = invocation
            self._queue.append(invocation)
            self._lock.notify_all()
        return request_id

    def wait(self, request_id: str, timeout_s: float) -> Optional[Answer]:
        invocation = self._by_id[request_id]
        if not invocation.done.wait(timeout_s):
            return None
        return invocation.answer

    def invoke(self, body: bytes, request_id: Optional[str] = None,
               deadline_ms: Optional[int] = None, timeout_s: float = 60.0,
               headers: Optional[dict[str, str]] = None) -> Answer:
        request_id = self.submit(body, request_id, deadline_ms, headers)
        answer = self.wait(request_id, timeout_s)
        if answer is None:
            raise TimeoutError(f"no answer to {request_id} within {timeout_s:.0f} s")
        return answer

    def wait_recycled(self, request_id: str, timeout_s: float) -> bool:
        """Wait until the runtime asks for work again after answering request_id."""
        invocation = self._by_id[request_id]
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while self.ready_count <= invocation.ready_at_answer:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
            return True

    def deliveries(self, request_id: str) -> int:
        """How many times /next handed this invocation out."""
        return self._by_id[request_id].delivered

    def idle(self) -> bool:
        """True while a /next waits and nothing is active or queued."""
        with self._lock:
            return self._active is None and not self._queue

    def close(self) -> None:
        with self._lock:
            self.closing = True
            self._lock.notify_all()
        self.server.shutdown()
        self.server.server_close()

    # ------------------------------------------------------------------ the runtime's side

    def _note(self, what: str) -> None:
        with self._lock:
            self.anomalies.append(what)

    def _next(self) -> Optional[_Invocation]:
        with self._lock:
            self.nexts += 1
            if self._active is not None and self._active.answer is None:
                # The emulator hands the active event out again; a genuine
                # runtime never asks while its invocation is open.
                self.anomalies.append(f"/next during {self._active.request_id}")
                self._active.delivered += 1
                return self._active
            self._active = None
            self.ready_count += 1
            self._lock.notify_all()
            while not self._queue:
                if self.closing:
                    return None
                self._lock.wait(0.5)
            invocation = self._queue.pop(0)
            invocation.delivered += 1
            self._active = invocation
            return invocation

    def _answer(self, request_id: str, kind: str, body: bytes) -> int:
        with self._lock:
            active = self._active
            if active is None or active.request_id != request_id or active.answer is not None:
                self.anomalies.append(f"{kind} for {request_id} that is not the open invocation")
                return 400
            active.answer = Answer(kind, body, 202, request_id)
            active.ready_at_answer = self.ready_count
            active.done.set()
            return 202

    def _post_too_large(self, path: str) -> None:
        with self._lock:
            active = self._active
            if active is not None and active.answer is None:
                active.answer = Answer("error", b'{"errorType":"Function.ResponseSizeTooLarge"}', 413,
                                       active.request_id)
                active.done.set()

    def _init_error(self, body: bytes, headers: dict[str, str]) -> None:
        with self._lock:
            self.init_errors.append((body, headers))
            self.init_error_seen.set()
            if self.nexts:
                self.anomalies.append("init/error after init")
