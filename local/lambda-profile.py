#!/usr/bin/env python3
"""Run a command the way AWS Lambda runs a container image's runtime (the "Lambda profile").

Lambda gives the runtime one unprivileged uid for everything, no capabilities,
no namespaces, no seccomp of its own (prctl(PR_SET_NO_NEW_PRIVS) is refused),
a read-only file system except /tmp, the code at /var/task, and a Runtime API
at 127.0.0.1:9001 that any process in the microVM can call. Tests and the
local server use this launcher (as root) to put the executor in that world,
because every security property must hold there, not only as root.

What it builds, for one runtime:
- a pid namespace (the microVM's process space: when the runtime exits,
  everything in it dies, as when Lambda resets an environment);
- a network namespace whose only reachable address is 127.0.0.1:9001,
  forwarded to the real Runtime API (no route anywhere else, as in an
  isolated VPC subnet);
- a mount namespace: everything read-only and nosuid, a private /tmp on
  its own small disk (an ext4 image on a loop device: Lambda's ephemeral
  storage is disk, not memory, and has a size), /var/task (the code,
  read-only), /var/contract/limits.json (the image's copy of the contract's
  limits, taken from beside the task root), /var/runtime, no /dev/shm;
- a memory cgroup of the function's memory size;
- uid/gid --uid, no capabilities, and a seccomp filter that answers EPERM to
  unshare, setns, clone with namespace flags, seccomp, prctl(NO_NEW_PRIVS)
  and prctl(SECCOMP), mount and the new mount API, umount2, pivot_root,
  chroot and ptrace.

Usage (as root):
  lambda-profile.py --uid 62001 --task-root runtime-image --runtime-api 127.0.0.1:PORT \\
      [--memory-mb 256] [--tmp-mb 512] -- /usr/bin/python3 -m executor
The command gets the launcher's environment with AWS_LAMBDA_RUNTIME_API
replaced by 127.0.0.1:9001 and LAMBDA_TASK_ROOT=/var/task.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import fcntl
import os
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from typing import NoReturn, Optional

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_RDONLY = 2, 4, 8, 1
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID = 0x1, 0x2
AT_FDCWD, AT_RECURSIVE = -100, 0x8000
SYS_MOUNT_SETATTR = 442
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP = 1, 38, 22
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1

RUNTIME_API_PORT = 9001
# Connections the Runtime API forwarder serves at once; more are refused, so
# a script cannot use it to exhaust the host's descriptors.
MAX_FORWARDED = 64
CGROUP_V1_MEMORY = "/sys/fs/cgroup/memory"

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]
_libc.syscall.restype = ctypes.c_long


class LaunchError(Exception):
    """A step of building the emulated environment failed; the message names it."""


def _check(result: int, step: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise LaunchError(f"{step} failed: {os.strerror(code)}")


def _mount(source: Optional[str], target: str, fstype: Optional[str], flags: int,
           data: Optional[str], step: str) -> None:
    _check(_libc.mount(source and source.encode(), target.encode(), fstype and fstype.encode(),
                       flags, data and data.encode()), step)


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def _mount_setattr(path: str, attr_set: int, attr_clr: int, recursive: bool, step: str) -> None:
    attr = _MountAttr(attr_set, attr_clr, 0, 0)
    result = _libc.syscall(ctypes.c_long(SYS_MOUNT_SETATTR), ctypes.c_int(AT_FDCWD),
                           ctypes.c_char_p(path.encode()),
                           ctypes.c_uint(AT_RECURSIVE if recursive else 0), ctypes.byref(attr),
                           ctypes.c_size_t(ctypes.sizeof(attr)))
    _check(0 if result == 0 else -1, step)


def _prctl(option: int, value: int, step: str) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0), step)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uid", type=int, required=True, help="the one uid of the environment")
    parser.add_argument("--task-root", required=True, help="directory mounted read-only at /var/task")
    parser.add_argument("--runtime-api", default=os.environ.get("AWS_LAMBDA_RUNTIME_API"),
                        help="host:port of the real Runtime API (default: $AWS_LAMBDA_RUNTIME_API)")
    parser.add_argument("--memory-mb", type=int, default=256, help="the function's memory size")
    parser.add_argument("--tmp-mb", type=int, default=512, help="size of /tmp (ephemeral storage)")
    parser.add_argument("--cpu-cgroup-procs", help="a cgroup.procs file the environment joins, "
                        "so that a benchmark can read the CPU of exactly its processes")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.command and args.command[0] == "--":
        args.command = args.command[1:]
    if not args.command:
        parser.error("give the command to run after --")
    if args.uid <= 0:
        parser.error("--uid must be an unprivileged uid (not 0)")
    if not args.runtime_api:
        parser.error("give --runtime-api host:port or set AWS_LAMBDA_RUNTIME_API")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        sys.stderr.write("lambda-profile.py: run it as root: it builds namespaces and switches "
                         "to --uid itself.\n")
        return 2
    cgroup = _memory_cgroup(args.memory_mb)
    outer, inner = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    child = os.fork()
    if child == 0:
        outer.close()
        try:
            _environment(args, inner, cgroup)
        except BaseException as error:  # noqa: BLE001 - reported, then the whole run fails
            sys.stderr.write(f"lambda-profile.py: {error}\n")
            os._exit(125)
    inner.close()
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(number, lambda n, _f, pid=child: _forward(pid, n))
    listener = _receive_listener(outer)
    if listener is not None:
        threading.Thread(target=_forward_runtime_api, args=(listener, args.runtime_api),
                         daemon=True).start()
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    if cgroup:
        try:
            os.rmdir(cgroup)
        except OSError:
            pass
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def _forward(pid: int, number: int) -> None:
    try:
        os.kill(pid, number)
    except OSError:
        pass


def _memory_cgroup(memory_mb: int) -> Optional[str]:
    """A memory cgroup of the function's size (cgroup v1, else v2), or None where there is none."""
    name = f"lambda-profile-{os.getpid()}"
    if os.path.isdir(CGROUP_V1_MEMORY):
        path, limit_file = os.path.join(CGROUP_V1_MEMORY, name), "memory.limit_in_bytes"
    elif os.path.exists("/sys/fs/cgroup/cgroup.subtree_control"):
        path, limit_file = os.path.join("/sys/fs/cgroup", name), "memory.max"
    else:
        return None
    try:
        os.mkdir(path)
        with open(os.path.join(path, limit_file), "w") as handle:
            handle.write(str(memory_mb * 1024 * 1024))
    except OSError:
        return None
    return path


def _environment(args: argparse.Namespace, channel: socket.socket, cgroup: Optional[str]) -> NoReturn:
    """In the child: the new namespaces, the Runtime API listener, then pid 1."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, "prctl(PR_SET_PDEATHSIG)")
    loop_device = _ephemeral_storage(args.tmp_mb)
    if args.cpu_cgroup_procs:
        with open(args.cpu_cgroup_procs, "w") as handle:
            handle.write(str(os.getpid()))
    if cgroup:
        with open(os.path.join(cgroup, "cgroup.procs"), "w") as handle:
            handle.write(str(os.getpid()))
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS),
           "unshare")
    _loopback_up()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", RUNTIME_API_PORT))
    listener.listen(64)
    socket.send_fds(channel, [b"L"], [listener.fileno()])
    listener.close()
    channel.close()
    init = os.fork()
    if init == 0:
        _init(args, loop_device)
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(number, lambda n, _f, pid=init: _forward(pid, n))
    while True:
        try:
            _, status = os.waitpid(init, 0)
            break
        except InterruptedError:
            continue
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF if os.WIFEXITED(status)
             else 128 + os.WTERMSIG(status))


def _loopback_up() -> None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(probe, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(probe, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))
    finally:
        probe.close()


def _init(args: argparse.Namespace, loop_device: str) -> NoReturn:
    """Pid 1 of the emulated environment: build the file system, start the runtime, reap."""
    try:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, "prctl(PR_SET_PDEATHSIG)")
        _file_system(args, loop_device)
        runtime = os.fork()
        if runtime == 0:
            _runtime(args)
    except BaseException as error:  # noqa: BLE001
        sys.stderr.write(f"lambda-profile.py: {error}\n")
        os._exit(125)
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(number, lambda n, _f: _forward(runtime, n))
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            os._exit(1)
        if pid == runtime:
            # Lambda resets the environment when its runtime exits: pid 1
            # leaving takes every other process of the namespace with it.
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF if os.WIFEXITED(status)
                     else 128 + os.WTERMSIG(status))


def _file_system(args: argparse.Namespace, loop_device: str) -> None:
    task_root = os.path.realpath(args.task_root)
    # The image has the contract's limits two levels above the executor
    # package (/var/contract/limits.json, runtime-image/Dockerfile), as the
    # repository has them above runtime-image/executor/.
    limits = os.path.join(os.path.dirname(task_root), "contract", "limits.json")
    if not os.path.isfile(limits):
        raise LaunchError(f"{limits} is missing: the executor reads its limits from it")
    _mount(None, "/", None, MS_REC | MS_PRIVATE, None, "making mounts private")
    # /var becomes Lambda's: the code at /var/task, an empty /var/runtime, and
    # the contract's limits as the image has them.
    _mount("tmpfs", "/var", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755", "mounting /var")
    for name in ("task", "runtime", "contract"):
        os.mkdir(os.path.join("/var", name), 0o755)
    _mount(task_root, "/var/task", None, MS_BIND | MS_REC, None, "binding /var/task")
    with open("/var/contract/limits.json", "x"):
        pass
    _mount(limits, "/var/contract/limits.json", None, MS_BIND, None,
           "binding /var/contract/limits.json")
    if os.path.isdir("/dev/shm"):
        _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY,
               "size=4k,mode=0555", "hiding /dev/shm")
    _mount_setattr("/", MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, 0, True,
                   "making every mount read-only and nosuid")
    # Mounted after the read-only pass, so both stay writable.
    _mount(loop_device, "/tmp", "ext4", MS_NOSUID | MS_NODEV, None, "mounting /tmp")
    os.chmod("/tmp", 0o1777)
    # The mount holds the device now: detaching it marks it to go with the mount.
    subprocess.run([_tool("losetup"), "--detach", loop_device], capture_output=True)
    # A /proc of this pid namespace, where a process may write its own files
    # (oom_score_adj), as in Lambda.
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None, "mounting /proc")


def _tool(name: str) -> str:
    """A system program by absolute path: the caller's PATH may lack the sbin directories."""
    found = shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")
    if found is None:
        raise LaunchError(f"{name} is not installed (Debian: e2fsprogs and mount provide it)")
    return found


def _ephemeral_storage(size_mb: int) -> str:
    """A loop device over a sparse ext4 image of size_mb, for /tmp.

    Lambda's /tmp is disk (ephemeral storage), not memory, and has a size.
    The image is attached in the host's mount namespace, so that the
    emulated environment's read-only pass finds no writer on its own mounts;
    it is unlinked at once and only what is written uses the host's disk.
    """
    fd, image = tempfile.mkstemp(prefix="lambda-profile-tmp-", suffix=".img", dir="/var/tmp")
    try:
        os.ftruncate(fd, size_mb * 1024 * 1024)
        os.close(fd)
        made = subprocess.run([_tool("mkfs.ext4"), "-q", "-F", "-O", "^has_journal", "-m", "0",
                               "-E", "lazy_itable_init=1", image], capture_output=True, text=True)
        if made.returncode != 0:
            raise LaunchError(f"making /tmp's file system failed: {made.stderr.strip()}")
        attached = subprocess.run([_tool("losetup"), "--find", "--show", image], capture_output=True,
                                  text=True)
        if attached.returncode != 0:
            raise LaunchError(f"attaching /tmp's loop device failed: {attached.stderr.strip()}")
        return attached.stdout.strip()
    finally:
        os.unlink(image)


def _runtime(args: argparse.Namespace) -> NoReturn:
    """The runtime process: the seccomp filter, then the uid, then the command."""
    try:
        _load_seccomp()
        os.setgroups([])
        os.setresgid(args.uid, args.uid, args.uid)
        os.setresuid(args.uid, args.uid, args.uid)
        os.chdir("/var/task")
        environment = dict(os.environ)
        environment.update({
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{RUNTIME_API_PORT}",
            "LAMBDA_TASK_ROOT": "/var/task",
            "LAMBDA_RUNTIME_DIR": "/var/runtime",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(args.memory_mb),
            "PYTHONPATH": "/var/task",
            "HOME": "/tmp",
            "TMPDIR": "/tmp",
        })
        environment.setdefault("AWS_LAMBDA_FUNCTION_NAME", "lambda-profile")
        os.execvpe(args.command[0], args.command, environment)
    except BaseException as error:  # noqa: BLE001
        sys.stderr.write(f"lambda-profile.py: starting {args.command[0]} failed: {error}\n")
        os._exit(127)


def _load_seccomp() -> None:
    """Lambda's refusals, as EPERM (clone3 as ENOSYS, so that libc falls back to clone)."""
    import seccomp  # Debian python3-seccomp
    denied = seccomp.ERRNO(errno.EPERM)
    rules = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    for name in ("unshare", "setns", "seccomp", "mount", "umount2", "pivot_root", "chroot",
                 "ptrace", "mount_setattr", "open_tree", "move_mount", "fsopen", "fsconfig",
                 "fsmount", "fspick"):
        try:
            rules.add_rule(denied, name)
        except (RuntimeError, ValueError, OSError):
            continue
    for option in (PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP):
        rules.add_rule(denied, "prctl", seccomp.Arg(0, seccomp.EQ, option))
    for flag in (CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID,
                 CLONE_NEWNET, CLONE_NEWCGROUP):
        rules.add_rule(denied, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    # Loaded as root, so without no_new_privs: the runtime must find that
    # flag unset and refused, as in Lambda.
    rules.set_attr(seccomp.Attr.CTL_NNP, 0)
    rules.load()


def _receive_listener(channel: socket.socket) -> Optional[socket.socket]:
    try:
        _, fds, _, _ = socket.recv_fds(channel, 16, 1)
    except OSError:
        return None
    finally:
        channel.close()
    if not fds:
        return None
    return socket.socket(fileno=fds[0])


def _forward_runtime_api(listener: socket.socket, target: str) -> None:
    """Relay each connection made inside to the real Runtime API, byte for byte."""
    host, _, port = target.rpartition(":")
    active = threading.BoundedSemaphore(MAX_FORWARDED)
    while True:
        try:
            inside, _ = listener.accept()
        except OSError:
            return
        if not active.acquire(blocking=False):
            inside.close()
            continue
        try:
            outside = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
            outside.settimeout(None)
        except OSError:
            inside.close()
            active.release()
            continue
        threading.Thread(target=_pump, args=(inside, outside, active), daemon=True).start()


def _pump(first: socket.socket, second: socket.socket, active: threading.BoundedSemaphore) -> None:
    selector = selectors.DefaultSelector()
    selector.register(first, selectors.EVENT_READ, second)
    selector.register(second, selectors.EVENT_READ, first)
    try:
        while True:
            for key, _ in selector.select():
                data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                if not data:
                    return
                key.data.sendall(data)
    except OSError:
        return
    finally:
        selector.close()
        first.close()
        second.close()
        active.release()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
