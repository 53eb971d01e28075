"""The wire is faithful: what a student's function returns in-process is what the judge sees.

The rule, per kind of value (grader/sandbox/wire.py):
  * None, bool, int, float, str, bytes, lists, tuples, dicts, sets, deques: themselves;
  * a subclass of int/float/str (IntEnum, numpy.float64): the plain value it equals;
  * a numpy scalar: the Python number it equals (numpy.bool_ -> bool, integers -> int, floats ->
    float); a numpy array (0-d included): a numpy array of the same dtype, shape and values;
  * a tensor: a tensor of the same dtype, shape and values;
  * anything else: refused, by name.
A property test sends random values of these kinds through the real codecs and a real pipe both
ways; an end-to-end test grades honest code that returns them through the real sandbox.
"""
from __future__ import annotations

import json
import math
import os
import textwrap
from typing import NamedTuple

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grader.judge import jail
from grader.grading.run import grade_lab
from grader.sandbox import wire
from grader.tests.test_grader_isolation import make_lab

NP_SCALARS = [np.float64, np.float32, np.int64, np.int32, np.int8, np.uint8, np.bool_]
NP_ARRAYS = ["float64", "float32", "int64", "int32", "bool"]
TORCH = [torch.float32, torch.float64, torch.int64, torch.bool, torch.bfloat16, torch.float16]


def _np_scalar():
    return st.sampled_from(NP_SCALARS).flatmap(
        lambda t: st.booleans().map(t) if t is np.bool_ else
        st.integers(0, 100).map(t) if np.issubdtype(t, np.integer) else
        st.floats(-1e3, 1e3, allow_nan=False, width=32).map(t))


def _np_array():
    return st.tuples(st.sampled_from(NP_ARRAYS), st.lists(st.integers(0, 3), max_size=3), st.integers(0, 9)).map(
        lambda a: np.asarray(np.random.default_rng(a[2]).normal(size=a[1]) * 10).astype(a[0]))   # 0-d too


def _tensor():
    return st.tuples(st.sampled_from(TORCH), st.lists(st.integers(0, 3), max_size=3), st.integers(0, 9)).map(
        lambda a: (torch.randn(a[1], generator=torch.Generator().manual_seed(a[2])) * 10).to(a[0]))


scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                    st.text(max_size=8), st.binary(max_size=8))
leaves = st.one_of(scalars, _np_scalar(), _np_array(), _tensor())
values = st.recursive(leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.tuples(inner, inner),
    st.dictionaries(st.one_of(st.text(max_size=4), st.integers(-5, 5)), inner, max_size=4),
    st.sets(st.one_of(st.integers(-9, 9), st.text(max_size=3)), max_size=4)), max_leaves=12)


def expected_type(v) -> type:
    if isinstance(v, np.bool_):
        return bool
    if isinstance(v, np.integer):
        return int
    if isinstance(v, np.floating):
        return float
    return type(v)


def same(a, b) -> bool:
    """b is what the judge saw of a: the rule above, checked strictly (type, dtype, shape, value)."""
    if type(b) is not expected_type(a):
        return False
    if isinstance(a, torch.Tensor):
        return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def through_pipe(value, sender: wire.Codec, receiver: wire.Codec):
    r, w = os.pipe()
    try:
        tensors: list = []
        doc = {"ok": sender.encode(value, tensors)[0]}
        meta, blobs = wire.pack_tensors(tensors)
        doc["tensors"] = meta
        wire.write_frame(w, doc, blobs)
        got, got_tensors = wire.receive(wire.Reader(r), deadline=None)
        return receiver.decode(got["ok"], got_tensors)
    finally:
        os.close(r)
        os.close(w)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_values_cross_both_ways_as_the_rule_says(value):
    judge, sandbox = wire.Codec("j", {}), wire.Codec("s", {})
    assert same(value, through_pipe(value, sandbox, judge))
    assert same(value, through_pipe(value, judge, sandbox))


@pytest.mark.parametrize("value, words", [(object(), "a object"), (np.array(["a"]), "numpy array of dtype <U1"),
                                          (lambda: 1, "function")])
def test_anything_else_is_refused_by_name(value, words):
    with pytest.raises(wire.Unsendable, match=words):
        wire.Codec("s", {}).encode(value)


# --- end to end: honest code that returns numpy values scores the same judged as in-process -------

MODULE = '''
import numpy as np
import torch

def value(k):
    return [np.float64(0.08), np.array(0.08), np.array([[1.5, 2.5]], dtype=np.float32), np.int64(7),
            np.bool_(True), np.arange(6).reshape(2, 3), torch.arange(4.0), (np.float32(0.25), [np.int8(3)]),
            {"hit_rate": np.float64(0.5)}][k]
'''
PUBLIC = '''
import numpy as np
import pytest
import torch
from labzz_np import npmod

EXPECTED = [0.08, np.array(0.08), np.array([[1.5, 2.5]], dtype=np.float32), 7, True, np.arange(6).reshape(2, 3),
            torch.arange(4.0), (0.25, [3]), {"hit_rate": 0.5}]

@pytest.mark.points(1)
@pytest.mark.parametrize("k", range(len(EXPECTED)))
def test_value(k):
    got, want = npmod.value(k), EXPECTED[k]          # checks as a lab's test would write them
    if isinstance(want, np.ndarray):
        assert isinstance(got, np.ndarray) and got.dtype == want.dtype and np.array_equal(got, want)
    elif isinstance(want, torch.Tensor):
        assert isinstance(got, torch.Tensor) and torch.equal(got, want)
    elif isinstance(want, float):
        assert got == pytest.approx(want)
    else:
        assert got == want
'''


@pytest.mark.skipif(bool(jail.bwrap_problem()), reason="no sandbox here")
def test_honest_numpy_returns_score_the_same_judged(tmp_path):
    lab = make_lab(tmp_path / "course", "labzz_np", "npmod",
                   "def value(k):\n    raise NotImplementedError('labzz_np TODO 1: value')\n", PUBLIC,
                   timeout_s=30, memory_mb=4096)
    impl = tmp_path / "impl" / "labzz_np"
    impl.mkdir(parents=True)
    (impl / "__init__.py").write_text("")
    (impl / "npmod.py").write_text(textwrap.dedent(MODULE))
    for mode in ("direct", True):                 # in-process, then sandboxed
        s = grade_lab(lab, impl.parent, sandbox=mode)
        assert s["score"] == s["max_score"] == 1, [t.get("detail", t["reason"]) for t in s["tests"]]


class Point(NamedTuple):
    x: int
    y: float


POINT_TYPES = {("labzz.mod", "Point"): Point}
_plain = st.one_of(st.none(), st.booleans(), st.integers(-99, 99), st.floats(allow_nan=False), st.text(max_size=3))
rows = st.lists(st.one_of(_plain, st.tuples(_plain, _plain), st.builds(Point, st.integers(-9, 9), st.floats(allow_nan=False)),
                          st.tuples(st.lists(_plain, max_size=2)), st.lists(_plain, max_size=2)), max_size=8)


@settings(max_examples=200, deadline=None)
@given(rows)
def test_rows_of_a_list_take_the_quick_path_to_the_same_tree_and_the_same_identity_records(items):
    """Lists of tuples and NamedTuples of plain values (lab 04's events) have a quick path through
    the codec (``_enc_row``, ``_dec_row``): it must give the long path's tree and value, and note
    the same containers in the same order (what "your k-th object" answers rely on)."""
    fast, slow = wire.Codec("j", POINT_TYPES), wire.Codec("j", POINT_TYPES)
    fast.record, slow.record = [], []
    tree = [fast._enc_row(x, [], 1) for x in items]
    assert tree == [slow._enc(x, [], 1) for x in items]
    assert [id(o) for o in fast.record] == [id(o) for o in slow.record]
    tree = json.loads(json.dumps(tree))
    fast, slow = wire.Codec("s", POINT_TYPES), wire.Codec("s", POINT_TYPES)
    fast.in_record, slow.in_record = [], []
    got = [fast._dec_row(n, lambda x: fast._dec(x, [], 2)) for n in tree]
    want = [slow._dec(n, [], 1) for n in tree]
    assert got == want and [type(x) for x in got] == [type(x) for x in want] == [type(x) for x in items]
    assert [tree_of for _, tree_of in fast.in_record] == [tree_of for _, tree_of in slow.in_record]


def test_only_scripts_of_plain_finite_arguments_go_as_bare_json():
    nan, inf = float("nan"), float("inf")
    assert wire.plain_script([["access", [1, 2.5, None, "x", True]], ["resident", []]]) and wire.plain_script([])
    for bad in ([["a", [nan]]], [["a", [1, inf]]], [["a", [[1]]]], [("a", [1])], [["a", (1,)]], [[1, [1]]],
                [["a", [1], 2]], "script", [["a", [b"x"]]]):
        assert not wire.plain_script(bad), bad
