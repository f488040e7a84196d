"""Tables for the Snakemake HTML report: where each dataset came from."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from simex.base.artifacts import read_json
from simex.base.datasets import display_label

PROVENANCE_COLUMNS = ["dataset", "name", "provenance", "source", "verified", "attempts", "raw samples",
                      "train", "test", "split seed"]


def _attempts(record: Mapping[str, Any]) -> str:
    parts = []
    for attempt in record.get("attempts", []):
        outcome = attempt.get("outcome", "?")
        reason = attempt.get("error", "").splitlines()[0] if outcome == "failed" and attempt.get("error") else ""
        parts.append(f"{attempt.get('source', '?')}: {outcome}" + (f" ({reason})" if reason else ""))
    return "; ".join(parts)


def _verified(record: Mapping[str, Any]) -> str:
    details = record.get("details", {})
    if details.get("md5_verified"):
        return "MD5s match the published files"
    if record["provenance"] == "stand-in":
        return "no (synthetic stand-in)"
    if record["provenance"] == "regenerated":
        return "regenerated from the verified MNIST"
    if record["provenance"] == "user":
        return f"your dataset; contents SHA-256 {details.get('sha256', '?')}; conversion: {details.get('conversion', '?')}"
    return "-"


def provenance_row(record: Mapping[str, Any]) -> dict[str, Any]:
    for key in ("dataset", "name", "provenance", "source"):
        if key not in record:
            raise ValueError(f"provenance record of {record.get('dataset', '?')} lacks {key!r}")
    splits = record.get("splits", {})
    return {
        "dataset": display_label(record["dataset"], record["provenance"]),
        "name": record["name"],
        "provenance": record["provenance"],
        "source": record["source"],
        "verified": _verified(record),
        "attempts": _attempts(record),
        "raw samples": record.get("raw_samples"),
        "train": splits.get("train"),
        "test": splits.get("test"),
        "split seed": record.get("split_seed"),
    }


def provenance_table(files: Mapping[str, Path | str]) -> pd.DataFrame:
    """One row per dataset (the dataset sheet's order) from results/data/{d}/provenance.json."""
    rows = []
    for code in files:
        record = read_json(files[code])
        if record.get("dataset") != code:
            raise ValueError(f"{files[code]} describes dataset {record.get('dataset')!r}, expected {code!r}")
        rows.append(provenance_row(record))
    return pd.DataFrame(rows, columns=PROVENANCE_COLUMNS)
