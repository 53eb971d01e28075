"""The wire's hooks for tensors tracked by a ProductLog (tracking.py), on both sides.

Kept apart from tracking.py, which needs torch: a judge or sandbox that never sees a tensor
(labs 02-04) never imports it.
"""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from grader.sandbox.tracking import ProductLog


class JudgeTracker:
    """The judge's wire hook: marks tracked tensors with (log key, label); collects their logs."""

    def __init__(self):
        self.logs: dict[int, ProductLog] = {}

    def encode(self, t):
        tracking = sys.modules.get("grader.sandbox.tracking")     # no ProductLog made: nothing is tracked
        if tracking is not None and isinstance(t, tracking._Tracked) and hasattr(t, "_p11_label"):
            key = id(t._p11_log)
            self.logs[key] = t._p11_log
            return [key, t._p11_label]
        return None

    def decode(self, t, key, label):
        return t

    def merge(self, uses_by_key: dict) -> None:
        for key, uses in uses_by_key.items():
            log = self.logs.get(key)
            if log is None:
                continue
            for label, items in uses.items():
                log.uses.setdefault(label, []).extend((str(n), tuple(s)) for n, s in items)


class SandboxTracker:
    """The sandbox's wire hook: re-tracks incoming tracked tensors, one fresh log per key per call."""

    def __init__(self):
        self.logs: dict[int, ProductLog] = {}

    def encode(self, t):
        return None

    def decode(self, t, key, label):
        if type(key) is not int or type(label) is not str:
            return t
        from grader.sandbox.tracking import ProductLog

        log = self.logs.setdefault(key, ProductLog())
        log.uses.setdefault(label, [])
        return log._wrap(t, label, t.numel())

    def take(self) -> dict:
        out = {k: {lab: [[n, list(s)] for n, s in uses] for lab, uses in log.uses.items()}
               for k, log in self.logs.items()}
        self.logs = {}
        return out
