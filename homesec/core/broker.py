"""django-q2's database (ORM) broker, the embedded default without Redis, woken by a queued
task instead of reading its table five times a second.

django-q2's ORM broker reads the queue's table every `poll` seconds while it is empty: with
the 0.2 s homesec needs on the alert path (six task hops, each waiting up to one poll), the
three lanes' pushers were 1.3 % of a core doing nothing (bench/footprint). Here the pusher
of an empty queue waits on a Unix datagram socket of its lane, and every enqueue sends it
one byte once the task's row is committed: a task is taken at once, and an idle lane reads
its table once every WAKE_POLL_S (2 s). That read stays the safety net for what sends no
wake-up: a task offered again after its lock expired (`retry`), an enqueue from another
machine or namespace, a wake-up lost in a full socket buffer, a system without abstract
sockets.

The socket is in Linux's abstract namespace (no file to clean up, no path-length limit),
named for the database and the lane, so two homesecs on one machine never wake each other.
"""

from __future__ import annotations

import contextlib
import hashlib
import select
import socket

from django.conf import settings
from django.db import transaction
from django_q.brokers.orm import ORM
from django_q.conf import Conf

WAKE_POLL_S = 2.0


def wake_address(list_key: str) -> bytes:
    db = settings.DATABASES[Conf.ORM or "default"]
    where = f"{db['ENGINE']}|{db.get('HOST', '')}|{db.get('PORT', '')}|{db['NAME']}|{list_key}"
    return b"\0homesec-queue-" + hashlib.sha256(where.encode()).hexdigest()[:32].encode()


class WakingORM(ORM):
    """Set with Q_CLUSTER "poll": 0, so the ORM broker's own dequeue returns at once when the
    queue is empty and the wait happens here."""

    def __init__(self, list_key: str | None = None) -> None:
        super().__init__(list_key=list_key)
        self.listener: socket.socket | None = None

    def enqueue(self, task: str) -> int:
        pk = super().enqueue(task)
        transaction.on_commit(self.wake, using=Conf.ORM)
        return pk

    def wake(self) -> None:
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            sock.sendto(b"!", wake_address(self.list_key))

    def dequeue(self) -> list[tuple[int, str]] | None:
        tasks = super().dequeue()
        if tasks:
            return tasks
        listener = self.listen()
        if listener is None:
            select.select([], [], [], WAKE_POLL_S)
            return None
        if select.select([listener], [], [], WAKE_POLL_S)[0]:
            with contextlib.suppress(BlockingIOError):
                while listener.recv(64):  # every wake-up so far: one read of the table serves them all
                    pass
        return None

    def listen(self) -> socket.socket | None:
        """The lane's socket, bound on first use; None while another pusher of this lane
        holds it (one being replaced that has not exited yet): try again next time."""
        if self.listener is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                sock.bind(wake_address(self.list_key))
            except OSError:
                sock.close()
                return None
            sock.setblocking(False)
            self.listener = sock
        return self.listener
