"""Follow a run's event log from another thread: which step runs, and the last progress line it logged.

`evidence-lake run` executes a partition's run in its own process with Dagster's console logger
silenced; the step logs (``core.progress``: lines extracted, documents indexed) only reach the
instance. A million-line partition then showed one spinner for minutes. ``RunWatch`` reads the
run's new event records about once a second and hands a one-line status to the CLI's display.
It only reads the instance (sqlite or Postgres), so it cannot change what the run does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

import dagster as dg

STATUS_CHARS = 90  # a status longer than this is cut (a terminal line holds the bar beside it)


class RunStatus:
    """The status line of one run, folded from its event records in order."""

    def __init__(self) -> None:
        self.step: str | None = None
        self.note: str | None = None  # the current step's last log message

    def fold(self, records: Iterable[dg.EventLogRecord]) -> None:
        """Take in records (in storage order): a step's start resets the note; its log lines set it."""
        for record in records:
            entry = record.event_log_entry
            event = entry.dagster_event
            if event is None:
                if entry.step_key and entry.step_key == self.step and entry.user_message:
                    self.note = entry.user_message
                continue
            if event.event_type == dg.DagsterEventType.STEP_START:
                self.step, self.note = event.step_key, None

    def text(self) -> str:
        """``indexes: indexed 240,000 of 1,000,000 documents (24%), …``, or ``""`` before any step started."""
        if self.step is None:
            return ""
        line = f"{self.step}: {self.note}" if self.note else self.step
        line = " ".join(line.split())  # one line, whatever a message holds
        return line if len(line) <= STATUS_CHARS else line[:STATUS_CHARS - 1] + "…"


class RunWatch(threading.Thread):
    """Polls ``run_id``'s new records every ``every_s`` and calls ``show`` with the status when it changes.

    Use as a context manager around the run; a failure to read (the run not created yet, a locked
    database) is skipped until the next poll: the display is a courtesy, never a reason to fail.
    """

    def __init__(self, instance: dg.DagsterInstance, run_id: str, show: Callable[[str], None],
                 every_s: float = 1.0) -> None:
        super().__init__(name="run-watch", daemon=True)
        self.instance, self.run_id, self.show, self.every_s = instance, run_id, show, every_s
        self.status = RunStatus()
        self.cursor: str | None = None
        self.stopped = threading.Event()
        self.shown = ""  # the status last handed to ``show`` ("" before any)

    def poll(self) -> None:
        """Read the records added since the last poll and show the status if it changed."""
        while True:
            try:
                page = self.instance.get_records_for_run(self.run_id, cursor=self.cursor, limit=1000)
            except Exception:  # noqa: BLE001 - a read that fails now is retried at the next poll
                return
            self.status.fold(page.records)
            self.cursor = page.cursor
            if not page.has_more:
                break
        text = self.status.text()
        if text and text != self.shown:
            self.shown = text
            self.show(text)

    def run(self) -> None:
        while not self.stopped.wait(self.every_s):
            self.poll()

    def __enter__(self) -> RunWatch:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.join()
        self.poll()  # the run's last records: the status it ended in
