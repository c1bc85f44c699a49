#!/usr/bin/env bash
# A private PostgreSQL 15 cluster for tests and outage benchmarks: one that
# may be stopped for real (fast or immediate) without touching the shared
# server other work depends on.
#
#   scripts/pg-private.sh init    DIR PORT   # initdb into DIR/data, then start
#   scripts/pg-private.sh start   DIR PORT   # returns once it accepts connections
#   scripts/pg-private.sh stop    DIR PORT [fast|immediate]   # fast by default
#   scripts/pg-private.sh pause   DIR PORT   # a stall: SIGSTOP to every server process
#   scripts/pg-private.sh resume  DIR PORT   # SIGCONT: the stall ends
#   scripts/pg-private.sh dsn     DIR PORT   # prints the postgres:// URL
#   scripts/pg-private.sh destroy DIR PORT   # stops it (immediate) and removes DIR
#
# Trust authentication, 127.0.0.1 only, no Unix socket (so that nothing
# outside DIR is written), small memory settings. fsync and
# synchronous_commit stay on: an immediate stop is a crash, and the outage
# bench checks that every acknowledged transfer survives one.
#
# PostgreSQL refuses to run as root, so as root the server programs run as
# the postgres OS user (runuser) and DIR is given to that user; DIR's
# parents must be searchable by it (a directory under /tmp is).
set -euo pipefail

usage() {
	sed -n '5,11p' "$0" >&2
	exit 2
}
[ $# -ge 3 ] || usage
cmd=$1 dir=$2 port=$3
mode=${4:-fast}
case $port in '' | *[!0-9]*) echo "pg-private: PORT must be a number, not '$port'" >&2 && exit 2 ;; esac
bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
data=$dir/data

# as runs a server program as the user that owns the cluster.
as() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

start() {
	# -w: return only once the server accepts connections (after crash
	# recovery, when the last stop was immediate); -t bounds that wait.
	if ! as "$bin/pg_ctl" start -w -t 60 -D "$data" -l "$dir/postgres.log" -o "-p $port" >/dev/null; then
		echo "pg-private: the server did not start; the end of $dir/postgres.log:" >&2
		tail -n 20 "$dir/postgres.log" >&2 || true
		return 1
	fi
}

case $cmd in
init)
	[ -x "$bin/initdb" ] || { echo "pg-private: no initdb at $bin (set PG_BIN)" >&2 && exit 1; }
	[ ! -e "$data" ] || { echo "pg-private: $data exists; destroy it first" >&2 && exit 1; }
	mkdir -p "$dir"
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres: "$dir"
		runuser -u postgres -- test -w "$dir" ||
			{ echo "pg-private: the postgres user cannot write $dir (are its parents searchable?)" >&2 && exit 1; }
	fi
	as "$bin/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --no-instructions >"$dir/initdb.log"
	cat >>"$data/postgresql.conf" <<-EOF
		# scripts/pg-private.sh
		listen_addresses = '127.0.0.1'
		port = $port
		unix_socket_directories = ''
		max_connections = 60
		shared_buffers = 64MB
		max_wal_size = 256MB
		fsync = on
		synchronous_commit = on
	EOF
	start
	;;
start) start ;;
stop)
	case $mode in fast | immediate) ;; *) echo "pg-private: stop mode is fast or immediate, not '$mode'" >&2 && exit 2 ;; esac
	as "$bin/pg_ctl" stop -w -t 60 -m "$mode" -D "$data" >/dev/null
	;;
pause | resume)
	# A stall, not a stop: the server's processes are frozen, so its
	# sockets stay open and nothing is refused or reset; bytes just stop,
	# as behind a network that stopped passing them. The postmaster's
	# PID is the first line of postmaster.pid; its children are the
	# backends and the background processes.
	sig=STOP
	[ "$cmd" = resume ] && sig=CONT
	pm=$(head -n 1 "$data/postmaster.pid")
	kill -s "$sig" "$pm" $(pgrep -P "$pm")
	;;
dsn) echo "postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable" ;;
destroy)
	if [ -f "$data/postmaster.pid" ]; then
		# A cluster left paused (a stall bench cut short) cannot stop.
		pm=$(head -n 1 "$data/postmaster.pid")
		kill -s CONT "$pm" $(pgrep -P "$pm") 2>/dev/null || true
		as "$bin/pg_ctl" stop -w -t 60 -m immediate -D "$data" >/dev/null 2>&1 || true
	fi
	rm -rf "$dir"
	;;
*) usage ;;
esac
