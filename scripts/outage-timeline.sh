#!/usr/bin/env bash
# Prints, from the /metrics reads scripts/outage-bench.sh kept in DIR
# (SAMPLE_DIR=DIR), one line a read: seconds since the first read, the
# breaker's state (open, half_open: 1 or 0), payment slots in flight,
# payments admitted and refused by the breaker (totals), idempotency key
# releases pending, and the server's 503 and 201 answers (totals) and its
# other answers.
#
#   scripts/outage-timeline.sh DIR
set -euo pipefail
dir=${1:?the SAMPLE_DIR of an outage bench}
cd "$dir"
first=$(find . -maxdepth 1 -name 'm.*' | sort | head -1)
[ -n "$first" ] || { echo "outage-timeline: no m.* files in $dir" >&2; exit 1; }
t0=${first#./m.}
for f in $(find . -maxdepth 1 -name 'm.*' | sort); do
	awk -v t="${f#./m.}" -v t0="$t0" '
		/^peakwallet_admission_breaker\{state="open"\}/ {o = $2}
		/^peakwallet_admission_breaker\{state="half_open"\}/ {h = $2}
		/^peakwallet_admission_in_flight / {inf = $2}
		/^peakwallet_admission_refusals_total\{class="payment",reason="breaker"\}/ {rb = $2}
		/^peakwallet_admission_admitted_total\{class="payment"\}/ {ad = $2}
		/^peakwallet_ledger_idempotency_releases_pending / {rp = $2}
		/^peakwallet_http_requests_total/ {
			if ($0 ~ /code="503"/) r503 += $2
			else if ($0 ~ /code="201"/) r201 += $2
			else oth += $2
		}
		END {
			printf "%6.1f open=%s half=%s inflight=%s admitted=%s brk=%s relpend=%s 503=%d 201=%d oth=%d\n",
				t - t0, o, h, inf, ad, rb, rp, r503, r201, oth
		}' "$f"
done
