"""A real `tensorboard` server on a small sweep's logs shows every run, tag, hparam and the mask chart."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from attention_lab.report.cell_runs import CELLS
from attention_lab.run_record import MASK
from attention_lab.training.tensorboard import HPARAM_METRICS, SHOWN_HPARAMS

START_TIMEOUT_S = 120  # the server's first scan of the logs on a busy machine
LOSS_TAGS = {"train/loss", "val/loss", "val/loss_causal"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TensorBoard:
    """`python -m tensorboard.main` on 127.0.0.1; get()/post() speak JSON to its HTTP API."""

    def __init__(self, log_dir: Path) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        command = [sys.executable, "-m", "tensorboard.main", "--logdir", str(log_dir), "--host", "127.0.0.1",
                   "--port", self.url.rsplit(":", 1)[1]]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def request(self, path: str, body: dict | None = None, timeout: float = 30):
        data = None if body is None else json.dumps(body).encode()
        # POST bodies are JSON: the hparams plugin reads request.data, which stays empty for form data
        request = urllib.request.Request(
            self.url + path, data=data, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())

    def wait_until_loaded(self, runs: set[str]) -> None:
        """Until the server lists `runs`, each with the loss tags; fails after START_TIMEOUT_S."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(
                    f"tensorboard exited with {self.process.returncode}: {self.process.stderr.read()}"
                )
            try:
                tags = self.request("/data/plugin/scalars/tags", timeout=5)
                if runs <= set(self.request("/data/runs", timeout=5)) and all(
                    set(tags.get(run, {})) >= LOSS_TAGS for run in runs
                ):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass  # not listening yet
            time.sleep(0.5)
        pytest.fail(f"tensorboard at {self.url} did not load {sorted(runs)} within {START_TIMEOUT_S} s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def server(grid_sweep: Path) -> Iterator[TensorBoard]:
    board = TensorBoard(grid_sweep)
    try:
        board.wait_until_loaded(run_names(grid_sweep))
        yield board
    finally:
        board.stop()  # also when a test or the start failed


def run_names(grid_sweep: Path) -> set[str]:
    """The training runs (the report may have added its cells/ runs beside them)."""
    events = grid_sweep.glob("*/version_*/events.out.tfevents.*")
    return {path.parent.relative_to(grid_sweep).as_posix() for path in events}


@pytest.mark.slow
def test_every_run_is_listed_under_its_short_name(server: TensorBoard, grid_sweep: Path):
    expected = run_names(grid_sweep)
    listed = {run for run in server.request("/data/runs") if not run.startswith(f"{CELLS}/")}
    assert listed == expected  # the names' form: tests/test_run_record.py


@pytest.mark.slow
def test_every_run_has_the_loss_curves_with_real_values(server: TensorBoard, grid_sweep: Path):
    tags = server.request("/data/plugin/scalars/tags")
    for run in run_names(grid_sweep):
        assert set(tags[run]) >= LOSS_TAGS, run
        points = server.request(f"/data/plugin/scalars/scalars?run={run}&tag=val/loss_causal")
        assert points and all(0.0 < value < 20.0 for _, _, value in points), run


@pytest.mark.slow
def test_the_mask_chart_overlays_val_loss_and_its_causal_twin(server: TensorBoard, grid_sweep: Path):
    layout = server.request("/data/plugin/custom_scalars/layout")
    charts = [chart for category in layout["category"] for chart in category["chart"]]
    overlay = [c for c in charts if set(c["multiline"]["tag"]) == {r"^val/loss$", r"^val/loss_causal$"}]
    assert len(overlay) == 1, charts


@pytest.mark.slow
def test_hparams_table_shows_the_sweep_axes_and_both_val_losses(server: TensorBoard, grid_sweep: Path):
    runs = run_names(grid_sweep)
    experiment = server.request(
        "/data/plugin/hparams/experiment", {"experimentName": "", "includeMetrics": True}
    )
    shown = {info["name"] for info in experiment["hparamInfos"] if info.get("differs")}
    assert shown == set(SHOWN_HPARAMS)  # shown without ticking
    titles = {m["name"]["tag"]: m["displayName"] for m in experiment["metricInfos"]}
    assert titles == HPARAM_METRICS  # the last val loss beside its causal-mask twin, the best apart
    groups = server.request(
        "/data/plugin/hparams/session_groups",
        {
            "experimentName": "",
            "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
            "colParams": [{"hparam": name} for name in SHOWN_HPARAMS]
            + [{"metric": {"tag": tag}} for tag in HPARAM_METRICS],
            "startIndex": 0,
            "sliceSize": 100,
            "includeMetrics": True,
        },
    )["sessionGroups"]
    assert {g["sessions"][0]["name"] for g in groups} == runs
    for group in groups:
        name, hparams = group["name"], group["hparams"]
        mask = MASK[hparams["causal"] == "true"]
        assert name.startswith(f"{hparams['variant']}-{mask}-p{hparams['dropout']}-s{hparams['seed']:g}/"), (
            name
        )
        assert hparams["lr"] > 0
        metrics = {m["name"]["tag"]: m["value"] for m in group["metricValues"]}
        assert set(metrics) == set(HPARAM_METRICS)
        assert metrics["val_summary/loss_best"] <= metrics["val/loss"] + 1e-6  # best ≤ last
        if hparams["causal"] == "true":  # the causal-mask twin of a causal run is its val loss
            assert metrics["val/loss_causal"] == pytest.approx(metrics["val/loss"], abs=1e-5)
