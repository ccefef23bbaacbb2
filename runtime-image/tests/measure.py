"""Measure the engine: per-execution latency, recycle time and memory.

Run as the runtime would (root with a sandbox uid, or an ordinary user):
    cd runtime-image && /usr/bin/python3 -m tests.measure [--runs 200] [--json]

Latency is the wall time of Engine.execute() with a parked, ready worker
(recycle() runs between executions and is timed separately, as the runtime
loop does it after posting each response). Memory: the parent's RSS, and the
USS (private clean + private dirty pages, /proc/<pid>/smaps_rollup) of each
process of the parked worker's tree.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Imported after the line above, so that the script runs from anywhere.
from executor.engine import Engine
from executor.limits import Limits

SCRIPTS = {
    "trivial": "def main():\n    return 1\n",
    "pandas": ("import pandas as pd\n"
               "def main(rows):\n"
               "    df = pd.DataFrame(rows)\n"
               "    return df.groupby('k')['v'].sum().to_dict()\n"),
}
PANDAS_INPUT = [{"k": "a", "v": 1}, {"k": "b", "v": 2}, {"k": "a", "v": 3}]


def kib_field(path: str, names: tuple[str, ...]) -> int:
    total = 0
    with open(path) as handle:
        for line in handle:
            key, _, rest = line.partition(":")
            if key in names:
                total += int(rest.split()[0])
    return total


def tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as handle:
                    raw = handle.read()
                ppid = int(raw[raw.rfind(b")") + 2:].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(name))
    found = [pid]
    index = 0
    while index < len(found):
        found.extend(children.get(found[index], []))
        index += 1
    return found


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure(runs: int) -> dict[str, Any]:
    environ = dict(os.environ)
    if os.geteuid() == 0:
        environ.setdefault("EXECUTOR_SANDBOX_UID", str(4_000_000 + os.getpid() % 100_000))
    started = time.perf_counter()
    engine = Engine(Limits.from_env(environ))
    report: dict[str, Any] = {
        "python": platform.python_version(),
        "executable": sys.executable,
        "initMs": round((time.perf_counter() - started) * 1000, 1),
        "layers": {name: layer["active"] for name, layer in engine.health()["layers"].items()},
        "preloads": {name: entry.get("version") for name, entry in engine.health()["preloads"].items()
                     if entry.get("loaded")},
    }
    try:
        for label, script in SCRIPTS.items():
            if label == "pandas" and "pandas" not in report["preloads"]:
                continue
            event: dict[str, Any] = {"script": script}
            if label == "pandas":
                event["input"] = PANDAS_INPUT
            execute_ms, recycle_ms, inside_ms = [], [], []
            for _ in range(runs):
                begin = time.perf_counter()
                response = engine.execute(event, "measure")
                middle = time.perf_counter()
                engine.recycle()
                end = time.perf_counter()
                if not response["ok"]:
                    raise SystemExit(f"{label} execution failed: {response}")
                execute_ms.append((middle - begin) * 1000)
                recycle_ms.append((end - middle) * 1000)
                inside_ms.append(response["durationMs"])
            report[label] = {
                "runs": runs,
                "executeMedianMs": round(statistics.median(execute_ms), 3),
                "executeP90Ms": round(percentile(execute_ms, 0.9), 3),
                "durationMsMedian": statistics.median(inside_ms),
                "recycleMedianMs": round(statistics.median(recycle_ms), 1),
            }
        worker = engine._worker
        assert worker is not None
        report["parentRssKiB"] = kib_field("/proc/self/status", ("VmRSS",))
        report["parkedWorker"] = [
            {"pid": pid,
             "ussKiB": kib_field(f"/proc/{pid}/smaps_rollup", ("Private_Clean", "Private_Dirty")),
             "rssKiB": kib_field(f"/proc/{pid}/smaps_rollup", ("Rss",))}
            for pid in tree(worker.pid)
        ]
        report["parkedWorkerTotalUssKiB"] = sum(p["ussKiB"] for p in report["parkedWorker"])
    finally:
        engine.close()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    arguments = parser.parse_args()
    report = measure(arguments.runs)
    print(json.dumps(report, indent=None if arguments.json else 2))


if __name__ == "__main__":
    main()
