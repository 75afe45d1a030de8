"""sources.toml: every mistake gives one clear error naming the file and the source."""

from pathlib import Path

import pytest

from core.sources import SourceConfigError, load_sources


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "docs").mkdir(exist_ok=True)
    path = tmp_path / "sources.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_registry_resolves_paths_against_the_file(tmp_path, monkeypatch):
    file = _write(
        tmp_path,
        '[sources.docs]\nkind = "tree"\npath = "docs"\n'
        '[sources.kb]\nkind = "jsonl"\npath = "."\nevent_time_field = "at"\n',
    )
    monkeypatch.chdir("/")
    sources = load_sources(file)
    assert list(sources) == ["docs", "kb"]
    assert sources["docs"].path == (tmp_path / "docs").resolve()
    assert sources["kb"].event_time_field == "at"
    assert sources["docs"].ref == "HEAD"


def test_env_var_names_the_file(tmp_path, monkeypatch):
    file = _write(tmp_path, '[sources.docs]\nkind = "tree"\npath = "docs"\n')
    monkeypatch.setenv("EVIDENCE_LAKE_SOURCES", str(file))
    assert list(load_sources()) == ["docs"]


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ('[sources.docs\nkind = "tree"', r"sources\.toml: TOML syntax error"),
        ('[sources.docs]\nkind = "svn"\npath = "docs"\n', r"source 'docs': unknown kind 'svn'"),
        ('[sources.docs]\nkind = "tree"\npath = "nope"\n', r"source 'docs': path does not exist: .*nope"),
        ('[sources.docs]\nkind = "tree"\n', r"source 'docs': 'path' must be"),
        ('[sources.docs]\nkind = "tree"\npath = "docs"\n[sources.docs]\nkind = "git"\npath = "."\n', r"declared twice"),
        (
            '[sources.docs]\nkind = "tree"\npath = "docs"\n[sources.DOCS]\nkind = "tree"\npath = "docs"\n',
            r"source 'DOCS': duplicate source name",
        ),
        ('[sources."a|b"]\nkind = "tree"\npath = "docs"\n', r"source 'a\|b': name must be"),
        ('[sources.docs]\nkind = "tree"\npath = "docs"\ncolour = "red"\n', r"unknown keys \['colour'\]"),
        ('title = "no sources"\n', r"no \[sources.<name>\] tables"),
    ],
)
def test_bad_registries_fail_clearly(tmp_path, text, pattern):
    file = _write(tmp_path, text)
    with pytest.raises(SourceConfigError, match=pattern) as info:
        load_sources(file)
    assert str(file) in str(info.value)


def test_missing_file_says_how_to_fix(tmp_path):
    with pytest.raises(SourceConfigError, match="EVIDENCE_LAKE_SOURCES"):
        load_sources(tmp_path / "absent.toml")


def test_path_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "afile").write_text("x")
    file = _write(tmp_path, '[sources.f]\nkind = "tree"\npath = "afile"\n')
    with pytest.raises(SourceConfigError, match="not a directory"):
        load_sources(file)


def test_file_limit_default_depends_on_kind(tmp_path):
    from core.sources import DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_STREAM_BYTES, SourceConfig

    file = _write(tmp_path, '[sources.docs]\nkind = "tree"\npath = "docs"\n'
                            '[sources.kb]\nkind = "jsonl"\npath = "docs"\n'
                            '[sources.small]\nkind = "jsonl"\npath = "docs"\nmax_file_bytes = 10\n')
    sources = load_sources(file)
    assert sources["docs"].max_file_bytes == DEFAULT_MAX_FILE_BYTES
    assert sources["kb"].max_file_bytes == DEFAULT_MAX_STREAM_BYTES
    assert sources["small"].max_file_bytes == 10
    assert SourceConfig("x", "jsonl", tmp_path).max_file_bytes == DEFAULT_MAX_STREAM_BYTES


@pytest.mark.parametrize("value, ok", [('"change"', True), ('"reference:5"', True), ('"2026-11-16..2026-11-18"', True),
                                       ('"last week"', False), ("3", False), ('"2026-11-18..2026-11-16"', False)])
def test_drift_baseline_is_checked_when_the_registry_is_read(tmp_path, value, ok):
    file = _write(tmp_path, f'[sources.docs]\nkind = "tree"\npath = "docs"\ndrift_baseline = {value}\n')
    if ok:
        assert load_sources(file)["docs"].drift_baseline == value.strip('"')
    else:
        with pytest.raises(SourceConfigError, match=r"source 'docs': 'drift_baseline': baseline"):
            load_sources(file)
