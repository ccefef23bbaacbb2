"""The Lambda Runtime API loop: next, respond, recycle, repeat.

Owning the loop (instead of awslambdaric) is what lets the used worker be
killed and the next one forked after the response is posted and before the
next /next, off the caller's latency. The same loop runs inside Lambda and
against the local server's Runtime API emulator.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import signal
import socket
import sys
import time
import traceback
from typing import Any, Optional

from .contain import Uncontainable
from .contract import ContractError, error_response, parse_body
from .engine import LAMBDA_RESPONSE_LIMIT_BYTES, Engine, RuntimeTampered, TemplateLost
from .seal import SealError, Sealer
from .secrecy import SEAL_KEY_VARIABLE
from .limits import Limits

API_VERSION = "2018-06-01"


class RuntimeApiError(Exception):
    """The Runtime API answered something the loop cannot work with."""


class AnsweredElsewhere(RuntimeApiError):
    """The Runtime API refused the runtime's answer: someone else answered first.

    Only a process inside the environment can do that, so a script reached
    the Runtime API (possible with native code where workers share the
    runtime's uid). Its processes are contained already; the loop goes on.
    """


@dataclasses.dataclass
class Invocation:
    request_id: str
    deadline_ms: Optional[int]
    trace_id: Optional[str]
    body: bytes


class RuntimeClient:
    """A tiny Runtime API client on one keep-alive connection (no proxies, no retries of posts)."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise RuntimeApiError(
                f"AWS_LAMBDA_RUNTIME_API must be host:port, but it is {address!r}.")
        self.host = host.strip("[]")
        self.port = int(port)
        self.connection: Optional[http.client.HTTPConnection] = None

    def _request(self, method: str, path: str, body: Optional[bytes] = None,
                 headers: Optional[dict[str, str]] = None) -> tuple[int, dict[str, str], bytes]:
        for attempt in (1, 2):
            if self.connection is None:
                # The /next call blocks until an invocation arrives: no timeout.
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=None)
                self.connection.connect()
                # Small writes go out at once instead of waiting on the
                # server's delayed ACK.
                self.connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                self.connection.request(method, path, body=body, headers=headers or {})
                answer = self.connection.getresponse()
                data = answer.read()
                return answer.status, {k.lower(): v for k, v in answer.getheaders()}, data
            except (http.client.HTTPException, ConnectionError, OSError):
                self.connection.close()
                self.connection = None
                # A keep-alive connection the server closed in between is
                # retried once, and only for /next, which has no side effect.
                if attempt == 2 or method != "GET":
                    raise
        raise RuntimeApiError("unreachable")

    def next(self) -> Invocation:
        status, headers, body = self._request(
            "GET", f"/{API_VERSION}/runtime/invocation/next")
        if status != 200:
            raise RuntimeApiError(f"/invocation/next answered HTTP {status}: {body[:200]!r}")
        request_id = headers.get("lambda-runtime-aws-request-id")
        if not request_id:
            raise RuntimeApiError("/invocation/next answered without Lambda-Runtime-Aws-Request-Id")
        deadline = headers.get("lambda-runtime-deadline-ms")
        return Invocation(
            request_id=request_id,
            deadline_ms=int(deadline) if deadline and deadline.isdigit() else None,
            trace_id=headers.get("lambda-runtime-trace-id"),
            body=body,
        )

    def respond(self, request_id: str, payload: bytes) -> None:
        status, _, body = self._request(
            "POST", f"/{API_VERSION}/runtime/invocation/{request_id}/response", payload,
            {"Content-Type": "application/json"})
        if status in (400, 403):
            raise AnsweredElsewhere(f"posting the response answered HTTP {status}: {body[:200]!r}")
        if status >= 300:
            raise RuntimeApiError(f"posting the response answered HTTP {status}: {body[:200]!r}")

    def error(self, request_id: str, error_type: str, message: str) -> None:
        self._post_error(f"/{API_VERSION}/runtime/invocation/{request_id}/error",
                         error_type, message)

    def init_error(self, error_type: str, message: str) -> None:
        self._post_error(f"/{API_VERSION}/runtime/init/error", error_type, message)

    def _post_error(self, path: str, error_type: str, message: str) -> None:
        payload = json.dumps({"errorMessage": message, "errorType": error_type,
                              "stackTrace": []}).encode("utf-8")
        self._request("POST", path, payload, {
            "Content-Type": "application/json",
            "Lambda-Runtime-Function-Error-Type": error_type,
        })


def encode_response(response: dict[str, Any]) -> bytes:
    text = json.dumps(response, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate in a result has no UTF-8 form; escaped JSON still carries it.
        return json.dumps(response, ensure_ascii=True, separators=(",", ":")).encode("ascii")


# {"sealedResponse":"v1","tag":"<44 characters>","response":...}
SEAL_ENVELOPE_BYTES = 128


def fit_response(response: dict[str, Any], reserved_bytes: int = 0) -> bytes:
    """The encoded response, or an OutputLimit answer when it would not fit in Lambda's 6 MB.

    A payload over the limit makes the Runtime API refuse it and the caller
    gets a bare function error; this answer says what happened instead.
    """
    limit = LAMBDA_RESPONSE_LIMIT_BYTES - reserved_bytes
    payload = encode_response(response)
    if len(payload) <= limit:
        return payload
    fitted = dict(response, ok=False, result=None, artifacts=[], errorType="OutputLimit",
                  error=(f"The answer would be {len(payload)} bytes, over the "
                         f"{limit} bytes a Lambda response can carry; "
                         "return a smaller result, print less, or call through the API so "
                         "that files come back as links."), traceback=None)
    for stream in ("stdout", "stderr"):
        text = fitted.get(stream) or ""
        if len(text.encode("utf-8")) > 65536:
            fitted[stream] = text.encode("utf-8")[:65536].decode("utf-8", "ignore")
            fitted["truncated"] = dict(fitted.get("truncated") or {}, **{stream: True})
    return encode_response(fitted)


# DEBUG adds the lines only a developer wants (the whole health report at
# init); INFO keeps one short line per event.
LOG_LEVEL_VARIABLE = "EXECUTOR_LOG_LEVEL"


def debug_logging() -> bool:
    return os.environ.get(LOG_LEVEL_VARIABLE, "").strip().upper() == "DEBUG"


def log(level: str, message: str, **fields: Any) -> None:
    """One structured line on stdout (CloudWatch); never the script or its output."""
    if level == "DEBUG" and not debug_logging():
        return
    record = {"level": level, "message": message, **fields}
    sys.stdout.write(json.dumps(record, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def health_summary(report: dict[str, Any]) -> dict[str, Any]:
    """The init line's fields: a few hundred bytes, where the whole report is kilobytes."""
    layers = report.get("layers", {})
    return {
        "python": report.get("python"),
        "profile": report.get("profile"),
        "initMs": report.get("initMs"),
        "preloads": {name: bool(state.get("loaded")) for name, state in report.get("preloads", {}).items()},
        "layersActive": sorted(name for name, layer in layers.items() if layer.get("active")),
        "layersOff": sorted(name for name, layer in layers.items() if not layer.get("active")),
    }


NOT_SEALABLE = ("The invoker sealed this request, but this executor has no EXECUTOR_SEAL_KEY: "
                "give both functions the same key.")


def handle(engine: Engine, invocation: Invocation) -> tuple[bytes, dict[str, Any]]:
    """The payload to post for one invocation (signed when it came sealed) and the response."""
    nonce: Optional[bytes] = None
    response: Optional[dict[str, Any]] = None
    try:
        event: Any = parse_body(invocation.body)
    except ContractError as error:
        response = error_response(invocation.request_id, error.error_type, error.message)
    if response is None and Sealer.is_sealed(event):
        if engine.sealer is None:
            response = error_response(invocation.request_id, "InternalError", NOT_SEALABLE)
        else:
            try:
                event, nonce = engine.sealer.open(event)
            except SealError as error:
                response = error_response(invocation.request_id, "InternalError",
                                          f"The executor could not open the request: {error}.")
    if response is None:
        # Any JSON at all, null included, goes to the engine, whose
        # validation answers every malformed event with InvalidRequest.
        response = engine.execute(event, invocation.request_id, invocation.deadline_ms)
    if nonce is None or engine.sealer is None:
        return fit_response(response), response
    return engine.sealer.sign(fit_response(response, SEAL_ENVELOPE_BYTES), nonce), response


# Set by the SIGTERM handler. Its SystemExit is lost when the signal lands in
# an os.fork() callback (logging's at-fork lock release ignores exceptions),
# so the loop also checks this before it blocks in /next again.
_stop_requested = False


def serve(client: RuntimeClient, engine: Engine, max_invocations: Optional[int] = None) -> None:
    handled = 0
    while max_invocations is None or handled < max_invocations:
        if _stop_requested:
            raise SystemExit(0)
        _invoke_once(client, engine)
        handled += 1
        # After the response: wipe, verify, and park the next worker before
        # asking for more, so that all of it stays off the caller's latency.
        engine.recycle()


def _invoke_once(client: RuntimeClient, engine: Engine) -> None:
    invocation = client.next()
    if invocation.trace_id:
        # X-Ray context for the parent's own calls; workers get a clean
        # environment and never see it.
        os.environ["_X_AMZN_TRACE_ID"] = invocation.trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)
    started = time.perf_counter()
    try:
        payload, response = handle(engine, invocation)
    except Uncontainable:
        raise  # never answer: the caller of serve() exits and Lambda resets the environment
    except Exception as error:  # deliberate: an executor fault goes to /error
        log("ERROR", "executor fault", requestId=invocation.request_id,
            error=f"{type(error).__name__}: {error}", stack=traceback.format_exc(limit=8))
        client.error(invocation.request_id, "Executor.InternalError",
                     f"The executor failed: {type(error).__name__}: {error}")
        return
    try:
        client.respond(invocation.request_id, payload)
    except AnsweredElsewhere as error:
        log("ERROR", "another process answered this invocation before the runtime did; a "
            "script reached the Runtime API", requestId=invocation.request_id,
            error=str(error))
        return
    log("INFO", "execution finished", requestId=response.get("requestId"),
        ok=response.get("ok"), errorType=response.get("errorType"),
        durationMs=response.get("durationMs"), sealed=payload.startswith(b'{"sealedResponse"'),
        totalMs=round((time.perf_counter() - started) * 1000, 3))


def _start_over(seal_secret: Optional[str]) -> None:
    """Replace this process with a fresh runtime: same pid, new memory, new template.

    The environment is this process's own copy, without the credentials it
    dropped at init, plus the seal key it took then (the new runtime takes it
    out again); the new runtime's init kills what is left of this one.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    environment = dict(os.environ)
    if seal_secret is not None:
        environment[SEAL_KEY_VARIABLE] = seal_secret
    # The same command line it was started with (python3 -m executor, or a
    # wrapper module around it).
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], environment)


def main(argv: Optional[list[str]] = None) -> int:
    address = os.environ.get("AWS_LAMBDA_RUNTIME_API")
    if not address:
        sys.stderr.write(
            "AWS_LAMBDA_RUNTIME_API is not set: this program is a Lambda runtime. Run it inside "
            "Lambda, under the local server (npm start), or with the runtime interface "
            "emulator: /usr/local/bin/aws-lambda-rie python3 -m executor\n")
        return 2
    client = RuntimeClient(address)
    try:
        engine = Engine(Limits.from_env(os.environ))
    except Exception as error:  # deliberate: reported to Lambda as an init error
        message = f"The executor could not start: {type(error).__name__}: {error}"
        log("ERROR", message, stack=traceback.format_exc(limit=8))
        client.init_error("Runtime.ExecutorInitError", message)
        return 1
    report = engine.health()
    log("INFO", "executor initialised", **health_summary(report))
    log("DEBUG", "executor health", health=report)

    def stop(number: int, frame: Any) -> None:
        # Lambda (with extensions) and the local server end a runtime with
        # SIGTERM: leave no worker or leftover behind.
        global _stop_requested
        _stop_requested = True
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        serve(client, engine)
    except Uncontainable as error:
        log("ERROR", "processes of an execution could not be shown dead; exiting without an "
            "answer so that Lambda resets the environment", error=str(error))
        return 1
    except RuntimeTampered as error:
        log("ERROR", "a script changed the runtime itself; exiting so that Lambda resets the "
            "environment", error=str(error))
        engine.close()
        return 1
    except TemplateLost as error:
        log("WARN", "the worker template was lost; starting over from a fresh process",
            error=str(error))
        seal_secret = engine.seal_secret()
        engine.close()
        _start_over(seal_secret)
    finally:
        engine.close()
    return 0
