"""What the hardware multiplies fast: the precision `trainer.precision=auto` chooses.

bf16-mixed (Lightning's: weights, optimizer state and checkpoints in float32, matmuls in bfloat16 under
autocast) where the device multiplies bfloat16 in hardware: a CUDA GPU that supports it, or a CPU with AMX
(amx_bf16) or AVX-512 BF16 (avx512_bf16) instructions, which oneDNN uses for torch's CPU matmuls. Elsewhere
32-true: on a CPU without them (AVX2 only, or an Apple or other ARM CPU, whose flags Linux does not list
here) oneDNN converts bf16 to float32 for every product, which costs more than it saves
(benchmarks/precision.py measures both on one CPU, with oneDNN held below the bf16 instructions).
"""

from __future__ import annotations

from pathlib import Path

import torch

BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo's names of the CPU's bf16 matrix instructions
AUTO = "auto"
# The names lightning.Trainer(accelerator=...) takes: its accelerator registry's, and "auto" and "gpu"
# (tests/test_precision.py keeps them in step). Checked with the settings, so that a wrong name is refused
# with this list in a fixed order (Lightning's own message lists a set, in an order that changes per process).
ACCELERATORS = ("auto", "cpu", "cuda", "gpu", "mps", "tpu")


def cpu_flags() -> set[str]:
    """The flags of the first CPU in /proc/cpuinfo (Linux); empty where there is no such file."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    flags = (line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags"))
    return set(next(flags, []))


def uses_gpu(accelerator: str | None) -> bool:
    """Whether a Trainer with `accelerator` trains on a CUDA GPU."""
    return accelerator in ("gpu", "cuda") or accelerator in (None, "auto") and torch.cuda.is_available()


def automatic_precision(accelerator: str | None) -> tuple[str, str]:
    """The precision `trainer.precision=auto` chooses for `accelerator`, and why."""
    if uses_gpu(accelerator):
        if not torch.cuda.is_available():
            return "32-true", "no CUDA GPU here (Lightning refuses the accelerator)"
        if torch.cuda.is_bf16_supported(including_emulation=False):
            return "bf16-mixed", "this GPU multiplies bfloat16 in hardware"
        return "32-true", "this GPU does not multiply bfloat16 in hardware"
    found = sorted(cpu_flags() & set(BF16_FLAGS))
    if found:
        return "bf16-mixed", f"this CPU multiplies bfloat16 in hardware ({', '.join(found)})"
    return "32-true", f"this CPU has no bfloat16 matrix instructions ({' or '.join(BF16_FLAGS)})"


def resolved_precision(precision: object, accelerator: str | None) -> object:
    """`precision` as Lightning takes it: `auto` replaced by the automatic choice."""
    return automatic_precision(accelerator)[0] if precision == AUTO else precision
