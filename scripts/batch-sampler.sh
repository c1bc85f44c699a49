#!/usr/bin/env bash
# Prints, once a second, what the ledger committed in that second (store
# transactions, payments, payments per transaction, milliseconds per
# transaction) and admission control's limit, slots in use and queue, from a
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
printf '%7s %9s %9s %9s %9s %6s %8s %7s %s\n' seconds batches/s paid/s per-batch ms/batch limit admitted queued state
while :; do
	metrics=$(curl -sf -H "$auth" "$base/metrics") || break
	status=$(curl -sf -H "$auth" "$base/v1/status") || break
	now=$(date +%s.%N)
	cur=$(awk '/^peakwallet_ledger_batch_commands_count /{c=$2} /^peakwallet_ledger_batch_commands_sum /{s=$2} END{print c, s}' <<<"$metrics")
	load=$(grep -o '"load":{[^}]*}' <<<"$status")
	state=$(grep -o '"state":"[a-z]*"' <<<"$status" | head -1 | cut -d'"' -f4)
	if [ -n "$prev" ]; then
		awk -v p="$prev" -v c="$cur $now" -v t0="$start" -v lim="$(field limit)" -v adm="$(field admitted)" -v q="$(field queued)" -v st="$state" 'BEGIN{
			split(p, a, " "); split(c, b, " ")
			dt = b[3] - a[3]; db = b[1] - a[1]; dc = b[2] - a[2]
			printf "%7.1f %9.0f %9.0f %9.1f %9.1f %6s %8s %7s %s\n", b[3]-t0, db/dt, dc/dt, (db ? dc/db : 0), (db ? 1000*dt/db : 0), lim, adm, (q == "" ? 0 : q), st
		}'
	fi
	prev="$cur $now"
	sleep 1
done
