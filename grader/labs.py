"""The four labs: the one list every tool reads (grader, stubs, release, nbgrader, tests)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Lab:
    name: str           # the Python package students fill in, e.g. lab01_batched_lora_matmul
    modules: tuple[str, ...]  # the module(s) inside it the student writes, in the order they are met
    title: str
    tag: str            # "CPU" or "GPU-optional"
    timeout_s: int = 30       # per test
    memory_mb: int = 6144     # address-space cap for the process that runs the lab's tests
    base: Path = ROOT         # where labs/ and grader/hidden/ live (the course's own tests use a scratch copy)
    data: tuple[str, ...] = ()    # folders (relative to base) the student's code may read, read-only
    uses: tuple[str, ...] = ()    # other labs whose module the student's code imports

    @property
    def short(self) -> str:
        return self.name.split("_", 1)[0]          # "lab01"

    def _known(self, module: str) -> str:
        if module not in self.modules:
            raise KeyError(f"{self.name} has no student module {module!r}; its modules: {', '.join(self.modules)}")
        return module

    def stub_path(self, impl_root: Path, module: str) -> Path:
        """``impl_root/<lab>/<module>.py``: one of the lab's student modules under a root."""
        return impl_root / self.name / f"{self._known(module)}.py"

    def stub_paths(self, impl_root: Path) -> list[Path]:
        return [self.stub_path(impl_root, m) for m in self.modules]

    def files(self) -> list[str]:
        """The student modules as the student knows them: "<lab>/<module>.py"."""
        return [f"{self.name}/{m}.py" for m in self.modules]

    def declared_path(self, module: str, base: Path | None = None) -> Path:
        """The judge's copy of a stub module (grader/declared/): the course's declarations it trusts."""
        return (base or self.base) / "grader" / "declared" / self.name / f"{self._known(module)}.py"

    @property
    def public_tests(self) -> Path:
        return self.base / "labs" / self.name / "tests"

    @property
    def hidden_tests(self) -> Path:
        return self.base / "grader" / "hidden" / self.name

    @property
    def page(self) -> Path:
        return ROOT / "labs" / self.name / "README.md"

    @property
    def notebook(self) -> Path:
        return ROOT / "notebooks" / f"{self.name}.ipynb"


# In the recommended order: 01 -> 03 -> 04 -> 02 (lab02 builds on 01 and 04).
LABS: tuple[Lab, ...] = (
    Lab("lab01_batched_lora_matmul", ("batched_lora",), "Batched multi-LoRA matmul", "CPU"),
    Lab("lab03_lora_economics", ("economics",), "LoRA economics", "CPU"),
    # part 1: the slots, caches and scheduler in steps; part 2: workloads in time (imports part 1)
    Lab("lab04_adapter_slot_cache", ("slot_cache", "workloads"), "Adapter slots, caches and the scheduler", "CPU"),
    # part 1: the offline engine; part 2: the OpenAI-compatible server's answers and step log
    Lab("lab02_serve_many_loras", ("serve", "online"), "Serve many LoRAs on real vLLM", "GPU-optional",
        data=("labs/lab02_serve_many_loras/captured",), uses=("lab04_adapter_slot_cache",)),
)


def get(name: str) -> Lab:
    """Find a lab by package name or short name ("lab01")."""
    for lab in LABS:
        if name in (lab.name, lab.short):
            return lab
    known = ", ".join(lab.name for lab in LABS)
    raise KeyError(f"unknown lab {name!r}; known labs: {known}")


def present(impl_root: Path | None = None) -> list[Lab]:
    """The labs whose tests exist in this checkout (all four once the course is complete)."""
    out = []
    for lab in LABS:
        if lab.public_tests.is_dir() and (impl_root is None or (impl_root / lab.name).exists()):
            out.append(lab)
    return out
