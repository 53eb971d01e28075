"""The judge's end of the wire: calls into the sandbox, with deadlines kept by the clock.

A call waits for its answer until the current test's deadline (or the lab's whole budget)
passes, however the bytes trickle in; then the sandbox is killed and the call raises
``SandboxTimeout``. A sandbox that dies raises ``SandboxCrash``; an answer that is not data,
``SandboxProtocolError``. The next call starts a fresh sandbox. Exceptions the student's code
raised come back as the same built-in type (or the lab's own declared exception type) with the
same message; any other type arrives as ``StudentCodeError`` naming it.
"""
from __future__ import annotations

import builtins
import itertools
import signal
import time
from pathlib import Path

from grader.sandbox import wire
from grader.sandbox.server import describe
from grader.sandbox.tracking import JudgeTracker

HELLO_S = 120          # start-up: a fresh Python, torch and the student's module imported

# Exceptions that keep their type on the way out of the sandbox (tests use pytest.raises on these).
PASSED_THROUGH = ("ValueError", "TypeError", "KeyError", "IndexError", "LookupError", "AttributeError",
                  "RuntimeError", "NotImplementedError", "ZeroDivisionError", "ArithmeticError",
                  "OverflowError", "FloatingPointError", "AssertionError", "MemoryError", "RecursionError",
                  "FileNotFoundError", "OSError", "UnicodeError")


class SandboxError(Exception):
    """Something went wrong with the student's code as a whole; always fails the test."""


class SandboxTimeout(SandboxError):
    pass


class SandboxCrash(SandboxError):
    pass


class SandboxProtocolError(SandboxError):
    pass


class StudentCodeError(SandboxError):
    """The student's code raised a type the tests do not expect (SystemExit, a class of their own...)."""


class ModuleLoadError(SandboxError):
    """The student's module could not be imported in the sandbox."""


def describe_exit(rc: int | None) -> str:
    if rc is None:
        return "the sandbox stopped answering"
    if rc > 128 and rc - 128 in signal.valid_signals():
        rc = -(rc - 128)                # bubblewrap passes its child's death by signal on as 128 + signal
    if rc < 0:
        sig = signal.Signals(-rc)
        why = {signal.SIGSEGV: "a segmentation fault", signal.SIGKILL: "killed (memory cap?)",
               signal.SIGABRT: "aborted", signal.SIGBUS: "a bus error", signal.SIGXFSZ: "a file past the size cap"
               }.get(sig, sig.name)
        return f"your code crashed the sandbox process: {why}"
    if rc == 0:
        return "your code ended the sandbox process: it exited with code 0 (os._exit?)"
    return f"your code ended the sandbox process: it exited with code {rc} (sys.exit/os._exit?)"


class Clock:
    """Deadlines in the sandbox's time: each test may spend ``test_s`` seconds inside calls into
    the sandbox, the whole lab ``lab_s``. Time the judge spends between calls (pytest, the tests'
    own reference code, starting a sandbox) is not the student's and is not counted, so every
    "timed out" really is ``test_s`` of the student's code, on an idle machine or a busy one."""

    def __init__(self, test_s: float, lab_s: float):
        self.test_s, self.lab_s = test_s, lab_s
        self.in_test = False
        self.test_spent = 0.0
        self.spent = 0.0

    def start_test(self) -> None:
        self.in_test, self.test_spent = True, 0.0

    def started(self, seconds: float) -> None:
        """A (re)start of the sandbox took ``seconds``: outside any call, so nothing to give back."""

    def add(self, seconds: float) -> None:
        """A call into the sandbox took ``seconds``."""
        self.spent += seconds
        self.test_spent += seconds

    def deadline(self) -> tuple[float, str]:
        left_lab = self.lab_s - self.spent
        now = time.monotonic()
        if self.in_test and self.test_s - self.test_spent <= left_lab:
            return now + max(self.test_s - self.test_spent, 0.0), f"timed out after {self.test_s:g} s"
        return now + max(left_lab, 0.0), f"the lab's time budget ({self.lab_s:g} s in the sandbox) is used up"


class Client:
    """Calls into one lab's sandbox; (re)starts it on demand."""

    def __init__(self, start_jail, hello: dict, judge_codec_types: dict, clock: Clock, judge_modules=None,
                 exceptions: dict | None = None):
        self.start_jail = start_jail                # () -> Jail
        self.hello = hello
        self.clock = clock
        self.judge_modules = judge_modules or {}    # module key -> module whose classes live here
        self.exceptions = exceptions or {}          # class name -> the lab's declared exception type
        self.jail = None
        self.generation = 0
        self.load_error: ModuleLoadError | None = None
        self.ids = itertools.count(1)
        self.objects: dict[int, object] = {}        # handles we gave out (objects that stay here)
        self.obj_ids = itertools.count(1)
        self.remote_factory = None                  # (class name, handle id, generation) -> stand-in
        self.tracker = JudgeTracker()
        self.codec = wire.Codec("j", judge_codec_types, local=self._local, remote=self._remote,
                                own=self._own, tracked=self.tracker)
        self.failed: str | None = None              # set when a sandbox failure hit the current test
        self.sandboxed: bool | None = None
        self.why_not = ""
        self.paths: dict[str, str] = {}             # sandbox path -> the path the student knows

    # --- handles ------------------------------------------------------------------------------
    def _local(self, obj):
        from grader.judge.proxy import RemoteObject, judge_local_class

        if isinstance(obj, RemoteObject):
            gen, hid, cls = object.__getattribute__(obj, "_p11")
            if gen != self.generation:
                raise SandboxError(f"this {cls} lived in a sandbox that was restarted (after a timeout or a "
                                   "crash); make a new one")
            return "s", hid, cls
        if judge_local_class(type(obj)):
            hid = next(self.obj_ids)
            self.objects[hid] = obj
            return "j", hid, type(obj).__name__
        return None

    def _own(self, hid):
        if hid not in self.objects:
            raise wire.WireError(f"no judge object {hid}")
        return self.objects[hid]

    def _remote(self, side, hid, cls):
        return self.remote_factory(cls, hid, self.generation)

    # --- the sandbox's life ---------------------------------------------------------------------
    def _local_paths(self, text: str) -> str:
        for inside, outside in self.paths.items():
            text = text.replace(inside, outside)
        return text

    def _ensure(self):
        __tracebackhide__ = True
        if self.load_error is not None:
            self.failed = self.failed or str(self.load_error)
            raise self.load_error
        if self.jail is not None:
            return
        self.jail = self.start_jail()
        self.sandboxed, self.why_not = self.jail.sandboxed, self.jail.why
        self.generation += 1
        try:
            wire.send(self.jail.fd_out, {"op": "hello", "id": 0, **self.hello}, self.codec)
            doc, tensors = wire.receive(self.jail.reader, time.monotonic() + HELLO_S)
        except (wire.Closed, wire.Deadline, wire.WireError, OSError) as e:
            tail = self.jail.output_tail()
            rc = None if isinstance(e, wire.Deadline) else self.jail.exit_code()
            self._drop()
            msg = f"the sandbox did not start ({describe_exit(rc)})" + (f":\n{tail}" if tail else "")
            self.load_error = ModuleLoadError(msg)
            self.failed = self.failed or msg.splitlines()[0]
            raise self.load_error from None
        if "err" in doc:
            err = doc["err"]
            self._drop()
            self.load_error = ModuleLoadError(self._local_paths(f"your module could not be imported: "
                                                                f"{err['types'][0]}: {err['msg']}"))
            if err.get("tb"):
                self.load_error.add_note(self._local_paths(err["tb"]))
        if self.load_error is not None:
            self.failed = self.failed or str(self.load_error)
            raise self.load_error

    def _drop(self):
        if self.jail is not None:
            self.jail.close()
            self.jail = None

    def close(self):
        self._drop()

    def _fail(self, exc: SandboxError, kill: bool = True) -> SandboxError:
        self.failed = self.failed or str(exc)
        if kill:
            self._drop()
        return exc

    # --- one call -----------------------------------------------------------------------------
    def request(self, op: str, name: str, args=(), kwargs=None, handle=None):
        """Run ``op`` (call / new / method / getattr) in the sandbox; returns (value, is_method)."""
        __tracebackhide__ = True
        if self.jail is None:
            t_start = time.monotonic()
            self._ensure()
            self.clock.started(time.monotonic() - t_start)       # start-up is not the test's time
        self._ensure()
        deadline, why = self.clock.deadline()
        if deadline <= time.monotonic():
            raise self._fail(SandboxTimeout(why), kill=False)
        rid = next(self.ids)
        args, kwargs = list(args), dict(kwargs or {})
        sent: list = []
        doc = {"op": op, "id": rid, "name": name}
        if handle is not None:
            doc["handle"] = handle
        refs: list = []                 # what we send, in order: the answer may name these back
        self.codec.record = refs
        try:
            doc["args"] = self.codec.encode(args, sent)[0]
            doc["kwargs"] = self.codec.encode(kwargs, sent)[0]
        except wire.Unsendable as e:
            raise SandboxError(f"cannot pass {e} into your code (only data crosses to the sandbox)") from None
        finally:
            self.codec.record = None
        outer_back, self.codec.back = self.codec.back, refs
        meta, blobs = wire.pack_tensors(sent)
        doc["tensors"] = meta
        t0 = time.monotonic()
        try:
            try:
                wire.write_frame(self.jail.fd_out, doc, blobs)
            except OSError:
                raise wire.Closed() from None
            while True:
                reply, tensors = wire.receive(self.jail.reader, deadline)
                if reply.get("op") == "cb":
                    self._callback(reply, tensors)
                    continue
                if reply.get("re") == rid:
                    break
            self.clock.add(time.monotonic() - t0)
            t0 = None
            return self._result(reply, tensors, args, sent, name)
        except wire.Deadline:
            raise self._fail(SandboxTimeout(why)) from None
        except wire.Closed:
            rc = self.jail.exit_code()
            tail = self.jail.output_tail(600)
            exc = SandboxCrash(describe_exit(rc))
            if tail.strip():
                exc.add_note("its last output:\n" + tail)
            raise self._fail(exc) from None
        except wire.WireError as e:
            raise self._fail(SandboxProtocolError(f"the sandbox answered with something that is not data: {e}")) \
                from None
        finally:
            if t0 is not None:
                self.clock.add(time.monotonic() - t0)
            self.codec.back = outer_back

    def _result(self, reply, tensors, args, sent, name):
        __tracebackhide__ = True
        if "err" in reply:
            raise self._error(reply["err"], name)
        try:
            self.tracker.merge({int(k): v for k, v in (reply.get("logs") or {}).items()})
            for i, new in self.codec.decode(reply.get("mutated", ["l", []]), tensors):
                _copy_into(sent[i], new)
            for i, new in self.codec.decode(reply.get("changed", ["l", []]), tensors):
                _replace_contents(args[i], new)
            value = self.codec.decode(reply.get("ok"), tensors)
        except (wire.WireError, TypeError, ValueError, IndexError, KeyError) as e:
            raise self._fail(SandboxProtocolError(f"{name}: the sandbox's answer cannot be read: {e}"),
                             kill=False) from None
        return value, bool(reply.get("method"))

    def _error(self, err: dict, name: str) -> BaseException:
        types = [str(t) for t in err.get("types", [])] or ["Exception"]
        msg = str(err.get("msg", ""))
        args = err.get("args")
        args = args if isinstance(args, list) and all(type(a) in (str, int, float, bool, type(None)) for a in args) \
            else [msg]
        if types[0] == "Unsendable":
            exc = SandboxError(f"{name}() returned {msg}, which cannot reach the grader: return a tensor, a "
                               "number, a string, a list/tuple/dict of those, or one of the lab's own types")
            self.failed = self.failed or str(exc)
        elif types[0] in self.exceptions:
            exc = self.exceptions[types[0]](*args)
        else:
            cls = next((getattr(builtins, t) for t in types if t in PASSED_THROUGH), None)
            if cls is not None:
                exc = cls(*args)
            else:
                what = {"KeyboardInterrupt": " (interrupted)", "SystemExit": " (it tried to exit)"}.get(types[0], "")
                exc = StudentCodeError(f"your code raised {types[0]}{what}: {msg}")
                self.failed = self.failed or str(exc)
        tb = self._local_paths(str(err.get("tb", "")))
        if tb:
            exc.add_note(f"raised in your code (in the sandbox):\n{tb}")
        return exc

    # --- the sandbox asks us ----------------------------------------------------------------
    def _callback(self, doc, tensors):
        rid = doc.get("id")
        try:
            kind, name = doc.get("kind"), doc.get("name")
            if type(name) is not str or name.startswith("_"):
                raise AttributeError(f"no public attribute {name!r}")
            args = self.codec.decode(doc.get("args", ["l", []]), tensors)
            kwargs = self.codec.decode(doc.get("kwargs", ["d", []]), tensors)
            if type(args) is not list or type(kwargs) is not dict or not all(type(k) is str for k in kwargs):
                raise wire.WireError("bad callback arguments")
            is_method = False
            if kind == "new":
                mod = self.judge_modules.get(doc.get("module"))
                cls = getattr(mod, name, None) if mod is not None else None
                if not isinstance(cls, type):
                    raise AttributeError(f"the grader keeps no class {name}")
                value = cls(*args, **kwargs)
            else:
                obj = self._own(doc.get("handle"))
                attr = getattr(obj, name)
                if kind == "getattr":
                    is_method = callable(attr) and not isinstance(attr, type)
                    value = None if is_method else attr
                elif kind == "method":
                    value = attr(*args, **kwargs)
                else:
                    raise wire.WireError(f"unknown callback {kind!r}")
            wire.send(self.jail.fd_out, {"re": rid, "method": is_method}, self.codec, ok=value)
        except Exception as e:          # noqa: BLE001 - handed back to the student's code as data
            wire.send(self.jail.fd_out, {"re": rid, "err": describe(e)}, self.codec)


def _copy_into(orig, new) -> None:
    import torch

    if not isinstance(orig, torch.Tensor) or not isinstance(new, torch.Tensor):
        return
    with torch.no_grad():
        if orig.shape != new.shape:
            orig.resize_(new.shape)
        orig.copy_(new.to(orig.dtype))


def _replace_contents(orig, new) -> None:
    import collections

    if isinstance(orig, list) and isinstance(new, list):
        orig[:] = new
    elif isinstance(orig, collections.deque) and isinstance(new, collections.deque):
        orig.clear()
        orig.extend(new)
    elif isinstance(orig, dict) and isinstance(new, dict):
        orig.clear()
        orig.update(new)
    elif isinstance(orig, set) and isinstance(new, set):
        orig.clear()
        orig.update(new)


__all__ = ["Client", "Clock", "SandboxError", "SandboxTimeout", "SandboxCrash", "StudentCodeError",
           "ModuleLoadError", "Path"]
