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
from grader.sandbox.track_hooks import JudgeTracker

HELLO_S = 120          # start-up: a fresh Python, torch and the student's module imported
PRINTED_CHARS = 16000  # of the student's prints kept per test
MAX_STARTS = 6         # sandboxes one lab may start: the first, and a restart after each timeout or crash
WATCH_S = 0.5          # how often the memory watchdog looks, where no control group caps the sandbox

# Exceptions that keep their type on the way out of the sandbox (tests use pytest.raises on these).
PASSED_THROUGH = ("ValueError", "TypeError", "KeyError", "IndexError", "LookupError", "AttributeError",
                  "RuntimeError", "NotImplementedError", "ZeroDivisionError", "ArithmeticError",
                  "OverflowError", "FloatingPointError", "AssertionError", "MemoryError", "RecursionError",
                  "FileNotFoundError", "OSError", "UnicodeError")


class SandboxError(Exception):
    """Something went wrong with the student's code as a whole; always fails the test.

    ``category`` is what a hidden test may show: it never holds text the student's code chose
    (an exception's message, a class name of theirs, an exit code), only what kind of failure it was.
    """

    category = "your code failed in the sandbox"

    def __init__(self, message: str, category: str | None = None):
        super().__init__(message)
        if category is not None:
            self.category = category


class SandboxTimeout(SandboxError):
    def __init__(self, message: str):
        super().__init__(message, message)          # the clock's own words: no student text


class SandboxCrash(SandboxError):
    category = "your code crashed or ended the sandbox process"


class SandboxProtocolError(SandboxError):
    category = "the sandbox answered with something that is not data"


class StudentCodeError(SandboxError):
    """The student's code raised a type the tests do not expect (SystemExit, a class of their own...)."""


class ModuleLoadError(SandboxError):
    """The student's module could not be imported in the sandbox (raised afresh for every test, so
    tracebacks do not pile up)."""

    category = "your module could not be loaded (the public tests show why)"


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
    the sandbox, each of the student's functions ``function_s`` over the whole lab, and the lab
    ``lab_s`` (calls and sandbox start-ups together). Time the judge spends between calls
    (pytest, the tests' own reference code) is not the student's and is not counted, so every
    "timed out" really is the student's code, on an idle machine or a busy one. Start-ups are
    charged to the lab, not to the test that happened to need one.

    Containment: one function stuck in a loop uses up its own ``function_s`` (two test
    timeouts) and then fails at once in its other tests, so it cannot spend the time the lab's
    other functions need."""

    def __init__(self, test_s: float, lab_s: float, function_s: float | None = None):
        self.test_s, self.lab_s = test_s, lab_s
        self.default_test_s = test_s
        self.function_s = function_s if function_s is not None else lab_s
        self.in_test = False
        self.test_spent = 0.0
        self.spent = 0.0
        self.by_function: dict[str, float] = {}

    def start_test(self, test_s: float | None = None) -> None:
        """A test starts; ``test_s``: its own limit (grader/grading/time_limits.py), else the lab's."""
        self.in_test, self.test_spent = True, 0.0
        self.test_s = test_s if test_s is not None else self.default_test_s

    def started(self, seconds: float) -> None:
        """A (re)start of the sandbox took ``seconds``: the lab's time, not the test's."""
        self.spent += seconds

    def add(self, seconds: float, function: str = "") -> None:
        """A call into the sandbox (of ``function``) took ``seconds``."""
        self.spent += seconds
        self.test_spent += seconds
        self.by_function[function] = self.by_function.get(function, 0.0) + seconds

    def lab_left(self) -> float:
        return max(self.lab_s - self.spent, 0.0)

    def lab_deadline(self) -> float:
        return time.monotonic() + self.lab_left()

    def deadline(self, function: str = "") -> tuple[float, str]:
        now = time.monotonic()
        limits = [(self.lab_left(), f"the lab's time budget ({self.lab_s:g} s in the sandbox, start-ups included) "
                                    "is used up"),
                  (max(self.function_s - self.by_function.get(function, 0.0), 0.0),
                   f"{function}() has used up its time in this lab ({self.function_s:g} s in all; an endless "
                   "loop?)")]
        if self.in_test:
            limits.append((max(self.test_s - self.test_spent, 0.0), f"timed out after {self.test_s:g} s"))
        left, why = min(limits, key=lambda x: x[0])
        return now + left, why


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
        self.load_error_text: str | None = None     # set once the module cannot be loaded: no more starts
        self.load_error_note = ""
        self.load_error_category: str | None = None  # where the reason holds no text the student's code chose
        self.unloaded: dict[str, tuple[str, str]] = {}  # module key -> (why, traceback): only its calls fail
        self.starts = 0
        self.ids = itertools.count(1)
        self.objects: dict[int, object] = {}        # handles we gave out (objects that stay here)
        self.obj_ids = itertools.count(1)
        self.remote_factory = None                  # (class name, handle id, generation) -> stand-in
        self.tracker = JudgeTracker()
        self.codec = wire.Codec("j", judge_codec_types, local=self._local, remote=self._remote,
                                own=self._own, tracked=self.tracker)
        self.failed: str | None = None              # set when a sandbox failure hit the current test
        self.failed_category: str | None = None     # ... and what a hidden test may say about it
        self.sandboxed: bool | None = None
        self.why_not = ""
        self.memory_note = ""                       # how the sandbox's memory is capped, where it is weaker
        self.paths: dict[str, str] = {}             # sandbox path -> the path the student knows
        self.on_start = None                        # called (starting: bool) around each sandbox start-up
        self.early_since: float | None = None      # start_early's time, until its hello is answered
        self.hello_sent = False
        self.printed = ""                           # what the student's code printed in the current test
        self.last_called = ""                       # the student's function or method the test called last
        self.changed_inputs: list[str] = []          # arguments the student's code changed in place, this test

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

    def _load_error(self) -> ModuleLoadError:
        exc = ModuleLoadError(self.load_error_text, self.load_error_category)
        if self.load_error_note:
            exc.add_note(self.load_error_note)
        self._mark(exc)
        return exc

    def _mark(self, exc: SandboxError) -> None:
        if self.failed is None:
            self.failed, self.failed_category = str(exc).splitlines()[0] if str(exc) else "", exc.category

    def start_early(self) -> None:
        """Start the first sandbox now, before the judge builds its proxies and collects its tests:
        its Python and any library the lab preloads (torch, for lab 01) start up while the judge
        does the same. ``send_hello`` sends the hello once it is known; the first call waits for
        the answer (``_ensure``), and only that wait is charged to the lab. Only where a control
        group caps the sandbox's memory: the fallback watchdog looks only while the judge waits,
        and it must see a start-up from its first moment."""
        if self.load_error_text is not None or self.jail is not None or self.starts:
            return
        try:
            jail = self.start_jail()
        except Exception:                 # _ensure starts one at the first call and says why it fails
            return
        if getattr(jail, "watchdog", False):
            jail.close()
            return
        self.starts = 1
        self._adopt(jail)
        self.early_since = time.monotonic()

    def send_hello(self) -> None:
        """The hello to an early sandbox, as soon as ``self.hello`` is complete."""
        if self.jail is None or self.early_since is None or self.hello_sent:
            return
        self.hello_sent = True
        try:
            wire.send(self.jail.fd_out, {"op": "hello", "id": 0, **self.hello}, self.codec)
        except OSError:
            pass                          # it died already: the first call's wait reports how

    def _adopt(self, jail) -> None:
        self.jail, self.hello_sent = jail, False
        self.sandboxed, self.why_not, self.memory_note = jail.sandboxed, jail.why, jail.memory_note
        self.generation += 1

    def _ensure(self):
        """Start the sandbox if none runs (or finish an early start). Start-up time is charged to
        the lab's budget, and a lab may start at most MAX_STARTS sandboxes: a module that is slow
        to import or dies in every call cannot keep the grader busy for long. The start-up limit
        counts from the sandbox's spawn."""
        __tracebackhide__ = True
        if self.load_error_text is not None:
            raise self._load_error()
        if self.jail is not None and self.early_since is None:
            return
        if self.jail is None:
            if self.starts >= MAX_STARTS:
                self.load_error_text = self.load_error_category = (
                    f"the sandbox was started {self.starts} times in this lab (each timeout or crash needs a new "
                    "one); the lab's remaining tests are not run")
                raise self._load_error()
            self.starts += 1
        if self.on_start is not None:
            self.on_start(True)          # starting: the parent's watchdog allows a start-up's time
        t0 = time.monotonic()
        try:
            if self.jail is None:
                self._adopt(self.start_jail())
                spawned = t0
            else:
                spawned, self.early_since = self.early_since, None
            lab_deadline = self.clock.lab_deadline()
            self._hello(min(spawned + HELLO_S, lab_deadline), lab_bound=lab_deadline <= spawned + HELLO_S,
                        sent=self.hello_sent)
        finally:
            self.clock.started(time.monotonic() - t0)
            if self.on_start is not None:
                self.on_start(False)     # started: the parent's watchdog counts the test from here

    def _hello(self, deadline: float, lab_bound: bool = False, sent: bool = False) -> None:
        """``lab_bound``: the deadline is the lab's remaining budget (not the start-up limit).
        ``sent``: the hello went out already (``start_early``)."""
        __tracebackhide__ = True
        try:
            if not sent:
                wire.send(self.jail.fd_out, {"op": "hello", "id": 0, **self.hello}, self.codec)
            doc, tensors = self._receive(deadline)
        except (wire.Closed, wire.Deadline, wire.WireError, OSError, SandboxCrash) as e:
            tail = self.jail.output_tail()
            if isinstance(e, SandboxCrash):
                why = str(e)
            else:
                why = describe_exit(None if isinstance(e, wire.Deadline) else self.jail.exit_code())
            if isinstance(e, wire.Deadline) and lab_bound:
                why = f"the lab's time budget ({self.clock.lab_s:g} s in the sandbox, start-ups included) ran out while it started"
            self._drop()
            self.load_error_text = f"the sandbox did not start ({why})" + (f":\n{tail}" if tail else "")
            raise self._load_error() from None
        if "err" in doc:
            err = doc["err"]
            self._drop()
            self.load_error_text = self._local_paths(f"your module could not be imported: "
                                                     f"{err['types'][0]}: {err['msg']}")
            self.load_error_note = self._local_paths(err.get("tb") or "")
            raise self._load_error()
        try:
            answer = self.codec.decode(doc.get("ok"), tensors)
            self.unloaded = {str(key): (f"{err['types'][0]}: {err['msg']}", str(err.get("tb") or ""))
                             for key, err in (answer.get("unloaded") or {}).items()}
        except (wire.WireError, TypeError, ValueError, IndexError, KeyError, AttributeError) as e:
            self._drop()
            self.load_error_text = self.load_error_category = f"the sandbox's hello cannot be read: {type(e).__name__}"
            raise self._load_error() from None

    def _unloaded_error(self, module: str) -> ModuleLoadError:
        """A call into one of the lab's modules that did not import (raised afresh for each test)."""
        why, tb = self.unloaded[module]
        file = module.rsplit(".", 1)[-1] + ".py"
        exc = ModuleLoadError(self._local_paths(f"your {file} could not be imported: {why}"),
                              f"your {file} could not be loaded (the public tests show why)")
        if tb:
            exc.add_note(self._local_paths(tb))
        self._mark(exc)
        return exc

    def _receive(self, deadline: float):
        """One frame from the sandbox before ``deadline``; where no control group caps the sandbox's
        memory, the watchdog looks every WATCH_S while we wait."""
        if not getattr(self.jail, "watchdog", False):
            return wire.receive(self.jail.reader, deadline)
        while True:
            try:
                return wire.receive(self.jail.reader, min(deadline, time.monotonic() + WATCH_S))
            except wire.Deadline:
                if self.jail.over_memory():
                    self.jail.kill()
                    raise SandboxCrash(f"your code crashed the sandbox process: killed, all its processes together "
                                       f"passed the memory cap ({self.jail.memory_mb} MiB)") from None
                if time.monotonic() >= deadline:
                    raise

    def _drop(self):
        if self.jail is not None:
            self.jail.close()
            self.jail = None

    def close(self):
        self._drop()

    def _fail(self, exc: SandboxError, kill: bool = True) -> SandboxError:
        self._mark(exc)
        if kill:
            self._drop()
        return exc

    # --- one call -----------------------------------------------------------------------------
    def request(self, op: str, name: str, args=(), kwargs=None, handle=None, module: str | None = None):
        """Run ``op`` (call / new / method / getattr) in the sandbox; returns (value, is_method).
        ``module``: the lab module (key) a function or class of a call / new belongs to."""
        __tracebackhide__ = True
        self._ensure()
        function = name if op != "batch" else "calls"
        self.last_called = name
        if module in self.unloaded:
            raise self._unloaded_error(module)
        deadline, why = self.clock.deadline(function)
        if deadline <= time.monotonic():
            raise self._fail(SandboxTimeout(why), kill=False)
        rid = next(self.ids)
        args, kwargs = list(args), dict(kwargs or {})
        sent: list = []
        doc = {"op": op, "id": rid, "name": name}
        if module is not None:
            doc["module"] = module
        if handle is not None:
            doc["handle"] = handle
        refs: list = []                 # what we send, in order: the answer may name these back
        self.codec.record = refs
        try:
            if op == "batch" and not kwargs and wire.plain_script(args):
                doc["script"], doc["args"] = args, ["l", []]          # bare JSON: no walk either side
            else:
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
                reply, tensors = self._receive(deadline)
                if reply.get("op") == "cb":
                    self._callback(reply, tensors)
                    continue
                if reply.get("re") == rid:
                    self._keep_printed(reply.get("out"))
                    changed = reply.get("changed")
                    if isinstance(changed, list):
                        self.changed_inputs += [f"{name}(): {c}" for c in changed if type(c) is str][:20]
                    break
            self.clock.add(time.monotonic() - t0, function)
            t0 = None
            return self._result(reply, tensors, name)
        except wire.Deadline:
            raise self._fail(SandboxTimeout(why)) from None
        except SandboxCrash as exc:
            raise self._fail(exc) from None
        except wire.Closed:
            rc = self.jail.exit_code()
            tail = self.jail.output_tail(600)
            exc = SandboxCrash(describe_exit(rc))
            if self.jail.hit_memory_cap():
                exc = SandboxCrash(f"your code crashed the sandbox process: killed, all its processes together "
                                   f"passed the memory cap ({self.jail.memory_mb} MiB)")
            if tail.strip():
                exc.add_note("its last output:\n" + tail)
            raise self._fail(exc) from None
        except wire.WireError as e:
            raise self._fail(SandboxProtocolError(f"the sandbox answered with something that is not data: {e}")) \
                from None
        finally:
            if t0 is not None:
                self.clock.add(time.monotonic() - t0, function)
            self.codec.back = outer_back

    def _keep_printed(self, out) -> None:
        if type(out) is str and out and len(self.printed) < PRINTED_CHARS:
            self.printed = (self.printed + out)[:PRINTED_CHARS]

    def _result(self, reply, tensors, name):
        """The call's return value, decoded. Nothing is ever written back into the test's own
        objects: the sandbox worked on copies, and a test asserts only on what came back."""
        __tracebackhide__ = True
        if "err" in reply:
            raise self._error(reply["err"], name)
        try:
            self.tracker.merge({int(k): v for k, v in (reply.get("logs") or {}).items()})
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
                               "number, a string, a list/tuple/dict of those, or one of the lab's own types",
                               f"{name}() returned a value that cannot reach the grader")
            self._mark(exc)
        elif types[0] in self.exceptions:
            exc = self.exceptions[types[0]](*args)
        else:
            cls = next((getattr(builtins, t) for t in types if t in PASSED_THROUGH), None)
            if cls is not None:
                exc = cls(*args)
            else:
                what = {"KeyboardInterrupt": " (interrupted)", "SystemExit": " (it tried to exit)"}.get(types[0], "")
                builtin = isinstance(getattr(builtins, types[0], None), type)
                exc = StudentCodeError(f"your code raised {types[0]}{what}: {msg}",
                                       f"your code raised {types[0]}{what}" if builtin
                                       else "your code raised an exception of a class of its own")
                self._mark(exc)
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


__all__ = ["Client", "Clock", "SandboxError", "SandboxTimeout", "SandboxCrash", "StudentCodeError",
           "ModuleLoadError", "Path"]
