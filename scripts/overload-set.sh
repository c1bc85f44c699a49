#!/usr/bin/env bash
# Runs a set of issue 4's surges at 3x for 30 s, one after another, as the
# sets in docs/overload.md were run: per round SQLite payments only, SQLite
# mixed, PostgreSQL payments only, PostgreSQL mixed (scripts/overload-bench.sh),
# each PostgreSQL run on a fresh database of the shared server, which is
# dropped afterwards. Each run leaves NAME.json (the report), NAME.out (the
# bench's lines and verify's verdict), NAME.serve.log and NAME.load (the
# load average before it) in OUT_DIR; DONE marks the end. A run that failed
# (the bench, or verify after it: its exit status) is named in FAILED, and
# the set ends with status 1; its .json is not a result. (Until 2026-11-29
# a failed run's status was dropped, and its .json sat beside the others.)
#
#   scripts/overload-set.sh OUT_DIR [ROUNDS]   # ROUNDS: how many, 2 by default
#
# $PGURL is the shared server (postgres://postgres@127.0.0.1:5432 by default).
set -uo pipefail
out=${1:?output directory}
rounds=${2:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
pgurl=${PGURL:-postgres://postgres@127.0.0.1:5432}
mkdir -p "$out"
pg() { # NAME SCENARIO
	db=bench_$RANDOM$RANDOM
	psql -q "$pgurl/postgres" -c "CREATE DATABASE $db"
	cut -d' ' -f1-3 /proc/loadavg >"$out/$1.load"
	SERVE_LOG="$out/$1.serve.log" "$root/scripts/overload-bench.sh" "$2" 30s "$out/$1.json" \
		--postgres "$pgurl/$db?sslmode=disable" >"$out/$1.out" 2>&1 || failed "$1"
	psql -q "$pgurl/postgres" -c "DROP DATABASE $db"
}
failures=0
failed() { # NAME
	echo "$1 (exit status $?; see $1.out)" >>"$out/FAILED"
	failures=$((failures + 1))
}
sq() { # NAME SCENARIO
	cut -d' ' -f1-3 /proc/loadavg >"$out/$1.load"
	SERVE_LOG="$out/$1.serve.log" "$root/scripts/overload-bench.sh" "$2" 30s "$out/$1.json" >"$out/$1.out" 2>&1 || failed "$1"
}
for r in $(seq "$rounds"); do
	sq "sqlite-overload-$r" overload
	sq "sqlite-mixed-$r" mixed
	pg "pg-overload-$r" overload
	pg "pg-mixed-$r" mixed
done
echo done >"$out/DONE"
[ "$failures" -eq 0 ]
