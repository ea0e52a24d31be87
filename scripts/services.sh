# Throwaway PostgreSQL 15 and Redis on loopback, for `make test` and the benchmarks.
# Sourced, not run. PostgreSQL refuses to run as root, so it runs as the postgres user.
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

apt_ensure() {  # apt_ensure COMMAND PACKAGE...: install the packages when COMMAND is missing
  local cmd=$1; shift
  command -v "$cmd" >/dev/null 2>&1 && return 0
  echo "installing $* (apt)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

pg_up() {  # pg_up DIR PORT [server options...]; every parent of DIR must be traversable (755)
  local d=$1 port=$2; shift 2
  [ -x "$PGBIN/initdb" ] || apt_ensure "$PGBIN/initdb" postgresql-15
  rm -rf "$d"; mkdir -p "$d/sock"
  local as=()
  if [ "$(id -u)" = 0 ]; then chown -R postgres:postgres "$d"; as=(runuser -u postgres --); fi
  "${as[@]}" "$PGBIN/initdb" -D "$d/data" -U postgres -A trust -E UTF8 --no-sync >"$d/initdb.log"
  "${as[@]}" "$PGBIN/pg_ctl" -D "$d/data" -l "$d/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $d/sock $*" start >/dev/null
  "$PGBIN/createdb" -h 127.0.0.1 -p "$port" -U postgres homesec
}

pg_down() {
  local as=()
  [ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
  [ -d "$1/data" ] && "${as[@]}" "$PGBIN/pg_ctl" -D "$1/data" -m fast -w stop >/dev/null 2>&1 || true
}

redis_up() {  # redis_up DIR PORT
  mkdir -p "$1"
  apt_ensure redis-server redis-server
  redis-server --bind 127.0.0.1 --port "$2" --save '' --appendonly no --daemonize yes \
    --pidfile "$1/redis.pid" --logfile "$1/redis.log" --dir "$1"
  for _ in $(seq 200); do redis-cli -p "$2" ping 2>/dev/null | grep -q PONG && return 0; sleep 0.05; done
  echo "redis did not start: see $1/redis.log" >&2; return 1
}

redis_down() { redis-cli -p "$1" shutdown nosave >/dev/null 2>&1 || true; }
