"""What one execution costs: CPU of the whole process tree, side by side with the alternatives.

Lambda bills duration, and at 256 MB a function gets about 0.145 vCPU, so an
execution costs the CPU that every process of the environment spends on it,
including the work after the response (killing, wiping, forking the next
worker) that keeps the environment busy until the runtime asks for more.
Each subject runs in a cpuacct cgroup of its own; CPU is read from the
cgroup, so children, grandchildren and exited processes all count.

Subjects, measured in one run (python3 bench/cost_bench.py <out.json>, as root):
- runtime, lambda profile: python3 -m executor under local/lambda-profile.py
  (one uid, no namespaces, no seccomp), behind a Runtime API emulator;
- runtime, root profile: python3 -m executor as root (every layer);
- spawn: a fresh python3 per request that imports what the script needs;
- in-process exec(): no isolation at all;
- fork floor: os.fork() + os._exit() of a process holding the same preloads,
  and the raw clone the template uses: what any fork-per-execution design
  pays on this host before it runs anything.
Init: CPU from the runtime's start until it first asks for work.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
RUNTIME_IMAGE = os.path.join(REPO, "runtime-image")
sys.path.insert(0, RUNTIME_IMAGE)

from tests.runtime_api import RuntimeApi  # noqa: E402  (the same emulator the tests use)

TRIVIAL = "def main():\n    return 1\n"
PANDAS = (
    "import pandas as pd\n"
    "\n"
    "def main(rows):\n"
    "    frame = pd.DataFrame(rows)\n"
    "    summary = frame.groupby('team', as_index=False).agg(\n"
    "        total=('score', 'sum'), mean=('score', 'mean'), count=('score', 'size'))\n"
    "    return summary.to_dict('records')\n"
)
PANDAS_INPUT = [{"team": "abcd"[i % 4], "score": (i * 37) % 101} for i in range(30)]
SCRIPTS = {"trivial": (TRIVIAL, None), "pandas": (PANDAS, PANDAS_INPUT)}

SCALE = float(os.environ.get("BENCH_SCALE", "1"))
UID_BASE = int(os.environ.get("BENCH_UID_BASE", "64100"))


def log(message: str) -> None:
    sys.stderr.write(f"[bench:cost] {message}\n")
    sys.stderr.flush()


def count(full: int) -> int:
    return max(5, int(full * SCALE))


def summarize(samples: list[float]) -> dict[str, Any]:
    ordered = sorted(samples)
    return {"n": len(ordered), "medianMs": statistics.median(ordered),
            "p95Ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]}


class CpuCgroup:
    """A cpuacct cgroup (v1) or a plain v2 cgroup, read in CPU-milliseconds."""

    def __init__(self, name: str) -> None:
        v1 = "/sys/fs/cgroup/cpuacct"
        if os.path.isdir(v1):
            self.path, self.v2 = os.path.join(v1, name), False
        elif os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
            self.path, self.v2 = os.path.join("/sys/fs/cgroup", name), True
        else:
            raise SystemExit("bench: no cpuacct cgroup (v1) and no cgroup v2: cannot measure CPU "
                             "of a process tree here.")
        os.mkdir(self.path)

    @property
    def procs(self) -> str:
        return os.path.join(self.path, "cgroup.procs")

    def join(self) -> None:
        with open(self.procs, "w") as handle:
            handle.write(str(os.getpid()))

    def cpu_ms(self) -> float:
        if self.v2:
            with open(os.path.join(self.path, "cpu.stat")) as handle:
                for line in handle:
                    key, value = line.split()
                    if key == "usage_usec":
                        return int(value) / 1000
            raise OSError("cpu.stat has no usage_usec")
        with open(os.path.join(self.path, "cpuacct.usage")) as handle:
            return int(handle.read()) / 1e6

    def remove(self) -> None:
        for _ in range(100):
            try:
                os.rmdir(self.path)
                return
            except OSError:
                time.sleep(0.05)


_serial = [0]


def cgroup(label: str) -> CpuCgroup:
    _serial[0] += 1
    return CpuCgroup(f"bench-{os.getpid()}-{_serial[0]}-{label}")


def uss_kib(pid: int) -> Optional[int]:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            fields = {line.split(":")[0]: int(line.split()[1]) for line in handle if line.count(":") == 1 and line.split()[1].isdigit()}
        return fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    except OSError:
        return None


def rss_kib(pid: int) -> Optional[int]:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(value) for value in handle.read().split()]
    except OSError:
        return []


# ---------------------------------------------------------------- the runtime

MPL_CACHE = os.path.join(RUNTIME_IMAGE, ".matplotlib-cache")


def prepare_matplotlib_cache(python: str) -> None:
    """Matplotlib's font cache, built once, as the image builds /opt/matplotlib.

    The runtime copies it into its own writable folder at init instead of
    scanning the fonts again; without it every init pays that scan.
    """
    if not os.path.isdir(MPL_CACHE):
        subprocess.run([python, "-c", "import matplotlib; matplotlib.use('Agg'); "
                        "import matplotlib.pyplot, matplotlib.font_manager"], check=True,
                       env={**os.environ, "MPLCONFIGDIR": MPL_CACHE})
        os.chmod(MPL_CACHE, 0o755)
        for name in os.listdir(MPL_CACHE):
            os.chmod(os.path.join(MPL_CACHE, name), 0o644)


def measure_runtime(profile: str, python: str) -> dict[str, Any]:
    api = RuntimeApi()
    group = cgroup(f"runtime-{profile}")
    uid = UID_BASE + (1 if profile == "lambda" else 0)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
           "AWS_LAMBDA_FUNCTION_NAME": "bench", "AWS_LAMBDA_RUNTIME_API": api.address,
           "PYTHONPATH": RUNTIME_IMAGE, "RUNTIME_LOGS": "0",
           "MPLCONFIGDIR": MPL_CACHE.replace(RUNTIME_IMAGE, "/var/task") if profile == "lambda"
           else MPL_CACHE}
    if profile == "lambda":
        command = [python, os.path.join(REPO, "local", "lambda-profile.py"), "--uid", str(uid),
                   "--task-root", RUNTIME_IMAGE, "--cpu-cgroup-procs", group.procs,
                   "--", python, "-m", "executor"]
        preexec: Optional[Callable[[], None]] = None
    else:
        env["EXECUTOR_SANDBOX_UID"] = str(uid)
        command = [python, "-m", "executor"]
        preexec = group.join
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=RUNTIME_IMAGE, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               preexec_fn=preexec)
    result: dict[str, Any] = {"profile": profile}
    try:
        health = api.invoke(b'{"action": "health"}', "health", timeout_s=180)
        api.wait_recycled("health", 60)
        result["initCpuMs"] = group.cpu_ms()
        result["initWallMs"] = (time.monotonic() - started) * 1000
        report = health.json()["health"]
        result["initMsReported"] = report.get("initMs")
        result["layers"] = {name: layer["state"] for name, layer in report["layers"].items()}
        for name, (script, value) in SCRIPTS.items():
            result[name] = _executions(api, group, script, value, count(150), name)
        result["memory"] = _memory(process.pid, profile)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        api.close()
        group.remove()
    return result


def _executions(api: RuntimeApi, group: CpuCgroup, script: str, value: Any, n: int,
                label: str) -> dict[str, Any]:
    event: dict[str, Any] = {"script": script}
    if value is not None:
        event["input"] = value
    body = json.dumps(event).encode()
    for warm in range(5):
        identifier = f"warm-{label}-{warm}"
        api.invoke(body, identifier, timeout_s=60)
        api.wait_recycled(identifier, 60)
    latencies = []
    before = group.cpu_ms()
    for index in range(n):
        identifier = f"{label}-{index}"
        started = time.perf_counter()
        answer = api.invoke(body, identifier, timeout_s=60)
        latencies.append((time.perf_counter() - started) * 1000)
        if not answer.json().get("ok"):
            raise SystemExit(f"bench: {label} failed: {answer.body[:300]!r}")
        # The environment is busy (and billed) until the runtime asks again.
        api.wait_recycled(identifier, 60)
    return {"cpuMsPerExecution": (group.cpu_ms() - before) / n, "latency": summarize(latencies)}


def _memory(runtime_pid: int, profile: str) -> dict[str, Any]:
    pid = runtime_pid
    if profile == "lambda":
        # launcher -> namespace holder -> pid 1 -> runtime
        for _ in range(3):
            found = children(pid)
            if not found:
                return {}
            pid = found[0]
    template = children(pid)[0] if children(pid) else None
    worker = children(template)[0] if template and children(template) else None
    return {"runtimeRssKiB": rss_kib(pid),
            "templateUssKiB": uss_kib(template) if template else None,
            "parkedWorkerUssKiB": uss_kib(worker) if worker else None}


# ---------------------------------------------------------------- baselines

SPAWN_RUNNER = r'''
import json, sys
event = json.loads(sys.argv[1])
namespace = {"__name__": "__main__"}
exec(compile(event["script"], "<script>", "exec"), namespace)
main = namespace.get("main")
result = (main(event["input"]) if "input" in event else main()) if callable(main) else None
print(json.dumps({"ok": True, "result": result}))
'''


def measure_spawn(python: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (script, value) in SCRIPTS.items():
        event: dict[str, Any] = {"script": script}
        if value is not None:
            event["input"] = value
        group = cgroup(f"spawn-{name}")
        n = count(40)
        latencies = []
        before = group.cpu_ms()
        for _ in range(n):
            started = time.perf_counter()
            subprocess.run([python, "-c", SPAWN_RUNNER, json.dumps(event)], check=True,
                           capture_output=True, preexec_fn=group.join)
            latencies.append((time.perf_counter() - started) * 1000)
        out[name] = {"cpuMsPerExecution": (group.cpu_ms() - before) / n,
                     "latency": summarize(latencies)}
        group.remove()
    return out


IN_PROCESS = r'''
import json, sys, time
import numpy, pandas, matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot
scripts = json.loads(sys.argv[1])
count = int(sys.argv[2])
out = {}
for name, (script, value) in scripts.items():
    def once():
        namespace = {"__name__": "__main__"}
        exec(compile(script, "<script>", "exec"), namespace)
        main = namespace["main"]
        return json.dumps(main(value) if value is not None else main())
    for _ in range(5):
        once()
    started = time.process_time()
    for _ in range(count):
        once()
    out[name] = {"cpuMsPerExecution": (time.process_time() - started) * 1000 / count}
print(json.dumps(out))
'''

FORK_FLOOR = r'''
import ctypes, json, os, sys, time
import numpy, pandas, matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot
procs, count = sys.argv[1], int(sys.argv[2])
with open(procs, "w") as handle:
    handle.write(str(os.getpid()))
usage = sys.argv[3]
def cpu():
    with open(usage) as handle:
        text = handle.read()
    if "usage_usec" in text:
        return int(text.split("usage_usec")[1].split()[0]) / 1000
    return int(text) / 1e6
libc = ctypes.PyDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
clone = {"x86_64": 56, "aarch64": 220}[os.uname().machine]
out = {}
for name in ("osFork", "rawClone"):
    before = cpu()
    for _ in range(count):
        pid = os.fork() if name == "osFork" else libc.syscall(clone, 17, 0, 0, 0, 0)
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
    out[name + "CpuMs"] = (cpu() - before) / count
print(json.dumps(out))
'''


def measure_in_process(python: str) -> dict[str, Any]:
    scripts = {name: [script, value] for name, (script, value) in SCRIPTS.items()}
    done = subprocess.run([python, "-c", IN_PROCESS, json.dumps(scripts), str(count(300))],
                          check=True, capture_output=True, text=True,
                          env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    return json.loads(done.stdout)


def measure_fork_floor(python: str) -> dict[str, Any]:
    group = cgroup("fork-floor")
    usage = os.path.join(group.path, "cpu.stat" if group.v2 else "cpuacct.usage")
    done = subprocess.run([python, "-c", FORK_FLOOR, group.procs, str(count(100)), usage],
                          check=True, capture_output=True, text=True,
                          env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    group.remove()
    return json.loads(done.stdout)


def main(out_path: str) -> None:
    if os.geteuid() != 0:
        raise SystemExit("bench: run as root: the cost phase creates cgroups and the lambda "
                         "profile's namespaces.")
    python = sys.executable
    prepare_matplotlib_cache(python)
    result: dict[str, Any] = {"python": python}
    log("runtime, lambda profile")
    result["lambda"] = measure_runtime("lambda", python)
    log("runtime, root profile")
    result["root"] = measure_runtime("root", python)
    log("baseline: a fresh python3 per request")
    result["spawn"] = measure_spawn(python)
    log("baseline: in-process exec()")
    result["inProcess"] = measure_in_process(python)
    log("fork floor")
    result["forkFloor"] = measure_fork_floor(python)
    with open(out_path, "w") as handle:
        json.dump(result, handle, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
