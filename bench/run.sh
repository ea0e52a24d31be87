#!/usr/bin/env bash
# bench/run.sh NAME [args]: run bench/NAME.py against a throwaway PostgreSQL 15 and Redis.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/services.sh
name=$1; shift
RUN=$(mktemp -d /tmp/homesec-bench.XXXXXX); chmod 755 "$RUN"
PGPORT=$(free_port); REDISPORT=$(free_port)
trap 'pg_down "$RUN/pg"; redis_down "$REDISPORT"; rm -rf "$RUN"' EXIT
pg_up "$RUN/pg" "$PGPORT"
redis_up "$RUN/redis" "$REDISPORT"
export DATABASE_URL="postgres://postgres@127.0.0.1:$PGPORT/homesec" REDIS_URL="redis://127.0.0.1:$REDISPORT/0"
export HOMESEC_DATA_DIR="$RUN/data" HOMESEC_ENV_FILE=/dev/null
.venv/bin/python "bench/$name.py" "$@"
