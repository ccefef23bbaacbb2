"""secure-python-executor: runs untrusted Python in sandboxed, pre-forked workers.

Public API: executor.limits.Limits and executor.engine.Engine; the image's
entry point is `python3 -m executor` (executor.runtime).
"""
