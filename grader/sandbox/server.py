"""The call server: runs the student's module inside the sandbox and answers the judge's calls.

    python -m grader.sandbox.server IN_FD OUT_FD      (started by grader/judge/jail.py, never by hand)

Each request names a function of the student's module, a class to construct, or a method or
attribute of an object that lives here (a handle). Arguments arrive as data (wire.py) and the
result goes back as data: a value of a type that cannot cross becomes an error naming its type.
While a call runs, the student's code may use objects that live with the judge (handles of
side "j", e.g. lab 02's ReplayLLM or the course's reference cache); each such use is a request
back to the judge, answered before the call goes on.

This process is the student's: anything in it can be rewritten by their code, including this
loop. That is fine: it can only change what it answers, and every answer is checked by the judge.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import itertools
import os
import sys
import traceback

from grader.sandbox import wire
from grader.sandbox.track_hooks import SandboxTracker

HERE = os.path.dirname(os.path.abspath(__file__))
IMPORTLIB = os.path.dirname(importlib.__file__)
CAPTURE_CHARS = 8000


class Server:
    def __init__(self, fd_in: int, fd_out: int):
        self.reader, self.fd_out = wire.Reader(fd_in), fd_out
        self.objects: dict[int, object] = {}
        self.ids = itertools.count(1)
        self.cb_ids = itertools.count(1)
        self.modules: dict[str, object] = {}     # the lab's student modules that imported, by key
        self.remote_classes: dict[str, type] = {}
        self.tracker = SandboxTracker()
        self.codec = wire.Codec("s", {}, local=self._local, remote=self._judge_object, own=self._own,
                                tracked=self.tracker)

    # --- handles ---------------------------------------------------------------------------
    def _local(self, obj):
        for name, cls in self.remote_classes.items():
            if isinstance(obj, cls):
                hid = next(self.ids)
                self.objects[hid] = obj
                return "s", hid, name
        if isinstance(obj, JudgeObject):
            _, hid, cls = object.__getattribute__(obj, "_p11")
            return "j", hid, cls
        return None

    def _own(self, hid):
        if hid not in self.objects:
            raise wire.WireError(f"no object with handle {hid} here (the sandbox was restarted?)")
        return self.objects[hid]

    def _judge_object(self, side, hid, cls):
        return JudgeObject(self, hid, cls)

    # --- setup -----------------------------------------------------------------------------
    def hello(self, doc):
        """Import the lab's modules in order. One that fails to import is reported by name, and
        only calls into it fail: the lab's other modules are still graded."""
        keys = [k for k in doc.get("modules", []) if type(k) is str]
        unloaded = {}
        for key in keys:
            try:
                self.modules[key] = importlib.import_module(key)
            except BaseException as e:        # noqa: BLE001 - the student's import, reported as data
                unloaded[key] = describe(e)
        types = {}
        for key in dict.fromkeys([*self.modules, *doc.get("judge_modules", {}), *doc.get("data_types", {})]):
            if key in unloaded:
                continue
            mod = self.modules.get(key) or importlib.import_module(key)
            for name in doc.get("data_types", {}).get(key, []):
                cls = getattr(mod, name, None)
                if wire.is_data_type(cls):
                    types[(key, name)] = cls
        for key, names in doc.get("judge_modules", {}).items():
            mod = sys.modules[key]
            for name in names:
                setattr(mod, name, JudgeClass(self, key, name))
        for name in doc.get("remote_classes", []):
            cls = next((c for m in self.modules.values() if isinstance(c := getattr(m, name, None), type)), None)
            if cls is not None:
                self.remote_classes[name] = cls
        self.codec.types = types
        self.codec.names = {cls: key for key, cls in types.items()}
        return {"pid": os.getpid(), "uid": os.getuid(), "unloaded": unloaded}

    def _module(self, doc):
        mod = self.modules.get(doc.get("module"))
        if mod is None:
            raise AttributeError(f"no module {doc.get('module')!r} of this lab is loaded")
        return mod

    # --- one request -----------------------------------------------------------------------
    def handle(self, doc, args, kwargs):
        op, name = doc.get("op"), doc.get("name")
        if type(name) is not str:
            raise wire.WireError("request without a name")
        if op == "call":
            mod = self._module(doc)
            fn = getattr(mod, name, None)
            if not callable(fn):
                raise AttributeError(f"your module {mod.__name__} has no function {name}()")
            return fn(*args, **kwargs), False
        if op == "new":
            cls = self.remote_classes.get(name)
            if cls is None:
                raise AttributeError(f"your module {doc.get('module')} has no class {name}")
            return cls(*args, **kwargs), False
        obj = self._own(doc.get("handle"))
        if op == "getattr":
            value = getattr(obj, name)
            if callable(value) and not isinstance(value, type):
                return None, True
            return value, False
        if op == "method":
            if name == "__p11_list__":            # iteration: the items, as a list
                return list(obj), False
            return getattr(obj, name)(*args, **kwargs), False
        if op == "batch":                         # many method calls in one round trip
            out = []
            for call in args:
                if type(call) is not list or len(call) != 2 or type(call[0]) is not str or type(call[1]) is not list:
                    raise wire.WireError("bad batched call")
                attr = getattr(obj, call[0])
                out.append(attr(*call[1]) if callable(attr) and not isinstance(attr, type) else attr)
            return out, False
        raise wire.WireError(f"unknown request {op!r}")

    def serve(self) -> None:
        while True:
            try:
                doc, tensors = wire.receive(self.reader)
            except wire.Closed:
                return
            self.answer(doc, tensors)

    def answer(self, doc, tensors):
        rid = doc.get("id")
        codec = self.codec
        out = Capture()                   # what the student's code prints during this call
        try:
            if doc.get("op") == "hello":
                value, is_method, changed = self.hello(doc), False, []
            else:
                seen: list = []
                codec.in_record = seen
                try:
                    args = codec.decode(doc.get("args", ["l", []]), tensors)
                    kwargs = codec.decode(doc.get("kwargs", ["d", []]), tensors)
                finally:
                    codec.in_record = None
                if "script" in doc:                 # a plain ``calls`` script, sent as bare JSON
                    if doc.get("op") != "batch" or not wire.plain_script(doc["script"]) or args:
                        raise wire.WireError("bad script")
                    args = doc["script"]
                if type(args) is not list or type(kwargs) is not dict:
                    raise wire.WireError("arguments must be a list and a dict")
                # The arguments are this sandbox's own copies: what the call does to them stays
                # here. Only the return value goes back (the judge's tests own their inputs); an
                # argument returned unchanged goes back as "your k-th object", so identity holds.
                versions = [t._version for t in tensors]
                with _captured(out):
                    value, is_method = self.handle(doc, args, kwargs)
                changed = _changed_inputs(tensors, versions)
                codec.ids = {id(o): (k, tree) for k, (o, tree) in enumerate(x or (None, None) for x in seen)
                             if o is not None}
            tensors_out: list = []
            reply = {"re": rid, "method": is_method, "out": out.text(), "changed": changed,
                     "logs": {str(k): v for k, v in self.tracker.take().items()},
                     "ok": codec.encode(value, tensors_out)[0]}
            codec.ids = None
            meta, blobs = wire.pack_tensors(tensors_out)
            reply["tensors"] = meta
            wire.write_frame(self.fd_out, reply, blobs)
        except BaseException as e:        # noqa: BLE001 - everything the student raises is reported
            self.tracker.take()
            codec.ids = None
            wire.send(self.fd_out, {"re": rid, "err": describe(e), "out": out.text()}, codec)

    # --- calls back to the judge -------------------------------------------------------------
    def callback(self, **req):
        rid = next(self.cb_ids)
        args = req.pop("args", [])
        kwargs = req.pop("kwargs", {})
        wire.send(self.fd_out, {"op": "cb", "id": rid, **req}, self.codec, args=list(args), kwargs=dict(kwargs))
        while True:
            doc, tensors = wire.receive(self.reader)
            if doc.get("re") == rid and "op" not in doc:
                if "err" in doc:
                    raise rebuild_error(doc["err"])
                return self.codec.decode(doc.get("ok"), tensors), bool(doc.get("method"))
            self.answer(doc, tensors)        # the judge may call us while we wait (nested calls)


def _changed_inputs(tensors, versions) -> list[str]:
    """The argument tensors the call changed in place (by their version counters: no re-encoding),
    as facts for the judge's tests; nothing is written back into the test's own objects."""
    return [f"a tensor argument of shape {tuple(t.shape)}" for t, v in zip(tensors, versions) if t._version != v]


class Capture(io.TextIOBase):
    """stdout and stderr of one call, kept up to CAPTURE_CHARS (the judge shows them under a failing
    public test, like pytest's "Captured stdout call")."""

    def __init__(self):
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, s) -> int:
        s = str(s)
        room = CAPTURE_CHARS - self.size
        if room > 0:
            self.parts.append(s[:room])
            self.size += min(len(s), room)
        self.dropped += max(len(s) - max(room, 0), 0)
        return len(s)

    def text(self) -> str:
        tail = f"\n[... {self.dropped} more characters not kept]" if self.dropped else ""
        return "".join(self.parts) + tail


@contextlib.contextmanager
def _captured(out: Capture):
    saved = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = out
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


class JudgeObject:
    """Stands in, here, for an object that stays with the judge; each use asks the judge."""

    def __init__(self, server, hid, cls):
        object.__setattr__(self, "_p11", (server, hid, cls))

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        server, hid, _ = object.__getattribute__(self, "_p11")
        value, is_method = server.callback(kind="getattr", handle=hid, name=name)
        if is_method:
            return lambda *a, **k: server.callback(kind="method", handle=hid, name=name, args=a, kwargs=k)[0]
        return value

    def __setattr__(self, name, value):
        raise AttributeError(f"objects that stay with the grader cannot be changed here ({name})")

    def __repr__(self):
        return f"<{object.__getattribute__(self, '_p11')[2]} (kept by the grader)>"


class JudgeClass:
    """A class whose instances stay with the judge (the course's reference, e.g. lab 04's cache)."""

    def __init__(self, server, module, name):
        self._p11 = (server, module, name)
        self.__name__ = name

    def __call__(self, *args, **kwargs):
        server, module, name = self._p11
        return server.callback(kind="new", module=module, name=name, args=args, kwargs=kwargs)[0]


def describe(e: BaseException) -> dict:
    """An exception as data: its type's lineage, its args where they are data, its message, a traceback."""
    frames = [f for f in traceback.extract_tb(e.__traceback__)
              if not f.filename.startswith((HERE, "<frozen", IMPORTLIB))]
    tb = "".join(traceback.format_list(frames[-12:]))
    try:
        args = list(e.args) if all(type(a) in (str, int, float, bool, type(None)) for a in e.args) else None
    except Exception:                # noqa: BLE001 - a hostile args property
        args = None
    try:
        msg = str(e)
    except Exception:                # noqa: BLE001
        msg = "<unprintable>"
    if isinstance(e, SyntaxError) and e.filename:
        tb += f'  File "{e.filename}", line {e.lineno}\n    {(e.text or "").rstrip()}\n'
        msg = f"{e.msg} ({e.filename}, line {e.lineno})"
    return {"types": [c.__name__ for c in type(e).__mro__][:12], "module": type(e).__module__,
            "args": args, "msg": msg[:4000], "tb": tb[-6000:]}


def rebuild_error(err: dict) -> BaseException:
    """The judge's errors seen from here: plain built-ins where the type is one, else RuntimeError."""
    import builtins

    for name in err.get("types", []):
        cls = getattr(builtins, str(name), None)
        if isinstance(cls, type) and issubclass(cls, Exception):
            return cls(*(err.get("args") or [err.get("msg", "")]))
    return RuntimeError(err.get("msg", ""))


# Libraries the sandbox may import before the hello, while the judge starts up too (a lab whose
# modules import torch spends most of its start-up there). Trusted code, imported before any of
# the student's; the student's module would import them anyway. The judge asks (grader/judge/jail.py).
PRELOAD = ("torch", "numpy")


def main(argv: list[str]) -> int:
    for name in argv[3:]:               # the judge's own start-up runs meanwhile
        if name in PRELOAD:
            importlib.import_module(name)
    Server(int(argv[1]), int(argv[2])).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
