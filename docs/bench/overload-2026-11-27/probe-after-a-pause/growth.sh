#!/bin/bash
# a surge, then after a pause a second bench's probe on the same server
set -euo pipefail
cd /tmp/ov/H
export GOTOOLCHAIN=auto
work=$(mktemp -d)
go build -o $work/peakwallet ./cmd/peakwallet
export PEAKWALLET_OPERATOR_KEY=overload-bench-operator-key-$RANDOM$RANDOM
addr=127.0.0.1:$((20000 + RANDOM % 12000))
$work/peakwallet serve --data $work/data --addr $addr --log-level warn > $work/serve.log 2>&1 &
server=$!
for _ in $(seq 100); do curl -sf "http://$addr/readyz" >/dev/null && break; sleep 0.1; done
$work/peakwallet bench --target "http://$addr" --scenario overload --duration 30s --users 2000 --merchants 100 --callers 64 --principals 64 > /tmp/ov/growth-1.json
ls -la $work/data/ > /tmp/ov/growth-files-after-surge.txt
sleep ${PAUSE:-30}
ls -la $work/data/ > /tmp/ov/growth-files-after-pause.txt
$work/peakwallet bench --target "http://$addr" --scenario overload --duration 5s --users 2000 --merchants 100 --callers 64 --principals 64 > /tmp/ov/growth-2.json
kill -TERM $server; wait $server || true
$work/peakwallet verify --data $work/data > /tmp/ov/growth-verify.txt 2>&1
rm -rf $work
