#!/usr/bin/env bash
# make demo: the worker end to end against moto_server, driven by the aws cli.
#
#   1. build bin/worker
#   2. start moto_server on a free loopback port
#   3. create the queue "invalidations", its dead-letter queue
#      "invalidations-dlq" (RedrivePolicy, maxReceiveCount 5) and a
#      CloudFront distribution in moto (scripts/setup-resources.sh)
#   4. start the worker (configs/local.yaml + INVALIDATOR_* overrides) and
#      wait for /readyz
#   5. send what a CMS publish hook would: a post, its listing pages, an
#      alias message, a duplicate, a wildcard and one poison message
#   6. wait until the queue is drained, then show the invalidations, the
#      dead-letter queue with its reason attributes and a few metrics
#   7. SIGTERM the worker and check it exits 0
#
# Exits 0 only if at least one invalidation was created, the poison message
# reached the dead-letter queue and the worker shut down cleanly. moto and
# the worker are stopped on every exit; their logs are kept in a temporary
# directory whose tails are printed on failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

READY_TIMEOUT=${READY_TIMEOUT:-30}  # seconds for moto and the worker to come up
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-60}  # seconds for the worker to empty the queue
STOP_TIMEOUT=${STOP_TIMEOUT:-30}    # seconds for the worker to exit after SIGTERM (shutdown_grace is 10s)

step() { printf '\n==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
fail() { printf '\ndemo: FAILED: %s\n' "$*" >&2; exit 1; }

for tool in go moto_server aws curl python3; do
  command -v "$tool" >/dev/null || fail "$tool is not on PATH (the demo needs go, moto_server, aws, curl and python3)"
done

# A clean AWS environment: static test credentials, nothing from the caller's
# profile, and no stray INVALIDATOR_* variable (the worker refuses unknown ones).
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_SQS AWS_ENDPOINT_URL_CLOUDFRONT AWS_CONFIG_FILE
while read -r name; do unset "$name"; done < <(compgen -e | grep '^INVALIDATOR_' || true)
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true AWS_PAGER=""
export AWS_SHARED_CREDENTIALS_FILE=/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/cf-invalidator-demo.XXXXXX")
moto_pid="" worker_pid=""

stop_pid() { # pid: TERM, then KILL after 5 s
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  trap - EXIT
  [[ -n $worker_pid ]] && stop_pid "$worker_pid"
  # moto runs in its own session (setsid): stop its whole group.
  [[ -n $moto_pid ]] && { kill -TERM -- "-$moto_pid" 2>/dev/null || true; stop_pid "$moto_pid"; }
  wait 2>/dev/null || true
  if ((rc != 0)); then
    for f in aws.log moto.log worker.log; do
      [[ -s $work/$f ]] || continue
      printf '\n--- last lines of %s ---\n' "$work/$f" >&2
      tail -n 40 "$work/$f" >&2
    done
    printf '\ndemo: logs kept in %s\n' "$work" >&2
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# awsm runs the aws cli against moto; its stderr goes to aws.log, whose tail
# is printed if the demo fails.
awsm() { aws --endpoint-url "$moto" "$@" 2>>"$work/aws.log"; }

step "1/7 building the worker"
go build -o bin/worker ./cmd/worker
info "bin/worker"

step "2/7 starting moto_server"
moto_port=$(free_port)
moto="http://127.0.0.1:$moto_port"
if command -v setsid >/dev/null; then
  setsid moto_server -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
else
  moto_server -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
fi
moto_pid=$!
for ((i = 0; i < READY_TIMEOUT * 10; i++)); do
  curl -fsS -o /dev/null "$moto/moto-api/" 2>/dev/null && break
  kill -0 "$moto_pid" 2>/dev/null || fail "moto_server exited during start-up"
  sleep 0.1
done
curl -fsS -o /dev/null "$moto/moto-api/" || fail "moto_server not ready at $moto within ${READY_TIMEOUT}s"
info "moto_server $moto (pid $moto_pid)"

step "3/7 creating the queues and a CloudFront distribution in moto"
scripts/setup-resources.sh "$moto" >"$work/resources.env" 2>>"$work/aws.log"
while IFS='=' read -r key value; do
  case $key in
    QUEUE_URL) queue_url=$value ;;
    DLQ_URL) dlq_url=$value ;;
    DISTRIBUTION_ID) dist=$value ;;
  esac
done <"$work/resources.env"
[[ -n ${queue_url:-} && -n ${dlq_url:-} && -n ${dist:-} ]] || fail "scripts/setup-resources.sh printed no queue or distribution"
info "queue            $queue_url"
info "dead-letter      $dlq_url (RedrivePolicy maxReceiveCount 5)"
info "distribution     $dist (alias \"www\" in the worker's allow-list)"

step "4/7 starting the worker"
http_addr="127.0.0.1:$(free_port)"
env \
  AWS_ENDPOINT_URL_SQS="$moto" \
  AWS_ENDPOINT_URL_CLOUDFRONT="$moto" \
  INVALIDATOR_QUEUE_URL="$queue_url" \
  INVALIDATOR_DEAD_LETTER_QUEUE_URL="$dlq_url" \
  INVALIDATOR_DISTRIBUTIONS="[{\"id\":\"$dist\",\"aliases\":[\"www\"]}]" \
  INVALIDATOR_WINDOW=2s \
  INVALIDATOR_HTTP_ADDR="$http_addr" \
  bin/worker run --config configs/local.yaml >"$work/worker.log" 2>&1 &
worker_pid=$!
info "bin/worker run --config configs/local.yaml (pid $worker_pid, http $http_addr, window 2s)"
ready=""
for ((i = 0; i < READY_TIMEOUT * 10; i++)); do
  if ! kill -0 "$worker_pid" 2>/dev/null; then
    wait "$worker_pid" && rc=0 || rc=$?
    worker_pid=""
    fail "the worker exited with status $rc before it was ready"
  fi
  if curl -fsS -o /dev/null "http://$http_addr/readyz" 2>/dev/null; then ready=1; break; fi
  sleep 0.1
done
[[ -n $ready ]] || fail "the worker's /readyz did not answer 200 within ${READY_TIMEOUT}s"
info "/readyz 200"

step "5/7 sending messages the way a CMS publish hook would"
post="/blog/2024/hello-world"
post_body="{\"distribution_id\":\"$dist\",\"paths\":[\"$post/\",\"$post/index.html\",\"/img/2024/hello-world/cover.jpg\"]}"
poison_body="{\"distribution_id\":\"$dist\",\"paths\":[\"/blog/2024/draft/\""  # cut off: not JSON

send() { # label body
  awsm sqs send-message --queue-url "$queue_url" --message-body "$2" >/dev/null
  info "$(printf '%-34s %s' "$1" "$2")"
}
send "post published" "$post_body"

# The listing pages the post appears on, in one SendMessageBatch call.
python3 - "$dist" >"$work/batch.json" <<'PY'
import json, sys
dist = sys.argv[1]
pages = [["/blog/", "/blog/page/2/"], ["/", "/index.html"], ["/feed.xml", "/sitemap.xml"]]
print(json.dumps([{"Id": f"listing{i}", "MessageBody": json.dumps({"distribution_id": dist, "paths": p}, separators=(",", ":"))}
                  for i, p in enumerate(pages)]))
PY
failed=$(awsm sqs send-message-batch --queue-url "$queue_url" --entries "file://$work/batch.json" \
  --query 'length(Failed || `[]`)' --output text)
[[ $failed == 0 ]] || fail "send-message-batch: $failed entries failed"
python3 - "$work/batch.json" <<'PY'
import json, sys
for e in json.load(open(sys.argv[1])):
    print(f"    {'listing pages (batch)':<34} {e['MessageBody']}")
PY

send "alias \"www\"" '{"distribution":"www","paths":["/about/","/index.html"]}'
send "duplicate (the hook retried)" "$post_body"
send "wildcard (image directory)" '{"distribution":"www","paths":["/img/2024/hello-world/*"]}'
send "poison (truncated JSON)" "$poison_body"

step "6/7 waiting until the queue is drained (at most ${DRAIN_TIMEOUT}s)"
start=$SECONDS drained=""
while ((SECONDS - start < DRAIN_TIMEOUT)); do
  kill -0 "$worker_pid" 2>/dev/null || fail "the worker exited while the queue was being drained"
  counts=$(awsm sqs get-queue-attributes --queue-url "$queue_url" \
    --attribute-names ApproximateNumberOfMessages ApproximateNumberOfMessagesNotVisible \
    --query '[Attributes.ApproximateNumberOfMessages, Attributes.ApproximateNumberOfMessagesNotVisible]' \
    --output text)
  read -r visible invisible <<<"$counts"
  info "$(printf '%3ss  visible %s, in flight %s' "$((SECONDS - start))" "$visible" "$invisible")"
  if [[ $visible == 0 && $invisible == 0 ]]; then drained=1; break; fi
  sleep 1
done
[[ -n $drained ]] || fail "the queue was not drained within ${DRAIN_TIMEOUT}s"

printf '\n  Invalidations the worker logged:\n'
python3 - "$work/worker.log" <<'PY'
import json, sys
n = 0
for line in open(sys.argv[1], errors="replace"):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("msg") == "invalidation accepted":
        n += 1
        print(f"    {e.get('invalidation_id')}  distribution {e.get('distribution')}: "
              f"{e.get('paths')} path(s) for {e.get('messages')} message(s)")
if n == 0:
    print("    (none)")
PY

printf '\n  Invalidations in CloudFront (moto):\n'
inv_ids=$(awsm cloudfront list-invalidations --distribution-id "$dist" \
  --query 'InvalidationList.Items[].Id' --output text)
[[ $inv_ids == None ]] && inv_ids=""
inv_count=0
for id in $inv_ids; do
  inv_count=$((inv_count + 1))
  awsm cloudfront get-invalidation --distribution-id "$dist" --id "$id" --output json >"$work/inv-$id.json"
  python3 - "$work/inv-$id.json" <<'PY'
import json, sys
inv = json.load(open(sys.argv[1]))["Invalidation"]
batch = inv["InvalidationBatch"]
print(f"    {inv['Id']}  status {inv['Status']}  caller reference {batch['CallerReference'][:24]}…")
for p in sorted(batch["Paths"].get("Items", [])):
    print(f"        {p}")
PY
done
((inv_count > 0)) || echo "    (none)"

printf '\n  Dead-letter queue:\n'
awsm sqs receive-message --queue-url "$dlq_url" --max-number-of-messages 10 --visibility-timeout 0 \
  --wait-time-seconds 1 --attribute-names All --message-attribute-names All --output json >"$work/dlq.json"
python3 - "$work/dlq.json" "$poison_body" "$work/poison-found" <<'PY'
import json, sys
raw = open(sys.argv[1]).read().strip()
msgs = json.loads(raw).get("Messages", []) if raw else []
found = 0
for m in msgs:
    attrs = m.get("MessageAttributes", {})
    code = attrs.get("invalidator.reason_code", {}).get("StringValue", "-")
    reason = attrs.get("invalidator.reason", {}).get("StringValue", "-")
    print(f"    body        {m['Body']}")
    print(f"    reason_code {code}")
    print(f"    reason      {reason}\n")
    found += m["Body"] == sys.argv[2]
if not msgs:
    print("    (empty)")
open(sys.argv[3], "w").write(f"{found}\n")
PY
poison_in_dlq=$(cat "$work/poison-found")

printf '\n  Metrics (http://%s/metrics, excerpt):\n' "$http_addr"
curl -fsS "http://$http_addr/metrics" >"$work/metrics.txt" || fail "GET /metrics failed"
grep -E '^invalidator_(messages_received_total|messages_deleted_total|messages_dead_lettered_total|paths_in_total|paths_submitted_total|invalidation_requests_total|messages_held)[ {]' \
  "$work/metrics.txt" | sed 's/^/    /' || echo "    (no invalidator_* metrics found)"

step "7/7 stopping the worker with SIGTERM"
kill -TERM "$worker_pid"
for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do kill -0 "$worker_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$worker_pid" 2>/dev/null && fail "the worker did not exit within ${STOP_TIMEOUT}s of SIGTERM"
wait "$worker_pid" && worker_rc=0 || worker_rc=$?
worker_pid=""
info "the worker exited with status $worker_rc"

problems=()
((worker_rc == 0)) || problems+=("the worker exited with status $worker_rc after SIGTERM, want 0")
((inv_count > 0)) || problems+=("no invalidation was created")
((poison_in_dlq > 0)) || problems+=("the poison message did not reach the dead-letter queue")
if ((${#problems[@]})); then
  printf '    - %s\n' "${problems[@]}" >&2
  fail "${#problems[@]} check(s) failed"
fi
printf '\ndemo: OK — %d invalidation(s) created, the poison message was dead-lettered, clean shutdown.\n' "$inv_count"
