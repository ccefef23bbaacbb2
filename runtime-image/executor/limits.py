"""Limits of one executor, read once from the EXECUTOR_* environment variables.

The CDK stack and the local server set these variables (contract/README.md);
every value has a secure default so that an executor started by hand is
still bounded. The defaults, the fixed nesting depth and the worker memory
reserve are contract/limits.json, which the TypeScript side reads too.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Mapping


class LimitsError(ValueError):
    """An EXECUTOR_* variable holds a value the executor cannot use."""


# The contract sits two levels above this package, in the repository
# (runtime-image/executor/ and contract/) and in the image alike
# (/var/task/executor/ and /var/contract/, runtime-image/Dockerfile).
CONTRACT_LIMITS_PATH = Path(__file__).resolve().parent.parent.parent / "contract" / "limits.json"


def _read_contract_limits(path: Path) -> tuple[dict[str, int], int, int, tuple[str, ...]]:
    """The defaults by camelCase key, the runtime reserve, the least worker
    memory and the default preloads, from contract/limits.json. A missing or unreadable file stops the
    executor: defaults it made up itself could differ from the contract's."""
    try:
        with open(path, encoding="utf-8") as file:
            contract = json.load(file)
        defaults = {record["key"]: int(record["default"]) for record in contract["limits"]}
        worker_memory = contract["workerMemory"]
        preloads = tuple(str(name) for name in contract["preloads"]["default"])
        return (defaults, int(worker_memory["runtimeReserveMiB"]),
                int(worker_memory["minimumMiB"]), preloads)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise LimitsError(
            f"The executor cannot read its limits from {path} ({type(error).__name__}: {error}); "
            "it takes every default from that file and does not start without it: restore "
            "contract/limits.json (the image has it from the COPY in runtime-image/Dockerfile)."
        ) from None


# RUNTIME_RESERVE_MIB is what a function's memory keeps for the runtime
# itself: a worker gets the rest, but at least MIN_WORKER_MEMORY_MIB, when
# EXECUTOR_WORKER_MEMORY_MIB is not set in a Lambda environment; lib/config.ts
# derives the same from the same file.
_DEFAULTS, RUNTIME_RESERVE_MIB, MIN_WORKER_MEMORY_MIB, DEFAULT_PRELOADS = _read_contract_limits(
    CONTRACT_LIMITS_PATH)

# Nesting depth counts the request object itself as level 1 (contract).
MAX_NESTING_DEPTH = _DEFAULTS["maxNestingDepth"]


@dataclasses.dataclass(frozen=True)
class Limits:
    default_timeout_ms: int = _DEFAULTS["defaultTimeoutMs"]
    min_timeout_ms: int = _DEFAULTS["minTimeoutMs"]
    max_timeout_ms: int = _DEFAULTS["maxTimeoutMs"]
    max_script_bytes: int = _DEFAULTS["maxScriptBytes"]
    max_request_bytes: int = _DEFAULTS["maxRequestBytes"]
    max_stdout_bytes: int = _DEFAULTS["maxStdoutBytes"]
    max_stderr_bytes: int = _DEFAULTS["maxStderrBytes"]
    max_result_bytes: int = _DEFAULTS["maxResultBytes"]
    max_artifacts: int = _DEFAULTS["maxArtifacts"]
    max_artifact_bytes: int = _DEFAULTS["maxArtifactBytes"]
    max_processes: int = _DEFAULTS["maxProcesses"]
    max_file_bytes: int = _DEFAULTS["maxFileBytes"]
    worker_memory_mib: int = _DEFAULTS["workerMemoryMiB"]
    max_open_files: int = _DEFAULTS["maxOpenFiles"]
    preloads: tuple[str, ...] = DEFAULT_PRELOADS
    # 0 means "not configured": a root runtime then falls back to nobody.
    sandbox_uid: int = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "Limits":
        values: dict[str, object] = {}
        for field in dataclasses.fields(cls):
            variable = "EXECUTOR_" + field.name.upper()
            raw = environ.get(variable)
            if raw is not None and field.name == "preloads":
                # An empty list is meaningful: no preloads at all.
                values[field.name] = tuple(
                    name.strip() for name in raw.split(",") if name.strip()
                )
                continue
            if raw is None or raw.strip() == "":
                continue
            try:
                number = int(raw.strip(), 10)
            except ValueError:
                raise LimitsError(
                    f"{variable} must be a whole number, but it is {raw!r}; "
                    "fix the variable or remove it to use the default."
                ) from None
            if number < 0 or (number == 0 and field.name != "sandbox_uid"):
                raise LimitsError(
                    f"{variable} must be a positive whole number, but it is {number}."
                )
            values[field.name] = number
        function_mib = environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "").strip()
        if "worker_memory_mib" not in values and function_mib.isdigit():
            values["worker_memory_mib"] = max(MIN_WORKER_MEMORY_MIB,
                                              int(function_mib) - RUNTIME_RESERVE_MIB)
        limits = cls(**values)  # type: ignore[arg-type]
        limits.check()
        return limits

    def check(self) -> None:
        if not self.min_timeout_ms <= self.default_timeout_ms <= self.max_timeout_ms:
            raise LimitsError(
                "EXECUTOR_DEFAULT_TIMEOUT_MS must lie between EXECUTOR_MIN_TIMEOUT_MS "
                f"({self.min_timeout_ms}) and EXECUTOR_MAX_TIMEOUT_MS ({self.max_timeout_ms}), "
                f"but it is {self.default_timeout_ms}."
            )
        if self.max_script_bytes > self.max_request_bytes:
            raise LimitsError(
                "EXECUTOR_MAX_SCRIPT_BYTES must not exceed EXECUTOR_MAX_REQUEST_BYTES."
            )
        if self.max_processes < 2:
            raise LimitsError(
                "EXECUTOR_MAX_PROCESSES must be at least 2: the worker itself counts as one."
            )

    def to_report(self) -> dict[str, object]:
        """The limits as camelCase keys, the way the health report shows them."""
        report: dict[str, object] = {}
        for field in dataclasses.fields(self):
            head, *rest = field.name.split("_")
            key = head + "".join(part.capitalize() for part in rest)
            key = key.replace("Mib", "MiB")
            value = getattr(self, field.name)
            report[key] = list(value) if isinstance(value, tuple) else value
        return report
