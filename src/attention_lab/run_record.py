"""What a run is, named once: its axes (the settings its report compares runs by) and the files it leaves.

`RunAxes` is the one record of a run's axes. Its fields say where each axis comes from in the run's
settings (`key`) and how it is shown; from it come the run's name (`python train.py` logs under it), its row
in TensorBoard's HParams tab, the title of its heatmaps, and, read back, the report's cells (runs that
differ only by seed), their order and the report's columns. A new axis is one field here.

A run's files: logs/<experiment>/<run name>/version_<n>/ holds the TensorBoard events (EVENTS_GLOB), the
resolved settings (CONFIG_FILE) and checkpoints/ (`checkpoint_path`). Two words for folders, each used for
one thing throughout: a `log_dir` is any folder under which runs lie (`paths.log_dir`, the report's and
generate's `log_dir`); a `version_dir` is one run's own version_<n> folder (what Lightning's
`logger.log_dir` returns).
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The mask's two states, in run names, titles, tables and figures alike.
MASK = {True: "causal", False: "non-causal"}

EVENTS_GLOB = "events.out.tfevents.*"
CONFIG_FILE = "config.yaml"  # the run's settings, resolved, beside its events
# A run's name around its seed part (RunAxes.seed's "s{}"; a sweep may append more, as `-lr<rate>`): what
# the runs of one cell share. TensorBoard colours runs by what it captures (tensorboard.COLOUR_BY_CELL).
AROUND_THE_SEED = r"^(.*)-s\d+([^/]*)"


def cell_name(run_name: str) -> str:
    """The name of a run without its seed: mha-causal-p0.1-s3 → mha-causal-p0.1."""
    found = re.match(AROUND_THE_SEED, run_name)
    return "".join(found.groups()) if found else run_name
CHECKPOINT_DIR = "checkpoints"


def source_commit() -> str | None:
    """The commit of this checkout (with `+changes` where its files differ from it), for results files;
    None outside a git checkout."""
    where = {"cwd": Path(__file__).resolve().parent, "capture_output": True, "text": True}
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], check=True, **where).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], **where).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+changes" if changed.strip() else "")


def checkpoint_path(version_dir: str | Path, kind: str = "last") -> Path:
    """<version_dir>/checkpoints/<kind>.ckpt: `last` (what ckpt_path=last resumes) or `best` (weights)."""
    return Path(version_dir) / CHECKPOINT_DIR / f"{kind}.ckpt"


def axis(key: str, title: str, kind: type, default: Any = None, *, part: str = "{}", optional: bool = False,
         column: bool = True) -> Any:
    """A RunAxes field: `key` its dotted path in the run's settings, `title` its name in tables, `kind` its
    type, `default` what a run that recorded no value had; `part` its piece of the run name ('' = none),
    left out at the default where `optional`; `column`: whether the report may show it as a column."""
    shown = {"part": part, "optional": optional, "column": column}
    return field(default=default, metadata={"key": key, "title": title, "kind": kind, **shown})


@dataclass(frozen=True)
class RunAxes:
    """A run's axes, in the report's order: runs sort by these fields in turn (the default of each first).

    `seed` is the replicate axis: runs equal in every other field form one cell of the report. The three
    dropout rates show as one placement (`placement`): on the embeddings, the attention weights (the
    chapter's `attention.dropout`) and the shortcut path."""

    data: str = axis("data.name", "data", str, "verdict", optional=True)
    pairs: int | None = axis("data.num_pairs", "pairs", int, part="k{}", optional=True)  # data=recall
    model: str | None = axis("model.name", "model", str, part="")
    layers: int | None = axis("model.n_layers", "layers", int, part="")
    variant: str | None = axis("attention.name", "variant", str)
    pos_emb: str = axis("model.pos_emb", "positions", str, "learned", part="pos_{}", optional=True)
    causal: bool | None = axis("attention.causal", "mask", bool, True)
    dropout: float | None = axis("attention.dropout", "dropout", float, 0.0, part="p{}")
    # The other two rates join the run name where they differ from the attention dropout (the book's one
    # drop_rate follows it), and the dropout column as its placement.
    drop_rate_emb: float | None = axis("model.drop_rate_emb", "embedding dropout", float, 0.0,
                                       part="emb{}", column=False)  # fmt: skip
    drop_rate_shortcut: float | None = axis("model.drop_rate_shortcut", "shortcut dropout", float, 0.0,
                                            part="shortcut{}", column=False)  # fmt: skip
    lr: float | None = axis("optimizer.lr", "lr", float, part="")
    precision: str | None = axis("trainer.precision", "precision", str, part="")
    weight_decay: float | None = axis("optimizer.weight_decay", "weight decay", float, part="")
    seed: int | None = axis("seed", "seed", int, part="s{}")

    # --- built from settings, and read back -------------------------------------------------------------
    @classmethod
    def fields(cls) -> tuple[dataclasses.Field, ...]:
        return dataclasses.fields(cls)

    @classmethod
    def read(cls, settings: Any) -> RunAxes:
        """The axes of a run's settings: each field's `key` looked up by attribute or by item
        (`settings.model.pos_emb` or `settings["model"]["pos_emb"]`); a missing one takes its default."""
        return cls(**{f.name: value for f in cls.fields() if (value := lookup(settings, f.metadata["key"]))
                      is not None})  # fmt: skip

    @classmethod
    def from_hparams(cls, hparams: Mapping[str, Any]) -> dict[str, Any]:
        """The fields found in an HParams row (TensorBoard stores bools as "true"/"false"), typed."""
        kinds = {f.name: f.metadata["kind"] for f in cls.fields()}
        return {name: as_type(hparams[name], kinds[name]) for name in kinds if name in hparams}

    def hparams(self) -> dict[str, Any]:
        """The run's row in TensorBoard's HParams tab: every axis that has a value."""
        return {name: value for name, value in dataclasses.asdict(self).items() if value is not None}

    # --- shown ------------------------------------------------------------------------------------------
    def at_default(self) -> set[str]:
        """The optional axes (data set, positions) at their default: left out of names and titles."""
        optional = (f for f in self.fields() if f.metadata["optional"])
        return {f.name for f in optional if getattr(self, f.name) == f.default}

    @property
    def mask(self) -> str:
        """The mask's word ("—": unknown); a value that is no bool as is (the schema refuses it)."""
        if self.causal is None:
            return "—"
        return MASK[self.causal] if isinstance(self.causal, bool) else str(self.causal)

    @property
    def rates(self) -> tuple[float, float, float]:
        """Dropout on the embeddings, the attention weights and the shortcut path (unknown: 0)."""
        return self.drop_rate_emb or 0.0, self.dropout or 0.0, self.drop_rate_shortcut or 0.0

    @property
    def placement(self) -> str:
        return placement(self.rates)

    def shown(self, name: str) -> str:
        """One axis as tables and legends show it: the mask as its word, dropout as its placement."""
        if name == "causal":
            return self.mask
        if name == "dropout":
            return self.placement
        value = getattr(self, name)
        return "—" if value is None else f"{value:g}" if isinstance(value, float) else str(value)

    @property
    def run_name(self) -> str:
        """Short for chart legends: the data set and the position encoding where not the default, variant,
        mask, attention dropout (p), the other two rates where they differ from it, seed: mha-causal-p0.1-s1.
        """
        parts = []
        for f in self.fields():
            value, form = getattr(self, f.name), f.metadata["part"]
            if not form or value is None or f.name in self.at_default():
                continue
            if f.name.startswith("drop_rate_") and value == self.dropout:
                continue  # the book's single drop_rate, which follows the attention dropout
            parts.append(self.mask if f.name == "causal" else form.format(value))
        return "-".join(parts)

    def title(self, where: str = "") -> str:
        """The heatmaps' title: "mha · causal · dropout all 0.1" (the data set and positions where not the
        default), and `where` (layer, epoch) on a second line."""
        at_default = self.at_default()
        optional = [f.name for f in self.fields() if f.metadata["optional"] and f.name not in at_default]
        shown = [f"{self.title_of(name)} {self.shown(name)}" for name in optional]
        head = " · ".join([self.shown("variant"), *shown, self.mask, f"dropout {self.placement}"])
        return f"{head}\n{where}" if where else head

    # --- the report's cells -----------------------------------------------------------------------------
    @property
    def cell(self) -> RunAxes:
        """The axes without the seed: what the runs of one cell share."""
        return dataclasses.replace(self, seed=None)

    def sort_key(self, variant_order: Mapping[str, int]) -> tuple:
        """The report's order: field by field, the default first, then the others in order; the variants
        in `variant_order` (the registry's, the chapter's)."""
        key: list[Any] = []
        for f in self.fields():
            value = getattr(self, f.name)
            if f.name == "variant":
                key += [variant_order.get(value, len(variant_order)), value or ""]
            else:
                key += [value is None, value != f.default, "" if value is None else value]
        return tuple(key)

    def differing(self, cells: list[RunAxes]) -> Iterator[str]:
        """The report's columns for `cells`: the variant, mask and dropout always, every other axis (but
        the seed) where the cells differ by it."""
        for f in self.fields():
            always = f.name in ("variant", "causal", "dropout")
            differs = len({getattr(c, f.name) for c in cells}) > 1
            if f.metadata["column"] and f.name != "seed" and (always or differs):
                yield f.name

    @classmethod
    def title_of(cls, name: str) -> str:
        """The title of the axis `name` in tables, e.g. "positions" for pos_emb."""
        return {f.name: f.metadata["title"] for f in cls.fields()}[name]


def placement(rates: tuple[float, float, float]) -> str:
    """Where dropout acts, from its rates on the embeddings, the attention weights and the shortcut path:
    e.g. "none", "all 0.2" (the same rate at all three places), "embedding 0.2"."""
    names = ("embedding", "attention", "shortcut")
    places = [(name, p) for name, p in zip(names, rates, strict=True) if p]
    if not places:
        return "none"
    if len(places) == 3 and len(set(rates)) == 1:
        return f"all {rates[0]:g}"
    return ", ".join(f"{name} {p:g}" for name, p in places)


def lookup(settings: Any, key: str) -> Any:
    """`settings` at the dotted `key`, by attribute or by item; None where a step is missing."""
    value = settings
    for part in key.split("."):
        value = value.get(part) if isinstance(value, Mapping) else getattr(value, part, None)
        if value is None:
            return None
    return value


def as_type(value: Any, kind: type) -> Any:
    """An HParams value as `kind`: "true" → True, 1.0 → 1 for an int, 0.1 → 0.1."""
    caster: Callable[[Any], Any] = as_bool if kind is bool else kind
    return None if value is None else caster(value)


def as_bool(value: Any) -> bool:
    return value.lower() == "true" if isinstance(value, str) else bool(value)
