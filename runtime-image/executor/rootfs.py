"""The file system and network a root runtime's workers see (ROOT profile only).

Built once at init, not per execution: namespaces are costly to create, and
a worker that joins them with setns pays almost nothing. Sharing them across
executions is safe because nothing in them can change: workers hold no
capabilities (they switch to the sandbox uid right after joining), the root
file system is read-only, and the only writable places are the scratch
tmpfs, which the runtime empties after every execution.

Layout (runtime's view -> worker's view):
  <state>/scratch/tmp   -> /tmp        the working directory is inside it
  <state>/scratch/shm   -> /dev/shm
  (a new procfs, hidepid=invisible) -> /proc   other uids' processes are invisible
  (an empty read-only tmpfs)        -> /sys    no host devices or network facts
  (an empty read-only tmpfs)        -> /run    no host daemon's unix socket
  (a read-only tmpfs)               -> a directory others cannot enter that
                                       holds the interpreter (a pyenv under
                                       /root): only the interpreter's own
                                       directories are bound inside it, so
                                       the sandbox uid can import from them
                                       and sees nothing else of that home
  network: a namespace with only a loopback device that is down (so no
  abstract unix socket of the host either)
  System V IPC: a namespace of its own, which the runtime also joins so that
  it can remove what an execution created there
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Dict, List, Optional

from . import syscalls

# The scratch tmpfs holds /tmp, /dev/shm and the working directory of one
# execution at a time. tmpfs pages are memory (charged to the execution's
# cgroup), so it is sized like a small disk, not like the function's memory.
SCRATCH_BYTES = 64 * 1024 * 1024
SCRATCH_DIRS = ("tmp", "shm")


class RootfsError(Exception):
    """The workers' namespaces could not be built; the message names the step."""


@dataclasses.dataclass(frozen=True)
class WorkerNamespaces:
    scratch: str
    mount_fd: int
    net_fd: int
    ipc_fd: int

    def worker_tmp(self) -> str:
        return os.path.join(self.scratch, "tmp")

    def close(self) -> None:
        for fd in (self.mount_fd, self.net_fd, self.ipc_fd):
            try:
                os.close(fd)
            except OSError:
                pass


def isolate_runtime_mounts() -> None:
    """Give the runtime a private copy of the mount table.

    The scratch tmpfs is then mounted only there: it vanishes with the
    runtime, however the runtime ends, instead of staying mounted on the host.
    """
    syscalls.unshare(syscalls.CLONE_NEWNS, "unshare(CLONE_NEWNS) for the runtime")
    syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE, None,
                   "making the runtime's mounts private")


def mount_scratch(path: str) -> None:
    os.makedirs(path, mode=0o700, exist_ok=True)
    syscalls.mount("tmpfs", path, "tmpfs", syscalls.MS_NOSUID | syscalls.MS_NODEV,
                   f"size={SCRATCH_BYTES},mode=0711", "mounting the scratch tmpfs")
    for name in SCRATCH_DIRS:
        inner = os.path.join(path, name)
        os.mkdir(inner, 0o1777)
        os.chmod(inner, 0o1777)


def build(scratch: str) -> WorkerNamespaces:
    """Fork a helper that creates the namespaces, keep them open by fd, let it go."""
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(ready_r)
        os.close(done_w)
        try:
            _prepare(scratch)
            os.write(ready_w, b"ok")
        except BaseException as error:  # deliberate: reported to the runtime
            os.write(ready_w, f"no{error}".encode()[:2000])
            os._exit(1)
        os.read(done_r, 1)  # keep the namespaces alive until the runtime holds them
        os._exit(0)
    os.close(ready_w)
    os.close(done_r)
    try:
        answer = os.read(ready_r, 4096)
        if answer != b"ok":
            raise RootfsError(answer[2:].decode("utf-8", "replace") or "the helper died")
        mount_fd = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        net_fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        ipc_fd = os.open(f"/proc/{pid}/ns/ipc", os.O_RDONLY | os.O_CLOEXEC)
        return WorkerNamespaces(scratch=scratch, mount_fd=mount_fd, net_fd=net_fd, ipc_fd=ipc_fd)
    finally:
        os.close(ready_r)
        os.close(done_w)
        os.waitpid(pid, 0)


def _prepare(scratch: str) -> None:
    syscalls.unshare(syscalls.CLONE_NEWNS | syscalls.CLONE_NEWNET | syscalls.CLONE_NEWIPC,
                     "unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC) for the workers")
    syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE, None,
                   "making the workers' mounts private")
    # Writable places first, then everything read-only, then the scratch
    # binds made writable again: a bind made after the read-only pass would
    # inherit read-only from its source, which is part of the same tree.
    # /tmp last: the scratch itself lives under the runtime's /tmp.
    if os.path.isdir("/dev/shm"):
        syscalls.mount(os.path.join(scratch, "shm"), "/dev/shm", None, syscalls.MS_BIND, None,
                       "binding the scratch shm at /dev/shm")
    syscalls.mount(os.path.join(scratch, "tmp"), "/tmp", None, syscalls.MS_BIND, None,
                   "binding the scratch tmp at /tmp")
    _open_closed_homes(interpreter_paths())
    _read_only_everywhere()
    for target in ("/tmp", "/dev/shm"):
        if os.path.isdir(target):
            syscalls.mount_setattr(target, 0, syscalls.MOUNT_ATTR_RDONLY, False,
                                   f"making {target} writable again")
    hidden = syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC
    for target in ("/sys", "/run"):
        if os.path.isdir(target):
            syscalls.mount("tmpfs", target, "tmpfs", hidden | syscalls.MS_RDONLY,
                           "size=4k,mode=0555", f"hiding {target} behind an empty tmpfs")
    try:
        syscalls.mount("proc", "/proc", "proc", hidden, "hidepid=invisible",
                       "mounting /proc with hidepid=invisible")
    except OSError:
        # Kernels before 5.8 only know the numeric form.
        syscalls.mount("proc", "/proc", "proc", hidden, "hidepid=2", "mounting /proc with hidepid=2")


def _read_only_everywhere() -> None:
    try:
        syscalls.mount_setattr("/", syscalls.MOUNT_ATTR_RDONLY, 0, True,
                               "making every mount read-only (mount_setattr)")
        return
    except OSError:
        pass
    # Before Linux 5.12: remount each mount point, deepest last is fine
    # because a bind remount only touches its own mount.
    with open("/proc/self/mountinfo", "rb") as handle:
        points = [line.split()[4].decode("unicode_escape") for line in handle]
    for point in points:
        if point in ("/tmp", "/dev/shm"):
            continue
        flags = os.statvfs(point).f_flag & (1 | 2 | 4 | 8 | 1024 | 2048 | 4096)
        try:
            syscalls.mount(None, point, None,
                           syscalls.MS_REMOUNT | syscalls.MS_BIND | syscalls.MS_RDONLY | flags,
                           None, f"remounting {point} read-only")
        except OSError:
            if point == "/":
                raise


def interpreter_paths() -> List[str]:
    """The directories a worker imports from: the prefixes and sys.path."""
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    candidates = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix,
                  os.path.dirname(os.path.realpath(sys.executable)), package_root}
    candidates.update(path for path in sys.path if path.startswith("/"))
    return sorted({os.path.realpath(path) for path in candidates if os.path.isdir(path)})


def closed_ancestor(path: str) -> Optional[str]:
    """The outermost directory above path that other users cannot enter."""
    current = "/"
    for part in path.strip("/").split("/")[:-1]:
        current = os.path.join(current, part)
        if not os.stat(current).st_mode & 0o001:
            return current
    return None


def _open_closed_homes(paths: List[str]) -> None:
    """Let the sandbox uid reach an interpreter that lives in a closed home.

    A root runtime whose Python is under /root (pyenv's default) would give
    workers, which run as another uid, an interpreter that cannot import
    anything it had not loaded before the switch. The closed directory is
    replaced, in the workers' namespace only, by a tmpfs holding binds of
    just the interpreter's directories; the rest of that home stays out of
    sight, which is also what its owner meant by closing it.
    """
    wanted: Dict[str, List[str]] = {}
    for path in paths:
        ancestor = closed_ancestor(path)
        if ancestor is None:
            continue
        kept = wanted.setdefault(ancestor, [])
        if any(path == other or path.startswith(other + "/") for other in kept):
            continue
        kept[:] = [other for other in kept if not other.startswith(path + "/")] + [path]
    for ancestor in sorted(wanted):
        sources = {path: os.open(path, os.O_PATH | os.O_CLOEXEC) for path in wanted[ancestor]}
        try:
            syscalls.mount("tmpfs", ancestor, "tmpfs", syscalls.MS_NOSUID | syscalls.MS_NODEV,
                           "size=64k,mode=0755", f"covering {ancestor}, which others cannot enter")
            for path, fd in sources.items():
                os.makedirs(path, mode=0o755, exist_ok=True)
                syscalls.mount(f"/proc/self/fd/{fd}", path, None,
                               syscalls.MS_BIND | syscalls.MS_REC, None,
                               f"binding {path} inside the covered {ancestor}")
        finally:
            for fd in sources.values():
                os.close(fd)
