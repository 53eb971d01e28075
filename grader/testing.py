"""Small helpers shared by the labs' public and hidden tests (no answers live here).

``calls`` needs nothing heavy; the tensor helpers (``assert_close``, ``lab01_*``, ``ProductLog``,
``TOLERANCES``) live in grader/testing_tensors.py and are loaded on first use, so the tests of a
lab that never touches a tensor never import torch.
"""
from __future__ import annotations

_TENSOR_HELPERS = ("TOLERANCES", "assert_close", "lab01_make_adapter", "lab01_make_layer", "lab01_reference",
                   "lab01_make_batch", "lab01_assign_slots", "ProductLog")


def __getattr__(name: str):
    if name in _TENSOR_HELPERS:
        from grader import testing_tensors

        return getattr(testing_tensors, name)
    raise AttributeError(f"module 'grader.testing' has no attribute {name!r}")


def inputs_changed(fn) -> list[str]:
    """The argument tensors the student's code behind ``fn`` (a lab function or object) changed in place
    during the current test, one line each; [] when none (or when ``fn`` runs in this process,
    where a test compares its inputs with copies instead).

    The judge never writes the sandbox's changes back into a test's objects, so a test that
    checks "inputs untouched" asks this."""
    client = getattr(fn, "_client", None) or getattr(type(fn), "_p11_client", None)
    return list(getattr(client, "changed_inputs", []))


def calls(obj, script):
    """Run ``script`` — a list of ``(method or attribute name, args tuple)`` — on ``obj``, in order.

    Returns the list of results. An attribute (a property) is read, a method is called with its
    args. On an object that lives in the sandbox, the whole script is ONE round trip, so a test
    can drive a cache through thousands of accesses (and look at its state after each) quickly;
    on any other object it is a plain loop. The first call that raises stops the script and
    raises its exception.
    """
    from grader.judge.proxy import RemoteObject

    script = [(str(name), list(args)) for name, args in script]
    if isinstance(obj, RemoteObject):
        hid = object.__getattribute__(obj, "_p11")[1]
        return type(obj)._p11_client.request("batch", "", [[n, a] for n, a in script], handle=hid)[0]
    out = []
    for name, args in script:
        attr = getattr(obj, name)
        out.append(attr(*args) if callable(attr) and not isinstance(attr, type) else attr)
    return out
