"""The report index links what is present and nothing external."""

from __future__ import annotations

from rdmldg.reports import build_index


def test_index_links_present_reports_only(project):
    reports = project / "reports"
    (reports / "train").mkdir(parents=True)
    (reports / "prepare.html").write_text("<html></html>")
    (reports / "train" / "heldout-photo_method-mtct.html").write_text("<html></html>")
    text = build_index(project).read_text()
    assert "href='prepare.html'" in text and "href='train/heldout-photo_method-mtct.html'" in text
    assert "chains.html" not in text
    assert "http" not in text
    assert "default" in text  # the profile in force
