#!/usr/bin/env bash
# `npm test`: jest (without the long suites, see test/slow-suites.js) and the
# Python executor tests. Both always run, so that one failing does not hide
# the other; the summary names each result, and the exit status is non-zero
# when either failed.
set -u
cd "$(dirname "$0")/.."

started=$SECONDS
jest_status=0
npx jest --runInBand "$@" || jest_status=$?
jest_seconds=$((SECONDS - started))

started=$SECONDS
python_status=0
bash runtime-image/run-tests.sh || python_status=$?
python_seconds=$((SECONDS - started))

verdict() { if [ "$1" -eq 0 ]; then echo passed; else echo "FAILED (exit $1)"; fi; }
echo
echo "npm test: jest $(verdict "$jest_status") in ${jest_seconds} s; Python executor tests $(verdict "$python_status") in ${python_seconds} s."
[ "$jest_status" -eq 0 ] && [ "$python_status" -eq 0 ]
