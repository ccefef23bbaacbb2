#!/usr/bin/env bash
# `npm run setup-python`: a project .venv with the executor image's own pins
# (runtime-image/requirements.txt), which `npm start`, the tests and the bench
# then find first (local/python.ts). It needs a package index; where none is
# reachable, or the pins have no wheels for this Python (they are the image's,
# for CPython 3.12), it says so in one sentence, names the alternative, and
# leaves no half-built .venv behind.
#
# SETUP_PYTHON_VENV overrides the folder (default .venv in the repository).
set -u
cd "$(dirname "$0")/.." || exit 1
VENV="${SETUP_PYTHON_VENV:-.venv}"
REQUIREMENTS=runtime-image/requirements.txt
ALTERNATIVE="use your system's packages instead (Debian/Ubuntu: apt-get install python3-numpy python3-pandas python3-matplotlib, then SANDBOX_PYTHON=/usr/bin/python3), or install numpy, pandas and matplotlib into a Python 3.11+ of your own and set SANDBOX_PYTHON to it"

fail() {
  echo "setup-python: $*" >&2
  exit 1
}

BASE=""
for candidate in python3.12 python3.11 python3; do
  if "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1; then
    BASE="$candidate"
    break
  fi
done
[ -n "$BASE" ] || fail "no Python 3.11 or newer was found as python3.12, python3.11 or python3; install one, or $ALTERNATIVE."
VERSION="$("$BASE" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"

created=no
[ -e "$VENV" ] || created=yes
discard() {
  if [ "$created" = yes ]; then rm -rf "$VENV"; fi
}

echo "setup-python: creating $VENV with $BASE (Python $VERSION), then installing $REQUIREMENTS" >&2
if ! "$BASE" -m venv "$VENV"; then
  discard
  fail "$BASE could not create $VENV (on Debian/Ubuntu the venv module is the package python3-venv); install it, or $ALTERNATIVE."
fi
if ! "$VENV/bin/python" -m pip install --disable-pip-version-check --only-binary=:all: -r "$REQUIREMENTS"; then
  discard
  fail "could not install $REQUIREMENTS into $VENV for Python $VERSION: no package index was reachable, or it has no wheels of these pins for this Python (they are the executor image's, for CPython 3.12)$([ "$created" = yes ] && echo "; $VENV was removed"). Retry where an index is reachable, or $ALTERNATIVE."
fi
echo "setup-python: $VENV is ready; npm start, npm test and npm run bench now use $VENV/bin/python." >&2
