"""backend/ uses only the public APIs of FastAPI, Starlette, SQLAlchemy and pydantic: no
`_`-prefixed module or name imported from them, no private attribute reached into (a
release inside the declared range may change any of those)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

BACKEND = Path(__file__).resolve().parents[2] / "backend"
FRAMEWORKS = ("fastapi", "starlette", "sqlalchemy", "pydantic", "pydantic_settings")
# Attributes of framework objects this codebase must never touch (found by name: they are
# unlikely to be ours).
PRIVATE_ATTRIBUTES = re.compile(
    r"\._(json|max_overflow|recycle|native_telemetry|embed_body_fields|compat|utils)\b"
    r"|\bmax_body_size\b"
)


def _sources() -> list[Path]:
    return sorted(BACKEND.rglob("*.py"))


def test_no_private_framework_module_or_name_is_imported() -> None:
    found = []
    for path in _sources():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            modules: list[tuple[str, list[str]]] = []
            if isinstance(node, ast.Import):
                modules = [(alias.name, []) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules = [(node.module, [alias.name for alias in node.names])]
            for module, names in modules:
                if module.split(".")[0] not in FRAMEWORKS:
                    continue
                parts = module.split(".")[1:] + names
                if any(p.startswith("_") for p in parts):
                    found.append(f"{path.relative_to(BACKEND)}:{node.lineno}: {module} {names}")
    assert found == []


def test_no_private_framework_attribute_is_used() -> None:
    found = [
        f"{path.relative_to(BACKEND)}:{n}: {line.strip()}"
        for path in _sources()
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if PRIVATE_ATTRIBUTES.search(line) and not line.lstrip().startswith("#")
    ]
    assert found == []


def test_the_hooks_grep_finds_nothing_either() -> None:
    pattern = re.compile(
        r"fastapi\._|starlette\._|sqlalchemy(\.[a-z_]+)*\._[a-z]|pydantic\._|\._json\b"
    )
    hits = [
        f"{path.relative_to(BACKEND)}: {line.strip()}"
        for path in _sources()
        for line in path.read_text().splitlines()
        if pattern.search(line)
    ]
    assert hits == []
