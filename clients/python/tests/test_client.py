"""The Python client against the real local server (started as `npm start`
does, with LOCAL_TOKEN as its bearer token), and, for the deployed auth
modes that only API Gateway checks, against a loopback listener that
records what the client sends."""

from __future__ import annotations

import hashlib
import http.server
import importlib.util
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import unittest
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from secure_python_executor_client import (  # noqa: E402
    ApiKeyAuth,
    BearerAuth,
    ExecutorClient,
    IamAuth,
    RequestRejectedError,
    ScriptFailedError,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
TOKEN = "py-client-token-0123456789"


def _sandbox_python() -> str:
    if os.environ.get("SANDBOX_PYTHON"):
        return os.environ["SANDBOX_PYTHON"]
    return "/usr/bin/python3" if Path("/usr/bin/python3").exists() else "python3"


class LocalServer:
    """`node --import tsx local/main.ts` on a free port, as test/local/server-process.ts starts it."""

    def __init__(self, env: dict[str, str]):
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is not on PATH; the local server needs Node.js 20 or newer.")
        self.process = subprocess.Popen(
            [node, "--import", "tsx", "local/main.ts"],
            cwd=REPO_ROOT,
            env={
                **os.environ,
                "PORT": "0",
                "SANDBOX_PYTHON": _sandbox_python(),
                # Each server its own sandbox uid range: runtimes kill every process of their uid.
                "SANDBOX_UID_BASE": str(300000 + random.randrange(8000) * 100),
                "RUNTIME_LOGS": "0",
                "POWERTOOLS_LOG_LEVEL": "WARN",
                **env,
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []
        self.url = self._wait_for_ready()
        # Keep reading, so that a full pipe never blocks the server.
        threading.Thread(target=self._drain, daemon=True).start()

    def _wait_for_ready(self) -> str:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            match = re.search(r"READY (http://\S+)", line)
            if match:
                return match.group(1)
        raise RuntimeError("The local server exited before it was ready:\n" + "".join(self.output))

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)
        if self.process.stdout is not None:
            self.process.stdout.close()


class AgainstLocalServer(unittest.TestCase):
    server: LocalServer
    client: ExecutorClient

    @classmethod
    def setUpClass(cls) -> None:
        cls.server = LocalServer({"LOCAL_TOKEN": TOKEN, "SANDBOX_CONCURRENCY": "1"})
        cls.client = ExecutorClient(cls.server.url, auth=BearerAuth(TOKEN))

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.stop()

    def test_runs_a_script_with_input_and_returns_the_response(self) -> None:
        response = self.client.run('def main(x):\n    print("hi")\n    return x * 2', input=21, timeout_ms=5000)
        self.assertEqual((response.ok, response.result, response.stdout, response.error_type), (True, 42, "hi\n", None))
        self.assertTrue(response.request_id)

    def test_none_is_sent_as_input(self) -> None:
        self.assertEqual(self.client.run("def main(x):\n    return x is None", input=None).result, True)

    def test_script_failure_raises_script_failed_error_with_type_request_id_and_traceback(self) -> None:
        with self.assertRaises(ScriptFailedError) as caught:
            self.client.run("def main():\n    return 1 / 0")
        error = caught.exception
        self.assertEqual((error.status, error.error_type, str(error)), (422, "ScriptError", "ZeroDivisionError: division by zero"))
        self.assertEqual(error.request_id, error.response.request_id)
        self.assertIn('File "<script>", line 2, in main', error.traceback)
        self.assertFalse(error.retryable)

    def test_timeout_raises_script_failed_error(self) -> None:
        with self.assertRaises(ScriptFailedError) as caught:
            self.client.run("while True: pass", timeout_ms=300)
        self.assertEqual(caught.exception.error_type, "Timeout")

    def test_invalid_request_raises_request_rejected_error_with_the_contract_sentence(self) -> None:
        with self.assertRaises(RequestRejectedError) as caught:
            self.client.run("print(1)", timeout_ms=5)
        error = caught.exception
        self.assertEqual((error.status, error.error_type), (400, "InvalidRequest"))
        self.assertEqual(str(error), "'timeoutMs' must be between 100 and 25000 milliseconds")
        self.assertTrue(error.request_id)

    def test_without_the_token_the_server_answers_unauthorized(self) -> None:
        with self.assertRaises(RequestRejectedError) as caught:
            ExecutorClient(self.server.url).run("print(1)")
        self.assertEqual((caught.exception.status, caught.exception.error_type), (401, "Unauthorized"))

    def test_tenant_id_is_sent_and_checked(self) -> None:
        tenant = ExecutorClient(self.server.url, auth=BearerAuth(TOKEN), tenant_id="customer-42")
        self.assertTrue(tenant.run("print(1)").ok)
        with self.assertRaises(RequestRejectedError) as caught:
            ExecutorClient(self.server.url, auth=BearerAuth(TOKEN), tenant_id="not valid!").run("print(1)")
        self.assertIn("X-Tenant-Id", str(caught.exception))

    def test_downloads_artifacts(self) -> None:
        script = 'import matplotlib.pyplot as plt\n\ndef main():\n    plt.plot([1, 2])\n    open("outputs/data.csv", "w").write("x\\n1\\n")'
        response = self.client.run(script)
        by_name = {artifact.name: artifact for artifact in response.artifacts}
        self.assertEqual(self.client.download_artifact(by_name["data.csv"]), b"x\n1\n")
        png = self.client.download_artifact(by_name["figure-1.png"])
        self.assertEqual((png[:4], len(png)), (b"\x89PNG", by_name["figure-1.png"].size))

    def test_health(self) -> None:
        health = self.client.health()
        self.assertEqual(health["status"], "ok")
        self.assertRegex(health["executor"]["python"], r"^3\.\d+")


class _Recorder(http.server.BaseHTTPRequestHandler):
    requests: list[dict[str, Any]] = []
    answer = {
        "ok": True, "result": 1, "stdout": "", "stderr": "", "truncated": {"stdout": False, "stderr": False},
        "error": None, "errorType": None, "traceback": None, "artifacts": [], "durationMs": 1, "requestId": "recorded",
    }

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        host = self.headers["Host"]
        type(self).requests.append({"method": "POST", "url": f"http://{host}{self.path}", "headers": dict(self.headers.items()), "body": body.decode("utf-8")})
        text = json.dumps(self.answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
        pass


def _botocore_missing() -> Optional[str]:
    if importlib.util.find_spec("botocore") is None:
        return "botocore is not installed for this Python (CI installs python3-botocore)"
    return None


class DeployedAuthModes(unittest.TestCase):
    listener: http.server.ThreadingHTTPServer

    @classmethod
    def setUpClass(cls) -> None:
        cls.listener = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
        threading.Thread(target=cls.listener.serve_forever, daemon=True).start()
        cls.base_url = f"http://127.0.0.1:{cls.listener.server_address[1]}/v1"

    @classmethod
    def tearDownClass(cls) -> None:
        cls.listener.shutdown()
        cls.listener.server_close()

    def test_api_key_is_sent_as_x_api_key(self) -> None:
        ExecutorClient(self.base_url, auth=ApiKeyAuth("key-value-123"), tenant_id="t1").run("print(1)")
        headers = {name.lower(): value for name, value in _Recorder.requests[-1]["headers"].items()}
        self.assertEqual((headers["x-api-key"], headers["x-tenant-id"]), ("key-value-123", "t1"))
        self.assertNotIn("authorization", headers)

    # Under CI=true a missing tool fails the test instead of skipping it, as everywhere in this project.
    @unittest.skipIf(_botocore_missing() is not None and os.environ.get("CI") != "true", _botocore_missing())
    def test_iam_signs_with_sigv4_for_execute_api_and_the_signature_verifies(self) -> None:
        secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
        auth = IamAuth("eu-west-1", credentials=("AKIDEXAMPLE", secret, "session-token-1"))
        ExecutorClient(self.base_url, auth=auth, tenant_id="t2").run("def main(x):\n    return x", input={"ü": [1, 2]})
        recorded = _Recorder.requests[-1]
        verifier = REPO_ROOT / "test" / "clients" / "sigv4_verify.py"
        verdict = json.loads(subprocess.run(
            [sys.executable, str(verifier)], input=json.dumps(recorded), capture_output=True, text=True, check=True,
            env={**os.environ, "SIGV4_SECRET_ACCESS_KEY": secret},
        ).stdout)
        self.assertEqual((verdict["valid"], verdict["credentialScope"]), (True, "eu-west-1/execute-api"))
        self.assertIn("x-tenant-id", verdict["signedHeaders"])
        headers = {name.lower(): value for name, value in recorded["headers"].items()}
        self.assertEqual(headers["x-amz-security-token"], "session-token-1")
        self.assertEqual(headers.get("x-amz-content-sha256", hashlib.sha256(recorded["body"].encode()).hexdigest()), hashlib.sha256(recorded["body"].encode()).hexdigest())

    def test_iam_without_botocore_says_what_to_install(self) -> None:
        saved = {name: module for name, module in sys.modules.items() if name == "botocore" or name.startswith("botocore.")}
        # A None entry makes `import botocore` fail as if it were not installed.
        sys.modules["botocore"] = None  # type: ignore[assignment]
        for name in list(saved):
            if name != "botocore":
                sys.modules[name] = None  # type: ignore[assignment]
        try:
            with self.assertRaisesRegex(RuntimeError, r"IamAuth signs requests with SigV4 through botocore, which is not installed"):
                ExecutorClient(self.base_url, auth=IamAuth("eu-west-1", ("a", "b", None))).run("print(1)")
        finally:
            for name in [name for name in sys.modules if name == "botocore" or name.startswith("botocore.")]:
                del sys.modules[name]
            sys.modules.update(saved)


if __name__ == "__main__":
    unittest.main()
