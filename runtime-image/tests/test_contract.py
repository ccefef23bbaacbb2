"""The Python validator against the shared fixtures in contract/ (the TypeScript one runs the same)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from typing import Any

from executor.contract import (ERROR_TYPES, NOT_JSON, NOT_UTF8, TOO_DEEP, ContractError,
                               empty_response, parse_body, validate_request)
from executor.limits import (Limits, LimitsError, MAX_NESTING_DEPTH, MIN_WORKER_MEMORY_MIB,
                             RUNTIME_RESERVE_MIB)

CONTRACT_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "contract")


def load(name: str) -> Any:
    with open(os.path.join(CONTRACT_DIR, name), encoding="utf-8") as handle:
        return json.load(handle)


# Read here without the executor, so that the tests check how it reads them.
CONTRACT_DEFAULTS = {record["key"]: record["default"] for record in load("limits.json")["limits"]}


def expand(value: Any) -> Any:
    """Generated values as requests.json's description defines them."""
    if isinstance(value, dict):
        if "$repeat" in value:
            return value["$repeat"] * value["times"]
        if value.get("$nest") == "list":
            built: Any = []
            for _ in range(value["levels"] - 1):
                built = [built]
            return built
        if value.get("$nest") == "object":
            built = expand(value["leaf"])
            for _ in range(value["levels"]):
                built = {value["key"]: built}
            return built
        return {key: expand(item) for key, item in value.items()}
    if isinstance(value, list):
        return [expand(item) for item in value]
    return value


class SharedFixtureTest(unittest.TestCase):
    fixtures = load("requests.json")
    statuses = load("status.json")

    def limits(self) -> Limits:
        raw = self.fixtures["limits"]
        # The cases are written for the contract defaults, as the TypeScript run checks too.
        self.assertEqual(raw, {key: CONTRACT_DEFAULTS[key] for key in raw})
        return Limits(
            max_script_bytes=raw["maxScriptBytes"],
            max_request_bytes=raw["maxRequestBytes"],
            min_timeout_ms=raw["minTimeoutMs"],
            max_timeout_ms=raw["maxTimeoutMs"],
            default_timeout_ms=raw["defaultTimeoutMs"],
        )

    def test_every_case(self) -> None:
        limits = self.limits()
        self.assertGreater(len(self.fixtures["cases"]), 20)
        for case in self.fixtures["cases"]:
            with self.subTest(case["name"]):
                request = expand(case["request"])
                if case.get("valid"):
                    validated = validate_request(request, limits)
                    self.assertEqual(validated.script, request["script"])
                    self.assertEqual(validated.timeout_ms,
                                     int(request.get("timeoutMs", limits.default_timeout_ms)))
                    self.assertEqual(validated.has_input, "input" in request)
                    continue
                with self.assertRaises(ContractError) as caught:
                    validate_request(request, limits)
                self.assertEqual(caught.exception.message, case["error"])
                self.assertEqual(caught.exception.error_type, case["errorType"])
                self.assertEqual(self.statuses["errorTypes"][caught.exception.error_type],
                                 case["status"])

    def test_nest_expansion_counts_levels_as_described(self) -> None:
        self.assertEqual(expand({"$nest": "list", "levels": 1}), [])
        self.assertEqual(expand({"$nest": "list", "levels": 2}), [[]])
        self.assertEqual(expand({"$nest": "object", "levels": 2, "key": "a", "leaf": 1}),
                         {"a": {"a": 1}})

    def test_every_executor_error_type_has_a_status_and_only_faults_are_5xx(self) -> None:
        mapping = self.statuses["errorTypes"]
        for error_type in ERROR_TYPES:
            with self.subTest(error_type):
                self.assertIn(error_type, mapping)
                if error_type != "InternalError":
                    self.assertLess(mapping[error_type], 500)
        self.assertEqual(mapping["InternalError"], 500)


class BodyParsingTest(unittest.TestCase):
    def test_invalid_utf8(self) -> None:
        with self.assertRaises(ContractError) as caught:
            parse_body(b'{"script": "print(\xff)"}')
        self.assertEqual((caught.exception.error_type, caught.exception.message),
                         ("InvalidRequest", NOT_UTF8))

    def test_invalid_json(self) -> None:
        for raw in (b"", b"{", b"{'script': 1}", b'{"script": "x"} trailing', b"NaN!"):
            with self.subTest(raw=raw), self.assertRaises(ContractError) as caught:
                parse_body(raw)
            self.assertEqual(caught.exception.message, NOT_JSON)

    def test_absurd_nesting_is_rejected_without_crashing(self) -> None:
        with self.assertRaises(ContractError) as caught:
            parse_body(b"[" * 200_000 + b"]" * 200_000)
        self.assertEqual(caught.exception.message, TOO_DEEP)

    def test_moderate_nesting_parses_then_fails_validation(self) -> None:
        body = parse_body(b'{"script": "pass", "input": ' + b"[" * 70 + b"]" * 70 + b"}")
        with self.assertRaises(ContractError) as caught:
            validate_request(body, Limits())
        self.assertEqual(caught.exception.message, TOO_DEEP)

    def test_empty_response_has_every_key(self) -> None:
        self.assertEqual(
            list(empty_response("r")),
            ["ok", "result", "stdout", "stderr", "truncated", "error", "errorType",
             "traceback", "artifacts", "durationMs", "requestId"])


class LimitsTest(unittest.TestCase):
    def test_defaults_are_those_of_contract_limits_json(self) -> None:
        report = Limits.from_env({}).to_report()
        self.assertEqual(report.pop("preloads"), load("limits.json")["preloads"]["default"])
        self.assertEqual(report.pop("sandboxUid"), 0)
        self.assertEqual({**report, "maxNestingDepth": MAX_NESTING_DEPTH}, CONTRACT_DEFAULTS)

    def test_worker_memory_leaves_the_runtime_its_share_of_a_function(self) -> None:
        reserve = load("limits.json")["workerMemory"]
        self.assertEqual((RUNTIME_RESERVE_MIB, MIN_WORKER_MEMORY_MIB),
                         (reserve["runtimeReserveMiB"], reserve["minimumMiB"]))
        self.assertEqual(Limits.from_env({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256"})
                         .worker_memory_mib, 256 - RUNTIME_RESERVE_MIB)
        self.assertEqual(Limits.from_env({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024"})
                         .worker_memory_mib, 1024 - RUNTIME_RESERVE_MIB)
        self.assertEqual(Limits.from_env({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128"})
                         .worker_memory_mib, MIN_WORKER_MEMORY_MIB)
        self.assertEqual(Limits.from_env({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
                                          "EXECUTOR_WORKER_MEMORY_MIB": "100"})
                         .worker_memory_mib, 100)

    def test_the_executor_does_not_start_without_the_contract_limits(self) -> None:
        # The package alone, as an image would have it had the Dockerfile lost its COPY.
        package = os.path.join(os.path.dirname(__file__), "..", "executor")
        with tempfile.TemporaryDirectory() as root:
            shutil.copytree(package, os.path.join(root, "task", "executor"),
                            ignore=shutil.ignore_patterns("__pycache__"))
            run = subprocess.run([sys.executable, "-c", "import executor.limits"],
                                 cwd=os.path.join(root, "task"), capture_output=True, text=True,
                                 env={**os.environ, "PYTHONPATH": os.path.join(root, "task")},
                                 timeout=60)
        self.assertNotEqual(run.returncode, 0)
        self.assertIn(f"{LimitsError.__module__}.LimitsError: The executor cannot read its limits "
                      f"from {os.path.realpath(root)}/contract/limits.json (FileNotFoundError",
                      run.stderr)
        self.assertIn("does not start without it", run.stderr)

    def test_variables_override_and_report_in_camel_case(self) -> None:
        limits = Limits.from_env({"EXECUTOR_MAX_STDOUT_BYTES": "10", "EXECUTOR_PRELOADS": ""})
        self.assertEqual(limits.max_stdout_bytes, 10)
        self.assertEqual(limits.to_report()["maxStdoutBytes"], 10)
        self.assertEqual(limits.to_report()["workerMemoryMiB"], CONTRACT_DEFAULTS["workerMemoryMiB"])
        self.assertEqual(limits.preloads, ())

    def test_bad_values_are_rejected_with_a_sentence(self) -> None:
        for environ, fragment in (
            ({"EXECUTOR_MAX_STDOUT_BYTES": "ten"}, "must be a whole number"),
            ({"EXECUTOR_MAX_PROCESSES": "0"}, "positive"),
            ({"EXECUTOR_DEFAULT_TIMEOUT_MS": "30000"}, "between"),
        ):
            with self.subTest(environ), self.assertRaises(ValueError) as caught:
                Limits.from_env(environ)
            self.assertIn(fragment, str(caught.exception))


if __name__ == "__main__":
    unittest.main()
