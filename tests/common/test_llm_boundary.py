"""The LLM layer's boundary: only pacer_common.llm.providers touches an SDK."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SDKS = {"anthropic", "openai"}
PROVIDERS_DIR = REPO_ROOT / "libs/common/src/pacer_common/llm/providers"


def sdk_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.update(name.split(".")[0] for name in names if name.split(".")[0] in SDKS)
    return found


def test_no_code_outside_the_providers_imports_an_sdk() -> None:
    sources = [
        path
        for root in ("libs", "services")
        for path in (REPO_ROOT / root).glob("*/src/**/*.py")
        if PROVIDERS_DIR not in path.parents
    ]
    offenders = {
        str(path.relative_to(REPO_ROOT)): found for path in sources if (found := sdk_imports(path))
    }

    assert sources
    assert offenders == {}
    assert sdk_imports(PROVIDERS_DIR / "anthropic.py") == {
        "anthropic"
    }  # the check does see imports


def test_importing_the_layer_does_not_load_the_sdks() -> None:
    # Settings-only users (start-up validation, the worker's config) skip the SDKs' import time.
    probe = (
        "import sys, pacer_common.llm\n"
        "loaded = sorted(m for m in ('anthropic', 'openai') if m in sys.modules)\n"
        "sys.exit(f'loaded: {loaded}' if loaded else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
