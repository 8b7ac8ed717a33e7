#!/usr/bin/env bash
# `make demo`: the whole forwarder on this machine, no AWS account. Starts osmem-server (an
# OpenSearch-compatible server) and moto (SQS for the dead-letter queue), runs the function under
# `cargo lambda watch`, invokes it with every sample event in events/, prints what was indexed
# and what was dead-lettered, and stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."

tools=${LF_TOOLS:-$HOME/.cache/log-forwarder-tools}
venv="$tools/venv"
logs=$(mktemp -d -t log-forwarder-demo.XXXXXX)
step() { printf '==> demo: %s\n' "$*"; }
fail() { printf 'demo: %s (logs in %s)\n' "$*" >&2; exit 1; }

pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    # Negative pid: the whole process group (cargo lambda watch runs the function as a child).
    kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
trap cleanup EXIT

free_port() { "$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # url what
  for _ in $(seq 1 150); do
    if "$venv/bin/python" -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$1" 2>/dev/null; then
      return 0
    fi
    sleep 0.2
  done
  fail "$2 did not start"
}

step "installing the pinned tools (idempotent)"
scripts/install-tools.sh

es_port=$(free_port); moto_port=$(free_port); lambda_port=$(free_port)
es="http://127.0.0.1:$es_port"; moto="http://127.0.0.1:$moto_port"

step "starting osmem-server on $es"
osmem=$("$venv/bin/python" -c 'import osmem_server; print(osmem_server.resolve_binary())') \
  || fail "osmem-server is not installed"
setsid "$osmem" -addr "127.0.0.1:$es_port" -no-stdin-watch -no-ja >"$logs/osmem.log" 2>&1 &
pids+=($!)
wait_http "$es/" "osmem-server"

step "starting moto (SQS) on $moto"
setsid "$venv/bin/moto_server" -H 127.0.0.1 -p "$moto_port" >"$logs/moto.log" 2>&1 &
pids+=($!)
wait_http "$moto/moto-api/" "moto"

export AWS_ENDPOINT_URL="$moto" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
  AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
step "creating the dead-letter queue"
dlq=$("$venv/bin/python" -c "import boto3; print(boto3.client('sqs').create_queue(QueueName='log-forwarder-dlq')['QueueUrl'])") \
  || fail "could not create the SQS queue in moto"

step "building and starting the function under cargo lambda watch (first build takes a few minutes)"
PATH="$venv/bin:$PATH" ES_ENDPOINT="$es" DLQ_QUEUE_URL="$dlq" ES_INDEX="demo-logs-%Y.%m.%d" \
  setsid cargo lambda watch -A 127.0.0.1 -P "$lambda_port" >"$logs/function.log" 2>&1 &
pids+=($!)
sleep 2

for event in events/*.json; do
  step "invoking with $event"
  PATH="$venv/bin:$PATH" timeout 900 cargo lambda invoke log-forwarder -A 127.0.0.1 -P "$lambda_port" \
    --data-file "$event" >"$logs/response.json" 2>"$logs/invoke.err" \
    || fail "invoking with $event failed: $(tail -3 "$logs/invoke.err")"
  printf '    response: %s\n' "$(cat "$logs/response.json")"
done

step "what was indexed, and what went to the dead-letter queue"
"$venv/bin/python" - "$es" "$dlq" <<'PY'
import json, sys, urllib.request
import boto3

es, dlq = sys.argv[1], sys.argv[2]
def get(path):
    with urllib.request.urlopen(es + path) as r:
        return json.load(r)

print("\n    index                      documents")
for idx in sorted(get("/_cat/indices?format=json"), key=lambda i: i["index"]):
    if idx["index"].startswith("demo-logs-"):
        print(f"    {idx['index']:<26} {idx['docs.count']:>9}")

hits = get("/demo-logs-*/_search?size=100")["hits"]["hits"]
masked = [h["_source"]["message"] for h in hits if "[MASKED:" in h["_source"]["message"]]
print(f"\n    {len(masked)} of {len(hits)} messages had something masked, e.g.:")
for m in masked[:3]:
    print("      " + m.strip()[:150])

messages = boto3.client("sqs").receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
print(f"\n    dead letters: {len(messages)}")
for m in messages:
    letter = json.loads(m["Body"])
    print(f"      {letter['stage']:<12} {letter['error_type']:<28} {letter['reason'][:70]}")
print()
PY
step "done; stopping osmem-server, moto and the function"
