"""The harness both sides run in: an outcome per input, offline NLTK, and the originals loaded and their
unit tests recorded from checkout paths (never from this repository, never from the network)."""

from __future__ import annotations

import ast
import contextlib
import copy
import importlib.util
import io
import json
import sys
import types
import unittest
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Case:
    """One input scored by both sides. ``original``/``ours`` hold ("ok", value), ("unscorable", reason)
    or ("exception", type name); ``group`` is the instruction id or function the row is counted under."""

    family: str
    source: str
    group: str
    payload: dict[str, Any]
    original: tuple[str, Any] | None = None
    ours: tuple[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def outcome(fn: Callable[[], Any], unscorable: type[Exception] | None = None) -> tuple[str, Any]:
    try:
        return ("ok", fn())
    except Exception as err:  # the report counts every exception; none may stop the run
        if unscorable is not None and isinstance(err, unscorable):
            return ("unscorable", getattr(err, "reason", str(err)))
        return ("exception", type(err).__name__)


REFUSED_DOWNLOADS: list[str] = []


def offline_nltk(nltk_data: Path) -> None:
    """Refuse every download (recorded, answered False as a failed download is) and put the originals'
    NLTK data first; our own punkt_tab is installed the way our code installs it."""
    import nltk

    def refuse(info_or_id: Any = None, *args: Any, **kwargs: Any) -> bool:
        REFUSED_DOWNLOADS.append(str(info_or_id))
        return False

    nltk.download = refuse
    nltk.data.path.insert(0, str(nltk_data))
    from eval.verifiers.nltk_punkt import use_packaged_punkt

    use_packaged_punkt()


def run_unittests(module: types.ModuleType) -> tuple[int, int]:
    """Run a unittest module quietly; returns (tests run, failures + errors)."""
    suite = unittest.defaultTestLoader.loadTestsFromModule(module)
    result = unittest.TextTestRunner(stream=io.StringIO(), verbosity=0).run(suite)
    return result.testsRun, len(result.failures) + len(result.errors)


@contextlib.contextmanager
def recording_checkers(modules: list[types.ModuleType], id_of: dict[type, str]) -> Iterator[list[dict]]:
    """Wrap ``check_following`` of every Instruction class defined in ``modules`` to record (id, effective
    args, value, answer) of each outermost call; restored on exit."""
    calls: list[dict] = []
    depth = [0]
    saved = []
    for module in modules:
        for cls in vars(module).values():
            if isinstance(cls, type) and "check_following" in vars(cls):
                original = vars(cls)["check_following"]

                def wrapped(self: Any, value: Any, _original: Callable = original) -> Any:
                    depth[0] += 1
                    raised: Exception | None = None
                    try:
                        answer: tuple[str, Any] = ("ok", _original(self, value))
                    except Exception as err:  # recorded, then raised on: a test may expect it
                        answer, raised = ("exception", type(err).__name__), err
                    finally:
                        depth[0] -= 1
                    if depth[0] == 0:
                        args = outcome(self.get_instruction_args)
                        calls.append(
                            {
                                "id": id_of.get(type(self), getattr(self, "id", "?")),
                                "kwargs": copy.deepcopy(args[1]) if args[0] == "ok" else None,
                                "value": value,
                                "answer": answer,
                            }
                        )
                    if raised is not None:
                        raise raised
                    return answer[1]

                saved.append((cls, original))
                cls.check_following = wrapped
    try:
        yield calls
    finally:
        for cls, original in saved:
            cls.check_following = original


def load_file(name: str, path: Path) -> types.ModuleType:
    """The module at ``path``, registered as ``name``."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def package(name: str, path: Path, **attrs: Any) -> types.ModuleType:
    """A package object whose submodules load from ``path`` (its ``__init__`` is not run)."""
    module = types.ModuleType(name)
    module.__path__ = [str(path)]
    for key, value in attrs.items():
        setattr(module, key, value)
    sys.modules[name] = module
    return module


def function_from_source(path: Path, name: str) -> Callable:
    """A module-level function of ``path``, compiled alone (for modules whose imports cannot load offline)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
    if len(nodes) != 1:
        raise SystemExit(f"{path}: expected one function {name!r}, found {len(nodes)}")
    namespace: dict[str, Any] = {}
    exec(compile(ast.Module(body=nodes, type_ignores=[]), str(path), "exec"), namespace)
    return namespace[name]


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
