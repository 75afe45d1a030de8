"""The bar's description while partitions run in parallel: every running partition with its step, one line."""

from rich.text import Text

from cli import PARALLEL_STATUS_CHARS, running_line


def test_each_running_partition_shows_its_status_cut_and_escaped():
    statuses = {"kb 2026-11-16": "indexes: indexed 240,000 of 1,000,000 documents (24%), 52,000 documents/s",
                "self 2026-11-30": "", "[odd] 2026-11-30": "evidence: extracted [3] of 5 files"}
    line = running_line("backfill", statuses)
    shown = Text.from_markup(f"[bold]{line}").plain  # as the bar's TextColumn renders it
    assert shown.startswith("backfill: 3 running · kb 2026-11-16: indexes: indexed 240,000 of 1,")
    assert "…" in shown and "52,000" not in shown  # cut to PARALLEL_STATUS_CHARS
    kb = shown.split(" · ")[1]
    assert len(kb) == len("kb 2026-11-16: ") + PARALLEL_STATUS_CHARS
    assert " · self 2026-11-30 · " in shown  # no step yet: the partition alone
    assert shown.endswith("[odd] 2026-11-30: evidence: extracted [3] of 5 files")  # brackets kept as text


def test_no_partition_running_says_so():
    assert running_line("run", {}) == "run: between partitions"
