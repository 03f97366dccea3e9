"""Training with Lightning: `run(settings)` builds everything from a run's checked settings and trains.

runner.py      run(settings): logger, callbacks and trainer (Lightning's own checks first), data, model, fit
run_folder.py  a run's folder: its settings saved as config.yaml and read back (Run.load)
module.py      LitGPT: training and validation steps, metrics, optimizer and schedule
callbacks.py   RNG states in checkpoints, event flush, lr after resume, NaN guard, the book's evaluation
checkpoints.py last.ckpt every few minutes and after the last epoch, written atomically; model_from_checkpoint
resume.py      ckpt_path=<file|last>: find, check and continue a run in its own directory
tensorboard.py the logger, the HParams row, text samples and attention heatmaps
heatmaps.py    the heatmap figures, rendered fast
throughput.py  tokens/s and MFU
"""

from attention_lab.training.runner import run

__all__ = ["run"]
