"""The names in ``store/schema.py`` (read by the store and by the hook's lean reader) are the
database's: each one is a table of a freshly migrated database with a model recorded, and the
module imports nothing, so the hook can use it for free."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import apsw

from mcp_memory.store import schema
from mcp_memory.store.database import Store


def test_every_schema_table_exists(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "memory.db")
    try:
        store.init_model("minilm", 384, "mean")
        assert store.model is not None
        assert (store.model.model_id, store.model.dimension) == ("minilm", 384)
    finally:
        store.close()
    db = apsw.Connection(str(tmp_path / "memory.db"))
    try:
        names = {str(r[0]) for r in db.execute("SELECT name FROM sqlite_master")}
    finally:
        db.close()
    assert set(schema.TABLES) <= names


def test_schema_module_imports_nothing() -> None:
    """Importing it loads no other module of the package and nothing heavy."""
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import mcp_memory.store.schema\n"
        "print(sorted(set(sys.modules) - before))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(ast.literal_eval(done.stdout.strip()))
    ours = sorted(m for m in loaded if m.split(".")[0] == "mcp_memory")
    assert ours == ["mcp_memory", "mcp_memory.lazy", "mcp_memory.store", "mcp_memory.store.schema"]
    heavy = {"numpy", "apsw", "sqlite_vec", "onnxruntime", "tokenizers", "mcp"}
    assert not heavy & {m.split(".")[0] for m in loaded}
