"""`python -m attention_lab.docgen` writes the parts of the documentation that follow from the code and from
the committed results, so that they cannot drift from them: docs/troubleshooting.md whole; the variant
tables of README.md and docs/variants.md (between their `<!-- variants ... -->` markers); TensorBoard's
landing address in README.md; and every number of the documents that a results file holds (results.py).
tests/test_docs.py regenerates and compares.

Every message shown is the one the code raises: each setting gets a value its rule refuses (derived from
its JSON schema: below a minimum, outside a choice, ...) and the command's own checks run on it; the file
and checkpoint problems are made in a temporary directory and met the way a run meets them.

refusals.py       each setting with a value its rule refuses and the line that value prints
problems.py       the file, checkpoint and run problems, made in a temporary directory, and what they print
variant_tables.py the variant tables, from the registry's records
results.py        the tables and numbers of docs/results/, the results files the commands wrote
"""

from __future__ import annotations

import re
from pathlib import Path

from attention_lab.docgen.problems import troubleshooting
from attention_lab.docgen.refusals import ROOT
from attention_lab.docgen.results import written
from attention_lab.docgen.variant_tables import kv_table, variants_table
from attention_lab.training.tensorboard import landing_url

TROUBLESHOOTING, README, VARIANTS_DOC = (ROOT / "docs/troubleshooting.md", ROOT / "README.md",
                                         ROOT / "docs/variants.md")  # fmt: skip
WITH_RESULTS = tuple(ROOT / "docs" / name for name in ("experiment.md", "performance.md", "learning-rate.md"))


def between_markers(text: str, marker: str, table: str) -> str:
    pattern = re.compile(rf"(<!-- {marker}: .*? -->\n).*?(<!-- end of {marker} -->)", re.S)
    if not pattern.search(text):
        raise ValueError(f"no <!-- {marker}: ... --> marker pair in the document")
    return pattern.sub(lambda m: m.group(1) + table + m.group(2), text)


def documents() -> dict[Path, str]:
    """Each generated document's path and the text it should hold."""
    readme = between_markers(README.read_text(encoding="utf-8"), "variants", variants_table())
    readme = between_markers(readme, "landing", landing_url("http://localhost:6006") + "\n")
    variants = between_markers(VARIANTS_DOC.read_text(encoding="utf-8"), "variants", kv_table())
    return {
        TROUBLESHOOTING: troubleshooting(),
        README: written(readme),
        VARIANTS_DOC: written(variants),
        **{path: written(path.read_text(encoding="utf-8")) for path in WITH_RESULTS},
    }
