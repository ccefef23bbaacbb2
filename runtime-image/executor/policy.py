"""The worker's audit-hook policy (PEP 578): defence in depth, never the boundary.

CPython documents that audit hooks can be bypassed by code that reaches C
directly, so the boundary is elsewhere: the separate process and its
containment, rlimits, the uid, namespaces and seccomp where the host allows
them, and in AWS the microVM per tenant, the network and IAM. This policy
turns the ordinary routes (sockets, subprocesses, native code, signals and
limits aimed at other processes, other processes' /proc) into a clear
PolicyViolation, and closes the pure-Python routes around itself that are
known: functions with no audit event are replaced in their modules, modules
cannot be re-created from the import system's caches, and ctypes cannot load
a library, look up a symbol or map raw memory onto an object. It cannot stop
ctypes' ready-made function pointers (memmove, cast) or pointer indexing,
which raise no audit event: that is native code, and the layers below are
what hold against it (tests/exploits/test_native_escapes.py).

The hook is a closure over values bound here, referenced only by the
interpreter's hook list: a script cannot reach it through sys.modules or an
object's __dict__, and the gc walks that could find it are refused.
"""

from __future__ import annotations

import errno
import importlib
import os
import socket
import sys
import types
import warnings
from typing import Any, Callable, NoReturn


class SandboxPolicyError(PermissionError):
    """Raised by the policy; the runtime reports it as PolicyViolation."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.EPERM, message)

    def __str__(self) -> str:
        return str(self.strerror)


# Tracebacks name the class as users see it, not as an executor internal.
SandboxPolicyError.__module__ = "builtins"


def _sentence(text: str) -> str:
    return f"The sandbox refused this: {text}."


_REFUSED_EVENTS = {
    "subprocess.Popen": "starting programs (subprocess) is not allowed",
    "os.system": "starting programs (os.system) is not allowed",
    "os.exec": "replacing the process with another program (os.exec*) is not allowed",
    "os.posix_spawn": "starting programs (os.posix_spawn) is not allowed",
    "os.spawn": "starting programs (os.spawn*) is not allowed",
    "ctypes.dlopen": "loading native libraries through ctypes is not allowed",
    "ctypes.dlsym": "looking up native functions through ctypes is not allowed",
    "ctypes.dlsym/handle": "looking up native functions through ctypes is not allowed",
    "ctypes.call_function": "calling native functions through ctypes is not allowed",
    "ctypes.cdata": "reading or writing raw memory through ctypes is not allowed",
    "ctypes.cdata/buffer": "reading or writing raw memory through ctypes is not allowed",
    "ctypes.string_at": "reading raw memory through ctypes is not allowed",
    "ctypes.wstring_at": "reading raw memory through ctypes is not allowed",
    "socket.getaddrinfo": "network access (DNS lookups) is not allowed",
    "socket.gethostbyname": "network access (DNS lookups) is not allowed",
    "socket.gethostbyaddr": "network access (DNS lookups) is not allowed",
    "socket.getnameinfo": "network access (DNS lookups) is not allowed",
    "socket.sethostname": "changing the host name is not allowed",
    # Walking every object is how a script would find this hook (or secrets
    # in inherited memory) to tamper with it.
    "gc.get_objects": "walking the garbage collector's objects is not allowed",
    "gc.get_referrers": "walking the garbage collector's objects is not allowed",
    "gc.get_referents": "walking the garbage collector's objects is not allowed",
}

# Modules whose functions are replaced below: re-creating one from the
# import system's caches would bring the originals back.
_PROTECTED_MODULES = frozenset(("posix", "_posixsubprocess", "_signal", "_imp", "_ctypes",
                                "_testcapi", "_testinternalcapi", "_xxsubinterpreters"))

# (module, attribute, sentence): functions that have no audit event.
_REPLACED = (
    ("_posixsubprocess", "fork_exec", "starting programs (_posixsubprocess) is not allowed"),
    ("subprocess", "_fork_exec", "starting programs (_posixsubprocess) is not allowed"),
    ("posix", "pidfd_open", "opening other processes (pidfd_open) is not allowed"),
    ("os", "pidfd_open", "opening other processes (pidfd_open) is not allowed"),
    ("_signal", "pidfd_send_signal", "signalling through pidfds is not allowed"),
    ("signal", "pidfd_send_signal", "signalling through pidfds is not allowed"),
    ("posix", "setpriority", "changing process priorities is not allowed"),
    ("os", "setpriority", "changing process priorities is not allowed"),
    ("posix", "sched_setaffinity", "changing CPU affinity is not allowed"),
    ("os", "sched_setaffinity", "changing CPU affinity is not allowed"),
    ("posix", "sched_setscheduler", "changing the scheduler is not allowed"),
    ("os", "sched_setscheduler", "changing the scheduler is not allowed"),
    ("posix", "sched_setparam", "changing the scheduler is not allowed"),
    ("os", "sched_setparam", "changing the scheduler is not allowed"),
    ("_imp", "create_builtin", "re-creating built-in modules is not allowed"),
)


def preload_builtin_modules() -> None:
    """Import every module compiled into the interpreter, once, in the runtime.

    Then no script ever needs _imp.create_builtin, which re-creates a module
    with its original functions and raises no audit event, so the policy can
    replace it with a refusal. The protected modules a build ships as
    extensions (_posixsubprocess in lib-dynload, for one) are loaded too, so
    that the standard modules that need them (subprocess, asyncio) still
    import in a worker, where importing a protected module afresh is refused;
    the test modules stay unloaded, so that no script reaches them at all.
    """
    wanted = set(sys.builtin_module_names)
    wanted.update(name for name in _PROTECTED_MODULES if not name.startswith("_test"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # spwd, on 3.11 and 3.12
        for name in sorted(wanted):
            try:
                importlib.import_module(name)
            except ImportError:
                continue


def _refusing(sentence: str) -> Callable[..., NoReturn]:
    def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        raise SandboxPolicyError(_sentence(sentence))
    return refuse


def replace_unaudited_functions() -> None:
    """Once, in the worker template: the functions that have no audit event become refusals."""
    for module_name, attribute, sentence in _REPLACED:
        module = sys.modules.get(module_name)
        if module is not None and hasattr(module, attribute):
            setattr(module, attribute, _refusing(sentence))


def install(workdir: str, writable_roots: tuple[str, ...]) -> None:
    """In each worker, after replace_unaudited_functions() ran in its template."""
    sys.addaudithook(_make_hook(workdir, writable_roots))


def _make_hook(workdir: str, writable_roots: tuple[str, ...]) -> Callable[[str, tuple[Any, ...]], None]:
    refused = dict(_REFUSED_EVENTS).get
    protected_modules = _PROTECTED_MODULES
    socket_events = frozenset(("socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg"))
    path_events = frozenset(("open", "os.chdir", "os.listdir", "os.scandir"))
    unix = int(socket.AF_UNIX)
    own_pid = os.getpid()
    own_text = str(own_pid)
    own_sid = os.getsid(0)
    getcwd, getsid, getpgid = os.getcwd, os.getsid, os.getpgid
    realpath, normpath, join = os.path.realpath, os.path.normpath, os.path.join
    error_class = SandboxPolicyError
    str_type, bytes_type, int_type = str, bytes, int
    is_instance = isinstance
    get_frame = sys._getframe
    workdir_prefix = workdir.rstrip("/") + "/"
    writable = tuple(root.rstrip("/") + "/" for root in writable_roots) + (workdir_prefix,)
    marshal_callers = frozenset(("_compile_bytecode",))
    # types.coroutine only sets a flag on an existing function's code (the
    # standard library's asyncio does so at import); any other caller is
    # building code objects by hand.
    coroutine_code = types.coroutine.__code__
    loader_path_ok = _genuine_loader_check(writable)

    def refuse(sentence: str) -> NoReturn:
        raise error_class(_sentence(sentence))

    def text(path: Any) -> Any:
        if is_instance(path, bytes_type):
            return path.decode("utf-8", "surrogateescape")
        if is_instance(path, str_type):
            return path
        return None

    def absolute(path: str) -> str:
        return normpath(path if path.startswith("/") else join(getcwd(), path))

    def names_other_process(path: str) -> bool:
        """True if the path walks into /proc/<pid> of another process, written any way."""
        parts = normpath(path).split("/")
        for index, part in enumerate(parts[:-1]):
            if part == "proc":
                following = parts[index + 1]
                if following.isdigit() and following != own_text:
                    return True
        return False

    def check_path(event: str, raw: Any) -> None:
        path = text(raw)
        if path is None:
            return  # a file descriptor: it was opened through this hook
        if not path.startswith("/") and "proc" in normpath(path).split("/"):
            # Its base may be a directory descriptor this hook cannot see.
            refuse("relative paths through a directory named proc are not allowed")
        full = absolute(path)
        resolved = realpath(full) if (full + "/").startswith(writable) else full
        for candidate in (full, resolved):
            if names_other_process(candidate):
                refuse("reading another process's /proc entries is not allowed")
            if event == "open" and candidate == "/proc":
                # A descriptor of /proc itself would let relative paths reach any pid.
                refuse("opening /proc itself as a directory is not allowed")
        if event == "open" and resolved.endswith(".pyc") and (resolved + "/").startswith(writable):
            refuse("loading compiled bytecode written by the script is not allowed")

    def same_session(pid: int) -> bool:
        try:
            return getsid(pid) == own_sid
        except OSError:
            return False

    def audit_hook(event: str, args: tuple[Any, ...]) -> None:
        if event in path_events:
            if args:
                check_path(event, args[0])
            return
        sentence = refused(event)
        if sentence is not None:
            refuse(sentence)
        if event == "import":
            name = args[0]
            if is_instance(name, str_type) and name in protected_modules:
                refuse(f"re-importing the module {name} is not allowed")
        elif event == "marshal.loads":
            # Only the import system's own loader, reading a file the script
            # could not have written, may turn bytes into code.
            caller = get_frame(1)
            if caller.f_code.co_name not in marshal_callers or not loader_path_ok(caller):
                refuse("loading code objects with marshal is not allowed")
        elif event == "code.__new__":
            if get_frame(1).f_code is not coroutine_code:
                refuse("building code objects by hand is not allowed")
        elif event == "socket.__new__":
            if args[1] != unix:
                refuse("network access (creating a network socket) is not allowed")
        elif event in socket_events:
            if getattr(args[0], "family", None) != unix:
                refuse("network access is not allowed")
            address = text(args[1])
            if is_instance(address, str_type) and address and not address.startswith("\0"):
                if not (absolute(address) + "/").startswith(workdir_prefix):
                    refuse("connecting to sockets outside the working directory is not allowed")
        elif event == "os.kill":
            pid = args[0]
            if is_instance(pid, int_type) and pid not in (0, own_pid):
                if pid == -1 or not same_session(abs(pid)):
                    refuse("signalling processes outside this execution is not allowed")
        elif event == "os.killpg":
            pgid = args[0]
            if is_instance(pgid, int_type) and pgid not in (0, getpgid(0)) \
                    and not same_session(pgid):
                refuse("signalling process groups outside this execution is not allowed")
        elif event == "resource.prlimit":
            pid = args[0]
            if is_instance(pid, int_type) and pid not in (0, own_pid):
                refuse("changing the limits of other processes is not allowed")
        elif event == "os.symlink":
            target = text(args[0])
            if is_instance(target, str_type) and "proc" in normpath(target).split("/"):
                refuse("links into /proc are not allowed")

    return audit_hook


def _genuine_loader_check(writable: tuple[str, ...]) -> Callable[[Any], bool]:
    """True when marshal.loads was reached from importlib's own bytecode loader.

    _compile_bytecode is called by SourceLoader.get_code with the bytes that
    get_data read from the loader's path. The loader must be one of the two
    standard classes with their own get_data, and its path must lie outside
    everything the script can write.
    """
    from importlib import machinery
    genuine = {machinery.SourceFileLoader: machinery.SourceFileLoader.get_data,
               machinery.SourcelessFileLoader: machinery.SourcelessFileLoader.get_data}
    realpath = os.path.realpath

    def check(compile_frame: Any) -> bool:
        get_code = compile_frame.f_back
        if get_code is None or get_code.f_code.co_name != "get_code":
            return False
        loader = get_code.f_locals.get("self")
        kind = type(loader)
        if kind not in genuine or kind.get_data is not genuine[kind]:
            return False
        path = getattr(loader, "path", None)
        if not isinstance(path, str):
            return False
        return not (realpath(path) + "/").startswith(writable)

    return check
