"""Containment: when an execution ends, nothing it started can run again.

Why this comes before the response: in Lambda everything runs as one uid and
the Runtime API answers whoever asks. A process an execution left behind
could call /next as soon as the response is posted and receive the next
caller's request. So the runtime posts a response only after every process
the execution started is past the point where it can make a system call,
and when that cannot be shown it does not answer at all (the caller exits,
and Lambda resets the environment).

What is killed: every process below the runtime except the worker template
(the runtime is a child subreaper, so orphans of an execution are re-parented
to it and stay below it, whatever they call: setsid, double fork, raw clone)
and except the runtime's own children in its own session (a host program's
helpers in tests; a worker leaves that session before it runs anything, and
no process can join a session again),
plus, where the uid belongs to this runtime alone (Lambda; a root runtime's
sandbox uid), every process of that uid, plus, where the workers have a
cgroup, every member of it. Each victim is signalled through a pidfd opened
after its identity (start time) was checked, so a reused pid is never hit.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from typing import Callable, Iterable, Optional

from . import procfs

# A SIGKILLed process is usually gone within milliseconds; only one stuck in
# the kernel (uninterruptible I/O) takes longer. Past this the runtime gives
# up and exits instead of answering.
CONTAIN_TIMEOUT_S = 5.0


class Uncontainable(Exception):
    """Some process of the execution could not be shown to be finished."""


@dataclasses.dataclass(frozen=True)
class Scope:
    """Where an execution's processes can be, and what must be spared."""

    runtime_pid: int
    runtime_sid: int
    # Processes that belong to the runtime itself (the worker template), by
    # pid and start time. Their children are still searched.
    keep: frozenset[tuple[int, int]]
    # Set where every process of this uid besides the runtime and the kept
    # ones belongs to an execution.
    dedicated_uid: Optional[int]
    # Extra membership lists (a cgroup's cgroup.procs), read each round.
    members: Callable[[], Iterable[int]] = lambda: ()
    # Another engine's templates in the same process (tests): neither killed
    # nor searched, their workers are that engine's business.
    foreign: frozenset[int] = frozenset()
    children_file: bool = True
    # The runtime is a child subreaper: every orphan of an execution is
    # re-parented below it.
    subreaper: bool = False


@dataclasses.dataclass
class Report:
    killed: int = 0
    rounds: int = 0


def contain(scope: Scope, timeout_s: float = CONTAIN_TIMEOUT_S) -> Report:
    """Kill every process of the execution; return once none of them can run again.

    Zombies are waited for too (until the runtime has reaped them): each one
    still holds a slot of the uid's RLIMIT_NPROC. Only the template's own
    child is left to the template, which reaps it.
    """
    report = Report()
    deadline = time.monotonic() + timeout_s
    kept_pids = {pid for pid, _ in scope.keep}
    # A process that is exiting hands its children to the runtime (the
    # subreaper) in exit_notify, which can fall between a round's read of
    # the runtime's children and its read of the exiting parent's (or the
    # parent's reaping by the template): that round misses the child. So a
    # round that finds nothing left to do ends containment only once every
    # process it found is settled (a zombie, gone, or past exiting with no
    # child left), checked after its reads, and a look after that finds no
    # process they might have handed over. Where the runtime is a subreaper
    # a handed-over child can only be below it, so that look is one walk of
    # its tree; elsewhere it is the next whole round, which must find no
    # process the settled round did not (a new one may have been exiting).
    settled_pids: Optional[set[int]] = None
    while True:
        report.rounds += 1
        victims = _victims(scope, kept_pids)
        _reap(scope.runtime_pid, victims)
        live = [victim for victim in victims if not procfs.finished(victim.pid)]
        unreaped = [victim for victim in victims if victim.ppid not in kept_pids
                    and procfs.stat(victim.pid) is not None]
        quiet = not live and not unreaped
        pids = {victim.pid for victim in victims}
        if quiet and settled_pids is not None and pids <= settled_pids:
            return report
        settled_pids = pids if not live and _all_settled(scope, victims) else None
        if quiet and settled_pids is not None and scope.subreaper:
            if not any(pid not in pids and procfs.stat(pid) is not None
                       for pid in _descendants(scope, kept_pids)):
                return report
            # A process was handed over during the round: a whole round for it.
        for victim in live:
            report.killed += _kill(victim)
        if time.monotonic() > deadline:
            if not live:
                return report  # only zombies whose parents are still exiting are left
            raise Uncontainable(
                "processes " + ", ".join(str(v.pid) for v in live)
                + f" of the execution were still running {timeout_s:.0f} s after SIGKILL")
        if report.rounds > 2:
            # Victims that were signalled are tearing down their memory;
            # give them the CPU instead of spinning.
            time.sleep(0.001 if report.rounds < 50 else 0.01)


def _victims(scope: Scope, kept_pids: set[int]) -> list[procfs.Stat]:
    found: dict[int, procfs.Stat] = {}
    for pid in _descendants(scope, kept_pids):
        if pid not in kept_pids:
            parsed = procfs.stat(pid)
            if parsed is not None:
                found[pid] = parsed
    extra: set[int] = set(scope.members())
    if scope.dedicated_uid is not None:
        extra.update(procfs.processes_of_uid(scope.dedicated_uid))
    for pid in extra - kept_pids - {scope.runtime_pid} - set(found):
        parsed = procfs.stat(pid)
        if parsed is not None and pid != 1:
            found[pid] = parsed
    return list(found.values())


def _all_settled(scope: Scope, victims: list[procfs.Stat]) -> bool:
    children_of = _children_reader(scope)
    return all(procfs.settled(victim.pid, children_of) for victim in victims)


def _children_reader(scope: Scope) -> Callable[[int], set[int]]:
    """pid -> its children: the kernel's children files, or one pass over /proc without them."""
    if scope.children_file:
        return procfs.children
    table = procfs.parent_map()

    def from_table(parent: int) -> set[int]:
        return {pid for pid, ppid in table.items() if ppid == parent}
    return from_table


def _descendants(scope: Scope, kept_pids: set[int]) -> set[int]:
    """Every process below the runtime that an execution may have started."""
    children_of = _children_reader(scope)
    below: set[int] = set()
    frontier = []
    for child in children_of(scope.runtime_pid):
        if child in scope.foreign:
            continue
        if child in kept_pids:
            frontier.append(child)  # searched, never killed
            continue
        parsed = procfs.stat(child)
        if parsed is not None and parsed.sid == scope.runtime_sid:
            continue  # the host program's own child: never an execution's
        below.add(child)
        frontier.append(child)
    while frontier:
        for child in children_of(frontier.pop()):
            if child not in below and child not in kept_pids:
                below.add(child)
                frontier.append(child)
    return below


def _kill(victim: procfs.Stat) -> int:
    """SIGKILL one process through a pidfd, after checking it is still the same process."""
    try:
        pidfd = os.pidfd_open(victim.pid)
    except (AttributeError, OSError):
        pidfd = None
    try:
        current = procfs.stat(victim.pid)
        if current is None or current.start_ticks != victim.start_ticks:
            return 0  # gone, or the pid already names another process
        if pidfd is not None:
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        else:
            os.kill(victim.pid, signal.SIGKILL)
        return 1
    except OSError:
        return 0
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _reap(runtime_pid: int, victims: list[procfs.Stat]) -> None:
    """Reap victims that are the runtime's own children (orphans re-parented to it)."""
    if runtime_pid != os.getpid():
        return
    for victim in victims:
        if victim.ppid == runtime_pid:
            try:
                os.waitpid(victim.pid, os.WNOHANG)
            except ChildProcessError:
                pass


def kill_every_other_process_of_my_uid() -> int:
    """At a Lambda runtime's start: whatever an earlier runtime left behind dies.

    kill(-1) reaches every process this uid may signal except the caller
    and init; inside Lambda that is exactly what an earlier runtime of this
    environment may have left. Never called off Lambda, where the same uid
    is a person's whole desktop.
    """
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:
        return 0
    reaped = 0
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        reaped += 1
    return reaped
