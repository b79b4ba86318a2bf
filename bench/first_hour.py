"""The first hour, measured: a fresh clone's `scripts/run.sh` until it serves, then a curator from the login page to
the first stored decision, in headless Chromium (Debian's, as the browser tier uses).

    python -m bench.first_hour [--keep DIR]

Clones this checkout's HEAD into a temporary folder (or DIR), runs `scripts/run.sh` there (so `.venv` is built the
way a new user's is; pip's cache decides how long that takes), waits for the logins it prints, logs in as the
curator with the password it wrote, opens *Start reviewing*, waits until the served question carries verdicts (the
worker validates the demo chains while the server starts) and presses `a`. Needs ports 8000 and 6390 free.
Prints the figures; asserts nothing (a loaded machine is slower, not wrong).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
READY = "SightSound Studio: http://127.0.0.1:8000/"
BASE = "http://127.0.0.1:8000"


def _serve(repo: Path, t0: float) -> tuple[subprocess.Popen[bytes], float]:
    log = (repo / "run.log").open("w")
    proc = subprocess.Popen(["scripts/run.sh"], cwd=repo, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    while READY not in (repo / "run.log").read_text():
        if proc.poll() is not None:
            raise SystemExit((repo / "run.log").read_text()[-3000:])
        time.sleep(0.5)
    while True:
        try:
            urllib.request.urlopen(f"{BASE}/login/", timeout=2)
            return proc, time.monotonic() - t0
        except OSError:
            time.sleep(0.3)


def _first_decision(password: str) -> tuple[str, float, float]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", headless=True,
                                    args=["--no-sandbox"])
        page = browser.new_page(base_url=BASE)
        page.set_default_timeout(120_000)
        page.goto("/login/")
        t_login = time.monotonic()
        page.fill("input[name=username]", "curator")
        page.fill("input[name=password]", password)
        page.click("button[type=submit], input[type=submit]")
        page.wait_for_load_state()
        landed = page.url
        page.click("#start-review")
        while not page.locator("article.review-chain .verdict").count():  # validation still running on the worker
            time.sleep(2)
            page.reload()
        t_verdicts = time.monotonic() - t_login
        first = page.locator("article.review-chain.selected").get_attribute("id")
        page.keyboard.press("a")
        page.wait_for_selector(f"#{first}.decision-accepted")
        t_decision = time.monotonic() - t_login
        browser.close()
    return landed, t_verdicts, t_decision


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", type=Path, help="clone into this (new) folder and keep it")
    args = ap.parse_args(argv)
    repo = args.keep or Path(tempfile.mkdtemp(prefix="first-hour-")) / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
    t0 = time.monotonic()
    proc, t_serving = _serve(repo, t0)
    try:
        landed, t_verdicts, t_decision = _first_decision((repo / "var" / "curator_password").read_text().strip())
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
    print(f"scripts/run.sh on a fresh clone: serving after {t_serving:.0f} s")
    print(f"curator landed on {landed.removeprefix(BASE)}; verdicts on the first served question "
          f"{t_verdicts:.1f} s after the login page opened; first decision stored {t_decision:.1f} s after it")
    if not args.keep:
        shutil.rmtree(repo.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
