"""`python3 -m executor` against a real HTTP server that implements the Lambda Runtime API."""

from __future__ import annotations

import http.server
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import unittest
from typing import Any, Optional

from .support import ROOT, descendants_of, free_uid, wait_until

RUNTIME_IMAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREFIX = "/2018-06-01/runtime"


class RuntimeApi:
    """The four Runtime API routes the executor uses, with recorded posts."""

    def __init__(self) -> None:
        self.events: "queue.Queue[tuple[str, bytes, dict[str, str]]]" = queue.Queue()
        self.posts: "queue.Queue[tuple[str, str, bytes, dict[str, str]]]" = queue.Queue()
        self.active: Optional[str] = None
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path != f"{PREFIX}/invocation/next":
                    self.send_error(404)
                    return
                while True:
                    try:
                        request_id, body, headers = api.events.get(timeout=0.5)
                        break
                    except queue.Empty:
                        if api.closing:
                            self.send_error(503)
                            return
                api.active = request_id
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
                self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                                 "arn:aws:lambda:us-east-1:123456789012:function:executor")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                parts = self.path[len(PREFIX):].strip("/").split("/")
                if parts[:2] == ["init", "error"]:
                    kind, request_id = "init-error", ""
                elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                    kind, request_id = parts[2], parts[1]
                    if request_id != api.active:
                        self.send_error(400, "request id is not the active invocation")
                        return
                else:
                    self.send_error(404)
                    return
                api.posts.put((kind, request_id, body, dict(self.headers)))
                self.send_response(202)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                # The runtime drops its keep-alive connection when it is
                # stopped; that is not a failure of the test.
                pass

        self.closing = False
        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def invoke(self, request_id: str, body: bytes, headers: Optional[dict[str, str]] = None,
               timeout_s: float = 60.0) -> tuple[str, dict[str, Any]]:
        self.events.put((request_id, body, headers or {}))
        kind, posted_id, answer, _ = self.posts.get(timeout=timeout_s)
        assert posted_id == request_id, (posted_id, request_id)
        return kind, json.loads(answer)

    def close(self) -> None:
        self.closing = True
        self.server.shutdown()
        self.server.server_close()


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
        assert any(line["message"] == "executor initialised" for line in log_lines)
        assert not any(b"print-marker" in line for line in output.splitlines()), \
            "logs must not contain the script's output"

    def test_runs_a_script_and_posts_the_response(self) -> None:
        kind, response = self.api.invoke(
            "req-1", json.dumps({"script": "print('print-marker')\ndef main(x):\n    return x * 2",
                                 "input": 21}).encode())
        self.assertEqual(kind, "response")
        self.assertTrue(response["ok"], response)
        self.assertEqual(response["result"], 42)
        self.assertEqual(response["stdout"], "print-marker\n")
        self.assertEqual(response["requestId"], "req-1")

    def test_invalid_bodies_are_invalid_requests(self) -> None:
        cases = [
            (b"{not json", "Request body is not valid JSON"),
            (b'{"script": "\xff"}', "Request body is not valid UTF-8"),
            (b'{"script": "pass", "input": ' + b"[" * 5000 + b"]" * 5000 + b"}",
             "Request body must not be nested more than 64 levels deep"),
            (b'{"script": ""}', "'script' must not be empty"),
        ]
        for index, (body, sentence) in enumerate(cases):
            with self.subTest(sentence):
                kind, response = self.api.invoke(f"bad-{index}", body)
                self.assertEqual(kind, "response")
                self.assertEqual(response["errorType"], "InvalidRequest")
                self.assertEqual(response["error"], sentence)

    def test_health_action(self) -> None:
        kind, response = self.api.invoke("health-1", b'{"action": "health"}')
        self.assertEqual(kind, "response")
        self.assertTrue(response["ok"])
        self.assertIn("seccomp", response["health"]["layers"])
        self.assertEqual(response["health"]["limits"]["maxStdoutBytes"], 102400)

    def test_deadline_header_clamps_the_timeout(self) -> None:
        deadline = str(int(time.time() * 1000) + 2500)
        kind, response = self.api.invoke(
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
        kind, response = self.api.invoke(
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
        kind, response = self.api.invoke("remnant-1", json.dumps({
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
        kind, response = self.api.invoke("remnant-2", json.dumps({
            "script": scan, "input": needle[::-1]}).encode())
        self.assertTrue(response["ok"], response)
        # The scan's own needle object is the one copy it may find.
        self.assertEqual(response["result"], 1)

    def test_script_failures_are_responses_not_function_errors(self) -> None:
        kind, response = self.api.invoke("fail-1", b'{"script": "import os\\nos._exit(9)"}')
        self.assertEqual(kind, "response")
        self.assertEqual(response["errorType"], "ScriptError")
        kind, response = self.api.invoke("after-1", b'{"script": "def main():\\n    return 1"}')
        self.assertEqual(response["result"], 1)


class InitErrorTest(unittest.TestCase):
    def test_bad_limits_are_posted_to_init_error(self) -> None:
        api = RuntimeApi()
        try:
            process = start_runtime(api, EXECUTOR_MAX_STDOUT_BYTES="lots", EXECUTOR_PRELOADS="")
            kind, request_id, body, headers = api.posts.get(timeout=60)
            self.assertEqual(kind, "init-error")
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
