"""`make screenshots`: a PNG of every household page, at desktop and phone width, into
docs/screenshots/.

The demo data is made the way a household's is: homesec runs for real (`manage.py run` on
a throwaway data folder, SQLite, the built-in OpenCV detector, the rules assessing), and the
labelled photos under tests/detections/photos are dropped into three camera folders, named
with capture times spread over the last day so the timeline and the charts have a history.

`--as viewer --out DIR` shoots the same pages signed in as a household member with the viewer
role (what someone without configuration rights sees), into DIR instead of the docs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import httpx
from playwright.sync_api import Page, sync_playwright

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO / "tests" / "detections" / "photos"
OUT = REPO / "docs" / "screenshots"
PASSWORD = "demo-screens-4f9c2a"
# camera folder -> photos it "uploads", one per round: the built-in detector finds people in
# grace_hopper and astronaut, nothing in the others (uploads that make no event)
CAMERAS = {
    "front_door": ["grace_hopper.jpg", "coffee.jpg", "astronaut.jpg"],
    "garden": ["chelsea_cat.jpg", "astronaut.jpg", "horse.jpg"],
    "driveway": ["astronaut.jpg", "china.jpg", "grace_hopper.jpg"],
}
IDLE_S = 5  # HOMESEC_EVENT_IDLE_S of the demo
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check, timeout: float) -> None:  # noqa: ANN001 (a callable returning truth)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 (not up yet: ask again)
            pass
        time.sleep(0.5)
    raise SystemExit(f"screenshots: gave up waiting for {what}")


def drop_photos(camera_root: Path) -> int:
    """Each camera's photos, named with capture times from 20 hours ago to now, in rounds a
    little longer than HOMESEC_EVENT_IDLE_S apart: homesec groups by arrival, so each round
    is an event of its own, as uploads spread over a day would be."""
    now = datetime.now()
    count = 0
    for i in range(max(len(photos) for photos in CAMERAS.values())):
        if i:
            time.sleep(IDLE_S + 1)
        for n, (camera, photos) in enumerate(CAMERAS.items()):
            folder = camera_root / camera / "snap"
            folder.mkdir(parents=True, exist_ok=True)
            at = now - timedelta(hours=20 - 7 * i - n, minutes=3 * n)
            part = folder / f"MDAlarm_{at:%Y%m%d-%H%M%S}.jpg.part"
            # homesec skips a file it has seen before (on any camera): each upload is the
            # photo encoded anew, mirrored on every other camera, so no two are the same bytes
            image = cv2.imread(str(PHOTOS / photos[i]))
            part.write_bytes(
                cv2.imencode(".jpg", cv2.flip(image, 1) if n % 2 else image, [cv2.IMWRITE_JPEG_QUALITY, 90 - i])[
                    1
                ].tobytes()
            )
            part.rename(part.with_suffix(""))  # the way FTP uploads land: whole, by a rename
            count += 1
    return count


def query(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def shoot(page: Page, base: str, name: str, path: str, out: Path) -> None:
    for width_name, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        response = page.goto(base + path)
        if response is None or response.status != 200:
            raise SystemExit(f"screenshots: {path} answered {response.status if response else 'nothing'}")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(out / f"{name}-{width_name}.png"), full_page=True)
        print(f"  {name}-{width_name}.png")


def add_viewer(env: dict[str, str]) -> str:
    code = (
        "from django.contrib.auth import get_user_model; from homesec.core.services import user_set_role; "
        f"u = get_user_model().objects.create_user('viewer', password='{PASSWORD}'); "
        "user_set_role(user=u, role='viewer')"
    )
    subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=REPO, env=env, check=True)
    return "viewer"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--as", dest="role", choices=["admin", "viewer"], default="admin")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="homesec-screens-"))
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},  # embedded defaults
        "HOMESEC_ENV_FILE": "/dev/null",
        "HOMESEC_DATA_DIR": str(work),
        "PORT": str(port),
        "HOMESEC_ADMIN_PASSWORD": PASSWORD,
        "HOMESEC_LATE_AFTER_MIN": "1440",  # the back-dated photos are history, not late uploads
        "HOMESEC_EVENT_IDLE_S": str(IDLE_S),
        "HOMESEC_ALERT_MIN_LEVEL": "medium",  # so the demo has alerts to list
    }
    run = subprocess.Popen(
        [sys.executable, "manage.py", "run"], cwd=REPO, env=env, start_new_session=True, stdout=subprocess.DEVNULL
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for("homesec to be ready", lambda: httpx.get(base + "/ready", timeout=2).status_code == 200, 180)
        dropped = drop_photos(work / "cameras")
        db = work / "homesec.sqlite3"
        wait_for(
            f"{dropped} uploads to be processed",
            lambda: (
                query(db, "SELECT count(*) FROM cameras_ingest WHERE status IN ('done','rejected','duplicate')")[0][0]
                >= dropped
            ),
            300,
        )
        wait_for(
            "detection to finish",
            lambda: (
                query(db, "SELECT count(*) FROM detections_detectionrun WHERE status IN ('pending','running')")[0][0]
                == 0
            ),
            300,
        )
        wait_for(
            "the events to be closed and assessed",
            lambda: (
                query(db, "SELECT count(*), sum(status = 'open' OR risk_score IS NULL) FROM events_event")[0]
                in [(n, 0) for n in range(1, 100)]
            ),
            180,
        )
        event_id = query(db, "SELECT id FROM events_event ORDER BY risk_score DESC, id LIMIT 1")[0][0]
        camera_id = query(db, "SELECT id FROM cameras_camera ORDER BY name LIMIT 1")[0][0]
        user = add_viewer(env) if args.role == "viewer" else "admin"
        args.out.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=shutil.which("chromium"), args=["--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page()
            page.goto(base + "/accounts/login/")
            page.fill("#id_username", user)
            page.fill("#id_password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(base + "/")
            for name, path in [
                ("overview", "/"),
                ("timeline", "/events/?reviewed=all"),
                ("event", f"/events/{event_id}/"),
                ("cameras", "/cameras/"),
                ("camera", f"/cameras/{camera_id}/"),
                ("alerts", "/alerts/"),
                ("system", "/system/"),
            ]:
                shoot(page, base, name, path, args.out)
            browser.close()
    finally:
        os.killpg(run.pid, signal.SIGTERM)
        try:
            run.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)
        shutil.rmtree(work, ignore_errors=True)
    print(f"screenshots written to {args.out}/")


if __name__ == "__main__":
    main()
