#!/usr/bin/env bash
# Runs `npm run verify-deployment` against a local server it starts for the
# purpose (npm start on a free port), exactly as a user checks a deployed
# stack, and stops the server again. Exits with verify-deployment's status:
# 0 all checked facts hold, 1 a fact failed, 2 the server could not be checked.
set -euo pipefail
cd "$(dirname "$0")/.."

log="$(mktemp)"
# node itself, not npx, so that the pid below is the server's own and SIGTERM
# reaches its shutdown (which stops every runtime it started).
PORT=0 RUNTIME_LOGS=0 node --import tsx local/main.ts >"$log" 2>&1 &
server_pid=$!
cleanup() {
  kill -TERM "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  rm -f "$log"
}
trap cleanup EXIT

url=""
for _ in $(seq 1 120); do
  url="$(sed -n 's/^READY \(http:[^ ]*\).*/\1/p' "$log" | head -n 1)"
  [ -n "$url" ] && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "The local server exited before it was ready:" >&2
    cat "$log" >&2
    exit 2
  fi
  sleep 1
done
if [ -z "$url" ]; then
  echo "The local server did not print READY within 120 s:" >&2
  cat "$log" >&2
  exit 2
fi

npm run --silent verify-deployment -- --endpoint "$url"
