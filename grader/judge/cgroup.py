"""Memory and process limits for a whole sandbox, not per process: a control group per sandbox.

rlimits count per process: four forked children, each under a 6 GiB address-space cap, can hold
far more than 6 GiB between them. A control group counts everything the sandbox started. Where
the machine lets the grader make one (cgroup v1 ``memory`` and ``pids`` hierarchies as root, as
on the course's machines; or a cgroup v2 subtree with those controllers delegated), each sandbox
gets ``memory`` = the lab's cap and ``pids`` = NPROC, entered before bubblewrap starts so every
process inside is counted. Elsewhere ``Cgroup.open`` returns None and the judge falls back to a
watchdog that sums the resident memory of the sandbox's user id (jail.py), which it says.
"""
from __future__ import annotations

import os
import signal
import time
from functools import lru_cache
from pathlib import Path

CG = Path("/sys/fs/cgroup")


def _own(controller: str) -> str | None:
    """This process's cgroup path in the v1 hierarchy of ``controller`` ('' for v2's unified one)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, names, path = line.split(":", 2)
        if controller in names.split(",") if controller else names == "":
            return path
    return None


@lru_cache(maxsize=None)
def _bases() -> tuple[str, tuple[Path, ...]] | None:
    """('v1', (memory parent, pids parent)) or ('v2', (parent,)) where we may make children; else None."""
    if os.environ.get("PHASE11_CGROUPS") == "off":     # the course's tests of the watchdog fallback
        return None
    if (CG / "cgroup.controllers").is_file():                       # unified (v2) hierarchy
        own = _own("")
        if own is None:
            return None
        base = CG / own.lstrip("/")
        if {"memory", "pids"} <= set((base / "cgroup.subtree_control").read_text().split()) \
                and os.access(base, os.W_OK):
            return "v2", (base,)
        return None
    mem, pids = _own("memory"), _own("pids")
    if mem is None or pids is None:
        return None
    bases = (CG / "memory" / mem.lstrip("/"), CG / "pids" / pids.lstrip("/"))
    if all(b.is_dir() and os.access(b, os.W_OK) for b in bases):
        return "v1", bases
    return None


def problem() -> str:
    """'' when per-sandbox control groups work here, else why not (one line)."""
    if os.environ.get("PHASE11_CGROUPS") == "off":
        return "switched off (PHASE11_CGROUPS=off)"
    if _bases() is None:
        return "no writable control group with memory and pids controllers"
    try:
        probe = Cgroup.open("phase11-probe-%d" % os.getpid(), 64 << 20, 8)
    except OSError as e:
        return f"control groups cannot be made here: {e}"
    if probe is None:
        return "control groups cannot be made here"
    probe.remove()
    return ""


class Cgroup:
    """One sandbox's control group(s). ``enter()`` runs in the child before exec."""

    def __init__(self, version: str, dirs: list[Path], memory: int):
        self.version, self.dirs, self.memory = version, dirs, memory

    @classmethod
    def open(cls, name: str, memory_bytes: int, max_pids: int) -> "Cgroup | None":
        found = _bases()
        if found is None:
            return None
        version, bases = found
        dirs = [b / name for b in bases]
        made = []
        try:
            for d in dirs:
                d.mkdir()
                made.append(d)
            if version == "v1":
                (dirs[0] / "memory.limit_in_bytes").write_text(str(memory_bytes))
                try:
                    (dirs[0] / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))    # no swap either
                except OSError:
                    pass
                (dirs[1] / "pids.max").write_text(str(max_pids))
            else:
                (dirs[0] / "memory.max").write_text(str(memory_bytes))
                (dirs[0] / "memory.swap.max").write_text("0")
                (dirs[0] / "pids.max").write_text(str(max_pids))
        except OSError:
            for d in made:
                try:
                    d.rmdir()
                except OSError:
                    pass
            return None
        return cls(version, dirs, memory_bytes)

    def enter(self) -> None:
        """Move the calling process into the group (a preexec_fn: every descendant is counted)."""
        for d in self.dirs:
            with open(d / "cgroup.procs", "w") as f:
                f.write("0")

    def pids(self) -> list[int]:
        out: set[int] = set()
        for d in self.dirs:
            try:
                out |= {int(x) for x in (d / "cgroup.procs").read_text().split()}
            except OSError:
                pass
        return sorted(out)

    def hit_memory_cap(self) -> bool:
        """True when the group ran into its memory limit (the kernel's OOM killer acted there)."""
        try:
            if self.version == "v1":
                control = dict(line.split() for line in (self.dirs[0] / "memory.oom_control").read_text().splitlines())
                if "oom_kill" in control:
                    return int(control["oom_kill"]) > 0
                return int((self.dirs[0] / "memory.failcnt").read_text()) > 0
            events = (self.dirs[0] / "memory.events").read_text()
            return any(line.split()[0] in ("oom_kill", "oom") and int(line.split()[1]) > 0
                       for line in events.splitlines())
        except (OSError, ValueError, IndexError):
            return False

    def remove(self, wait_s: float = 3.0) -> bool:
        """Kill what is left inside and remove the group; a group empties a moment after its
        last process is killed, so this retries for up to ``wait_s``. True when it is gone."""
        end = time.monotonic() + wait_s
        while True:
            for pid in self.pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            left = []
            for d in self.dirs:
                try:
                    d.rmdir()
                except FileNotFoundError:
                    pass
                except OSError:
                    left.append(d)
            self.dirs = left
            if not left or time.monotonic() > end:
                return not left
            time.sleep(0.02)


def remove_stale(owner_pid: int) -> int:
    """Remove the groups a judge process (``owner_pid``) made and could not remove (it was killed)."""
    found = _bases()
    if found is None:
        return 0
    version, bases = found
    n = 0
    for base in bases:
        for d in base.glob(f"phase11-*-{owner_pid}"):
            n += Cgroup(version, [d], 0).remove()
    return n
