"""Every environment setting a Dagster run of ours reads, checked at once before the CLI starts any run.

A bad value otherwise fails where it is first read: inside each partition's run (a bad
``EVIDENCE_LAKE_WORKERS`` failed every partition with the same message), or as a failed check after
every asset of the partition was written (``EVIDENCE_LAKE_CHECK_SAMPLE``). Each reader below is the one
the pipeline itself calls, so the check and the run cannot disagree on what is valid.
"""

from __future__ import annotations

from collections.abc import Callable

from core.check_sample import fraction_setting
from core.lake import storage_options_from_env
from core.pool import workers_setting
from core.progress import progress_interval
from core.project import eval_ratio, start_date
from core.responders import responder_setting
from core.snapshot import utc_today

READERS: tuple[Callable[[], object], ...] = (
    workers_setting,  # EVIDENCE_LAKE_WORKERS
    fraction_setting,  # EVIDENCE_LAKE_CHECK_SAMPLE
    progress_interval,  # EVIDENCE_LAKE_PROGRESS_SECONDS
    eval_ratio,  # EVIDENCE_LAKE_EVAL_RATIO
    start_date,  # EVIDENCE_LAKE_START_DATE
    utc_today,  # EVIDENCE_LAKE_TODAY
    storage_options_from_env,  # EVIDENCE_LAKE_STORAGE_OPTIONS
    responder_setting,  # EVIDENCE_LAKE_RESPONDER and the URL it needs
)


def setting_errors() -> list[str]:
    """What is wrong with the environment's settings, one message per bad setting (empty when all are valid).
    Each message names the variable, the value and what to set instead."""
    errors = []
    for read in READERS:
        try:
            read()
        except ValueError as exc:
            errors.append(str(exc))
    return errors
