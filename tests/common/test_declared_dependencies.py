"""Each workspace member declares, in its own pyproject.toml, every distribution
it imports directly: one that comes only through another member today can
vanish when that member drops it, and the service then fails at import.

Read from the source (every ``import``, ``from ... import`` anywhere in a file)
and matched to distributions with the installed packages' own metadata.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
MEMBERS = [
    "libs/common",
    "services/core-api",
    "services/coach",
    "services/llm-sim",
    "services/briefing-worker",
    "tools/devstack",
]


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(member: Path) -> set[str]:
    """Distribution names in ``dependencies`` and every optional group (the shared
    library's ``llm`` and ``jobs`` extras hold what only those packages import)."""
    project = tomllib.loads((member / "pyproject.toml").read_text())["project"]
    requirements = list(project.get("dependencies", []))
    for group in project.get("optional-dependencies", {}).values():
        requirements += group
    return {
        _normalise(re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0])
        for requirement in requirements
    }


def _imported_modules(member: Path) -> set[str]:
    modules: set[str] = set()
    for path in (member / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return modules - set(sys.stdlib_module_names) - {"__future__"}


def _project_name(member: Path) -> str:
    return _normalise(tomllib.loads((member / "pyproject.toml").read_text())["project"]["name"])


def _distributions() -> dict[str, set[str]]:
    """Top-level module -> the distributions that provide it. The workspace members
    are installed editable (a path, not a file list), so they are added by hand."""
    found = {
        module: {_normalise(name) for name in names}
        for module, names in packages_distributions().items()
    }
    for member in MEMBERS:
        for package in (REPO_ROOT / member / "src").iterdir():
            if (package / "__init__.py").exists():
                found[package.name] = {_project_name(REPO_ROOT / member)}
    return found


@pytest.mark.parametrize("member", MEMBERS)
def test_every_distribution_imported_is_declared(member: str) -> None:
    folder = REPO_ROOT / member
    declared = _declared(folder)
    own = _project_name(folder)
    distributions = _distributions()
    undeclared: dict[str, list[str]] = {}
    for module in sorted(_imported_modules(folder)):
        names = distributions.get(module, set())
        assert names, f"{member} imports {module!r}, which no installed distribution provides"
        if own in names:
            continue
        if not names & declared:
            undeclared[module] = sorted(names)
    assert not undeclared, f"{member}/pyproject.toml does not declare: {undeclared}"
