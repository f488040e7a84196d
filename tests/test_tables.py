"""The one Markdown table writer."""

from __future__ import annotations

import pandas as pd

from simex.analysis.tables import frame_markdown, markdown_table


def test_markdown_table_known_answer_escapes_pipes():
    assert markdown_table(["a", "b|c"], [[1, "x|y"], [2.5, ""]]) == (
        "| a | b\\|c |\n|---|---|\n| 1 | x\\|y |\n| 2.5 |  |\n")


def test_frame_markdown_puts_the_index_first_under_its_name_or_the_corner():
    frame = pd.DataFrame({"M": [0.1234, 0.5]}, index=pd.Index(["E*", "F"], name="Y"))
    assert frame_markdown(frame, "{:.2f}".format).splitlines() == ["| Y | M |", "|---|---|", "| E* | 0.12 |", "| F | 0.50 |"]
    assert frame_markdown(frame, corner="method").splitlines()[0] == "| method | M |"
