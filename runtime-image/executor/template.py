"""The worker template: forked once at init, it forks every worker.

Why it exists: a worker is a fork, so it starts with a copy of its parent's
memory. Forked from the runtime, a worker would inherit what the runtime has
handled since init: earlier requests and outputs, and the copies of secrets
that redaction needs. The template is forked before the first request,
wipes the secrets it inherited, and from then on receives nothing but spawn
orders: a worker's plan and its pipe ends. So no worker can find any
request, output or secret in memory it inherited.

Each order: the template checks itself (see _verify), forks the worker,
answers with the worker's pid, waits for the worker to exit and answers with
its exit status. It blocks every signal it can, so a script that shares its
uid (Lambda) can only stop or kill it, or change its limits: a stopped
template is continued by the runtime, a killed one or one whose limits it
cannot restore is retired, and the runtime then starts over from a fresh
process (engine.py), never from its own memory.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import select
import signal
import socket
from typing import Any, NoReturn, Optional

from . import procfs, seccomp_filter, secrecy, syscalls, worker

ORDER_MAX_BYTES = 1 << 16
WORKER_FDS = 4
NAMESPACE_FDS = 3
# Forking takes milliseconds; this only bounds a template that stopped
# answering on a heavily loaded host.
REPLY_TIMEOUT_S = 5.0
_MAX_FD = 1 << 16
_RLIMITS = tuple(getattr(resource, name) for name in dir(resource) if name.startswith("RLIMIT_"))


class TemplateError(Exception):
    """The template could not hand over a worker."""


class TemplateTampered(TemplateError):
    """The template found its own limits or priority changed and could not restore them."""


class Template:
    """The runtime's end of the template: its pid and the order channel."""

    def __init__(self, pid: int, channel: socket.socket) -> None:
        self.pid = pid
        self.channel = channel
        self.statuses: dict[int, int] = {}
        self.gone = False

    @classmethod
    def start(cls, secrets: list[str], secret_bytes: list[bytes], buffers: list[bytearray],
              seccomp_program: Optional[bytes]) -> "Template":
        """Fork the template; call once init is done and before any request."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            try:
                ours.close()
                _serve(theirs, secrets, secret_bytes, buffers, seccomp_program)
            finally:
                os._exit(worker.SETUP_FAILED_EXIT)
        theirs.close()
        return cls(pid, ours)

    def fileno(self) -> int:
        return self.channel.fileno()

    def order(self, plan: worker.Plan, fds: list[int]) -> int:
        """Order a worker; returns its pid."""
        try:
            socket.send_fds(self.channel, [plan.to_json()], fds)
            while True:
                message = self._receive(REPLY_TIMEOUT_S)
                if "worker" in message:
                    return int(message["worker"])
                if "tampered" in message:
                    self.gone = True
                    raise TemplateTampered(str(message["tampered"]))
                if "error" in message:
                    raise TemplateError(f"the worker template could not fork: {message['error']}")
        except OSError as error:
            self.gone = True
            raise TemplateError(f"the worker template is unreachable ({error})") from None

    def take_messages(self) -> None:
        """Read whatever the template said without waiting (exit statuses)."""
        while not self.gone:
            readable, _, _ = select.select([self.channel], [], [], 0)
            if not readable:
                return
            self._receive(0)

    def exit_status(self, worker_pid: int) -> Optional[int]:
        return self.statuses.get(worker_pid)

    def forget(self, worker_pid: int) -> None:
        self.statuses.pop(worker_pid, None)

    def _receive(self, timeout_s: float) -> dict[str, Any]:
        readable, _, _ = select.select([self.channel], [], [], timeout_s)
        if not readable:
            raise TemplateError(f"the worker template did not answer within {timeout_s:.0f} s")
        data = self.channel.recv(ORDER_MAX_BYTES)
        if not data:
            self.gone = True
            raise TemplateError("the worker template exited")
        try:
            message = json.loads(data)
        except ValueError:
            raise TemplateError(f"the worker template answered {data[:200]!r}") from None
        if "exited" in message:
            self.statuses[int(message["exited"])] = int(message["status"])
        return message

    def stop(self) -> None:
        """Kill the template and reap it."""
        self.gone = True
        self.channel.close()
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            return
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


def _serve(channel: socket.socket, secrets: list[str], secret_bytes: list[bytes],
           buffers: list[bytearray], seccomp_program: Optional[bytes]) -> NoReturn:
    """The template's loop: wait for an order, check itself, fork the worker, report."""
    # Every object that exists now stays for good: frozen, no collection
    # ever finalises one (a stray file object would close a descriptor
    # number that a later order reuses), and workers' collectors skip them.
    gc.freeze()
    keep = channel.fileno()
    os.closerange(3, keep)
    os.closerange(keep + 1, _MAX_FD)
    secrecy.scrub_inherited_copies(secrets, secret_bytes, buffers)
    signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    syscalls.set_name("executor-tmpl")
    worker.prepare_template()
    seccomp = None if seccomp_program is None else seccomp_filter.Prepared(seccomp_program)
    baseline = _baseline()
    gc.freeze()
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(channel, ORDER_MAX_BYTES,
                                                 WORKER_FDS + NAMESPACE_FDS)
        except OSError:
            os._exit(0)
        if not message:
            os._exit(0)  # the runtime closed its end or exited
        problem = _verify(baseline)
        if problem is not None:
            channel.send(json.dumps({"tampered": problem}).encode())
            os._exit(0)
        try:
            plan = worker.Plan.from_json(message)
            expected = WORKER_FDS + (NAMESPACE_FDS if plan.join_namespaces else 0)
            if len(fds) != expected:
                raise ValueError(f"{len(fds)} descriptors instead of {expected}")
            plan.template_pid = os.getpid()
            plan.inherited_vm_bytes = procfs.virtual_memory_bytes()
            worker.reseed()
            pid = syscalls.raw_fork()
        except (ValueError, KeyError, TypeError, OSError) as error:
            for fd in fds:
                os.close(fd)
            channel.send(json.dumps({"error": str(error)}).encode())
            continue
        if pid == 0:
            channel.close()
            worker.start(plan, fds, seccomp)
        # From here until the worker exits, every page this process writes is
        # copied (the worker shares them): keep the work small.
        for fd in fds:
            os.close(fd)
        channel.send(b'{"worker": %d}' % pid)
        _, status = os.waitpid(pid, 0)
        channel.send(b'{"exited": %d, "status": %d}' % (pid, status))


def _baseline() -> dict[str, Any]:
    return {
        "rlimits": {limit: resource.getrlimit(limit) for limit in _RLIMITS},
        "priority": os.getpriority(os.PRIO_PROCESS, 0),
        "affinity": os.sched_getaffinity(0),
    }


def _verify(baseline: dict[str, Any]) -> Optional[str]:
    """Restore what a script of the same uid may have changed; say what could not be.

    Same-uid processes can lower this process's limits (prlimit), raise its
    nice value and move its CPU affinity. A lowered soft limit, an affinity
    and (for root) anything can be put back; a lowered hard limit or a
    raised nice value cannot, and would reach every later worker.
    """
    for limit, wanted in baseline["rlimits"].items():
        if resource.getrlimit(limit) != wanted:
            try:
                resource.setrlimit(limit, wanted)
            except (ValueError, OSError):
                return f"resource limit {limit} was changed to {resource.getrlimit(limit)}"
    if os.getpriority(os.PRIO_PROCESS, 0) != baseline["priority"]:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, baseline["priority"])
        except OSError:
            return "its scheduling priority was lowered"
    if os.sched_getaffinity(0) != baseline["affinity"]:
        try:
            os.sched_setaffinity(0, baseline["affinity"])
        except OSError:
            return "its CPU affinity was changed"
    return None
