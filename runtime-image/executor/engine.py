"""The engine: one parked worker at a time, and everything around an execution.

The engine never runs user code. Its life (Engine.__init__) is a checklist of
named steps; one execution (Engine.execute) is: hand the request to the
parked worker (exchange.py), contain everything the execution started
(contain.py), then build the answer; after the answer is posted, recycle()
wipes what the execution wrote (cleanup.py), verifies what the next worker
inherits and orders that worker from the template (template.py).
"""

from __future__ import annotations

import base64
import fcntl
import importlib
import io
import json
import mimetypes
import os
import re
import secrets as token_source
import select
import shutil
import signal
import struct
import sys
import tempfile
import time
import weakref
from typing import Any, Optional

from . import (artifacts, cgroups, cleanup, contain, exchange, guard, layers, outcome, policy,
               procfs, rootfs, seal, secrecy, seccomp_filter, syscalls)
from .contract import ContractError, empty_response, error_response, validate_request
from .encoding import encode_result
from .health import build_report
from .hostfacts import HostFacts, Profile, detect
from .layers import Layer
from .limits import Limits
from .outcome import Outcome, Status
from .template import Template, TemplateError, TemplateTampered

REDACTED = "[REDACTED]"
# Time kept back from the Lambda deadline for containment, artifacts and
# posting the response before Lambda kills the environment.
RESPONSE_MARGIN_MS = 1000
# A healthy worker is ready in well under a second even on a loaded two-core
# machine; this only bounds a wedged one.
WORKER_SETUP_TIMEOUT_S = 30
# The template reaps a killed worker within milliseconds; only a stopped or
# starved template takes longer, and then the next worker's limit is off by one.
WORKER_REAP_TIMEOUT_S = 2
# A synchronous Lambda response is at most 6 MB: inline artifacts (base64)
# share it with the result and the captured output.
LAMBDA_RESPONSE_LIMIT_BYTES = 6 * 1024 * 1024
# JSON punctuation and the other fields of one inline artifact entry.
INLINE_ENTRY_OVERHEAD_BYTES = 512
# The execution cgroup also pays for what RLIMIT_AS does not count: copies of
# pages shared with the template, page cache, page tables and the scratch
# tmpfs. The margin keeps a single process's allocations failing cleanly at
# RLIMIT_AS (MemoryError, with a traceback) before the cgroup's OOM killer
# has to step in, which it does for several processes together.
CGROUP_MARGIN_MIB = 64 + rootfs.SCRATCH_BYTES // (1024 * 1024)
_STATE_DIR = re.compile(r"executor-\d+-")
# Where a state folder is made and locked before it is renamed to executor-*.
_STAGING_PREFIX = ".executor-starting-"

# Every engine of this process: containment must never take another
# engine's template for an execution's process (tests run several at once).
_ENGINES: "weakref.WeakSet[Engine]" = weakref.WeakSet()


class EngineError(Exception):
    """The engine itself could not do its job (never a script's fault)."""


class TemplateLost(EngineError):
    """The worker template died or was tampered with: start over from a fresh process."""


class RuntimeTampered(EngineError):
    """A script changed the runtime's own limits: the environment must be reset."""


class Engine:
    def __init__(self, limits: Limits) -> None:
        started = time.perf_counter()
        self.limits = limits
        self.closed = False
        self.layers: dict[str, Layer] = {}
        self.facts: HostFacts = detect(limits.sandbox_uid)
        self.pid = self.facts.runtime_pid
        self._reset_leftovers()       # before anything slow: nothing of an earlier runtime runs on
        self._take_secrets()          # before any fork: no child may inherit the credentials
        self._guard_runtime()         # a script sharing the uid cannot stop or confuse the runtime
        self._make_state_dir()
        self._probe_layers()          # probes fork: before the preloads make forks expensive
        self._prepare_sandbox()       # namespaces, scratch tmpfs, cgroup (a root runtime)
        self.preloads = self._import_preloads()
        self._start_template()        # after every import, before any request
        self._make_sealer()           # after the template: no worker inherits the keys
        if self.facts.profile is Profile.LAMBDA:
            # What init wrote (the font cache, the state folder) is not needed
            # any more, and the first execution must find /tmp as later ones do.
            cleanup.empty_directory(self.facts.tmp_dir)
        self._guard_baseline = guard.baseline()
        self._worker: Optional[exchange.ParkedWorker] = None
        self._snapshot: dict[str, Any] = {}
        self._order_worker()
        _ENGINES.add(self)
        self.init_ms = round((time.perf_counter() - started) * 1000)

    # ------------------------------------------------------------------ init steps

    def _reset_leftovers(self) -> None:
        """Lambda keeps /tmp across resets and may keep processes of the uid: neither survives."""
        if self.facts.profile is Profile.LAMBDA:
            contain.kill_every_other_process_of_my_uid()
            cleanup.empty_directory(self.facts.tmp_dir)
            return
        self._remove_stale_state_dirs()

    def _remove_stale_state_dirs(self) -> None:
        """State folders of runtimes that ended without removing theirs.

        A runtime holds an flock on its folder's lock file while it lives;
        that works across pid namespaces, where a pid cannot tell.
        """
        own_uid = os.geteuid()
        for name in os.listdir(self.facts.tmp_dir):
            if not _STATE_DIR.match(name):
                continue
            path = os.path.join(self.facts.tmp_dir, name)
            try:
                if os.lstat(path).st_uid != own_uid:
                    continue
                fd = os.open(os.path.join(path, ".lock"), os.O_RDONLY | os.O_NOFOLLOW)
            except FileNotFoundError:
                # No lock: a folder of an older runtime, which locked after naming it;
                # only its pid can tell. Runtimes now lock before they name it.
                if not _pid_alive(int(name.split("-")[1])):
                    cleanup.remove_tree(path)
                continue
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a live runtime holds it
            finally:
                os.close(fd)
            cleanup.remove_tree(path)

    def _take_secrets(self) -> None:
        # Kept in a buffer until the template exists, then turned into keys
        # (seal.py) that no worker ever inherits, and zeroed.
        self._seal_secret = secrecy.take_seal_key()
        self.secrets = secrecy.take_secrets()
        # Encoded once: every transient copy would stay readable in freed memory.
        self.secret_bytes = [secret.encode("utf-8", "surrogateescape") for secret in self.secrets]
        secrecy.wipe_exec_environment_block()
        self.layers["redaction"] = layers.active(
            f"{len(self.secrets)} secret value(s) of the runtime replaced by {REDACTED} in every "
            "output; defence in depth only")
        self.layers["scrubbed_environment"] = layers.active(
            "workers get a fresh environment (no AWS_*, no runtime API address); the runtime "
            "drops its AWS credentials and zeroes its exec-time environment block")

    def _guard_runtime(self) -> None:
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            # One BLAS thread: threads count against RLIMIT_NPROC, and a forked
            # worker would not inherit a thread pool anyway.
            os.environ.setdefault(name, "1")
        if not self.facts.workers_share_runtime_uid:
            self.layers["runtime_guard"] = layers.not_applicable(
                "workers run as another uid and cannot signal the runtime or change its limits")
            return
        guard.ignore_nuisance_signals()
        try:
            guard.resist_stops()
        except OSError as error:
            self.layers["runtime_guard"] = layers.off(
                f"signals it does not need are ignored, but SIGSTOP is not resisted: {error}")
            return
        self.layers["runtime_guard"] = layers.active(
            "signals it does not need are ignored; a timer continues it every "
            f"{guard.SIGCONT_PERIOD_MS} ms if a script stops it; its limits are checked after "
            "every execution and the environment is reset if a script changed them")

    def _make_state_dir(self) -> None:
        """The runtime's state folder, locked before it gets the name others look for.

        Another runtime removes an executor-* folder whose lock is free, and
        before the lock existed it could only guess from the pid, which a
        runtime in another pid namespace cannot see: so the folder is made
        under a staging name, locked, and only then renamed.
        """
        staging = tempfile.mkdtemp(prefix=f"{_STAGING_PREFIX}{self.pid}-", dir=self.facts.tmp_dir)
        os.chmod(staging, 0o711)
        self._lock_fd = os.open(os.path.join(staging, ".lock"),
                                os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        self.state_dir = os.path.join(self.facts.tmp_dir,
                                      "executor-" + os.path.basename(staging)[len(_STAGING_PREFIX):])
        os.rename(staging, self.state_dir)

    def _probe_layers(self) -> None:
        self.layers["worker_process"] = layers.active(
            "each execution runs in a fresh process forked from the worker template, in a "
            "session and process group of its own")
        self._probe_containment()
        self._probe_uid()
        self._probe_non_dumpable()
        self._probe_seccomp()
        self.layers["rlimits"] = layers.active(
            f"address space +{self.limits.worker_memory_mib} MiB (RLIMIT_AS), CPU from the "
            f"timeout, files {self.limits.max_file_bytes} bytes, {self.limits.max_open_files} "
            f"open files, {self.limits.max_processes} processes, no core dumps")
        self.layers["audit_hook"] = layers.active(
            "PEP 578 hook refuses sockets, subprocesses, loading native code through ctypes, "
            "signals and limits aimed at other processes, and other processes' /proc; defence in "
            "depth only: native code (ctypes' own function pointers included) bypasses it")

    def _probe_containment(self) -> None:
        try:
            syscalls.prctl(syscalls.PR_SET_CHILD_SUBREAPER, 1, "prctl(PR_SET_CHILD_SUBREAPER)")
            self.subreaper = True
        except OSError as error:
            self.subreaper = False
            reaper = str(error)
        proofs = ["every process below the runtime"]
        if self.facts.dedicated_uid is not None:
            proofs.append(f"every process of uid {self.facts.dedicated_uid}")
        what = ("before each response every process the execution started is killed and shown "
                "to be unable to run again: " + ", ".join(proofs))
        if self.subreaper:
            self.layers["containment"] = layers.active(
                what + "; the runtime is a child subreaper, so orphans stay below it")
        elif self.facts.dedicated_uid is not None:
            self.layers["containment"] = layers.active(what + f"; no child subreaper ({reaper})")
        else:
            self.layers["containment"] = layers.off(
                f"no child subreaper ({reaper}): a process that leaves the runtime's tree "
                "cannot be found")

    def _probe_uid(self) -> None:
        facts = self.facts
        if facts.profile is Profile.ROOT:
            kind = ("dedicated to this runtime" if facts.sandbox_uid_dedicated else
                    "nobody, shared: set EXECUTOR_SANDBOX_UID for a dedicated uid")
            self.layers["unprivileged_uid"] = layers.active(
                f"workers run as uid {facts.worker_uid} ({kind}) with no capabilities; the "
                "runtime is root")
        else:
            where = "Lambda runs everything as one uid" if facts.profile is Profile.LAMBDA \
                else "the runtime is not root and cannot switch users"
            self.layers["unprivileged_uid"] = layers.off(
                f"workers share uid {facts.worker_uid} with the runtime ({where})")

    def _probe_non_dumpable(self) -> None:
        runtime, worker_uid = self.pid, self.facts.worker_uid
        switch = self.facts.profile is Profile.ROOT

        def step() -> str:
            if switch:
                os.setgroups([])
                os.setresgid(worker_uid, worker_uid, worker_uid)
                os.setresuid(worker_uid, worker_uid, worker_uid)
            syscalls.set_dumpable(True)
            for name in ("environ", "mem"):
                try:
                    with open(f"/proc/{runtime}/{name}", "rb") as handle:
                        handle.read(1)
                except PermissionError:
                    continue
                raise OSError(f"a worker could read /proc/<runtime>/{name}")
            return ("PR_SET_DUMPABLE 0: /proc/<runtime>/environ and mem are closed to workers"
                    + (" (which also run as another uid)" if switch else ""))

        try:
            syscalls.set_dumpable(False)
        except OSError as error:
            self.layers["non_dumpable_parent"] = layers.off(str(error))
            return
        worked, detail = layers.in_child(step)
        self.layers["non_dumpable_parent"] = layers.active(detail) if worked else layers.off(detail)

    def _probe_seccomp(self) -> None:
        self.seccomp_program: Optional[bytes] = None
        try:
            program = seccomp_filter.compile_program()
        except ImportError:
            self.layers["seccomp"] = layers.off(
                "the libseccomp Python bindings (module 'seccomp', Debian python3-seccomp) are "
                "not installed")
            return
        except Exception as error:  # deliberate: any failure means the layer is off
            self.layers["seccomp"] = layers.off(f"compiling the filter failed: {error}")
            return
        worker_uid, switch = self.facts.worker_uid, self.facts.profile is Profile.ROOT

        def step() -> str:
            if switch:
                os.setgroups([])
                os.setresgid(worker_uid, worker_uid, worker_uid)
                os.setresuid(worker_uid, worker_uid, worker_uid)
            seccomp_filter.load(program)
            import socket
            try:
                socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
            except PermissionError:
                return ("network sockets, ptrace, mounts, namespaces, System V IPC, keyctl, bpf "
                        "and io_uring denied")
            raise OSError("the filter loaded but socket(AF_INET) still worked")

        worked, detail = layers.in_child(step)
        if worked:
            self.seccomp_program = program
            self.layers["seccomp"] = layers.active(detail)
        else:
            self.layers["seccomp"] = layers.off(detail)

    def _prepare_sandbox(self) -> None:
        self.namespaces: Optional[rootfs.WorkerNamespaces] = None
        self.cgroup: Optional[cgroups.ExecutionCgroup] = None
        if self.facts.profile is Profile.ROOT:
            self._prepare_root_sandbox()
        else:
            reason = ("Lambda refuses unshare, mount and setns"
                      if self.facts.profile is Profile.LAMBDA
                      else "the runtime is not root")
            self.layers["namespaces"] = layers.off(f"no namespaces: {reason}")
            self.layers["network_isolation"] = layers.off(
                "nothing inside this host stops a socket; only the audit hook refuses them (in "
                "AWS the VPC has no route out and DNS Firewall answers NXDOMAIN)")
        self.oom_first = self.cgroup is not None
        if self.cgroup is None:
            self._probe_oom_first()
        self.oom_source = self._oom_source()
        self._describe_workdir()

    def _prepare_root_sandbox(self) -> None:
        try:
            rootfs.isolate_runtime_mounts()
            scratch = os.path.join(self.state_dir, "scratch")
            rootfs.mount_scratch(scratch)
            self.namespaces = rootfs.build(scratch)
            # The runtime joins the workers' IPC namespace to remove what an
            # execution left there; it uses none itself.
            syscalls.setns(self.namespaces.ipc_fd, syscalls.CLONE_NEWIPC, "setns(ipc)")
            worked, detail = layers.in_child(self._verify_namespaces)
        except (OSError, rootfs.RootfsError) as error:
            worked, detail = False, str(error)
        if worked:
            self.layers["namespaces"] = layers.active(detail)
            self.layers["network_isolation"] = layers.active(
                "a network namespace with only a loopback device that is down"
                + ("; seccomp denies network sockets" if self.seccomp_program else ""))
        else:
            if self.namespaces is not None:
                self.namespaces.close()
                self.namespaces = None
            self.layers["namespaces"] = layers.off(detail)
            self.layers["network_isolation"] = (
                layers.active("seccomp denies network sockets") if self.seccomp_program
                else layers.off("no network namespace and no seccomp: only the audit hook "
                                "refuses sockets"))
        try:
            budget_mib = self.limits.worker_memory_mib + CGROUP_MARGIN_MIB
            self.cgroup = cgroups.create(f"executor-{self.pid}-{token_source.token_hex(4)}",
                                         budget_mib * 1024 * 1024, self.limits.max_processes)
            self.layers["execution_memory"] = layers.active(
                f"one cgroup v{self.cgroup.version} for all processes of an execution: "
                f"{budget_mib} MiB of memory (the worker limit plus scratch space and copies)"
                + (f" and {self.limits.max_processes} tasks" if self.cgroup.pids_dir else "")
                + "; an OOM kill in it is reported as MemoryLimit")
        except (OSError, cgroups.CgroupError) as error:
            self.cgroup = None
            self.layers["execution_memory"] = layers.off(
                f"no cgroup ({error}): memory is limited per process only")

    def _verify_namespaces(self) -> str:
        """In a child: join the workers' namespaces as a worker would and look around."""
        assert self.namespaces is not None
        for fd, kind in ((self.namespaces.mount_fd, syscalls.CLONE_NEWNS),
                         (self.namespaces.net_fd, syscalls.CLONE_NEWNET)):
            syscalls.setns(fd, kind, f"setns({kind:#x})")
        uid = self.facts.worker_uid
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        os.chdir("/tmp")
        with open("/tmp/.probe", "w") as handle:
            handle.write("ok")
        os.unlink("/tmp/.probe")
        try:
            with open("/usr/.executor-probe", "w"):
                pass
            raise OSError("the root file system stayed writable")
        except OSError as error:
            if "stayed writable" in str(error):
                raise
        if os.listdir("/sys"):
            raise OSError("/sys still shows the host's files")
        if os.path.exists("/proc/1"):
            raise OSError("/proc shows processes of other users")
        import socket
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            probe.connect(("127.0.0.1", 9))
            raise OSError("the loopback device is up in the workers' network namespace")
        except OSError as error:
            if "loopback" in str(error):
                raise
        finally:
            probe.close()
        return ("mount (read-only root, private /tmp and /dev/shm on a "
                f"{rootfs.SCRATCH_BYTES >> 20} MiB tmpfs that also holds the working directory, "
                "/proc showing only the worker's uid, empty /sys and /run), network and "
                "System V IPC namespaces, built once and joined by each worker")

    def _probe_oom_first(self) -> None:
        def step() -> str:
            syscalls.set_dumpable(True)
            with open("/proc/self/oom_score_adj", "w") as handle:
                handle.write("1000")
            return "ok"

        worked, detail = layers.in_child(step)
        self.oom_first = worked
        if worked:
            self.layers["execution_memory"] = layers.active(
                "workers are the kernel OOM killer's first choice (oom_score_adj 1000), so a "
                "script that exhausts the environment's memory loses its own processes, never "
                "the runtime; an OOM kill during the execution is reported as MemoryLimit")
        else:
            self.layers["execution_memory"] = layers.off(
                f"workers cannot raise their oom_score_adj ({detail}): memory is limited per "
                "process only")

    def _oom_source(self) -> Optional[str]:
        """Where OOM kills are counted: the execution cgroup, the runtime's own memory
        cgroup, or the kernel's global counter (exact in Lambda, one runtime per VM)."""
        if self.cgroup is not None:
            return "cgroup"
        own = _own_memory_cgroup_counter()
        if own is not None:
            return own
        return "vmstat" if procfs.vmstat("oom_kill") is not None else None

    def _oom_kills(self) -> Optional[int]:
        if self.oom_source is None:
            return None
        if self.oom_source == "cgroup":
            assert self.cgroup is not None
            return self.cgroup.oom_kills()
        if self.oom_source == "vmstat":
            return procfs.vmstat("oom_kill")
        return _read_oom_counter(self.oom_source)

    def _describe_workdir(self) -> None:
        profile = self.facts.profile
        if self.namespaces is not None:
            where = "/tmp, /dev/shm and the working directory live on a private tmpfs emptied"
        elif profile is Profile.LAMBDA:
            where = "/tmp (the only writable place in Lambda) is emptied"
        elif profile is Profile.ROOT:
            where = f"every file of uid {self.facts.worker_uid} in /tmp and /dev/shm is removed"
        else:
            where = "what this uid created in /tmp during the execution is removed"
        self.layers["fresh_workdir"] = layers.active(
            f"a new working directory with an unpredictable name per execution; {where} after "
            "every execution, and System V IPC objects it created are removed")

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
            except Exception as error:  # deliberate: a missing preload is reported, not fatal
                report[name] = {"loaded": False, "error": str(error) or type(error).__name__}
        # What every worker uses anyway; asyncio and subprocess are left to the
        # scripts that need them (tens of milliseconds each at init).
        for name in ("ctypes", "inspect"):
            importlib.import_module(name)
        policy.preload_builtin_modules()
        mimetypes.init()
        _warm_up()
        return report

    def _prepare_matplotlib_cache(self) -> None:
        """Give matplotlib a writable config dir seeded from the image's prebuilt cache."""
        target = os.path.join(self.state_dir, "matplotlib")
        os.makedirs(target, exist_ok=True)
        source = os.environ.get("MPLCONFIGDIR")
        if source and os.path.isdir(source) and source != target:
            for name in os.listdir(source):
                path = os.path.join(source, name)
                if os.path.isfile(path) and not os.path.islink(path):
                    shutil.copy2(path, os.path.join(target, name))
        os.environ["MPLCONFIGDIR"] = target
        os.environ.setdefault("MPLBACKEND", "Agg")

    def _start_template(self) -> None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()  # a child would otherwise inherit buffered text
            except (OSError, ValueError, AttributeError):
                pass
        # Objects that exist now are never garbage in a worker; frozen, the
        # worker's collector skips them instead of touching (and copying)
        # every page of the inherited heap.
        import gc
        gc.freeze()
        buffers = [self._seal_secret] if self._seal_secret is not None else []
        self.template = Template.start(self.secrets, self.secret_bytes, buffers,
                                       self.seccomp_program)
        template_stat = procfs.stat(self.template.pid)
        self._template_ticks = template_stat.start_ticks if template_stat else 0
        self.layers["template"] = layers.active(
            "workers are forked from a template made at init, which never holds a request, an "
            "output or a secret; it is verified before each worker and replaced by a fresh "
            "process when a script killed or changed it")

    def _make_sealer(self) -> None:
        # The secret stays in this process, which holds keys derived from it
        # anyway: a runtime that starts over (a lost template) hands it to
        # its next image, which would otherwise refuse every sealed request.
        secret = self._seal_secret
        if secret is None:
            self.sealer: Optional[seal.Sealer] = None
            return
        self.sealer = seal.from_secret(secret.decode("utf-8", "replace"))

    def seal_secret(self) -> Optional[str]:
        """The seal key, for the environment of the image this runtime starts over as."""
        return None if self._seal_secret is None else self._seal_secret.decode("utf-8", "replace")

    # ------------------------------------------------------------------ workers

    def _nproc_limit(self) -> int:
        """RLIMIT_NPROC counts every process and thread of the uid: add to what exists."""
        if self.facts.profile is Profile.ROOT:
            # The sandbox uid runs nothing else; the pids cgroup also holds the count.
            return self.limits.max_processes
        return procfs.tasks_of_uid(self.facts.worker_uid) + self.limits.max_processes

    def _new_workdir(self) -> tuple[str, str, str]:
        """(runtime's view, worker's view, worker's TMPDIR), made exclusively with a random name."""
        name = "w-" + token_source.token_hex(8)
        if self.namespaces is not None:
            parent, seen_as = self.namespaces.worker_tmp(), "/tmp"
        elif self.facts.profile is Profile.LAMBDA:
            parent = seen_as = self.facts.tmp_dir
        else:
            parent = seen_as = self.state_dir
        path = os.path.join(parent, name)
        # mkdir never follows a symlink in the last component and fails if
        # the name exists: nothing planted can stand in for the directory.
        os.mkdir(path, 0o700)
        top = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            for inner in ("outputs", "tmp"):
                os.mkdir(inner, 0o700, dir_fd=top)
                if self.facts.profile is Profile.ROOT:
                    os.chown(inner, self.facts.worker_uid, self.facts.worker_uid, dir_fd=top,
                             follow_symlinks=False)
            if self.facts.profile is Profile.ROOT:
                os.fchown(top, self.facts.worker_uid, self.facts.worker_uid)
        finally:
            os.close(top)
        worker_view = os.path.join(seen_as, name)
        return path, worker_view, os.path.join(worker_view, "tmp")

    def _order_worker(self) -> None:
        if self.template.gone:
            raise TemplateLost("the worker template is gone")
        self._take_snapshot()
        workdir, worker_view, tmpdir = self._new_workdir()
        writable = [worker_view, "/tmp", "/dev/shm"] if self.namespaces is not None \
            else [worker_view, self.facts.tmp_dir, "/dev/shm", "/var/tmp"]
        plan = _plan(self, worker_view, tmpdir, writable)
        request_r, request_w = os.pipe()
        result_r, result_w = os.pipe()
        stdout_r, stdout_w = os.pipe()
        stderr_r, stderr_w = os.pipe()
        fds = [request_r, result_w, stdout_w, stderr_w]
        if self.namespaces is not None:
            fds += [self.namespaces.mount_fd, self.namespaces.net_fd, self.namespaces.ipc_fd]
        try:
            pid = self.template.order(plan, fds)
        except TemplateError as error:
            for fd in (request_r, result_w, stdout_w, stderr_w, request_w, result_r, stdout_r,
                       stderr_r):
                os.close(fd)
            cleanup.remove_tree(workdir)
            raise TemplateLost(str(error)) from None
        for fd in (request_r, result_w, stdout_w, stderr_w):
            os.close(fd)
        for fd in (request_w, result_r, stdout_r, stderr_r):
            os.set_blocking(fd, False)
        started = procfs.stat(pid)
        self._worker = exchange.ParkedWorker(
            pid=pid, start_ticks=started.start_ticks if started else 0, workdir=workdir,
            request_fd=request_w, result_fd=result_r, stdout_fd=stdout_r, stderr_fd=stderr_r)
        exchange.await_ready(self._worker, self.template, WORKER_SETUP_TIMEOUT_S)

    def _take_snapshot(self) -> None:
        """What exists before an execution, where only its own additions may be removed."""
        self._snapshot = {"oom": self._oom_kills()}
        if self.facts.profile is Profile.SHARED:
            self._snapshot["tmp"] = {directory: set(_list_dir(directory))
                                     for directory in self._scratch_dirs()}
            self._snapshot["sysv"] = cleanup.sysv_objects(self.facts.worker_uid)

    def _scratch_dirs(self) -> list[str]:
        return [path for path in (self.facts.tmp_dir, "/dev/shm", "/var/tmp")
                if os.path.isdir(path)]

    # ------------------------------------------------------------------ public API

    def health(self) -> dict[str, Any]:
        return build_report(self.facts.profile.value, self.preloads, self.layers, self.limits,
                            self.init_ms)

    def execute(self, event: Any, request_id: str, deadline_ms: Optional[int] = None
                ) -> dict[str, Any]:
        """Run one request; returns the full response once nothing of it can run any more.

        Never raises for a script's fault. Raises contain.Uncontainable when
        the execution's processes could not be shown dead: the caller must
        then not answer at all.
        """
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
                return error_response(request_id, "InternalError",
                                      outcome.bad_upload_policy(problem))
        if self._worker is None or self._worker.used or not self._parked_worker_alive():
            # A parked worker that died (a stray signal, the OOM killer) never
            # saw a request: order another instead of failing the caller.
            self.recycle()
        current = self._worker
        assert current is not None
        current.used = True
        if current.setup_error is not None:
            self._contain()
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
        result = exchange.run(current, self.template, struct.pack(">I", len(payload)) + payload,
                              timeout_ms, self.limits.max_stdout_bytes,
                              self.limits.max_stderr_bytes, self.limits.max_result_bytes,
                              self.limits.max_file_bytes)
        self._contain()
        self._account_for_oom(result)
        return self._respond(request_id, result, current, upload_spec, deadline_ms)

    def _parked_worker_alive(self) -> bool:
        current = self._worker
        if current is None:
            return False
        parsed = procfs.stat(current.pid)
        return (parsed is not None and parsed.start_ticks == current.start_ticks
                and not parsed.finished)

    def recycle(self) -> None:
        """After the response: wipe, verify what the next worker inherits, park the next one."""
        current, self._worker = self._worker, None
        if current is not None:
            current.close_fds()
            if not current.used:
                self._contain()
            self._wipe()
        problem = guard.check(self._guard_baseline) \
            if self.facts.workers_share_runtime_uid else None
        if problem is not None:
            raise RuntimeTampered(problem)
        self._continue_stopped_template()
        if current is not None:
            self._await_template_reaped(current.pid)
            self.template.forget(current.pid)
        try:
            self._order_worker()
        except TemplateTampered as error:
            raise TemplateLost(f"a script changed the worker template: {error}") from None

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        _ENGINES.discard(self)
        if self._worker is not None:
            self._worker.close_fds()
        # The template first: a worker it was forking when the sweep ran
        # would otherwise outlive both, an orphan of whoever reaps them.
        self.template.stop()
        try:
            self._contain()
        except contain.Uncontainable:
            pass
        if self.namespaces is not None:
            self.namespaces.close()
            try:
                syscalls.umount(os.path.join(self.state_dir, "scratch"))
            except OSError:
                pass
        if self.cgroup is not None:
            self.cgroup.remove()
        os.close(self._lock_fd)
        cleanup.remove_tree(self.state_dir)

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ an execution's end

    def _contain(self) -> contain.Report:
        keep = frozenset({(self.template.pid, self._template_ticks)} if not self.template.gone
                         else set())
        others = frozenset(engine.template.pid for engine in list(_ENGINES) if engine is not self)
        cgroup = self.cgroup
        scope = contain.Scope(
            runtime_pid=self.pid, runtime_sid=os.getsid(0), keep=keep, foreign=others,
            dedicated_uid=self.facts.dedicated_uid,
            members=cgroup.members if cgroup is not None else (lambda: []),
            children_file=self.facts.children_file, subreaper=self.subreaper)
        return contain.contain(scope)

    def _account_for_oom(self, result: Outcome) -> None:
        before = self._snapshot.get("oom")
        after = self._oom_kills()
        if before is not None and after is not None and after > before:
            budget = self.cgroup.memory_bytes >> 20 if self.cgroup is not None else None
            result.fail("MemoryLimit", outcome.memory_budget(budget))

    def _respond(self, request_id: str, result: Outcome, current: exchange.ParkedWorker,
                 upload_spec: Optional[dict[str, Any]], deadline_ms: Optional[int]
                 ) -> dict[str, Any]:
        response = empty_response(request_id)
        response["durationMs"] = round(result.duration_ms)
        response["stdout"] = self._redact(result.stdout.text())
        response["stderr"] = self._redact(result.stderr.text())
        response["truncated"] = {"stdout": result.stdout.truncated,
                                 "stderr": result.stderr.truncated, "artifacts": False}
        if result.status is Status.COMPLETED:
            try:
                response["result"] = json.loads(self._redact(result.result_json or "null"))
                response["ok"] = True
            except (ValueError, RecursionError):
                result.fail("ScriptError", outcome.RESULT_CHANNEL_CORRUPT)
        if result.status is not Status.COMPLETED:
            response["errorType"] = result.error_type
            response["error"] = self._redact(result.error or "")
            response["traceback"] = self._redact(result.traceback) if result.traceback else None
        if result.status is not Status.INTERNAL:
            self._deliver_artifacts(current, response, upload_spec, deadline_ms)
        return response

    def _deliver_artifacts(self, current: exchange.ParkedWorker, response: dict[str, Any],
                           upload_spec: Optional[dict[str, Any]], deadline_ms: Optional[int]
                           ) -> None:
        collected = artifacts.collect(os.path.join(current.workdir, "outputs"),
                                      self.limits.max_artifacts, self.limits.max_artifact_bytes)
        found, problem = collected.found, collected.problem
        response["truncated"]["artifacts"] = collected.more
        for item in found:
            item.name = self._redact(item.name)
            for secret in self.secret_bytes:
                if secret in item.data:
                    item.data = item.data.replace(secret, REDACTED.encode())
        if upload_spec is None:
            found, problem = _fit_inline(response, found, problem)
        if problem and response["ok"]:
            response.update(ok=False, result=None, errorType="OutputLimit", error=problem)
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

    def _redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    # ------------------------------------------------------------------ recycling

    def _wipe(self) -> None:
        """Remove everything the execution could have written (it is contained already)."""
        profile = self.facts.profile
        if self.namespaces is not None:
            for name in rootfs.SCRATCH_DIRS:
                cleanup.empty_directory(os.path.join(self.namespaces.scratch, name))
            cleanup.remove_sysv_objects(cleanup.sysv_objects())
            return
        if profile is Profile.LAMBDA:
            for directory in self._scratch_dirs():
                cleanup.empty_directory(directory)
            cleanup.remove_sysv_objects(cleanup.sysv_objects(self.facts.worker_uid))
            return
        if profile is Profile.ROOT:
            uid = self.facts.worker_uid
            for directory in self._scratch_dirs():
                for name in _list_dir(directory):
                    path = os.path.join(directory, name)
                    try:
                        if os.lstat(path).st_uid == uid:
                            cleanup.remove_tree(path)
                    except OSError:
                        continue
            cleanup.empty_directory(self.state_dir, keep=(".lock", "matplotlib", "scratch"))
            cleanup.remove_sysv_objects(cleanup.sysv_objects(uid))
            return
        # SHARED: the uid is a person's; only what appeared during the execution goes.
        before = self._snapshot.get("tmp", {})
        own_uid = os.geteuid()
        state_name = os.path.basename(self.state_dir)
        for directory in self._scratch_dirs():
            known = before.get(directory, set())
            for name in _list_dir(directory):
                if name in known or name == state_name:
                    continue
                path = os.path.join(directory, name)
                try:
                    if (os.lstat(path).st_uid == own_uid and not _STATE_DIR.match(name)
                            and not name.startswith(_STAGING_PREFIX)):
                        cleanup.remove_tree(path)
                except OSError:
                    continue
        cleanup.empty_directory(self.state_dir, keep=(".lock", "matplotlib"))
        new_ipc = cleanup.sysv_objects(own_uid) - self._snapshot.get("sysv", set())
        cleanup.remove_sysv_objects(new_ipc)

    def _await_template_reaped(self, worker_pid: int) -> None:
        """Wait (briefly) until the template has reaped the last worker.

        Until then the worker is a zombie that still counts against the
        uid's RLIMIT_NPROC, which the next worker's limit is computed from.
        """
        deadline = time.monotonic() + WORKER_REAP_TIMEOUT_S
        while not self.template.gone and self.template.exit_status(worker_pid) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            readable, _, _ = select.select([self.template.fileno()], [], [], remaining)
            if readable:
                try:
                    self.template.take_messages()
                except TemplateError:
                    return

    def _continue_stopped_template(self) -> None:
        parsed = procfs.stat(self.template.pid)
        if parsed is not None and parsed.state in ("T", "t"):
            # Stopping does not change what the template holds; continuing it
            # is the whole repair.
            try:
                os.kill(self.template.pid, signal.SIGCONT)
            except OSError:
                pass


# ---------------------------------------------------------------------- helpers


def _plan(engine: Engine, worker_view: str, tmpdir: str, writable: list[str]) -> Any:
    from .worker import Plan
    return Plan(
        workdir=worker_view,
        tmpdir=tmpdir,
        writable_roots=writable,
        uid=engine.facts.worker_uid if engine.facts.profile is Profile.ROOT else None,
        cgroup_procs=engine.cgroup.procs_files if engine.cgroup is not None else [],
        join_namespaces=engine.namespaces is not None,
        seccomp=engine.seccomp_program is not None,
        oom_first=engine.oom_first,
        memory_bytes=engine.limits.worker_memory_mib * 1024 * 1024,
        max_file_bytes=engine.limits.max_file_bytes,
        max_open_files=engine.limits.max_open_files,
        nproc_limit=engine._nproc_limit(),
        result_limit_bytes=engine.limits.max_result_bytes,
        runtime_pid=engine.pid,
        template_pid=engine.template.pid,
    )


def _fit_inline(response: dict[str, Any], found: list[artifacts.Artifact],
                problem: Optional[str]) -> tuple[list[artifacts.Artifact], Optional[str]]:
    """Keep the inline artifacts that fit in a synchronous Lambda response, by encoded size."""
    used = len(json.dumps(response, ensure_ascii=False).encode("utf-8"))
    kept = []
    for item in found:
        encoded = 4 * ((item.size + 2) // 3) + len(item.name.encode()) * 2 \
            + INLINE_ENTRY_OVERHEAD_BYTES
        if used + encoded > LAMBDA_RESPONSE_LIMIT_BYTES:
            problem = problem or (
                "The artifacts do not fit in one response when returned inline (a synchronous "
                f"Lambda response is at most {LAMBDA_RESPONSE_LIMIT_BYTES} bytes and base64 adds "
                "a third); call through the API to receive download links, or write fewer or "
                "smaller files.")
            break
        used += encoded
        kept.append(item)
    return kept, problem


def _own_memory_cgroup_counter() -> Optional[str]:
    """The OOM-kill counter file of the memory cgroup this runtime runs in, if readable."""
    try:
        with open("/proc/self/cgroup") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            candidate = os.path.join(cgroups.CGROUP_ROOT, path.lstrip("/"), "memory.events")
        elif "memory" in controllers.split(","):
            candidate = os.path.join(cgroups.CGROUP_ROOT, "memory", path.lstrip("/"),
                                     "memory.oom_control")
        else:
            continue
        if path not in ("/", "") and _read_oom_counter(candidate) is not None:
            return candidate
    return None


def _read_oom_counter(path: str) -> Optional[int]:
    try:
        with open(path, "rb") as handle:
            for line in handle:
                key, _, value = line.partition(b" ")
                if key == b"oom_kill":
                    return int(value)
    except (OSError, ValueError):
        return None
    return None


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


def _warm_up() -> None:
    """Walk the per-request paths once at init, before the template is forked.

    Lazy imports, caches and one-time initialisation then exist in the
    memory every worker inherits, instead of being redone (and paid for) in
    every execution. Nothing of this run is visible to scripts: it is
    ordinary library state, created before any request.
    """
    namespace: dict[str, Any] = {"__builtins__": __builtins__}
    exec(compile("def main(value):\n    return [value, {'a': 1.5, 'b': None}]\n", "<script>",
                 "exec", dont_inherit=True), namespace)
    encode_result(namespace["main"]("warm"), 1 << 16)
    pandas = sys.modules.get("pandas")
    if pandas is not None:
        frame = pandas.DataFrame({"k": [i % 3 for i in range(30)], "v": list(range(30))})
        encode_result([frame, frame["v"].sum(), frame.groupby("k")["v"].sum().to_dict(),
                       frame.describe()], 1 << 20)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        encode_result(numpy.arange(4).reshape(2, 2) * 1.5, 1 << 16)
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        figure = pyplot.figure()
        pyplot.plot([1, 2, 3], [1, 4, 9])
        figure.savefig(io.BytesIO(), format="png")
        pyplot.close(figure)
    import traceback
    try:
        raise ValueError("warm")
    except ValueError as error:
        traceback.format_exception(type(error), error, error.__traceback__)
    base64.b64encode(b"warm")
