import pytest


@pytest.fixture(scope="session")
def main_run(tmp_path_factory):
    """One `evidence-lake run` over docs (tree), repo (git) and kb (jsonl) on a local lake: (env, process).

    Shared by the CLI test that checks its output and the S3 test that compares lakes with it.
    """
    from tests.e2e.test_cli import BIN, _make_env, run

    env = _make_env(tmp_path_factory.mktemp("main_run"))
    return env, run([str(BIN / "evidence-lake"), "run"], env)
