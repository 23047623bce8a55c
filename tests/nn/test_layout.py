"""The layout of sparsecode.nn: domain subpackages on shared modules, no import cycles."""

import ast
import pathlib
import pkgutil

import pytest

pytest.importorskip("torch")

import sparsecode.nn as snn  # noqa: E402

NN_DIR = pathlib.Path(snn.__file__).parent
DOMAINS = sorted(p.name for p in NN_DIR.iterdir() if (p / "__init__.py").exists())
MODULES = sorted(m.name for m in pkgutil.walk_packages([str(NN_DIR)], "sparsecode.nn."))


def test_domains_are_subpackages():
    assert {"unrolled", "sae", "prune"} <= set(DOMAINS)


@pytest.mark.parametrize("name", snn.__all__)
def test_public_names_importable_from_nn(name):
    assert getattr(snn, name) is not None


def _module_level_imports(path, package):
    """sparsecode.nn modules imported at module level (not inside functions) by ``path``."""
    out = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            names = [mod] + [f"{mod}.{a.name}" for a in node.names]
            out.update(n for n in names if n in MODULES or n == "sparsecode.nn")
    return out


def _module_file(name):
    rel = pathlib.Path(*name.split(".")[2:])
    pkg = NN_DIR / rel / "__init__.py"
    return (pkg, name) if pkg.exists() else (NN_DIR / rel.with_suffix(".py"),
                                             name.rsplit(".", 1)[0])


def test_no_import_cycles():
    graph = {}
    for name in MODULES:
        path, package = _module_file(name)
        graph[name] = _module_level_imports(path, package) - {name}
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for dep in graph.get(node, ()):
            if state.get(dep) == "open":
                raise AssertionError("import cycle: " + " -> ".join(stack + [node, dep]))
            if dep not in state:
                visit(dep, stack + [node])
        state[node] = "done"

    for name in MODULES:
        if name not in state:
            visit(name, [])


def _imports_of(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level >= 2:
            yield (node.module or "").split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and \
                node.module.startswith("sparsecode.nn."):
            yield node.module.split(".")[2]


@pytest.mark.parametrize("domain", DOMAINS)
def test_domains_import_only_shared_modules(domain):
    # a domain subpackage may import the shared modules of sparsecode.nn (functional,
    # layers, _training, _estimator) and the rest of the library, never another domain
    others = set(DOMAINS) - {domain}
    for path in (NN_DIR / domain).rglob("*.py"):
        bad = others.intersection(_imports_of(path))
        assert not bad, f"{path.name} imports {bad}"
