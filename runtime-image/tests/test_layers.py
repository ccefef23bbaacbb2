"""Each isolation layer does what the health report says, including where optional layers are off."""

from __future__ import annotations

import _socket
import json
import os
import subprocess
import sys
import textwrap
import unittest
from typing import Any

from executor import sandbox

from .support import ROOT, descendants_of, free_uid, make_engine, requires, run

RUNTIME_IMAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PROBE_SCRIPT = """
import os, socket
def attempt(action):
    try:
        value = action()
        return value if isinstance(value, (str, int, bool, list)) or value is None else repr(value)
    except Exception as error:
        return type(error).__name__
def read(path):
    # Through a symlink, so that the audit hook (which looks at the path it
    # is given) does not answer first: this tests the kernel's answer.
    link = 'link-%d' % len(os.listdir('.'))
    os.symlink(path, link)
    with open(link, 'rb') as handle:
        return handle.read().decode('latin-1')
def main(parent):
    return {
        'parent_environ': attempt(lambda: read(f'/proc/{parent}/environ')),
        'parent_mem': attempt(lambda: read(f'/proc/{parent}/mem')[:1]),
        'own_environ_keys': sorted(os.environ),
        'own_proc_environ': attempt(lambda: read('/proc/self/environ')),
        'tcp': attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()),
        'write_usr': attempt(lambda: open('/usr/planted.pth', 'w').close()),
        'uid': os.getuid(),
    }
"""


def probe(engine: Any) -> dict[str, Any]:
    response = run(engine, PROBE_SCRIPT, input=engine.pid)
    assert response["ok"], response
    return response["result"]


class OptionalLayersOffTest(unittest.TestCase):
    """What Lambda looks like: no namespaces, no seccomp; the mandatory layers must still hold."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.engine = make_engine()
        cls.engine.use_namespaces = False
        cls.engine.seccomp_program = None
        cls.engine.recycle()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.engine.close()

    def test_parent_environment_and_memory_are_closed(self) -> None:
        result = probe(self.engine)
        self.assertIn(result["parent_environ"], ("PermissionError",))
        self.assertIn(result["parent_mem"], ("PermissionError",))
        self.assertFalse([key for key in result["own_environ_keys"] if key.startswith("AWS")])
        self.assertNotIn("AWS_", result["own_proc_environ"])

    def test_audit_hook_still_refuses_the_network(self) -> None:
        response = run(self.engine, "import socket\nsocket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n")
        self.assertEqual(response["errorType"], "PolicyViolation", response)

    def test_files_outside_the_workdir_are_not_writable(self) -> None:
        if not ROOT:
            self.skipTest("only a root runtime can give workers another uid")
        self.assertEqual(probe(self.engine)["write_usr"], "PermissionError")

    def test_reading_other_processes_proc_is_refused(self) -> None:
        response = run(self.engine, "open('/proc/1/environ').read()\n")
        self.assertEqual(response["errorType"], "PolicyViolation", response)
        self.assertIn("/proc/1", response["error"])

    def test_leftovers_are_cleaned_without_namespaces(self) -> None:
        response = run(self.engine, (
            "import os, time\n"
            "open('/tmp/planted-by-script', 'w').write('x')\n"
            "if os.fork() == 0:\n"
            "    os.setsid()\n"
            "    time.sleep(3600)\n"
            "def main():\n    return os.getcwd()\n"))
        self.assertTrue(response["ok"], response)
        self.assertFalse(os.path.exists("/tmp/planted-by-script"))
        self.assertFalse(os.path.exists(response["result"]))
        parked = self.engine._worker
        assert parked is not None
        # Besides the parked worker, only the template that forks the next one may be there.
        template = self.engine._template
        expected = {parked.pid} | ({template.pid} if template is not None else set())
        self.assertEqual([pid for pid in descendants_of(os.getpid()) if pid not in expected], [])


class AllLayersTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.engine = make_engine()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.engine.close()

    def test_report_matches_what_the_worker_experiences(self) -> None:
        layers = self.engine.health()["layers"]
        result = probe(self.engine)
        if layers["seccomp"]["active"] or layers["namespaces"]["active"]:
            self.assertIn(result["tcp"], ("PermissionError", "SandboxPolicyError"))
        if layers["namespaces"]["active"]:
            self.assertEqual(result["write_usr"], "OSError")  # EROFS: read-only root
            # The runtime is not even visible from inside the pid namespace.
            self.assertIn(result["parent_environ"], ("FileNotFoundError", "SandboxPolicyError"))
        self.assertEqual(layers["unprivileged_uid"]["active"], ROOT)
        if ROOT:
            self.assertNotEqual(result["uid"], 0)

    def test_seccomp_filter_denies_on_its_own(self) -> None:
        """The compiled filter, loaded in a plain child without the audit hook."""
        program = self.engine.seccomp_program
        if program is None:
            self.skipTest("seccomp is not available on this host")
        parent = os.getpid()
        read_fd, write_fd = os.pipe()
        child = os.fork()
        if child == 0:
            outcome = {}
            try:
                sandbox.load_seccomp(program)
                for name, action in (
                    ("inet", lambda: _socket.socket(2, 1)),
                    ("inet6", lambda: _socket.socket(10, 2)),
                    ("unix", lambda: _socket.socket(1, 1).close()),
                    ("kill_parent", lambda: os.kill(parent, 0)),
                    ("kill_all", lambda: os.kill(-1, 0)),
                    ("unshare", lambda: sandbox._check(sandbox._unshare(sandbox.CLONE_NEWUSER),
                                                       "unshare")),
                ):
                    try:
                        action()
                        outcome[name] = "allowed"
                    except (OSError, sandbox.SandboxError) as error:
                        outcome[name] = getattr(error, "errno", None) or str(error)
                os.write(write_fd, json.dumps(outcome).encode())
            finally:
                os._exit(0)
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as source:
            outcome = json.loads(source.read() or b"{}")
        os.waitpid(child, 0)
        self.assertEqual(outcome["inet"], 13)
        self.assertEqual(outcome["inet6"], 13)
        self.assertEqual(outcome["unix"], "allowed")
        self.assertEqual(outcome["kill_parent"], 1)
        self.assertEqual(outcome["kill_all"], 1)
        self.assertIn("errno 1", outcome["unshare"])


@requires("seccomp")
class SeccompInstalledTest(unittest.TestCase):
    def test_seccomp_layer_is_active_where_the_bindings_exist(self) -> None:
        engine = make_engine(preloads="")
        try:
            self.assertTrue(engine.health()["layers"]["seccomp"]["active"],
                            engine.health()["layers"]["seccomp"])
        finally:
            engine.close()


CHILD_PROGRAM = textwrap.dedent("""
    import json, os, sys
    sys.path.insert(0, sys.argv[1])
    from executor.engine import Engine
    from executor.limits import Limits
    engine = Engine(Limits.from_env({"EXECUTOR_PRELOADS": ""}))
    if sys.argv[2] == "off":
        engine.use_namespaces = False
        engine.seccomp_program = None
        engine.recycle()
    script = sys.argv[3]
    response = engine.execute({"script": script, "input": os.getpid()}, "child")
    report = {"response": response, "layers": engine.health()["layers"]}
    engine.close()
    print(json.dumps(report))
""")


@unittest.skipUnless(ROOT, "needs root to start a runtime under another uid")
class SameUidRuntimeTest(unittest.TestCase):
    """A runtime that is not root (a laptop, Lambda): workers share its uid."""

    def run_child(self, layers: str) -> dict[str, Any]:
        uid = free_uid()
        result = subprocess.run(
            [sys.executable, "-c", CHILD_PROGRAM, RUNTIME_IMAGE, layers, PROBE_SCRIPT],
            user=uid, group=uid, extra_groups=[], capture_output=True, timeout=120, cwd="/",
            env={"PATH": "/usr/bin:/bin", "AWS_SESSION_TOKEN": "same-uid-session-token-123456"})
        self.assertEqual(result.returncode, 0, result.stderr.decode()[-3000:])
        return json.loads(result.stdout.decode().strip().splitlines()[-1])

    def check(self, report: dict[str, Any]) -> None:
        response = report["response"]
        self.assertTrue(response["ok"], response)
        result = response["result"]
        self.assertTrue(report["layers"]["non_dumpable_parent"]["active"],
                        report["layers"]["non_dumpable_parent"])
        self.assertFalse(report["layers"]["unprivileged_uid"]["active"])
        self.assertNotIn("same-uid-session-token", json.dumps(result))
        self.assertIn(result["parent_environ"],
                      ("PermissionError", "FileNotFoundError", "SandboxPolicyError"))

    def test_non_dumpable_parent_without_namespaces(self) -> None:
        report = self.run_child("off")
        self.check(report)
        # No pid namespace here: the runtime is visible, and only its
        # non-dumpable flag (not the audit hook) closes its environ.
        self.assertEqual(report["response"]["result"]["parent_environ"], "PermissionError")

    def test_same_uid_with_whatever_layers_the_host_allows(self) -> None:
        self.check(self.run_child("probe"))


if __name__ == "__main__":
    unittest.main()
