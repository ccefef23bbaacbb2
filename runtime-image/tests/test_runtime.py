"""`python3 -m executor` against a real HTTP server that implements the Lambda Runtime API."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import unittest
from typing import Any, Optional

from executor.limits import Limits

from .runtime_api import RuntimeApi as SharedRuntimeApi
from .support import ROOT, descendants_of, free_uid, wait_until

RUNTIME_IMAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREFIX = "/2018-06-01/runtime"


class RuntimeApi(SharedRuntimeApi):
    """The shared emulator, with the (request id, body, headers) -> (kind, json) call these tests use."""

    def call(self, request_id: str, body: bytes, headers: Optional[dict[str, str]] = None,
             timeout_s: float = 60.0) -> tuple[str, dict[str, Any]]:
        deadline = headers.pop("Lambda-Runtime-Deadline-Ms", None) if headers else None
        answer = self.invoke(body, request_id, int(deadline) if deadline else None, timeout_s,
                             headers)
        return answer.kind, answer.json()


def start_runtime(api: RuntimeApi, **extra: str) -> subprocess.Popen[bytes]:
    environ = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": RUNTIME_IMAGE,
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "AWS_SECRET_ACCESS_KEY": "runtime-secret-value-1234567890",
        "AWS_SESSION_TOKEN": "runtime-session-token-abcdefghijkl",
        "AWS_ACCESS_KEY_ID": "ASIAEXAMPLEEXAMPLE",
    }
    if ROOT:
        environ["EXECUTOR_SANDBOX_UID"] = str(free_uid())
    environ.update(extra)
    return subprocess.Popen([sys.executable, "-m", "executor"], env=environ, cwd=RUNTIME_IMAGE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def stop_runtime(process: subprocess.Popen[bytes]) -> bytes:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    return output


class RuntimeLoopTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.api = RuntimeApi()
        cls.process = start_runtime(cls.api)

    @classmethod
    def tearDownClass(cls) -> None:
        output = stop_runtime(cls.process)
        cls.api.close()
        assert cls.process.returncode == 0, output[-2000:]
        pid = cls.process.pid
        assert wait_until(lambda: not [p for p in descendants_of(os.getpid())
                                       if p not in (pid,)]), descendants_of(os.getpid())
        log_lines = [json.loads(line) for line in output.splitlines() if line.startswith(b"{")]
        initialised = [line for line in log_lines if line["message"] == "executor initialised"]
        assert len(initialised) == 1, log_lines
        # A summary, not the whole health report: the report is several kilobytes.
        assert "health" not in initialised[0] and len(json.dumps(initialised[0])) < 1024, initialised
        assert initialised[0]["layersActive"], initialised
        assert not any(line["message"] == "executor health" for line in log_lines), \
            "the whole report is logged only with EXECUTOR_LOG_LEVEL=DEBUG"
        assert not any(b"print-marker" in line for line in output.splitlines()), \
            "logs must not contain the script's output"

    def test_runs_a_script_and_posts_the_response(self) -> None:
        kind, response = self.api.call(
            "req-1", json.dumps({"script": "print('print-marker')\ndef main(x):\n    return x * 2",
                                 "input": 21}).encode())
        self.assertEqual(kind, "response")
        self.assertTrue(response["ok"], response)
        self.assertEqual(response["result"], 42)
        self.assertEqual(response["stdout"], "print-marker\n")
        self.assertEqual(response["requestId"], "req-1")

    def test_an_answer_over_lambdas_6_mb_is_an_output_limit_and_the_loop_goes_on(self) -> None:
        # Two 4 MiB files come back inline by direct invoke: base64 makes them
        # over 10 MB, beyond what the Runtime API accepts (6 MB).
        script = ("import os\n"
                  "for name in ('a.bin', 'b.bin'):\n"
                  "    open('outputs/' + name, 'wb').write(os.urandom(4 << 20))\n"
                  "def main():\n    return 'done'\n")
        kind, response = self.api.call("big-answer", json.dumps({"script": script}).encode())
        self.assertEqual(kind, "response", response)
        self.assertEqual(response["errorType"], "OutputLimit", response.get("error"))
        self.assertRegex(response["error"], r"^The .+\.$")
        kind, response = self.api.call("after-big", b'{"script": "def main():\\n    return 7"}')
        self.assertEqual((kind, response["result"]), ("response", 7))

    def test_invalid_bodies_are_invalid_requests(self) -> None:
        cases = [
            (b"{not json", "Request body is not valid JSON"),
            (b'{"script": "\xff"}', "Request body is not valid UTF-8"),
            (b'{"script": "pass", "input": ' + b"[" * 5000 + b"]" * 5000 + b"}",
             "Request body must not be nested more than 64 levels deep"),
            (b'{"script": ""}', "'script' must not be empty"),
            (b"null", "Request body must be a JSON object"),
            (b"[]", "Request body must be a JSON object"),
            (b'"script"', "Request body must be a JSON object"),
        ]
        for index, (body, sentence) in enumerate(cases):
            with self.subTest(sentence):
                kind, response = self.api.call(f"bad-{index}", body)
                self.assertEqual(kind, "response")
                self.assertEqual(response["errorType"], "InvalidRequest")
                self.assertEqual(response["error"], sentence)

    def test_health_action(self) -> None:
        kind, response = self.api.call("health-1", b'{"action": "health"}')
        self.assertEqual(kind, "response")
        self.assertTrue(response["ok"])
        self.assertIn("seccomp", response["health"]["layers"])
        self.assertEqual(response["health"]["limits"]["maxStdoutBytes"], Limits().max_stdout_bytes)

    def test_deadline_header_clamps_the_timeout(self) -> None:
        deadline = str(int(time.time() * 1000) + 2500)
        kind, response = self.api.call(
            "deadline-1", json.dumps({"script": "import time\ntime.sleep(30)",
                                      "timeoutMs": 20000}).encode(),
            {"Lambda-Runtime-Deadline-Ms": deadline})
        self.assertEqual(kind, "response")
        self.assertEqual(response["errorType"], "Timeout")
        self.assertLess(int(response["error"].split()[-2]), 2500)

    def test_trace_id_and_secrets_stay_in_the_runtime(self) -> None:
        script = (
            "import os\n"
            "print('runtime-secret-value-1234567890')\n"
            "def main():\n"
            "    leaked = []\n"
            "    for path in ('/proc/%d/environ' % os.getppid(), '/proc/1/environ'):\n"
            "        try:\n"
            "            leaked.append(open(path, 'rb').read().decode('latin-1'))\n"
            "        except Exception as error:\n"
            "            leaked.append(type(error).__name__)\n"
            "    return {'env': sorted(os.environ), 'proc': leaked}\n")
        kind, response = self.api.call(
            "trace-1", json.dumps({"script": script}).encode(),
            {"Lambda-Runtime-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"})
        self.assertEqual(kind, "response")
        self.assertTrue(response["ok"], response)
        self.assertEqual(response["stdout"], "[REDACTED]\n")
        self.assertNotIn("_X_AMZN_TRACE_ID", response["result"]["env"])
        self.assertFalse([name for name in response["result"]["env"] if name.startswith("AWS")])
        for text in response["result"]["proc"]:
            self.assertNotIn("runtime-session-token", text)
            self.assertNotIn("AWS_LAMBDA_RUNTIME_API", text)
            self.assertNotIn(self.api.address, text)

    def test_no_remnant_of_an_earlier_request_in_a_later_worker(self) -> None:
        needle = "remnant-" + os.urandom(12).hex()
        # Short and long copies: Python's small-object pool and glibc malloc
        # both have to give back clean memory.
        kind, response = self.api.call("remnant-1", json.dumps({
            "script": ("def main(value):\n    print(value * 3)\n    print(value * 40)\n"
                       "    return {value: [value] * 20, 'long': value * 30}"),
            "input": needle}).encode())
        self.assertTrue(response["ok"], response)
        scan = (
            "def main(reversed_needle):\n"
            "    needle = bytes(reversed(reversed_needle.encode()))\n"
            "    count = 0\n"
            "    with open('/proc/self/maps') as handle:\n"
            "        maps = handle.read().splitlines()\n"
            "    with open('/proc/self/mem', 'rb', buffering=0) as memory:\n"
            "        for line in maps:\n"
            "            fields = line.split()\n"
            "            if not fields[1].startswith('rw'):\n"
            "                continue\n"
            "            start, end = (int(x, 16) for x in fields[0].split('-'))\n"
            "            try:\n"
            "                memory.seek(start)\n"
            "                count += memory.read(end - start).count(needle)\n"
            "            except OSError:\n"
            "                pass\n"
            "    return count\n")
        kind, response = self.api.call("remnant-2", json.dumps({
            "script": scan, "input": needle[::-1]}).encode())
        self.assertTrue(response["ok"], response)
        # The scan's own needle object is the one copy it may find.
        self.assertEqual(response["result"], 1)

    def test_script_failures_are_responses_not_function_errors(self) -> None:
        kind, response = self.api.call("fail-1", b'{"script": "import os\\nos._exit(9)"}')
        self.assertEqual(kind, "response")
        self.assertEqual(response["errorType"], "ScriptError")
        kind, response = self.api.call("after-1", b'{"script": "def main():\\n    return 1"}')
        self.assertEqual(response["result"], 1)


class InitErrorTest(unittest.TestCase):
    def test_bad_limits_are_posted_to_init_error(self) -> None:
        api = RuntimeApi()
        try:
            process = start_runtime(api, EXECUTOR_MAX_STDOUT_BYTES="lots", EXECUTOR_PRELOADS="")
            self.assertTrue(api.init_error_seen.wait(60))
            body, headers = api.init_errors[0]
            error = json.loads(body)
            self.assertEqual(error["errorType"], "Runtime.ExecutorInitError")
            self.assertIn("EXECUTOR_MAX_STDOUT_BYTES must be a whole number", error["errorMessage"])
            self.assertEqual(headers.get("Lambda-Runtime-Function-Error-Type"),
                             "Runtime.ExecutorInitError")
            process.communicate(timeout=60)
            self.assertEqual(process.returncode, 1)
        finally:
            api.close()

    def test_missing_runtime_api_explains_itself(self) -> None:
        result = subprocess.run([sys.executable, "-m", "executor"], cwd=RUNTIME_IMAGE,
                                env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": RUNTIME_IMAGE},
                                capture_output=True, timeout=60)
        self.assertEqual(result.returncode, 2)
        self.assertIn(b"aws-lambda-rie python3 -m executor", result.stderr)


if __name__ == "__main__":
    unittest.main()
