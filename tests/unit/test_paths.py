"""Path canonicalisation: one spelling per path, never escaping the root."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.paths import PathError, canonical_path, decode_fs_name, path_key


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a/b/c.md", "a/b/c.md"),
        ("./a//b/./c.md/", "a/b/c.md"),
        ("a\\b\\c.md", "a/b/c.md"),
        ("a/x/../b.md", "a/b.md"),
        ("/abs/path", "abs/path"),
        ("Docs/README.md", "Docs/README.md"),  # casing preserved
        ("cafe\u0301.md", "caf\u00e9.md"),  # NFD -> NFC
        ("日本 語 🎉.txt", "日本 語 🎉.txt"),
    ],
)
def test_canonical_path(raw, expected):
    assert canonical_path(raw) == expected


@pytest.mark.parametrize("raw", ["..", "../x", "a/../../x", "", ".", "a/..", "a\x00b"])
def test_paths_that_escape_or_vanish_are_refused(raw):
    with pytest.raises(PathError):
        canonical_path(raw)


def test_path_key_folds_case_and_normalisation():
    assert path_key("Docs/README.md") == path_key("docs/readme.md")
    assert path_key("cafe\u0301.md") == path_key("CAF\u00c9.md")
    assert path_key("a/b") != path_key("a/c")


def test_decode_fs_name_escapes_invalid_bytes_without_backslashes():
    text, ok = decode_fs_name(b"bad\xff\xfename.txt")
    assert not ok
    assert text == "bad%FF%FEname.txt"
    assert canonical_path(text) == "bad%FF%FEname.txt"
    assert decode_fs_name("ok é".encode()) == ("ok é", True)


segments = st.lists(st.sampled_from(["a", "B", "..", ".", "", "é", "x y", "🎉"]), max_size=8)


@given(segments)
def test_canonicalisation_is_idempotent_and_never_escapes(parts):
    raw = "/".join(parts)
    try:
        once = canonical_path(raw)
    except PathError:
        return
    assert canonical_path(once) == once
    assert not once.startswith("/") and not once.endswith("/")
    assert ".." not in once.split("/") and "." not in once.split("/")
