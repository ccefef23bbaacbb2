"""The workers' seccomp filter: compiled once by the runtime, loaded by each worker.

Denied calls fail with EPERM (EACCES for network sockets, which Python
reports as PermissionError) rather than killing the process, so scripts get
a readable exception. clone3 answers ENOSYS so that libc falls back to
clone, whose flags a filter can inspect. Compiling takes ~20 ms, loading the
compiled program ~0.1 ms: workers only load.

Where it loads (a root runtime's workers) it is one more wall behind the
uid switch; Lambda refuses PR_SET_NO_NEW_PRIVS, so there it is reported off.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
from typing import Any

from . import syscalls

_DENIED = (
    # Other processes' memory, and tracing.
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "process_madvise",
    # Mounts and namespaces (a worker holds no capability for them anyway).
    "mount", "umount2", "unshare", "setns", "pivot_root", "chroot", "mount_setattr",
    "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick",
    # System V IPC: its objects outlive the processes that made them, and the
    # workers' IPC namespace is shared by consecutive executions.
    "shmget", "msgget", "semget",
    # Kernel attack surface no script needs.
    "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "io_uring_setup",
    "io_uring_enter", "io_uring_register", "userfaultfd", "kexec_load", "kexec_file_load",
    "init_module", "finit_module", "delete_module", "swapon", "swapoff", "reboot",
    "open_by_handle_at", "name_to_handle_at", "fanotify_init", "acct", "quotactl", "syslog",
    "personality",
)


def bindings() -> Any:
    """libseccomp's own bindings (Debian python3-seccomp), else pyseccomp (PyPI, same API)."""
    try:
        import seccomp  # type: ignore[import-not-found]
    except ImportError:
        import pyseccomp as seccomp  # type: ignore[import-not-found,no-redef]
    return seccomp


def compile_program() -> bytes:
    """Build the filter with libseccomp; returns raw BPF."""
    seccomp = bindings()
    denied = seccomp.ERRNO(errno.EPERM)
    rules = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    for name in _DENIED:
        try:
            rules.add_rule(denied, name)
        except (RuntimeError, ValueError, OSError):
            continue  # not a system call on this architecture
    rules.add_rule(seccomp.ERRNO(errno.EACCES), "socket",
                   seccomp.Arg(0, seccomp.NE, socket.AF_UNIX))
    for flag in (syscalls.CLONE_NEWNS, syscalls.CLONE_NEWUTS, syscalls.CLONE_NEWIPC,
                 syscalls.CLONE_NEWUSER, syscalls.CLONE_NEWPID, syscalls.CLONE_NEWNET,
                 syscalls.CLONE_NEWCGROUP):
        rules.add_rule(denied, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    try:
        rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    except (RuntimeError, ValueError, OSError):
        pass
    read_fd, write_fd = os.pipe()
    try:
        with os.fdopen(write_fd, "wb") as sink:
            rules.export_bpf(sink)
        with os.fdopen(read_fd, "rb") as source:
            return source.read()
    except BaseException:
        for fd in (read_fd, write_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        raise


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class Prepared:
    """A compiled program laid out for the kernel once; every worker only loads it."""

    def __init__(self, program: bytes) -> None:
        if not program or len(program) % 8:
            raise syscalls.SyscallError(errno.EINVAL, "the compiled seccomp program is malformed")
        self._buffer = ctypes.create_string_buffer(program, len(program))
        self._fprog = _SockFprog(len(program) // 8, ctypes.cast(self._buffer, ctypes.c_void_p))
        self.address = ctypes.addressof(self._fprog)

    def load(self) -> None:
        """Install the filter: no_new_privs, then PR_SET_SECCOMP."""
        syscalls.prctl(syscalls.PR_SET_NO_NEW_PRIVS, 1, "prctl(PR_SET_NO_NEW_PRIVS)")
        syscalls.prctl(syscalls.PR_SET_SECCOMP, syscalls.SECCOMP_MODE_FILTER,
                       "prctl(PR_SET_SECCOMP)", self.address)


def load(program: bytes) -> None:
    """Install a compiled filter in this process (probes; workers use a Prepared one)."""
    Prepared(program).load()
