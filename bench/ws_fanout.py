"""bench/ws_fanout: one event message to 200 WebSocket clients on one daphne; the delivery
latency of each client, from the publish to the client having read the frame.

    bash bench/run.sh ws_fanout [--clients 200] [--messages 20] [--modes redis,embedded]

One daphne serves the real ASGI application (homesec.asgi, as `make run` serves it) on a
throwaway database. The clients connect to /ws/events with an API token (create_api_token),
all from this process (asyncio, the `websockets` library). A second process, as a worker
would, calls live_publish() for each message; the payload carries the publish time
(time.time() just before the row is written), and each client subtracts it from the time
it read the frame. One warm-up message is not counted; then --messages messages, each once
every client has the one before, after a random pause (0.3-0.8 s) so that the publishes
fall at every phase of the embedded tailer's poll.

Modes:
  redis        PostgreSQL (DATABASE_URL) and REDIS_URL: the publisher pushes through
               channels-redis (bench/run.sh starts both).
  embedded     nothing set: SQLite in a fresh data folder, no Redis; the web process's
               tailer polls the table every HOMESEC_LIVE_POLL_S (0.25 s).
  embedded-pg  PostgreSQL without Redis: the tailer polls PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.common import percentile  # noqa: E402

KIND = "bench.fanout"


def publisher() -> None:
    """--publisher: publish one message per line read from stdin (its number), as a worker
    process would; print the number back once stored."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "homesec.settings")
    django.setup()
    from homesec.core.live import live_publish

    for line in sys.stdin:
        n = int(line)
        t = time.time()
        live_publish(stream="events", kind=KIND, payload={"n": n, "t": t, "camera": "bench"})
        print(n, round((time.time() - t) * 1000, 1), flush=True)


def manage(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, str(REPO / "manage.py"), *args], env=env, cwd=REPO, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    import httpx

    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"daphne exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not answer in {timeout} s")


class Clients:
    def __init__(self, url: str, token: str, count: int) -> None:
        self.url, self.token, self.count = url, token, count
        self.got: dict[int, list[float]] = {}  # message number -> latencies (s)
        self.sockets: list = []
        self.tasks: list[asyncio.Task] = []

    async def connect(self) -> None:
        import websockets

        headers = {"Authorization": f"Bearer {self.token}"}

        async def one() -> None:
            ws = await websockets.connect(self.url, additional_headers=headers, open_timeout=60, max_size=2**20)
            self.sockets.append(ws)
            self.tasks.append(asyncio.get_running_loop().create_task(self.read(ws)))

        for start in range(0, self.count, 25):  # 25 handshakes at a time
            await asyncio.gather(*(one() for _ in range(min(25, self.count - start))))

    async def read(self, ws) -> None:  # noqa: ANN001
        async for raw in ws:
            at = time.time()
            message = json.loads(raw)
            if message.get("type") == "message" and message.get("kind") == KIND:
                data = message["data"]
                self.got.setdefault(data["n"], []).append(at - data["t"])

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)


def mode_env(mode: str, work: Path, base: dict[str, str]) -> dict[str, str]:
    env = {
        **base,
        "HOMESEC_DATA_DIR": str(work / mode),
        "HOMESEC_ENV_FILE": "/dev/null",
        "HOMESEC_SECRET_KEY": secrets.token_urlsafe(40),
        "HOMESEC_ADMIN_USER": "admin",
        "HOMESEC_ADMIN_PASSWORD": secrets.token_urlsafe(16),
        "DJANGO_SETTINGS_MODULE": "homesec.settings",
        "PYTHONUNBUFFERED": "1",
    }
    if mode == "embedded":
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
    elif mode == "embedded-pg":
        env.pop("REDIS_URL", None)
    if mode != "embedded" and not env.get("DATABASE_URL"):
        raise SystemExit(f"mode {mode} needs DATABASE_URL (run through bench/run.sh)")
    if mode == "redis" and not env.get("REDIS_URL"):
        raise SystemExit("mode redis needs REDIS_URL (run through bench/run.sh)")
    return env


async def run_mode(mode: str, args: argparse.Namespace, work: Path) -> dict[str, list[float]]:
    env = mode_env(mode, work, dict(os.environ))
    manage("migrate", "--noinput", env=env)
    manage("ensure_admin", env=env)
    token = manage("create_api_token", "admin", env=env).strip()
    port = free_port()
    wrap = args.daphne_prefix.replace("MODE", mode).split()  # e.g. a profiler
    daphne = subprocess.Popen(
        [*wrap, sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "homesec.asgi:application"],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=open(work / f"daphne-{mode}.log", "wb"),  # noqa: SIM115
        start_new_session=True,
    )
    pub = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--publisher"],
        env=env,
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    clients = Clients(f"ws://127.0.0.1:{port}/ws/events", token, args.clients)
    try:
        await asyncio.get_running_loop().run_in_executor(None, wait_http, f"http://127.0.0.1:{port}/health", daphne)
        started = time.time()
        await clients.connect()
        print(f"  {len(clients.sockets)} clients connected in {time.time() - started:.1f} s")
        await asyncio.sleep(2)  # the tailer's first poll finds where the table ends
        last_client: list[float] = []
        publish_ms: list[float] = []
        for n in range(args.messages + 1):  # 0 warms up
            pub.stdin.write(f"{n}\n")
            pub.stdin.flush()
            reply = await asyncio.get_running_loop().run_in_executor(None, pub.stdout.readline)
            if n:
                publish_ms.append(float(reply.split()[1]))
            deadline = time.time() + 15
            while len(clients.got.get(n, [])) < args.clients and time.time() < deadline:
                await asyncio.sleep(0.005)
            got = clients.got.get(n, [])
            if args.per_message and got:
                first, median, last = (sorted(got)[i] * 1000 for i in (0, len(got) // 2, -1))
                print(f"    {n}: first {first:.0f} ms, median {median:.0f} ms, last {last:.0f} ms")
            if n and got:
                last_client.append(max(got))
            if len(got) < args.clients:
                print(f"  message {n}: only {len(got)} of {args.clients} clients got it in 15 s")
            await asyncio.sleep(random.uniform(0.3, 0.8))
        latencies = [s for n, values in clients.got.items() if n for s in values]
        return {
            "all": [s * 1000 for s in latencies],
            "last": [s * 1000 for s in last_client],
            "publish": publish_ms,
        }
    finally:
        await clients.close()
        if wrap:
            daphne.send_signal(signal.SIGINT)  # the wrapper writes what it found
            daphne.wait(60)
        for proc in (pub, daphne):  # each in a group of its own, the wrapped daphne included
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()


def line(label: str, values: list[float]) -> None:
    print(
        f"  {label:<34} p50 {percentile(values, 50):6.1f} ms   p95 {percentile(values, 95):6.1f} ms"
        f"   max {max(values):6.1f} ms   (n={len(values)})"
    )


def main() -> None:
    if "--publisher" in sys.argv:
        publisher()
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--modes", default="redis,embedded", help="redis, embedded, embedded-pg (comma-separated)")
    parser.add_argument("--per-message", action="store_true", help="print the first, median and last client of each")
    parser.add_argument(
        "--daphne-prefix",
        default="",
        help="a command daphne runs under, MODE replaced by the mode, stopped with SIGINT: "
        "'py-spy record -f raw -o /tmp/daphne-MODE.txt --'",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="homesec-ws-fanout-"))
    poll = os.environ.get("HOMESEC_LIVE_POLL_S", "0.25")
    print(f"{args.clients} clients on /ws/events, one daphne, {args.messages} messages; {os.cpu_count()} cores")
    try:
        for mode in args.modes.split(","):
            print(f"{mode}:" + (f" tailer polls every {poll} s" if mode.startswith("embedded") else ""))
            result = asyncio.run(run_mode(mode, args, work))
            target = 200 if mode == "redis" else 300
            line(f"publish -> client (target p95 {target})", result["all"])
            line("publish -> last of the clients", result["last"])
            line("live_publish() call itself", result["publish"])
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
