"""The engine driving real sandboxed workers: semantics, outputs, every errorType."""

from __future__ import annotations

import base64
import os
import signal
import time
import unittest
from typing import Any

from executor.engine import TemplateLost
from executor.layers import LAYER_NAMES
from executor.limits import Limits

from .support import ROOT, descendants_of, make_engine, processes, requires, run, wait_until


class EngineTestCase(unittest.TestCase):
    engine_options: dict[str, Any] = {}

    @classmethod
    def setUpClass(cls) -> None:
        cls.engine = make_engine(**cls.engine_options)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.engine.close()
        leftovers = [pid for pid in descendants_of(os.getpid())]
        assert not leftovers, f"processes left behind: {leftovers}"

    def run_script(self, script: str, **fields: Any) -> dict[str, Any]:
        response = run(self.engine, script, **fields)
        self.assertEqual(set(response), {"ok", "result", "stdout", "stderr", "truncated", "error",
                                         "errorType", "traceback", "artifacts", "durationMs",
                                         "requestId"})
        return response

    def assert_error(self, response: dict[str, Any], error_type: str) -> None:
        self.assertFalse(response["ok"], response)
        self.assertEqual(response["errorType"], error_type, response)
        self.assertIsInstance(response["error"], str)
        self.assertIsNone(response["result"])


class ScriptSemanticsTest(EngineTestCase):
    def test_main_result_and_output(self) -> None:
        response = self.run_script("print('hello')\ndef main():\n    return {'answer': 42}\n")
        self.assertTrue(response["ok"], response)
        self.assertEqual(response["result"], {"answer": 42})
        self.assertEqual(response["stdout"], "hello\n")
        self.assertIsNone(response["error"])
        self.assertEqual(response["requestId"], "test")

    def test_input_is_passed_when_main_takes_one_argument(self) -> None:
        response = self.run_script("def main(data):\n    return data['n'] * 2\n",
                                   input={"n": 21})
        self.assertEqual(response["result"], 42)

    def test_main_without_parameters_ignores_input(self) -> None:
        self.assertEqual(self.run_script("def main():\n    return 'x'\n", input=5)["result"], "x")

    def test_missing_input_is_none(self) -> None:
        self.assertEqual(self.run_script("def main(v):\n    return v is None\n")["result"], True)

    def test_async_main_is_awaited(self) -> None:
        response = self.run_script("import asyncio\nasync def main(v):\n"
                                   "    await asyncio.sleep(0)\n    return v + 1\n", input=1)
        self.assertEqual(response["result"], 2)

    def test_main_under_a_main_guard_runs_once_with_the_input(self) -> None:
        script = ("calls = []\n"
                  "def main(data=None):\n"
                  "    calls.append(data)\n"
                  "    print('main ran with', data)\n"
                  "    return len(calls)\n"
                  "if __name__ == '__main__':\n"
                  "    main({'sample': True})\n")
        response = self.run_script(script, input=7)
        self.assertTrue(response["ok"], response)
        self.assertEqual(response["result"], 1)
        self.assertEqual(response["stdout"], "main ran with 7\n")

    def test_async_main_under_a_guard_runs_once(self) -> None:
        script = ("import asyncio, sys\n"
                  "ran = 0\n"
                  "async def main():\n"
                  "    global ran\n"
                  "    ran += 1\n"
                  "    return ran\n"
                  "if '__main__' == __name__:\n"
                  "    sys.exit(asyncio.run(main()))\n")
        response = self.run_script(script)
        self.assertTrue(response["ok"], response)
        self.assertEqual(response["result"], 1)

    def test_a_guard_without_main_still_runs(self) -> None:
        script = ("def helper():\n    return 6 * 7\n"
                  "if __name__ == \"__main__\":\n    print(helper())\n"
                  "print(__name__)\n")
        response = self.run_script(script)
        self.assertTrue(response["ok"], response)
        self.assertEqual(response["stdout"], "42\n__main__\n")
        self.assertIsNone(response["result"])

    def test_an_error_under_a_guard_keeps_its_line_number(self) -> None:
        script = "def main():\n    return 1\nif __name__ == '__main__':\n    pass\nx = 1 / 0\n"
        response = self.run_script(script)
        self.assert_error(response, "ScriptError")
        self.assertIn('line 5', response["traceback"])

    def test_script_without_main_runs_for_output(self) -> None:
        response = self.run_script("import sys\nprint('out')\nprint('err', file=sys.stderr)\n")
        self.assertTrue(response["ok"])
        self.assertIsNone(response["result"])
        self.assertEqual((response["stdout"], response["stderr"]), ("out\n", "err\n"))

    def test_script_runs_as_main_module(self) -> None:
        response = self.run_script(
            "import dataclasses, sys\n@dataclasses.dataclass\nclass P:\n    x: int\n"
            "def main():\n    return [__name__, P(1).x, sys.argv[0], __file__ if '__file__' in "
            "globals() else None]\n")
        self.assertEqual(response["result"], ["__main__", 1, "<script>", None])

    def test_request_id_of_the_invoker_wins(self) -> None:
        response = self.engine.execute({"script": "pass", "requestId": "inv-1"}, "lambda-1")
        self.engine.recycle()
        self.assertEqual(response["requestId"], "inv-1")

    def test_health_event(self) -> None:
        response = self.engine.execute({"action": "health"}, "h")
        self.assertEqual(response["ok"], True)
        health = response["health"]
        self.assertEqual(list(health["layers"]), list(LAYER_NAMES))
        for layer in health["layers"].values():
            self.assertIsInstance(layer["active"], bool)
            self.assertTrue(layer["detail"])
        self.assertEqual(health["limits"]["defaultTimeoutMs"], Limits().default_timeout_ms)
        self.assertIsInstance(health["initMs"], int)

    def test_non_daemon_threads_and_atexit_do_not_delay_the_answer(self) -> None:
        response = self.run_script(
            "import atexit, threading, time\n"
            "atexit.register(lambda: time.sleep(3600))\n"
            "threading.Thread(target=time.sleep, args=(3600,)).start()\n"
            "def main():\n    return 'done'\n", timeoutMs=20000)
        self.assertTrue(response["ok"], response)
        self.assertEqual(response["result"], "done")

    def test_closed_standard_streams(self) -> None:
        response = self.run_script("import os\nprint('before', flush=True)\n"
                                   "os.close(0); os.close(1); os.close(2)\n"
                                   "def main():\n    return 7\n")
        self.assertEqual(response["result"], 7)
        self.assertEqual(response["stdout"], "before\n")

    def test_stdin_is_empty(self) -> None:
        response = self.run_script("import sys\ndef main():\n    return [sys.stdin.read(), input.__name__]\n")
        self.assertEqual(response["result"], ["", "input"])
        response = self.run_script("input()\n")
        self.assert_error(response, "ScriptError")
        self.assertIn("EOFError", response["error"])

    def test_monkeypatched_json_and_builtins_do_not_corrupt_the_result(self) -> None:
        response = self.run_script(
            "import json, builtins\n"
            "json.dumps = lambda *a, **k: '\"hijacked\"'\n"
            "json.JSONEncoder.encode = lambda self, o: '\"hijacked\"'\n"
            "builtins.repr = lambda o: 'hijacked'\n"
            "builtins.str = bytes\n"
            "def main():\n    return {'a': [1.5, 'x']}\n")
        self.assertEqual(response["result"], {"a": [1.5, "x"]})

    def test_worker_runs_unprivileged(self) -> None:
        response = self.run_script("import os\ndef main():\n    return [os.getuid(), os.geteuid()]\n")
        self.assertTrue(response["ok"], response)
        self.assertNotIn(0, response["result"])


class OutputCaptureTest(EngineTestCase):
    engine_options = {"max_stdout_bytes": 1000, "max_stderr_bytes": 500}

    def test_streams_are_capped_with_flags(self) -> None:
        response = self.run_script("import sys\nsys.stdout.write('a' * 5000)\n"
                                   "sys.stderr.write('b' * 400)\n")
        self.assertTrue(response["ok"])
        self.assertEqual(response["stdout"], "a" * 1000)
        self.assertEqual(response["stderr"], "b" * 400)
        self.assertEqual(response["truncated"], {"stdout": True, "stderr": False, "artifacts": False})

    def test_flood_is_drained_not_deadlocked(self) -> None:
        response = self.run_script("import sys\nfor _ in range(2000):\n"
                                   "    sys.stdout.write('x' * 10000)\n"
                                   "def main():\n    return 'survived'\n", timeoutMs=20000)
        self.assertEqual(response["result"], "survived")
        self.assertTrue(response["truncated"]["stdout"])

    def test_ansi_escapes_are_stripped_and_invalid_utf8_replaced(self) -> None:
        response = self.run_script(
            "import os, sys\nprint('\\x1b[31mred\\x1b[0m \\x1b]0;title\\x07done')\n"
            "sys.stdout.flush()\nos.write(1, b'bad:\\xff\\xfe\\n')\n")
        self.assertEqual(response["stdout"], "red done\nbad:\ufffd\ufffd\n")

    def test_output_written_by_raw_fd_and_by_print_keeps_order(self) -> None:
        response = self.run_script("import os\nprint('1', flush=True)\nos.write(1, b'2\\n')\n"
                                   "print('3')\n")
        self.assertEqual(response["stdout"], "1\n2\n3\n")


class ErrorTypesTest(EngineTestCase):
    engine_options = {"max_result_bytes": 2000, "max_file_bytes": 100000}

    def test_a_refusal_wrapped_by_a_library_is_still_a_policy_violation(self) -> None:
        for script in ("import urllib.request\nurllib.request.urlopen('http://127.0.0.1:9/')\n",
                       "import socket\ntry:\n    socket.socket(socket.AF_INET)\n"
                       "except Exception as e:\n    raise RuntimeError('no network') from e\n"):
            with self.subTest(script=script):
                response = self.run_script(script)
                self.assert_error(response, "PolicyViolation")
                self.assertIn("network", response["error"])

    def test_invalid_request(self) -> None:
        response = self.engine.execute({"script": "  "}, "r")
        self.assert_error(response, "InvalidRequest")
        self.assertEqual(response["error"], "'script' must not be empty")
        response = self.engine.execute([1], "r")
        self.assertEqual(response["error"], "Request body must be a JSON object")

    def test_request_too_large(self) -> None:
        response = self.engine.execute({"script": "x" * 70000}, "r")
        self.assert_error(response, "RequestTooLarge")

    def test_script_error_with_user_frames_only(self) -> None:
        response = self.run_script("import json\n\ndef helper(text):\n    return json.loads(text)\n"
                                   "\ndef main():\n    return helper('{oops')\n")
        self.assert_error(response, "ScriptError")
        self.assertTrue(response["error"].startswith("JSONDecodeError: "), response["error"])
        trace = response["traceback"]
        self.assertIn('File "<script>", line 7, in main', trace)
        self.assertIn('File "<script>", line 4, in helper', trace)
        self.assertIn("return json.loads(text)", trace)
        self.assertNotIn("decoder.py", trace)
        self.assertNotIn("executor", trace)

    def test_syntax_error_points_at_the_line(self) -> None:
        response = self.run_script("x = 1\ny = (\n")
        self.assert_error(response, "ScriptError")
        self.assertIn("SyntaxError", response["error"])
        self.assertIn('File "<script>", line 2', response["traceback"])

    def test_sys_exit_names_the_code(self) -> None:
        response = self.run_script("import sys\nsys.exit(3)\n")
        self.assert_error(response, "ScriptError")
        self.assertIn("sys.exit(3)", response["error"])

    def test_os_exit_names_the_status(self) -> None:
        response = self.run_script("import os\nprint('bye', flush=True)\nos._exit(4)\n")
        self.assert_error(response, "ScriptError")
        self.assertIn("exit status 4", response["error"])
        self.assertEqual(response["stdout"], "bye\n")

    def test_segfault_names_the_signal(self) -> None:
        response = self.run_script("import faulthandler\nfaulthandler._sigsegv()\n")
        self.assert_error(response, "ScriptError")
        self.assertIn("SIGSEGV", response["error"])

    def test_sigkill_names_the_signal(self) -> None:
        response = self.run_script("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
        self.assert_error(response, "ScriptError")
        self.assertIn("SIGKILL", response["error"])

    def test_timeout_on_sleep(self) -> None:
        response = self.run_script("import time\nprint('start', flush=True)\ntime.sleep(60)\n",
                                   timeoutMs=300)
        self.assert_error(response, "Timeout")
        self.assertEqual(response["error"], "Script exceeded the time limit of 300 ms")
        self.assertEqual(response["stdout"], "start\n")

    def test_timeout_on_busy_loop_and_signal_ignoring(self) -> None:
        response = self.run_script("import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                                   "while True:\n    pass\n", timeoutMs=300)
        self.assert_error(response, "Timeout")

    def test_lambda_deadline_clamps_the_timeout(self) -> None:
        deadline_ms = int(time.time() * 1000) + 1500
        response = self.engine.execute({"script": "import time\ntime.sleep(60)"}, "r",
                                       deadline_ms=deadline_ms)
        self.engine.recycle()
        self.assert_error(response, "Timeout")
        limit = int(response["error"].split()[-2])
        self.assertLess(limit, 1500)

    def test_memory_limit_bytearray(self) -> None:
        response = self.run_script("b = bytearray()\nwhile True:\n    b.extend(b'x' * (1 << 20))\n")
        self.assert_error(response, "MemoryLimit")
        self.assertIn("192 MiB", response["error"])

    def test_memory_limit_mmap(self) -> None:
        response = self.run_script("import mmap\nm = mmap.mmap(-1, 1 << 30)\n")
        self.assert_error(response, "MemoryLimit")

    def test_output_limit_on_large_file(self) -> None:
        response = self.run_script("with open('big.bin', 'wb') as f:\n"
                                   "    f.write(b'x' * 200000)\n")
        self.assert_error(response, "OutputLimit")
        self.assertIn("100000 bytes", response["error"])

    def test_result_not_serializable(self) -> None:
        response = self.run_script("def main():\n    return {1, 2}\n")
        self.assert_error(response, "ResultNotSerializable")
        self.assertEqual(response["error"], "Return value is not JSON-serializable: Object of "
                                            "type set is not JSON serializable")
        response = self.run_script("def main():\n    return float('nan')\n")
        self.assert_error(response, "ResultNotSerializable")

    def test_result_too_large(self) -> None:
        response = self.run_script("def main():\n    return 'x' * 5000\n")
        self.assert_error(response, "ResultTooLarge")
        self.assertIn("2000 bytes", response["error"])

    def test_policy_violation(self) -> None:
        for script in ("import socket\nsocket.socket(socket.AF_INET, socket.SOCK_STREAM)\n",
                       "import subprocess\nsubprocess.run(['true'])\n",
                       "import ctypes\nctypes.CDLL('libc.so.6')\n",
                       "import os\nos.system('true')\n"):
            with self.subTest(script):
                response = self.run_script(script)
                self.assert_error(response, "PolicyViolation")
                self.assertTrue(response["error"].startswith("The sandbox refused this: "))
                self.assertIn("SandboxPolicyError", response["traceback"])

    def test_internal_error_for_a_bad_upload_policy(self) -> None:
        response = self.engine.execute({"script": "pass", "artifactUpload": {"url": 5}}, "r")
        self.assert_error(response, "InternalError")

    def test_a_parked_worker_that_died_is_replaced_before_the_request(self) -> None:
        self.engine.recycle()
        parked = self.engine._worker
        assert parked is not None
        os.kill(parked.pid, signal.SIGKILL)
        self.assertTrue(wait_until(lambda: not os.path.exists(f"/proc/{parked.pid}")))
        response = self.engine.execute({"script": "def main():\n    return 1"}, "r")
        self.engine.recycle()
        self.assertTrue(response["ok"], response)
        self.assertEqual(response["result"], 1)


class ArtifactsInlineTest(EngineTestCase):
    engine_options = {"max_artifacts": 3, "max_artifact_bytes": 1000}

    def test_files_under_outputs_come_back_inline(self) -> None:
        response = self.run_script(
            "import os\nos.makedirs('outputs/sub', exist_ok=True)\n"
            "open('outputs/a.txt', 'w').write('alpha')\n"
            "open('outputs/sub/b.csv', 'w').write('x,y\\n1,2\\n')\n"
            "open('not-an-output.txt', 'w').write('no')\n")
        self.assertTrue(response["ok"], response)
        artifacts = {item["name"]: item for item in response["artifacts"]}
        self.assertEqual(sorted(artifacts), ["a.txt", "sub/b.csv"])
        self.assertEqual(base64.b64decode(artifacts["a.txt"]["contentBase64"]), b"alpha")
        self.assertEqual(artifacts["a.txt"]["contentType"], "text/plain")
        self.assertEqual(artifacts["sub/b.csv"]["size"], 8)
        self.assertEqual(artifacts["sub/b.csv"]["contentType"], "text/csv")

    def test_symlinks_fifos_and_hardlinks_are_not_followed(self) -> None:
        response = self.run_script(
            "import os\nos.symlink('/etc/passwd', 'outputs/passwd')\n"
            "os.symlink('/etc', 'outputs/etc')\nos.mkfifo('outputs/fifo')\n"
            "open('secret.txt', 'w').write('s')\nos.link('secret.txt', 'outputs/hard.txt')\n"
            "open('outputs/real.txt', 'w').write('r')\n")
        self.assertTrue(response["ok"], response)
        self.assertEqual([item["name"] for item in response["artifacts"]], ["real.txt"])

    def test_files_beyond_the_limit_are_left_out_and_flagged(self) -> None:
        response = self.run_script("for i in range(5):\n    open(f'outputs/{i}.txt', 'w').write('x')\n"
                                   "def main():\n    return 1\n")
        self.assertTrue(response["ok"], response)
        self.assertEqual(response["result"], 1)
        self.assertEqual([item["name"] for item in response["artifacts"]],
                         ["0.txt", "1.txt", "2.txt"])
        self.assertEqual(response["truncated"], {"stdout": False, "stderr": False,
                                                 "artifacts": True})
        response = self.run_script("open('outputs/one.txt', 'w').write('x')\n")
        self.assertEqual(response["truncated"]["artifacts"], False)

    def test_too_large_file_is_an_output_limit(self) -> None:
        response = self.run_script("open('outputs/big.bin', 'wb').write(b'x' * 5000)\n")
        self.assert_error(response, "OutputLimit")
        self.assertIn("outputs/big.bin", response["error"])


@requires("numpy", "pandas", "matplotlib")
class ScientificStackTest(EngineTestCase):
    def test_pandas_and_numpy_results(self) -> None:
        response = self.run_script(
            "import numpy as np, pandas as pd\n"
            "def main(rows):\n"
            "    df = pd.DataFrame(rows)\n"
            "    return {'sum': df['v'].sum(), 'mean': np.mean(df['v'].to_numpy()),\n"
            "            'frame': df, 'matrix': np.eye(2)}\n",
            input=[{"v": 1}, {"v": 3}])
        self.assertTrue(response["ok"], response)
        self.assertEqual(response["result"], {"sum": 4, "mean": 2.0, "frame": [{"v": 1}, {"v": 3}],
                                              "matrix": [[1.0, 0.0], [0.0, 1.0]]})

    def test_open_figures_become_png_artifacts(self) -> None:
        response = self.run_script(
            "import matplotlib.pyplot as plt\n"
            "def main():\n"
            "    plt.plot([1, 2, 3], [3, 1, 2])\n"
            "    plt.figure()\n"
            "    plt.bar(['a'], [1])\n"
            "    return 'plotted'\n")
        self.assertTrue(response["ok"], response)
        names = [item["name"] for item in response["artifacts"]]
        self.assertEqual(names, ["figure-1.png", "figure-2.png"])
        for item in response["artifacts"]:
            self.assertEqual(item["contentType"], "image/png")
            self.assertTrue(base64.b64decode(item["contentBase64"]).startswith(b"\x89PNG\r\n"))

    def test_closed_figures_and_saved_files_are_not_duplicated(self) -> None:
        response = self.run_script(
            "import matplotlib.pyplot as plt\n"
            "fig = plt.figure()\nplt.plot([1])\nfig.savefig('outputs/chart.png')\nplt.close(fig)\n")
        self.assertEqual([item["name"] for item in response["artifacts"]], ["chart.png"])

    def test_huge_numpy_allocation_is_a_memory_limit(self) -> None:
        response = self.run_script("import numpy as np\na = np.ones(1 << 31, dtype=np.uint8)\n")
        self.assert_error(response, "MemoryLimit")


class RedactionTest(unittest.TestCase):
    SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

    def test_runtime_secrets_never_come_back(self) -> None:
        saved = {name: os.environ.get(name) for name in
                 ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID")}
        os.environ["AWS_SECRET_ACCESS_KEY"] = self.SECRET
        os.environ["AWS_ACCESS_KEY_ID"] = "AKIAIOSFODNN7EXAMPLE"
        try:
            engine = make_engine()
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        try:
            self.assertNotIn("AWS_SECRET_ACCESS_KEY", os.environ)
            response = run(engine,
                           "import os\n"
                           f"print('{self.SECRET}')\n"
                           "open('outputs/k.txt', 'w').write('AKIAIOSFODNN7EXAMPLE')\n"
                           "def main():\n"
                           f"    return ['{self.SECRET}', sorted(k for k in os.environ if "
                           "k.startswith('AWS'))]\n")
            self.assertTrue(response["ok"], response)
            self.assertEqual(response["stdout"], "[REDACTED]\n")
            self.assertEqual(response["result"], ["[REDACTED]", []])
            self.assertEqual(base64.b64decode(response["artifacts"][0]["contentBase64"]),
                             b"[REDACTED]")
            response = run(engine, f"raise ValueError('{self.SECRET}')")
            self.assertEqual(response["error"], "ValueError: [REDACTED]")
            self.assertNotIn(self.SECRET, response["traceback"])
        finally:
            engine.close()


class LeftoverProcessesTest(EngineTestCase):
    def test_daemons_and_background_children_are_killed_at_recycle(self) -> None:
        response = self.engine.execute({"script": (
            "import os, time\n"
            "if os.fork() == 0:\n"
            "    os.setsid()\n"
            "    if os.fork() == 0:\n"
            "        time.sleep(3600)\n"
            "    os._exit(0)\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    time.sleep(3600)\n"
            "def main():\n    return pid\n")}, "r")
        self.assertTrue(response["ok"], response)
        self.engine.recycle()
        parked = self.engine._worker
        assert parked is not None

        # The response is posted only after containment, so nothing of the
        # execution may be left even before the recycle.
        self.assertEqual(sorted(descendants_of(os.getpid())),
                         sorted([self.engine.template.pid, parked.pid]))
        if ROOT:
            uid = self.engine.facts.worker_uid
            strays = processes(lambda pid, ppid, owner: owner == uid and pid != parked.pid)
            self.assertEqual(strays, [])

    def test_fork_bomb_is_bounded_and_cleaned(self) -> None:
        response = self.run_script(
            "import os\nfailures = 0\nfor _ in range(200):\n"
            "    try:\n        if os.fork() == 0:\n            import time; time.sleep(3600)\n"
            "    except OSError:\n        failures += 1\n"
            "def main():\n    return failures\n", timeoutMs=10000)
        self.assertTrue(response["ok"], response)
        self.assertGreater(response["result"], 150)


class WorkerTemplateTest(unittest.TestCase):
    """Workers come from a template forked at init (template.py), never from the runtime."""

    def setUp(self) -> None:
        self.engine = make_engine(preloads="")
        # Cleanups run last-in first-out: close first, then look for leftovers.
        self.addCleanup(lambda: self.assertEqual(descendants_of(os.getpid()), []))
        self.addCleanup(self.engine.close)

    def parent_of(self, pid: int) -> int:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read()
        return int(raw[raw.rfind(b")") + 2:].split()[1])

    def test_every_worker_is_a_child_of_the_same_template(self) -> None:
        template = self.engine.template
        for _ in range(3):
            parked = self.engine._worker
            assert parked is not None
            self.assertEqual(self.parent_of(parked.pid), template.pid)
            self.assertEqual(self.parent_of(template.pid), os.getpid())
            self.assertEqual(run(self.engine, "def main():\n    return 1\n")["result"], 1)

    def test_a_lost_template_makes_the_engine_start_over(self) -> None:
        os.kill(self.engine.template.pid, signal.SIGKILL)
        self.assertTrue(wait_until(lambda: self.parent_of(self.engine._worker.pid) == os.getpid()
                                   if os.path.exists(f"/proc/{self.engine._worker.pid}")
                                   else True))
        with self.assertRaises(TemplateLost):
            self.engine.recycle()

    def test_a_stopped_template_is_continued(self) -> None:
        os.kill(self.engine.template.pid, signal.SIGSTOP)
        self.assertEqual(run(self.engine, "def main():\n    return 3\n")["result"], 3)
        self.assertEqual(run(self.engine, "def main():\n    return 4\n")["result"], 4)


if __name__ == "__main__":
    unittest.main()
