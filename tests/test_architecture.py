"""The architecture as docs/architecture.md draws it, checked on the source: data flows one way
(data → analysis → dashboard and cli), no module imports another that imports it back, and
neither data nor analysis imports streamlit."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("analysis", "cli", "data", "dashboard")


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """Every name imported anywhere in the file (inside functions too), as a dotted name."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            subs = {f"{node.module}.{a.name}" for a in node.names}
            names.update(subs if subs <= MODULES.keys() else subs | {node.module})
    return names


def _project_module(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


GRAPH = {
    module: {m for n in _imports(path) if (m := _project_module(n)) and m != module}
    for module, path in MODULES.items()
}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan 1972), iteratively."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_one_that_imports_it_back():
    assert _cycles(GRAPH) == []


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("data", ("analysis", "cli", "dashboard", "streamlit")),
        ("analysis", ("cli", "dashboard", "streamlit")),
        ("cli", ("dashboard", "streamlit")),
    ],
)
def test_data_flows_one_way(package, forbidden):
    shim = "analysis.__main__"  # ``python -m analysis`` hands over to the command line
    wrong = sorted(
        f"{module} imports {name}"
        for module, path in MODULES.items()
        if module.split(".")[0] == package and module != shim
        for name in _imports(path)
        if name.split(".")[0] in forbidden
    )
    assert wrong == []


def _module_map() -> str:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    return text[text.index("## Module map") :]


def test_the_module_map_names_every_module():
    """docs/architecture.md matches the tree: every module file of the four packages is named
    in its module map (by file name, in its package's section)."""
    text = _module_map()
    missing = []
    for package in PACKAGES:
        section = text[text.index(f"### {package}/") :]
        nxt = section.find("\n### ", 1)
        section = section if nxt < 0 else section[:nxt]
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT / package)
            if rel.name == "__init__.py":
                continue  # a package is named by its section or its folder
            if len(rel.parts) > 2 or (len(rel.parts) == 2 and rel.parts[0] == "app_pages"):
                continue  # pages and deeper folders are named by their folder
            if len(rel.parts) == 2 and rel.parts[0] == "store":
                continue  # data/store/ has its own map (docs/store.md)
            if f"`{rel.name}`" not in section:
                missing.append(f"{package}/{rel}")
    assert missing == []


def test_the_module_map_names_no_file_that_is_gone():
    import re

    names = set(re.findall(r"`([\w/]+\.py)`", _module_map()))
    every = {p.name for p in ROOT.rglob("*.py") if ".venv" not in p.parts}
    assert sorted(n for n in names if n.rsplit("/", 1)[-1] not in every) == []
