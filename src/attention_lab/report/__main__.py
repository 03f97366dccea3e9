"""`python -m attention_lab.report log_dir=<folder of a sweep> [out=<figure>] [format=...] [figure=...]`."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from omegaconf import DictConfig

from attention_lab.cli import hydra_command
from attention_lab.report import report
from attention_lab.settings import ReportSettings, checked


@hydra_command("report")
def main(cfg: DictConfig) -> None:
    settings = checked(ReportSettings, cfg)
    command = shlex.join(["python", "-m", "attention_lab.report", *sys.argv[1:]])
    path = report(settings.log_dir, settings.out, settings.format, settings.figure, settings.generation_speed,
                  command)  # fmt: skip
    print(f"figure: {path}\nresults: {path.with_suffix('.json')}")


if __name__ == "__main__":
    given = sys.argv[1:]  # a folder typed without `log_dir=`; not the value of an option (--config-dir <dir>)
    bare = [arg for before, arg in zip(["", *given], given, strict=False)
            if "=" not in arg and Path(arg).is_dir() and not before.startswith("-")]  # fmt: skip
    if bare:
        sys.exit(f"error: {bare[0]} is not a setting: give the folder of a sweep as log_dir={bare[0]}")
    main()
