"""Isolation layers: one verdict per layer, each from a probe, never from a hope.

A layer is "active" only when its probe worked on this host, "off" when it
applies here but could not be set up (the reason says why), and "n/a" when
the host makes it pointless (for example the runtime guard when workers
cannot signal the runtime at all). The health report lists every layer with
its verdict, and that is all the product claims.
"""

from __future__ import annotations

import dataclasses
import enum
import os
from typing import Any, Callable, Optional

LAYER_NAMES = (
    "worker_process",
    "template",
    "containment",
    "unprivileged_uid",
    "namespaces",
    "network_isolation",
    "rlimits",
    "execution_memory",
    "non_dumpable_parent",
    "seccomp",
    "runtime_guard",
    "audit_hook",
    "scrubbed_environment",
    "fresh_workdir",
    "redaction",
)


class State(enum.Enum):
    ACTIVE = "active"
    OFF = "off"
    NOT_APPLICABLE = "n/a"


@dataclasses.dataclass(frozen=True)
class Layer:
    state: State
    detail: str

    @property
    def active(self) -> bool:
        return self.state is State.ACTIVE

    def to_report(self) -> dict[str, Any]:
        return {"active": self.active, "state": self.state.value, "detail": self.detail}


def active(detail: str) -> Layer:
    return Layer(State.ACTIVE, detail)


def off(detail: str) -> Layer:
    return Layer(State.OFF, detail)


def not_applicable(detail: str) -> Layer:
    return Layer(State.NOT_APPLICABLE, detail)


def in_child(step: Callable[[], Optional[str]]) -> tuple[bool, str]:
    """Run step in a forked child (so nothing it changes touches the runtime).

    Returns (worked, detail): step's return value, or the exception's message.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        try:
            detail = step() or "ok"
            os.write(write_fd, b"1" + detail.encode()[:2000])
            os._exit(0)
        except BaseException as error:  # deliberate: any failure means "off"
            message = str(error) or type(error).__name__
            try:
                os.write(write_fd, b"0" + message.encode()[:2000])
            finally:
                os._exit(1)
    os.close(write_fd)
    chunks = []
    while True:
        chunk = os.read(read_fd, 4096)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_fd)
    os.waitpid(pid, 0)
    answer = b"".join(chunks)
    if not answer:
        return False, "the probe process died without an answer"
    return answer[:1] == b"1", answer[1:].decode(errors="replace")
