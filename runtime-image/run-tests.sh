#!/bin/sh
# Runs the executor's unittest suite (tests/, including tests/exploits/);
# `--lambda-profile` runs the exploit corpus again in the Lambda profile
# (npm run test:reliability), any other arguments go to unittest.
#
# Interpreter: the one `npm start` and jest use (scripts/python.ts, the
# resolver in local/python.ts): $SANDBOX_PYTHON if set (or a sentence why it
# cannot be used), else the first of .venv/bin/python, python3.12, python3,
# /usr/bin/python3 that has numpy, pandas and matplotlib. With CI=true the
# scientific stack and the seccomp bindings are required: the run fails
# instead of skipping the tests that need them.
set -eu
cd "$(dirname "$0")"

PYTHON="$(cd .. && node --import tsx scripts/python.ts)" || exit 2

if [ "${CI:-}" = "true" ]; then
  for module in numpy pandas matplotlib seccomp; do
    if ! "$PYTHON" -c "import $module" >/dev/null 2>&1; then
      echo "run-tests.sh: CI=true but $PYTHON cannot import $module; install python3-numpy," \
        "python3-pandas, python3-matplotlib and python3-seccomp (apt) first." >&2
      exit 1
    fi
  done
fi

echo "run-tests.sh: $("$PYTHON" -c 'import sys; print(sys.executable, sys.version.split()[0])')" >&2
export PYTHONDONTWRITEBYTECODE=1
# The exploit corpus again in the Lambda profile (one uid, no namespaces, no
# seccomp: local/lambda-profile.py), where it must hold too. Three minutes on
# a 2-core machine, so `npm run test:reliability` runs it, not `npm test`.
lambda_profile() {
  if [ "$(id -u)" -eq 0 ]; then
    echo "run-tests.sh: the exploit corpus in the Lambda profile" >&2
    EXPLOITS_PROFILE=lambda "$PYTHON" -m unittest discover -s tests/exploits -t .
  elif [ "${CI:-}" = "true" ]; then
    echo "run-tests.sh: CI=true but not root: the Lambda profile needs root to build its namespaces." >&2
    return 1
  else
    echo "run-tests.sh: the Lambda profile needs root to build its namespaces; not run." >&2
  fi
}

if [ "${1:-}" = "--lambda-profile" ]; then
  lambda_profile
  exit $?
fi
if [ "$#" -gt 0 ]; then
  exec "$PYTHON" -m unittest "$@"
fi

# Every test once in the local default profile (root: the workers get a
# sandbox uid, namespaces, a cgroup and seccomp)...
status=0
"$PYTHON" -m unittest discover -s tests -t . || status=1
# ...and the interpreter on PATH, when it is another one (a pyenv build
# under a closed /root, say), must serve workers too: SANDBOX_PYTHON may name it.
OTHER="$(command -v python3 || true)"
if [ -n "$OTHER" ] && [ "$("$OTHER" -c 'import sys; print(sys.executable)')" != \
    "$("$PYTHON" -c 'import sys; print(sys.executable)')" ]; then
  echo "run-tests.sh: the engine again with $OTHER" >&2
  "$OTHER" -m unittest tests.test_rootfs tests.test_engine.ScriptSemanticsTest \
    tests.test_engine.ErrorTypesTest tests.test_engine.OutputCaptureTest || status=1
fi
exit "$status"
