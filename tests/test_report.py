"""`snakemake --report` on the tiny run: every figure and table, grouped by paper section,
the provenance of every dataset (stand-ins marked) as its own item, a short description."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import pytest

from simex.base.artifacts import write_json
from simex.analysis.report import provenance_table
from tests.conftest import snakemake

REQUIRED_TABLES = ["provenance.csv", "delta_dataset_mse.csv", "delta_dataset_issim.csv"]


def build_report(workdir: Path, name: str) -> Path:
    result = snakemake(workdir, "--report", f"results/{name}")
    assert result.returncode == 0, f"snakemake --report failed:\n{result.stderr[-6000:]}"
    return workdir / "results" / name


@pytest.fixture(scope="module")
def report_zip(tiny_run: Path) -> zipfile.ZipFile:
    with zipfile.ZipFile(build_report(tiny_run, "report.zip")) as archive:
        yield archive


@pytest.fixture(scope="module")
def report_html(tiny_run: Path) -> str:
    return build_report(tiny_run, "report.html").read_text()


def figures(workdir: Path) -> list[str]:
    """Every figure `rule all` (the TARGETS registry) built in the tiny run."""
    found = sorted(path.name for path in (workdir / "results" / "figures").rglob("*.png"))
    assert found, "the tiny run built no figure"
    return found


@pytest.mark.e2e
def test_zip_report_holds_every_figure_and_the_tables(tiny_run: Path, report_zip: zipfile.ZipFile) -> None:
    names = {Path(name).name for name in report_zip.namelist()}
    missing = [name for name in figures(tiny_run) + REQUIRED_TABLES if name not in names]
    assert not missing, f"not in the report: {missing}"
    # every top-level result table is in the report, except markdown renderings of them
    tables = sorted(path.name for path in (tiny_run / "results" / "tables").glob("*.csv"))
    unreported = [name for name in tables if name not in names]
    assert not unreported, f"tables missing from the report: {unreported}"


@pytest.mark.e2e
def test_html_report_has_every_figure_grouped_by_paper_section(tiny_run: Path, report_html: str) -> None:
    for name in figures(tiny_run) + REQUIRED_TABLES:
        assert name in report_html, f"{name} not in report.html"
    assert "Inter-dataset similarity" in report_html  # the category of §5.1 (§ is JSON-escaped)
    assert "Datasets" in report_html


@pytest.mark.e2e
def test_html_report_names_stand_ins_and_the_provenance_of_every_dataset(tiny_run: Path, report_html: str) -> None:
    with open(tiny_run / "results" / "tables" / "provenance.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["dataset"].rstrip("*†") for row in rows] == ["M", "E", "R", "B", "F"]
    kinds = {row["dataset"]: row["provenance"] for row in rows}
    assert kinds["E*"] == "stand-in" and kinds["R†"] == "regenerated" and kinds["B†"] == "regenerated"
    assert "synthetic stand-in" in report_html
    # the provenance table is its own item (a wide table in the description ran under the rule graph)
    assert "provenance of each dataset" in report_html and ".. csv-table::" not in report_html


def record(code: str, provenance: str, **extra) -> dict:
    return {"dataset": code, "name": code + "-name", "provenance": provenance, "source": f"source of {code}",
            "splits": {"train": 10, "test": 2}, "raw_samples": 12, **extra}


def test_provenance_table_is_in_sheet_order_with_markers_and_failed_attempts(tmp_path: Path) -> None:
    files = {}
    for code, kind in {"M": "original", "E": "stand-in", "F": "original"}.items():
        files[code] = tmp_path / f"{code}.json"
        attempts = [{"source": "canonical", "outcome": "failed", "error": "no network\ntraceback"},
                    {"source": "fallback", "outcome": "used"}]
        write_json(files[code], record(code, kind, attempts=attempts,
                                       details={"md5_verified": kind == "original"}))
    table = provenance_table(files)
    assert list(table["dataset"]) == ["M", "E*", "F"]
    assert list(table["verified"]) == ["MD5s match the published files", "no (synthetic stand-in)",
                                       "MD5s match the published files"]
    assert table.loc[1, "attempts"] == "canonical: failed (no network); fallback: used"
    assert table.loc[0, "train"] == 10 and table.loc[0, "test"] == 2


def test_provenance_table_names_a_mismatched_or_incomplete_record(tmp_path: Path) -> None:
    path = tmp_path / "M.json"
    write_json(path, record("F", "original"))
    with pytest.raises(ValueError, match="describes dataset 'F', expected 'M'"):
        provenance_table({"M": path})
    incomplete = record("M", "original")
    del incomplete["source"]
    write_json(path, incomplete)
    with pytest.raises(ValueError, match="lacks 'source'"):
        provenance_table({"M": path})


def test_provenance_of_a_user_dataset_names_its_path_hash_and_conversion(tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    details = {"path": "/data/mine", "sha256": "ab" * 32, "conversion": "32×32 RGB → 1×28×28: ...", "kind": "npz"}
    write_json(path, record("mine", "user", details=details, class_names=["all"]))
    row = provenance_table({"mine": path}).iloc[0]
    assert row["dataset"] == "mine" and row["provenance"] == "user"
    assert "ab" * 32 in row["verified"] and "32×32 RGB" in row["verified"]
