"""Start the sandbox process that holds a student's module, and make sure it ends.

On Linux with bubblewrap (``bwrap``) and util-linux ``setpriv``, the sandbox gets:
  * its own pid, network, IPC and UTS namespaces: it cannot see, signal or ptrace the judge,
    and has no network (only its own loopback);
  * a filesystem of read-only binds: the system's /usr, the Python installation and the
    environment, and a staging folder (``Stage``) holding private copies of the call server and
    of the lab package being graded (plus the data folders a lab declares, such as lab 02's
    captured runs). The copies are made outside the sandbox by reading the submission as data
    (grader/judge/submission_files.py: a link or device is refused, never followed). The rest of the
    course — solutions/, grader/hidden/, grader/tests/, mutants, other submissions, the
    student's other labs — is simply not there, and no bind but the Python environment's names
    a path of the course's checkout (``/proc/self/mountinfo`` shows bind sources);
  * a private, size-capped, writable /tmp as its working directory;
  * an unprivileged user id of its own (a fresh one per sandbox), no capabilities, no new
    privileges, and rlimits: address space (the lab's memory cap), processes/threads
    (``NPROC``), file size, open files, no core dumps;
  * limits for the sandbox as a whole: a control group per sandbox (cgroup.py) caps the memory
    and the number of processes of everything inside together; where none can be made, a
    watchdog in the judge sums the resident memory of the sandbox's user id;
  * the end: ``--die-with-parent``, a kill of the whole group, and a sweep of every process
    left with the sandbox's user id.
Where bubblewrap cannot run (macOS, no user namespaces), the module still runs in a separate
process with the same rlimits, and ``Jail.sandboxed`` is False with the reason in ``Jail.why``.
"""
from __future__ import annotations

import fcntl
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from functools import lru_cache
from pathlib import Path

from grader.judge import submission_files
from grader.judge.cgroup import Cgroup
from grader.judge.cgroup import problem as cgroup_problem
from grader.labs import ROOT
from grader.sandbox.server import PRELOAD
from grader.sandbox.wire import Reader
from grader.judge.submission_files import UnsafeSubmission

NPROC = 64                 # processes + threads the sandbox's user may have
FILE_CAP = 64 << 20        # bytes: any one file it writes, and its /tmp in all
NOFILE = 256
SANDBOX_PKG = ROOT / "grader" / "sandbox"
SKIPPED_DIRS = ("tests", "__pycache__")      # never copied into the sandbox (nor any dot-folder)
UID_RANGE = (200_000, 260_000)
F_SETPIPE_SZ = 1031               # fcntl.F_SETPIPE_SZ (Linux; the constant is missing before Python 3.10)
PIPE_BYTES = 1 << 20


@lru_cache(maxsize=None)
def bwrap_problem() -> str:
    """'' when bubblewrap can run a sandbox here, else why not (one line)."""
    if sys.platform != "linux":
        return f"no sandbox on {sys.platform}: bubblewrap needs Linux"
    for tool in ("bwrap", "setpriv"):
        if shutil.which(tool) is None:
            pkg = "bubblewrap" if tool == "bwrap" else "util-linux"
            return f"{tool} is not installed (install {pkg}; `make grade` does where it can)"
    try:
        r = subprocess.run(["bwrap", "--unshare-pid", "--unshare-net", "--die-with-parent",
                            "--ro-bind", "/", "/", "true"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"bwrap cannot start: {e}"
    if r.returncode != 0:
        return "bwrap cannot create namespaces here: " + (r.stderr.strip().splitlines() or ["?"])[-1]
    return ""


def _ancestors(path: Path) -> list[Path]:
    return [p for p in reversed(path.parents) if p != Path("/")]


def _bwrap_args(binds: list[tuple[Path, Path]], uid: int) -> list[str]:
    args = ["bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--new-session"]
    for top in ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        p = Path("/") / top
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), str(p)]
        elif p.is_dir():
            args += ["--ro-bind", str(p), str(p)]
    args += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache",
             "--ro-bind-try", "/etc/localtime", "/etc/localtime",
             "--proc", "/proc", "--dev", "/dev",
             "--perms", "1777", "--size", str(FILE_CAP), "--tmpfs", "/tmp"]
    made: set[Path] = {Path("/tmp"), Path("/usr"), Path("/proc"), Path("/dev"), Path("/etc")}
    bound: list[Path] = []
    for src, dst in binds:
        for anc in _ancestors(dst):
            inside_a_bind = any(anc == b or b in anc.parents for b in bound)
            if anc not in made and not inside_a_bind:
                # directories bwrap makes are 0700 by default: the sandbox's user could not pass
                args += ["--perms", "0755", "--dir", str(anc)]
                made.add(anc)
        args += ["--ro-bind", str(src), str(dst)]
        bound.append(dst)
    args += ["--chdir", "/tmp", "--", "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
             "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all", "--"]
    return args


def _limits(memory_mb: int, sandboxed: bool, group: Cgroup | None = None):
    def apply():
        if group is not None:
            group.enter()       # before anything else: every process the sandbox starts is counted
        mem = memory_mb << 20
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_CAP, FILE_CAP))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))
        if sandboxed:       # counted per user id: the sandbox's own (root's count is never enforced)
            resource.setrlimit(resource.RLIMIT_NPROC, (NPROC, NPROC))
    return apply


class Stage:
    """What every sandbox of one lab session sees, prepared once, outside any sandbox:

    ``impl/``: private copies of the lab packages (Python files only, read as data by
    grader.judge.submission_files: a link or special file refuses the whole copy) with the lab's
    declared data folders copied in; ``lib/grader/sandbox/``: a private copy of the call server,
    so no bind inside the sandbox names a path of the course's checkout.
    Raises UnsafeSubmission (and leaves nothing behind) when a package cannot be copied.
    """

    def __init__(self, packages: list[tuple[Path, str]], data: list[tuple[Path, str]]):
        self.dir = Path(tempfile.mkdtemp(prefix="phase11-stage-"))
        try:
            impl = self.dir / "impl"
            for src, name in packages:
                if src.is_symlink():
                    raise UnsafeSubmission(f"{name}/ is a symbolic link; submit the folder itself")
                if src.is_dir():
                    submission_files.copy_tree(src, impl / name, want=lambda rel: rel.endswith(".py"),
                                               skip_dirs=SKIPPED_DIRS)
                (impl / name).mkdir(parents=True, exist_ok=True)
                if not (impl / name / "__init__.py").exists():
                    (impl / name / "__init__.py").write_text("")
            for src, rel in data:               # the course's own data (lab 02's captured runs)
                if src.is_dir():
                    submission_files.copy_tree(src, impl / rel)
            lib = self.dir / "lib" / "grader"
            lib.mkdir(parents=True)
            (lib / "__init__.py").write_text("")
            shutil.copytree(SANDBOX_PKG, lib / "sandbox", ignore=shutil.ignore_patterns("__pycache__"))
            _world_readable(self.dir)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


class Jail:
    """One sandbox process: ``fd_in`` carries its replies and callbacks, ``fd_out`` our requests."""

    def __init__(self, stage: Stage, memory_mb: int, sandbox: bool = True, preload: tuple[str, ...] = ()):
        self.why = bwrap_problem() if sandbox else "sandbox switched off"
        self.sandboxed = not self.why
        self.memory_mb = memory_mb
        self.run_dir = Path(tempfile.mkdtemp(prefix="phase11-run-"))
        self.uid = random.randrange(*UID_RANGE)
        self.cgroup = None
        self.log = None
        self.preload = [name for name in preload if name in PRELOAD]
        try:
            self._start(stage)
        except BaseException:
            self.close()
            raise

    def _start(self, stage: Stage) -> None:
        os.chmod(self.run_dir, 0o755)
        self.log = open(self.run_dir / "output.log", "wb")
        env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1",
               "PYTHONHASHSEED": "0", "TMPDIR": "/tmp"}
        py = [sys.executable, "-P", "-m", "grader.sandbox.server"]
        if self.sandboxed:
            env["PYTHONPATH"] = "/p11/impl:/p11/lib"
            binds = [(Path(sys.base_prefix), Path(sys.base_prefix))]
            if Path(sys.prefix) != Path(sys.base_prefix):
                binds.append((Path(sys.prefix), Path(sys.prefix)))
            binds += [(stage.dir / "impl", Path("/p11/impl")), (stage.dir / "lib", Path("/p11/lib"))]
            cmd = _bwrap_args(binds, self.uid)
            cwd = "/"
            self.cgroup = Cgroup.open(f"phase11-{self.uid}-{os.getpid()}", self.memory_mb << 20, NPROC)
        else:
            env["PYTHONPATH"] = f"{stage.dir / 'impl'}{os.pathsep}{stage.dir / 'lib'}"
            (self.run_dir / "work").mkdir()
            cmd, cwd = [], str(self.run_dir / "work")
        r_req, w_req = os.pipe()        # judge -> sandbox
        r_rep, w_rep = os.pipe()        # sandbox -> judge
        for fd in (w_req, w_rep):       # 1 MiB pipes: lab 01's tensors cross in fewer, larger writes
            try:
                fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_BYTES)
            except OSError:
                pass
        self.started = time.monotonic()
        try:
            self.proc = subprocess.Popen(cmd + py + [str(r_req), str(w_rep), *self.preload], stdin=subprocess.DEVNULL,
                                         stdout=self.log, stderr=self.log, pass_fds=(r_req, w_rep), cwd=cwd,
                                         env=env, start_new_session=True,
                                         preexec_fn=_limits(self.memory_mb, self.sandboxed, self.cgroup))
        finally:
            os.close(r_req)
            os.close(w_rep)
        self.fd_out, self.fd_in = w_req, r_rep
        self.reader = Reader(r_rep)

    @property
    def memory_note(self) -> str:
        """How memory is capped for this sandbox, for the report."""
        if not self.sandboxed:
            return ""
        if self.cgroup is not None:
            return ""
        return (f"memory is capped per process ({self.memory_mb} MiB) and, for all the sandbox's processes "
                f"together, by a watchdog (no control group here: {cgroup_problem()})")

    @property
    def watchdog(self) -> bool:
        """True when the judge must watch this sandbox's total memory itself (no control group)."""
        return self.sandboxed and self.cgroup is None

    def over_memory(self) -> bool:
        """The fallback watchdog: the sandbox user's processes together past the lab's cap."""
        if not self.sandboxed or self.cgroup is not None:
            return False
        total = 0
        page = os.sysconf("SC_PAGE_SIZE")
        for pid in processes_of(self.uid):
            try:
                total += int(open(f"/proc/{pid}/statm").read().split()[1]) * page
            except (OSError, ValueError, IndexError):
                pass
        return total > self.memory_mb << 20

    def hit_memory_cap(self) -> bool:
        return self.cgroup is not None and self.cgroup.hit_memory_cap()

    def output_tail(self, n: int = 1500) -> str:
        try:
            data = (self.run_dir / "output.log").read_bytes()[-n:]
        except OSError:
            return ""
        return data.decode(errors="replace")

    def exit_code(self, wait: float = 5.0) -> int | None:
        try:
            return self.proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """End the sandbox and everything it started, whatever state it is in."""
        for fd in (getattr(self, "fd_out", -1), getattr(self, "fd_in", -1)):
            try:
                os.close(fd)
            except OSError:
                pass
        self.fd_out = self.fd_in = -1
        proc = getattr(self, "proc", None)
        if proc is not None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self.cgroup is not None:
            for _ in range(3):
                pids = self.cgroup.pids()
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
                if not pids:
                    break
                time.sleep(0.02)
        if self.sandboxed:
            sweep_uid(self.uid)
        if proc is not None:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def close(self) -> None:
        self.kill()
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None
        if self.log is not None:
            self.log.close()
        shutil.rmtree(self.run_dir, ignore_errors=True)


def sweep_uid(uid: int) -> int:
    """SIGKILL every process whose real user id is ``uid`` (the sandbox's own); returns how many."""
    killed = 0
    for _ in range(3):
        found = [pid for pid in processes_of(uid)]
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
        if not found:
            break
        time.sleep(0.05)
    return killed


def processes_of(uid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                for line in f:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            out.append(int(entry))
                        break
        except OSError:
            continue
    return out


def _world_readable(root: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for f in filenames:
            os.chmod(os.path.join(dirpath, f), 0o644)
