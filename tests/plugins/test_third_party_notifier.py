"""A third-party notifier package passes the same conformance suite as ours, run the way its
author would run it: pytest in its own project directory, with the fixtures of Meshploy's
pytest plugin (``http_receiver``, ``closed_url``) and nothing of Meshploy's own tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).with_name("ntfy_plugin")


def test_third_party_notifier_passes_the_conformance_suite() -> None:
    env = {**os.environ, "PYTHONPATH": str(PACKAGE)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(PACKAGE / "tests")],
        cwd=PACKAGE,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout, done.stdout
