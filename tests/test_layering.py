"""The layering contract of ARCHITECTURE.md: leaves import nothing above them.

Source of truth: ../shared/ARCHITECTURE.md, "Dependency direction".
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "raftsql"

# package -> raftsql packages it may import
ALLOWED: dict[str, set[str]] = {
    "raft": {"raft"},
    "pgwire": {"pgwire"},
    "codec": {"codec", "raft"},
    "sql": {"sql"},
    "storage": {"storage", "raft", "codec"},
    "node": {"node", "raft", "codec", "storage", "sql"},
}
STDLIB_ONLY = {"raft", "pgwire"}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            names.append("raftsql." + path.parent.name)  # relative import stays in the package
    return names


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_it_may(package: str) -> None:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in _imports(path):
            top = name.split(".")[0]
            if top == "raftsql":
                sub = name.split(".")[1] if "." in name else ""
                if sub not in ALLOWED[package]:
                    bad.append(f"{path.relative_to(ROOT)}: {name}")
            elif package in STDLIB_ONLY and top not in sys.stdlib_module_names:
                bad.append(f"{path.relative_to(ROOT)}: {name} (not stdlib)")
    assert not bad, "layering violations:\n" + "\n".join(bad)


def test_raft_core_reads_no_clock_and_no_global_random() -> None:
    """STYLE.md rule 2: time and chance enter the core only through Config."""
    bad = []
    for path in sorted((ROOT / "raft").rglob("*.py")):
        for name in _imports(path):
            if name.split(".")[0] in {"time", "asyncio", "socket", "threading", "os", "datetime"}:
                bad.append(f"{path.name}: imports {name}")
        text = path.read_text()
        for call in ("random.random(", "random.randint(", "random.uniform(", "random.choice("):
            if call in text:
                bad.append(f"{path.name}: calls the global {call}")
    assert not bad, "\n".join(bad)
