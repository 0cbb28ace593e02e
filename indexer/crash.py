"""Crash points: where the crash-safety tests kill a running command."""

from __future__ import annotations

import os
import time
from pathlib import Path


def crash_point(stage: str) -> None:
    """For the crash-safety tests: with WIKISEARCH_TEST_CRASH_POINT=stage the command
    announces that it reached ``stage`` (a file beside the marker) and waits there
    to be killed, so a test can SIGKILL it at an exact point."""
    marker = os.environ.get("WIKISEARCH_TEST_CRASH_POINT")
    if marker and marker.split(":", 1)[0] == stage:
        Path(marker.split(":", 1)[1]).write_text(stage)
        time.sleep(300)
