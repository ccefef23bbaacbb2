"""One cgroup per root runtime that every worker joins (ROOT profile only).

RLIMIT_AS bounds one process; an execution that forks three children of
120 MiB each would hold 360 MiB under a 192 MiB limit, and in a 256 MB
function the kernel would then kill the whole environment instead of the
script. The cgroup gives the execution one memory budget (and one process
count) for all its processes together, and counts the kernel's OOM kills so
the runtime can answer MemoryLimit. Only the memory and pids controllers are
used, through cgroup v2 where they are enabled at its root and through the
v1 hierarchies otherwise.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Optional

CGROUP_ROOT = "/sys/fs/cgroup"
_NAME = re.compile(r"executor-(\d+)-[0-9a-f]+$")


class CgroupError(Exception):
    """No usable memory cgroup here; the message says why."""


@dataclasses.dataclass(frozen=True)
class ExecutionCgroup:
    version: int
    memory_dir: str
    pids_dir: Optional[str]
    memory_bytes: int

    @property
    def procs_files(self) -> list[str]:
        """The cgroup.procs files a worker writes its pid into to join."""
        files = [os.path.join(self.memory_dir, "cgroup.procs")]
        if self.pids_dir is not None and self.pids_dir != self.memory_dir:
            files.append(os.path.join(self.pids_dir, "cgroup.procs"))
        return files

    def members(self) -> list[int]:
        try:
            with open(os.path.join(self.memory_dir, "cgroup.procs"), "rb") as handle:
                return [int(value) for value in handle.read().split()]
        except OSError:
            return []

    def oom_kills(self) -> int:
        """How many processes the kernel's OOM killer has killed in this cgroup so far."""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            with open(os.path.join(self.memory_dir, name), "rb") as handle:
                for line in handle:
                    key, _, value = line.partition(b" ")
                    if key == b"oom_kill":
                        return int(value)
        except OSError:
            pass
        return 0

    def remove(self) -> None:
        for path in {self.memory_dir, self.pids_dir}:
            if path:
                try:
                    os.rmdir(path)
                except OSError:
                    pass


def create(name: str, memory_bytes: int, max_processes: int) -> ExecutionCgroup:
    _remove_stale()
    if os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.subtree_control")):
        return _create_v2(name, memory_bytes, max_processes)
    return _create_v1(name, memory_bytes, max_processes)


def _write(path: str, value: str) -> None:
    with open(path, "w") as handle:
        handle.write(value)


def _create_v2(name: str, memory_bytes: int, max_processes: int) -> ExecutionCgroup:
    with open(os.path.join(CGROUP_ROOT, "cgroup.subtree_control")) as handle:
        enabled = handle.read().split()
    if "memory" not in enabled:
        raise CgroupError("the memory controller is not enabled at the cgroup v2 root")
    path = os.path.join(CGROUP_ROOT, name)
    os.mkdir(path, 0o755)
    _write(os.path.join(path, "memory.max"), str(memory_bytes))
    # Swap would let an execution exceed its budget slowly instead of failing.
    if os.path.exists(os.path.join(path, "memory.swap.max")):
        _write(os.path.join(path, "memory.swap.max"), "0")
    has_pids = "pids" in enabled
    if has_pids:
        _write(os.path.join(path, "pids.max"), str(max_processes))
    return ExecutionCgroup(2, path, path if has_pids else None, memory_bytes)


def _create_v1(name: str, memory_bytes: int, max_processes: int) -> ExecutionCgroup:
    memory_root = os.path.join(CGROUP_ROOT, "memory")
    if not os.path.exists(os.path.join(memory_root, "memory.limit_in_bytes")):
        raise CgroupError("neither cgroup v2 nor the v1 memory controller is mounted")
    memory_dir = os.path.join(memory_root, name)
    os.mkdir(memory_dir, 0o755)
    _write(os.path.join(memory_dir, "memory.limit_in_bytes"), str(memory_bytes))
    swap = os.path.join(memory_dir, "memory.memsw.limit_in_bytes")
    if os.path.exists(swap):
        try:
            _write(swap, str(memory_bytes))
        except OSError:
            pass  # swap accounting off: nothing to limit
    pids_dir = None
    pids_root = os.path.join(CGROUP_ROOT, "pids")
    if os.path.isdir(pids_root):
        pids_dir = os.path.join(pids_root, name)
        os.mkdir(pids_dir, 0o755)
        _write(os.path.join(pids_dir, "pids.max"), str(max_processes))
    return ExecutionCgroup(1, memory_dir, pids_dir, memory_bytes)


def _remove_stale() -> None:
    """Empty cgroups of runtimes that died without removing theirs."""
    for parent in (CGROUP_ROOT, os.path.join(CGROUP_ROOT, "memory"),
                   os.path.join(CGROUP_ROOT, "pids")):
        try:
            names = os.listdir(parent)
        except OSError:
            continue
        for entry in names:
            match = _NAME.match(entry)
            if match and not os.path.exists(f"/proc/{match.group(1)}"):
                try:
                    os.rmdir(os.path.join(parent, entry))
                except OSError:
                    pass
