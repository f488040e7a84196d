"""Tables for people: the one Markdown table writer, and `simex rank`'s outputs.

CSV files are pandas' ``to_csv`` through :func:`simex.base.artifacts.write_csv`; everything
that renders a table as Markdown goes through :func:`markdown_table`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

import pandas as pd

from simex.base.datasets import legend_lines

if TYPE_CHECKING:
    from simex.fleets.rank import Ranking


def markdown_table(header: Sequence[object], rows: Iterable[Sequence[object]], align: str | None = None) -> str:
    """A GitHub-flavoured Markdown table; a ``|`` inside a cell is escaped. ``align``: one
    letter per column, ``l`` (default) or ``r`` (right-aligned, for numbers)."""
    align = align or "l" * len(header)
    if len(align) != len(header) or set(align) - {"l", "r"}:
        raise ValueError(f"align {align!r}: one of l or r per column ({len(header)})")

    def line(cells: Sequence[object]) -> str:
        cells = list(cells)
        if len(cells) != len(header):
            raise ValueError(f"a row of {len(cells)} cells in a table of {len(header)} columns: {cells}")
        return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"

    rule = "|" + "".join("---:|" if a == "r" else "---|" for a in align)
    return "\n".join([line(header), rule, *map(line, rows)]) + "\n"


def markdown_document(title: str, table: str, notes: Sequence[str] = ()) -> str:
    """A title line, a blank line, a table (:func:`markdown_table`) and, after a blank line, notes."""
    return "\n".join([title, "", table.rstrip("\n"), *([""] + list(notes) if notes else [])]) + "\n"


def frame_markdown(frame: pd.DataFrame, cell: Callable[[object], str] = str, corner: str | None = None) -> str:
    """``frame`` as a Markdown table, its index as the first column (headed ``corner``)."""
    header = [(frame.index.name or "") if corner is None else corner, *map(str, frame.columns)]
    return markdown_table(header, ([str(label), *map(cell, row)] for label, row in frame.iterrows()))


# --- `simex rank` ----------------------------------------------------------------------

RANKING_FORMATS = ("table", "json", "csv")


def ranking_text(ranking: Ranking) -> str:
    """The ranking as a terminal table, with the members' spread and the markers' legend."""
    pct = f"{ranking.confidence:.0%}"
    width = max(10, *map(len, ranking.table["label"]))  # a user's dataset and class names can be long
    how = {"all samples": "all samples", "settled": "express: stopped early, the top of the ranking is settled",
           "budget": "express: stopped at the sample budget, the top may not be settled"}[ranking.stop_reason]
    lines = [f"SimEx ranking against fleet {ranking.fleet} ({ranking.fleet_path}), δ = {ranking.loss}",
             f"samples used: {ranking.n_used} of {ranking.n_total} ({how}); time {ranking.seconds:.2f} s",
             f"input conversion: {ranking.conversion}",
             "", f"{'rank':>4}  {'known':<{width}} {'Δ':>10}  {'members: min–max':<25} {pct + ' CI':<23} "
                 f"{'P(first)':>8}"]
    for row in ranking.table.itertuples(index=False):
        ci = f"[{row.ci_low:#.5g}, {row.ci_high:#.5g}]"  # "#": trailing zeros kept, columns align
        spread = f"{row.members}: {row.delta_min:#.5g}–{row.delta_max:#.5g}" if row.members > 1 else "1: —"
        lines.append(f"{row.rank:>4}  {row.label:<{width}} {row.delta:>#10.5g}  {spread:<25} {ci:<23} "
                     f"{row.p_top:>8.3f}")
    if ranking.members > 1:
        noise = (f"CI: percentile bootstrap, {ranking.bootstrap} resamples of the samples and of each known "
                 f"dataset's autoencoders (two-level)")
    else:
        noise = (f"CI: percentile bootstrap, {ranking.bootstrap} resamples of the samples only: one autoencoder "
                 f"per known dataset, so the autoencoders' own spread (their seeds) is not in it; a fleet built "
                 f"with --members 3 or more states it")
    lines += ["", "Δ: the members' mean of mean δ over the samples, smaller = more similar; members: how many "
                  "autoencoders (replicas, own seeds) the known dataset has, and their Δ's range",
              f"{noise}; P(first): share of resamples ranking it first",
              *legend_lines(ranking.table["label"])]
    return "\n".join(lines) + "\n"


def ranking_json(ranking: Ranking) -> str:
    rows = json.loads(ranking.table.to_json(orient="records"))
    return json.dumps({**ranking.summary(), "ranking": rows}, indent=2, ensure_ascii=False) + "\n"


def ranking_csv(ranking: Ranking) -> str:
    """One row per member, the run's summary repeated in every row (without the fleet's path)."""
    frame = ranking.table.copy()
    for key, value in ranking.summary().items():
        if key != "fleet_path":
            frame[key] = value
    return frame.to_csv(index=False, float_format="%.6g")


def render_ranking(ranking: Ranking, fmt: str) -> str:
    """The ranking in one of :data:`RANKING_FORMATS`."""
    renderers = {"table": ranking_text, "json": ranking_json, "csv": ranking_csv}
    if fmt not in renderers:
        raise ValueError(f"unknown format {fmt!r}; expected {', '.join(RANKING_FORMATS)}")
    return renderers[fmt](ranking)


# --- timed rows (Fig. 5, Fig. 6, the benchmark) -------------------------------------------


def device_note(table: pd.DataFrame) -> str:
    """One line for a figure: where its times were measured, alone or not, and the waits for the device."""
    parts = []
    for (device, use, gpu), rows in table.groupby(["device", "device_use", "gpu"], sort=False, dropna=False):
        where = f"{device} (physical GPU {gpu})" if pd.notna(gpu) and str(gpu) else str(device)
        held = ("alone: no other job on the GPU" if use == "alone"
                else "CPU cores shared with whatever else ran on the machine")
        waits = rows["device_wait_s"].astype(float)
        wait = f"{waits.max():.0f} s" if waits.min() == waits.max() else f"{waits.min():.0f}-{waits.max():.0f} s"
        parts.append(f"{where}, {held}" + (f"; waited {wait} for it" if use == "alone" else ""))
    return "timed on " + "; ".join(parts)
