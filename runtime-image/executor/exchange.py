"""The exchange with one worker: hand over the request, read what comes back in time.

The runtime writes the request to the parked worker's pipe and reads
stdout, stderr (each capped) and the result frame (from its own pipe, never
from stdout) until the result arrives, the worker exits (the template
reports its exit status) or the wall-clock deadline passes. It never waits
for end-of-file on the output pipes: processes the script started may hold
them open, and containment (contain.py) deals with those.
"""

from __future__ import annotations

import dataclasses
import os
import select
import selectors
import signal
import time
from typing import Optional

from . import frames, outcome
from .frames import FrameKind
from .outcome import Capture, Outcome, Status
from .template import Template, TemplateError

READ_CHUNK_BYTES = 65536
# A result frame is the encoded result plus a little framing; anything bigger
# was not written by the worker's own code.
FRAME_SLACK_BYTES = 1 << 16


@dataclasses.dataclass
class ParkedWorker:
    pid: int
    start_ticks: int
    workdir: str  # the runtime's view of the worker's directory
    request_fd: int
    result_fd: int
    stdout_fd: int
    stderr_fd: int
    buffered: bytearray = dataclasses.field(default_factory=bytearray)
    ready: bool = False
    setup_error: Optional[str] = None
    used: bool = False

    def close_fds(self) -> None:
        for fd in (self.request_fd, self.result_fd, self.stdout_fd, self.stderr_fd):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.request_fd = self.result_fd = self.stdout_fd = self.stderr_fd = -1


def await_ready(worker: ParkedWorker, template: Template, timeout_s: float) -> None:
    """Block until the new worker reports its sandbox ready (or failed).

    Waiting here, after the previous response was posted, makes the recycle
    a clean cut: a setup failure is known before a request is handed over.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        frame = frames.take(worker.buffered)
        if frame is not None:
            kind, payload = frame
            if kind is FrameKind.READY:
                worker.ready = True
            else:
                worker.setup_error = (frames.json_field(payload, "error")
                                      if kind is FrameKind.SETUP_FAILED else None) \
                    or outcome.SETUP_FAILED
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            worker.setup_error = outcome.setup_timeout(timeout_s)
            return
        readable, _, _ = select.select([worker.result_fd], [], [], remaining)
        if not readable:
            continue
        chunk = _read_some(worker.result_fd)
        if chunk is None:
            continue
        if chunk == b"":
            worker.setup_error = outcome.WORKER_NOT_READY
            return
        worker.buffered.extend(chunk)


@dataclasses.dataclass
class _Progress:
    ready: bool
    result: Optional[tuple[Optional[FrameKind], bytes]] = None
    exited: bool = False
    timed_out: bool = False
    corrupt: bool = False
    lost: bool = False


def run(worker: ParkedWorker, template: Template, message: bytes, timeout_ms: int,
        max_stdout_bytes: int, max_stderr_bytes: int, max_result_bytes: int,
        max_file_bytes: int) -> Outcome:
    """Run one request on the parked worker; returns what it came to."""
    result = Outcome(Status.INTERNAL, Capture(max_stdout_bytes), Capture(max_stderr_bytes))
    started = time.monotonic()
    progress = _Progress(ready=worker.ready)
    ran_from = _exchange(worker, template, message, started + timeout_ms / 1000, progress,
                         result, max_result_bytes + FRAME_SLACK_BYTES)
    result.duration_ms = (time.monotonic() - ran_from) * 1000
    return _classify(worker, template, progress, result, timeout_ms, max_file_bytes)


def _exchange(worker: ParkedWorker, template: Template, message: bytes, deadline: float,
              progress: _Progress, result: Outcome, frame_limit: int) -> float:
    """The select loop; returns when the script started running (for durationMs)."""
    ran_from = time.monotonic()
    pending = memoryview(message)
    selector = selectors.DefaultSelector()
    captures = {worker.stdout_fd: result.stdout, worker.stderr_fd: result.stderr}
    try:
        selector.register(worker.request_fd, selectors.EVENT_WRITE, "request")
        selector.register(worker.result_fd, selectors.EVENT_READ, "result")
        selector.register(worker.stdout_fd, selectors.EVENT_READ, "output")
        selector.register(worker.stderr_fd, selectors.EVENT_READ, "output")
        selector.register(template.fileno(), selectors.EVENT_READ, "template")
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                progress.timed_out = True
                break
            for key, _ in selector.select(remaining):
                if key.data == "request":
                    try:
                        written = os.write(worker.request_fd, pending[:READ_CHUNK_BYTES])
                        pending = pending[written:]
                    except BlockingIOError:
                        continue
                    except OSError:
                        # EPIPE: the worker died while parked; nothing of the script ran.
                        progress.lost = True
                        break
                    if not pending:
                        selector.unregister(worker.request_fd)
                        os.close(worker.request_fd)
                        worker.request_fd = -1
                elif key.data == "result":
                    chunk = _read_some(worker.result_fd)
                    if chunk == b"":
                        selector.unregister(worker.result_fd)
                    elif chunk:
                        worker.buffered.extend(chunk)
                        progress.corrupt = len(worker.buffered) > frame_limit
                elif key.data == "template":
                    try:
                        template.take_messages()
                    except TemplateError:
                        pass
                    if template.gone:
                        selector.unregister(template.fileno())
                    progress.exited = template.gone or template.exit_status(worker.pid) is not None
                else:
                    chunk = _read_some(key.fd)
                    if chunk == b"":
                        selector.unregister(key.fd)
                    elif chunk:
                        captures[key.fd].add(chunk)
            if progress.lost or progress.corrupt:
                break
            if not progress.ready:
                parsed = frames.take(worker.buffered)
                if parsed is not None:
                    if parsed[0] is not FrameKind.READY:
                        progress.result = parsed
                        break
                    progress.ready = True
                    ran_from = time.monotonic()
            if progress.ready:
                progress.result = frames.take(worker.buffered)
                if progress.result is not None:
                    break
            if progress.exited:
                break
    finally:
        selector.close()
    # Whatever the worker wrote before its result or its death is in the
    # pipes now; take it without waiting for end-of-file.
    for fd, capture in captures.items():
        _drain(fd, capture.add)
    if progress.result is None and not progress.timed_out and not progress.corrupt:
        _drain(worker.result_fd, worker.buffered.extend)
        parsed = frames.take(worker.buffered)
        if parsed is not None and parsed[0] is FrameKind.READY and not progress.ready:
            progress.ready = True
            parsed = frames.take(worker.buffered)
        progress.result = parsed
    return ran_from


def _classify(worker: ParkedWorker, template: Template, progress: _Progress, result: Outcome,
              timeout_ms: int, max_file_bytes: int) -> Outcome:
    if progress.lost:
        return result.internal(outcome.WORKER_LOST_BEFORE_REQUEST)
    if progress.timed_out:
        return result.fail("Timeout", outcome.timeout(timeout_ms))
    if progress.corrupt:
        return result.fail("ScriptError", outcome.RESULT_CHANNEL_CORRUPT)
    if progress.result is not None:
        kind, payload = progress.result
        if kind is FrameKind.RESULT:
            return result.complete(payload.decode("utf-8", "replace"))
        if kind is FrameKind.SETUP_FAILED:
            return result.internal(frames.json_field(payload, "error") or outcome.SETUP_FAILED)
        if kind is FrameKind.ERROR:
            detail = frames.json_object(payload)
            if detail is not None and detail.get("errorType") in outcome.WORKER_ERROR_TYPES \
                    and isinstance(detail.get("error"), str):
                trace = detail.get("traceback")
                return result.fail(detail["errorType"], detail["error"],
                                   trace if isinstance(trace, str) else None)
        return result.fail("ScriptError", outcome.RESULT_CHANNEL_CORRUPT)
    if not progress.ready:
        return result.internal(outcome.WORKER_NOT_READY)
    status = template.exit_status(worker.pid)
    if status is None:
        return result.fail("ScriptError",
                           outcome.TEMPLATE_KILLED if template.gone else outcome.WORKER_VANISHED)
    return classify_exit_status(result, status, timeout_ms, max_file_bytes)


def classify_exit_status(result: Outcome, status: int, timeout_ms: int,
                         max_file_bytes: int) -> Outcome:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        if number == signal.SIGXCPU:
            return result.fail("Timeout", outcome.cpu_timeout(timeout_ms))
        if number == signal.SIGXFSZ:
            return result.fail("OutputLimit", outcome.file_too_large(max_file_bytes))
        return result.fail("ScriptError", outcome.killed_by(number))
    return result.fail("ScriptError", outcome.exit_status(os.waitstatus_to_exitcode(status)))


def _read_some(fd: int) -> Optional[bytes]:
    try:
        return os.read(fd, READ_CHUNK_BYTES)
    except BlockingIOError:
        return None
    except OSError:
        return b""


def _drain(fd: int, sink: object) -> None:
    if fd < 0:
        return
    while True:
        chunk = _read_some(fd)
        if not chunk:
            return
        sink(chunk)  # type: ignore[operator]
