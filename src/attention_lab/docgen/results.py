"""The documented numbers, written from the results files the commands wrote (docs/results/): a report's
tables (`python -m attention_lab.report`, <figure>.json) and a sweep's wall time and memory
(`benchmarks/sweep_cost.py`, <sweep>/cost.json). In a document, between markers:

    <!-- table: <results file> | <title start> -->        the report's table whose title starts so,
    ...                                                      as Markdown
    <!-- end of table -->
    <!-- value: <results file> | <title start> | <row> | <column> -->0.412 ±0.018<!-- /value -->
                                                             one cell: the row whose first cells are <row>
                                                             (separated by ;), the column titled <column>
    <!-- cost: <cost file> | <wall | memory | command> -->11 min 24 s<!-- /value -->
    <!-- findings: <findings file> -->                       a table of findings, each from a results
    ...                                                      file (findings()), with its budget
    <!-- end of findings -->
    <!-- text: <text file> -->                               a file a command wrote (a model's sample),
    ...                                                      as a code block
    <!-- end of text -->

Paths are relative to docs/results/. `python -m attention_lab.docgen` rewrites what the markers hold;
tests/test_docs.py fails where a document and its files disagree.
"""

from __future__ import annotations

import json
import re
from functools import cache

import yaml

from attention_lab.cli import CONF_DIR

RESULTS = CONF_DIR.parent / "docs" / "results"
FINDINGS = re.compile(r"(<!-- findings: (\S+) -->\n).*?(<!-- end of findings -->)", re.S)
TABLE = re.compile(r"(<!-- table: (.+?) \| (.+?) -->\n).*?(<!-- end of table -->)", re.S)
VALUE = re.compile(r"(<!-- value: (.+?) \| (.+?) \| (.+?) \| (.+?) -->).*?(<!-- /value -->)", re.S)
TEXT = re.compile(r"(<!-- text: (\S+) -->\n).*?(<!-- end of text -->)", re.S)
COST = re.compile(r"(<!-- cost: (.+?) \| (wall|memory|command) -->).*?(<!-- /value -->)", re.S)


@cache
def results(name: str) -> dict:
    return json.loads((RESULTS / name).read_text(encoding="utf-8"))


def table(name: str, title: str) -> tuple[str, list[str], list[list[str]]]:
    """The table of the results file `name` whose title starts with `title`."""
    found = [t for t in results(name)["tables"] if t["title"].startswith(title)]
    if not found:
        raise ValueError(f"{name} has no table whose title starts with {title!r}")
    return found[0]["title"], found[0]["headers"], found[0]["rows"]


def markdown(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows]) + "\n"


def cell(name: str, title: str, row: str, column: str) -> str:
    """One cell: of the row whose first cells are `row` (separated by ;), in the column titled `column`."""
    _, headers, rows = table(name, title)
    key = [part.strip() for part in row.split(";")]
    found = [r for r in rows if r[: len(key)] == key]
    if len(found) != 1 or column not in headers:
        raise ValueError(f"{name}, {title!r}: {len(found)} rows start with {key}; columns: {headers}")
    return found[0][headers.index(column)]


def minutes(seconds: float) -> str:
    whole = round(seconds)
    if whole >= 3600:
        return f"{whole // 3600} h {whole % 3600 // 60:02d} min"
    return f"{whole // 60} min {whole % 60:02d} s" if whole >= 60 else f"{whole} s"


def cost(name: str, what: str) -> str:
    record = results(name)
    if what == "wall" and "wall_seconds" not in record:  # read from the runs' events (sweep_cost --from-logs)
        return f"{minutes(record['run_seconds_total'])} of training summed over its {record['runs']} runs"
    if what == "wall":
        return minutes(record["wall_seconds"])
    if what == "memory":
        return f"{record['peak_rss_largest_process_bytes'] / 1e9:.2f} GB"
    return f"`{record['command']}`"


def written(text: str) -> str:
    """`text` with every results marker holding what its file says."""
    text = FINDINGS.sub(lambda m: m.group(1) + findings(m.group(2)) + m.group(3), text)
    text = TEXT.sub(lambda m: m.group(1) + code_block(m.group(2)) + m.group(3), text)
    text = TABLE.sub(lambda m: m.group(1) + markdown(*table(m.group(2), m.group(3))[1:]) + m.group(4), text)
    text = VALUE.sub(lambda m: m.group(1) + cell(*m.group(2, 3, 4, 5)) + m.group(6), text)
    return COST.sub(lambda m: m.group(1) + cost(m.group(2), m.group(3)) + m.group(4), text)


def code_block(name: str) -> str:
    return f"```\n{(RESULTS / name).read_text(encoding='utf-8').rstrip()}\n```\n"


def findings(name: str) -> str:
    """The findings table of docs/results/<name> (YAML): per finding its text, the measured value and its
    verdict from a results file's table, its budget (the file's) and whether its cells were still learning."""
    rows = ["| finding | measured | verdict | budget | the cells at the end |", "|---|---|---|---|---|"]
    for entry in yaml.safe_load((RESULTS / name).read_text(encoding="utf-8")):
        source = (entry["file"], entry["table"], entry["row"])
        verdict = cell(*source, entry["verdict"]) if "verdict" in entry else "—"
        learning = cell(*source, entry["learning"]) if "learning" in entry else "—"
        rows.append(f"| {entry['finding']} | {cell(*source, entry['value'])} | {verdict} | "
                    f"{budget(entry['file'])} | {learning} |")  # fmt: skip
    return "\n".join(rows) + "\n"


def budget(name: str) -> str:
    """What the runs of a results file trained for: steps, seeds per cell, the mean training time."""
    cells = results(name)["cells"]
    steps = sorted({step for c in cells for step in c["steps"]})
    seeds = sorted({c["n"] for c in cells})
    times = [t for c in cells for t in c["train_seconds"] if t is not None]
    spent = f", {sum(times) / len(times):,.0f} s of training each" if times else ""
    return (f"{'–'.join(f'{s:,}' for s in steps[:: max(1, len(steps) - 1)])} steps × "
            f"{'–'.join(map(str, seeds[:: max(1, len(seeds) - 1)]))} seeds{spent}")
