"""Shared helpers: engines with test limits, optional packages, leftover checks."""

from __future__ import annotations

import importlib
import itertools
import os
import time
import unittest
from typing import Any, Callable, Optional

from executor.engine import Engine
from executor.limits import Limits

IN_CI = os.environ.get("CI", "").lower() == "true"
ROOT = os.geteuid() == 0
# Each engine created by the tests gets its own uid when the suite runs as
# root, like the local server gives each runtime its own. A dedicated uid's
# processes are all killed at recycle, so the uids come from a range no other
# user of this machine should be using, offset by pid so that parallel runs
# of the suite do not share one.
_uids = itertools.count(3_000_000 + (os.getpid() % 100_000) * 32)


def free_uid() -> int:
    """The next test uid that no running process has."""
    while True:
        uid = next(_uids)
        if not processes(lambda pid, ppid, owner: owner == uid):
            return uid


def has_module(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def requires(*modules: str) -> Callable[[Any], Any]:
    """Skip where a module is missing, except in CI, where missing means failure."""
    missing = [name for name in modules if not has_module(name)]
    if not missing:
        return lambda target: target
    if IN_CI:
        def fail(target: Any) -> Any:
            def test(self: unittest.TestCase) -> None:
                self.fail(f"CI=true but {', '.join(missing)} cannot be imported; "
                          "install python3-numpy, python3-pandas, python3-matplotlib "
                          "and python3-seccomp")
            if isinstance(target, type):
                return type(target.__name__, (unittest.TestCase,), {"test_requirements": test})
            return test
        return fail
    return unittest.skip(f"needs {', '.join(missing)}")


def make_engine(**overrides: Any) -> Engine:
    environ = {f"EXECUTOR_{key.upper()}": str(value) for key, value in overrides.items()}
    if ROOT and "EXECUTOR_SANDBOX_UID" not in environ:
        environ["EXECUTOR_SANDBOX_UID"] = str(free_uid())
    return Engine(Limits.from_env(environ))


def run(engine: Engine, script: str, request_id: str = "test", **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"script": script}
    event.update(fields)
    response = engine.execute(event, request_id)
    engine.recycle()
    return response


def processes(predicate: Callable[[int, int, Optional[int]], bool]) -> list[int]:
    """pids whose (pid, ppid, real uid) match predicate; zombies excluded."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                raw = handle.read()
            fields = raw[raw.rfind(b")") + 2:].split()
            if fields[0] == b"Z":
                continue
            uid = None
            with open(f"/proc/{name}/status", "rb") as handle:
                for line in handle:
                    if line.startswith(b"Uid:"):
                        uid = int(line.split()[1])
                        break
        except (OSError, IndexError, ValueError):
            continue
        if predicate(int(name), int(fields[1]), uid):
            found.append(int(name))
    return found


def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    """Poll a condition; generous timeout, used only to wait, never to measure."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def descendants_of(pid: int) -> list[int]:
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as handle:
                    raw = handle.read()
                fields = raw[raw.rfind(b")") + 2:].split()
                if fields[0] != b"Z":
                    table[int(name)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in table.items():
            if ppid == parent:
                found.append(child)
                frontier.append(child)
    return found
