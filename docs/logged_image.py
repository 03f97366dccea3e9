"""Save the last image a run logged under a tag (a heatmap, the loss-by-position curve) as a PNG: the
documented heatmaps are these, from the runs of the command beside them.

python docs/logged_image.py logs/recall_tiny/recall-k4-mha-causal-p0.0-s1-lr0.001/version_0 \
    val_attention/layer_1 docs/heatmap-recall-layer1.png
"""

from __future__ import annotations

import sys
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def main(version_dir: str, tag: str, out: str) -> None:
    accumulator = EventAccumulator(version_dir, size_guidance={"images": 0})  # 0 = keep every image
    accumulator.Reload()
    if tag not in accumulator.Tags()["images"]:
        sys.exit(f"error: {version_dir} logged no image {tag!r}; its images: {accumulator.Tags()['images']}")
    last = accumulator.Images(tag)[-1]
    Path(out).write_bytes(last.encoded_image_string)
    print(f"{out}: {tag} at step {last.step}")


if __name__ == "__main__":
    main(*sys.argv[1:])
