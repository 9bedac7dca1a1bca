"""The committed claims tables and READMEs regenerate byte for byte from the committed run records."""
import shutil

from common import REPO_ROOT
from common.registry import papers
from common.report import report_index, report_paper


def test_committed_tables_regenerate_byte_for_byte(tmp_path, monkeypatch):
    committed = REPO_ROOT / "results"
    copy = tmp_path / "results"
    shutil.copytree(committed, copy, ignore=shutil.ignore_patterns("figures"))
    monkeypatch.setenv("REPRO_RESULTS", str(copy))
    for paper in papers().values():
        report_paper(paper)
    report_index()
    generated = sorted(p.relative_to(copy) for p in copy.rglob("*") if p.suffix in (".md", ".csv"))
    assert generated, "no tables were generated"
    for rel in generated:
        assert (committed / rel).exists(), f"results/{rel} is generated but not committed (run `repro report --all`)"
        assert (committed / rel).read_bytes() == (copy / rel).read_bytes(), f"results/{rel} differs from its data"
    for paper in papers():
        assert (committed / paper / "claims.csv").exists(), f"results/{paper}/claims.csv is missing"
