#!/usr/bin/env bash
# The Python linters: pyflakes (unused names, undefined names, shadowing) over
# every Python file of the repository, and mypy over the executor package.
# Debian: apt-get install pyflakes3 mypy (.ci/run installs them). A missing
# tool fails the run: it never skips.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in pyflakes3 mypy; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "lint-python.sh: $tool is not installed; on Debian/Ubuntu: apt-get install pyflakes3 mypy" >&2
    exit 1
  fi
done

mapfile -t files < <(git ls-files -- '*.py')
pyflakes3 "${files[@]}"
(cd runtime-image && mypy --ignore-missing-imports --python-version 3.11 --no-error-summary executor)
echo "lint-python.sh: pyflakes3 on ${#files[@]} files and mypy on runtime-image/executor found nothing"
