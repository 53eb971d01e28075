"""pyproject.toml and environment.yml pin the same versions; the CI runs only `make test`."""
from __future__ import annotations

import tomllib

from grader.labs import ROOT


def _yml_pins() -> list[str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = lines.index("  - pip:")
    return [ln.strip()[2:] for ln in lines[start + 1:] if ln.strip().startswith("- ")]


def test_environment_yml_pins_equal_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert _yml_pins() == project["dependencies"]
    assert all("==" in p for p in project["dependencies"])
    assert all("==" in p for p in project["optional-dependencies"]["lab02"])


def test_python_version_agrees():
    assert "python=3.11" in (ROOT / "environment.yml").read_text()
    assert '">=3.11,<3.12"' in (ROOT / "pyproject.toml").read_text()


def test_ci_runs_the_readme_test_command_and_nothing_else():
    run = (ROOT / ".ci" / "run").read_text()
    commands = [ln for ln in run.splitlines() if ln.strip() and not ln.startswith("#")
                and not ln.startswith(("set ", "cd "))]
    assert commands == ["make test"]
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make grade" in readme
    assert readme.index("make grade") < 1500 and readme.index("make test") < 1500   # at the top
