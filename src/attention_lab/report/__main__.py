"""`python -m attention_lab.report log_dir=<folder of a sweep> [out=<figure>] [format=markdown]`."""

from __future__ import annotations

import sys

from omegaconf import DictConfig

from attention_lab.cli import hydra_command
from attention_lab.report import report


@hydra_command("report")
def main(cfg: DictConfig) -> None:
    from attention_lab.settings import ReportSettings, checked  # here: `--help` imports no torch

    settings = checked(ReportSettings, cfg)
    print(f"loss curves: {report(settings.log_dir, settings.out, settings.format)}")


if __name__ == "__main__":
    if bare := [arg for arg in sys.argv[1:] if "=" not in arg and not arg.startswith("-")]:
        sys.exit(f"error: {bare[0]} is not a setting: give the folder of a sweep as log_dir={bare[0]}")
    main()
