"""Step stdout/stderr captured to Dagster's usual files, mirrored to the terminal by a thread, not ``tail -F``.

Dagster's ``LocalComputeLogManager`` mirrors each captured stream by starting ``tail -F`` and then a
Python watcher that kills the tail when its parent dies: four processes per step. A SIGKILL that
lands between the two spawns leaves the tail with no watcher. It then runs forever and holds the
killed run's stdout open, so ``evidence-lake run | tee log`` never ends (seen once in CI; reproduced
8 times in 10 with a kill timed on the tail's spawn).

Here the mirror is a thread of the run's own process, so it dies with the process. The files,
their paths and the completion marker are the stock ones, so the UI reads them as before, and
removing ``compute_logs:`` from dagster.yaml goes back to the stock manager.
"""

import os
import sys
import threading
from collections.abc import Generator, Sequence
from contextlib import ExitStack, contextmanager
from typing import IO

from dagster import Field, Float, StringSource
from dagster._core.storage.compute_log_manager import CapturedLogContext, ComputeIOType
from dagster._core.storage.local_compute_log_manager import IO_TYPE_EXTENSION, LocalComputeLogManager
from dagster._utils import ensure_file, touch_file

POLL_S = 0.05  # how often the mirror looks for new bytes; the last ones are copied when capture ends
CHUNK = 1 << 16


def _fileno(stream: IO) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):  # pytest's capture, a closed stream: nothing to redirect
        return None


class _Mirror(threading.Thread):
    """Copies what is appended to ``path`` onto file descriptor ``out`` until stopped, then drains the rest."""

    def __init__(self, path: str, out: int) -> None:
        super().__init__(name=f"compute-log-mirror:{os.path.basename(path)}", daemon=True)
        self._path, self._out = path, out
        self._offset = os.path.getsize(path)  # only what this capture writes, as `tail` of a fresh file
        self._done = threading.Event()

    def run(self) -> None:
        with open(self._path, "rb") as source:
            source.seek(self._offset)
            while True:
                stopping = self._done.wait(POLL_S)
                while chunk := source.read(CHUNK):
                    if not self._write(chunk):
                        return
                if stopping:
                    return

    def _write(self, chunk: bytes) -> bool:
        """False when the terminal side is gone (a closed pipe): the file still has everything."""
        try:
            view = memoryview(chunk)
            while view:
                view = view[os.write(self._out, view):]
            return True
        except OSError:
            return False

    def stop(self) -> None:
        self._done.set()
        self.join()


@contextmanager
def _captured(stream: IO, path: str) -> Generator[None, None, None]:
    """Point ``stream``'s file descriptor at ``path`` (child processes write there too) and mirror it."""
    ensure_file(path)
    fd = _fileno(stream)
    if fd is None:
        yield
        return
    stream.flush()
    terminal = os.dup(fd)
    mirror = _Mirror(path, terminal)
    mirror.start()
    try:
        with open(path, "ab", buffering=0) as target:
            os.dup2(target.fileno(), fd)
            try:
                yield
            finally:
                stream.flush()
                os.dup2(terminal, fd)
    finally:
        mirror.stop()
        os.close(terminal)


class ThreadMirrorComputeLogManager(LocalComputeLogManager):
    """``LocalComputeLogManager`` with the mirror in a thread of the step's process (see module docstring)."""

    @classmethod
    def config_type(cls) -> dict:
        """The stock fields, with ``base_dir`` optional: the stock default, ``$DAGSTER_HOME/storage``.

        So deploy/dagster.yaml can name this class without a path, as it names no path for its storage.
        """
        return {"base_dir": Field(StringSource, is_required=False),
                "polling_timeout": Field(Float, is_required=False)}

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> "ThreadMirrorComputeLogManager":
        config = dict(config_value)
        if "base_dir" not in config:
            home = os.environ.get("DAGSTER_HOME")
            if not home:
                raise ValueError("ThreadMirrorComputeLogManager: set compute_logs.config.base_dir in dagster.yaml "
                                 "or DAGSTER_HOME (its logs then go to $DAGSTER_HOME/storage, as Dagster's do)")
            config["base_dir"] = os.path.join(home, "storage")
        return cls(inst_data=inst_data, **config)

    @contextmanager
    def capture_logs(self, log_key: Sequence[str]) -> Generator[CapturedLogContext, None, None]:
        out = self.get_captured_local_path(log_key, IO_TYPE_EXTENSION[ComputeIOType.STDOUT])
        err = self.get_captured_local_path(log_key, IO_TYPE_EXTENSION[ComputeIOType.STDERR])
        with ExitStack() as stack:
            stack.enter_context(_captured(sys.stdout, out))
            stack.enter_context(_captured(sys.stderr, err))
            yield CapturedLogContext(log_key)
        touch_file(self.complete_artifact_path(log_key))  # the stock marker: the UI knows the capture ended
