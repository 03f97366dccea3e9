"""The generated documents match the code and the results: docs/troubleshooting.md (every setting, its rule
and the line a refused value prints; every file and checkpoint problem and its message), the variant tables
of README.md and docs/variants.md (the registry's records), and every documented number that a results file
holds (README.md, docs/experiment.md, docs/performance.md, docs/learning-rate.md, docs/variants.md)."""

from pathlib import Path

import pytest

from attention_lab.docgen import documents
from attention_lab.docgen.refusals import bad_example


@pytest.fixture(scope="module")
def generated() -> dict[Path, str]:
    return documents()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["troubleshooting.md", "README.md", "variants.md", "experiment.md",
                                  "performance.md", "learning-rate.md"])  # fmt: skip
def test_generated_document_matches_the_code(generated: dict[Path, str], name: str) -> None:
    path = next(path for path in generated if path.name == name)
    assert path.read_text(encoding="utf-8") == generated[path], "run `python -m attention_lab.docgen`"


def test_a_refused_value_is_derived_from_each_kind_of_rule() -> None:
    assert bad_example({"type": "integer", "minimum": 1}) == 0
    assert bad_example({"anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "null"}]}) == 0
    assert bad_example({"type": "number", "exclusiveMaximum": 1}) == 1
    assert bad_example({"enum": ["a", "b"]}) == "nonsense"
    assert bad_example({"type": "boolean"}) == "maybe"
    assert bad_example({"anyOf": [{"type": "string", "bad": "../a"}, {"type": "null"}]}) == "../a"
    assert bad_example({"type": "object"}) is None  # free-form: a copy of a group, checked under its name
