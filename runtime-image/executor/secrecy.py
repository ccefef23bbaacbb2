"""The runtime's secrets: keep one copy for redaction, destroy every other one.

In Lambda the runtime is exec'd with the role's credentials in its
environment. The runtime never needs them (artifact uploads use presigned
POST policies), workers are forks that inherit its memory, and
/proc/<pid>/environ shows the exec-time block even after os.environ is
edited. So the credentials' bytes are zeroed wherever this process holds
them, and the exec-time block is zeroed before the worker template is
forked. Best effort by nature: the layers that actually keep secrets from a
script are the non-dumpable runtime, the template that never sees a request
and the role being worthless.
"""

from __future__ import annotations

import os
import sys
from typing import Optional

from . import procfs, syscalls

SEAL_KEY_VARIABLE = "EXECUTOR_SEAL_KEY"
SECRET_VARIABLES = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AWS_LAMBDA_RUNTIME_API",
    SEAL_KEY_VARIABLE,
)
# Removed from the environment: the runtime never needs the credentials, and
# it takes the seal key (seal.py) before they go.
CREDENTIAL_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID",
                        SEAL_KEY_VARIABLE)
# Values shorter than this would turn ordinary output into "[REDACTED]".
MIN_SECRET_LENGTH = 8

def take_seal_key() -> Optional[bytearray]:
    """The seal key's bytes, copied into a buffer this process can zero later."""
    raw = getattr(os.environ, "_data", {}).get(SEAL_KEY_VARIABLE.encode())
    return None if not raw else bytearray(raw)


def zero_buffer(buffer: bytearray) -> None:
    for index in range(len(buffer)):
        buffer[index] = 0


def take_secrets() -> list[str]:
    """Keep one copy of each secret value (for redaction) and destroy the credentials.

    The values are read straight from os.environ's bytes store (no throw-away
    decoded copies); the credentials' bytes and libc's copies are zeroed
    before they are released.
    """
    data: dict[bytes, bytes] = getattr(os.environ, "_data", {})
    kept: list[str] = []
    for name in SECRET_VARIABLES:
        raw = data.get(name.encode())
        if raw is not None and len(raw) >= MIN_SECRET_LENGTH:
            value = raw.decode("utf-8", "surrogateescape")
            if value not in kept:
                kept.append(value)
    for name in CREDENTIAL_VARIABLES:
        key = name.encode()
        raw = data.get(key)
        if raw is None:
            continue
        syscalls.zero_c_string(syscalls.getenv_pointer(key))
        syscalls.zero_bytes(raw)
        del os.environ[name]
    # Longest first, so a secret that contains another is replaced whole.
    kept.sort(key=len, reverse=True)
    return kept


def wipe_exec_environment_block() -> bool:
    """Zero the exec-time environment strings of this process.

    libc's `environ` is first pointed at fresh copies (putenv) so getenv
    keeps working in this process.
    """
    block = procfs.environ_block()
    if block is None:
        return False
    for key, value in os.environ.items():
        os.putenv(key, value)
    start, end = block
    syscalls.zero_memory(start, end - start)
    return True


def _wipe_str(value: str) -> None:
    """Overwrite a compact ASCII str's characters in place (this process's copy only)."""
    if not value or not value.isascii():
        return
    start = id(value) + sys.getsizeof(value) - len(value) - 1
    syscalls.zero_memory(start, len(value))


def scrub_inherited_copies(secrets: list[str], secret_bytes: list[bytes],
                           buffers: list[bytearray]) -> None:
    """In a fresh template, overwrite the copies of secrets it inherited by fork."""
    for buffer in buffers:
        zero_buffer(buffer)
    for key in list(os.environ):
        syscalls.zero_c_string(syscalls.getenv_pointer(key.encode()))
    data: dict[bytes, bytes] = getattr(os.environ, "_data", {})
    for raw_key, value in list(data.items()):
        if raw_key.startswith(b"AWS_") or any(secret in value for secret in secret_bytes):
            syscalls.zero_bytes(value)
    for secret in secrets:
        _wipe_str(secret)
    for raw in secret_bytes:
        syscalls.zero_bytes(raw)
