import subprocess

import pytest

from tests.shared import once


@pytest.fixture(scope="session")
def main_run(tmp_path_factory):
    """One `evidence-lake run` over docs (tree), repo (git) and kb (jsonl) on a local lake: (env, process).

    Shared by the CLI test that checks its output and the S3 tests that compare lakes with it;
    built once per session, whichever xdist worker asks first. Nobody writes to it afterwards.
    """
    from tests.e2e.test_cli import BIN, _make_env, run

    def build(folder):
        env = _make_env(folder)
        proc = run([str(BIN / "evidence-lake"), "run"], env)
        return {"env": env, "stdout": proc.stdout, "stderr": proc.stderr}

    made = once(tmp_path_factory, "main_run", build)
    return made["env"], subprocess.CompletedProcess([], 0, made["stdout"], made["stderr"])
