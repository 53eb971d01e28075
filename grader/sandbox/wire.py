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
    ["K", module, class] a lab's class itself         ["H", side, id, class] a handle to an object
                                                      that stays on ``side`` ("s" or "j")

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
import time

import torch

MAGIC = 0x5011
HEADER = struct.Struct(">IIQ")
MAX_JSON = 64 << 20           # one frame's JSON part
MAX_BLOB = 1 << 30            # one frame's tensors
MAX_DEPTH = 200

DTYPES = {str(d).removeprefix("torch."): d for d in (
    torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.int16,
    torch.int8, torch.uint8, torch.bool, torch.complex64, torch.complex128)}


class WireError(Exception):
    """A frame or value that breaks the format: the other side sent something that is not data."""


class Deadline(Exception):
    """The clock ran out while waiting for a frame."""


class Closed(Exception):
    """The other side closed the channel (it exited or was killed)."""


# --------------------------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------------------------

def write_frame(fd: int, doc: dict, blobs: list[bytes]) -> None:
    body = json.dumps(doc, separators=(",", ":"), allow_nan=True).encode()
    blob = b"".join(blobs)
    data = HEADER.pack(MAGIC, len(body), len(blob)) + body + blob
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


class Reader:
    """Frames from one file descriptor, read in large chunks (one system call per frame, usually)."""

    def __init__(self, fd: int):
        self.fd = fd
        self.buf = bytearray()

    def _fill(self, need: int, deadline: float | None) -> None:
        while len(self.buf) < need:
            if deadline is not None:
                wait = deadline - time.monotonic()
                if wait <= 0:
                    raise Deadline()
                ready, _, _ = select.select([self.fd], [], [], wait)
                if not ready:
                    raise Deadline()
            chunk = os.read(self.fd, max(need - len(self.buf), 1 << 16))
            if not chunk:
                raise Closed()
            self.buf += chunk

    def _take(self, n: int) -> bytes:
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def frame(self, deadline: float | None = None) -> tuple[dict, bytes]:
        """One frame, or Deadline when ``deadline`` (time.monotonic()) passes first, however the bytes trickle."""
        self._fill(HEADER.size, deadline)
        magic, n_json, n_blob = HEADER.unpack(self.buf[:HEADER.size])
        if magic != MAGIC or n_json > MAX_JSON or n_blob > MAX_BLOB:
            raise WireError(f"bad frame header (magic {magic:#x}, {n_json} B of JSON, {n_blob} B of tensors)")
        self._fill(HEADER.size + n_json + n_blob, deadline)
        self._take(HEADER.size)
        body, blob = self._take(n_json), self._take(n_blob)
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

def is_data_type(cls) -> bool:
    """A lab's declared value types: dataclasses and NamedTuples (rebuilt from their fields)."""
    return isinstance(cls, type) and (dataclasses.is_dataclass(cls) or
                                      (issubclass(cls, tuple) and hasattr(cls, "_fields")))


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
        if depth > MAX_DEPTH:
            raise Unsendable("a value nested more than 200 levels deep")
        t = type(v)
        if v is None or t in (bool, int, str):
            return v
        if t is float:
            return v
        if isinstance(v, bool):
            return bool(v)
        if isinstance(v, torch.Tensor):
            if self.tracked is not None:
                mark = self.tracked.encode(v)
                if mark is not None:
                    tensors.append(v)
                    return ["TK", len(tensors) - 1, *mark]
            tensors.append(v)
            return ["T", len(tensors) - 1]
        if isinstance(v, int):                       # IntEnum, numpy ints: their value
            return int(v)
        if isinstance(v, float):
            return float(v)
        if isinstance(v, str):
            return str(v)
        if hasattr(v, "__index__") and type(v).__module__ == "numpy":
            return int(v)
        if type(v).__module__ == "numpy" and hasattr(v, "dtype") and getattr(v, "ndim", None) == 0:
            return float(v)
        if isinstance(v, torch.dtype):
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
        if tag in ("l", "t", "g", "q", "s", "d", "C"):
            k = self._slot()
            return self._kept(k, self._dec_container(tag, rest, d), n)
        return self._dec_leaf(tag, rest, tensors)

    def _dec_container(self, tag, rest, d):
        if tag == "l":
            return [d(x) for x in _items(rest)]
        if tag == "t":
            return tuple(d(x) for x in _items(rest))
        if tag == "g":
            return iter([d(x) for x in _items(rest)])
        if tag == "q":
            return collections.deque(d(x) for x in _items(rest))
        if tag == "s":
            return set(d(x) for x in _items(rest))
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

    def _dec_leaf(self, tag, rest, tensors):
        if tag == "T":
            return tensors[_index(rest, tensors)]
        if tag == "TK":
            t = tensors[_index(rest[:1], tensors)]
            if self.tracked is None or len(rest) != 3:
                return t
            return self.tracked.decode(t, rest[1], rest[2])
        if tag == "dt":
            if len(rest) != 1 or rest[0] not in DTYPES:
                raise WireError(f"unknown dtype {rest!r}")
            return DTYPES[rest[0]]
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

def pack_tensors(tensors: list) -> tuple[list, list[bytes]]:
    meta, blobs = [], []
    for t in tensors:
        t = t.detach()
        if type(t) is not torch.Tensor:
            t = t.as_subclass(torch.Tensor)
        if t.layout != torch.strided or t.device.type != "cpu":
            t = t.to_dense() if t.layout != torch.strided else t
            t = t.cpu()
        name = str(t.dtype).removeprefix("torch.")
        if name not in DTYPES:
            raise Unsendable(f"a tensor of dtype {t.dtype}")
        raw = t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        meta.append([name, list(t.shape), len(raw), bool(t.requires_grad)])
        blobs.append(raw)
    return meta, blobs


def unpack_tensors(meta, blob: bytes) -> list:
    if type(meta) is not list:
        raise WireError("bad tensor table")
    out, pos = [], 0
    for m in meta:
        if type(m) is not list or len(m) != 4 or m[0] not in DTYPES or type(m[1]) is not list \
                or not all(type(s) is int and s >= 0 for s in m[1]) or type(m[2]) is not int:
            raise WireError("bad tensor entry")
        dtype, shape, size = DTYPES[m[0]], m[1], m[2]
        n = math.prod(shape)
        if size != n * dtype.itemsize or pos + size > len(blob):
            raise WireError("tensor size does not match its shape")
        if n == 0:
            t = torch.empty(shape, dtype=dtype)
        else:
            t = torch.frombuffer(bytearray(blob[pos:pos + size]), dtype=dtype).reshape(shape)
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
