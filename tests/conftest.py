"""Fixtures for every test: the cast of users, real child processes (daphne, workers, the
supervisor), receivers for the notification transports and the task queues. The helpers
behind them are in tests/support/."""

from __future__ import annotations

import os

import pytest

from tests.support import users
from tests.support.processes import Proc, free_port

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # ORM calls inside Playwright sync tests

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


@pytest.fixture(autouse=True)
def fast_password_hashing(request):
    """A password hashed the real way costs about half a second (a million PBKDF2 rounds),
    and hundreds of tests make users. Tests whose spawned processes check a password keep
    the real hasher: those processes know no other."""
    if "spawn" not in request.fixturenames:
        request.getfixturevalue("settings").PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def api_rate_counts_forgotten(settings):
    """The API's rate counts outlive a test in Redis (make test): each test starts with none."""
    if settings.REDIS_URL:
        from homesec.core.throttling import throttle_counters_clear

        throttle_counters_clear()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": "/usr/bin/chromium", "args": CHROMIUM_ARGS}


# --- The cast: one user of each kind, with fixed names (tests/support/users.py) -------------


@pytest.fixture
def admin_user(db, django_user_model):
    """The superuser "admin". It replaces pytest-django's fixture of that name, so
    pytest-django's `admin_client` (a client signed in as the admin) signs in as this one."""
    return django_user_model.objects.create_superuser(users.ADMIN, email="admin@example.org", password=users.PASSWORD)


@pytest.fixture
def viewer(db, django_user_model):
    """The user "viewer": someone of the household who signs in to watch, with the viewer role."""
    from homesec.core.services import user_set_role

    user = django_user_model.objects.create_user(users.VIEWER, password=users.PASSWORD)
    user_set_role(user=user, role="viewer")
    return user


@pytest.fixture
def viewer_client(db, viewer):
    """A client signed in as the viewer (as `admin_client` is for the admin)."""
    from django.test import Client

    client = Client()
    client.force_login(viewer)
    return client


@pytest.fixture
def member(db, django_user_model):
    """The user "member": someone of the household with the viewer role, the email
    member@example.org and alert settings of their own (a MemberProfile, all defaults) for
    the channels they own."""
    from alerts.models import MemberProfile
    from homesec.core.services import user_set_role

    user = django_user_model.objects.create_user(users.MEMBER, email="member@example.org", password=users.PASSWORD)
    user_set_role(user=user, role="viewer")
    MemberProfile.objects.create(user=user)
    return user


@pytest.fixture
def operator(db, django_user_model):
    """The user "operator": an admin by role (the admin group, and so staff), not a superuser."""
    from homesec.core.services import user_set_role

    user = django_user_model.objects.create_user(users.OPERATOR, password=users.PASSWORD)
    user_set_role(user=user, role="admin")
    return user


# --- Real child processes (tests/support/processes.py) -------------------------------------


@pytest.fixture
def spawn(tmp_path):
    procs: list[Proc] = []

    def start(argv: list[str], env: dict[str, str], name: str = "proc") -> Proc:
        proc = Proc(argv, env, tmp_path / f"{name}-{len(procs)}.log")
        procs.append(proc)
        return proc

    yield start
    # Killed, not stopped: a graceful stop takes seconds a process, and a test that needs
    # one (the supervisor's, the MQTT last will's) does it itself. The database drops a
    # killed process's connections at once.
    for proc in procs:
        proc.kill()


# --- Receivers for the notification transports (tests/support/servers.py) ------------------


@pytest.fixture
def receiver():
    from tests.support.servers import Receiver

    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def smtp_server():
    from tests.support.servers import SmtpServer

    with SmtpServer(free_port()) as server:
        yield server


@pytest.fixture
def mqtt_broker(tmp_path):
    from tests.support.servers import Broker, mosquitto_binary

    binary = mosquitto_binary()
    if binary is None:
        pytest.skip("mosquitto is not installed (make test installs it)")
    folder = tmp_path / "mosquitto"
    folder.mkdir()
    broker = Broker(folder, free_port()).start(binary)
    yield broker
    broker.stop()


@pytest.fixture
def queues():
    """The real task queues, emptied before and after the test (tests/support/queues.py)."""
    from tests.support import queues as module

    module.purge()
    yield module
    module.purge()
