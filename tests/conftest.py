import os
import signal
import sys
import warnings
from pathlib import Path

import dagster as dg
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import core.allocator  # noqa: E402, F401  (before polars: the tests run with the allocator options runs use)

# One "today" for the whole session, in every xdist worker and every CLI subprocess the tests start
# (they inherit the environment): a lake built before midnight and one built after must agree.
# A fixed day, not the clock, so workers that start on either side of midnight agree too.
os.environ.setdefault("EVIDENCE_LAKE_TODAY", "2026-11-30")

warnings.filterwarnings("ignore", category=dg.PreviewWarning)
warnings.filterwarnings("ignore", category=dg.BetaWarning)


@pytest.fixture
def instance():
    """An in-memory Dagster instance (what `dg.materialize` uses by default) for asset-level tests.

    Its event log is one in-memory sqlite connection: a partition run writes ~200 event rows, and
    on a file-backed instance each costs milliseconds, which halves these tests' speed. The
    persistent instances people run on (sqlite in DAGSTER_HOME, PostgreSQL) are exercised by the
    e2e tests through the CLI, `dagster` and the daemon.
    """
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


@pytest.fixture
def lake_root(tmp_path: Path) -> Path:
    return tmp_path / "lake"


@pytest.fixture(scope="session")
def s3(tmp_path_factory):
    """A real S3-compatible server (moto) on 127.0.0.1 for the whole session; tests take a fresh bucket."""
    from tests.servers import s3_server

    with s3_server(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture
def s3_lake(s3) -> tuple[str, dict[str, str]]:
    """(lake root, storage options) of an empty lake in a fresh bucket."""
    return f"s3://{s3.new_bucket()}/el", s3.options()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory):
    """A real PostgreSQL on 127.0.0.1 for the whole session; tests take a fresh database."""
    from tests.servers import postgres_server

    with postgres_server(tmp_path_factory.mktemp("pg")) as server:
        yield server


def pytest_collection_modifyitems(items):
    """Long tests first in every xdist worker's share: one that starts last sets the suite's wall time."""
    from tests.scheduling import long_first, measured_costs

    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    items[:] = long_first([item.nodeid for item in items], items, workers, measured_costs())


@pytest.fixture(autouse=True)
def _sigterm_default():
    """Give every test a SIGTERM that terminates, as a normal process has.

    Dagster maps SIGTERM to the SIGINT handler when it executes a run in process
    (dagster._utils.interrupts). Where SIGINT is ignored, as in a background job or an
    xdist worker started from one, SIGTERM then becomes ignored too, and every process
    spawned after it inherits that: a multiprocessing pool's terminate() then hangs for ever.
    """
    if signal.getsignal(signal.SIGTERM) == signal.SIG_IGN:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
