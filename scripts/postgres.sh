#!/usr/bin/env bash
# A throwaway PostgreSQL for provhost's tests and benchmarks, on a free loopback port.
#
#   scripts/postgres.sh start DIR        initdb into DIR and start the server; prints its URL
#   scripts/postgres.sh start-tls DIR    the same, with TLS on a self-signed certificate (made with
#                                        openssl) and every TCP connection that is not TLS refused
#   scripts/postgres.sh stop DIR         stop it and remove DIR
#   scripts/postgres.sh url DIR          print the URL of the server running in DIR
#
# Installs Debian's `postgresql` package when no initdb is found. initdb refuses to run as root,
# so as root the server runs as the unprivileged system user `provhost-test` (created if missing),
# which owns DIR.
set -euo pipefail

usage() {
    echo "usage: $0 start|start-tls|stop|url DIR" >&2
    exit 2
}
[ $# -eq 2 ] || usage
command=$1
dir=$2

find_bin() {
    local found
    found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -z "$found" ] || [ ! -x "$found/initdb" ]; then
        return 1
    fi
    echo "$found"
}

install_postgres() {
    echo "postgres.sh: no PostgreSQL found; installing Debian's postgresql package" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql >&2
}

# Runs a command as the user that owns the server's files.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u provhost-test -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

case "$command" in
start | start-tls)
    bin=$(find_bin || { install_postgres && find_bin; }) || {
        echo "postgres.sh: PostgreSQL could not be installed; no initdb under /usr/lib/postgresql" >&2
        exit 1
    }
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then
        id -u provhost-test >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin provhost-test
        chown provhost-test "$dir"
    fi
    as_owner "$bin/initdb" --pgdata="$dir/data" --username=provhost --auth=trust --encoding=UTF8 --no-locale >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        exit 1
    }
    port=$(free_port)
    options="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=300 -c fsync=on"
    if [ "$command" = start-tls ]; then
        as_owner openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
            -keyout "$dir/data/server.key" -out "$dir/data/server.crt" >"$dir/openssl.log" 2>&1 || {
            cat "$dir/openssl.log" >&2
            exit 1
        }
        chmod 600 "$dir/data/server.key"
        printf 'local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 0.0.0.0/0 reject\n' >"$dir/data/pg_hba.conf"
        options="$options -c ssl=on"
    fi
    # Enough connections for two serving hosts and a test suite running cases in parallel.
    as_owner "$bin/pg_ctl" --pgdata="$dir/data" --log="$dir/server.log" --wait -o "$options" start >/dev/null || {
        cat "$dir/server.log" >&2
        exit 1
    }
    echo "postgres://provhost@127.0.0.1:$port/postgres" >"$dir/url"
    cat "$dir/url"
    ;;
stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
        bin=$(find_bin)
        as_owner "$bin/pg_ctl" --pgdata="$dir/data" --mode=fast --wait stop >/dev/null || true
    fi
    rm -rf "$dir"
    ;;
url)
    cat "$dir/url"
    ;;
*)
    usage
    ;;
esac
