"""Step output capture: Dagster's files, mirrored by a thread; no helper process a SIGKILL could orphan."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml

from resources.instance_storage import instance_yaml

ROOT = Path(__file__).resolve().parents[2]

CAPTURING = textwrap.dedent("""
    import os, subprocess, sys, time
    import dagster as dg
    instance = dg.DagsterInstance.from_config(sys.argv[1])
    manager = instance.compute_log_manager
    print("before", flush=True)
    with manager.capture_logs(["run", "step"]):
        print("from python", flush=True)
        os.write(1, b"from the fd\\n")
        print("to stderr", file=sys.stderr, flush=True)
        subprocess.run(["sh", "-c", "echo from a child"], check=True)
        children = open(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read().split()
        print(f"children while capturing: {len(children)}", flush=True)
        if sys.argv[2] == "hang":
            time.sleep(600)
    print("after", flush=True)
""")


def _home(tmp_path: Path, config: str = "cli") -> Path:
    """A home as the CLI writes it, or as deploy/dagster.yaml sets it up (its storage swapped for sqlite)."""
    home = tmp_path / "home"
    home.mkdir()
    written = yaml.safe_load(instance_yaml(str(home)))
    if config == "deploy":
        deployed = yaml.safe_load((ROOT / "deploy" / "dagster.yaml").read_text())
        written = {**deployed, "storage": written["storage"]}
    (home / "dagster.yaml").write_text(yaml.safe_dump(written))
    return home


def _script(tmp_path: Path) -> Path:
    script = tmp_path / "capture.py"
    script.write_text(CAPTURING)
    return script


@pytest.mark.parametrize("config", ["cli", "deploy"])
def test_captured_output_reaches_both_the_files_and_the_terminal_with_no_helper_process(tmp_path, config,
                                                                                         monkeypatch):
    """Both the CLI's home and deploy/dagster.yaml (Postgres, daemon) capture with no helper process."""
    home = _home(tmp_path, config)
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # as in every Dagster process; deploy's logs go under it
    proc = subprocess.run([sys.executable, str(_script(tmp_path)), str(home), "finish"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "DAGSTER_HOME": str(home)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["before", "from python", "from the fd", "from a child",
                                        "children while capturing: 0", "after"]
    assert "to stderr" in proc.stderr
    manager = dg.DagsterInstance.from_config(str(home)).compute_log_manager
    assert type(manager).__name__ == "ThreadMirrorComputeLogManager"
    assert Path(manager._base_dir) == home / "storage"  # deploy/dagster.yaml names no path: Dagster's default
    data = manager.get_log_data(["run", "step"])
    assert data.stdout.decode().splitlines() == ["from python", "from the fd", "from a child",
                                                 "children while capturing: 0"]
    assert data.stderr.decode() == "to stderr\n"
    assert manager.is_capture_complete(["run", "step"])


def test_a_sigkill_during_capture_leaves_nothing_holding_the_terminal(tmp_path):
    """The stock manager's `tail -F` outlives a kill that lands before its watcher starts; nothing here can."""
    home = _home(tmp_path)
    proc = subprocess.Popen([sys.executable, str(_script(tmp_path)), str(home), "hang"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 60
    seen = b""
    while b"children while capturing" not in seen and time.monotonic() < deadline:
        seen += os.read(proc.stdout.fileno(), 4096)
    assert b"children while capturing: 0" in seen
    proc.send_signal(signal.SIGKILL)
    rest, _ = proc.communicate(timeout=10)  # EOF as soon as the process is gone: no orphan holds the pipe
    assert proc.returncode == -signal.SIGKILL and b"after" not in rest


def test_a_closed_terminal_does_not_stop_the_capture(tmp_path):
    """`run | head -1`: once the reader is gone the mirror stops, the files still get every line."""
    home = _home(tmp_path)
    proc = subprocess.Popen([sys.executable, str(_script(tmp_path)), str(home), "finish"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout.readline() == b"before\n"
    proc.stdout.close()
    proc.wait(timeout=60)
    data = dg.DagsterInstance.from_config(str(home)).compute_log_manager.get_log_data(["run", "step"])
    assert data.stdout.decode().splitlines()[:3] == ["from python", "from the fd", "from a child"]


def test_no_base_dir_and_no_dagster_home_says_what_to_set(monkeypatch):
    from resources.compute_logs import ThreadMirrorComputeLogManager

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    with pytest.raises(ValueError, match="base_dir .* or DAGSTER_HOME"):
        ThreadMirrorComputeLogManager.from_config_value(None, {})
