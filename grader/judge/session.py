"""One lab's judging session: the proxy modules the tests import and the sandbox behind them.

``Session(lab, impl_root)`` puts each of the lab's ``<lab>.<module>`` into ``sys.modules`` as a
proxy (proxy.py), in the lab's order (a later module may import an earlier one), whose student
parts run in one sandbox (jail.py) holding a private copy of ``impl_root/<lab>/``.
Nothing here imports the student's code. A lab whose code imports another lab's module
(lab 02 replays through lab 04's cache) gets that module as follows: where this copy of the
course has the reference solution, its classes stay here with the judge and the sandbox gets
handles (the student's lab 02 is graded on its own, and never sees the reference's source);
otherwise the sandbox gets the student's own module of that lab, and a note says so.
"""
from __future__ import annotations

import ast
from pathlib import Path

from grader.grading import time_limits
from grader.judge import proxy, reference
from grader.judge.client import Client, Clock
from grader.judge.jail import Jail, Stage
from grader.labs import ROOT, Lab, get
from grader.sandbox.server import PRELOAD
from grader.judge.submission_files import UnsafeSubmission

LAB_BUDGET_FACTOR = 4        # the whole lab may spend this many per-test timeouts in the sandbox
FUNCTION_BUDGET_FACTOR = 2   # ... and any one of the student's functions this many of the lab's longest test limit


def _preload(declared_source: str) -> set[str]:
    """The libraries a lab module imports that the sandbox may load before the hello (PRELOAD in grader/sandbox/server.py)."""
    found = set()
    for node in ast.walk(ast.parse(declared_source)):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found & set(PRELOAD)


class Session:
    def __init__(self, lab: Lab, impl_root: Path, sandbox: bool = True, early: bool = False):
        """``early``: start the sandbox at once (the judge's worker), not at the first call."""
        self.lab, self.impl = lab, Path(impl_root)
        self.notes: list[str] = []
        self.limits = time_limits.limits(lab)          # per-test limits from the reference's recorded times
        longest = max(self.limits.values(), default=lab.timeout_s)
        self.clock = Clock(lab.timeout_s, lab.timeout_s * LAB_BUDGET_FACTOR, longest * FUNCTION_BUDGET_FACTOR)
        packages = [(self.impl / lab.name, lab.name)]
        judge_modules, hello_judge, types = {}, {}, {}
        data_names = {}
        for dep_name in lab.uses:
            dep = get(dep_name)
            refs = {m: reference.load(dep, m) for m in dep.modules}
            if all(ref is not None for ref in refs.values()):
                packages.append((dep.declared_path(dep.modules[0], ROOT).parent, dep.name))
                kept = []
                for m, ref in refs.items():
                    dep_key = f"{dep.name}.{m}"
                    funcs, classes = proxy.todo_names(dep.declared_path(m, ROOT).read_text())
                    if classes:              # the student's code makes these; they stay here, run by the reference
                        judge_modules[dep_key] = ref
                        hello_judge[dep_key] = sorted(classes)
                        proxy._JUDGE_LOCAL.update(getattr(ref, c) for c in classes)
                        kept += [f"{m}.{c}" for c in sorted(classes)]
                    for key, cls in proxy.data_types(ref).items():
                        types[(dep_key, key[1])] = cls
                    data_names[dep_key] = [k[1] for k in proxy.data_types(ref)]
                self.notes.append(f"{lab.short} runs with the course's reference {dep.short} "
                                  f"({', '.join(kept)}), not yours: labs are graded apart")
            else:
                packages.append((self.impl / dep.name, dep.name))
                self.notes.append(f"{lab.short} runs with your own {dep.short} module (this copy of the course "
                                  f"has no reference): a bug there can cost {lab.short} points")
        data = [(lab.base / p, p.removeprefix("labs/")) for p in lab.data]
        self.stage, why = None, ""
        try:
            self.stage = Stage(packages, data)
        except (UnsafeSubmission, OSError) as e:
            why = str(e) if isinstance(e, UnsafeSubmission) else f"{type(e).__name__}: {e}"
        preload = tuple(sorted(set().union(*(_preload(lab.declared_path(m).read_text()) for m in lab.modules))))
        self.client = Client(lambda: Jail(self.stage, lab.memory_mb, sandbox=sandbox, preload=preload),
                             hello={}, judge_codec_types=types, clock=self.clock, judge_modules=judge_modules)
        if self.stage is not None and early:
            self.client.start_early()        # the sandbox starts up while the judge does (client.start_early)
        if self.stage is None:           # one reason for the whole lab; no sandbox is ever started
            # file names were chosen before grading, never by running code: hidden tests may show them
            self.client.load_error_text = self.client.load_error_category = f"your files could not be loaded: {why}"
        self.client.paths = {"/p11/impl/": f"{self.impl}/"}
        self.modules, remote, exceptions = {}, {}, {}
        for module in lab.modules:          # in order: a later module may import an earlier one
            modkey = f"{lab.name}.{module}"
            mod, classes = proxy.build(self.client, lab.declared_path(module), modkey)
            self.modules[modkey] = mod
            remote.update(classes)
            exceptions.update(proxy.exception_types(mod))
            types.update(proxy.data_types(mod))
            data_names[modkey] = [k[1] for k in proxy.data_types(mod)]
        self.client.codec.types = types
        self.client.codec.names = {cls: key for key, cls in types.items()}
        self.client.exceptions = exceptions
        self.client.remote_factory = proxy.make_stand_in(remote)
        self.client.hello = {"modules": list(self.modules), "remote_classes": sorted(remote),
                             "judge_modules": hello_judge, "data_types": data_names}
        self.client.send_hello()

    def sandbox_note(self) -> str:
        if self.client.sandboxed is False:
            return f"not sandboxed: {self.client.why_not}"
        return self.client.memory_note

    def close(self) -> None:
        self.client.close()
        if self.stage is not None:
            self.stage.close()
