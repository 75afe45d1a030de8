"""Every EVIDENCE_LAKE_* setting a run reads is checked before the CLI starts any run (core.settings)."""

import pytest

import cli
from core.settings import setting_errors

SETTINGS = ("EVIDENCE_LAKE_WORKERS", "EVIDENCE_LAKE_CHECK_SAMPLE", "EVIDENCE_LAKE_PROGRESS_SECONDS",
            "EVIDENCE_LAKE_EVAL_RATIO", "EVIDENCE_LAKE_START_DATE", "EVIDENCE_LAKE_TODAY",
            "EVIDENCE_LAKE_STORAGE_OPTIONS", "EVIDENCE_LAKE_RESPONDER", "EVIDENCE_LAKE_RESPONDER_URL")
BAD = [  # variable, value, what the message must say beside the variable and the value
    ("EVIDENCE_LAKE_WORKERS", "two", "whole number"),
    ("EVIDENCE_LAKE_WORKERS", "0", "whole number"),
    ("EVIDENCE_LAKE_CHECK_SAMPLE", "1.5", "'all' or a fraction"),
    ("EVIDENCE_LAKE_CHECK_SAMPLE", "nan", "'all' or a fraction"),
    ("EVIDENCE_LAKE_PROGRESS_SECONDS", "-1", "number of seconds"),
    ("EVIDENCE_LAKE_EVAL_RATIO", "3", "within [0, 1]"),
    ("EVIDENCE_LAKE_START_DATE", "2020-13-01", "YYYY-MM-DD"),
    ("EVIDENCE_LAKE_TODAY", "yesterday", "YYYY-MM-DD"),
    ("EVIDENCE_LAKE_STORAGE_OPTIONS", '{AWS_SECRET_ACCESS_KEY: "s3cr3t"}', "not JSON"),
    ("EVIDENCE_LAKE_STORAGE_OPTIONS", '["s3cr3t"]', "JSON object"),
    ("EVIDENCE_LAKE_RESPONDER", "gpt", "extractive or openai_compatible"),
    ("EVIDENCE_LAKE_RESPONDER", "openai_compatible", "EVIDENCE_LAKE_RESPONDER_URL"),  # and no URL
]


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EVIDENCE_LAKE_ROOT", str(tmp_path / "lake"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    return monkeypatch


def test_the_defaults_and_every_valid_form_pass(clean_env):
    assert setting_errors() == []
    for name, value in [("EVIDENCE_LAKE_WORKERS", "1"), ("EVIDENCE_LAKE_CHECK_SAMPLE", "ALL"),
                        ("EVIDENCE_LAKE_PROGRESS_SECONDS", "0"), ("EVIDENCE_LAKE_EVAL_RATIO", "0"),
                        ("EVIDENCE_LAKE_START_DATE", "2024-02-29"), ("EVIDENCE_LAKE_TODAY", "2026-12-01"),
                        ("EVIDENCE_LAKE_STORAGE_OPTIONS", '{"AWS_REGION": "eu-west-1"}'),
                        ("EVIDENCE_LAKE_RESPONDER_URL", "http://127.0.0.1:8000/v1"),
                        ("EVIDENCE_LAKE_RESPONDER", "openai_compatible")]:
        clean_env.setenv(name, value)
        assert setting_errors() == [], (name, value)


@pytest.mark.parametrize(("name", "value", "said"), BAD)
def test_a_bad_setting_is_named_with_its_value_and_what_to_set(clean_env, name, value, said):
    clean_env.setenv(name, value)
    (message,) = setting_errors()
    assert name in message and said in message, message
    if name == "EVIDENCE_LAKE_STORAGE_OPTIONS":  # it holds keys: the message never repeats it
        assert "s3cr3t" not in message, message
    else:
        assert repr(value) in message, message


@pytest.mark.parametrize("argv", [["run"], ["run", "--source", "handbook"],
                                  ["backfill", "--source", "kb", "--from", "2026-11-16", "--to", "2026-11-17"],
                                  ["verify"], ["replay", "--source", "handbook"], ["drift", "--source", "kb"]])
def test_a_command_that_starts_runs_names_every_bad_setting_and_starts_none(clean_env, tmp_path, capsys, argv):
    clean_env.setenv("EVIDENCE_LAKE_WORKERS", "two")
    clean_env.setenv("EVIDENCE_LAKE_CHECK_SAMPLE", "1.5")
    assert cli.main(argv) == 2
    said = " ".join(capsys.readouterr().err.split())
    assert "EVIDENCE_LAKE_WORKERS='two'" in said and "EVIDENCE_LAKE_CHECK_SAMPLE='1.5'" in said, said
    assert "no run was started" in said
    assert not (tmp_path / "lake").exists() and not (tmp_path / "home").exists()  # nothing written, no instance


def test_commands_that_start_no_run_do_not_ask(clean_env, capsys):
    clean_env.setenv("EVIDENCE_LAKE_WORKERS", "two")  # `tables` reads the lake only: the setting is not its concern
    assert cli.main(["tables"]) == 0
    assert cli.main(["verify", "--list-checks"]) == 0  # names the checks, runs none
    said = capsys.readouterr()
    assert "no run was started" not in said.err and "index_deterministic" in said.out


def test_the_replay_resource_reads_the_responder_through_the_same_check(clean_env):
    import dagster as dg

    from resources.responder import ResponderResource

    with pytest.raises(dg.Failure, match="EVIDENCE_LAKE_RESPONDER_URL"):
        ResponderResource(kind="openai_compatible").build()
    with pytest.raises(dg.Failure, match="'gpt' is not a responder"):
        ResponderResource(kind="gpt").build()
    clean_env.setenv("EVIDENCE_LAKE_RESPONDER_URL", "http://127.0.0.1:8000/v1")
    assert ResponderResource(kind="openai_compatible").build().base_url == "http://127.0.0.1:8000/v1"
    assert ResponderResource().build().name == "extractive"
