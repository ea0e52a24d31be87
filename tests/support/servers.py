"""Real servers on loopback for the tests: a small threaded HTTP server that the stand-ins
of remote services build on (a detection server, an LLM server), and the receivers for the
notification transports: an HTTP receiver (webhooks, and ntfy's publish API), an SMTP server
(aiosmtpd) and an MQTT broker (mosquitto) with a subscriber."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from aiosmtpd.controller import Controller


class LocalServer:
    """A small threaded HTTP server on loopback for the stand-ins of remote services:
    subclasses record and answer requests (`handle`)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.server: ThreadingHTTPServer | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, port: int = 0):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802 - the stdlib's name
                fake.handle(self, self.rfile.read(int(self.headers.get("Content-Length", 0))))

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        # A short poll: stop() waits up to one interval for the serving thread.
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def handle(self, handler, body: bytes) -> None:
        raise NotImplementedError

    @staticmethod
    def send(handler, status: int, body: bytes, content_type: str = "text/plain", headers: dict | None = None) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)

    @classmethod
    def send_json(cls, handler, status: int, payload: dict) -> None:
        cls.send(handler, status, json.dumps(payload).encode(), "application/json")


class Receiver(LocalServer):
    """Records every request; answers from `script` (then 200). A step is a status code,
    (status, headers), or ("hold", seconds) to keep the sender waiting, then answer 200."""

    def __init__(self) -> None:
        super().__init__()
        self.script: list = []
        self.lock = threading.Lock()

    def handle(self, handler, body: bytes) -> None:
        with self.lock:
            self.requests.append(
                {"path": handler.path, "headers": dict(handler.headers.items()), "body": body, "at": time.time()}
            )
            step = self.script.pop(0) if self.script else 200
        if isinstance(step, tuple) and step[0] == "hold":
            time.sleep(step[1])
            step = 200
        status, headers = step if isinstance(step, tuple) else (step, {})
        self.send_json(handler, status, {"ok": status < 300}, headers=headers)

    @classmethod
    def send_json(cls, handler, status: int, payload: dict, headers: dict | None = None) -> None:
        cls.send(handler, status, json.dumps(payload).encode(), "application/json", headers=headers)

    def json(self, index: int = -1) -> dict:
        return json.loads(self.requests[index]["body"])


class Mailbox:
    """An aiosmtpd handler keeping what it receives; `refuse` answers RCPT with a code."""

    def __init__(self) -> None:
        self.messages: list = []
        self.refuse: str = ""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd's name
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted"


class SmtpServer:
    def __init__(self, port: int) -> None:
        self.mailbox = Mailbox()
        self.port = port
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=port)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()


def mosquitto_binary() -> str | None:
    found = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if not found and os.environ.get("HOMESEC_TEST_REQUIRE_MOSQUITTO"):
        pytest.fail("mosquitto is required here (scripts/test.sh installs it) but is not installed")
    return found


class Broker:
    """A throwaway mosquitto on loopback."""

    def __init__(self, folder: Path, port: int) -> None:
        self.port = port
        self.url = f"mqtt://127.0.0.1:{port}"
        self.folder = folder
        self.proc: subprocess.Popen | None = None

    def start(self, binary: str) -> Broker:
        conf = self.folder / "mosquitto.conf"
        conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        log = (self.folder / "mosquitto.log").open("wb")
        self.proc = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not start: {(self.folder / 'mosquitto.log').read_text()}")

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=10)


class Subscriber:
    """Subscribes to everything and keeps (topic, payload, retained) in arrival order."""

    def __init__(self, port: int) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-subscriber-{time.time_ns()}")
        ready = threading.Event()
        self.client.on_connect = lambda c, u, f, rc, p: (c.subscribe("#", qos=1), ready.set())
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload, bool(m.retain)))
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        if not ready.wait(10):
            raise RuntimeError("the test subscriber could not connect")

    def on(self, topic: str) -> list[tuple[bytes, bool]]:
        return [(payload, retained) for t, payload, retained in self.messages if t == topic]

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
