"""Loaded with `-p` (scripts/test.sh), before Django reads its settings: each pytest-xdist
worker gets a Redis database and a data folder of its own, as it gets a test database of its
own from pytest-django. Shared, one worker's tests would see the other's rate counts, live
messages and files. The processes tests start inherit the same environment."""

import os

_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker.startswith("gw"):
    if _redis := os.environ.get("REDIS_URL"):
        os.environ["REDIS_URL"] = f"{_redis.rsplit('/', 1)[0]}/{int(_worker[2:]) + 1}"
    if _data := os.environ.get("HOMESEC_DATA_DIR"):
        os.environ["HOMESEC_DATA_DIR"] = os.path.join(_data, _worker)
