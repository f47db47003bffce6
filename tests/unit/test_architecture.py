"""Architecture rules (issue 17), checked on the source of gateway/, adapters/ and mocks/.

What it is for: the dependency rules of design.md ("Target shape of the service layer",
"Mocks stand apart") fail the suite when broken, naming every offending import as
``file:line importer -> imported [kind]``. Only the stdlib ``ast`` is used: nothing is
imported from the code under test, so a broken module cannot hide its own imports.

How imports are collected: every ``import`` and ``from ... import`` statement of every
``.py`` file under ``gateway/``, ``adapters/`` and ``mocks/``, wherever it stands. Relative
imports are resolved against the file's package. ``from pkg import name`` counts as an
import of the module ``pkg.name`` when that module exists in the tree, otherwise of
``pkg`` (the name is then a name of ``pkg``). Each import has one kind:
- ``import-time``: executed when the module is imported (module level, class bodies,
  ``try``/``else`` blocks);
- ``TYPE_CHECKING``: under ``if TYPE_CHECKING:`` (never executed);
- ``lazy``: inside a function body (executed when the function runs).

Rules:
1. Layers point one way: ``gateway.api -> gateway.flows -> gateway.store | gateway.messaging
   | adapters -> gateway.domain``, with the entry modules (:data:`ENTRY_MODULES`) above
   the API. Every kind of import counts, ``TYPE_CHECKING`` and lazy ones included: a lower
   layer that names an upper layer's types depends on it (mypy reads that import, and the
   next refactor makes it a runtime one); ``TYPE_CHECKING`` only hides the import cycle,
   not the dependency. The contracts are :data:`CONTRACTS`, most specific first; an
   import is reported once, under the first contract it breaks.
2. No import cycles: the graph of ``import-time`` imports between modules of the three
   trees has no strongly connected component of more than one module. An edge goes to
   the module named (``from a.b import c`` is an edge to ``a.b``, or to ``a.b.c`` when
   that is a module), not to the enclosing packages Python also initialises: a package
   ``__init__`` that re-exports its submodules is not a cycle by itself. Cycles that need
   a lazy or ``TYPE_CHECKING`` import are printed and emitted as an
   :class:`ArchitectureNote` warning, not failed.
3. No private names across modules: ``from m import _name`` fails unless ``m`` is a
   private module (a dotted component starting with ``_``, e.g. ``pkg._common``) of a
   package that contains the importer; members of a package's private helper module are
   internal to that package already. Importing a private module (``pkg._common``, or
   ``_name`` as a submodule) from outside the package holding it fails too. Dunder names
   (``__version__``) are not private; a private alias (``import x as _x``) is the
   importer's own business. The rule covers third-party modules as well.

Each rule's checker is a plain function over :class:`Import` records; the ``test_checker_*``
tests run them on hand-made source and graphs, so each check provably can fail.
"""

from __future__ import annotations

import ast
import warnings
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import pytest

REPO = Path(__file__).resolve().parents[2]
TREES = ("gateway", "adapters", "mocks")

Kind = Literal["import-time", "TYPE_CHECKING", "lazy"]

# The composition and entry modules: the only modules outside gateway.api that may import
# it. Each is a prefix (a module or a package); they sit above the API, so no layer below
# may import them either.
ENTRY_MODULES: tuple[str, ...] = (
    "gateway.bootstrap",  # the composition root: builds the API services for every process
    "gateway.wiring",  # part of the composition root: fills ApiServices' ports from the flows
    "gateway.process",  # runs the parts of a process: builds the ASGI app (create_app) to serve it
    "gateway.cli",  # the `tthc-gateway` command (module or gateway/cli/ package): starts processes
    "gateway.__main__",  # `python -m gateway`: the same entry point as the command
    "gateway.demo",  # the `demo` command: drives a running stack from outside, like an integrator
    "gateway.testing",  # test kit shipped with the package: may build a whole stack, API included
)


@dataclass(frozen=True)
class Import:
    """One imported module (or one name of a module) at one place in the source."""

    file: str
    line: int
    importer: str
    module: str
    name: str | None  # a name of ``module`` (``from module import name``); None: the module
    kind: Kind

    @property
    def target(self) -> str:
        return self.module if self.name is None else f"{self.module}.{self.name}"

    def __str__(self) -> str:
        return f"{self.file}:{self.line} {self.importer} -> {self.target} [{self.kind}]"


@dataclass(frozen=True)
class Contract:
    """Modules within ``importers`` (less ``exempt``) import nothing within ``forbidden``
    (less ``allowed``)."""

    name: str
    rule: str
    importers: tuple[str, ...]
    forbidden: tuple[str, ...]
    allowed: tuple[str, ...] = ()
    exempt: tuple[str, ...] = ()

    def breaks(self, imp: Import) -> bool:
        return (
            within_any(imp.importer, self.importers)
            and not within_any(imp.importer, self.exempt)
            and within_any(imp.module, self.forbidden)
            and not within_any(imp.module, self.allowed)
        )


CONTRACTS: tuple[Contract, ...] = (
    Contract(
        "mocks-stand-apart",
        "mocks/ imports nothing from gateway/ or adapters/",
        importers=("mocks",),
        forbidden=("gateway", "adapters"),
    ),
    Contract(
        "domain-is-the-bottom",
        "gateway.domain imports no project code but gateway.domain",
        importers=("gateway.domain",),
        forbidden=("gateway", "adapters", "mocks"),
        allowed=("gateway.domain",),
    ),
    Contract(
        "adapters-see-only-the-domain",
        "adapters/ imports nothing from gateway/ but gateway.domain",
        importers=("adapters",),
        forbidden=("gateway",),
        allowed=("gateway.domain",),
    ),
    Contract(
        "store-below-flows",
        "gateway.store imports neither gateway.api, gateway.flows, gateway.keys nor an entry module",
        importers=("gateway.store",),
        forbidden=("gateway.api", "gateway.flows", "gateway.keys", *ENTRY_MODULES),
    ),
    Contract(
        "messaging-below-flows",
        "gateway.messaging imports neither gateway.api, gateway.flows nor an entry module",
        importers=("gateway.messaging",),
        forbidden=("gateway.api", "gateway.flows", *ENTRY_MODULES),
    ),
    Contract(
        "flows-below-api",
        "gateway.flows imports neither gateway.api nor an entry module",
        importers=("gateway.flows",),
        forbidden=("gateway.api", *ENTRY_MODULES),
    ),
    Contract(
        "api-on-top",
        "only gateway.api itself and the entry modules import gateway.api",
        importers=TREES,
        exempt=("gateway.api", *ENTRY_MODULES),
        forbidden=("gateway.api",),
    ),
)


class ArchitectureNote(UserWarning):
    """Something worth a look that does not fail the suite (a cycle through a lazy import)."""


# --- names ---------------------------------------------------------------------------------


def within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def within_any(module: str, prefixes: Iterable[str]) -> bool:
    return any(within(module, prefix) for prefix in prefixes)


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def module_name(path: Path, root: Path) -> tuple[str, bool]:
    """The dotted name of a source file, and whether it is a package ``__init__``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


# --- collecting imports --------------------------------------------------------------------


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Collector(ast.NodeVisitor):
    def __init__(self, file: str, module: str, is_package: bool, known: frozenset[str]) -> None:
        self.file = file
        self.module = module
        self.package = module if is_package else module.rpartition(".")[0]
        self.known = known
        self.found: list[Import] = []
        self._functions = 0
        self._type_checking = 0

    def _kind(self) -> Kind:
        if self._type_checking:
            return "TYPE_CHECKING"
        return "lazy" if self._functions else "import-time"

    def _add(self, line: int, module: str, name: str | None) -> None:
        self.found.append(Import(self.file, line, self.module, module, name, self._kind()))

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self._functions += 1
        self.generic_visit(node)
        self._functions -= 1

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._function(node)

    def visit_If(self, node: ast.If) -> None:
        if not _is_type_checking(node.test):
            self.generic_visit(node)
            return
        self._type_checking += 1
        for statement in node.body:
            self.visit(statement)
        self._type_checking -= 1
        for statement in node.orelse:
            self.visit(statement)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(node.lineno, alias.name, None)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = self._resolve(node)
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            if submodule in self.known:
                self._add(node.lineno, submodule, None)
            else:
                self._add(node.lineno, base, alias.name)

    def _resolve(self, node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        parts = self.package.split(".")
        if node.level - 1 >= len(parts):
            raise ValueError(f"{self.file}:{node.lineno}: relative import beyond the top package")
        base = parts[: len(parts) - (node.level - 1)]
        return ".".join([*base, node.module] if node.module else base)


def imports_of_source(
    source: str, file: str, module: str, is_package: bool, known: Iterable[str]
) -> list[Import]:
    """Every import of one module's source text."""
    collector = _Collector(file, module, is_package, frozenset(known))
    collector.visit(ast.parse(source, filename=file))
    return collector.found


@dataclass(frozen=True)
class Tree:
    modules: frozenset[str]
    imports: tuple[Import, ...]


@cache
def project() -> Tree:
    files = sorted(
        path
        for tree in TREES
        for path in (REPO / tree).rglob("*.py")
        if "__pycache__" not in path.parts
    )
    named = [(path, *module_name(path, REPO)) for path in files]
    known = frozenset(module for _, module, _ in named)
    found: list[Import] = []
    for path, module, is_package in named:
        source = path.read_text(encoding="utf-8")
        found += imports_of_source(source, str(path.relative_to(REPO)), module, is_package, known)
    return Tree(known, tuple(found))


# --- rule 1: layers ------------------------------------------------------------------------


def layer_violations(
    imports: Iterable[Import], contracts: Sequence[Contract]
) -> dict[str, list[Import]]:
    """For each contract, the imports that break it (each import under its first contract)."""
    broken: dict[str, list[Import]] = {contract.name: [] for contract in contracts}
    for imp in imports:
        for contract in contracts:
            if contract.breaks(imp):
                broken[contract.name].append(imp)
                break
    return broken


# --- rule 2: cycles ------------------------------------------------------------------------


def module_graph(
    imports: Iterable[Import], modules: frozenset[str], kinds: frozenset[Kind]
) -> dict[str, dict[str, list[Import]]]:
    """importer -> imported module -> the imports making that edge (project modules only)."""
    graph: dict[str, dict[str, list[Import]]] = {module: {} for module in modules}
    for imp in imports:
        if imp.kind not in kinds or imp.importer not in modules:
            continue
        target = imp.module
        while target and target not in modules:  # a module that is gone: its nearest package
            target = target.rpartition(".")[0]
        if target and target != imp.importer:
            graph[imp.importer].setdefault(target, []).append(imp)
    return graph


def strongly_connected(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; components of more than one node, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(graph.get(root, ())))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            if successors:
                successor = successors.pop(0)
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, sorted(graph.get(successor, ()))))
                elif successor in on_stack:
                    low[node] = min(low[node], index[successor])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return sorted(components)


def shortest_cycle(graph: Mapping[str, Iterable[str]], start: str, members: set[str]) -> list[str]:
    """The shortest path start -> ... -> start inside one component."""
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for successor in sorted(graph.get(node, ())):
            if successor not in members:
                continue
            if successor == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [*reversed(path), start]
            if successor not in previous:
                previous[successor] = node
                queue.append(successor)
    return [start]


def describe_cycles(graph: Mapping[str, Mapping[str, list[Import]]]) -> list[str]:
    """One paragraph per cycle: its modules, one shortest loop, and every import inside it."""
    paragraphs = []
    for component in strongly_connected(graph):
        members = set(component)
        loop = " -> ".join(shortest_cycle(graph, component[0], members))
        edges = [
            f"    {imp}"
            for importer in component
            for target, edge in sorted(graph[importer].items())
            if target in members
            for imp in edge
        ]
        paragraphs.append(
            f"  cycle of {len(component)} modules: {', '.join(component)}\n"
            f"    e.g. {loop}\n" + "\n".join(edges)
        )
    return paragraphs


IMPORT_TIME: frozenset[Kind] = frozenset({"import-time"})
EVERY_KIND: frozenset[Kind] = frozenset({"import-time", "TYPE_CHECKING", "lazy"})


# --- rule 3: private names -----------------------------------------------------------------


def private_owner(module: str) -> str | None:
    """The package a private module belongs to (``a.b`` for ``a.b._c.d``), or None."""
    parts = module.split(".")
    for position, part in enumerate(parts):
        if is_private(part):
            return ".".join(parts[:position])
    return None


def private_violations(imports: Iterable[Import]) -> list[tuple[Import, str]]:
    """Imports of a private module from outside its package, or of another module's _name."""
    found = []
    for imp in imports:
        owner = private_owner(imp.module)
        inside_owner = owner is not None and within(imp.importer, owner)
        if owner is not None and not inside_owner:
            found.append((imp, f"private module of {owner or 'the top level'}"))
        elif imp.name is not None and imp.name != "*" and is_private(imp.name):
            if imp.module != imp.importer and not inside_owner:
                found.append((imp, f"private name of {imp.module}"))
    return found


# --- the rules on the real tree ------------------------------------------------------------


@pytest.mark.parametrize("contract", CONTRACTS, ids=[contract.name for contract in CONTRACTS])
def test_layers_point_one_way(contract: Contract) -> None:
    tree = project()
    for prefix in contract.importers:
        assert any(within(module, prefix) for module in tree.modules), (
            f"contract {contract.name}: no module is within {prefix!r}; "
            "the contract no longer checks anything (a package was renamed?)"
        )
    broken = layer_violations(tree.imports, CONTRACTS)[contract.name]
    assert not broken, (
        f"{contract.name}: {contract.rule}; {len(broken)} imports break it:\n"
        + "\n".join(f"  {imp}" for imp in broken)
    )


def test_the_entry_modules_exist() -> None:
    modules = project().modules
    missing = [entry for entry in ENTRY_MODULES if not any(within(m, entry) for m in modules)]
    assert not missing, f"ENTRY_MODULES names modules that do not exist: {missing}"


def test_no_import_cycles() -> None:
    tree = project()
    at_import = module_graph(tree.imports, tree.modules, IMPORT_TIME)
    cycles = describe_cycles(at_import)

    everything = module_graph(tree.imports, tree.modules, EVERY_KIND)
    import_time_components = {tuple(c) for c in strongly_connected(at_import)}
    latent = [
        paragraph
        for component, paragraph in zip(
            strongly_connected(everything), describe_cycles(everything), strict=True
        )
        if tuple(component) not in import_time_components
    ]
    if latent:
        note = (
            f"{len(latent)} cycles appear once lazy and TYPE_CHECKING imports count "
            "(not failed: they are not executed at import time):\n" + "\n".join(latent)
        )
        print(note)
        warnings.warn(note, ArchitectureNote, stacklevel=1)

    assert not cycles, f"{len(cycles)} import-time cycles:\n" + "\n".join(cycles)


def test_no_private_names_imported_across_modules() -> None:
    found = private_violations(project().imports)
    assert not found, f"{len(found)} private imports across modules:\n" + "\n".join(
        f"  {imp} ({why})" for imp, why in found
    )


# --- the checker can fail ------------------------------------------------------------------

KNOWN = (
    "gateway",
    "gateway.api",
    "gateway.api.runtime",
    "gateway.api.handlers",
    "gateway.api.handlers._common",
    "gateway.flows",
    "gateway.flows.ports",
    "gateway.store",
    "gateway.store.db",
)


def _imports(module: str, source: str, is_package: bool = False) -> list[Import]:
    file = module.replace(".", "/") + ("/__init__.py" if is_package else ".py")
    return imports_of_source(source, file, module, is_package, KNOWN)


def test_checker_collects_every_kind_of_import() -> None:
    found = _imports(
        "gateway.api.handlers.admin",
        """
from typing import TYPE_CHECKING
from . import _common
from .. import runtime as rt
from ..runtime import answer
import gateway.store.db
if TYPE_CHECKING:
    from gateway.flows.ports import Port
else:
    import json
class Admin:
    from gateway.store import db
def handler():
    from gateway.flows import ports
""",
    )
    assert [(imp.line, imp.target, imp.kind) for imp in found] == [
        (2, "typing.TYPE_CHECKING", "import-time"),
        (3, "gateway.api.handlers._common", "import-time"),
        (4, "gateway.api.runtime", "import-time"),
        (5, "gateway.api.runtime.answer", "import-time"),
        (6, "gateway.store.db", "import-time"),
        (8, "gateway.flows.ports.Port", "TYPE_CHECKING"),
        (10, "json", "import-time"),
        (12, "gateway.store.db", "import-time"),
        (14, "gateway.flows.ports", "lazy"),
    ]
    assert str(found[1]) == (
        "gateway/api/handlers/admin.py:3 gateway.api.handlers.admin"
        " -> gateway.api.handlers._common [import-time]"
    )
    package = _imports("gateway.api.handlers", "from . import _common\nfrom .. import x", True)
    assert [imp.target for imp in package] == ["gateway.api.handlers._common", "gateway.api.x"]
    with pytest.raises(ValueError, match="beyond the top package"):
        _imports("gateway.flows", "from ... import x", True)


def test_checker_finds_layer_violations() -> None:
    found = [
        *_imports("gateway.store.db", "from gateway.flows import ports"),
        *_imports("gateway.store.db", "def f():\n    import gateway.keys"),
        *_imports("gateway.store.db", "from gateway.domain.errors import GatewayError"),
        *_imports("gateway.flows.x", "if TYPE_CHECKING:\n    from gateway.api import runtime"),
        *_imports("gateway.flows.x", "from gateway.bootstrap import Gateway"),
        *_imports("gateway.domain.ids", "from gateway.domain import errors"),
        *_imports("gateway.domain.ids", "from gateway.store import db"),
        *_imports("adapters.city.client", "from gateway.domain.errors import UpstreamError"),
        *_imports("adapters.city.client", "from gateway.logging import get_logger"),
        *_imports("mocks.city.app", "from adapters.city import wire"),
        *_imports("mocks.city.app", "from mocks._xml import parse_xml"),
        *_imports("gateway.ops.service", "from gateway.api.runtime import answer"),
        *_imports("gateway.bootstrap", "from gateway.api import services"),
        *_imports("gateway.cli.processes", "from gateway.api.app import create_app"),
        *_imports("gateway.api.app", "from gateway.flows import ports"),
    ]
    broken = layer_violations(found, CONTRACTS)
    assert {name: [str(imp) for imp in imports] for name, imports in broken.items()} == {
        "mocks-stand-apart": [
            "mocks/city/app.py:1 mocks.city.app -> adapters.city.wire [import-time]"
        ],
        "domain-is-the-bottom": [
            "gateway/domain/ids.py:1 gateway.domain.ids -> gateway.store.db [import-time]"
        ],
        "adapters-see-only-the-domain": [
            "adapters/city/client.py:1 adapters.city.client -> gateway.logging.get_logger"
            " [import-time]"
        ],
        "store-below-flows": [
            "gateway/store/db.py:1 gateway.store.db -> gateway.flows.ports [import-time]",
            "gateway/store/db.py:2 gateway.store.db -> gateway.keys [lazy]",
        ],
        "messaging-below-flows": [],
        "flows-below-api": [
            "gateway/flows/x.py:2 gateway.flows.x -> gateway.api.runtime [TYPE_CHECKING]",
            "gateway/flows/x.py:1 gateway.flows.x -> gateway.bootstrap.Gateway [import-time]",
        ],
        "api-on-top": [
            "gateway/ops/service.py:1 gateway.ops.service -> gateway.api.runtime.answer"
            " [import-time]"
        ],
    }


def _edge(importer: str, module: str, kind: Kind = "import-time") -> Import:
    return Import(importer.replace(".", "/") + ".py", 1, importer, module, None, kind)


def test_checker_finds_cycles() -> None:
    graph = {
        "a": {"b"},
        "b": {"c"},
        "c": {"a", "d"},
        "d": set(),
        "e": {"f"},
        "f": {"e"},
        "g": {"a"},
    }
    assert strongly_connected(graph) == [["a", "b", "c"], ["e", "f"]]
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert shortest_cycle(graph, "a", {"a", "b", "c"}) == ["a", "b", "c", "a"]

    modules = frozenset({"p", "p.x", "p.y", "p.z"})
    imports = [
        _edge("p", "p.x"),  # a package re-exporting its module: no cycle by itself
        _edge("p.x", "p.y"),
        _edge("p.y", "p.z"),
        _edge("p.z", "p.x", "lazy"),
        _edge("p.z", "p.y.gone"),  # a module that does not exist: its nearest package
        _edge("p.y", "p.y"),
        _edge("p.x", "json"),
    ]
    at_import = module_graph(imports, modules, IMPORT_TIME)
    assert strongly_connected(at_import) == [["p.y", "p.z"]]
    assert describe_cycles(at_import) == [
        "  cycle of 2 modules: p.y, p.z\n"
        "    e.g. p.y -> p.z -> p.y\n"
        "    p/y.py:1 p.y -> p.z [import-time]\n"
        "    p/z.py:1 p.z -> p.y.gone [import-time]"
    ]
    assert strongly_connected(module_graph(imports, modules, EVERY_KIND)) == [["p.x", "p.y", "p.z"]]


def test_checker_finds_private_imports() -> None:
    found = [
        *_imports("gateway.api.middleware", "from gateway.api.runtime import ApiRuntime, _runtime"),
        *_imports("gateway.api.handlers.admin", "from ._common import answer, _helper"),
        *_imports("gateway.api.handlers.sub.x", "from gateway.api.handlers._common import answer"),
        *_imports("gateway.flows.x", "from gateway.api.handlers._common import answer"),
        *_imports("gateway.flows.x", "from gateway.api.handlers import _common"),
        *_imports("gateway.flows.x", "import gateway.api.handlers._common as common"),
        *_imports("gateway.flows.x", "from gateway import __version__\nimport json as _json"),
        *_imports("gateway.flows.x", "from gateway.flows.x import _own\nfrom os import *"),
        *_imports("gateway.flows.x", "from concurrent.futures import _base"),
    ]
    assert [(str(imp), why) for imp, why in private_violations(found)] == [
        (
            "gateway/api/middleware.py:1 gateway.api.middleware -> gateway.api.runtime._runtime"
            " [import-time]",
            "private name of gateway.api.runtime",
        ),
        *[
            (
                "gateway/flows/x.py:1 gateway.flows.x -> gateway.api.handlers._common"
                + suffix
                + " [import-time]",
                "private module of gateway.api.handlers",
            )
            for suffix in (".answer", "", "")
        ],
        (
            "gateway/flows/x.py:1 gateway.flows.x -> concurrent.futures._base [import-time]",
            "private name of concurrent.futures",
        ),
    ]
