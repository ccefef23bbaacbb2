"""Each isolation layer: what the health report says, per profile, and what a worker finds.

One verdict per layer (active, off, n/a) in each of the three profiles, and
for the active ones a look from inside a worker (and from outside, as root)
that the layer does what the report claims. The exploit corpus attacks the
same layers; this file pins the claims themselves.
"""

from __future__ import annotations

import _socket
import json
import os
import subprocess
import sys
import textwrap
import unittest
from typing import Any

from executor import seccomp_filter, syscalls
from executor.layers import LAYER_NAMES

from .exploits.harness import HostProcess, fresh_host
from .support import ROOT, free_uid, make_engine, requires, run

RUNTIME_IMAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

LOOK_AROUND = """
import os, socket
def attempt(action):
    try:
        value = action()
        return value if isinstance(value, (str, int, bool, list)) or value is None else repr(value)
    except Exception as error:
        return type(error).__name__
def status(name):
    with open('/proc/self/status') as handle:
        return [line.split()[1] for line in handle if line.startswith(name + ':')][0]
def main(runtime):
    return {
        'uid': os.getuid(),
        'capEff': status('CapEff'),
        'capPrm': status('CapPrm'),
        'runtimeEnviron': attempt(lambda: open('/proc/%d/environ' % runtime, 'rb').read(1)),
        'tcp': attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()),
        'writeUsr': attempt(lambda: open('/usr/planted.pth', 'w').close()),
        'sys': attempt(lambda: sorted(os.listdir('/sys'))),
        'procOne': os.path.exists('/proc/1'),
        'oomScoreAdj': open('/proc/self/oom_score_adj').read().strip(),
        'environ': sorted(os.environ),
    }
"""


def look_around(engine: Any) -> dict[str, Any]:
    response = run(engine, LOOK_AROUND, input=engine.pid)
    assert response["ok"], response
    return response["result"]


def states(layers: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {name: layer["state"] for name, layer in layers.items()}


@unittest.skipUnless(ROOT, "the root profile needs a root runtime")
class RootProfileLayersTest(unittest.TestCase):
    """The local default as root: every layer this host allows."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.engine = make_engine()
        cls.layers = cls.engine.health()["layers"]

    @classmethod
    def tearDownClass(cls) -> None:
        cls.engine.close()

    def test_every_layer_has_a_verdict(self) -> None:
        self.assertEqual(list(self.layers), list(LAYER_NAMES))
        for name, layer in self.layers.items():
            self.assertIn(layer["state"], ("active", "off", "n/a"), name)
            self.assertEqual(layer["active"], layer["state"] == "active", name)
            self.assertTrue(layer["detail"].strip(), name)
        self.assertEqual(self.engine.health()["profile"], "root")

    def test_unprivileged_uid_without_capabilities(self) -> None:
        self.assertEqual(self.layers["unprivileged_uid"]["state"], "active")
        result = look_around(self.engine)
        self.assertEqual(result["uid"], self.engine.facts.worker_uid)
        self.assertNotEqual(result["uid"], 0)
        self.assertEqual(int(result["capEff"], 16), 0)
        self.assertEqual(int(result["capPrm"], 16), 0)
        # From outside too: the parked worker holds no capability at all.
        parked = self.engine._worker
        assert parked is not None
        with open(f"/proc/{parked.pid}/status") as handle:
            caps = {line.split(":")[0]: int(line.split()[1], 16)
                    for line in handle if line.startswith("Cap")}
        self.assertEqual((caps["CapEff"], caps["CapPrm"], caps["CapInh"], caps["CapAmb"]),
                         (0, 0, 0, 0))

    def test_namespaces_read_only_root_empty_sys_hidden_processes(self) -> None:
        self.assertEqual(self.layers["namespaces"]["state"], "active")
        result = look_around(self.engine)
        self.assertEqual(result["writeUsr"], "OSError")  # EROFS
        self.assertEqual(result["sys"], [])
        self.assertFalse(result["procOne"])

    def test_working_directory_is_size_limited(self) -> None:
        response = run(self.engine, (
            "def main():\n"
            "    written = 0\n"
            "    try:\n"
            "        for index in range(100):\n"
            "            with open('chunk-%d' % index, 'wb') as handle:\n"
            "                handle.write(b'x' * (1 << 20))\n"
            "            written += 1\n"
            "    except OSError as error:\n"
            "        return [written, error.errno]\n"
            "    return [written, None]\n"))
        self.assertTrue(response["ok"], response)
        written, errno_value = response["result"]
        self.assertEqual(errno_value, 28)  # ENOSPC: the scratch tmpfs is full
        self.assertLessEqual(written, 64)  # the scratch tmpfs is 64 MiB

    def test_network_isolation_and_seccomp(self) -> None:
        self.assertEqual(self.layers["network_isolation"]["state"], "active")
        self.assertEqual(self.layers["seccomp"]["state"], "active")

    def test_execution_memory_is_one_budget_for_all_processes(self) -> None:
        self.assertEqual(self.layers["execution_memory"]["state"], "active")
        # Three processes of 120 MiB each: within every process's RLIMIT_AS,
        # far over the execution's budget together.
        response = run(self.engine, (
            "import os, time\n"
            "def main():\n"
            "    children = []\n"
            "    for _ in range(3):\n"
            "        pid = os.fork()\n"
            "        if pid == 0:\n"
            "            block = bytearray(120 << 20)\n"
            "            for offset in range(0, len(block), 4096):\n"
            "                block[offset] = 1\n"
            "            time.sleep(30)\n"
            "            os._exit(0)\n"
            "        children.append(pid)\n"
            "    time.sleep(5)\n"
            "    return 'survived'\n"), timeoutMs=20000)
        self.assertEqual(response["errorType"], "MemoryLimit", response)
        self.assertIn("budget", response["error"])
        self.assertEqual(run(self.engine, "def main():\n    return 7\n")["result"], 7)

    def test_runtime_guard_is_not_applicable(self) -> None:
        self.assertEqual(self.layers["runtime_guard"]["state"], "n/a")

    def test_non_dumpable_parent(self) -> None:
        self.assertEqual(self.layers["non_dumpable_parent"]["state"], "active")
        result = look_around(self.engine)
        self.assertIn(result["runtimeEnviron"], ("PermissionError", "SandboxPolicyError",
                                                  "FileNotFoundError"))

    def test_scrubbed_environment(self) -> None:
        self.assertEqual(look_around(self.engine)["environ"],
                         sorted(["PATH", "LANG", "LC_ALL", "MPLBACKEND", "PYTHONDONTWRITEBYTECODE",
                                 "PYTHONUNBUFFERED", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                 "MKL_NUM_THREADS", "HOME", "TMPDIR", "MPLCONFIGDIR"]))

    def test_oom_first(self) -> None:
        self.assertEqual(look_around(self.engine)["oomScoreAdj"], "1000")

    @requires("seccomp")
    def test_seccomp_filter_denies_on_its_own(self) -> None:
        """The compiled filter, loaded in a plain child without the audit hook."""
        program = seccomp_filter.compile_program()
        read_fd, write_fd = os.pipe()
        child = os.fork()
        if child == 0:
            outcome = {}
            try:
                seccomp_filter.load(program)
                for name, action in (
                    ("inet", lambda: _socket.socket(2, 1)),
                    ("inet6", lambda: _socket.socket(10, 2)),
                    ("unix", lambda: _socket.socket(1, 1).close()),
                    ("unshare", lambda: syscalls.unshare(syscalls.CLONE_NEWUSER, "unshare")),
                    ("mount", lambda: syscalls.mount("tmpfs", "/mnt", "tmpfs", 0, None, "mount")),
                ):
                    try:
                        action()
                        outcome[name] = "allowed"
                    except OSError as error:
                        outcome[name] = error.errno
                os.write(write_fd, json.dumps(outcome).encode())
            finally:
                os._exit(0)
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as source:
            outcome = json.loads(source.read() or b"{}")
        os.waitpid(child, 0)
        self.assertEqual(outcome, {"inet": 13, "inet6": 13, "unix": "allowed", "unshare": 1,
                                   "mount": 1})


@unittest.skipUnless(ROOT, "the launcher of the lambda profile needs root")
class LambdaProfileLayersTest(unittest.TestCase):
    """One uid, no capabilities, namespaces or seccomp: what Lambda gives (local/lambda-profile.py)."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.host: HostProcess = fresh_host("layers-lambda", mode="lambda")
        assert cls.host.health_report is not None
        cls.health = cls.host.health_report

    @classmethod
    def tearDownClass(cls) -> None:
        cls.host.close()

    def test_profile_and_verdicts(self) -> None:
        self.assertEqual(self.health["profile"], "lambda")
        self.assertEqual(states(self.health["layers"]), {
            "worker_process": "active", "template": "active", "containment": "active",
            "unprivileged_uid": "off", "namespaces": "off", "network_isolation": "off",
            "rlimits": "active", "execution_memory": "active", "non_dumpable_parent": "active",
            "seccomp": "off", "runtime_guard": "active", "audit_hook": "active",
            "scrubbed_environment": "active", "fresh_workdir": "active", "redaction": "active",
        })
        self.assertIn("PR_SET_NO_NEW_PRIVS", self.health["layers"]["seccomp"]["detail"])
        self.assertIn(f"uid {self.host.uid}", self.health["layers"]["containment"]["detail"])

    def test_worker_finds_what_the_report_says(self) -> None:
        response = self.host.run({"script": LOOK_AROUND, "input": 1}).response
        self.assertTrue(response["ok"], response)
        result = response["result"]
        self.assertEqual(result["uid"], self.host.uid)
        self.assertEqual(int(result["capEff"], 16), 0)
        self.assertEqual(result["oomScoreAdj"], "1000")
        self.assertEqual(result["writeUsr"], "OSError")  # EROFS, as in Lambda


@unittest.skipUnless(ROOT, "needs root to start a runtime under another uid")
class SharedProfileLayersTest(unittest.TestCase):
    """A runtime that is neither root nor in Lambda (a laptop): nothing broad is done to its uid."""

    PROGRAM = textwrap.dedent("""
        import json, os, sys
        sys.path.insert(0, sys.argv[1])
        from executor.engine import Engine
        from executor.limits import Limits
        engine = Engine(Limits.from_env({"EXECUTOR_PRELOADS": ""}))
        response = engine.execute({"script": sys.argv[2], "input": os.getpid()}, "child")
        print(json.dumps({"health": engine.health(), "response": response}))
        engine.close()
    """)

    def test_profile_and_verdicts(self) -> None:
        uid = free_uid()
        result = subprocess.run(
            [sys.executable, "-c", self.PROGRAM, RUNTIME_IMAGE, LOOK_AROUND],
            user=uid, group=uid, extra_groups=[], capture_output=True, timeout=120, cwd="/",
            env={"PATH": "/usr/bin:/bin", "AWS_SESSION_TOKEN": "same-uid-session-token-123456"})
        self.assertEqual(result.returncode, 0, result.stderr.decode()[-3000:])
        report = json.loads(result.stdout.decode().strip().splitlines()[-1])
        health, response = report["health"], report["response"]
        self.assertEqual(health["profile"], "shared")
        verdicts = states(health["layers"])
        for name in ("worker_process", "template", "containment", "rlimits", "non_dumpable_parent",
                     "runtime_guard", "audit_hook", "scrubbed_environment", "fresh_workdir",
                     "redaction"):
            self.assertEqual(verdicts[name], "active", (name, health["layers"][name]))
        for name in ("unprivileged_uid", "namespaces"):
            self.assertEqual(verdicts[name], "off", name)
        self.assertNotIn(f"uid {uid}", health["layers"]["containment"]["detail"])
        self.assertTrue(response["ok"], response)
        self.assertNotIn("same-uid-session-token", json.dumps(response))
        self.assertEqual(response["result"]["runtimeEnviron"], "SandboxPolicyError")


if __name__ == "__main__":
    unittest.main()
