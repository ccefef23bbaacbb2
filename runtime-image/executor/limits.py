"""Limits of one executor, read once from the EXECUTOR_* environment variables.

The CDK stack and the local server set these variables (contract/README.md);
every value has a secure default so that an executor started by hand is
still bounded.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

# Nesting depth counts the request object itself as level 1 (contract).
MAX_NESTING_DEPTH = 64


class LimitsError(ValueError):
    """An EXECUTOR_* variable holds a value the executor cannot use."""


# What a function's memory must keep for the runtime itself: with numpy,
# pandas and matplotlib preloaded it holds about 97 MiB resident (Debian's
# Python 3.11) to 105 MiB (the image's 3.12), and the template's own pages.
# A worker gets the rest (128 MiB at 256 MB) when EXECUTOR_WORKER_MEMORY_MIB
# is not set in a Lambda environment; lib/config.ts derives the same.
RUNTIME_RESERVE_MIB = 128
MIN_WORKER_MEMORY_MIB = 64


@dataclasses.dataclass(frozen=True)
class Limits:
    default_timeout_ms: int = 10_000
    min_timeout_ms: int = 100
    max_timeout_ms: int = 25_000
    max_script_bytes: int = 65_536
    max_request_bytes: int = 1_000_000
    max_stdout_bytes: int = 102_400
    max_stderr_bytes: int = 102_400
    max_result_bytes: int = 1_048_576
    max_artifacts: int = 10
    max_artifact_bytes: int = 5_242_880
    max_processes: int = 16
    max_file_bytes: int = 10_485_760
    worker_memory_mib: int = 192
    max_open_files: int = 256
    preloads: tuple[str, ...] = ("numpy", "pandas", "matplotlib")
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
