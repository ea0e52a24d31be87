"""The maintenance commands: rescan, replay_dead_letters, check_config, their --help, and
the offline checks that also run as Django system checks."""

from __future__ import annotations

import os
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.checks import run_checks
from django.core.management import call_command, get_commands, load_command_class
from django.core.management.base import CommandError

from alerts.models import Channel
from cameras.ingest import ingest_register
from cameras.models import Ingest
from homesec.core.deadletters import dead_letter_record
from homesec.core.models import DeadLetter
from monitoring.models import AuditEntry
from tests.support.processes import free_port
from tests.support.queues import purge, queued

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def failing(*args: str) -> str:
    out = StringIO()
    with pytest.raises(CommandError):
        call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


# --- rescan ---------------------------------------------------------------------------------------


@pytest.fixture
def camera_root(settings, tmp_path):
    settings.CAMERA_ROOT = tmp_path / "cameras"
    (settings.CAMERA_ROOT / "porch").mkdir(parents=True)
    return settings.CAMERA_ROOT


def upload(root: Path, name: str, *, age_s: float = 60) -> Path:
    path = root / "porch" / name
    path.write_bytes(name.encode())
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


def test_rescan_finds_exactly_the_files_the_ingest_index_has_not_seen(camera_root, django_capture_on_commit_callbacks):
    indexed = upload(camera_root, "indexed.jpg")
    ingest_register(paths=[indexed])
    missed = [upload(camera_root, name) for name in ("missed-1.jpg", "missed-2.jpg")]
    upload(camera_root, ".hidden.jpg")  # an FTP client's temporary name: never an upload
    upload(camera_root, "uploading.jpg", age_s=0)  # written a moment ago: the watcher's to take

    listed = run("rescan", "--dry-run")
    assert listed.splitlines()[:2] == ["porch/missed-1.jpg", "porch/missed-2.jpg"]
    assert "porch/uploading.jpg  (still being written" in listed and "hidden" not in listed
    assert "2 file(s) not in the ingest index" in listed
    assert list(Ingest.objects.values_list("path", flat=True)) == ["porch/indexed.jpg"]

    purge()
    with django_capture_on_commit_callbacks(execute=True):
        assert "2 file(s) queued for ingest" in run("rescan", "--no-progress")
    assert sorted(Ingest.objects.values_list("path", flat=True)) == [
        "porch/indexed.jpg",
        *(f"porch/{p.name}" for p in missed),
    ]
    new_ids = set(Ingest.objects.filter(path__startswith="porch/missed").values_list("pk", flat=True))
    assert [(func, set(args[0])) for func, args in queued("homesec")] == [("cameras.tasks.ingest_process", new_ids)]
    assert "0 file(s) not in the ingest index" in run("rescan", "--dry-run")


def test_rescan_of_a_folder_that_is_not_a_camera_fails(camera_root):
    with pytest.raises(CommandError, match="no camera folder"):
        call_command("rescan", "--camera", "garage", stdout=StringIO())


# --- replay_dead_letters --------------------------------------------------------------------------


@pytest.fixture
def letters():
    def letter(key: str, task: str, payload: dict) -> DeadLetter:
        return dead_letter_record(key=key, task=task, payload=payload, error="OSError: disk error")

    return {
        "ingest:1": letter("ingest:1", "cameras.tasks.ingest_replay", {"ingest_ids": [1]}),
        "ingest:2": letter("ingest:2", "cameras.tasks.ingest_replay", {"ingest_ids": [2]}),
        "notification:7": letter("notification:7", "alerts.tasks.notification_replay", {"notification_ids": [7]}),
    }


def replayed(*args: str, capture) -> tuple[list[str], list]:
    purge()
    with capture(execute=True):
        run("replay_dead_letters", *args)
    counts = dict(DeadLetter.objects.values_list("key", "replay_count"))
    sent = queued("homesec") + queued("alerts")
    return sorted(key for key, count in counts.items() if count), sorted(sent, key=repr)


def test_replay_by_stage_sends_that_stages_letters_and_audits_it(letters, django_capture_on_commit_callbacks):
    keys, sent = replayed("--stage", "ingest", capture=django_capture_on_commit_callbacks)
    assert keys == ["ingest:1", "ingest:2"]
    assert sent == [
        ("cameras.tasks.ingest_replay", ({"ingest_ids": [1]},)),
        ("cameras.tasks.ingest_replay", ({"ingest_ids": [2]},)),
    ]
    entry = AuditEntry.objects.get(action="deadletter.replay")
    assert entry.detail["keys"] == ["ingest:1", "ingest:2"]


def test_replay_by_id_and_all(letters, django_capture_on_commit_callbacks):
    keys, sent = replayed("--id", str(letters["notification:7"].pk), capture=django_capture_on_commit_callbacks)
    assert keys == ["notification:7"]
    assert sent == [("alerts.tasks.notification_replay", ({"notification_ids": [7]},))]
    keys, sent = replayed("--all", capture=django_capture_on_commit_callbacks)
    assert keys == ["ingest:1", "ingest:2", "notification:7"] and len(sent) == 3
    assert DeadLetter.objects.get(key="notification:7").replay_count == 2


def test_replay_of_an_unknown_id_or_stage_fails_and_sends_nothing(letters):
    with pytest.raises(CommandError, match="no dead letter with id 999"):
        call_command("replay_dead_letters", "--id", "999", stdout=StringIO())
    with pytest.raises(CommandError, match="no stage 'ingests'"):
        call_command("replay_dead_letters", "--stage", "ingests", stdout=StringIO())
    assert not DeadLetter.objects.filter(replay_count__gt=0).exists()


def test_replay_lists_letters_by_stage(letters):
    listed = run("replay_dead_letters", "--list")
    assert [line.split("\t")[1:3] for line in listed.splitlines()] == [
        ["ingest", "ingest:1"],
        ["ingest", "ingest:2"],
        ["notification", "notification:7"],
    ]


# --- check_config -----------------------------------------------------------------------------------


def test_check_config_passes_on_a_good_config_and_masks_secrets(settings, tmp_path):
    settings.CAMERA_ROOT = tmp_path
    settings.NOTIFY_WEBHOOK_SECRET = "hush-hush-webhook-secret"
    out = run("check_config")
    assert "No problems found." in out
    assert "NOTIFY_WEBHOOK_SECRET = '********************'" in out and "hush-hush" not in out
    assert settings.SECRET_KEY not in out


def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "not-a-folder"
    path.write_text("")
    return path


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda s, tmp, url: setattr(s, "CAMERA_ROOT", a_file(tmp)), "camera root: "),
        (lambda s, tmp, url: setattr(s, "DETECTOR", "http"), "detector: not reachable at http://127.0.0.1:"),
        (lambda s, tmp, url: setattr(s, "LLM_PROVIDERS", [(url, "m", "k")]), "language model: not reachable"),
        (
            lambda s, tmp, url: Channel.objects.create(name="hook", kind="webhook", config={"url": "ftp://x"}),
            "channels: 'hook' (webhook): ",
        ),
    ],
    ids=["unwritable camera root", "unreachable detector", "unreachable llm", "invalid channel"],
)
def test_check_config_finds_each_problem_and_exits_non_zero(settings, tmp_path, change, problem):
    settings.CAMERA_ROOT = tmp_path
    settings.DETECTOR_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    change(settings, tmp_path, settings.DETECTOR_URL)
    out = failing("check_config", "--no-settings")
    problems = out.split("problem(s):\n")[1].splitlines()
    assert [line for line in problems if line.startswith(f"  - {problem}")], out


def test_system_checks_report_folders_and_pg_dump_without_the_network(settings, tmp_path):
    settings.CAMERA_ROOT = settings.MEDIA_ROOT = a_file(tmp_path)
    settings.BACKUP_DIR = a_file(tmp_path) / "backups"
    settings.PG_BIN = str(tmp_path)  # no pg_dump in it
    settings.USING_SQLITE = False
    ids = {message.id for message in run_checks()}
    assert {"core.W101", "core.E102", "core.W103", "core.W104"} <= ids
    settings.CAMERA_ROOT = settings.MEDIA_ROOT = settings.BACKUP_DIR = tmp_path
    settings.PG_BIN = ""
    ids = {message.id for message in run_checks()}
    assert not {"core.W101", "core.E102", "core.W103"} & ids


# --- --help of every maintenance command ------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        "backup",
        "restore",
        "rescan",
        "replay_dead_letters",
        "check_config",
        "reassess",
        "create_api_token",
        "ensure_admin",
    ],
)
def test_every_maintenance_command_explains_itself(command):
    parser = load_command_class(get_commands()[command], command).create_parser("manage.py", command)
    text = parser.format_help()
    description = text.split("\n\n")[1]
    assert len(description) > 40, text  # says what it does, not only its usage line
    if command not in ("create_api_token", "ensure_admin"):
        assert "examples:" in text
