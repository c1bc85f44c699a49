#!/usr/bin/env bash
# Counts PostgreSQL's WAL syncs (pg_stat_wal.wal_sync) per payment, for N
# payments sent one after another through a real `peakwallet serve`: how
# many flushes a lone payment waits for, a figure that does not depend on
# how fast the machine's disk is today (docs/overload-journal.md, history).
#
#   scripts/wal-syncs.sh [N] [ADMIN_DSN]
#
# ADMIN_DSN (default postgres://postgres@127.0.0.1:5432/postgres) must be
# able to create a database; the counter is the cluster's, so run it with
# nothing else writing to the cluster.
set -euo pipefail
n=${1:-200}
admin=${2:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
db=walsyncs_$$
dsn=${admin/\/postgres\?/\/$db?}
export GOTOOLCHAIN=auto
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
psql -q "$admin" -c "CREATE DATABASE $db"
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; psql -q "$admin" -c "DROP DATABASE IF EXISTS $db"; rm -rf "$work"' EXIT
(cd "$root" && go build -o "$work/peakwallet" ./cmd/peakwallet)
key=wal-syncs-key-$RANDOM$RANDOM
addr=127.0.0.1:$((20000 + RANDOM % 20000))
PEAKWALLET_OPERATOR_KEY=$key "$work/peakwallet" serve --postgres "$dsn" --data "$work/data" --addr "$addr" --log-level warn >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 100); do curl -sf "http://$addr/readyz" >/dev/null && break; sleep 0.1; done
post() { curl -sf -X POST "http://$addr$1" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' -H "Idempotency-Key: $2" -d "$3"; }
id() { python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
bank=$(post /v1/accounts bank '{"kind":"system","currency":"EUR"}' | id)
payer=$(post /v1/accounts payer '{"kind":"user","currency":"EUR"}' | id)
post /v1/transfers fund "{\"from_account\":\"$bank\",\"to_account\":\"$payer\",\"amount\":1000000,\"currency\":\"EUR\"}" >/dev/null
# A backend reports its WAL counters at most once a second while busy and
# after 10 s when idle, and all of them when it exits: wait out the set-up's,
# and stop the server before reading the payments'.
syncs() { psql -Atq "$admin" -c "SELECT wal_sync FROM pg_stat_wal"; }
sleep 11
before=$(syncs)
for i in $(seq "$n"); do
	post /v1/transfers "pay-$i" "{\"from_account\":\"$payer\",\"to_account\":\"$bank\",\"amount\":1,\"currency\":\"EUR\"}" >/dev/null
done
kill -TERM "$server"
wait "$server" || true
sleep 1
after=$(syncs)
echo "$n payments, $((after - before)) WAL syncs: $(python3 -c "print(round(($after - $before) / $n, 2))") a payment"
