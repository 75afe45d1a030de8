import sys
import warnings
from pathlib import Path

import dagster as dg
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

warnings.filterwarnings("ignore", category=dg.PreviewWarning)
warnings.filterwarnings("ignore", category=dg.BetaWarning)


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
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
