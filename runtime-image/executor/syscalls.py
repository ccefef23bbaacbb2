"""The Linux system calls Python does not wrap (3.11 and 3.12), through ctypes.

Used by the runtime at init and by a worker while it sets up its sandbox,
always before the audit hook exists; the hook refuses foreign calls to
scripts. On a system without one of these calls the wrapper fails with
ENOSYS, which the probes report as "off".
"""

from __future__ import annotations

import ctypes
import errno
import os
from typing import Any, Optional

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NAME = 15
PR_SET_SECCOMP = 22
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
SECCOMP_MODE_FILTER = 2

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
NAMESPACE_FLAGS = (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER
                   | CLONE_NEWPID | CLONE_NEWNET)

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18

# mount_setattr(2), Linux 5.12; the same number on every architecture.
SYS_MOUNT_SETATTR = 442
AT_FDCWD = -100
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1

CLOCK_MONOTONIC = 1
SIGEV_SIGNAL = 0

_libc = ctypes.CDLL(None, use_errno=True)
# The same libc, called without releasing the GIL: for raw_fork, where the
# child must resume holding the interpreter exactly as the parent held it.
_libc_holding_gil = ctypes.PyDLL(None, use_errno=True)


class SyscallError(OSError):
    """A system call failed; str() names the step and the errno."""


def _function(name: str, argtypes: list[Any], restype: Any = ctypes.c_int) -> Any:
    function = getattr(_libc, name, None)
    if function is None:
        def missing(*args: Any) -> int:
            ctypes.set_errno(errno.ENOSYS)
            return -1
        return missing
    function.argtypes = argtypes
    function.restype = restype
    return function


_prctl = _function("prctl", [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                             ctypes.c_ulong])
_unshare = _function("unshare", [ctypes.c_int])
_setns = _function("setns", [ctypes.c_int, ctypes.c_int])
_mount = _function("mount", [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                             ctypes.c_char_p])
_syscall = _function("syscall", [ctypes.c_long], ctypes.c_long)
_timer_create = _function("timer_create", [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p])
_timer_settime = _function("timer_settime", [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                                             ctypes.c_void_p])
_getenv = _function("getenv", [ctypes.c_char_p], ctypes.c_void_p)
_strlen = _function("strlen", [ctypes.c_void_p], ctypes.c_size_t)


SYS_CLONE = {"x86_64": 56, "aarch64": 220}.get(os.uname().machine)
SIGCHLD = 17


def raw_fork() -> int:
    """fork(2) without Python's or libc's fork handlers; for a single-threaded caller only.

    os.fork runs the interpreter's after-fork work and every registered
    at-fork handler in the child; in a process holding numpy, pandas and
    matplotlib that touches hundreds of pages, each a copy-on-write fault.
    The worker template has one thread and holds no lock when it forks, so
    the child needs none of that; what it does need (fresh random seeds) the
    worker does itself. libc's cached thread id goes stale in the child,
    which glibc 2.34+ tolerates: raise() and pthread_kill() on the calling
    thread ask the kernel for the thread id, as they must after vfork.
    """
    if SYS_CLONE is None:
        raise SyscallError(errno.ENOSYS, f"raw fork is not wired for {os.uname().machine}")
    syscall = _libc_holding_gil.syscall
    syscall.restype = ctypes.c_long
    pid = syscall(ctypes.c_long(SYS_CLONE), ctypes.c_ulong(SIGCHLD), ctypes.c_ulong(0),
                  ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))
    if pid < 0:
        code = ctypes.get_errno()
        raise SyscallError(code, f"clone failed: {os.strerror(code)}")
    return pid


def check(result: int, step: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise SyscallError(code, f"{step} failed: {os.strerror(code)} (errno {code})")


def prctl(option: int, value: int, step: str, arg3: int = 0) -> None:
    check(_prctl(option, value, arg3, 0, 0), step)


def set_dumpable(dumpable: bool) -> None:
    prctl(PR_SET_DUMPABLE, 1 if dumpable else 0, "prctl(PR_SET_DUMPABLE)")


def set_name(name: str) -> None:
    """The process's comm (ps, /proc/<pid>/stat), for people reading process lists."""
    buffer = ctypes.create_string_buffer(name.encode()[:15])
    _prctl(PR_SET_NAME, ctypes.addressof(buffer), 0, 0, 0)


def unshare(flags: int, step: str) -> None:
    check(_unshare(flags), step)


def setns(fd: int, kind: int, step: str) -> None:
    check(_setns(fd, kind), step)


def mount(source: Optional[str], target: str, fstype: Optional[str], flags: int,
          data: Optional[str], step: str) -> None:
    check(_mount(None if source is None else source.encode(), target.encode(),
                 None if fstype is None else fstype.encode(), flags,
                 None if data is None else data.encode()), step)


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def mount_setattr(path: str, attr_set: int, attr_clr: int, recursive: bool, step: str) -> None:
    attr = _MountAttr(attr_set, attr_clr, 0, 0)
    flags = AT_RECURSIVE if recursive else 0
    result = _syscall(SYS_MOUNT_SETATTR, ctypes.c_int(AT_FDCWD), ctypes.c_char_p(path.encode()),
                      ctypes.c_uint(flags), ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)))
    check(0 if result == 0 else -1, step)


class _Sigevent(ctypes.Structure):
    # struct sigevent is 64 bytes on Linux: value, signo, notify, then a union.
    _fields_ = [("sigev_value", ctypes.c_void_p), ("sigev_signo", ctypes.c_int),
                ("sigev_notify", ctypes.c_int), ("_pad", ctypes.c_int * 12)]


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def periodic_signal(signo: int, period_ms: int, step: str) -> None:
    """A POSIX timer that sends signo to this process every period_ms.

    Timers are not inherited by fork and are deleted by exec, and no other
    process can disarm them.
    """
    event = _Sigevent(None, signo, SIGEV_SIGNAL)
    timer = ctypes.c_void_p()
    check(_timer_create(CLOCK_MONOTONIC, ctypes.byref(event), ctypes.byref(timer)), step)
    seconds, milliseconds = divmod(period_ms, 1000)
    period = _Timespec(seconds, milliseconds * 1_000_000)
    spec = _Itimerspec(period, period)
    check(_timer_settime(timer, 0, ctypes.byref(spec), None), step)


def zero_c_string(pointer: int) -> None:
    if pointer:
        ctypes.memset(pointer, 0, _strlen(pointer))


def getenv_pointer(name: bytes) -> int:
    return _getenv(name) or 0


def zero_memory(address: int, length: int) -> None:
    if length > 0:
        ctypes.memset(address, 0, length)


def zero_bytes(value: bytes) -> None:
    """Overwrite a bytes object's buffer in place (this process's copy only)."""
    if value:
        ctypes.memset(ctypes.c_char_p(value), 0, len(value))



IPC_RMID = 0
_shmctl = _function("shmctl", [ctypes.c_int, ctypes.c_int, ctypes.c_void_p])
_msgctl = _function("msgctl", [ctypes.c_int, ctypes.c_int, ctypes.c_void_p])
_semctl = _function("semctl", [ctypes.c_int, ctypes.c_int, ctypes.c_int])


def remove_sysv_object(kind: str, identifier: int) -> bool:
    """IPC_RMID one System V shared memory segment, message queue or semaphore set."""
    if kind == "shm":
        return _shmctl(identifier, IPC_RMID, None) == 0
    if kind == "msg":
        return _msgctl(identifier, IPC_RMID, None) == 0
    return _semctl(identifier, 0, IPC_RMID) == 0


MNT_DETACH = 2
_umount2 = _function("umount2", [ctypes.c_char_p, ctypes.c_int])


def umount(target: str) -> None:
    check(_umount2(target.encode(), MNT_DETACH), f"umount2({target})")
