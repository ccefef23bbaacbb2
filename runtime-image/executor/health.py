"""The health report of contract/README.md, logged at init and answered on {"action": "health"}."""

from __future__ import annotations

import platform
from typing import Any, Mapping

from .limits import Limits

LAYER_NAMES = (
    "worker_process",
    "unprivileged_uid",
    "namespaces",
    "rlimits",
    "non_dumpable_parent",
    "seccomp",
    "audit_hook",
    "scrubbed_environment",
    "fresh_workdir",
    "redaction",
    "network_isolation",
)


def build_report(preloads: Mapping[str, Mapping[str, Any]], layers: Mapping[str, Any],
                 limits: Limits, init_ms: int) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "preloads": {name: dict(value) for name, value in preloads.items()},
        "layers": {name: layers[name].to_report() for name in LAYER_NAMES if name in layers},
        "limits": limits.to_report(),
        "initMs": init_ms,
    }
