"""notebooks/attention_lab.ipynb runs top to bottom in a fresh kernel, and the copy in the repository holds
the outputs of such a run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import ROOT

nbformat = pytest.importorskip("nbformat", reason="the notebook extra: pip install -e '.[notebook]'")
nbclient = pytest.importorskip("nbclient", reason="the notebook extra: pip install -e '.[notebook]'")

NOTEBOOK = ROOT / "notebooks" / "attention_lab.ipynb"


def code_cells(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


# Injected after the settings cell (as papermill injects parameters): the same cells on shorter runs, one
# epoch of 30 steps validated on 5 batches, so that the test checks the cells run, not the findings.
QUICK = """QUICK = {"trainer.max_epochs": "1", "trainer.limit_train_batches": "30",
         "trainer.limit_val_batches": "5"}
REGIME = [o for o in REGIME if o.split("=")[0] not in QUICK] + [f"{k}={v}" for k, v in QUICK.items()]
REGIME"""


@pytest.mark.slow
def test_the_notebook_runs_top_to_bottom(tmp_path: Path) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    first_code = notebook.cells.index(code_cells(notebook)[0])
    notebook.cells.insert(first_code + 1, nbformat.v4.new_code_cell(QUICK))
    # In tmp_path: its runs go to tmp_path/logs; a failing cell raises CellExecutionError with its traceback.
    where = {"metadata": {"path": tmp_path}}
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3", resources=where).execute()
    assert (tmp_path / "logs" / "notebook").is_dir()
    outputs = [cell.outputs for cell in code_cells(notebook)]
    assert all(outputs[1:]), "every cell after the settings shows something"
    assert not [o for cell in outputs for o in cell if o.output_type == "error"]


def test_the_committed_notebook_holds_the_outputs_of_one_run() -> None:
    cells = code_cells(nbformat.read(NOTEBOOK, as_version=4))
    assert [cell.execution_count for cell in cells] == list(range(1, len(cells) + 1))  # top to bottom, once
    assert all(cell.outputs for cell in cells[1:])
    assert not [o for cell in cells for o in cell.outputs if o.output_type == "error"]
