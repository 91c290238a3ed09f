"""Dependencies flow one way: core <- extractors <- model <- pipeline <- cli (and the public face on top)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"core": 0, "extractors": 1, "model": 2, "pipeline": 3, "cli": 4, "__main__": 5, "__init__": 5}


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name (mtmm_es.<part>...), from the source tree."""
    found = {}
    for part in ("core", "extractors", "model", "pipeline"):
        for path in sorted((ROOT / part).rglob("*.py")):
            relative = path.relative_to(ROOT).with_suffix("")
            names = [n for n in relative.parts if n != "__init__"]
            found[".".join(["mtmm_es", *names])] = path
    for name in ("cli", "__main__", "__init__"):
        found["mtmm_es" if name == "__init__" else f"mtmm_es.{name}"] = ROOT / f"{name}.py"
    return found


def _imports(module: str, path: Path) -> set[str]:
    """Absolute names of the project modules that `module` imports, anywhere in the file."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names.add(target)
            names |= {f"{target}.{alias.name}" for alias in node.names}
    return {n for n in names if n == "mtmm_es" or n.startswith("mtmm_es.")}


def _layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS["__init__"] if len(parts) == 1 else LAYERS[parts[1]]


def test_no_part_imports_a_part_above_it() -> None:
    modules = _modules()
    upward = []
    for module, path in modules.items():
        for target in _imports(module, path):
            if target in modules and _layer(target) > _layer(module):
                upward.append(f"{module} -> {target}")
    assert not upward, "upward imports:\n" + "\n".join(sorted(upward))


def test_no_import_cycles_between_modules() -> None:
    modules = _modules()
    graph = {m: {t for t in _imports(m, p) if t in modules and t != m} for m, p in modules.items()}
    # a package's __init__ re-exporting its own modules is not a cycle through them
    for module in graph:
        graph[module] = {t for t in graph[module] if not module.startswith(t + ".")}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append(" -> ".join([*stack[stack.index(target) :], target]))
            elif target not in state:
                visit(target, [*stack, target])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_only_mtmm_es_installs_as_an_import_name(tmp_path: Path) -> None:
    """Outside the repository the generic folder names are not importable; mtmm_es is."""
    probe = (
        "import importlib.util, mtmm_es\n"
        "print(mtmm_es.__version__)\n"
        "print([n for n in ('pipeline', 'model', 'extractors', 'cli', 'core') if importlib.util.find_spec(n)])\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True)
    version, stray = result.stdout.splitlines()
    assert version[0].isdigit() and stray == "[]"
