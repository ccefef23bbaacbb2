"""The health report of contract/README.md, logged at init and answered on {"action": "health"}."""

from __future__ import annotations

import platform
from typing import Any, Mapping

from .layers import LAYER_NAMES, Layer
from .limits import Limits


def build_report(profile: str, preloads: Mapping[str, Mapping[str, Any]],
                 layers: Mapping[str, Layer], limits: Limits, init_ms: int) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "profile": profile,
        "preloads": {name: dict(value) for name, value in preloads.items()},
        "layers": {name: layers[name].to_report() for name in LAYER_NAMES if name in layers},
        "limits": limits.to_report(),
        "initMs": init_ms,
    }
