#!/usr/bin/env bash
# `npm test`: jest (without the long suites, see test/slow-suites.js) and the
# Python executor tests. `npm run test:reliability` (`--reliability`): the
# long suites and the exploit corpus in the Lambda profile. Both parts
# always run, so that one failing does not hide the other; the summary names
# each result, and the exit status is non-zero when either failed.
set -u
cd "$(dirname "$0")/.." || exit 2

if [ "${1:-}" = "--reliability" ]; then
  name="npm run test:reliability"
  jest_args=(--config jest.reliability.config.js)
  python_args=(--lambda-profile)
else
  name="npm test"
  jest_args=()
  python_args=()
fi

started=$SECONDS
jest_status=0
npx jest --runInBand "${jest_args[@]}" || jest_status=$?
jest_seconds=$((SECONDS - started))

started=$SECONDS
python_status=0
bash runtime-image/run-tests.sh "${python_args[@]}" || python_status=$?
python_seconds=$((SECONDS - started))

verdict() { if [ "$1" -eq 0 ]; then echo passed; else echo "FAILED (exit $1)"; fi; }
echo
echo "$name: jest $(verdict "$jest_status") in ${jest_seconds} s; Python executor tests $(verdict "$python_status") in ${python_seconds} s."
[ "$jest_status" -eq 0 ] && [ "$python_status" -eq 0 ]
