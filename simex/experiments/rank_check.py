"""§3.1's check of the exported fleets: does each held-out test split rank its own
autoencoder (dataset or class) first, with a full pass and in express mode?"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np

from simex.fleets.rank import Fleet, RankSettings


def check_rows(fleet: Fleet, inputs: dict[str, tuple[str, np.ndarray]], settings: RankSettings,
               batch_size: int) -> list[dict[str, Any]]:
    """One row per input: ``inputs`` maps a data label to (the member label expected first, images).

    The full ranking and an express ranking are both recorded, so the table shows whether
    express mode agrees with the full pass on the top.
    """
    rows = []
    for data_label, (expected, images) in inputs.items():
        full = fleet.rank(images, batch_size, settings)
        express = fleet.rank(images, batch_size, RankSettings(**{**asdict(settings), "express": True}))
        order = full.order
        rows.append({
            "fleet": fleet.name, "loss": fleet.loss, "data": data_label, "expected_first": expected,
            "ranked_first": full.top, "own_rank": order.index(expected) + 1 if expected in order else None,
            "own_first": full.top == expected, "ranking": " < ".join(order),
            "delta_own": float(full.table.set_index("label")["delta"].get(expected, float("nan"))),
            "delta_first": float(full.table["delta"].iloc[0]), "p_first": float(full.table["p_top"].iloc[0]),
            "n_samples": full.n_total, "seconds": round(full.seconds, 4),
            "express_first": express.top, "express_agrees": express.top == full.top,
            "express_n_used": express.n_used, "express_stop": express.stop_reason,
            "express_seconds": round(express.seconds, 4),
        })
    return rows

