"""The Python validator against the shared fixtures in contract/ (the TypeScript one runs the same)."""

from __future__ import annotations

import json
import os
import unittest
from typing import Any

from executor.contract import (ERROR_TYPES, NOT_JSON, NOT_UTF8, TOO_DEEP, ContractError,
                               empty_response, parse_body, validate_request)
from executor.limits import Limits, MAX_NESTING_DEPTH

CONTRACT_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "contract")


def load(name: str) -> Any:
    with open(os.path.join(CONTRACT_DIR, name), encoding="utf-8") as handle:
        return json.load(handle)


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
        self.assertEqual(raw["maxNestingDepth"], MAX_NESTING_DEPTH)
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
    def test_defaults_match_the_contract(self) -> None:
        limits = Limits.from_env({})
        self.assertEqual(limits.default_timeout_ms, 10_000)
        self.assertEqual(limits.max_stdout_bytes, 102_400)
        self.assertEqual(limits.worker_memory_mib, 192)
        self.assertEqual(limits.preloads, ("numpy", "pandas", "matplotlib"))

    def test_worker_memory_leaves_the_runtime_its_share_of_a_function(self) -> None:
        self.assertEqual(Limits.from_env({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256"})
                         .worker_memory_mib, 128)
        self.assertEqual(Limits.from_env({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024"})
                         .worker_memory_mib, 896)
        self.assertEqual(Limits.from_env({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128"})
                         .worker_memory_mib, 64)
        self.assertEqual(Limits.from_env({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
                                          "EXECUTOR_WORKER_MEMORY_MIB": "100"})
                         .worker_memory_mib, 100)

    def test_variables_override_and_report_in_camel_case(self) -> None:
        limits = Limits.from_env({"EXECUTOR_MAX_STDOUT_BYTES": "10", "EXECUTOR_PRELOADS": ""})
        self.assertEqual(limits.max_stdout_bytes, 10)
        self.assertEqual(limits.to_report()["maxStdoutBytes"], 10)
        self.assertEqual(limits.to_report()["workerMemoryMiB"], 192)
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
