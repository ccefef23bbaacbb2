"""The worker: the child side of one execution, the only place user code runs.

A worker is forked by the worker template (template.py) well before a
request exists. It applies its sandbox while parked, reports READY, then
blocks on the request pipe. Per request it only sets the CPU limit, runs the
script, saves open figures, encodes the result and exits with os._exit, so
that non-daemon threads, atexit handlers and buffered garbage cannot delay
or alter the answer. Frames on the result pipe: frames.py.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import errno
import inspect
import io
import json
import linecache
import os
import random
import resource
import signal
import struct
import sys
import traceback
import types

import _signal
from typing import Any, NoReturn, Optional

from . import frames, outcome, policy, seccomp_filter, syscalls
from .encoding import EncodingError, encode_result
from .frames import FrameKind
from .policy import SandboxPolicyError

_json_loads = json.loads
SCRIPT_FILENAME = "<script>"

# Exit status of a worker whose setup failed before it could even report it.
SETUP_FAILED_EXIT = 70

RESULT_FD = 3
REQUEST_FD = 4
# Where the namespace descriptors sit while the worker joins them (ROOT profile).
NAMESPACE_FDS = (5, 6, 7)
NAMESPACE_KINDS = (syscalls.CLONE_NEWNS, syscalls.CLONE_NEWNET, syscalls.CLONE_NEWIPC)
# The OOM killer's first choice: the most a process may ask for itself.
OOM_SCORE_ADJ_MAX = 1000


@dataclasses.dataclass
class Plan:
    """What a worker applies, decided by the runtime from its probes."""

    workdir: str            # as the worker sees it
    tmpdir: str             # the script's TMPDIR
    writable_roots: list[str]  # where the script can write, for the policy
    uid: Optional[int]      # the uid to switch to (a root runtime only)
    cgroup_procs: list[str]  # cgroup.procs files to join (a root runtime only)
    join_namespaces: bool   # descriptors of the workers' namespaces come along
    seccomp: bool           # load the template's prepared filter
    oom_first: bool         # raise oom_score_adj so the OOM killer takes this worker first
    memory_bytes: int       # RLIMIT_AS headroom above the inherited address space
    max_file_bytes: int
    max_open_files: int
    nproc_limit: int
    result_limit_bytes: int
    runtime_pid: int
    template_pid: int
    # Filled in by the template right before it forks: its own VmSize, which
    # the worker inherits.
    inherited_vm_bytes: int = 0

    def to_json(self) -> bytes:
        return json.dumps(dataclasses.asdict(self)).encode()

    @classmethod
    def from_json(cls, data: bytes) -> "Plan":
        fields = json.loads(data)
        names = {field.name for field in dataclasses.fields(cls)}
        if set(fields) != names:
            raise ValueError(f"a plan with fields {sorted(fields)}")
        return cls(**fields)


class SetupError(Exception):
    """A sandbox step failed; the message names it."""


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


def _send(kind: FrameKind, value: Any) -> None:
    payload = encode_result(value, 1 << 24).encode("utf-8")
    _write_all(RESULT_FD, frames.encode(kind, payload))


# ---------------------------------------------------------------- setup


def start(plan: Plan, fds: list[int], seccomp: Optional[seccomp_filter.Prepared]) -> NoReturn:
    """Entry point in the freshly forked child; never returns.

    fds: request_r, result_w, stdout_w, stderr_w, then the namespace
    descriptors when plan.join_namespaces.
    """
    try:
        _arrange_fds(fds)
    except BaseException:  # deliberate: nothing to report on yet
        os._exit(SETUP_FAILED_EXIT)
    try:
        _setup(plan, seccomp)
    except BaseException as error:  # deliberate: every failure closes the door
        message = str(error) or type(error).__name__
        try:
            _send(FrameKind.SETUP_FAILED, {"error": f"Sandbox setup failed: {message}"})
        finally:
            os._exit(SETUP_FAILED_EXIT)
    _serve(plan)


def _arrange_fds(fds: list[int]) -> None:
    """0 = /dev/null, 1 and 2 = the capture pipes, 3 = result frames, 4 = request, 5-7 = namespaces."""
    request_r, result_w, stdout_w, stderr_w, *namespaces = fds
    wanted = {1: stdout_w, 2: stderr_w, RESULT_FD: result_w, REQUEST_FD: request_r}
    wanted.update(zip(NAMESPACE_FDS, namespaces))
    # Targets may collide with sources: go through fresh high numbers first.
    high = {target: os.dup(source) for target, source in wanted.items()}
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    for target, source in high.items():
        os.dup2(source, target)
    top = NAMESPACE_FDS[-1] if namespaces else REQUEST_FD
    os.closerange(top + 1, 1 << 16)
    for fd in (RESULT_FD, REQUEST_FD, *NAMESPACE_FDS[:len(namespaces)]):
        os.set_inheritable(fd, False)


def prepare_template() -> None:
    """What every worker needs and can inherit: done once, in the template.

    A fork shares its parent's memory until either writes to it, and on a
    busy host every page a new worker touches costs a copy. So the steps
    that are the same for every worker (the script's environment, signal
    dispositions, forgetting the executor's modules, replacing functions the
    audit hook cannot see) run here, once, and each worker inherits their
    result instead of redoing them.
    """
    for name in _SCRIPT_SIGNALS:
        number = getattr(signal, name)
        # Python ignores SIGPIPE and SIGXFSZ so that writes fail with an
        # exception instead of killing the process; scripts keep that.
        signal.signal(number, signal.SIG_IGN if name in ("SIGPIPE", "SIGXFSZ")
                      else signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.environ.clear()
    os.environ.update(_SCRIPT_ENVIRONMENT)
    for name in [name for name in sys.modules if name == "executor" or name.startswith("executor.")]:
        # Keep user code from stumbling onto the engine through sys.modules.
        del sys.modules[name]
    sys.argv = [SCRIPT_FILENAME]
    sys.path[:] = [path for path in sys.path if path.startswith("/")]
    policy.replace_unaudited_functions()
    _prepare_stdio()


def _setup(plan: Plan, seccomp: Optional[seccomp_filter.Prepared]) -> None:
    """The sandbox, in an order where each step relies only on the ones before it."""
    # Own session and process group: containment and the policy's
    # "same execution" rule recognise the execution by it.
    os.setsid()
    # The template blocks every signal. (_signal's own function: signal's
    # wrapper turns the old mask into enum members, touching dozens of pages.)
    _signal.pthread_sigmask(_signal.SIG_SETMASK, ())
    # The template may have died since it forked this worker.
    if os.getppid() != plan.template_pid:
        raise SetupError("the worker template exited while the worker was starting")
    # The template is not dumpable, so neither is this process yet, and its
    # own /proc files belong to root until it is.
    syscalls.set_dumpable(True)
    if plan.oom_first:
        # Memory pressure in the environment kills an execution's processes
        # before the runtime (which keeps the default score).
        _write_file("/proc/self/oom_score_adj", str(OOM_SCORE_ADJ_MAX))
    # Joining cgroups and namespaces needs root, so both come before the uid switch.
    for procs in plan.cgroup_procs:
        _write_file(procs, str(os.getpid()))
    if plan.join_namespaces:
        for fd, kind in zip(NAMESPACE_FDS, NAMESPACE_KINDS):
            syscalls.setns(fd, kind, "setns")
            os.close(fd)
    os.chdir(plan.workdir)
    if plan.uid is not None:
        _become(plan.uid)
    # The uid switch clears both: the worker's own /proc files stay readable
    # to itself, and it dies with the template that forked it.
    syscalls.set_dumpable(True)
    syscalls.prctl(syscalls.PR_SET_PDEATHSIG, signal.SIGKILL, "prctl(PR_SET_PDEATHSIG)")
    if os.getppid() != plan.template_pid:
        raise SetupError("the worker template exited while the worker was starting")
    _apply_rlimits(plan)
    if plan.seccomp:
        if seccomp is None:
            raise SetupError("the plan asks for seccomp but the template has no filter")
        seccomp.load()
    os.environ["HOME"] = plan.workdir
    os.environ["TMPDIR"] = plan.tmpdir
    os.environ["MPLCONFIGDIR"] = plan.workdir + "/.matplotlib"
    policy.install(plan.workdir, tuple(plan.writable_roots))
    _send(FrameKind.READY, {})


_SCRIPT_SIGNALS = ("SIGCONT", "SIGTERM", "SIGCHLD", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGPIPE",
                   "SIGXFSZ", "SIGXCPU", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGQUIT", "SIGVTALRM",
                   "SIGPROF", "SIGIO", "SIGPWR", "SIGSYS", "SIGTRAP", "SIGURG", "SIGWINCH")
# The whole environment a script sees (HOME, TMPDIR and MPLCONFIGDIR are
# added per worker): nothing of the runtime's.
_SCRIPT_ENVIRONMENT = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "MPLBACKEND": "Agg",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


def reseed() -> None:
    """In the template, right before each fork: every worker gets its own random seeds.

    Otherwise every execution of this environment would draw the same
    "random" numbers, and one script could predict the next one's. Done in
    the template, whose memory no live worker shares at that moment, it
    costs microseconds instead of a hundred copy-on-write faults per worker.
    """
    random.seed()
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        numpy_random.seed(int.from_bytes(os.urandom(4), "big"))


def _write_file(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _become(uid: int) -> None:
    """Switch every uid and gid; from root to another uid that also clears every capability
    (capabilities(7)), which the test suite checks from outside."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (uid, uid, uid):
        raise SetupError(f"switching to uid {uid} did not take effect")
    try:
        os.setuid(0)
    except PermissionError:
        return
    raise SetupError(f"the worker could regain root after switching to uid {uid}")


def _apply_rlimits(plan: Plan) -> None:
    """RLIMIT_AS, not RLIMIT_DATA: measured with numpy and pandas preloaded,
    RLIMIT_DATA lets a shared anonymous mmap of 1 GiB through; RLIMIT_AS stops
    every allocation route with MemoryError/ENOMEM. The worker inherits the
    template's address space, so the limit is what is mapped now plus the
    worker's memory.
    """
    address_space = plan.inherited_vm_bytes + plan.memory_bytes
    settings = (
        (resource.RLIMIT_AS, address_space, "RLIMIT_AS"),
        (resource.RLIMIT_FSIZE, plan.max_file_bytes, "RLIMIT_FSIZE"),
        (resource.RLIMIT_NOFILE, plan.max_open_files, "RLIMIT_NOFILE"),
        (resource.RLIMIT_NPROC, plan.nproc_limit, "RLIMIT_NPROC"),
        (resource.RLIMIT_CORE, 0, "RLIMIT_CORE"),
        (resource.RLIMIT_MEMLOCK, 0, "RLIMIT_MEMLOCK"),
        (resource.RLIMIT_MSGQUEUE, 0, "RLIMIT_MSGQUEUE"),
    )
    for limit, value, name in settings:
        try:
            resource.setrlimit(limit, (value, value))
        except (ValueError, OSError) as error:
            raise SetupError(f"setrlimit({name}, {value}) failed: {error}") from None


def _prepare_stdio() -> None:
    """Build the script's stdin, stdout and stderr once, in the template.

    They wrap descriptors 0, 1 and 2, which each worker points at its own
    pipes before it runs anything; the template never writes to them.
    """
    global _STDIO
    stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8",
                              errors="backslashreplace", line_buffering=False)
    stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                              errors="backslashreplace", write_through=True)
    stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
    _STDIO = (stdin, stdout, stderr)


_STDIO: tuple[Any, Any, Any] = (None, None, None)


def _fresh_stdio() -> tuple[io.TextIOWrapper, io.TextIOWrapper]:
    # The inherited sys.stdout may still buffer the parent's unflushed text;
    # keep the old objects alive (never flushed, os._exit ends the process)
    # and give the script the streams the template built on the pipes.
    _abandoned.extend((sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__))
    stdin, stdout, stderr = _STDIO
    sys.stdout = sys.__stdout__ = stdout
    sys.stderr = sys.__stderr__ = stderr
    sys.stdin = sys.__stdin__ = stdin
    return stdout, stderr


_abandoned: list[Any] = []


# ---------------------------------------------------------------- execution


def _set_cpu_limit(timeout_ms: int) -> None:
    """CPU seconds for this request: a backstop for the wall-clock deadline.

    SIGXCPU at the soft limit (classified Timeout), SIGKILL one second later.
    """
    seconds = -(-timeout_ms // 1000) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 1))


def _serve(plan: Plan) -> NoReturn:
    try:
        header = _read_exact(REQUEST_FD, 4)
        (length,) = struct.unpack(">I", header)
        request = _json_loads(_read_exact(REQUEST_FD, length).decode("utf-8"))
        os.close(REQUEST_FD)
        _set_cpu_limit(int(request["timeoutMs"]))
    except BaseException:  # deliberate: the parent went away or sent garbage
        os._exit(SETUP_FAILED_EXIT)
    stdout, stderr = _fresh_stdio()
    kind, payload = _run(request, plan.result_limit_bytes, stdout, stderr, plan.max_file_bytes,
                         plan.memory_bytes)
    _flush(stdout, stderr)
    try:
        _write_all(RESULT_FD, frames.encode(kind, payload))
    except OSError:
        pass
    os._exit(0)


def _flush(*streams: Any) -> None:
    for stream in streams:
        try:
            stream.flush()
        except BaseException:  # deliberate: the script may have closed fd 1 or 2
            pass


# An exception's message and traceback are the script's to choose; they are
# cut so that a 20 MiB message still leaves room for a readable answer.
MAX_ERROR_CHARS = 4096
MAX_TRACEBACK_CHARS = 65536


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"... [{len(text) - limit} more characters cut]"


def _error(error_type: str, message: str, trace: Optional[str]) -> tuple[FrameKind, bytes]:
    value = {"errorType": error_type, "error": _cut(message, MAX_ERROR_CHARS),
             "traceback": None if trace is None else _cut(trace, MAX_TRACEBACK_CHARS)}
    try:
        payload = encode_result(value, 1 << 20).encode("utf-8", "replace")
    except Exception:  # deliberate: the report itself must never fail
        payload = encode_result({"errorType": error_type, "error": error_type,
                                 "traceback": None}, 1 << 16).encode("utf-8")
    return FrameKind.ERROR, payload


def _describe(error: BaseException) -> str:
    try:
        text = str(error)
    except BaseException:  # deliberate: a hostile __str__
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
    except BaseException:  # deliberate: hostile exception objects
        return _describe(error) + "\n"


_GUARD_NAME = "__executor_calls_main__"


def _compile_script(script: str, module: types.ModuleType) -> types.CodeType:
    """The script's code, where a top-level `if __name__ == "__main__":` runs only without main.

    The executor calls main() itself, with the request's input, and makes
    its return value the result; a guard that calls main() too would run it
    (and its side effects) twice. Such a block runs as it would in a module
    being imported when main is defined by then, and as in a program when
    it is not, so that a script without main still prints under its guard.
    """
    if "__main__" not in script:
        return compile(script, SCRIPT_FILENAME, "exec", dont_inherit=True)
    tree = ast.parse(script, SCRIPT_FILENAME)
    guards = [node for node in tree.body
              if isinstance(node, ast.If) and _is_main_guard(node.test)]
    for node in guards:
        skip = ast.Call(func=ast.Name(id=_GUARD_NAME, ctx=ast.Load()), args=[], keywords=[])
        node.test = ast.copy_location(
            ast.BoolOp(op=ast.And(), values=[node.test, ast.UnaryOp(op=ast.Not(), operand=skip)]),
            node.test)
    if guards:
        namespace = module.__dict__
        namespace[_GUARD_NAME] = lambda: callable(namespace.get("main"))
    return compile(ast.fix_missing_locations(tree), SCRIPT_FILENAME, "exec", dont_inherit=True)


def _is_main_guard(test: ast.expr) -> bool:
    """`__name__ == "__main__"`, written either way round."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1
            and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = (test.left, test.comparators[0])
    return any(isinstance(a, ast.Name) and a.id == "__name__"
               and isinstance(b, ast.Constant) and b.value == "__main__"
               for a, b in (sides, sides[::-1]))


def _refusal_behind(error: BaseException) -> Optional[SandboxPolicyError]:
    """The sandbox's refusal that a library wrapped in its own error, if any.

    urllib turns a refused socket into URLError(reason=...), requests and
    others raise from it: the outcome is the refusal however it surfaced.
    """
    seen: set[int] = set()
    pending: list[Any] = [error]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen or len(seen) > 32:
            continue
        seen.add(id(current))
        if isinstance(current, SandboxPolicyError):
            return current
        pending.extend((current.__cause__, current.__context__, getattr(current, "reason", None)))
    return None


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


def _memory_error(error: BaseException, memory_bytes: int) -> tuple[FrameKind, bytes]:
    """MemoryError and ENOMEM are the same outcome: the worker's memory limit was hit."""
    return _error("MemoryLimit", outcome.memory_limit(memory_bytes // (1024 * 1024)),
                  _user_traceback(error))


def _run(request: dict[str, Any], result_limit_bytes: int, stdout: Any, stderr: Any,
         max_file_bytes: int, memory_bytes: int) -> tuple[FrameKind, bytes]:
    script: str = request["script"]
    linecache.cache[SCRIPT_FILENAME] = (len(script), None, script.splitlines(True),
                                        SCRIPT_FILENAME)
    module = types.ModuleType("__main__")
    try:
        code = _compile_script(script, module)
    except (SyntaxError, ValueError) as error:
        return _error("ScriptError", _describe(error), _user_traceback(error))
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
        return FrameKind.RESULT, encode_result(result, result_limit_bytes).encode("utf-8")
    except EncodingError as error:
        return _error(error.error_type, error.message, None)
    except SystemExit as error:
        code_text = "None" if error.code is None else repr(error.code)
        return _error("ScriptError", outcome.sys_exit(code_text), _user_traceback(error))
    except MemoryError as error:
        return _memory_error(error, memory_bytes)
    except SandboxPolicyError as error:
        return _error("PolicyViolation", str(error), _user_traceback(error))
    except OSError as error:
        refusal = _refusal_behind(error)
        if refusal is not None:
            return _error("PolicyViolation", str(refusal), _user_traceback(error))
        if error.errno == errno.EFBIG:
            return _error("OutputLimit", outcome.file_too_large(max_file_bytes),
                          _user_traceback(error))
        if error.errno == errno.ENOMEM:
            return _memory_error(error, memory_bytes)
        return _error("ScriptError", _describe(error), _user_traceback(error))
    except BaseException as error:  # deliberate: every script failure is an outcome
        refusal = _refusal_behind(error)
        if refusal is not None:
            return _error("PolicyViolation", str(refusal), _user_traceback(error))
        return _error("ScriptError", _describe(error), _user_traceback(error))
