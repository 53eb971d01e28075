"""The lab package as the judge's tests see it: the course's declarations, with the student's parts remote.

``from lab01_batched_lora_matmul import batched_lora as bl`` in a test file gets a module built
from ``grader/declared/<lab>/<module>.py`` (the handed-out stub, generated from the solution, so
it holds only course code). In it:
  * every function the student writes (its body is a TODO) is a ``RemoteFunction``: a call runs
    the student's function in the sandbox;
  * every class with a TODO method (lab 04's caches) is a subclass of ``RemoteObject``: making one
    makes the object in the sandbox, and its methods and attributes are forwarded there;
  * everything else — the lab's data types (dataclasses, NamedTuples), exceptions, constants and
    course-provided helpers — is the course's own code, run here. Values the sandbox returns are
    rebuilt as these types from their fields.
"""
from __future__ import annotations

import ast
import functools
import importlib.util
import inspect
import sys
import types
from pathlib import Path

from grader.sandbox import wire

_JUDGE_LOCAL: set = set()


def judge_local_class(cls) -> bool:
    """Objects of these classes stay with the judge; the sandbox gets a handle (e.g. ReplayLLM)."""
    return cls in _JUDGE_LOCAL


def todo_names(source: str) -> tuple[set[str], set[str]]:
    """(functions, classes) of a declared module whose bodies raise the stub's NotImplementedError."""
    tree = ast.parse(source)

    def has_todo(node) -> bool:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Raise) and isinstance(sub.exc, ast.Call) \
                    and getattr(sub.exc.func, "id", None) == "NotImplementedError":
                text = " ".join(a.value for a in sub.exc.args if isinstance(a, ast.Constant) and isinstance(a.value, str))
                if "TODO" in text:
                    return True
        return False

    funcs = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and has_todo(n)}
    classes = {n.name for n in tree.body if isinstance(n, ast.ClassDef) and has_todo(n)}
    return funcs, classes


def load_declared(path: Path, modkey: str) -> types.ModuleType:
    """Execute the course's declarations of one lab module under its real name."""
    spec = importlib.util.spec_from_file_location(modkey, path)
    mod = importlib.util.module_from_spec(spec)
    package = modkey.rsplit(".", 1)[0]
    if package not in sys.modules:
        pkg = types.ModuleType(package)
        pkg.__path__ = []
        sys.modules[package] = pkg
    sys.modules[modkey] = mod
    spec.loader.exec_module(mod)
    setattr(sys.modules[package], modkey.rsplit(".", 1)[1], mod)
    return mod


def data_types(mod) -> dict:
    return {(mod.__name__, name): obj for name, obj in vars(mod).items()
            if wire.is_data_type(obj) and obj.__module__ == mod.__name__}


def exception_types(mod) -> dict:
    return {name: obj for name, obj in vars(mod).items()
            if isinstance(obj, type) and issubclass(obj, BaseException) and obj.__module__ == mod.__name__}


class RemoteFunction:
    """A student's function: calling it runs it in the sandbox."""

    def __init__(self, client, declared):
        self._client, self._declared = client, declared
        functools.update_wrapper(self, declared)

    def __call__(self, *args, **kwargs):
        __tracebackhide__ = True            # pytest's report starts in the test and ends in the student's code
        return self._client.request("call", self._declared.__name__, args, kwargs,
                                    module=self._declared.__module__)[0]

    def __repr__(self):
        return f"<function {self._declared.__name__} (runs in the sandbox)>"


class RemoteObject:
    """An object that lives in the sandbox; subclasses are made per class by ``remote_class``."""

    _p11_client = None

    def __new__(cls, *args, **kwargs):
        __tracebackhide__ = True
        return cls._p11_client.request("new", cls.__name__, args, kwargs, module=cls.__module__)[0]

    def __init__(self, *args, **kwargs):
        pass                                # made in the sandbox by __new__

    def __getattr__(self, name):            # attributes and properties the declaration does not define as methods
        __tracebackhide__ = True
        if name.startswith("__"):
            raise AttributeError(name)
        client = type(self)._p11_client
        gen, hid, cls = object.__getattribute__(self, "_p11")
        value, is_method = client.request("getattr", name, handle=hid)
        if is_method:
            return lambda *a, **k: client.request("method", name, a, k, handle=hid)[0]
        return value

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} lives in the sandbox; call its methods instead")

    def __iter__(self):
        return iter(_forward("__p11_list__")(self))      # the server answers with list(obj)


_FORWARDED_DUNDERS = ("__len__", "__contains__", "__repr__", "__str__", "__getitem__", "__bool__")


def _forward(name):
    def method(self, *args, **kwargs):
        __tracebackhide__ = True
        hid = object.__getattribute__(self, "_p11")[1]
        return type(self)._p11_client.request("method", name, args, kwargs, handle=hid)[0]
    method.__name__ = name
    return method


def remote_class(client, declared: type) -> type:
    """A stand-in class: each method the course declares is forwarded in one round trip."""
    body = {"__doc__": declared.__doc__, "__module__": declared.__module__, "__qualname__": declared.__qualname__,
            "_p11_client": client}
    for klass in reversed(declared.__mro__[:-1]):
        for name, value in vars(klass).items():
            if inspect.isfunction(value) and (not name.startswith("__") or name in _FORWARDED_DUNDERS):
                body[name] = functools.wraps(value)(_forward(name))
    return type(declared.__name__, (RemoteObject,), body)


def make_stand_in(classes: dict):
    """The Client's factory for handles the sandbox sends: an instance of the matching remote class."""
    def factory(cls_name, hid, generation):
        cls = classes.get(cls_name)
        if cls is None:
            raise wire.WireError(f"a handle to an unknown class {cls_name!r}")
        obj = object.__new__(cls)
        object.__setattr__(obj, "_p11", (generation, hid, cls_name))
        return obj
    return factory


def build(client, declared_path: Path, modkey: str) -> tuple[types.ModuleType, dict]:
    """The proxy module for one lab module; returns (module, remote classes by name)."""
    source = declared_path.read_text()
    funcs, classes = todo_names(source)
    mod = load_declared(declared_path, modkey)
    remote = {}
    for name in funcs:
        setattr(mod, name, RemoteFunction(client, getattr(mod, name)))
    for name in classes:
        remote[name] = remote_class(client, getattr(mod, name))
        setattr(mod, name, remote[name])
    for name, obj in vars(mod).items():
        if isinstance(obj, type) and obj.__module__ == modkey and name not in classes \
                and not wire.is_data_type(obj) and not issubclass(obj, BaseException):
            _JUDGE_LOCAL.add(obj)           # a course class with no TODO (ReplayLLM): it stays here
    return mod, remote
