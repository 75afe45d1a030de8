"""Expensive fixtures built once per test session, even when pytest-xdist runs several workers.

Each worker is its own process with its own session fixtures, so a reference run would be
built once per worker. ``once`` builds it in the directory all workers share (the parent of
their base temp), under a file lock, and hands every worker the same JSON-able result.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock


def shared_dir(tmp_path_factory) -> Path:
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def once(tmp_path_factory, name: str, build: Callable[[Path], dict]) -> dict:
    """``build(folder)`` the first time any worker asks for ``name``; its stored result afterwards."""
    folder = shared_dir(tmp_path_factory) / f"shared-{name}"
    result = folder.with_suffix(".json")
    with FileLock(str(folder) + ".lock", timeout=1200):
        if result.exists():
            return json.loads(result.read_text())
        folder.mkdir(parents=True, exist_ok=True)
        value = build(folder)
        result.write_text(json.dumps(value))
        return value
