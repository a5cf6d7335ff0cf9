#!/usr/bin/env bash
# Property-based API testing with schemathesis, bounded in time: starts a real server on a
# temporary SQLite database (bundled content), fails on any server error or response that
# violates the OpenAPI schema. Starting builds (admin and editor) is left out: each is minutes of
# CPU in a background thread that would starve the server under test on 2 cores. One worker:
# with two, hypothesis parses lambda sources from two threads at once, and CPython 3.11 can fail
# that with "AST constructor recursion depth mismatch" (seen in CI; a tool error, not the server).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
tmp=$(mktemp -d)
port=$($BIN/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PUFA_API_KEYS="" $BIN/pufa serve --bootstrap --db "sqlite:///$tmp/pufa.db" --models "$tmp/models" --port "$port" \
  > "$tmp/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 1 600); do  # a first build embeds the sample: ~30 s idle, minutes on a busy machine
  curl -sf "http://127.0.0.1:$port/health" | grep -q '"model_version":"v' && break
  sleep 1
done
curl -sf "http://127.0.0.1:$port/health" >/dev/null || { cat "$tmp/server.log"; exit 1; }
timeout "${SCHEMATHESIS_SECONDS:-420}" $BIN/schemathesis run "http://127.0.0.1:$port/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "${SCHEMATHESIS_EXAMPLES:-25}" --workers 1 --no-color --seed 1 \
  --phases examples,coverage,fuzzing --max-time "${SCHEMATHESIS_MAX_TIME:-240}" \
  --exclude-path-regex '^/v1/(admin/)?builds$' \
  || { echo "--- server log"; tail -50 "$tmp/server.log"; exit 1; }
