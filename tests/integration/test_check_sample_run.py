"""The evidence determinism check on a partition bigger than the sample floor (issue 15)."""

from tests.helpers import check_results, materialize_all, utc_today, write_sources


def _sample_metadata(result) -> dict:
    (evaluation,) = [e for e in result.get_asset_check_evaluations()
                     if e.check_name == "evidence_records_deterministic"]
    return {k: v.value for k, v in evaluation.metadata.items()}


def test_the_check_recomputes_a_seeded_sample_by_default_and_passes(tmp_path, instance, monkeypatch):
    monkeypatch.delenv("EVIDENCE_LAKE_CHECK_SAMPLE", raising=False)
    tree = tmp_path / "tree"
    tree.mkdir()
    for i in range(101):
        (tree / f"m{i:03d}.py").write_text(f'"""Module {i}."""\nimport os\n\n\ndef f{i}():\n    return {i}\n')
    sources = write_sources(tmp_path / "sources.toml", {"tree": {"kind": "tree", "path": str(tree)}})
    result = materialize_all(instance, tmp_path / "lake", sources, "tree", utc_today())
    assert result.success and all(check_results(result).values()), check_results(result)
    metadata = _sample_metadata(result)
    assert metadata["sample"].startswith("100 of 101 files (seeded by partition")
    assert metadata["files_recomputed"] == 100
    assert metadata["records_stored_hash"] == metadata["records_recomputed_hash"]
