"""The runtime's defences against a script that shares its uid (LAMBDA and SHARED profiles).

With one uid for everything, a script with native code can signal the
runtime and change its limits; nothing in the kernel refuses that. What the
runtime can do about it:

- Signals it does not need are ignored, so a stray SIGINT, SIGUSR1 or
  SIGALRM cannot end or confuse it (SIGTERM still ends it cleanly: Lambda
  and the local server use it to shut a runtime down).
- A POSIX timer sends it SIGCONT every few milliseconds. No other process can
  disarm a process's timer, and SIGCONT continues a stopped process whoever
  generates it, so SIGSTOP holds the runtime for one period at most, and
  the execution's deadline is still enforced.
- After every execution it compares its own limits, priority and affinity
  with what they were at init (check()); when they changed it leaves the
  environment to Lambda to reset, instead of serving with them.
"""

from __future__ import annotations

import os
import resource
import signal
from typing import Any, Optional

from . import syscalls

# Short enough that a stopped runtime still enforces a 100 ms deadline
# closely, long enough that the handler's wake-ups cost nothing measurable.
SIGCONT_PERIOD_MS = 20

_IGNORED = ("SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGVTALRM",
            "SIGPROF", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGPIPE", "SIGXFSZ", "SIGXCPU",
            "SIGIO", "SIGPWR", "SIGSYS", "SIGTRAP", "SIGURG", "SIGWINCH")
_RLIMITS = tuple(getattr(resource, name) for name in dir(resource) if name.startswith("RLIMIT_"))


def ignore_nuisance_signals() -> None:
    for name in _IGNORED:
        number = getattr(signal, name, None)
        if number is not None:
            try:
                signal.signal(number, signal.SIG_IGN)
            except (OSError, ValueError):
                pass


def resist_stops() -> None:
    # A handler, not the default disposition: newer kernels (6.13+) stop
    # re-arming a timer whose signal is ignored, and SIGCONT's default is
    # "ignore" while the process runs. Interrupted system calls restart.
    signal.signal(signal.SIGCONT, _continued)
    signal.siginterrupt(signal.SIGCONT, False)
    syscalls.periodic_signal(signal.SIGCONT, SIGCONT_PERIOD_MS, "timer_create(SIGCONT)")


def _continued(number: int, frame: Any) -> None:
    """Nothing to do: being continued was the point."""


def baseline() -> dict[str, Any]:
    return {
        "rlimits": {limit: resource.getrlimit(limit) for limit in _RLIMITS},
        "priority": os.getpriority(os.PRIO_PROCESS, 0),
        "affinity": os.sched_getaffinity(0),
    }


def check(expected: dict[str, Any]) -> Optional[str]:
    """None, or a sentence naming what a script changed about this process."""
    for limit, wanted in expected["rlimits"].items():
        now = resource.getrlimit(limit)
        if now != wanted:
            return f"resource limit {limit} of the runtime was changed from {wanted} to {now}"
    if os.getpriority(os.PRIO_PROCESS, 0) != expected["priority"]:
        return "the runtime's scheduling priority was changed"
    if os.sched_getaffinity(0) != expected["affinity"]:
        return "the runtime's CPU affinity was changed"
    return None
