#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests of `elpagen search` (tests/test_search.py).
#
#   eval "$(bash .ci/postgres.sh start)"   # start; prints `export ...` lines to eval
#   ...                                     # tests read $ELPAGEN_TEST_POSTGRES_URL
#   bash .ci/postgres.sh stop               # stop it and delete its directory
#
# `start [ENVFILE]` also writes the export lines to ENVFILE (to `source` later);
# `stop [DIR]` stops the server in DIR (default: $ELPAGEN_TEST_POSTGRES_DIR).
#
# The cluster lives in a fresh temp directory, listens on 127.0.0.1 only (plus a Unix
# socket inside that directory), on a free port, with password authentication for TCP,
# and fsync off (the data is thrown away). Debian's server packages are used; when they
# are missing and we are root they are installed with apt-get. initdb refuses to run as
# root, so as root the server runs as the `postgres` system user of those packages.
set -euo pipefail

MARKER=".elpagen-test-postgres"
DB=elpagen_test
DB_USER=elpagen

die() { echo "postgres.sh: $*" >&2; exit 1; }

find_bindir() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -n "$d" && -x "$d/initdb" ]]; then echo "$d"; return; fi
    if command -v pg_config >/dev/null && [[ -x "$(pg_config --bindir)/initdb" ]]; then
        pg_config --bindir; return
    fi
    return 1
}

install_server() {
    [[ $EUID -eq 0 ]] || die "PostgreSQL is not installed and we are not root: install the " \
        "Debian package postgresql (apt-get install postgresql) and rerun"
    echo "postgres.sh: installing Debian's postgresql packages" >&2
    # Keep the package from starting a system-wide cluster: we start our own below.
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql >&2
    if [[ $made_policy -eq 1 ]]; then rm -f "$policy"; fi
}

# Run a command as the server's owner: ourselves, or `postgres` when we are root.
as_owner() {
    if [[ $EUID -ne 0 ]]; then "$@"; return; fi
    if command -v runuser >/dev/null; then
        runuser -u postgres -- "$@"
    else
        su -s /bin/sh postgres -c "$(printf '%q ' "$@")"
    fi
}

free_port() {
    python3 - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

start() {
    local envfile="${1:-}"
    local bindir
    bindir=$(find_bindir) || { install_server; bindir=$(find_bindir) || die "no initdb after install"; }
    if [[ $EUID -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
        die "running as root but there is no postgres user to own the server"
    fi
    local dir
    dir=$(mktemp -d "${TMPDIR:-/tmp}/elpagen-pg.XXXXXX")
    touch "$dir/$MARKER"
    mkdir "$dir/sock"
    local password
    password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    printf '%s\n' "$password" >"$dir/pwfile"
    chmod 700 "$dir" && chmod 600 "$dir/pwfile"
    if [[ $EUID -eq 0 ]]; then chown -R postgres: "$dir"; fi

    as_owner "$bindir/initdb" -D "$dir/data" -U "$DB_USER" --pwfile="$dir/pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --no-locale >"$dir/initdb.log" \
        || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    rm -f "$dir/pwfile"

    local port="" try
    for try in 1 2 3 4 5; do
        port=$(free_port)
        if as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $dir/sock -c fsync=off \
                -c synchronous_commit=off -c full_page_writes=off" start >/dev/null; then
            break
        fi
        port=""  # the port was taken between choosing and binding it: try another
    done
    [[ -n "$port" ]] || { tail -n 20 "$dir/server.log" >&2; die "the server did not start"; }
    as_owner "$bindir/createdb" -h "$dir/sock" -p "$port" -U "$DB_USER" "$DB" \
        || die "createdb failed"

    local lines
    lines=$(printf 'export ELPAGEN_TEST_POSTGRES_URL=%q\nexport ELPAGEN_TEST_POSTGRES_DIR=%q\n' \
        "postgresql+psycopg2://$DB_USER:$password@127.0.0.1:$port/$DB" "$dir")
    if [[ -n "$envfile" ]]; then printf '%s\n' "$lines" >"$envfile"; fi
    printf '%s\n' "$lines"
    echo "postgres.sh: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on" \
        "127.0.0.1:$port (data in $dir)" >&2
}

stop() {
    local dir="${1:-${ELPAGEN_TEST_POSTGRES_DIR:-}}"
    [[ -n "$dir" ]] || die "stop: give the server directory or set ELPAGEN_TEST_POSTGRES_DIR"
    [[ -d "$dir" ]] || { echo "postgres.sh: $dir is already gone" >&2; return 0; }
    # Never delete a directory this script did not make.
    [[ -e "$dir/$MARKER" ]] || die "stop: $dir was not made by this script; not touching it"
    local bindir
    bindir=$(find_bindir) || die "stop: no pg_ctl found"
    if [[ -f "$dir/data/postmaster.pid" ]]; then
        as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null \
            || echo "postgres.sh: pg_ctl stop failed; removing the directory anyway" >&2
    fi
    rm -rf "$dir"
    echo "postgres.sh: stopped and removed $dir" >&2
}

case "${1:-}" in
    start) shift; start "$@" ;;
    stop) shift; stop "$@" ;;
    *) die "usage: postgres.sh start [ENVFILE] | stop [DIR]" ;;
esac
