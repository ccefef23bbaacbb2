"""Isolation layers: probes run once at init, and the ordered setup of a worker.

Every layer is probed in a throw-away child before it is claimed in the
health report, and a worker only attempts the layers whose probe passed.
Inside a worker, a failed step raises SandboxError; for a mandatory layer the
engine then answers InternalError instead of running the script with less
protection than the health report promised.
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import os
import resource
import signal
import socket
import sys
from typing import Any, Callable, Optional

PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
PR_SET_PDEATHSIG = 1

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWCGROUP = 0x02000000
NAMESPACE_FLAGS = (
    CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID
    | CLONE_NEWNET | CLONE_NEWCGROUP
)

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
# statvfs f_flag bits that the kernel locks on mounts inherited into a user
# namespace; a read-only remount must repeat them or it fails with EPERM.
_LOCKED_STATVFS_FLAGS = 1 | 2 | 4 | 8 | 1024 | 2048 | 4096

# Scratch space for a namespaced worker's private /tmp: it is memory, and
# memory in tmpfs is not charged to the worker's RLIMIT_AS, so keep it small.
PRIVATE_TMP_BYTES = 64 * 1024 * 1024

_libc = ctypes.CDLL(None, use_errno=True)


def _linux_only(name: str, argtypes: list[Any]) -> Any:
    """A libc function that only Linux has; elsewhere a stand-in that fails the step."""
    function = getattr(_libc, name, None)
    if function is None:
        def missing(*args: Any) -> int:
            ctypes.set_errno(errno.ENOSYS)
            return -1
        return missing
    function.argtypes = argtypes
    return function


_prctl = _linux_only("prctl", [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                               ctypes.c_ulong])
_unshare = _linux_only("unshare", [ctypes.c_int])
_mount = _linux_only("mount", [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                               ctypes.c_char_p])
_getenv = _libc.getenv
_getenv.argtypes = [ctypes.c_char_p]
_getenv.restype = ctypes.c_void_p
_memset = ctypes.memset
_strlen = _libc.strlen
_strlen.argtypes = [ctypes.c_void_p]
_strlen.restype = ctypes.c_size_t


class SandboxError(Exception):
    """A sandbox step failed; the message names the step and the reason."""


def _check(result: int, step: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise SandboxError(f"{step} failed: {os.strerror(code)} (errno {code})")


def prctl(option: int, value: int, step: str) -> None:
    _check(_prctl(option, value, 0, 0, 0), step)


def set_dumpable(dumpable: bool) -> None:
    prctl(PR_SET_DUMPABLE, 1 if dumpable else 0, "prctl(PR_SET_DUMPABLE)")


def become_subreaper() -> None:
    prctl(PR_SET_CHILD_SUBREAPER, 1, "prctl(PR_SET_CHILD_SUBREAPER)")


def mount(source: Optional[str], target: str, fstype: Optional[str], flags: int,
          data: Optional[str], step: str) -> None:
    _check(
        _mount(
            source.encode() if source is not None else None,
            target.encode(),
            fstype.encode() if fstype is not None else None,
            flags,
            data.encode() if data is not None else None,
        ),
        step,
    )


# ---------------------------------------------------------------- secrets

SECRET_VARIABLES = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AWS_LAMBDA_RUNTIME_API",
)
# Values shorter than this would turn ordinary output into "[REDACTED]".
MIN_SECRET_LENGTH = 8


# The runtime never needs these: artifact uploads use presigned POST policies.
CREDENTIAL_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID")


def take_secrets() -> list[str]:
    """Keep one copy of each secret value (for redaction) and destroy the others.

    Every copy this process holds is inherited by each forked worker, and
    freed memory keeps its bytes. So the values are read straight from
    os.environ's bytes store (no throw-away decoded copies), and the
    credentials' bytes and libc's copies are zeroed before they are released.
    The one copy kept is zeroed in each worker (scrub_worker_memory).
    """
    data: dict[bytes, bytes] = getattr(os.environ, "_data", {})
    kept: list[str] = []
    for name in SECRET_VARIABLES:
        raw = data.get(name.encode())
        if raw is not None and len(raw) >= MIN_SECRET_LENGTH:
            value = raw.decode("utf-8", "surrogateescape")
            if value not in kept:
                kept.append(value)
    for name in CREDENTIAL_VARIABLES:
        key = name.encode()
        raw = data.get(key)
        if raw is None:
            continue
        pointer = _getenv(key)
        if pointer:
            _memset(pointer, 0, _strlen(pointer))
        _wipe_bytes(raw)
        del os.environ[name]
    # Longest first, so a secret that contains another is replaced whole.
    kept.sort(key=len, reverse=True)
    return kept


def _wipe_bytes(value: bytes) -> None:
    if value:
        _memset(ctypes.c_char_p(value), 0, len(value))


def _wipe_str(value: str) -> None:
    """Overwrite a str's characters in place (this process's own copy only).

    CPython keeps compact ASCII str data right after the object header; only
    that layout is touched, anything else is left alone.
    """
    if not value or not value.isascii():
        return
    start = id(value) + sys.getsizeof(value) - len(value) - 1
    _memset(start, 0, len(value))


def wipe_initial_environment_block() -> bool:
    """Zero the exec-time environment strings of this process.

    /proc/<pid>/environ shows that memory, not os.environ, and a forked
    worker inherits it. libc's `environ` is first pointed at fresh copies
    (putenv/setenv) so getenv keeps working in this process.
    """
    try:
        with open("/proc/self/stat", "rb") as handle:
            stat = handle.read()
        fields = stat[stat.rindex(b")") + 2:].split()
        # proc(5): env_start and env_end are fields 50 and 51 (1-based),
        # which is index 47 and 48 after the comm field is cut off.
        env_start, env_end = int(fields[47]), int(fields[48])
    except (OSError, ValueError, IndexError):
        return False
    for key, value in os.environ.items():
        os.putenv(key, value)
    if env_end > env_start:
        _memset(env_start, 0, env_end - env_start)
    return True


def scrub_worker_memory(secrets: list[str], secret_bytes: list[bytes]) -> None:
    """In a fresh template or worker, overwrite the copies of secrets it inherited by fork.

    Best effort by nature (freed memory and other copies may remain); the
    layers that actually keep secrets from the worker are the non-dumpable
    parent, the parent dropping credentials it never needs, and the role
    being worthless. This closes the easy paths: os.environ, getenv, gc.
    """
    for key in list(os.environ):
        pointer = _getenv(key.encode())
        if pointer:
            _memset(pointer, 0, _strlen(pointer))
    data = getattr(os.environ, "_data", {})
    for key, value in list(data.items()):
        if key.startswith(b"AWS_") or any(secret in value for secret in secret_bytes):
            _wipe_bytes(value)
    for secret in secrets:
        _wipe_str(secret)
    for raw in secret_bytes:
        _wipe_bytes(raw)


# Freed memory of the runtime keeps its bytes, so a worker forked from the
# runtime itself (where there is no worker template, see template.py) would
# find remnants of earlier requests (scripts, inputs, outputs) and of secrets
# in its own memory.
# Python's small-object allocator never clears freed blocks, so all
# allocations go to glibc malloc, which fills freed chunks with a byte
# (perturb); the per-thread cache skips that filling, so it is off.
HARDENED_ALLOCATOR_ENV = {
    "PYTHONMALLOC": "malloc",
    "GLIBC_TUNABLES": "glibc.malloc.perturb=165:glibc.malloc.tcache_count=0",
}
M_PERTURB = -6


def allocator_hardened(environ: Any = None) -> bool:
    environ = os.environ if environ is None else environ
    tunables = environ.get("GLIBC_TUNABLES", "")
    return (environ.get("PYTHONMALLOC") == "malloc" and "glibc.malloc.perturb=" in tunables
            and "glibc.malloc.tcache_count=0" in tunables)


def hardened_environment(environ: Any) -> dict[str, str]:
    """environ plus HARDENED_ALLOCATOR_ENV, keeping any other glibc tunables."""
    result = dict(environ)
    result["PYTHONMALLOC"] = "malloc"
    existing = [item for item in result.get("GLIBC_TUNABLES", "").split(":")
                if item and not item.startswith(("glibc.malloc.perturb=",
                                                 "glibc.malloc.tcache_count="))]
    result["GLIBC_TUNABLES"] = ":".join(existing + [HARDENED_ALLOCATOR_ENV["GLIBC_TUNABLES"]])
    return result


def perturb_freed_memory() -> bool:
    """At least fill chunks that glibc frees from now on (not the tcache ones)."""
    try:
        mallopt = _libc.mallopt
    except AttributeError:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(M_PERTURB, 165))


def clean_environment(workdir: str) -> dict[str, str]:
    """The whole environment a script sees: nothing of the runtime's."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": workdir,
        "TMPDIR": os.path.join(workdir, "tmp"),
        "MPLCONFIGDIR": os.path.join(workdir, ".matplotlib"),
        "MPLBACKEND": "Agg",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


# ---------------------------------------------------------------- layers


@dataclasses.dataclass
class Layer:
    active: bool
    detail: str

    def to_report(self) -> dict[str, Any]:
        return {"active": self.active, "detail": self.detail}


@dataclasses.dataclass
class Plan:
    """What a worker applies, decided once at init from the probes."""

    workdir: str
    sandbox_uid: Optional[int]  # None: keep the runtime's uid
    namespaces: bool
    seccomp_program: Optional[bytes]
    memory_bytes: int  # RLIMIT_AS headroom above what the worker inherits
    max_file_bytes: int
    max_open_files: int
    nproc_limit: int
    parent_pid: int
    secrets: list[str]
    secret_bytes: list[bytes]
    # The template that will fork the next worker, while it is this worker's
    # child (template.py); None when the runtime forks workers itself.
    template_pid: Optional[int] = None


def _memory_in_use() -> int:
    with open("/proc/self/status", "rb") as handle:
        for line in handle:
            if line.startswith(b"VmSize:"):
                return int(line.split()[1]) * 1024
    raise SandboxError("Could not read VmSize from /proc/self/status")


def apply_rlimits(plan: Plan) -> None:
    """rlimits, measured choice: RLIMIT_AS, not RLIMIT_DATA.

    Measured with numpy 1.24 / pandas 1.5 preloaded: RLIMIT_DATA stops
    bytearray growth, numpy.zeros and private mmap, but a shared anonymous
    mmap of 1 GiB sails through it; RLIMIT_AS stops all of them with
    MemoryError/ENOMEM. The worker inherits the parent's address space
    (~250 MiB of mostly shared library mappings), so the limit is what is
    mapped at fork time plus EXECUTOR_WORKER_MEMORY_MIB.
    """
    address_space = _memory_in_use() + plan.memory_bytes
    settings = [
        (resource.RLIMIT_AS, address_space, "RLIMIT_AS"),
        (resource.RLIMIT_FSIZE, plan.max_file_bytes, "RLIMIT_FSIZE"),
        (resource.RLIMIT_NOFILE, plan.max_open_files, "RLIMIT_NOFILE"),
        (resource.RLIMIT_NPROC, plan.nproc_limit, "RLIMIT_NPROC"),
        (resource.RLIMIT_CORE, 0, "RLIMIT_CORE"),
        (resource.RLIMIT_MEMLOCK, 0, "RLIMIT_MEMLOCK"),
        (resource.RLIMIT_MSGQUEUE, 0, "RLIMIT_MSGQUEUE"),
    ]
    for limit, value, name in settings:
        try:
            resource.setrlimit(limit, (value, value))
        except (ValueError, OSError) as error:
            raise SandboxError(f"setrlimit({name}, {value}) failed: {error}") from None
        if resource.getrlimit(limit) != (value, value):
            raise SandboxError(f"setrlimit({name}) did not take effect")


def set_cpu_limit(timeout_ms: int) -> None:
    """CPU seconds for this request: a backstop for the wall-clock deadline.

    SIGXCPU at the soft limit (classified Timeout), SIGKILL one second later.
    """
    seconds = -(-timeout_ms // 1000) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 1))


def drop_privileges(uid: int) -> None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (uid, uid, uid):
        raise SandboxError(f"switching to uid {uid} did not take effect")
    try:
        os.setuid(0)
    except PermissionError:
        return
    raise SandboxError(f"the worker could regain root after switching to uid {uid}")


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def enter_namespaces(workdir: str) -> None:
    """New user, mount, pid, net, ipc, uts and cgroup namespaces.

    The caller keeps its uid inside (mapped onto itself), gets a private
    /tmp, a read-only view of the root filesystem except its own working
    directory, and no network interface but a down loopback. The pid
    namespace only applies to children: the caller must fork next, and that
    child (pid 1) calls finish_pid_namespace().
    """
    uid, gid = os.getuid(), os.getgid()
    _check(_unshare(NAMESPACE_FLAGS), "unshare(user, mount, pid, net, ipc, uts, cgroup)")
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")
    mount(None, "/", None, MS_REC | MS_PRIVATE, None, "making mounts private")
    os.chdir(workdir)
    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={PRIVATE_TMP_BYTES},mode=1777",
          "mounting a private /tmp")
    if os.path.isdir("/dev/shm"):
        mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "size=1048576,mode=1777", "mounting a private /dev/shm")
    # The working directory lives under the runtime's /tmp, now hidden: bind
    # it back at the same path from the still-open cwd, so that paths the
    # parent reports and the ones the script sees are the same.
    os.makedirs(workdir, exist_ok=True)
    mount(".", workdir, None, MS_BIND | MS_REC, None, "binding the working directory")
    os.chdir(workdir)
    flags = os.statvfs("/").f_flag & _LOCKED_STATVFS_FLAGS
    mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags, None,
          "remounting / read-only")


def finish_pid_namespace() -> None:
    """In pid 1 of the new namespace: a /proc that shows only this namespace."""
    if os.getpid() != 1:
        raise SandboxError("the worker is not pid 1 of its pid namespace")
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None, "mounting /proc")


_SECCOMP_DENIED = (
    "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2", "unshare",
    "setns", "pivot_root", "chroot", "keyctl", "add_key", "request_key", "bpf",
    "perf_event_open", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "userfaultfd", "kexec_load", "kexec_file_load", "init_module", "finit_module",
    "delete_module", "swapon", "swapoff", "reboot", "open_by_handle_at",
    "name_to_handle_at", "fanotify_init", "acct", "quotactl", "syslog", "personality",
)


def seccomp_module() -> Any:
    """libseccomp's own bindings (Debian python3-seccomp), else pyseccomp (PyPI, same API)."""
    try:
        import seccomp  # type: ignore[import-not-found]
    except ImportError:
        import pyseccomp as seccomp  # type: ignore[import-not-found,no-redef]
    return seccomp


def compile_seccomp(parent_pid: int) -> bytes:
    """Build the filter with libseccomp once, in the parent; returns raw BPF.

    Denied calls fail with EPERM (EACCES for socket, which Python reports as
    PermissionError) rather than killing the process, so scripts get a
    readable exception. clone3 answers ENOSYS so libc falls back to clone,
    whose flags a filter can inspect. Compiling takes ~20 ms, loading the
    compiled program ~0.1 ms: workers only load.
    """
    seccomp = seccomp_module()
    denied = seccomp.ERRNO(errno.EPERM)
    rules = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    for name in _SECCOMP_DENIED:
        try:
            rules.add_rule(denied, name)
        except (RuntimeError, ValueError, OSError):
            continue  # not a syscall on this architecture
    rules.add_rule(seccomp.ERRNO(errno.EACCES), "socket",
                   seccomp.Arg(0, seccomp.NE, socket.AF_UNIX))
    for flag in (CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID,
                 CLONE_NEWNET, CLONE_NEWCGROUP):
        rules.add_rule(denied, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    try:
        rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    except (RuntimeError, ValueError, OSError):
        pass
    # Signals to the runtime: when it shares the uid (Lambda), the kernel
    # would allow them; kill(-1) would reach it too.
    rules.add_rule(denied, "kill", seccomp.Arg(0, seccomp.EQ, parent_pid))
    rules.add_rule(denied, "kill", seccomp.Arg(0, seccomp.EQ, 0xFFFFFFFF))
    rules.add_rule(denied, "kill", seccomp.Arg(0, seccomp.EQ, 0xFFFFFFFFFFFFFFFF))
    rules.add_rule(denied, "tkill", seccomp.Arg(0, seccomp.EQ, parent_pid))
    rules.add_rule(denied, "tgkill", seccomp.Arg(0, seccomp.EQ, parent_pid))
    rules.add_rule(denied, "pidfd_open", seccomp.Arg(0, seccomp.EQ, parent_pid))
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


PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2


def load_seccomp(program: bytes) -> None:
    """Install a compiled filter: no_new_privs, then PR_SET_SECCOMP."""
    if not program or len(program) % 8:
        raise SandboxError("the compiled seccomp program is empty or malformed")
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    prctl(PR_SET_NO_NEW_PRIVS, 1, "prctl(PR_SET_NO_NEW_PRIVS)")
    _check(_prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0),
           "prctl(PR_SET_SECCOMP)")


# ---------------------------------------------------------------- probes


def _probe(step: Callable[[], Optional[str]]) -> tuple[bool, str]:
    """Run step in a forked child and report (worked, detail)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        try:
            detail = step() or "ok"
            os.write(write_fd, b"1" + detail.encode()[:1000])
            os._exit(0)
        except BaseException as error:  # noqa: BLE001 - any failure means "off"
            message = str(error) or type(error).__name__
            try:
                os.write(write_fd, b"0" + message.encode()[:1000])
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


def probe_namespaces(workdir: str, uid: Optional[int]) -> tuple[bool, str]:
    def step() -> str:
        os.setsid()
        if uid is not None:
            drop_privileges(uid)
            set_dumpable(True)
        enter_namespaces(workdir)
        pid = os.fork()
        if pid == 0:
            try:
                finish_pid_namespace()
                with open(os.path.join(workdir, ".probe"), "w") as handle:
                    handle.write("ok")
                try:
                    with open("/usr/.executor-probe", "w"):
                        pass
                    os._exit(3)
                except OSError:
                    pass
                os._exit(0 if len([p for p in os.listdir("/proc") if p.isdigit()]) == 1 else 4)
            except BaseException:
                os._exit(2)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code == 3:
            raise SandboxError("the root filesystem stayed writable")
        if code == 4:
            raise SandboxError("/proc showed processes outside the pid namespace")
        if code != 0:
            raise SandboxError("the pid namespace's first process could not set up /proc")
        return ("user, mount (read-only root, private /tmp), pid, net, ipc, uts and "
                "cgroup namespaces")

    worked, detail = _probe(step)
    probe_file = os.path.join(workdir, ".probe")
    if os.path.exists(probe_file):
        os.unlink(probe_file)
    return worked, detail


def probe_seccomp(program: bytes) -> tuple[bool, str]:
    def step() -> str:
        load_seccomp(program)
        try:
            socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
        except PermissionError:
            return "network sockets, ptrace, mount, unshare, keyctl, bpf, io_uring denied"
        raise SandboxError("the filter loaded but socket(AF_INET) still worked")

    return _probe(step)


def probe_dumpable_protection(parent_pid: int) -> tuple[bool, str]:
    """A same-uid child must not be able to read the parent's environ."""

    def step() -> str:
        set_dumpable(True)
        try:
            with open(f"/proc/{parent_pid}/environ", "rb") as handle:
                handle.read(1)
        except PermissionError:
            return "PR_SET_DUMPABLE 0: /proc/<runtime>/environ and mem are closed to workers"
        if os.getuid() == 0:
            return "root probe reads anything; workers run as another uid"
        raise SandboxError("a same-uid child could still read /proc/<runtime>/environ")

    return _probe(step)


def ignore_signal_defaults() -> None:
    """Undo the parent's handlers so the script sees a normal process."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for name in ("SIGTERM", "SIGCHLD", "SIGHUP", "SIGUSR1", "SIGUSR2"):
        signal.signal(getattr(signal, name), signal.SIG_DFL)
