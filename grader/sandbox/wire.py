"""The wire between the judge and the sandbox: length-prefixed frames of data, never code.

A frame is a 12-byte header (magic, JSON length, tensor-blob length), a JSON document and the
raw bytes of the tensors it refers to. No pickle anywhere: decoding builds only the values named
here, so a forged object (an ``__eq__`` that is always true, a tensor subclass) cannot cross.

A value is encoded as a JSON tree. Scalars (None, bool, int, float, str) stand for themselves;
everything else is a list whose first item is a tag:

    ["l", items] list        ["t", items] tuple       ["d", [[k, v], ...]] dict
    ["s", items] set         ["q", items] deque       ["g", items] an iterator over items
         ["b", hex] bytes       ["P", str] Path
    ["T", i] tensor i        ["TK", i, log, label] a tensor tracked by a ProductLog
    ["dt", name] torch dtype ["C", module, class, [[field, value], ...]] a lab's declared data type
         ["CT", module, class, [value, ...]] a declared NamedTuple whose fields are all plain values
    ["K", module, class] a lab's class itself         ["H", side, id, class] a handle to an object
                                                      that stays on ``side`` ("s" or "j")
    ["N", i] a numpy array (tensor i's bytes)  ["c", re, im] a complex number
    ["R", k] "the k-th object you sent me", returned unchanged (identity kept, nothing written back)

Which module/class pairs may be rebuilt, and how handles resolve, is the caller's business
(``Codec.types`` and ``Codec.handles``): the judge resolves them against the course's own
declarations, the sandbox against the student's module.
"""
from __future__ import annotations

import collections
import collections.abc
import dataclasses
import functools
import json
import math
import os
import pathlib
import select
import struct
import sys
import time

MAGIC = 0x5011
HEADER = struct.Struct(">IIQ")
MAX_JSON = 64 << 20           # one frame's JSON part
MAX_BLOB = 1 << 30            # one frame's tensors
MAX_DEPTH = 200

DTYPE_NAMES = ("float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool",
               "complex64", "complex128")
# Values that stand for themselves in JSON: a list of only these crosses without a per-item walk.
_PLAIN = frozenset({type(None), bool, int, float, str})


def _torch():
    """torch, imported on first need: a side that never sees a tensor (labs 02-04) never pays for it."""
    import torch

    return torch


@functools.lru_cache(maxsize=None)
def dtypes() -> dict:
    torch = _torch()
    return {name: getattr(torch, name) for name in DTYPE_NAMES}


def _is_tensor(v) -> bool:
    torch = sys.modules.get("torch")          # no torch loaded here: no value can be a tensor
    return torch is not None and isinstance(v, torch.Tensor)


class WireError(Exception):
    """A frame or value that breaks the format: the other side sent something that is not data."""


class Deadline(Exception):
    """The clock ran out while waiting for a frame."""


class Closed(Exception):
    """The other side closed the channel (it exited or was killed)."""


# --------------------------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------------------------

def write_frame(fd: int, doc: dict, blobs: list) -> None:
    """Header, JSON and each tensor's bytes in one ``writev`` where the pipe takes them: the tensors'
    own memory is written, never joined into one more copy."""
    body = json.dumps(doc, separators=(",", ":"), allow_nan=True).encode()
    views = [memoryview(b).cast("B") for b in blobs if len(b)]
    parts = [HEADER.pack(MAGIC, len(body), sum(len(v) for v in views)) + body, *views]
    while parts:
        n = os.writev(fd, parts[:512])
        while parts and n >= len(parts[0]):
            n -= len(parts[0])
            parts.pop(0)
        if n:
            parts[0] = memoryview(parts[0])[n:]


class Reader:
    """Frames from one file descriptor, each read straight into a buffer of its own size. A read cut
    short by a deadline resumes where it stopped on the next call."""

    def __init__(self, fd: int):
        self.fd = fd
        self.head = bytearray()
        self.body: bytearray | None = None      # the frame being read: JSON then tensor bytes
        self.pos = 0
        self.n_json = 0

    def _wait(self, deadline: float | None) -> None:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([self.fd], [], [], wait)[0]:
                raise Deadline()

    def frame(self, deadline: float | None = None) -> tuple[dict, memoryview]:
        """One frame, or Deadline when ``deadline`` (time.monotonic()) passes first, however the bytes trickle."""
        while self.body is None:
            self._wait(deadline)
            chunk = os.read(self.fd, HEADER.size - len(self.head))
            if not chunk:
                raise Closed()
            self.head += chunk
            if len(self.head) == HEADER.size:
                magic, n_json, n_blob = HEADER.unpack(self.head)
                if magic != MAGIC or n_json > MAX_JSON or n_blob > MAX_BLOB:
                    raise WireError(f"bad frame header (magic {magic:#x}, {n_json} B of JSON, {n_blob} B of tensors)")
                self.body, self.pos, self.n_json = bytearray(n_json + n_blob), 0, n_json
        view = memoryview(self.body)
        while self.pos < len(self.body):
            self._wait(deadline)
            n = os.readv(self.fd, [view[self.pos:]])
            if not n:
                raise Closed()
            self.pos += n
        buf, n_json = self.body, self.n_json
        self.head, self.body, self.pos = bytearray(), None, 0
        body, blob = bytes(memoryview(buf)[:n_json]), memoryview(buf)[n_json:]
        try:
            doc = json.loads(body)
        except ValueError as e:
            raise WireError(f"frame is not JSON: {e}") from None
        if not isinstance(doc, dict):
            raise WireError("frame is not a JSON object")
        return doc, blob


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------

def plain_script(script) -> bool:
    """True for a ``calls`` script of (name, [plain values]) pairs: it can go as bare JSON, skipping
    the codec's walk (lab 04's tests send scripts of thousands of accesses)."""
    if type(script) is not list:
        return False
    for c in script:
        if type(c) is not list or len(c) != 2 or type(c[0]) is not str or type(c[1]) is not list:
            return False
        args = c[1]
        if not _plain(args) or (float in map(type, args) and
                                not all(math.isfinite(x) for x in args if type(x) is float)):
            return False
    return True


def is_data_type(cls) -> bool:
    """A lab's declared value types: dataclasses and NamedTuples (rebuilt from their fields)."""
    return isinstance(cls, type) and (dataclasses.is_dataclass(cls) or _named_tuple(cls))


class Unsendable(TypeError):
    """A value that cannot cross: the message names its type."""


class Codec:
    """Encode values into (tree, tensors) and decode them back, for one side of the wire.

    ``types``: {(module, class name): class} that may be rebuilt here (dataclasses, NamedTuples)
    or named as classes. ``local``: callable(obj) -> (side, id, class name) or None, to send an
    object as a handle (side: where the object lives). ``remote``: callable(side, id, class name) -> the local stand-in
    for a handle to an object on the other side; ``own``: callable(id) -> the object behind a
    handle this side gave out. ``tracked``: hooks for ProductLog tensors (see tracking.py).
    """

    def __init__(self, side: str, types: dict, local=None, remote=None, own=None, tracked=None):
        self.side = side
        self.types = types
        self.names = {cls: key for key, cls in types.items()}
        self.local, self.remote, self.own, self.tracked = local, remote, own, tracked
        # Identity across one call: the caller notes the containers it sends (``record``), the callee
        # notes what it decoded and from which tree (``in_record``) and answers "your k-th object"
        # for any of those it returns unchanged (``ids``; a changed one goes back as its new value,
        # and nothing is ever written into the caller's objects); the caller resolves that against
        # its note (``back``).
        self.record = self.ids = self.back = self.in_record = None

    # --- encoding ----------------------------------------------------------------------------
    def encode(self, value, tensors: list | None = None):
        tensors = [] if tensors is None else tensors
        return self._enc(value, tensors, 0), tensors

    def _enc(self, v, tensors, depth):
        t = type(v)
        if t in _PLAIN:
            return v
        if depth > MAX_DEPTH:
            raise Unsendable("a value nested more than 200 levels deep")
        if t is list or t is tuple:                  # the common containers first, without hooks
            if self.ids is not None and id(v) in self.ids:
                k, tree = self.ids[id(v)]
                if _unchanged(self, v, tree):
                    return ["R", k]
            self._note(v)
            tag = "l" if t is list else "t"
            if _plain(v):
                return [tag, list(v)]
            return [tag, [self._enc_row(x, tensors, depth + 1) for x in v]]
        if isinstance(v, bool):
            return bool(v)
        if _is_tensor(v):
            if self.tracked is not None:
                mark = self.tracked.encode(v)
                if mark is not None:
                    tensors.append(v)
                    return ["TK", len(tensors) - 1, *mark]
            tensors.append(v)
            return ["T", len(tensors) - 1]
        if t.__module__ == "numpy":
            return self._numpy(v, tensors)
        if isinstance(v, int):                       # IntEnum and other int subclasses: their value
            return int(v)
        if isinstance(v, float):
            return float(v)
        if isinstance(v, str):
            return str(v)
        if t.__module__ == "torch" and isinstance(v, _torch().dtype):
            return ["dt", str(v).removeprefix("torch.")]
        if isinstance(v, pathlib.PurePath):
            return ["P", str(v)]
        if isinstance(v, (bytes, bytearray)):
            return ["b", bytes(v).hex()]
        if self.ids is not None and id(v) in self.ids:
            k, tree = self.ids[id(v)]
            if _unchanged(self, v, tree):
                return ["R", k]                    # an object the other side sent us, as it was: "your k-th"
        key = self.names.get(t)
        if key is not None:
            self._note(v)
            if not dataclasses.is_dataclass(t) and _plain(v):
                return ["CT", key[0], key[1], list(v)]   # a NamedTuple of plain fields: values in order
            if dataclasses.is_dataclass(t):
                fields = [[f.name, self._enc(getattr(v, f.name), tensors, depth + 1)]
                          for f in dataclasses.fields(t)]
            else:
                fields = [[f, self._enc(x, tensors, depth + 1)] for f, x in zip(t._fields, v)]
            return ["C", key[0], key[1], fields]
        if isinstance(v, type) and v in self.names:
            return ["K", *self.names[v]]
        if self.local is not None:
            h = self.local(v)
            if h is not None:
                return ["H", *h]
        if isinstance(v, (collections.deque, list, tuple, dict, set, frozenset, collections.abc.Iterator)):
            self._note(v)
        if isinstance(v, collections.deque):
            return ["q", [self._enc(x, tensors, depth + 1) for x in v]]
        if isinstance(v, list):
            if _plain(v):    # the common case, in one pass
                return ["l", list(v)]
            return ["l", [self._enc(x, tensors, depth + 1) for x in v]]
        if isinstance(v, tuple):                     # torch.Size and undeclared NamedTuples too
            return ["t", [self._enc(x, tensors, depth + 1) for x in v]]
        if isinstance(v, dict):
            return ["d", [[self._enc(k, tensors, depth + 1), self._enc(x, tensors, depth + 1)]
                          for k, x in v.items()]]
        if isinstance(v, (set, frozenset)):
            return ["s", [self._enc(x, tensors, depth + 1) for x in v]]
        if isinstance(v, collections.abc.Iterator):  # a generator, map(...), iter(list): its items, once
            return ["g", [self._enc(x, tensors, depth + 1) for x in v]]
        raise Unsendable(f"a {_type_name(v)}")

    def _enc_row(self, v, tensors, depth):
        """``_enc`` for one item of a list (lab 04 returns thousands of events), with the two common
        shapes first: a tuple, or a declared NamedTuple, of plain values. Same tree as ``_enc``."""
        t = type(v)
        if t in _PLAIN:
            return v
        if self.ids and id(v) in self.ids:        # maybe "your k-th object": the long way
            return self._enc(v, tensors, depth)
        if t is tuple:
            if _plain(v):
                self._note(v)
                return ["t", list(v)]
        elif _is_named_tuple(t):
            key = self.names.get(t)
            if key is not None and _plain(v):
                self._note(v)
                return ["CT", key[0], key[1], list(v)]
        return self._enc(v, tensors, depth)

    def _numpy(self, v, tensors):
        """numpy values arrive as what they are: a scalar as the Python number it equals (a bool as
        a bool), an array (0-d included) as a numpy array of the same dtype and shape."""
        import numpy as np

        if isinstance(v, np.ndarray):
            name = v.dtype.name
            if name not in DTYPE_NAMES or name == "bfloat16":
                raise Unsendable(f"a numpy array of dtype {v.dtype}")
            tensors.append(_torch().from_numpy(v if v.flags.c_contiguous else v.copy(order="C")))
            return ["N", len(tensors) - 1]
        if isinstance(v, np.bool_):
            return bool(v)
        if isinstance(v, np.integer):
            return int(v)
        if isinstance(v, np.floating):
            return float(v)
        if isinstance(v, np.complexfloating):
            return ["c", float(v.real), float(v.imag)]
        raise Unsendable(f"a {_type_name(v)}")

    def _note(self, v):
        if self.record is not None:
            self.record.append(v)

    # --- decoding ----------------------------------------------------------------------------
    def decode(self, tree, tensors: list):
        return self._dec(tree, tensors, 0)

    def _slot(self):
        if self.in_record is None:
            return None
        self.in_record.append(None)
        return len(self.in_record) - 1

    def _kept(self, k, obj, tree):
        if k is not None:
            self.in_record[k] = (obj, tree)
        return obj

    def _dec(self, n, tensors, depth):
        if depth > MAX_DEPTH:
            raise WireError("value nested too deeply")
        if n is None or type(n) in (bool, int, float, str):
            return n
        if type(n) is not list or not n or type(n[0]) is not str:
            raise WireError(f"not a tagged value: {str(n)[:80]}")
        tag, rest = n[0], n[1:]
        d = lambda x: self._dec(x, tensors, depth + 1)        # noqa: E731
        if tag == "R":
            if self.back is None or len(rest) != 1 or type(rest[0]) is not int or not 0 <= rest[0] < len(self.back):
                raise WireError("bad back-reference")
            return self.back[rest[0]]
        if tag in ("l", "t", "g", "q", "s", "d", "C", "CT"):
            k = self._slot()
            return self._kept(k, self._dec_container(tag, rest, d), n)
        return self._dec_leaf(tag, rest, tensors)

    def _dec_container(self, tag, rest, d):
        if tag == "l":
            items = _items(rest)
            if _plain(items):
                return list(items)
            return [self._dec_row(x, d) for x in items]
        if tag == "t":
            items = _items(rest)
            if _plain(items):
                return tuple(items)
            return tuple([self._dec_row(x, d) for x in items])
        if tag == "g":
            return iter([d(x) for x in _items(rest)])
        if tag == "q":
            return collections.deque(d(x) for x in _items(rest))
        if tag == "s":
            return set(d(x) for x in _items(rest))
        if tag == "CT":
            if len(rest) != 3 or type(rest[2]) is not list or not _plain(rest[2]):
                raise WireError("bad data-type value")
            cls = self._type(rest[0], rest[1])
            if dataclasses.is_dataclass(cls) or len(rest[2]) != len(cls._fields):
                raise WireError(f"a {cls.__name__} with {len(rest[2])} values")
            return cls._make(rest[2])
        if tag == "d":
            out = {}
            for pair in _items(rest):
                if type(pair) is not list or len(pair) != 2:
                    raise WireError("bad dict entry")
                out[d(pair[0])] = d(pair[1])
            return out
        if len(rest) != 3:
            raise WireError("bad data-type value")
        cls = self._type(rest[0], rest[1])
        fields = {}
        for pair in _items(rest[2:]):
            if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not str:
                raise WireError("bad field")
            fields[pair[0]] = d(pair[1])
        return build(cls, fields)

    def _dec_row(self, n, d):
        """``_dec`` for one item of a list, with the shapes ``_enc_row`` makes quickly decoded here
        (and recorded as ``_dec`` would); anything else, or anything odd, goes the long way (which
        also raises the errors)."""
        if type(n) is list and len(n) >= 2:
            tag, obj = n[0], None
            if tag == "t":
                items = n[1]
                if len(n) == 2 and type(items) is list and _plain(items):
                    obj = tuple(items)
            elif tag == "CT" and len(n) == 4:
                cls, items = self.types.get((n[1], n[2])), n[3]
                if cls is not None and _is_named_tuple(cls) and type(items) is list \
                        and len(items) == len(cls._fields) and _plain(items):
                    obj = cls._make(items)
            if obj is not None:
                return self._kept(self._slot(), obj, n)
        return d(n)

    def _dec_leaf(self, tag, rest, tensors):
        if tag == "T":
            return tensors[_index(rest, tensors)]
        if tag == "TK":
            t = tensors[_index(rest[:1], tensors)]
            if self.tracked is None or len(rest) != 3:
                return t
            return self.tracked.decode(t, rest[1], rest[2])
        if tag == "N":
            t = tensors[_index(rest, tensors)]
            return t.detach().numpy()
        if tag == "c":
            if len(rest) != 2 or not all(type(x) in (int, float) for x in rest):
                raise WireError("bad complex number")
            return complex(rest[0], rest[1])
        if tag == "dt":
            if len(rest) != 1 or rest[0] not in DTYPE_NAMES:
                raise WireError(f"unknown dtype {rest!r}")
            return dtypes()[rest[0]]
        if tag == "P":
            return pathlib.Path(_str(rest))
        if tag == "b":
            try:
                return bytes.fromhex(_str(rest))
            except ValueError:
                raise WireError("bad bytes") from None
        if tag == "K":
            if len(rest) != 2:
                raise WireError("bad class reference")
            return self._type(rest[0], rest[1])
        if tag == "H":
            if len(rest) != 3 or rest[0] not in ("s", "j") or type(rest[1]) is not int:
                raise WireError("bad handle")
            side, hid, cls = rest
            if side == self.side:
                return self.own(hid)
            return self.remote(side, hid, str(cls))
        raise WireError(f"unknown tag {tag!r}")

    def _type(self, module, name):
        cls = self.types.get((module, name))
        if cls is None:
            raise WireError(f"{name} is not one of the lab's declared types")
        return cls


def _unchanged(codec: Codec, v, tree) -> bool:
    """True when ``v`` still encodes to the tree it was decoded from (tensor-free values only:
    a tensor's tree names its place in one frame, so those always go back as values)."""
    if _has_tensor(tree):
        return False
    ids, codec.ids = codec.ids, None
    try:
        return codec._enc(v, [], 0) == tree
    except Unsendable:
        return False
    finally:
        codec.ids = ids


def _has_tensor(tree) -> bool:
    if type(tree) is not list:
        return False
    if tree and tree[0] in ("T", "TK") and len(tree) >= 2 and type(tree[1]) is int:
        return True
    return any(_has_tensor(x) for x in tree)


def _plain(items) -> bool:
    """Every item stands for itself in JSON (one C-level pass: lists of thousands cross)."""
    return _PLAIN.issuperset(map(type, items))


def _named_tuple(cls) -> bool:
    """A NamedTuple class (a tuple subclass with fields, not a dataclass)."""
    return issubclass(cls, tuple) and hasattr(cls, "_fields") and not dataclasses.is_dataclass(cls)


_is_named_tuple = functools.lru_cache(maxsize=None)(_named_tuple)   # the rows' quick path asks per row


@functools.lru_cache(maxsize=None)
def _spec(cls):
    """(field names, names passed to __init__) of a declared data type."""
    if dataclasses.is_dataclass(cls):
        fs = dataclasses.fields(cls)
        return tuple(f.name for f in fs), frozenset(f.name for f in fs if f.init)
    return tuple(cls._fields), None


def build(cls, fields: dict):
    """Rebuild a declared data type from its fields (its own __init__/__post_init__ checks run)."""
    names, init = _spec(cls)
    if tuple(fields) != names:
        raise WireError(f"a {cls.__name__} with fields {list(fields)}; expected {list(names)}")
    if init is None:                                  # a NamedTuple
        return cls._make(fields.values())
    obj = cls(**{k: v for k, v in fields.items() if k in init})
    for k, v in fields.items():
        if k not in init:
            object.__setattr__(obj, k, v)
    return obj


def _items(rest):
    if len(rest) != 1 or type(rest[0]) is not list:
        raise WireError("bad container")
    return rest[0]


def _str(rest):
    if len(rest) != 1 or type(rest[0]) is not str:
        raise WireError("expected a string")
    return rest[0]


def _index(rest, tensors):
    if len(rest) != 1 or type(rest[0]) is not int or not 0 <= rest[0] < len(tensors):
        raise WireError("bad tensor reference")
    return rest[0]


def _type_name(v) -> str:
    t = type(v)
    mod = t.__module__
    return t.__qualname__ if mod in ("builtins", None) else f"{mod}.{t.__qualname__}"


# --------------------------------------------------------------------------------------------
# Tensors: raw bytes with dtype and shape, rebuilt with torch.frombuffer (no pickle)
# --------------------------------------------------------------------------------------------

def pack_tensors(tensors: list) -> tuple[list, list]:
    """(table, buffers): each tensor's dtype, shape and size, and its bytes as a buffer of its own
    memory (a copy only where it is not contiguous, dense and on the CPU)."""
    if not tensors:
        return [], []
    torch = _torch()
    meta, blobs = [], []
    for t in tensors:
        t = t.detach()
        if type(t) is not torch.Tensor:
            t = t.as_subclass(torch.Tensor)
        if t.layout != torch.strided or t.device.type != "cpu":
            t = t.to_dense() if t.layout != torch.strided else t
            t = t.cpu()
        name = str(t.dtype).removeprefix("torch.")
        if name not in DTYPE_NAMES:
            raise Unsendable(f"a tensor of dtype {t.dtype}")
        if t.is_conj():
            t = t.resolve_conj()
        if t.is_neg():
            t = t.resolve_neg()
        raw = t.contiguous().reshape(-1).view(torch.uint8).numpy() if t.numel() else b""
        meta.append([name, list(t.shape), len(raw), bool(t.requires_grad)])
        blobs.append(raw)
    return meta, blobs


def unpack_tensors(meta, blob) -> list:
    """Tensors over ``blob`` (one frame's buffer): views of it, no copy."""
    if type(meta) is not list:
        raise WireError("bad tensor table")
    if not meta:
        if len(blob):
            raise WireError("trailing bytes after the tensors")
        return []
    torch = _torch()
    types = dtypes()
    out, pos = [], 0
    for m in meta:
        if type(m) is not list or len(m) != 4 or m[0] not in types or type(m[1]) is not list \
                or not all(type(s) is int and s >= 0 for s in m[1]) or type(m[2]) is not int:
            raise WireError("bad tensor entry")
        dtype, shape, size = types[m[0]], m[1], m[2]
        n = math.prod(shape)
        if size != n * dtype.itemsize or pos + size > len(blob):
            raise WireError("tensor size does not match its shape")
        if n == 0:
            t = torch.empty(shape, dtype=dtype)
        else:
            t = torch.frombuffer(blob, dtype=dtype, count=n, offset=pos).reshape(shape)
        if m[3] and t.is_floating_point():
            t.requires_grad_(True)
        out.append(t)
        pos += size
    if pos != len(blob):
        raise WireError("trailing bytes after the tensors")
    return out


def send(fd: int, doc: dict, codec: Codec, **values) -> None:
    """Write ``doc`` with each of ``values`` encoded into it under its keyword."""
    tensors: list = []
    for k, v in values.items():
        doc[k] = codec.encode(v, tensors)[0]
    meta, blobs = pack_tensors(tensors)
    doc["tensors"] = meta
    write_frame(fd, doc, blobs)


def receive(reader: Reader, deadline: float | None = None) -> tuple[dict, list]:
    doc, blob = reader.frame(deadline)
    return doc, unpack_tensors(doc.get("tensors", []), blob)
