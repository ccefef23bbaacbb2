"""What kind of host this runtime is on, decided once at init.

Three profiles, because each allows a different set of layers:

- ROOT: the runtime is root (the local server's default on Linux). Workers
  switch to a sandbox uid with no capabilities, join namespaces and a cgroup
  the runtime prepared, and load a seccomp filter.
- LAMBDA: a real Lambda execution environment (or its emulation in tests):
  one unprivileged uid for everything, no namespaces, no seccomp. The
  environment (a microVM) belongs to this runtime alone, so every other
  process of the uid may be treated as an execution's.
- SHARED: any other unprivileged runtime (a developer's laptop). The uid is
  a person's, so nothing broad is ever done to it: only the runtime's own
  process tree is searched and only files the execution created are removed.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import tempfile
from typing import Optional

from . import procfs

NOBODY_UID = 65534


class Profile(enum.Enum):
    ROOT = "root"
    LAMBDA = "lambda"
    SHARED = "shared"


@dataclasses.dataclass(frozen=True)
class HostFacts:
    profile: Profile
    runtime_pid: int
    runtime_uid: int
    # The uid workers run as (the runtime's own except in the ROOT profile).
    worker_uid: int
    # True when the sandbox uid was configured for this runtime alone.
    sandbox_uid_dedicated: bool
    tmp_dir: str
    children_file: bool

    @property
    def workers_share_runtime_uid(self) -> bool:
        return self.worker_uid == self.runtime_uid

    @property
    def dedicated_uid(self) -> Optional[int]:
        """A uid whose every process (besides the runtime's own) is an execution's."""
        return self.runtime_uid if self.profile is Profile.LAMBDA else None


def running_in_lambda(environ: Optional[dict[str, str]] = None) -> bool:
    """True only inside a Lambda execution environment (or its emulation).

    The base image sets LAMBDA_TASK_ROOT=/var/task and ships /var/runtime; a
    laptop running the local server has neither, so whole-uid kills and
    whole-/tmp wipes never happen there.
    """
    environ = dict(os.environ) if environ is None else environ
    return (bool(environ.get("AWS_LAMBDA_FUNCTION_NAME"))
            and environ.get("LAMBDA_TASK_ROOT") == "/var/task"
            and os.path.isdir("/var/runtime"))


def detect(configured_sandbox_uid: int) -> HostFacts:
    uid = os.getuid()
    if os.geteuid() == 0:
        profile = Profile.ROOT
        worker_uid = configured_sandbox_uid or NOBODY_UID
        dedicated = bool(configured_sandbox_uid)
    elif running_in_lambda():
        profile, worker_uid, dedicated = Profile.LAMBDA, uid, True
    else:
        profile, worker_uid, dedicated = Profile.SHARED, uid, False
    tmp_dir = "/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir()
    return HostFacts(profile=profile, runtime_pid=os.getpid(), runtime_uid=uid,
                     worker_uid=worker_uid, sandbox_uid_dedicated=dedicated, tmp_dir=tmp_dir,
                     children_file=procfs.children_file_available())
