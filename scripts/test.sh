#!/usr/bin/env bash
# `make test`: real PostgreSQL and Redis on loopback, Chromium for the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/services.sh

apt_ensure chromium chromium chromium-driver
PATH="$PATH:/usr/sbin" apt_ensure mosquitto mosquitto   # the MQTT broker the alert tests publish to
apt_ensure promtool prometheus   # promtool checks the /metrics page (tests/monitoring/test_metrics.py)
export HOMESEC_TEST_REQUIRE_MOSQUITTO=1

RUN=$(mktemp -d /tmp/homesec-test.XXXXXX); chmod 755 "$RUN"   # postgres must traverse it
PGPORT=$(free_port); REDISPORT=$(free_port)
trap 'pg_down "$RUN/pg"; redis_down "$REDISPORT"; rm -rf "$RUN"' EXIT
pg_up "$RUN/pg" "$PGPORT" -c fsync=off -c synchronous_commit=off -c full_page_writes=off
redis_up "$RUN/redis" "$REDISPORT"

export DATABASE_URL="postgres://postgres@127.0.0.1:$PGPORT/homesec"
export REDIS_URL="redis://127.0.0.1:$REDISPORT/0"
export HOMESEC_DATA_DIR="$RUN/data"
export PYTHONUNBUFFERED=1 HOMESEC_ENV_FILE=/dev/null

# The whole suite runs on two workers (one per core here): about half the wall time, each
# worker with its own test database, Redis database and data folder (tests/support/xdist_env.py).
# `--dist load` hands out tests in collection order, where pytest-django puts the tests
# that flush the database (transaction=True) after the others: a flush empties the rows the
# migrations seed (the severity table), which the other tests read. A selection (ARGS) runs
# in one process, as it is easier to read.
PARALLEL=()
if [ "$#" -eq 0 ]; then PARALLEL=(-n "${HOMESEC_TEST_WORKERS:-2}" --dist load); fi

set +e
.venv/bin/python -m pytest -q -m "not browser" -p tests.support.xdist_env "${PARALLEL[@]}" "$@"; rc1=$?
.venv/bin/python -m pytest -q -m browser "$@"; rc2=$?
set -e
if [ "$#" -eq 0 ] && [ "$rc2" -eq 5 ]; then echo "no browser tests collected: that is a failure"; rc2=1; fi
if [ "$#" -gt 0 ] && [ "$rc2" -eq 5 ]; then rc2=0; fi   # a -k selection may leave this run empty
[ "$rc1" -ne 0 ] && exit "$rc1"
exit "$rc2"
