"""Lazy public faces for the subpackages (PEP 562).

Each package ``__init__`` lists its public names and the module that defines each; a name's
module is imported the first time the name is used, never its siblings. The hook path imports
single modules of heavy packages (``store.schema``, ``capture.spool``) and must not pay for
the rest of the package, which an eager ``__init__`` would make it do.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def exports(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """The module ``__getattr__`` of ``package``: ``homes`` maps each public name to the
    submodule defining it; a name, once imported, is kept in the package's namespace."""
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f"{package}.{home}"), name)
        namespace[name] = value
        return value

    return __getattr__
