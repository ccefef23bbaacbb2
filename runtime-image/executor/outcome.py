"""What one execution came to, built once, and every sentence a caller can read about it.

The runtime side (exchange.py, engine.py) and the worker side (worker.py)
both take their wording from here, so one failure is always described the
same way.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import signal
from typing import Optional

# ------------------------------------------------------------------ sentences


def timeout(timeout_ms: int) -> str:
    return f"Script exceeded the time limit of {timeout_ms} ms"


def cpu_timeout(timeout_ms: int) -> str:
    return f"Script exceeded the time limit of {timeout_ms} ms (it used up its CPU time)"


def file_too_large(max_file_bytes: int) -> str:
    return f"The script tried to write a file larger than the limit of {max_file_bytes} bytes."


def memory_limit(memory_mib: int) -> str:
    return (f"The script ran out of memory: it exceeded the worker memory limit of "
            f"{memory_mib} MiB.")


def memory_budget(memory_mib: Optional[int]) -> str:
    if memory_mib is None:
        return ("The script ran out of memory: its processes together exhausted the memory of "
                "the execution environment, and the kernel killed one of them (never the "
                "executor).")
    return (f"The script ran out of memory: its processes together exceeded the execution's "
            f"memory budget of {memory_mib} MiB, and the kernel killed one of them.")


def killed_by(number: int) -> str:
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = f"signal {number}"
    description = signal.strsignal(number) or name
    return f"The script's process was killed by {name} ({description}) before it returned a result."


def exit_status(code: int) -> str:
    return (f"The script ended its process with exit status {code} (os._exit or a crash) "
            "before it returned a result.")


def sys_exit(code_text: str) -> str:
    return (f"The script called sys.exit({code_text}) before it finished; "
            "return from main() or let the script end instead.")


RESULT_CHANNEL_CORRUPT = ("The script wrote into the executor's result channel; its result "
                          "could not be read.")
WORKER_LOST_BEFORE_REQUEST = ("The worker process died before it received the request; the "
                              "script did not run. Retry the request.")
WORKER_NOT_READY = ("The worker process ended before its sandbox was ready; the execution was "
                    "not attempted.")
SETUP_FAILED = "The worker's sandbox could not be set up."
WORKER_VANISHED = "The script's worker process disappeared before returning a result."
TEMPLATE_KILLED = ("The script stopped or killed the executor's worker template, which ended "
                   "the script's own process before it returned a result.")
RUNTIME_STOPPED = ("The script stopped the executor while it ran; the execution was ended "
                   "and its result discarded.")


def setup_timeout(seconds: float) -> str:
    return f"The worker's sandbox was not ready after {seconds:.0f} seconds."


def bad_upload_policy(problem: str) -> str:
    return f"The invoker sent a malformed artifact upload policy: {problem}."


# ------------------------------------------------------------------ captured output

_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"          # CSI: colours, cursor movement
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: titles, hyperlinks
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"     # DCS, SOS, PM, APC strings
    r"|\x1b[@-Z\\-_]"                   # other two-byte escapes
    r"|\x9b[0-?]*[ -/]*[@-~]"           # 8-bit CSI
)


class Capture:
    """One output stream: keeps the first max_bytes, counts everything."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.chunks: list[bytes] = []
        self.kept = 0
        self.total = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = self.max_bytes - self.kept
        if room > 0:
            piece = data[:room]
            self.chunks.append(piece)
            self.kept += len(piece)

    @property
    def truncated(self) -> bool:
        return self.total > self.max_bytes

    def text(self) -> str:
        decoded = b"".join(self.chunks).decode("utf-8", "replace")
        return _ANSI.sub("", decoded)


# ------------------------------------------------------------------ the outcome


class Status(enum.Enum):
    COMPLETED = "completed"  # main() returned and its result encoded
    FAILED = "failed"        # the script failed: an error type of the contract
    INTERNAL = "internal"    # the executor could not run the script


# What a worker may report in an error frame; anything else is forged.
WORKER_ERROR_TYPES = frozenset((
    "ScriptError", "MemoryLimit", "OutputLimit", "ResultNotSerializable",
    "ResultTooLarge", "PolicyViolation", "Timeout",
))


@dataclasses.dataclass
class Outcome:
    status: Status
    stdout: Capture
    stderr: Capture
    duration_ms: float = 0.0
    result_json: Optional[str] = None
    error_type: Optional[str] = None
    error: Optional[str] = None
    traceback: Optional[str] = None

    def fail(self, error_type: str, error: str, trace: Optional[str] = None) -> "Outcome":
        self.status = Status.FAILED
        self.result_json = None
        self.error_type, self.error, self.traceback = error_type, error, trace
        return self

    def internal(self, error: str) -> "Outcome":
        self.status = Status.INTERNAL
        self.result_json = None
        self.error_type, self.error, self.traceback = "InternalError", error, None
        return self

    def complete(self, result_json: str) -> "Outcome":
        self.status = Status.COMPLETED
        self.result_json = result_json
        self.error_type = self.error = self.traceback = None
        return self
