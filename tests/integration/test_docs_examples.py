"""The examples in docs/*.md, run against a live `raftsql dev` cluster, and the docs' index.

Source of truth: the documents themselves (docs/operations.md, docs/consistency.md, ...): every
block marked ``<!-- example -->`` must run as written, in document order, with the documented
ports shifted (the same runner as test_readme.py; README.md and docs/clients.md are run there).
The index docs/README.md must list every page, and every ``docs/<name>.md`` a page mentions must
exist, so a renamed page cannot leave dangling references.
"""

from __future__ import annotations

import re
import shutil

import pytest
from test_readme import EXAMPLE, ROOT, Block, Dev, _psql, dev, run_block  # noqa: F401 (fixture)

COVERED_ELSEWHERE = {"clients.md"}  # test_readme.py runs its blocks

pytestmark = [
    pytest.mark.skipif(shutil.which("psql") is None, reason="psql is not installed"),
    pytest.mark.xdist_group("docs-examples"),
]


def doc_blocks() -> list[Block]:
    out = []
    for path in sorted((ROOT / "docs").glob("*.md")):
        if path.name in COVERED_ELSEWHERE:
            continue
        text = path.read_text()
        for m in EXAMPLE.finditer(text):
            out.append(Block(f"docs/{path.name}", text.count("\n", 0, m.start()) + 2,
                             m.group(1), m.group(2)))
    return out


@pytest.mark.parametrize("block", doc_blocks(), ids=str)
def test_doc_example(dev: Dev, block: Block) -> None:  # noqa: F811
    res = run_block(dev, block)
    assert res.returncode == 0, f"{block} failed:\n{res.stdout}\n{res.stderr}"


def test_operations_and_consistency_have_examples() -> None:
    sources = {b.source for b in doc_blocks()}
    assert {"docs/operations.md", "docs/consistency.md"} <= sources


def test_index_lists_every_page_and_references_resolve() -> None:
    pages = {p.name for p in (ROOT / "docs").glob("*.md")} - {"README.md"}
    index = (ROOT / "docs" / "README.md").read_text()
    linked = set(re.findall(r"\]\(([\w-]+\.md)\)", index))
    assert pages <= linked, f"not in docs/README.md: {sorted(pages - linked)}"
    missing = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for ref in re.findall(r"\bdocs/([\w-]+\.md)\b", path.read_text()):
            if not (ROOT / "docs" / ref).exists():
                missing.append(f"{path.name} -> docs/{ref}")
        for ref in re.findall(r"\]\(([\w-]+\.md)\)", path.read_text()):
            base = ROOT / "docs" if path.parent.name == "docs" else ROOT
            if not (base / ref).exists():
                missing.append(f"{path.name} -> {ref}")
    assert not missing, missing
