"""A Jupyter kernel in the same jail as a student's module: what ``make autograde`` runs notebooks in.

    python -m grader.judge.kernel_jail CONNECTION_FILE [KERNEL ARGS...]   (the argv of the course's
                                       kernelspec, written by grader/classroom/nbgrader_course.py)

nbgrader executes each submitted notebook to build its feedback (the scores come from the judge,
which graded the student's modules before any notebook ran). The kernel is the student's code,
so it gets what the module's sandbox gets (jail.py): bubblewrap with its own pid, network, IPC
and UTS namespaces, a fresh unprivileged user id, no capabilities, rlimits, a control group per
kernel, and a filesystem of read-only binds: the Python environment, a private copy of the
course's tooling without solutions/ or hidden tests (``PHASE11_KERNEL_LIB``), and the judge's
results for this submission. The notebook's folder is copied into the kernel's private /tmp, so
nothing it writes reaches the course folder or the gradebook. The kernel talks to nbgrader over
Unix sockets (``transport: ipc``) in a folder of their own, the only writable bind.

This launcher stays outside the jail, as the kernel process nbgrader knows: an interrupt
(SIGINT) is passed on to the kernel's processes; any other end kills every process of the
jail. ``sweep(record)`` is the autograde side's last word: whatever the record names is killed
and removed.
"""
from __future__ import annotations

import ctypes
import json
import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from grader.judge.cgroup import Cgroup
from grader.judge.jail import NPROC, UID_RANGE, _bwrap_args, _limits, bwrap_problem, processes_of, sweep_uid

MEMORY_MB = 6144
RECORD = "kernel-record.json"       # in the sockets' folder: what to clean up afterwards


def _die_with_me():
    """preexec: bubblewrap gets SIGKILL when this launcher dies (it then takes the kernel along)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)     # PR_SET_PDEATHSIG


def command(connection: Path, uid: int, lib: Path, work: Path, judged: Path | None,
            extra: list[str] = ()) -> tuple[list[str], dict]:
    info = json.loads(connection.read_text())
    if info.get("transport") != "ipc":
        raise SystemExit("kernel_jail: the kernel must use transport=ipc (the jail has no network)")
    sockets = Path(info["ip"]).parent
    binds = [(Path(sys.base_prefix), Path(sys.base_prefix))]
    if Path(sys.prefix) != Path(sys.base_prefix):
        binds.append((Path(sys.prefix), Path(sys.prefix)))
    binds += [(lib, Path("/p11/lib")), (work, Path("/p11/src")), (connection, Path("/p11/kernel.json"))]
    if judged is not None:
        binds.append((judged, Path("/p11/judged.json")))
    args = _bwrap_args(binds, uid)
    # the sockets' folder is the one writable bind; the kernel's cwd is a copy in its private /tmp
    at = args.index("--chdir")
    args[at:at] = ["--bind", str(sockets), str(sockets)]
    # no --new-session: keep bwrap's own session so an interrupt can reach the kernel
    args.remove("--new-session")
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg", "MPLCONFIGDIR": "/tmp/mpl", "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONPATH": "/p11/lib", "TMPDIR": "/tmp", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "JUPYTER_RUNTIME_DIR": "/tmp/jupyter", "IPYTHONDIR": "/tmp/ipython"}
    if judged is not None:
        env["PHASE11_JUDGED"] = "/p11/judged.json"
    inner = ("mkdir -p /tmp/work && cp -R /p11/src/. /tmp/work/ && cd /tmp/work && "
             f"exec {sys.executable} -P -m ipykernel_launcher -f /p11/kernel.json "
             + " ".join(shlex.quote(a) for a in extra))
    return args + ["/bin/sh", "-c", inner], env


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    problem = bwrap_problem()
    if problem:
        print(f"kernel_jail: no sandbox for the notebook's kernel: {problem}", file=sys.stderr)
        return 3
    connection = Path(argv[1]).resolve()
    made_lib = None
    if os.environ.get("PHASE11_KERNEL_LIB"):            # autograde makes one for all its kernels
        lib = Path(os.environ["PHASE11_KERNEL_LIB"])
    else:                                              # nbgrader validate, a kernel started by hand
        made_lib = Path(tempfile.mkdtemp(prefix="phase11-kernel-lib-"))
        lib = kernel_lib(Path(__file__).resolve().parents[2], made_lib)
    judged = Path(os.environ["PHASE11_JUDGED"]) if os.environ.get("PHASE11_JUDGED") else None
    made_judged = None
    if judged is None:              # nbgrader validate: judge the folder's labs here, before the kernel
        made_judged = judged = judge_folder(Path.cwd())
    uid = random.randrange(*UID_RANGE)
    sockets = Path(json.loads(connection.read_text())["ip"]).parent
    os.chown(sockets, uid, uid)
    os.chmod(connection, 0o644)
    group = Cgroup.open(f"phase11-kernel-{uid}-{os.getpid()}", MEMORY_MB << 20, NPROC)
    (sockets / RECORD).write_text(json.dumps({"uid": uid, "cgroup": [str(d) for d in group.dirs] if group else []}))
    os.chown(sockets / RECORD, 0, 0)
    work = Path.cwd()
    cmd, env = command(connection, uid, lib, work, judged, argv[2:])
    limits = _limits(MEMORY_MB, True, group)

    def preexec():
        _die_with_me()
        limits()

    # stdout: ipykernel's "connect with --existing" banner, nothing nbgrader reads (errors go to stderr)
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            start_new_session=True, preexec_fn=preexec)

    def interrupt(signum, frame):
        for pid in processes_of(uid):
            try:
                os.kill(pid, signal.SIGINT)
            except OSError:
                pass

    def end(signum, frame):
        _kill(proc, uid, group)
        os._exit(0)

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, end)
    signal.signal(signal.SIGHUP, end)
    try:
        rc = proc.wait()
    finally:
        _kill(proc, uid, group)
        if group is not None:
            group.remove()
        if made_lib is not None:
            shutil.rmtree(made_lib, ignore_errors=True)
        if made_judged is not None:
            made_judged.unlink(missing_ok=True)
    return rc


def _kill(proc, uid: int, group: Cgroup | None) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    if group is not None:
        for pid in group.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    sweep_uid(uid)


def sweep(sockets: Path) -> int:
    """After a notebook: kill whatever its kernel left (by user id and control group), remove the group."""
    try:
        record = json.loads((sockets / RECORD).read_text())
    except (OSError, ValueError):
        return 0
    killed = sweep_uid(int(record["uid"]))
    group = Cgroup("v?", [Path(d) for d in record.get("cgroup", [])], 0)
    for pid in group.pids():
        try:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except OSError:
            pass
    group.remove()
    (sockets / RECORD).unlink(missing_ok=True)
    return killed


def kernel_lib(root: Path, dest: Path) -> Path:
    """The course's tooling as the kernel may see it: grader/ without hidden tests, the course's
    tests or mutants, and labs/ (stubs, data) without built models; never solutions/."""
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "hidden", "tests", "mutants", "model", ".*")
    shutil.copytree(root / "grader", dest / "grader", ignore=skip)
    shutil.copytree(root / "labs", dest / "labs", ignore=skip)
    for dirpath, dirnames, filenames in os.walk(dest):
        os.chmod(dirpath, 0o755)
        for f in filenames:
            os.chmod(os.path.join(dirpath, f), 0o644)
    return dest


def judge_folder(folder: Path) -> Path:
    """Grade every lab package in ``folder`` with the judge (outside the jail, sandboxed as in
    `make grade`), so the jailed kernel's check cells read results that include hidden tests."""
    from grader import labs, nbcheck
    from grader.grading.run import grade_lab

    records = []
    named = [lab for lab in labs.LABS if lab.name == folder.name]     # nbgrader's <...>/<lab>/ folders
    for lab in named or labs.LABS:
        if any(p.is_file() for p in lab.stub_paths(folder)):
            records.append({"lab": lab.name, "digest": nbcheck.package_digest(lab, folder),
                            "summary": grade_lab(lab, folder)})
    fd, name = tempfile.mkstemp(prefix="phase11-judged-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(records, f)
    os.chmod(name, 0o644)
    return Path(name)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
