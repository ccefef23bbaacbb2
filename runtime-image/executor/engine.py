"""The parent: one parked worker at a time, and everything around an execution.

The parent never runs user code. It imports the preloads once, probes the
isolation layers, keeps one pre-forked worker parked with its sandbox already
applied, and per request only writes the request to the worker's pipe and
reads back stdout, stderr and the result frame under a wall-clock deadline.
Killing the used worker, sweeping survivors, wiping files and ordering the next
worker from the template (template.py) happen in recycle(), which the runtime
loop calls after the response has been posted, off the caller's latency.
"""

from __future__ import annotations

import gc
import importlib
import json
import mimetypes
import os
import re
import select
import selectors
import shutil
import signal
import stat
import struct
import sys
import tempfile
import threading
import time
from typing import Any, Optional

from . import artifacts, sandbox, worker
from .contract import ContractError, empty_response, error_response, validate_request
from .health import build_report
from .limits import Limits
from .template import Template, TemplateError

REDACTED = "[REDACTED]"
# Time kept back from the Lambda deadline for killing the worker, collecting
# artifacts and posting the response before Lambda kills the environment.
RESPONSE_MARGIN_MS = 1000
READ_CHUNK_BYTES = 65536
# A result frame is the encoded result plus a little framing; anything bigger
# was not written by the worker's own code.
FRAME_SLACK_BYTES = 1 << 16
NOBODY_UID = 65534
# Generous: a healthy worker is ready in well under a second even on a
# loaded two-core machine; this only bounds a wedged one.
WORKER_SETUP_TIMEOUT_S = 30
# How long recycle() keeps killing and reaping leftovers before it gives up
# until the next recycle (only a process stuck in the kernel takes this long).
SWEEP_TIMEOUT_S = 30
# Lambda responses are limited to 6 MB; inline artifacts share it with the
# result and the captured output.
LAMBDA_INLINE_ARTIFACT_BYTES = 3 * 1024 * 1024

_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"          # CSI: colours, cursor movement
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: titles, hyperlinks
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"     # DCS, SOS, PM, APC strings
    r"|\x1b[@-Z\\-_]"                   # other two-byte escapes
    r"|\x9b[0-?]*[ -/]*[@-~]"           # 8-bit CSI
)

# Every live worker and worker template of every engine in this process.
# Sweeps never touch these (two engines can share a process in tests and in
# the exploit corpus).
_live_workers: set[int] = set()
_live_lock = threading.Lock()
_environment_block_wiped = False

WORKER_ERROR_TYPES = frozenset((
    "ScriptError", "MemoryLimit", "OutputLimit", "ResultNotSerializable",
    "ResultTooLarge", "PolicyViolation", "Timeout",
))


class EngineError(Exception):
    """The engine itself could not do its job (never a script's fault)."""


class _Capture:
    """One output stream: keeps the first max_bytes, counts everything."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.chunks: list[bytes] = []
        self.kept = 0
        self.total = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = self.max_bytes - self.kept
        if room > 0:
            piece = data[:room]
            self.chunks.append(piece)
            self.kept += len(piece)

    @property
    def truncated(self) -> bool:
        return self.total > self.max_bytes

    def text(self) -> str:
        decoded = b"".join(self.chunks).decode("utf-8", "replace")
        return _ANSI.sub("", decoded)


class _Worker:
    def __init__(self, pid: int, workdir: str, request_fd: int, result_fd: int,
                 stdout_fd: int, stderr_fd: int,
                 tmp_snapshot: Optional[dict[str, set[str]]]) -> None:
        self.pid = pid
        self.workdir = workdir
        self.request_fd = request_fd
        self.result_fd = result_fd
        self.stdout_fd = stdout_fd
        self.stderr_fd = stderr_fd
        self.tmp_snapshot = tmp_snapshot
        self.pidfd: Optional[int] = None
        self.status: Optional[int] = None
        self.used = False
        self.ready = False
        self.setup_error: Optional[str] = None
        self.buffered = bytearray()
        try:
            self.pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            self.pidfd = None

    def fds(self) -> list[int]:
        return [fd for fd in (self.request_fd, self.result_fd, self.stdout_fd, self.stderr_fd,
                              self.pidfd) if fd is not None and fd >= 0]

    def close_fds(self) -> None:
        for fd in self.fds():
            try:
                os.close(fd)
            except OSError:
                pass
        self.request_fd = self.result_fd = self.stdout_fd = self.stderr_fd = -1
        self.pidfd = None

    def poll(self, block: bool) -> Optional[int]:
        if self.status is None:
            try:
                pid, status = os.waitpid(self.pid, 0 if block else os.WNOHANG)
            except ChildProcessError:
                return None
            if pid == self.pid:
                self.status = status
        return self.status


class Engine:
    def __init__(self, limits: Limits) -> None:
        started = time.perf_counter()
        self.limits = limits
        self.pid = os.getpid()
        self.closed = False
        self._lock = threading.Lock()
        self._counter = 0
        self._worker: Optional[_Worker] = None
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            # One BLAS thread: threads count against RLIMIT_NPROC, and a forked
            # worker would not inherit a thread pool anyway.
            os.environ.setdefault(name, "1")
        self.perturbing = sandbox.perturb_freed_memory()
        self.secrets = sandbox.take_secrets()
        # Encoded once: every transient copy would stay readable in freed
        # memory that later workers inherit.
        self.secret_bytes = [secret.encode("utf-8", "surrogateescape") for secret in self.secrets]
        self.redacted_bytes = REDACTED.encode()
        global _environment_block_wiped
        if not _environment_block_wiped:
            _environment_block_wiped = sandbox.wipe_initial_environment_block()
        self.in_lambda = _running_in_lambda()
        self.root_mode = os.geteuid() == 0
        if self.root_mode:
            configured = limits.sandbox_uid
            self.sandbox_uid: Optional[int] = configured if configured else NOBODY_UID
            self.dedicated_uid = bool(configured)
        else:
            self.sandbox_uid = None
            self.dedicated_uid = self.in_lambda
        self.worker_uid = self.sandbox_uid if self.sandbox_uid is not None else os.getuid()
        self.tmp_dir = "/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir()
        self._remove_stale_state_dirs()
        self.state_root = tempfile.mkdtemp(prefix=f"executor-{self.pid}-", dir=self.tmp_dir)
        os.chmod(self.state_root, 0o711)
        self.preloads = self._import_preloads()
        mimetypes.init()
        self.layers: dict[str, sandbox.Layer] = {}
        self._template: Optional[Template] = None
        self._probe_layers()
        self._wipe_tmp(initial=True)
        self._start_template()
        self._spawn_worker()
        self.init_ms = round((time.perf_counter() - started) * 1000)

    # ------------------------------------------------------------ init

    def _remove_stale_state_dirs(self) -> None:
        """State folders of executors that died without cleaning up (Lambda keeps /tmp)."""
        pattern = re.compile(r"executor-(\d+)-")
        try:
            names = os.listdir(self.tmp_dir)
        except OSError:
            return
        for name in names:
            match = pattern.match(name)
            if not match or _pid_alive(int(match.group(1))):
                continue
            path = os.path.join(self.tmp_dir, name)
            try:
                if os.lstat(path).st_uid == os.geteuid():
                    _remove_tree(path)
            except OSError:
                continue

    def _import_preloads(self) -> dict[str, dict[str, Any]]:
        report: dict[str, dict[str, Any]] = {}
        for name in self.limits.preloads:
            try:
                if name == "matplotlib":
                    self._prepare_matplotlib_cache()
                    module = importlib.import_module("matplotlib")
                    module.use("Agg")
                    # pyplot is what scripts import; loading it here builds the
                    # font list once instead of in every execution.
                    importlib.import_module("matplotlib.pyplot")
                else:
                    module = importlib.import_module(name)
                report[name] = {"loaded": True, "version": str(getattr(module, "__version__", ""))}
            except Exception as error:  # noqa: BLE001 - a missing preload is reported, not fatal
                report[name] = {"loaded": False, "error": str(error) or type(error).__name__}
        # The audit policy refuses ctypes.dlopen in workers, and importing
        # ctypes opens the main program; have it loaded already.
        importlib.import_module("ctypes")
        importlib.import_module("inspect")
        return report

    def _prepare_matplotlib_cache(self) -> None:
        """Give matplotlib a writable config dir seeded from the image's prebuilt cache."""
        target = os.path.join(self.state_root, "matplotlib")
        os.makedirs(target, exist_ok=True)
        source = os.environ.get("MPLCONFIGDIR")
        if source and os.path.isdir(source) and source != target:
            for name in os.listdir(source):
                path = os.path.join(source, name)
                if os.path.isfile(path) and not os.path.islink(path):
                    shutil.copy2(path, os.path.join(target, name))
        os.environ["MPLCONFIGDIR"] = target
        os.environ.setdefault("MPLBACKEND", "Agg")

    def _probe_layers(self) -> None:
        layers = self.layers
        try:
            sandbox.become_subreaper()
            self.subreaper = True
            reaper = "the runtime is a child subreaper, so daemonised descendants stay findable"
        except sandbox.SandboxError as error:
            self.subreaper = False
            reaper = f"no child subreaper ({error})"
        if sandbox.allocator_hardened():
            memory = ("freed runtime memory is overwritten before workers inherit it "
                      "(PYTHONMALLOC=malloc, glibc perturb, no tcache)")
        elif self.perturbing:
            memory = ("freed runtime memory is only partly overwritten: start the runtime with "
                      "python3 -m executor (or PYTHONMALLOC=malloc and GLIBC_TUNABLES="
                      f"{sandbox.HARDENED_ALLOCATOR_ENV['GLIBC_TUNABLES']}) for all of it")
        else:
            memory = "freed runtime memory is not overwritten (no glibc malloc here)"
        self._worker_process_detail = (
            "each execution runs in a fresh pre-forked process with its own session and "
            f"process group; {reaper}; {memory}")
        layers["worker_process"] = sandbox.Layer(True, self._worker_process_detail)
        if self.sandbox_uid is not None:
            kind = ("dedicated to this runtime" if self.dedicated_uid else
                    "nobody, shared: set EXECUTOR_SANDBOX_UID for a dedicated uid")
            layers["unprivileged_uid"] = sandbox.Layer(
                True, f"workers run as uid {self.sandbox_uid} ({kind}); the runtime is root")
        else:
            layers["unprivileged_uid"] = sandbox.Layer(
                False, f"workers share uid {os.getuid()} with the runtime, which is not root "
                "and cannot switch users")
        probe_dir = os.path.join(self.state_root, "probe")
        os.makedirs(probe_dir, mode=0o700)
        if self.sandbox_uid is not None:
            os.chown(probe_dir, self.sandbox_uid, self.sandbox_uid)
        worked, detail = sandbox.probe_namespaces(probe_dir, self.sandbox_uid)
        self.use_namespaces = worked
        layers["namespaces"] = sandbox.Layer(worked, detail)
        layers["rlimits"] = sandbox.Layer(
            True, f"address space +{self.limits.worker_memory_mib} MiB (RLIMIT_AS), CPU from "
            f"the timeout, files {self.limits.max_file_bytes} bytes, "
            f"{self.limits.max_open_files} open files, {self.limits.max_processes} processes, "
            "no core dumps")
        try:
            sandbox.set_dumpable(False)
            if self.sandbox_uid is None:
                worked, detail = sandbox.probe_dumpable_protection(self.pid)
            else:
                worked, detail = True, ("PR_SET_DUMPABLE 0; workers also run as another uid, so "
                                        "/proc/<runtime>/environ and mem are closed to them")
        except sandbox.SandboxError as error:
            worked, detail = False, str(error)
        layers["non_dumpable_parent"] = sandbox.Layer(worked, detail)
        self.seccomp_program: Optional[bytes] = None
        try:
            program = sandbox.compile_seccomp(self.pid)
        except ImportError:
            worked, detail = False, ("the libseccomp Python bindings (module 'seccomp', Debian "
                                     "python3-seccomp) are not installed")
        except Exception as error:  # noqa: BLE001 - any failure means the layer is off
            worked, detail = False, f"compiling the filter failed: {error}"
        else:
            worked, detail = sandbox.probe_seccomp(program)
            if worked:
                self.seccomp_program = program
        self.use_seccomp = worked
        layers["seccomp"] = sandbox.Layer(worked, detail)
        layers["audit_hook"] = sandbox.Layer(
            True, "PEP 578 hook refuses sockets, subprocesses, ctypes library loading, "
            "/proc of other processes and signals to the runtime; defence in depth only, "
            "it can be bypassed from native code")
        layers["scrubbed_environment"] = sandbox.Layer(
            True, "workers get a fresh environment (no AWS_*, no runtime API address); the "
            "runtime drops AWS credentials and zeroes its exec-time environment block")
        if self.use_namespaces:
            tmp_detail = "private /tmp per execution"
        elif self.in_lambda:
            tmp_detail = "/tmp wiped at init and after every execution"
        elif self.dedicated_uid:
            tmp_detail = f"/tmp entries of uid {self.worker_uid} removed after every execution"
        else:
            tmp_detail = ("/tmp entries this uid created during an execution are removed "
                          "after it")
        layers["fresh_workdir"] = sandbox.Layer(
            True, f"a new working directory with outputs/ per execution; {tmp_detail}")
        layers["redaction"] = sandbox.Layer(
            True, f"{len(self.secrets)} secret value(s) of the runtime replaced by "
            f"{REDACTED} in every output; defence in depth only")
        network = []
        if self.use_namespaces:
            network.append("empty network namespace")
        if self.use_seccomp:
            network.append("seccomp denies network sockets")
        layers["network_isolation"] = sandbox.Layer(
            bool(network), "; ".join(network) if network else
            "not enforced inside this host: only the audit hook refuses sockets (in AWS the "
            "VPC has no route out)")

    # ------------------------------------------------------------ workers

    def _nproc_limit(self) -> int:
        """RLIMIT_NPROC counts every process and thread of the uid: add to what exists."""
        return _count_tasks_of_uid(self.worker_uid) + self.limits.max_processes

    def _plan(self, workdir: str) -> sandbox.Plan:
        return sandbox.Plan(
            workdir=workdir,
            sandbox_uid=self.sandbox_uid,
            namespaces=self.use_namespaces,
            seccomp_program=self.seccomp_program,
            memory_bytes=self.limits.worker_memory_mib * 1024 * 1024,
            max_file_bytes=self.limits.max_file_bytes,
            max_open_files=self.limits.max_open_files,
            nproc_limit=self._nproc_limit(),
            parent_pid=self.pid,
            secrets=list(self.secrets),
            secret_bytes=list(self.secret_bytes),
        )

    def _start_template(self) -> None:
        """Fork the worker template (template.py) while this process has seen no request.

        It needs the runtime to be a child subreaper: that is what makes each
        template the runtime's child by the time it becomes a worker.
        """
        if not self.subreaper:
            self._note_template("workers are forked from the runtime itself (no template "
                                "without a child subreaper)")
            return
        self._flush_std_streams()
        with _live_lock:
            self._template = Template.start(self.secrets, self.secret_bytes)
            _live_workers.add(self._template.pid)
        self._note_template("workers are forked from a template process made at init, which "
                            "never holds a request, an output or a secret")

    def _stop_template(self) -> None:
        template, self._template = self._template, None
        if template is not None:
            template.stop()
            with _live_lock:
                _live_workers.discard(template.pid)

    def _retire_template(self, reason: str) -> None:
        """Stop using a template that failed; workers are forked from the runtime from now on.

        A new template forked now would carry this process's memory, requests
        included, into every later worker; a fresh fork per worker at least
        leaves freed memory to the allocator settings.
        """
        self._stop_template()
        sys.stderr.write(f"executor: {reason}; workers are forked from the runtime from now on\n")
        self._note_template(f"the worker template was lost ({reason}), so workers are forked "
                            "from the runtime itself from now on")

    def _note_template(self, note: str) -> None:
        self.layers["worker_process"] = sandbox.Layer(
            True, f"{self._worker_process_detail}; {note}")

    @staticmethod
    def _flush_std_streams() -> None:
        # A child would otherwise inherit (and could later write) buffered text.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):
                pass

    def _spawn_worker(self) -> None:
        self._counter += 1
        workdir = os.path.join(self.state_root, f"w{self._counter}")
        os.makedirs(os.path.join(workdir, "outputs"), mode=0o700)
        os.mkdir(os.path.join(workdir, "tmp"), 0o700)
        if self.sandbox_uid is not None:
            for path in (workdir, os.path.join(workdir, "outputs"), os.path.join(workdir, "tmp")):
                os.chown(path, self.sandbox_uid, self.sandbox_uid)
            os.chmod(workdir, 0o700)
        plan = self._plan(workdir)
        snapshot = None if (self.use_namespaces or self.in_lambda or self.dedicated_uid) \
            else {path: set(_list_dir(path)) for path in self._scratch_dirs()}
        request_r, request_w = os.pipe()
        result_r, result_w = os.pipe()
        stdout_r, stdout_w = os.pipe()
        stderr_r, stderr_w = os.pipe()
        pid = None
        if self._template is not None:
            pid = self._order_worker(plan, request_r, result_w, stdout_w, stderr_w)
        if pid is None:
            pid = self._fork_worker(plan, request_r, result_w, stdout_w, stderr_w)
        for fd in (request_r, result_w, stdout_w, stderr_w):
            os.close(fd)
        for fd in (request_w, result_r, stdout_r, stderr_r):
            os.set_blocking(fd, False)
        self._worker = _Worker(pid, workdir, request_w, result_r, stdout_r, stderr_r, snapshot)
        self._await_ready(self._worker)

    def _order_worker(self, plan: sandbox.Plan, request_r: int, result_w: int, stdout_w: int,
                      stderr_w: int) -> Optional[int]:
        """The template becomes the worker; None if it failed (and is retired)."""
        assert self._template is not None
        try:
            with _live_lock:
                pid, successor = self._template.spawn(plan, self.limits.max_result_bytes,
                                                      request_r, result_w, stdout_w, stderr_w)
                _live_workers.add(successor)
        except TemplateError as error:
            self._retire_template(str(error))
            return None
        return pid

    def _fork_worker(self, plan: sandbox.Plan, request_r: int, result_w: int, stdout_w: int,
                     stderr_w: int) -> int:
        """Fork a worker from this process: only without a template (see template.py)."""
        self._flush_std_streams()
        # Objects that exist now are never garbage in the worker; frozen, the
        # worker's collector skips them instead of touching (and copying)
        # every page of the parent's heap.
        gc.freeze()
        with _live_lock:
            pid = os.fork()
            if pid == 0:
                try:
                    worker.start(plan, stdout_w, stderr_w, result_w, request_r,
                                 self.limits.max_result_bytes)
                finally:
                    os._exit(worker.SETUP_FAILED_EXIT)
            _live_workers.add(pid)
        gc.unfreeze()
        return pid

    def _await_ready(self, current: _Worker) -> None:
        """Block until the new worker reports its sandbox ready (or failed).

        Setup takes tens of milliseconds (mostly fork's page-table copies),
        spent here, after the previous response was posted. Waiting makes
        recycle() a clean cut: when it returns, the parked worker's whole
        process tree exists with its final uid, and a setup failure is known
        before a request is handed over.
        """
        deadline = time.monotonic() + WORKER_SETUP_TIMEOUT_S
        while True:
            frame = _take_frame(current.buffered)
            if frame is not None:
                kind, payload = frame
                if kind == b"Y":
                    current.ready = True
                else:
                    current.setup_error = (_frame_field(payload, "error") if kind == b"F" else None) \
                        or "The worker's sandbox could not be set up."
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                current.setup_error = (f"The worker's sandbox was not ready after "
                                       f"{WORKER_SETUP_TIMEOUT_S} seconds.")
                return
            readable, _, _ = select.select([current.result_fd], [], [], remaining)
            if not readable:
                continue
            chunk = _read_some(current.result_fd)
            if chunk is None:
                continue
            if chunk == b"":
                current.setup_error = ("The worker process ended before its sandbox was ready; "
                                       "the execution was not attempted.")
                return
            current.buffered.extend(chunk)

    # ------------------------------------------------------------ public API

    def health(self) -> dict[str, Any]:
        return build_report(self.preloads, self.layers, self.limits, self.init_ms)

    def execute(self, event: Any, request_id: str, deadline_ms: Optional[int] = None) -> dict[str, Any]:
        """Run one request; returns the full response. Never raises for user faults."""
        with self._lock:
            return self._execute(event, request_id, deadline_ms)

    def recycle(self) -> None:
        with self._lock:
            self._recycle(spawn=True)

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
            self._recycle(spawn=False)
            self._stop_template()
            _remove_tree(self.state_root)

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ execution

    def _execute(self, event: Any, request_id: str, deadline_ms: Optional[int]) -> dict[str, Any]:
        if self.closed:
            raise EngineError("The engine is closed; create a new Engine to run scripts.")
        if isinstance(event, dict) and event.get("action") == "health" and len(event) == 1:
            return {"ok": True, "health": self.health()}
        upload_spec = None
        if isinstance(event, dict):
            event = dict(event)
            upload_spec = event.pop("artifactUpload", None)
            invoker_id = event.pop("requestId", None)
            if isinstance(invoker_id, str) and invoker_id.strip():
                request_id = invoker_id
        try:
            request = validate_request(event, self.limits)
        except ContractError as error:
            return error_response(request_id, error.error_type, error.message)
        if upload_spec is not None:
            problem = artifacts.check_upload_spec(upload_spec)
            if problem:
                return error_response(
                    request_id, "InternalError",
                    f"The invoker sent a malformed artifact upload policy: {problem}.")
        if self._worker is None or self._worker.used:
            self._recycle(spawn=True)
        current = self._worker
        assert current is not None
        current.used = True
        if current.setup_error is not None:
            return error_response(request_id, "InternalError", current.setup_error)
        timeout_ms = request.timeout_ms
        if deadline_ms is not None:
            remaining = int(deadline_ms - time.time() * 1000) - RESPONSE_MARGIN_MS
            timeout_ms = max(0, min(timeout_ms, remaining))
        payload = json.dumps({
            "script": request.script,
            "hasInput": request.has_input,
            "input": request.input,
            "timeoutMs": timeout_ms,
        }, ensure_ascii=True, separators=(",", ":")).encode("ascii")
        response = empty_response(request_id)
        outcome = self._run(current, struct.pack(">I", len(payload)) + payload, timeout_ms)
        kind, detail, duration_ms, stdout, stderr = outcome
        response["durationMs"] = round(duration_ms)
        response["stdout"] = self._redact(stdout.text())
        response["stderr"] = self._redact(stderr.text())
        response["truncated"] = {"stdout": stdout.truncated, "stderr": stderr.truncated}
        if kind == "ok":
            try:
                response["result"] = json.loads(self._redact(detail["result"]))
                response["ok"] = True
            except (ValueError, RecursionError):
                response["errorType"] = "ScriptError"
                response["error"] = ("The script wrote into the executor's result channel; its "
                                     "result could not be read.")
        else:
            response["errorType"] = detail["errorType"]
            response["error"] = self._redact(detail["error"])
            trace = detail.get("traceback")
            response["traceback"] = self._redact(trace) if isinstance(trace, str) else None
        if kind != "internal":
            self._deliver_artifacts(current, response, upload_spec, deadline_ms)
        return response

    def _deliver_artifacts(self, current: _Worker, response: dict[str, Any],
                           upload_spec: Optional[dict[str, Any]], deadline_ms: Optional[int]) -> None:
        found, problem = artifacts.collect(os.path.join(current.workdir, "outputs"),
                                           self.limits.max_artifacts,
                                           self.limits.max_artifact_bytes)
        for item in found:
            item.name = self._redact(item.name)
            for secret in self.secret_bytes:
                if secret in item.data:
                    item.data = item.data.replace(secret, self.redacted_bytes)
        if upload_spec is None and self.in_lambda:
            total = 0
            kept = []
            for item in found:
                total += item.size
                if total > LAMBDA_INLINE_ARTIFACT_BYTES:
                    problem = problem or (
                        f"Artifacts over {LAMBDA_INLINE_ARTIFACT_BYTES} bytes in total cannot be "
                        "returned inline by a direct invoke; call through the API to receive "
                        "download links.")
                    break
                kept.append(item)
            found = kept
        if problem and response["ok"]:
            response["ok"] = False
            response["result"] = None
            response["errorType"] = "OutputLimit"
            response["error"] = problem
        if upload_spec is None:
            response["artifacts"] = [artifacts.inline(item) for item in found]
            return
        entries = []
        for item in found:
            remaining_s = 10.0
            if deadline_ms is not None:
                remaining_s = max(1.0, (deadline_ms - time.time() * 1000 - 300) / 1000)
            try:
                entries.append(artifacts.upload(item, upload_spec, min(10.0, remaining_s)))
            except artifacts.ArtifactError as error:
                response.update(ok=False, result=None, errorType="InternalError",
                                error=str(error), traceback=None)
                break
        response["artifacts"] = entries

    def _run(self, current: _Worker, message: bytes, timeout_ms: int
             ) -> tuple[str, dict[str, Any], float, _Capture, _Capture]:
        stdout = _Capture(self.limits.max_stdout_bytes)
        stderr = _Capture(self.limits.max_stderr_bytes)
        started = time.monotonic()
        deadline = started + timeout_ms / 1000
        selector = selectors.DefaultSelector()
        frames = current.buffered
        frame_limit = self.limits.max_result_bytes + FRAME_SLACK_BYTES
        ready = current.ready
        result: Optional[tuple[bytes, bytes]] = None
        exited = False
        timed_out = False
        corrupt = False
        # A parked worker that is already gone never saw the request.
        lost = current.poll(block=False) is not None
        ran_from = started
        pending = memoryview(message)
        try:
            selector.register(current.request_fd, selectors.EVENT_WRITE, "request")
            selector.register(current.result_fd, selectors.EVENT_READ, "result")
            selector.register(current.stdout_fd, selectors.EVENT_READ, stdout)
            selector.register(current.stderr_fd, selectors.EVENT_READ, stderr)
            if current.pidfd is not None:
                selector.register(current.pidfd, selectors.EVENT_READ, "exit")
            while not lost:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    timed_out = True
                    break
                wait = remaining if current.pidfd is not None else min(remaining, 0.005)
                for key, _ in selector.select(wait):
                    tag = key.data
                    if tag == "request":
                        try:
                            written = os.write(current.request_fd, pending[:READ_CHUNK_BYTES])
                            pending = pending[written:]
                        except BlockingIOError:
                            continue
                        except OSError:
                            # EPIPE: the worker died while parked, before it
                            # read the request; nothing of the script ran.
                            lost = True
                            break
                        if not pending:
                            selector.unregister(current.request_fd)
                            os.close(current.request_fd)
                            current.request_fd = -1
                    elif tag == "result":
                        if not self._read_into(current.result_fd, frames, selector):
                            continue
                        if len(frames) > frame_limit:
                            corrupt = True
                    elif tag == "exit":
                        exited = True
                    else:
                        chunk = _read_some(key.fd)
                        if chunk is None:
                            continue
                        if chunk == b"":
                            selector.unregister(key.fd)
                        else:
                            tag.add(chunk)
                if not ready:
                    parsed = _take_frame(frames)
                    if parsed is not None:
                        if parsed[0] != b"Y":
                            result = parsed
                            break
                        ready = True
                        ran_from = time.monotonic()
                if ready and result is None:
                    result = _take_frame(frames)
                    if result is not None:
                        break
                if corrupt or lost:
                    break
                if current.pidfd is None and current.poll(block=False) is not None:
                    exited = True
                if exited:
                    break
            finished = time.monotonic()
            # Whatever the worker wrote before its result or its death is in
            # the pipes now; take it without waiting for EOF, which
            # background processes could hold off forever.
            for fd, capture in ((current.stdout_fd, stdout), (current.stderr_fd, stderr)):
                _drain(fd, capture.add)
            if result is None and not timed_out and not corrupt:
                _drain(current.result_fd, frames.extend)
                if not ready:
                    parsed = _take_frame(frames)
                    if parsed is not None and parsed[0] == b"Y":
                        ready = True
                        parsed = _take_frame(frames)
                    result = parsed
                else:
                    result = _take_frame(frames)
        finally:
            selector.close()
            _kill_group(current.pid)
        duration_ms = (finished - ran_from) * 1000
        if lost:
            return ("internal", {"errorType": "InternalError",
                                 "error": "The worker process died before it received the "
                                          "request; the script did not run. Retry the request."},
                    duration_ms, stdout, stderr)
        if timed_out:
            return ("error", {"errorType": "Timeout",
                              "error": f"Script exceeded the time limit of {timeout_ms} ms"},
                    duration_ms, stdout, stderr)
        if corrupt:
            return ("error", {"errorType": "ScriptError",
                              "error": "The script wrote into the executor's result channel; "
                                       "its result could not be read."},
                    duration_ms, stdout, stderr)
        if result is not None:
            kind, payload = result
            if kind == b"R":
                return "ok", {"result": payload.decode("utf-8", "replace")}, duration_ms, stdout, stderr
            if kind == b"F":
                return ("internal", {"errorType": "InternalError",
                                     "error": _frame_field(payload, "error")
                                     or "The worker's sandbox could not be set up."},
                        duration_ms, stdout, stderr)
            if kind == b"E":
                detail = _parse_error_frame(payload)
                if detail is not None:
                    return "error", detail, duration_ms, stdout, stderr
            return ("error", {"errorType": "ScriptError",
                              "error": "The script wrote into the executor's result channel; "
                                       "its result could not be read."},
                    duration_ms, stdout, stderr)
        return self._classify_exit(current, ready, timeout_ms, duration_ms, stdout, stderr)

    def _classify_exit(self, current: _Worker, ready: bool, timeout_ms: int, duration_ms: float,
                       stdout: _Capture, stderr: _Capture
                       ) -> tuple[str, dict[str, Any], float, _Capture, _Capture]:
        status = current.poll(block=True)
        if not ready:
            return ("internal", {"errorType": "InternalError",
                                 "error": "The worker process ended before its sandbox was ready; "
                                          "the execution was not attempted."},
                    duration_ms, stdout, stderr)
        if status is None:
            message = "The script's worker process disappeared before returning a result."
            return "error", {"errorType": "ScriptError", "error": message}, duration_ms, stdout, stderr
        if os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            if number == signal.SIGXCPU:
                return ("error", {"errorType": "Timeout",
                                  "error": f"Script exceeded the time limit of {timeout_ms} ms "
                                           "(it used up its CPU time)"},
                        duration_ms, stdout, stderr)
            if number == signal.SIGXFSZ:
                return ("error", {"errorType": "OutputLimit",
                                  "error": "The script tried to write a file larger than the "
                                           f"limit of {self.limits.max_file_bytes} bytes."},
                        duration_ms, stdout, stderr)
            try:
                name = signal.Signals(number).name
            except ValueError:
                name = f"signal {number}"
            description = signal.strsignal(number) or name
            return ("error", {"errorType": "ScriptError",
                              "error": f"The script's process was killed by {name} "
                                       f"({description}) before it returned a result."},
                    duration_ms, stdout, stderr)
        code = os.waitstatus_to_exitcode(status)
        return ("error", {"errorType": "ScriptError",
                          "error": f"The script ended its process with exit status {code} "
                                   "(os._exit or a crash) before it returned a result."},
                duration_ms, stdout, stderr)

    @staticmethod
    def _read_into(fd: int, frames: bytearray, selector: selectors.BaseSelector) -> bool:
        chunk = _read_some(fd)
        if chunk is None:
            return False
        if chunk == b"":
            selector.unregister(fd)
            return False
        frames.extend(chunk)
        return True

    def _redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    # ------------------------------------------------------------ recycling

    def _recycle(self, spawn: bool) -> None:
        current = self._worker
        self._worker = None
        if current is not None:
            _kill_group(current.pid)
            try:
                os.kill(current.pid, signal.SIGKILL)
            except OSError:
                pass
            current.poll(block=True)
            current.close_fds()
            # The frames held the last result; freed (and so overwritten)
            # before the next worker is forked from this memory.
            current.buffered = bytearray()
            with _live_lock:
                _live_workers.discard(current.pid)
        self._sweep()
        if current is not None:
            _remove_tree(current.workdir)
            self._wipe_tmp(initial=False, snapshot=current.tmp_snapshot)
        current = None
        if spawn:
            self._spawn_worker()

    def _sweep(self) -> None:
        """Kill every process an execution left behind, until none is left.

        A killed process can take a while to disappear (tearing down a large
        address space or a whole pid namespace on a loaded host), so this
        waits for its own children to be reaped instead of counting rounds.
        """
        deadline = time.monotonic() + SWEEP_TIMEOUT_S
        while True:
            victims, zombies = self._survivors()
            for pid in zombies:
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
            if not victims and not zombies:
                return
            for pid in victims:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            waited = False
            for pid, ppid in victims.items():
                if ppid == self.pid:
                    try:
                        os.waitpid(pid, 0)
                        waited = True
                    except ChildProcessError:
                        pass
            if time.monotonic() > deadline:
                sys.stderr.write(f"executor: processes {sorted(victims)} survived SIGKILL for "
                                 f"{SWEEP_TIMEOUT_S} s; they will be retried at the next recycle\n")
                return
            if not waited:
                time.sleep(0.005)

    def _survivors(self) -> tuple[dict[int, int], set[int]]:
        table = _process_table(with_uid=self.dedicated_uid)
        with _live_lock:
            protected = set(_live_workers)
        own_sid = os.getsid(0)
        children: dict[int, list[int]] = {}
        for pid, info in table.items():
            children.setdefault(info["ppid"], []).append(pid)
        # A live worker's own tree (its pid namespace's reaper and runner) is
        # as untouchable as the worker.
        stack = list(protected)
        while stack:
            for child in children.get(stack.pop(), ()):
                if child not in protected:
                    protected.add(child)
                    stack.append(child)
        roots = set()
        zombies = set()
        for pid, info in table.items():
            if pid in protected or pid == self.pid:
                continue
            if info["ppid"] == self.pid:
                if info["state"] == "Z":
                    zombies.add(pid)
                elif info["sid"] != own_sid:
                    # Our own children outside a worker session belong to the
                    # host program (tests, tools), never to an execution.
                    roots.add(pid)
            elif self.dedicated_uid and info.get("uid") == self.worker_uid:
                roots.add(pid)
        if self.dedicated_uid:
            roots -= _ancestors(self.pid, table)
            roots.discard(1)
        victims: dict[int, int] = {}
        stack = list(roots)
        while stack:
            pid = stack.pop()
            if pid in victims or pid in protected or pid == self.pid:
                continue
            info = table.get(pid)
            if info is not None and info["state"] != "Z":
                victims[pid] = info["ppid"]
            stack.extend(children.get(pid, ()))
        return victims, zombies

    def _scratch_dirs(self) -> list[str]:
        """World-writable places an execution can leave files in besides its own directory."""
        return [path for path in (self.tmp_dir, "/dev/shm", "/var/tmp") if os.path.isdir(path)]

    def _wipe_tmp(self, initial: bool, snapshot: Optional[dict[str, set[str]]] = None) -> None:
        """Remove what executions left in /tmp, touching nothing that is not theirs."""
        if self.use_namespaces and not initial and not self.in_lambda:
            return  # the worker's /tmp was a private tmpfs, gone with its namespace
        for directory in self._scratch_dirs():
            self._wipe_dir(directory, initial, None if snapshot is None else snapshot.get(directory))

    def _wipe_dir(self, directory: str, initial: bool, snapshot: Optional[set[str]]) -> None:
        keep = os.path.basename(self.state_root) if directory == self.tmp_dir else None
        for name in _list_dir(directory):
            if name == keep:
                continue
            path = os.path.join(directory, name)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if self.in_lambda:
                remove = directory == self.tmp_dir or info.st_uid == self.worker_uid
            elif self.dedicated_uid:
                remove = info.st_uid == self.worker_uid
            else:
                remove = (not initial and snapshot is not None and name not in snapshot
                          and info.st_uid == os.geteuid()
                          and not name.startswith("executor-"))
            if remove:
                _remove_tree(path)


# ---------------------------------------------------------------- helpers


def _running_in_lambda() -> bool:
    """True only inside a real Lambda execution environment (or its container image).

    The base image sets LAMBDA_TASK_ROOT=/var/task and ships /var/runtime; a
    laptop running the local server has neither, so whole-/tmp wipes and
    whole-uid sweeps never happen there.
    """
    return (
        bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))
        and os.environ.get("LAMBDA_TASK_ROOT") == "/var/task"
        and os.path.isdir("/var/runtime")
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _list_dir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _remove_tree(path: str) -> None:
    """Delete a directory tree of any depth, including directories made unreadable.

    shutil.rmtree recurses once per level, and a script can build a tree
    deeper than the recursion limit (or PATH_MAX). Here every subdirectory's
    entries are renamed up into the top directory before it is removed, so
    the work is flat: one pass per entry, two open directories at a time.
    """
    try:
        info = os.lstat(path)
    except OSError:
        return
    if not stat.S_ISDIR(info.st_mode):
        try:
            os.unlink(path)
        except OSError:
            pass
        return
    try:
        root = _open_dir(path, None)
    except OSError:
        shutil.rmtree(path, ignore_errors=True)
        return
    token = os.urandom(6).hex()
    counter = 0
    owner = os.geteuid() != 0
    try:
        progress = True
        while progress:
            progress = False
            for entry in list(os.scandir(root)):
                try:
                    if not entry.is_dir(follow_symlinks=False):
                        os.unlink(entry.name, dir_fd=root)
                        progress = True
                        continue
                    if owner:
                        os.chmod(entry.name, 0o700, dir_fd=root)
                    child = _open_dir(entry.name, root)
                    try:
                        for inner in list(os.scandir(child)):
                            counter += 1
                            os.rename(inner.name, f".executor-rm-{token}-{counter}",
                                      src_dir_fd=child, dst_dir_fd=root)
                            progress = True
                    finally:
                        os.close(child)
                    os.rmdir(entry.name, dir_fd=root)
                    progress = True
                except FileNotFoundError:
                    progress = True
                except OSError:
                    continue  # left for the next pass; a pass without progress ends it
    except OSError:
        pass
    finally:
        os.close(root)
    try:
        os.rmdir(path)
    except OSError:
        shutil.rmtree(path, ignore_errors=True)


def _open_dir(name: str, parent: Optional[int]) -> int:
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    try:
        return os.open(name, flags, dir_fd=parent)
    except PermissionError:
        # A same-uid runtime owns the script's files and may give itself
        # access back; a root runtime never gets here.
        os.chmod(name, 0o700, dir_fd=parent)
        return os.open(name, flags, dir_fd=parent)


def _read_some(fd: int) -> Optional[bytes]:
    try:
        return os.read(fd, READ_CHUNK_BYTES)
    except BlockingIOError:
        return None
    except OSError:
        return b""


def _drain(fd: int, sink: Any) -> None:
    if fd < 0:
        return
    while True:
        chunk = _read_some(fd)
        if not chunk:
            return
        sink(chunk)


def _take_frame(buffer: bytearray) -> Optional[tuple[bytes, bytes]]:
    header = worker.FRAME_HEADER_BYTES
    if len(buffer) < header:
        return None
    kind, length = struct.unpack(">cI", bytes(buffer[:header]))
    if len(buffer) < header + length:
        return None
    payload = bytes(buffer[header:header + length])
    del buffer[:header + length]
    return kind, payload


def _frame_field(payload: bytes, name: str) -> Optional[str]:
    try:
        value = json.loads(payload.decode("utf-8")).get(name)
    except (ValueError, AttributeError, RecursionError):
        return None
    return value if isinstance(value, str) else None


def _parse_error_frame(payload: bytes) -> Optional[dict[str, Any]]:
    try:
        detail = json.loads(payload.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(detail, dict):
        return None
    error_type = detail.get("errorType")
    message = detail.get("error")
    trace = detail.get("traceback")
    if error_type not in WORKER_ERROR_TYPES or not isinstance(message, str):
        return None
    return {"errorType": error_type, "error": message,
            "traceback": trace if isinstance(trace, str) else None}


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass


def _process_table(with_uid: bool) -> dict[int, dict[str, Any]]:
    table: dict[int, dict[str, Any]] = {}
    for name in _list_dir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                raw = handle.read()
        except OSError:
            continue
        fields = raw[raw.rfind(b")") + 2:].split()
        if len(fields) < 4:
            continue
        info: dict[str, Any] = {
            "state": fields[0].decode(),
            "ppid": int(fields[1]),
            "sid": int(fields[3]),
        }
        if with_uid:
            info["uid"] = _real_uid(name)
        table[int(name)] = info
    return table


def _real_uid(pid: str) -> Optional[int]:
    try:
        with open(f"/proc/{pid}/status", "rb") as handle:
            for line in handle:
                if line.startswith(b"Uid:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _ancestors(pid: int, table: dict[int, dict[str, Any]]) -> set[int]:
    found = set()
    while pid in table and pid not in found:
        found.add(pid)
        pid = table[pid]["ppid"]
    return found


def _count_tasks_of_uid(uid: int) -> int:
    """Processes and threads of uid, the number RLIMIT_NPROC compares against."""
    total = 0
    for name in _list_dir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status", "rb") as handle:
                owner = None
                threads = 1
                for line in handle:
                    if line.startswith(b"Uid:"):
                        owner = int(line.split()[1])
                    elif line.startswith(b"Threads:"):
                        threads = int(line.split()[1])
                        break
        except (OSError, ValueError, IndexError):
            continue
        if owner == uid:
            total += threads
    return total

