"""The source imports only what it uses: a module-level import no line of its module reads is a leftover that
misleads a reader about what the module depends on. Re-exports are marked `# noqa` (or listed in `__init__.py`)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIRS = ("common", "papers", "slurm", "tests")


def unused_imports(path: Path) -> list[str]:
    """'line: name' for each module-level import of `path` that no expression of the module reads and no string
    names (a name in `__all__` or a lazy lookup counts as read)."""
    src = path.read_text()
    tree = ast.parse(src)
    lines = src.splitlines()
    imported: dict[str, int] = {}
    for node in tree.body:
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if (isinstance(node, ast.ImportFrom) and node.module == "__future__") or "noqa" in lines[node.lineno - 1]:
            continue
        for alias in node.names:
            imported[(alias.asname or alias.name).split(".")[0]] = node.lineno
    read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    return [f"{line}: {name}" for name, line in imported.items()
            if name not in read and not re.search(rf"['\"]{re.escape(name)}['\"]", src)]


def test_the_rule_finds_an_unused_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import os\nimport sys\nfrom math import pi, tau\n\nprint(sys.argv, pi)\n")
    assert unused_imports(module) == ["1: os", "3: tau"]


def test_no_module_imports_what_it_does_not_use():
    found = {str(p.relative_to(ROOT)): unused for d in SOURCE_DIRS for p in sorted((ROOT / d).rglob("*.py"))
             if p.name != "__init__.py" and (unused := unused_imports(p))}
    assert not found, f"imports no line reads (remove them, or mark a re-export '# noqa'): {found}"
