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


def _run_nodes(tree: ast.AST):
    """Every node of `tree` except those under `if TYPE_CHECKING:` (imports for type hints never run)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and isinstance(child.test, ast.Name) and child.test.id == "TYPE_CHECKING":
                todo.extend(child.orelse)
                continue
            todo.append(child)


def _imported_names(path: Path) -> set[str]:
    """Dotted module names that `path` imports when it runs, wherever the import statement is (lazy imports
    included; imports for type checking only are not)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    pkg = path.relative_to(SRC).with_suffix("").parts[:-1] if path.is_relative_to(SRC) else ()
    for node in _run_nodes(tree):
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


def suggested_deps(script: Path, data_of: dict[str, str]) -> list[str]:
    """The shortest dep list that covers exactly what `script` runs: a folder where every module in it is used."""
    used = {p.relative_to(REPO).as_posix() for p in transitive_modules(script)}
    out: list[str] = [script.relative_to(REPO).as_posix()]
    for folder in sorted({p.rsplit("/", 1)[0] for p in used}):
        inside = {p.relative_to(REPO).as_posix() for p in (REPO / folder).glob("*.py")}
        subdirs = [d for d in (REPO / folder).iterdir() if d.is_dir() and any(d.rglob("*.py"))]
        if inside <= used and not subdirs:
            out.append(folder)
        else:
            out += sorted(p for p in used if p.rsplit("/", 1)[0] == folder)
    out += sorted(d for d, module in data_of.items() if module in used)
    return out


if __name__ == "__main__":  # print the code deps of each stage script, for dvc.yaml
    import sys
    sys.path.insert(0, str(REPO / "tests"))
    from test_dvc_graph import DATA_OF
    for s in sorted((REPO / "stages").glob("*.py")):
        print(f"# {s.stem}")
        print("\n".join(f"        - {d}" for d in suggested_deps(s, DATA_OF)))
