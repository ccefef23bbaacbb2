"""The worker: the child side of one execution, the only place user code runs.

A worker is forked by the engine well before a request exists. It applies
its sandbox (sandbox.py) while parked, reports "ready", then blocks on the
request pipe. Per request it only sets the CPU limit, runs the script, saves
open figures, encodes the result and exits with os._exit, so that non-daemon
threads, atexit handlers and buffered garbage cannot delay or alter the
answer.

Frames on the result pipe: one kind byte, a 4-byte big-endian length, then
the payload (UTF-8 JSON):
  Y  ready, payload {}
  F  setup failed, payload {"error": sentence}
  R  result, payload the encoded result value
  E  error, payload {"errorType", "error", "traceback"}
"""

from __future__ import annotations

import builtins
import errno
import inspect
import io
import json
import linecache
import os
import resource
import signal
import socket
import struct
import sys
import traceback
import types
from typing import Any, NoReturn, Optional

from . import sandbox
from .encoding import EncodingError, encode_result

_json_loads = json.loads
_pack = struct.Struct(">cI")
FRAME_HEADER_BYTES = _pack.size
SCRIPT_FILENAME = "<script>"

# Exit status of a worker whose sandbox setup failed after "ready" could not
# be reported at all (for example the result pipe itself is gone).
SETUP_FAILED_EXIT = 70
# Exit status of the outer process of a pid namespace when its pid-1 child
# vanished without a status it could mirror.
LOST_CHILD_EXIT = 71

RESULT_FD = 3
REQUEST_FD = 4


class SandboxPolicyError(PermissionError):
    """Raised by the audit hook; the engine reports it as PolicyViolation."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.EPERM, message)

    def __str__(self) -> str:
        return str(self.strerror)


# Tracebacks name the class as users see it, not as an executor internal.
SandboxPolicyError.__module__ = "builtins"


def frame(kind: bytes, payload: bytes) -> bytes:
    return _pack.pack(kind, len(payload)) + payload


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_exact(fd: int, count: int) -> bytes:
    chunks = []
    while count:
        chunk = os.read(fd, min(count, 1 << 20))
        if not chunk:
            raise EOFError("the request pipe closed early")
        chunks.append(chunk)
        count -= len(chunk)
    return b"".join(chunks)


def _send_json(kind: bytes, value: dict[str, Any]) -> None:
    payload = encode_result(value, 1 << 24).encode("utf-8")
    _write_all(RESULT_FD, frame(kind, payload))


# ---------------------------------------------------------------- audit hook


_REFUSED_EVENTS = {
    "subprocess.Popen": "starting programs (subprocess) is not allowed",
    "os.system": "starting programs (os.system) is not allowed",
    "os.exec": "replacing the process with another program (os.exec*) is not allowed",
    "os.posix_spawn": "starting programs (os.posix_spawn) is not allowed",
    "os.spawn": "starting programs (os.spawn*) is not allowed",
    "ctypes.dlopen": "loading native libraries through ctypes is not allowed",
    "ctypes.dlsym": "looking up native functions through ctypes is not allowed",
    "ctypes.dlsym/handle": "looking up native functions through ctypes is not allowed",
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


def _make_policy(workdir: str, parent_pid: int, template_pid: Optional[int] = None) -> Any:
    """The PEP 578 audit hook: defence in depth, never the boundary.

    CPython documents that hooks can be bypassed by code that reaches C
    directly; the boundary is the process, uid, rlimits, seccomp and, in the
    cloud, the microVM, network and IAM. This policy turns the common paths
    (sockets, subprocesses, loading native code, other processes' /proc)
    into clear PolicyViolation errors.

    The hook is a closure over values bound here, never module globals or
    instance attributes, and it is referenced only by the interpreter's hook
    list: a script cannot reach it through sys.modules or an object's
    __dict__, and the gc walks that could find it are refused.
    """
    refused = dict(_REFUSED_EVENTS).get
    socket_events = frozenset(("socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg"))
    unix = int(socket.AF_UNIX)
    getpid = os.getpid
    getpgid = os.getpgid
    getcwd = os.getcwd
    normpath = os.path.normpath
    join = os.path.join
    error_class = SandboxPolicyError
    str_type, bytes_type, int_type = str, bytes, int
    is_instance = isinstance
    workdir_prefix = workdir + "/"
    # Stopping or killing the template would leave the next workers to be
    # forked from the runtime's own memory.
    protected = frozenset(pid for pid in (parent_pid, template_pid, -1) if pid is not None)

    def refuse(sentence: str) -> NoReturn:
        raise error_class(f"The sandbox refused this: {sentence}.")

    def absolute(path: str) -> str:
        return normpath(path if path.startswith("/") else join(getcwd(), path))

    def audit_hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            path = args[0]
            if is_instance(path, bytes_type):
                path = path.decode("utf-8", "surrogateescape")
            if not is_instance(path, str_type) or "proc" not in path:
                return
            path = absolute(path)
            if path.startswith("/proc/"):
                part = path[6:].split("/", 1)[0]
                if part.isdigit() and int_type(part) != getpid():
                    refuse(f"reading /proc/{part} (another process) is not allowed")
            return
        sentence = refused(event)
        if sentence is not None:
            refuse(sentence)
        if event == "socket.__new__":
            if args[1] != unix:
                refuse("network access (creating a network socket) is not allowed")
        elif event in socket_events:
            if getattr(args[0], "family", None) != unix:
                refuse("network access is not allowed")
            address = args[1]
            if is_instance(address, bytes_type):
                address = address.decode("utf-8", "surrogateescape")
            if is_instance(address, str_type) and address and not address.startswith("\0"):
                if not (absolute(address) + "/").startswith(workdir_prefix):
                    refuse("connecting to sockets outside the working directory is not allowed")
        elif event == "os.kill":
            pid = args[0]
            if is_instance(pid, int_type):
                if pid in protected:
                    refuse("signalling the executor is not allowed")
                if pid < -1 and -pid != getpgid(0):
                    refuse("signalling another process group is not allowed")
        elif event == "os.killpg":
            if args[0] != getpgid(0):
                refuse("signalling another process group is not allowed")

    return audit_hook


# ---------------------------------------------------------------- setup


def _arrange_fds(result_fd: int, request_fd: int) -> None:
    """fd 0 = /dev/null, 1 and 2 = the capture pipes (set by the caller), 3, 4 = frames."""
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    # Both targets may collide with the sources; go through high numbers.
    high_result = os.dup(result_fd)
    high_request = os.dup(request_fd)
    os.dup2(high_result, RESULT_FD)
    os.dup2(high_request, REQUEST_FD)
    os.closerange(REQUEST_FD + 1, 1 << 16)
    os.set_inheritable(RESULT_FD, False)
    os.set_inheritable(REQUEST_FD, False)


def _fresh_stdio() -> tuple[io.TextIOWrapper, io.TextIOWrapper]:
    # The inherited sys.stdout may still buffer the parent's unflushed text;
    # keep the old objects alive (never flushed, os._exit ends the process)
    # and give the script brand-new streams on the pipes.
    _abandoned.extend((sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__))
    stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8",
                              errors="backslashreplace", line_buffering=False)
    stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                              errors="backslashreplace", write_through=True)
    sys.stdout = sys.__stdout__ = stdout
    sys.stderr = sys.__stderr__ = stderr
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.FileIO(0, "r", closefd=False),
                                                 encoding="utf-8")
    return stdout, stderr


_abandoned: list[Any] = []


def start(plan: sandbox.Plan, stdout_fd: int, stderr_fd: int, result_fd: int,
          request_fd: int, result_limit_bytes: int) -> NoReturn:
    """Entry point in the freshly forked child; never returns."""
    try:
        os.dup2(stdout_fd, 1)
        os.dup2(stderr_fd, 2)
        _arrange_fds(result_fd, request_fd)
    except BaseException:
        os._exit(SETUP_FAILED_EXIT)
    try:
        _setup(plan)
    except BaseException as error:  # noqa: BLE001 - every failure closes the door
        message = str(error) or type(error).__name__
        try:
            _send_json(b"F", {"error": f"Sandbox setup failed: {message}"})
        finally:
            os._exit(SETUP_FAILED_EXIT)
    _serve(plan, result_limit_bytes)


def _setup(plan: sandbox.Plan) -> None:
    os.setsid()
    sandbox.ignore_signal_defaults()
    if plan.sandbox_uid is not None:
        sandbox.drop_privileges(plan.sandbox_uid)
    # The worker's own /proc files become root-owned while it is not
    # dumpable (inherited from the parent, or set by the uid switch), which
    # breaks ordinary introspection of itself. Being dumpable only exposes
    # the worker to processes of its own uid; the runtime stays non-dumpable.
    sandbox.set_dumpable(True)
    # Set after the uid switch, which clears it. If the runtime dies, the
    # worker and whatever it runs die with it instead of living on unowned.
    sandbox.prctl(sandbox.PR_SET_PDEATHSIG, signal.SIGKILL, "prctl(PR_SET_PDEATHSIG)")
    if os.getppid() != plan.parent_pid:
        raise sandbox.SandboxError("the runtime exited while the worker was starting")
    if plan.namespaces:
        sandbox.enter_namespaces(plan.workdir)
        _split_for_pid_namespace()
    else:
        os.chdir(plan.workdir)
    sandbox.apply_rlimits(plan)
    if plan.seccomp_program is not None:
        sandbox.load_seccomp(plan.seccomp_program)
    environment = sandbox.clean_environment(plan.workdir)
    sandbox.scrub_worker_memory(plan.secrets, plan.secret_bytes)
    os.environ.clear()
    os.environ.update(environment)
    for name in [name for name in sys.modules if name == "executor" or name.startswith("executor.")]:
        # Keep user code from stumbling onto the engine through sys.modules.
        del sys.modules[name]
    sys.argv = [SCRIPT_FILENAME]
    sys.path[:] = [p for p in sys.path if p and not p.startswith(plan.workdir)]
    sys.addaudithook(_make_policy(plan.workdir, plan.parent_pid, plan.template_pid))
    _warm_up()
    _send_json(b"Y", {})


def _warm_up() -> None:
    """Walk the per-request path once while parked.

    Right after fork every page is shared with the parent, and the first
    write to each (reference counts, caches) costs a copy-on-write fault.
    Measured: a trivial execution took ~5 ms in a cold worker, mostly
    faults; touching the same code paths here moves that cost off the
    caller's latency. Nothing of this run is visible to the script: it is
    the worker's own memory and the namespace is thrown away.
    """
    namespace: dict[str, Any] = {"__builtins__": builtins}
    exec(compile("def main(value):\n    return [value, {'a': 1.5, 'b': None}]\n",
                 SCRIPT_FILENAME, "exec", dont_inherit=True), namespace)
    encode_result(_call_main(namespace["main"], True, "warm"), 1 << 16)
    pandas = sys.modules.get("pandas")
    if pandas is not None:
        frame = pandas.DataFrame({"a": [1, 2], "b": ["x", "y"]})
        encode_result([frame, frame["a"].sum(), frame.groupby("b")["a"].sum().to_dict()],
                      1 << 20)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        encode_result(numpy.arange(4).reshape(2, 2) * 1.5, 1 << 16)
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.get_fignums()
    traceback.extract_tb(None)
    linecache.cache.pop(SCRIPT_FILENAME, None)


def _split_for_pid_namespace() -> None:
    """Fork pid 1 of the new pid namespace, which forks the runner (pid 2).

    Three processes, each with one job. This one (outside the namespace)
    only mirrors the runner's exit status to the engine, which can wait only
    for its own child. Pid 1 reaps orphans and reports the runner's status;
    the kernel ignores default-action signals sent to a namespace's init from
    inside, so the script cannot kill its reaper, and it would also ignore a
    script's kill(getpid(), SIGKILL) if the script itself were pid 1. When
    pid 1 exits, the kernel kills everything left in the namespace.
    """
    status_r, status_w = os.pipe()
    reaper = os.fork()
    if reaper == 0:
        os.close(status_r)
        sandbox.prctl(sandbox.PR_SET_PDEATHSIG, signal.SIGKILL, "prctl(PR_SET_PDEATHSIG)")
        sandbox.finish_pid_namespace()
        runner = os.fork()
        if runner == 0:
            os.close(status_w)
            sandbox.prctl(sandbox.PR_SET_PDEATHSIG, signal.SIGKILL, "prctl(PR_SET_PDEATHSIG)")
            return
        _reap(runner, status_w)
    os.close(status_w)
    _close_all_but(status_r)
    data = b""
    while len(data) < 4:
        try:
            chunk = os.read(status_r, 4 - len(data))
        except InterruptedError:
            continue
        if not chunk:
            break
        data += chunk
    if len(data) == 4:
        (status,) = struct.unpack(">i", data)
    else:
        try:
            _, status = os.waitpid(reaper, 0)
        except ChildProcessError:
            os._exit(LOST_CHILD_EXIT)
    _mirror(status)


def _close_all_but(keep: int) -> None:
    os.closerange(0, keep)
    os.closerange(keep + 1, 1 << 16)


def _reap(runner: int, status_fd: int) -> NoReturn:
    _close_all_but(status_fd)
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(LOST_CHILD_EXIT)
        except InterruptedError:
            continue
        if pid == runner:
            try:
                os.write(status_fd, struct.pack(">i", status))
            finally:
                os._exit(0)


def _mirror(status: int) -> NoReturn:
    # Mirroring SIGXCPU or SIGSEGV must not leave a core file behind.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            signal.signal(number, signal.SIG_DFL)
        except (OSError, ValueError):
            pass  # SIGKILL and SIGSTOP cannot be caught, so they need no reset
        os.kill(os.getpid(), number)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


# ---------------------------------------------------------------- execution


def _serve(plan: sandbox.Plan, result_limit_bytes: int) -> NoReturn:
    try:
        header = _read_exact(REQUEST_FD, 4)
        (length,) = struct.unpack(">I", header)
        request = _json_loads(_read_exact(REQUEST_FD, length).decode("utf-8"))
        os.close(REQUEST_FD)
        sandbox.set_cpu_limit(int(request["timeoutMs"]))
    except BaseException:  # noqa: BLE001 - the parent went away or sent garbage
        os._exit(SETUP_FAILED_EXIT)
    stdout, stderr = _fresh_stdio()
    kind, payload = _run(request, result_limit_bytes, stdout, stderr, plan.max_file_bytes,
                         plan.memory_bytes)
    _flush(stdout, stderr)
    try:
        _write_all(RESULT_FD, frame(kind, payload))
    except OSError:
        pass
    os._exit(0)


def _flush(*streams: Any) -> None:
    for stream in streams:
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - the script may have closed fd 1 or 2
            pass


# An exception's message and traceback are the script's to choose; they are
# cut so that a 20 MiB message still leaves room for a readable answer.
MAX_ERROR_CHARS = 4096
MAX_TRACEBACK_CHARS = 65536


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"... [{len(text) - limit} more characters cut]"


def _error(error_type: str, message: str, trace: Optional[str]) -> tuple[bytes, bytes]:
    value = {"errorType": error_type, "error": _cut(message, MAX_ERROR_CHARS),
             "traceback": None if trace is None else _cut(trace, MAX_TRACEBACK_CHARS)}
    try:
        payload = encode_result(value, 1 << 20).encode("utf-8", "replace")
    except Exception:  # noqa: BLE001 - the report itself must never fail
        payload = encode_result({"errorType": error_type, "error": error_type,
                                 "traceback": None}, 1 << 16).encode("utf-8")
    return b"E", payload


def _describe(error: BaseException) -> str:
    try:
        text = str(error)
    except BaseException:  # noqa: BLE001 - a hostile __str__
        text = "<exception message could not be read>"
    name = type(error).__name__
    return f"{name}: {text}" if text else name


def _user_traceback(error: BaseException) -> str:
    """Only the submitted script's frames, with its own line numbers."""
    try:
        frames = [f for f in traceback.extract_tb(error.__traceback__)
                  if f.filename == SCRIPT_FILENAME]
        lines = []
        if frames:
            lines.append("Traceback (most recent call last):\n")
            lines.extend(traceback.format_list(frames))
        lines.extend(traceback.format_exception_only(type(error), error))
        return "".join(lines)
    except BaseException:  # noqa: BLE001 - hostile exception objects
        return _describe(error) + "\n"


def _call_main(main: Any, has_input: bool, value: Any) -> Any:
    takes_argument = False
    try:
        parameters = list(inspect.signature(main).parameters.values())
        positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        takes_argument = bool(positional) or any(p.kind == p.VAR_POSITIONAL for p in parameters)
    except (TypeError, ValueError):
        takes_argument = has_input
    outcome = main(value) if takes_argument else main()
    if inspect.iscoroutine(outcome):
        import asyncio
        outcome = asyncio.run(outcome)
    return outcome


def _save_figures() -> None:
    """Open matplotlib figures become PNG artifacts, as in a notebook."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return
    numbers = list(pyplot.get_fignums())
    if not numbers:
        return
    os.makedirs("outputs", exist_ok=True)
    for number in numbers:
        name = f"figure-{number}.png"
        index = 1
        while os.path.lexists(os.path.join("outputs", name)):
            index += 1
            name = f"figure-{number}-{index}.png"
        pyplot.figure(number).savefig(os.path.join("outputs", name), format="png")
        pyplot.close(number)


def _memory_error(error: BaseException, memory_bytes: int) -> tuple[bytes, bytes]:
    """MemoryError and ENOMEM are the same outcome: the worker's memory limit was hit."""
    return _error(
        "MemoryLimit",
        f"The script ran out of memory: it exceeded the worker memory limit of "
        f"{memory_bytes // (1024 * 1024)} MiB.",
        _user_traceback(error),
    )


def _run(request: dict[str, Any], result_limit_bytes: int, stdout: Any, stderr: Any,
         max_file_bytes: int, memory_bytes: int) -> tuple[bytes, bytes]:
    script: str = request["script"]
    linecache.cache[SCRIPT_FILENAME] = (len(script), None, script.splitlines(True),
                                        SCRIPT_FILENAME)
    try:
        code = compile(script, SCRIPT_FILENAME, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as error:
        return _error("ScriptError", _describe(error), _user_traceback(error))
    module = types.ModuleType("__main__")
    module.__dict__["__builtins__"] = builtins
    # The script may replace builtins (str, isinstance, ...); the code that
    # runs after it (encoding, error reporting) must see the real ones.
    saved_builtins = dict(builtins.__dict__)
    sys.modules["__main__"] = module
    limit = sys.getrecursionlimit()
    try:
        try:
            exec(code, module.__dict__)
            main = module.__dict__.get("main")
            result = None
            if callable(main):
                result = _call_main(main, bool(request.get("hasInput")), request.get("input"))
        finally:
            builtins.__dict__.clear()
            builtins.__dict__.update(saved_builtins)
            sys.setrecursionlimit(limit)
        _save_figures()
        _flush(stdout, stderr)
        return b"R", encode_result(result, result_limit_bytes).encode("utf-8")
    except EncodingError as error:
        return _error(error.error_type, error.message, None)
    except SystemExit as error:
        code_text = "None" if error.code is None else repr(error.code)
        return _error(
            "ScriptError",
            f"The script called sys.exit({code_text}) before it finished; "
            "return from main() or let the script end instead.",
            _user_traceback(error),
        )
    except MemoryError as error:
        return _memory_error(error, memory_bytes)
    except SandboxPolicyError as error:
        return _error("PolicyViolation", str(error), _user_traceback(error))
    except OSError as error:
        if error.errno == errno.EFBIG:
            return _error(
                "OutputLimit",
                f"The script tried to write a file larger than the limit of "
                f"{max_file_bytes} bytes.",
                _user_traceback(error),
            )
        if error.errno == errno.ENOMEM:
            return _memory_error(error, memory_bytes)
        return _error("ScriptError", _describe(error), _user_traceback(error))
    except BaseException as error:  # noqa: BLE001 - every script failure is an outcome
        return _error("ScriptError", _describe(error), _user_traceback(error))
