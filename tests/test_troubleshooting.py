"""docs/troubleshooting.md is written from the checks' tables: it cannot list a setting they do not check,
nor miss one they do."""

from attention_lab.troubleshooting import DOC, render


def test_troubleshooting_doc_matches_the_checks() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), "run `python -m attention_lab.checks` to update it"
