#!/usr/bin/env bash
# Prints, once a second, what the ledger committed in that second (store
# transactions, payments, payments per transaction, milliseconds per
# transaction), admission control's limit, slots in use and queue, the
# payments it refused a second, SQLite's WAL restarts (done/failed) and Go's
# GC cycles in that second, from a
# running server's /metrics and /v1/status. Run it beside a surge
# (scripts/overload-bench.sh does with SAMPLE=FILE) to see where a surge's
# capacity goes: per transaction, per payment.
#
#   PEAKWALLET_OPERATOR_KEY=… scripts/batch-sampler.sh http://127.0.0.1:8080 >samples.txt
#
# It stops when the server stops answering.
set -uo pipefail
base=${1:?server URL}
auth="Authorization: Bearer ${PEAKWALLET_OPERATOR_KEY:?the operator key}"
start=$(date +%s.%N)
prev=""
load=""
# field NAME prints the number NAME in the last /v1/status "load" object.
field() { grep -o "\"$1\":[0-9]*" <<<"$load" | cut -d: -f2; }
printf '%7s %9s %9s %9s %9s %6s %8s %7s %8s %6s %4s %s\n' seconds batches/s paid/s per-batch ms/batch limit admitted queued refused/s walrst gc state
# counters VALUES: batches, payments committed, payments refused by admission,
# WAL restarts done and failed, GC cycles (each 0 when the server lacks it).
counters() {
	awk '/^peakwallet_ledger_batch_commands_count /{c=$2} /^peakwallet_ledger_batch_commands_sum /{s=$2}
		/^peakwallet_admission_refusals_total\{class="payment"/{r+=$2}
		/^peakwallet_sqlite_wal_restarts_total\{result="done"/{wd=$2} /^peakwallet_sqlite_wal_restarts_total\{result="failed"/{wf=$2}
		/^go_gc_duration_seconds_count /{g=$2}
		END{print c+0, s+0, r+0, wd+0, wf+0, g+0}' <<<"$1"
}
while :; do
	metrics=$(curl -sf -H "$auth" "$base/metrics") || break
	status=$(curl -sf -H "$auth" "$base/v1/status") || break
	now=$(date +%s.%N)
	cur="$(counters "$metrics") $now"
	load=$(grep -o '"load":{[^}]*}' <<<"$status")
	state=$(grep -o '"state":"[a-z]*"' <<<"$status" | head -1 | cut -d'"' -f4)
	if [ -n "$prev" ]; then
		awk -v p="$prev" -v c="$cur" -v t0="$start" -v lim="$(field limit)" -v adm="$(field admitted)" -v q="$(field queued)" -v st="$state" 'BEGIN{
			split(p, a, " "); split(c, b, " ")
			dt = b[7] - a[7]; db = b[1] - a[1]; dc = b[2] - a[2]
			printf "%7.1f %9.0f %9.0f %9.1f %9.1f %6s %8s %7s %8.0f %3d/%-2d %4d %s\n", b[7]-t0, db/dt, dc/dt, (db ? dc/db : 0), (db ? 1000*dt/db : 0),
				lim, adm, (q == "" ? 0 : q), (b[3]-a[3])/dt, b[4]-a[4], b[5]-a[5], b[6]-a[6], st
		}'
	fi
	prev=$cur
	sleep 1
done
