"""The sandbox starts up while the judge does (grader/judge/session.py, Client.start_early).

The judge's worker spawns the sandbox before it builds its proxies and collects its tests, and
the sandbox preloads the libraries the lab's modules import (torch for lab 01): the first call
then waits only for what is left of the start-up.
"""
from __future__ import annotations

import pytest

from grader.judge import jail
from grader.judge.session import Session, _preload
from grader.labs import ROOT, get


def test_preload_is_what_the_declared_modules_import_and_on_the_list():
    assert _preload("import torch\nfrom torch import nn\nimport os, math\n") == {"torch"}
    assert _preload("import numpy as np\nfrom .slot_cache import Cache\nimport subprocess\n") == {"numpy"}
    lab01, lab04 = get("lab01"), get("lab04")
    assert _preload(lab01.declared_path(lab01.modules[0]).read_text()) == {"torch"}
    assert set().union(*(_preload(lab04.declared_path(m).read_text()) for m in lab04.modules)) == set()


@pytest.mark.skipif(bool(jail.bwrap_problem() or jail.cgroup_problem()),
                    reason="an early start needs the sandbox and a memory control group")
def test_an_early_sandbox_is_running_before_the_first_call_answers_it_and_dies_with_the_session():
    lab = get("lab03")
    session = Session(lab, ROOT / "solutions", early=True)
    try:
        client = session.client
        early = client.jail
        assert early is not None and client.starts == 1, "no sandbox before the first call"
        assert early.proc.poll() is None
        economics = session.modules[f"{lab.name}.economics"]
        assert economics.check_rank(8) == 8
        assert client.jail is early and client.starts == 1, "the first call started a second sandbox"
    finally:
        session.close()
    assert early.proc.poll() is not None, "the sandbox outlived its session"


def test_a_session_without_early_start_waits_for_the_first_call():
    session = Session(get("lab03"), ROOT / "solutions")
    try:
        assert session.client.jail is None and session.client.starts == 0
    finally:
        session.close()
