"""A test-only callback for tests/test_chaos.py: prints a line `chaos: <phase> <epoch>` when a run enters
a phase, so the test can SIGKILL the run at that moment. Added with
`+callbacks.chaos_markers._target_=tests.chaos_markers.PhaseMarkers`."""

from __future__ import annotations

from typing import Any

import lightning as L


def marker(phase: str, epoch: int) -> None:
    print(f"chaos: {phase} {epoch}", flush=True)


class PhaseMarkers(L.Callback):
    """Markers: `train` before each training batch, `validation` before each validation batch,
    `checkpoint` as a checkpoint file starts being written (the write itself follows at once)."""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Here, not in setup: Lightning sets checkpoint callbacks up last, and TimedCheckpoint installs its
        # atomic writer then; the writer wrapped must be the one in use.
        checkpoint_io = trainer.strategy.checkpoint_io
        write = checkpoint_io.save_checkpoint

        def save_checkpoint(checkpoint: dict[str, Any], path: Any, *args: Any, **kwargs: Any) -> None:
            marker("checkpoint", trainer.current_epoch)
            write(checkpoint, path, *args, **kwargs)

        checkpoint_io.save_checkpoint = save_checkpoint

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        marker("train", trainer.current_epoch)

    def on_validation_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        marker("validation", trainer.current_epoch)
