"""The package's shape, checked from its source: imports point down the layers, only ``store/``
speaks SQL, and every subpackage shows a public face (a docstring and ``__all__``).

The layers, highest first (docs/architecture.md draws them):

- entry points: ``cli``, ``server``, ``hooks``, ``embed_server``, and ``app`` (the composition
  root, which they all open); they may import anything below them.
- the domain: ``service``, ``lifecycle``, ``routing``, ``capture``, ``llm``, ``graph``,
  ``redaction``; which of them may use which is :data:`DOMAIN_USES`.
- the base: ``store`` (all SQL) and ``embedding`` (the domain sees only ``embedding.protocol``).
- leaves anyone may import: ``errors`` (imports nothing of the package), ``projects``,
  ``files`` (private folders and files, atomic writes), ``daemon_link`` (finding and trusting
  the daemon: the relay and the hooks use it), and
  ``config``, which only entry points and ``app`` may import (the domain and base get their
  values passed in).

The checks walk every module with :mod:`ast` (module- and function-level imports, relative forms,
and ``if TYPE_CHECKING:`` blocks too: a type-only import is still a dependency of the design).
A violation tolerated while a branch fixes it goes into :data:`PENDING`; each entry must still be
a real violation (a fixed one fails the check until it is removed), so the list can only shrink.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "mcp_memory"

# -- the layers ------------------------------------------------------------------------------------

ENTRY_POINTS = frozenset({"cli", "server", "hooks", "embed_server"})
COMPOSITION_ROOT = "app"
BASE = frozenset({"store", "embedding"})
LEAVES = frozenset({"errors", "config", "files", "projects", "text", "lazy", "daemon_link"})

# Which domain packages each domain package may import (besides itself, the base and the leaves).
# redaction is pure text work; anchors reads files and git (and stores anchors), using no other
# domain package; llm (the LLM client layer) redacts prompts; the service redacts what it stores
# and anchors it; lifecycle and routing drive the service and ask the LLM (and check anchors);
# capture hands what it saw to the service; graph draws the service's memories with lifecycle's
# clusters.
DOMAIN_USES: dict[str, frozenset[str]] = {
    "redaction": frozenset(),
    "llm": frozenset({"redaction"}),
    "anchors": frozenset(),
    "service": frozenset({"redaction", "anchors"}),
    "capture": frozenset({"service", "redaction"}),
    "lifecycle": frozenset({"service", "llm", "redaction", "anchors"}),
    "routing": frozenset({"service", "llm", "redaction", "anchors"}),
    "graph": frozenset({"service", "lifecycle", "anchors"}),
}
DOMAIN = frozenset(DOMAIN_USES)

# The one embedding module the domain (and the store) may import: the protocol, no ONNX Runtime.
EMBEDDING_PROTOCOL = "mcp_memory.embedding.protocol"

# Entry points reach the store through app.py; the exceptions, each with its reason.
ENTRY_MAY_IMPORT_STORE = {
    "mcp_memory.hooks.reader": "reads the database at hook time without the Store (no numpy, no "
    "sqlite-vec) and takes table and column names from an import-light store module, not copies",
}

# Third-party modules that make code a transport or an engine: the domain imports none of them.
TRANSPORTS = (
    "mcp",
    "mcp_types",
    "http.server",
    "http.client",
    "httpx",
    "urllib.request",
    "requests",
    "onnxruntime",
    "tokenizers",
)
# llm/ is the LLM client layer: calling a model over HTTP is its job (httpx, or httpx2 when present).
TRANSPORT_EXCEPTIONS = {"llm": frozenset({"httpx", "httpx2"})}

# Reading the environment is for config.py and the entry points; the rest gets values passed in.
ENVIRONMENT = frozenset({"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"})

# Database drivers and SQL belong to store/; the one exception, with its reason.
DRIVERS = ("apsw", "sqlite3", "sqlite_vec")
SQL_CALLS = frozenset({"execute", "executemany", "executescript", "cursor", "query_ids"})
MAY_SPEAK_SQL = {
    "mcp_memory.hooks.reader": "a read-only reader that must stay import-light (a hook has "
    "milliseconds); its table and column names come from an import-light store module",
}

RULES = {
    "errors-imports-nothing": "errors.py imports nothing of the package, not even under TYPE_CHECKING",
    "leaf-imports-package": "config.py and projects.py import only mcp_memory.errors",
    "settings-only-at-entry": "only entry points and app.py import config; pass values down instead",
    "entry-imports-entry-point": "an entry point imports another only from the cli (the umbrella)",
    "entry-imports-store": "entry points reach the store through app.py (the composition root)",
    "app-imports-entry-point": "app.py (the composition root) imports no entry point",
    "domain-imports-entry-point": "the domain imports no entry point and not app.py; it gets its parts passed in",
    "base-imports-up": "store/ and embedding/ never import the domain, app.py or an entry point",
    "embedding-imports-store": "embedding/ never imports store/",
    "imports-embedding-engine": f"the domain and store/ import only {EMBEDDING_PROTOCOL} of embedding/",
    "domain-imports-sideways": "this domain package may not use that one (see DOMAIN_USES)",
    "domain-imports-transport": "the domain imports no MCP, HTTP, ONNX Runtime or tokenizers code",
    "reads-environment": "only config.py and entry points read the environment",
    "sql-outside-store": "only store/ speaks SQL (the one exception is hooks/reader.py)",
}
IMPORT_RULES = frozenset(RULES) - {
    "domain-imports-transport",
    "reads-environment",
    "sql-outside-store",
}

# Violations tolerated while a branch fixes them: (module, offender) -> rule, each with a comment
# saying which change removes it. An offender is the module imported, ``import X`` for a
# third-party import, ``os.environ``, or for SQL one of ``SQL text``, ``.execute()`` (and the
# other calls) or ``import apsw``. Every entry must still be a violation.
PENDING: dict[tuple[str, str], str] = {}


# -- the walk ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    path: str  # relative to the checkout
    line: int
    module: str
    offender: str
    rule: str
    detail: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.module, self.offender)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.detail} [{self.rule}: {RULES[self.rule]}]"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> Iterator[tuple[Path, str]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, module_name(path)


def is_module(dotted: str) -> bool:
    base = ROOT.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def component(dotted: str) -> str:
    """``mcp_memory.store.base`` -> ``store``; the root package itself -> ``""``."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else ""


def type_checking_lines(tree: ast.Module) -> set[int]:
    """Line numbers inside ``if TYPE_CHECKING:`` blocks (for messages only)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
            if name == "TYPE_CHECKING":
                for stmt in node.body:
                    lines.update(range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1))
    return lines


def imports(tree: ast.Module, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """Every import in the module as (line, imported module), relative forms resolved, and
    ``from package import submodule`` resolved to the submodule."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            targets = {source}
            if source.startswith("mcp_memory"):  # from package import submodule
                candidates = (f"{source}.{alias.name}" for alias in node.names)
                targets = {c if is_module(c) else source for c in candidates}
            for target in sorted(targets):
                yield node.lineno, target


def layer_rule(importer: str, target: str) -> str | None:
    """The rule an import of ``target`` by ``importer`` breaks, or None."""
    src, dst = component(importer), component(target)
    if src == "errors":
        return "errors-imports-nothing"
    if src == dst or dst == "":  # its own package; the root package holds only __version__
        return None
    above_domain = ENTRY_POINTS | {COMPOSITION_ROOT}
    engine = dst == "embedding" and target != EMBEDDING_PROTOCOL
    if src in LEAVES:
        return None if dst == "errors" else "leaf-imports-package"
    if src in ENTRY_POINTS:
        if dst in ENTRY_POINTS and src != "cli":
            return "entry-imports-entry-point"
        if dst == "store" and importer not in ENTRY_MAY_IMPORT_STORE:
            return "entry-imports-store"
        return None
    if src == COMPOSITION_ROOT:
        return "app-imports-entry-point" if dst in ENTRY_POINTS else None
    if dst == "config":
        return "settings-only-at-entry"
    if src in BASE:
        if dst in DOMAIN | above_domain:
            return "base-imports-up"
        if src == "embedding" and dst == "store":
            return "embedding-imports-store"
        return "imports-embedding-engine" if engine else None
    # the domain
    if dst in above_domain:
        return "domain-imports-entry-point"
    if engine:
        return "imports-embedding-engine"
    if dst in DOMAIN and dst not in DOMAIN_USES[src]:
        return "domain-imports-sideways"
    return None


def docstring_nodes(tree: ast.Module) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


SQL_SHAPES = re.compile(
    r"""\s*(
        SELECT\s+(DISTINCT\s+)?(\d|\?|\*|\w+\s*\(|\S.*?\bFROM\s+\w)
      | INSERT\s+(OR\s+[A-Z]+\s+)?INTO\s+\w
      | UPDATE\s+\w+\s+SET\s
      | DELETE\s+FROM\s+\w
      | CREATE\s+(UNIQUE\s+|VIRTUAL\s+|TEMP\s+|TEMPORARY\s+)?(TABLE|INDEX|TRIGGER|VIEW)\s
      | DROP\s+(TABLE|INDEX|TRIGGER|VIEW)\s
      | PRAGMA\s+\w
      | ALTER\s+TABLE\s+\w
      | WITH\s+(RECURSIVE\s+)?\w+.*?\bAS\s*\(
      | (BEGIN(\s+(DEFERRED|IMMEDIATE|EXCLUSIVE))?|COMMIT|ROLLBACK)\s*;?\s*$
    )""",
    re.VERBOSE | re.DOTALL,
)


def is_sql(text: str) -> bool:
    """A statement: it starts with an upper-case SQL verb and has the shape of one."""
    return SQL_SHAPES.match(text) is not None


Finding = tuple[int, str, str, str]  # line, offender, rule, what happened


def import_findings(tree: ast.Module, module: str, is_package: bool) -> Iterator[Finding]:
    src = component(module)
    typing_only = type_checking_lines(tree)
    transports_allowed = TRANSPORT_EXCEPTIONS.get(src, frozenset())
    for line, target in imports(tree, module, is_package):
        what = f"{module} imports {target}" + (
            " (under TYPE_CHECKING)" if line in typing_only else ""
        )
        top = target.split(".")[0]
        if top == "mcp_memory":
            rule = layer_rule(module, target)
            if rule:
                yield line, target, rule, what
            continue
        transport = any(target == t or target.startswith(t + ".") for t in TRANSPORTS)
        if src in DOMAIN and transport and top not in transports_allowed:
            yield line, f"import {target}", "domain-imports-transport", what
        if top in DRIVERS and src != "store" and module not in MAY_SPEAK_SQL:
            yield line, f"import {top}", "sql-outside-store", what + " (a database driver)"


def environment_findings(tree: ast.Module, module: str) -> Iterator[Finding]:
    for node in ast.walk(tree):
        name = None
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "os" and node.attr in ENVIRONMENT:
                name = f"os.{node.attr}"
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            name = next((f"os.{a.name}" for a in node.names if a.name in ENVIRONMENT), None)
        if name:
            yield node.lineno, name, "reads-environment", f"{module} reads {name}"


def sql_findings(tree: ast.Module, module: str) -> Iterator[Finding]:
    docstrings = docstring_nodes(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            call = f".{node.func.attr}()"
            if node.func.attr in SQL_CALLS:
                yield node.lineno, call, "sql-outside-store", f"{module} calls {call}"
        text = node.value if isinstance(node, ast.Constant) else None
        if isinstance(text, str) and id(node) not in docstrings and is_sql(text):
            short = " ".join(text.split())[:60]
            yield node.lineno, "SQL text", "sql-outside-store", f"{module} holds SQL {short!r}"


def scan_module(path: Path, module: str) -> Iterator[Violation]:
    tree = ast.parse(path.read_text(), filename=str(path))
    src = component(module)
    findings = list(import_findings(tree, module, path.name == "__init__.py"))
    if src in DOMAIN | BASE or module in ("mcp_memory.errors", "mcp_memory.projects"):
        findings += environment_findings(tree, module)
    if src != "store" and module not in MAY_SPEAK_SQL:
        findings += sql_findings(tree, module)
    rel = str(path.relative_to(ROOT))
    for line, offender, rule, what in findings:
        yield Violation(rel, line, module, offender, rule, what)


@cache
def all_violations() -> tuple[Violation, ...]:
    return tuple(v for path, module in modules() for v in scan_module(path, module))


def check(rules: frozenset[str]) -> None:
    """Fail on every violation of these rules not in PENDING, and on every PENDING entry of these
    rules that is no longer a violation (fixed: remove it from PENDING)."""
    found = [v for v in all_violations() if v.rule in rules]
    new = [v for v in found if PENDING.get(v.key) != v.rule]
    keys = {(v.key, v.rule) for v in found}
    stale = sorted(k for k, rule in PENDING.items() if rule in rules and (k, rule) not in keys)
    problems = [str(v) for v in sorted(new, key=lambda v: (v.path, v.line))]
    problems += [f"PENDING lists {k} ({PENDING[k]}) but it is fixed: remove it" for k in stale]
    assert not problems, "\n" + "\n".join(problems)


# -- the tests ------------------------------------------------------------------------------------


def test_every_top_level_part_has_a_layer() -> None:
    """A new package or module must be placed in a layer, or no rule would apply to it."""
    placed = ENTRY_POINTS | {COMPOSITION_ROOT} | DOMAIN | BASE | LEAVES
    parts = {
        module_name(p).split(".")[1] for p in PACKAGE.rglob("*.py") if p != PACKAGE / "__init__.py"
    }
    assert parts - placed == set()
    assert placed - parts == set()
    for rule in set(PENDING.values()):
        assert rule in RULES


@pytest.mark.parametrize(
    ("importer", "target", "rule"),
    [
        ("mcp_memory.store.base", "mcp_memory.cli.main", "base-imports-up"),
        ("mcp_memory.store.memories", "mcp_memory.service.query", "base-imports-up"),
        ("mcp_memory.store.vectors", "mcp_memory.embedding.protocol", None),
        ("mcp_memory.embedding.engine", "mcp_memory.store.base", "embedding-imports-store"),
        ("mcp_memory.embedding.warm_client", "mcp_memory.config", "settings-only-at-entry"),
        ("mcp_memory.service.memories", "mcp_memory.embedding.protocol", None),
        ("mcp_memory.service.memories", "mcp_memory.embedding.engine", "imports-embedding-engine"),
        ("mcp_memory.service.memories", "mcp_memory.embedding", "imports-embedding-engine"),
        ("mcp_memory.service.memories", "mcp_memory.redaction.redact", None),
        ("mcp_memory.service.memories", "mcp_memory.routing.router", "domain-imports-sideways"),
        ("mcp_memory.service.recall", "mcp_memory.config", "settings-only-at-entry"),
        ("mcp_memory.lifecycle.consolidate", "mcp_memory.llm.provider", None),
        ("mcp_memory.lifecycle.consolidate", "mcp_memory.service.memories", None),
        ("mcp_memory.routing.router", "mcp_memory.service.memories", None),
        (
            "mcp_memory.llm.extractive",
            "mcp_memory.lifecycle.merge_check",
            "domain-imports-sideways",
        ),
        ("mcp_memory.capture.spool", "mcp_memory.app", "domain-imports-entry-point"),
        ("mcp_memory.graph.page", "mcp_memory.lifecycle.clusters", None),
        ("mcp_memory.errors", "mcp_memory.llm.provider", "errors-imports-nothing"),
        ("mcp_memory.projects", "mcp_memory.errors", None),
        ("mcp_memory.config", "mcp_memory.store.database", "leaf-imports-package"),
        ("mcp_memory.app", "mcp_memory.store.database", None),
        ("mcp_memory.app", "mcp_memory.server.tools", "app-imports-entry-point"),
        ("mcp_memory.server.tools", "mcp_memory.store.database", "entry-imports-store"),
        ("mcp_memory.server.tools", "mcp_memory.cli.main", "entry-imports-entry-point"),
        ("mcp_memory.cli.ops", "mcp_memory.server.tools", None),
        ("mcp_memory.cli.ops", "mcp_memory.embedding.engine", None),
        ("mcp_memory.hooks.reader", "mcp_memory.store.schema", None),
        ("mcp_memory.hooks.events", "mcp_memory.store.database", "entry-imports-store"),
    ],
)
def test_layer_rule_decides(importer: str, target: str, rule: str | None) -> None:
    """The decisions the layer rule makes, one import at a time."""
    assert layer_rule(importer, target) == rule


def test_relative_and_nested_imports_are_resolved() -> None:
    """Relative forms, ``from package import submodule`` and imports inside functions all count."""
    code = (
        "from . import migrations\n"
        "from .database import Store\n"
        "from .. import errors, __version__\n"
        "from ..cli import main\n"
        "def f():\n"
        "    import mcp_memory.server.tools as tools\n"
        "    from mcp_memory.service.fusion import keyword_query\n"
    )
    found = sorted(imports(ast.parse(code), "mcp_memory.store.base", is_package=False))
    assert found == [
        (1, "mcp_memory.store.migrations"),
        (2, "mcp_memory.store.database"),
        (3, "mcp_memory"),
        (3, "mcp_memory.errors"),
        (4, "mcp_memory.cli.main"),
        (6, "mcp_memory.server.tools"),
        (7, "mcp_memory.service.fusion"),
    ]


def test_imports_point_down_the_layers() -> None:
    """Entry points -> app -> domain -> store and embedding.protocol -> leaves, never upwards."""
    check(IMPORT_RULES)


def test_domain_is_transport_free() -> None:
    """The domain imports no MCP, HTTP or ONNX Runtime (llm/ may use httpx), and nothing below the
    entry points reads the environment."""
    check(frozenset({"domain-imports-transport", "reads-environment"}))


def test_only_the_store_speaks_sql() -> None:
    """No module outside store/ holds SQL text, calls execute()/cursor()/query_ids() or imports a
    database driver, except hooks/reader.py."""
    check(frozenset({"sql-outside-store"}))


def test_sql_detector_tells_statements_from_prose() -> None:
    """The SQL check sees statements (also split over lines) and leaves English alone."""
    for sql in (
        "SELECT id FROM memories WHERE project = ?",
        "SELECT count(*) FROM memories",
        "SELECT vec_version()",
        "SELECT 1",
        "SELECT m.id, m.content\n FROM memories m",
        "INSERT OR IGNORE INTO lineage (a) VALUES (?)",
        "UPDATE routes SET status = 'undone'",
        "DELETE FROM meta WHERE key = ?",
        "CREATE TABLE IF NOT EXISTS t (x)",
        "CREATE VIRTUAL TABLE memories_fts USING fts5(content)",
        "DROP TABLE reindex_vectors",
        "PRAGMA user_version",
        "ALTER TABLE memories ADD COLUMN label TEXT",
        "BEGIN IMMEDIATE",
        "COMMIT",
    ):
        assert is_sql(sql), sql
    for prose in (
        "select a memory by id",
        "SELECT",
        "Delete the memory and its links.",
        "UPDATE: the model changed",
        "Create a table of contents",
        "BEGIN of the block",
    ):
        assert not is_sql(prose), prose


# -- public faces ---------------------------------------------------------------------------------

SUBPACKAGES = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))


def test_every_folder_is_a_package() -> None:
    """No namespace packages: each folder of modules has an __init__.py."""
    folders = {p.parent for p in PACKAGE.rglob("*.py")}
    assert sorted(str(f) for f in folders if not (f / "__init__.py").is_file()) == []


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_package_has_a_public_face(name: str) -> None:
    """A docstring naming each module of the package, and an ``__all__`` whose names exist and
    shadow no submodule (``pkg.observe`` must stay the module, not a function of it)."""
    init = PACKAGE / name / "__init__.py"
    tree = ast.parse(init.read_text())
    doc = ast.get_docstring(tree) or ""
    assert len([line for line in doc.splitlines() if line.strip()]) >= 3, (
        f"{init}: say what it owns"
    )
    submodules = sorted(p.stem for p in init.parent.glob("*.py") if p.stem != "__init__")
    unnamed = [m for m in submodules if not re.search(rf"\b{m}\b", doc)]
    assert unnamed == [], f"{init}: the docstring says nothing of {unnamed}"

    package = importlib.import_module(f"mcp_memory.{name}")
    exported = getattr(package, "__all__", None)
    assert isinstance(exported, list | tuple), f"{init}: no __all__"
    assert all(isinstance(n, str) for n in exported)
    assert len(set(exported)) == len(exported)
    assert sorted(set(exported) & set(submodules)) == [], "a public name shadows a submodule"
    missing = [n for n in exported if not hasattr(package, n)]
    assert missing == [], f"mcp_memory.{name}.__all__ names what does not exist: {missing}"


def loaded_after(*names: str) -> set[str]:
    """The modules a fresh interpreter holds after importing these."""
    code = f"import importlib, json, sys\nfor n in {list(names)!r}: importlib.import_module(n)\n"
    code += "print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return set(json.loads(done.stdout))


def test_importing_a_package_imports_none_of_its_modules() -> None:
    """Every __init__ is lazy (PEP 562): importing a package does not import its modules, so a
    hook that imports one module pays for that module only."""
    loaded = loaded_after(*(f"mcp_memory.{name}" for name in SUBPACKAGES))
    assert sorted(m for m in loaded if m.startswith("mcp_memory.") and m.count(".") >= 2) == []
    assert (
        sorted(loaded & {"numpy", "onnxruntime", "tokenizers", "apsw", "sqlite_vec", "mcp"}) == []
    )


def test_the_embedding_protocol_comes_without_the_engine() -> None:
    """The domain imports the protocol; that must not load ONNX Runtime or the engine."""
    loaded = loaded_after(EMBEDDING_PROTOCOL)
    heavy = {
        "onnxruntime",
        "tokenizers",
        "mcp_memory.embedding.engine",
        "mcp_memory.embedding.local",
    }
    assert sorted(loaded & (heavy | {"mcp_memory.embedding.warm_client"})) == []
