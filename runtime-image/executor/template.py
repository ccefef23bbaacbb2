"""The worker template: forked once at init, it later becomes each worker in turn.

Why it exists: a worker is a fork, so it starts with a copy of its parent's
memory. Forked from the runtime itself, a worker would inherit what the
runtime has handled since init: earlier requests and their outputs, and the
copies of secrets that redaction made, whether still referenced by the
runtime's caller or freed but not overwritten (pymalloc keeps freed blocks
intact unless the interpreter started with PYTHONMALLOC=malloc). The template
is forked before the first request, wipes the secrets it inherited, and from
then on receives nothing but spawn orders: the worker's plan (sandbox.Plan
without the secrets) and its four pipe ends. So no worker can find any
request, output or secret in memory it inherited, whatever the runtime holds.

It costs no extra fork: on an order the template forks its successor and then
turns itself into the worker. Each worker is therefore the runtime's own
child, which waits for it, polls its pidfd and classifies its exit status as
before: the first template is forked by the runtime, and each successor is
re-parented to the runtime (a child subreaper) when the worker above it dies,
which recycle() waits for before it orders the next worker. Until then the
successor is a child of that worker; it stays in the runtime's session and
process group, keeps the runtime's uid and dumpable flag (off where the
non_dumpable_parent layer is on), and holds no descriptor but its order
socket, so a script can at most kill it, after which the runtime forks
workers from itself again.
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import socket
from typing import Any, NoReturn

from . import sandbox, worker

# An order is a small JSON object; the pipe ends travel as SCM_RIGHTS.
ORDER_MAX_BYTES = 65536
WORKER_FDS = 4
# Forking the template takes milliseconds; this only bounds a stopped or
# wedged template on a heavily loaded host.
REPLY_TIMEOUT_S = 10.0
_MAX_FD = 1 << 16
# Everything of a plan but the secrets, which workers forked from a template
# never need: it wiped its own copies when it started.
_ORDER_FIELDS = ("workdir", "sandbox_uid", "namespaces", "memory_bytes", "max_file_bytes",
                 "max_open_files", "nproc_limit", "parent_pid")


class TemplateError(Exception):
    """The template could not hand over a worker; the runtime forks one itself."""


class Template:
    """The runtime's end of the template: its current pid and the order socket."""

    def __init__(self, pid: int, channel: socket.socket) -> None:
        self.pid = pid
        self.channel = channel

    @classmethod
    def start(cls, secrets: list[str], secret_bytes: list[bytes]) -> "Template":
        """Fork the first template; call once init is done and before any request."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            try:
                ours.close()
                _serve(theirs, secrets, secret_bytes)
            finally:
                os._exit(worker.SETUP_FAILED_EXIT)
        theirs.close()
        return cls(pid, ours)

    def spawn(self, plan: sandbox.Plan, result_limit_bytes: int, request_r: int, result_w: int,
              stdout_w: int, stderr_w: int) -> tuple[int, int]:
        """Order a worker; returns (the worker's pid, the successor template's pid)."""
        fields: dict[str, Any] = {name: getattr(plan, name) for name in _ORDER_FIELDS}
        program = plan.seccomp_program
        fields["seccomp_program"] = None if program is None else program.hex()
        fields["result_limit_bytes"] = result_limit_bytes
        order = json.dumps(fields).encode()
        try:
            socket.send_fds(self.channel, [order], [request_r, result_w, stdout_w, stderr_w])
            readable, _, _ = select.select([self.channel], [], [], REPLY_TIMEOUT_S)
            if not readable:
                raise TemplateError(f"the worker template did not answer within "
                                    f"{REPLY_TIMEOUT_S:.0f} s")
            reply = self.channel.recv(ORDER_MAX_BYTES)
        except OSError as error:
            raise TemplateError(f"the worker template is unreachable ({error})") from None
        if not reply:
            raise TemplateError("the worker template exited")
        try:
            answer = json.loads(reply)
            successor = answer["successor"]
        except (ValueError, KeyError, TypeError):
            raise TemplateError(f"the worker template answered {reply[:200]!r}") from None
        if not isinstance(successor, int):
            raise TemplateError(f"the worker template could not fork: {answer.get('error')}")
        worker_pid, self.pid = self.pid, successor
        return worker_pid, successor

    def stop(self) -> None:
        """Close the order socket (the template exits on EOF) and reap it."""
        self.channel.close()
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            return
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass  # still the child of a live worker: the recycle sweep reaps it


def _serve(channel: socket.socket, secrets: list[str], secret_bytes: list[bytes]) -> NoReturn:
    """The template's loop: wait for an order, fork a successor, become the worker."""
    # Every object that exists now stays for good: frozen, no collection
    # ever finalises one (a stray file object would close a descriptor
    # number that a later order reuses), and workers' collectors skip them.
    gc.freeze()
    keep = channel.fileno()
    os.closerange(3, keep)
    os.closerange(keep + 1, _MAX_FD)
    sandbox.scrub_worker_memory(secrets, secret_bytes)
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(channel, ORDER_MAX_BYTES, WORKER_FDS)
        except OSError:
            os._exit(0)
        if not message:
            os._exit(0)  # the runtime closed its end or exited
        try:
            if len(fds) != WORKER_FDS:
                raise ValueError(f"{len(fds)} descriptors instead of {WORKER_FDS}")
            plan, result_limit_bytes = _read_order(message)
            successor = os.fork()
        except (ValueError, KeyError, TypeError, OSError) as error:
            for fd in fds:
                os.close(fd)
            channel.send(json.dumps({"successor": None, "error": str(error)}).encode())
            continue
        if successor == 0:
            for fd in fds:
                os.close(fd)
            continue
        channel.send(json.dumps({"successor": successor}).encode())
        plan.template_pid = successor
        request_r, result_w, stdout_w, stderr_w = fds
        worker.start(plan, stdout_w, stderr_w, result_w, request_r, result_limit_bytes)


def _read_order(message: bytes) -> tuple[sandbox.Plan, int]:
    fields = json.loads(message)
    program = fields.pop("seccomp_program")
    result_limit_bytes = fields.pop("result_limit_bytes")
    if set(fields) != set(_ORDER_FIELDS) or not isinstance(result_limit_bytes, int):
        raise ValueError(f"malformed order with fields {sorted(fields)}")
    seccomp_program = None if program is None else bytes.fromhex(program)
    return (sandbox.Plan(**fields, seccomp_program=seccomp_program, secrets=[], secret_bytes=[]),
            result_limit_bytes)
