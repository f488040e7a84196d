"""Every relative link and image in README.md, docs/ and runs/README.md reaches a file (and heading).

Offline and fast: http(s) and mailto links are skipped; links inside code are not links.
"""
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
IMG_TAG = re.compile(r"<img\s[^>]*src=\"([^\"]+)\"")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def documents(repo: Path = REPO) -> list[Path]:
    """The Markdown files the link check covers."""
    return [repo / "README.md", *sorted((repo / "docs").rglob("*.md")), repo / "runs" / "README.md"]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading: its text
    text = text.replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading's anchor in a Markdown file, repeated headings numbered as GitHub does."""
    seen: dict[str, int] = {}
    out = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text(encoding="utf-8"))):
        base = slug(heading)
        count = seen.get(base, 0)
        out.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return out


def broken_links(path: Path) -> list[str]:
    """The relative links of one Markdown file that reach no file, or no heading of it."""
    text = CODE_SPAN.sub("", FENCE.sub("", path.read_text(encoding="utf-8")))
    problems = []
    for target in LINK.findall(text) + IMG_TAG.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists():
            problems.append(f"{path.name}: {target} (no such file)")
            continue
        if anchor and resolved.is_file() and resolved.suffix == ".md" and anchor not in anchors(resolved):
            problems.append(f"{path.name}: {target} (no heading #{anchor})")
    return problems


def test_the_documents_exist():
    assert all(path.is_file() for path in documents()), [str(p) for p in documents() if not p.is_file()]
    assert (REPO / "docs" / "index.md") in documents()


@pytest.mark.parametrize("path", documents(), ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(path: Path):
    assert broken_links(path) == []


def test_the_checker_finds_broken_links(tmp_path: Path):
    (tmp_path / "other.md").write_text("# Other page\n\n## A section, with `code`\n")
    (tmp_path / "figure.png").write_bytes(b"\x89PNG")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n"
        "[good](other.md) [good anchor](other.md#a-section-with-code) ![good image](figure.png)\n"
        "[self](#page) [web](https://example.org/missing) `[in code](missing.md)`\n"
        "```\n[in a fence](missing-too.md)\n```\n"
        "[broken](missing.md) ![broken image](figures/none.png) [bad anchor](other.md#no-such-heading)\n"
        "[bad self anchor](#nowhere) <img src=\"gone.png\" width=\"50%\">\n"
    )
    found = broken_links(page)
    assert len(found) == 5, found
    for target in ("missing.md", "figures/none.png", "other.md#no-such-heading", "#nowhere", "gone.png"):
        assert any(f" {target} " in problem for problem in found), (target, found)


def test_no_config_writes_into_docs():
    """Pipeline outputs go to results/; publishing into docs/ or runs/ is a target of its own."""
    for name in ("benchmark.yaml", "benchmark-v2.yaml", "protocol_sweep.yaml", "schema.yaml"):
        text = (REPO / "config" / name).read_text()
        assert not re.search(r"^\s*output:\s*\{?[^#\n]*\bdocs/", text, re.MULTILINE), name
    rules = {path.name: path.read_text() for path in (REPO / "rules").glob("*.smk")}
    for name, text in rules.items():
        for block in re.split(r"\n(?=\s*rule )", text):
            if re.search(r"^\s*rule publish_", block, re.MULTILINE):
                continue
            output = re.search(r"^\s*output:\n((?:\s{8,}.*\n)+)", block, re.MULTILINE)
            assert not (output and "docs/" in output.group(1)), (name, block[:200])
