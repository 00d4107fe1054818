"""The project modules that a script imports, directly or through other modules (read with ast, never run)."""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"


def module_file(name: str) -> Path | None:
    """The file of module `name` under src/ (a package's __init__.py), or None if it is not a project module."""
    base = SRC.joinpath(*name.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _imported_names(path: Path) -> set[str]:
    """Dotted module names that `path` imports, wherever the import statement is (lazy imports included)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    pkg = path.relative_to(SRC).with_suffix("").parts[:-1] if path.is_relative_to(SRC) else ()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(pkg[: len(pkg) - node.level + 1] + ((node.module,) if node.module else ()))
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)  # `from pkg import module`
    return {n for n in names if n == "vitviz" or n.startswith("vitviz.")}


def _with_parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def transitive_modules(script: Path) -> set[Path]:
    """Every project file executed when `script` imports what it imports (package __init__ files included)."""
    seen: set[Path] = set()
    todo = [script]
    while todo:
        path = todo.pop()
        for name in _imported_names(path):
            for part in _with_parents(name):
                f = module_file(part)
                if f is not None and f not in seen:
                    seen.add(f)
                    todo.append(f)
    return seen
