#!/usr/bin/env bash
# usage: readyprobe.sh NAME [serve store flags...]
set -u
name=$1; shift
work=$(mktemp -d)
export PEAKWALLET_OPERATOR_KEY=probe-key-$RANDOM$RANDOM
addr=127.0.0.1:$((20000 + RANDOM % 12000))
/tmp/ov/pw serve --data $work/data --addr $addr --log-level warn "$@" > $work/serve.log 2>&1 &
srv=$!
for _ in $(seq 100); do curl -sf http://$addr/readyz >/dev/null && break; sleep 0.1; done
/tmp/ov/pw bench --target http://$addr --scenario overload --duration 20s --users 2000 --merchants 100 --callers 64 --principals 64 > /tmp/ov/probe-$name.json 2>/tmp/ov/probe-$name.bench.log &
b=$!
: > /tmp/ov/probe-$name.txt
while kill -0 $b 2>/dev/null; do
  curl -s -o /dev/null -w "%{http_code} %{time_total}\n" --max-time 3 http://$addr/readyz >> /tmp/ov/probe-$name.txt
  sleep 0.2
done
kill -TERM $srv; wait $srv
rm -rf $work
echo "$name probes: $(wc -l < /tmp/ov/probe-$name.txt); not 200: $(grep -vc '^200' /tmp/ov/probe-$name.txt); slowest: $(sort -k2 -n /tmp/ov/probe-$name.txt | tail -1)"
