"""The one reader of the kernel's process files under /proc.

Containment (contain.py), the worker's limits and the health probes all ask
the same questions: who are the children of a process, is a process (every
thread of it) past the point where it can run code again, which processes
belong to a uid. Every parser of /proc lives here.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable, Iterator, Optional

# include/linux/sched.h: set on a task once it is in do_exit(). Such a task
# never returns to user space: it cannot make another system call.
PF_EXITING = 0x00000004
# Task states that can no longer run: zombie and dead.
FINISHED_STATES = frozenset("ZX")


@dataclasses.dataclass(frozen=True)
class Stat:
    """The fields of /proc/<pid>/stat (or .../task/<tid>/stat) the executor uses."""

    pid: int
    state: str
    ppid: int
    pgid: int
    sid: int
    flags: int
    start_ticks: int

    @property
    def finished(self) -> bool:
        """True once this task can never run user code again."""
        return self.state in FINISHED_STATES or bool(self.flags & PF_EXITING)


def _parse_stat(pid: int, raw: bytes) -> Optional[Stat]:
    # The command name is in parentheses and may itself hold spaces or ')'.
    fields = raw[raw.rfind(b")") + 2:].split()
    if len(fields) < 20:
        return None
    return Stat(pid=pid, state=fields[0].decode("ascii", "replace"), ppid=int(fields[1]),
                pgid=int(fields[2]), sid=int(fields[3]), flags=int(fields[6]),
                start_ticks=int(fields[19]))


def _read(path: str) -> Optional[bytes]:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return None


def stat(pid: int) -> Optional[Stat]:
    """The process's stat line, or None once it is gone (or was never visible)."""
    raw = _read(f"/proc/{pid}/stat")
    return None if raw is None else _parse_stat(pid, raw)


def task_stats(pid: int) -> list[Stat]:
    """One Stat per thread of the process (empty once it is gone)."""
    found = []
    for tid in tasks(pid):
        raw = _read(f"/proc/{pid}/task/{tid}/stat")
        if raw is not None:
            parsed = _parse_stat(tid, raw)
            if parsed is not None:
                found.append(parsed)
    return found


def tasks(pid: int) -> list[int]:
    try:
        return [int(name) for name in os.listdir(f"/proc/{pid}/task") if name.isdigit()]
    except OSError:
        return []


def finished(pid: int) -> bool:
    """True when no thread of the process can run code again (or it is gone).

    A thread-group leader that called the raw exit system call is a zombie
    while its other threads live on, so the process state alone would lie:
    every thread is looked at.
    """
    threads = task_stats(pid)
    return all(thread.finished for thread in threads)


def settled(pid: int, children_of: Callable[[int], set[int]]) -> bool:
    """True when the process can hand no child to another parent any more.

    A task in do_exit still re-parents its children (exit_notify) before it
    becomes a zombie, so finished() is not enough: the process must be a
    zombie (or gone), or be finished with no child left. The children are
    read after the threads' flags, and a finished process cannot fork, so an
    empty list stays empty.
    """
    threads = task_stats(pid)
    if all(thread.state in FINISHED_STATES for thread in threads):
        return True
    return all(thread.finished for thread in threads) and not children_of(pid)


def children_file_available() -> bool:
    """/proc/<pid>/task/<tid>/children exists only with CONFIG_PROC_CHILDREN."""
    return os.path.exists(f"/proc/self/task/{os.getpid()}/children")


def children(pid: int) -> set[int]:
    """Direct children of every thread of pid (a thread's children are its own)."""
    found: set[int] = set()
    for tid in tasks(pid):
        raw = _read(f"/proc/{pid}/task/{tid}/children")
        if raw:
            found.update(int(value) for value in raw.split())
    return found


def pids() -> Iterator[int]:
    try:
        names = os.listdir("/proc")
    except OSError:
        return iter(())
    return (int(name) for name in names if name.isdigit())


def parent_map() -> dict[int, int]:
    """pid -> ppid of every visible process: the slow path when there is no children file."""
    table: dict[int, int] = {}
    for pid in pids():
        parsed = stat(pid)
        if parsed is not None:
            table[pid] = parsed.ppid
    return table


def _status_fields(pid: int, *names: bytes) -> dict[bytes, bytes]:
    raw = _read(f"/proc/{pid}/status")
    found: dict[bytes, bytes] = {}
    if raw is None:
        return found
    for line in raw.splitlines():
        key, _, value = line.partition(b":")
        if key in names:
            found[key] = value.strip()
    return found


def real_uid(pid: int) -> Optional[int]:
    value = _status_fields(pid, b"Uid").get(b"Uid")
    return int(value.split()[0]) if value else None


def processes_of_uid(uid: int) -> list[int]:
    """Every visible process whose real, effective or saved uid is uid."""
    found = []
    for pid in pids():
        value = _status_fields(pid, b"Uid").get(b"Uid")
        if value and str(uid).encode() in value.split()[:3]:
            found.append(pid)
    return found


def tasks_of_uid(uid: int) -> int:
    """Threads of every process of uid: what RLIMIT_NPROC compares against."""
    total = 0
    for pid in pids():
        fields = _status_fields(pid, b"Uid", b"Threads")
        owner = fields.get(b"Uid")
        if owner and int(owner.split()[0]) == uid:
            total += int(fields.get(b"Threads", b"1"))
    return total


def own_status(name: str) -> Optional[str]:
    value = _status_fields(os.getpid(), name.encode()).get(name.encode())
    return None if value is None else value.decode("ascii", "replace")


def virtual_memory_bytes() -> int:
    """VmSize of this process: what RLIMIT_AS compares against."""
    value = own_status("VmSize")
    if value is None:
        raise OSError("VmSize is missing from /proc/self/status")
    return int(value.split()[0]) * 1024


def vmstat(name: str) -> Optional[int]:
    raw = _read("/proc/vmstat")
    if raw is None:
        return None
    key = name.encode()
    for line in raw.splitlines():
        field, _, value = line.partition(b" ")
        if field == key:
            return int(value)
    return None


def open_fds() -> list[int]:
    try:
        return sorted(int(name) for name in os.listdir("/proc/self/fd") if name.isdigit())
    except OSError:
        return []


def environ_block() -> Optional[tuple[int, int]]:
    """(env_start, env_end): where the exec-time environment strings sit in memory.

    proc(5): fields 50 and 51 of stat, which are 47 and 48 after the comm field.
    """
    raw = _read("/proc/self/stat")
    if raw is None:
        return None
    fields = raw[raw.rfind(b")") + 2:].split()
    try:
        return int(fields[47]), int(fields[48])
    except (IndexError, ValueError):
        return None
