"""Load a script of ``bench/`` as a module, for tests that run a benchmark's slice or floor."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[1] / "bench"


def load_bench(name: str) -> ModuleType:
    """``bench/{name}.py``, imported once as ``{name}_bench``."""
    module_name = f"{name}_bench"
    if module_name in sys.modules:
        return sys.modules[module_name]
    if str(BENCH) not in sys.path:  # the scripts import their shared _report, as when run;
        sys.path.append(str(BENCH))  # last, so bench/hooks.py never shadows the hooks package
    spec = importlib.util.spec_from_file_location(module_name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
