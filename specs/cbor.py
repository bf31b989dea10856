"""Strict CBOR for the OCMT Mesh spec checkers (Python standard library only).

Written from internal/wire/doc.go ("CBOR"), not from the Go code. Three
layers:

  parse(data)      the well-formedness rules every decoder applies to a
                   whole input, raw items included: one data item, nothing
                   after it, definite lengths only, no tags, no reserved
                   additional information, nesting at most MAX_DEPTH levels
                   (the outermost item is level 1), arrays of at most
                   MAX_ARRAY elements, maps of at most MAX_MAP pairs.
  canonical(item)  the canonical rules of a typed value: shortest heads,
                   map keys strictly increasing bytewise (so no duplicate),
                   valid UTF-8 text, and of the simple values only false and
                   true (null, undefined, other simple values and floats are
                   no field's value).
  message(...)     a schema: integer keys, each field's type, required or
                   optional, and an optional field never present with its
                   zero value (0, false, empty string, empty array).

Any failure raises Malformed. The caps are parameters because the token
format uses smaller ones (capability/doc.go).
"""

MAX_ARRAY = 1024
MAX_MAP = 64
MAX_DEPTH = 16


class Malformed(Exception):
    """The bytes are not what the spec allows."""


class Item:
    """One parsed data item: its major type, head value, whether the head
    was the shortest form, its children, and where it lies in the input."""

    __slots__ = ("major", "ai", "arg", "minimal", "value", "start", "end", "data")

    def __init__(self, major, ai, arg, minimal, value, start, end, data):
        self.major, self.ai, self.arg, self.minimal = major, ai, arg, minimal
        self.value, self.start, self.end, self.data = value, start, end, data

    def raw(self):
        return self.data[self.start:self.end]

    def __repr__(self):
        return "Item(major=%d, arg=%r)" % (self.major, self.arg)


def parse(data, max_array=MAX_ARRAY, max_map=MAX_MAP, max_depth=MAX_DEPTH):
    """Parse exactly one well-formed item from data (bytes)."""
    data = bytes(data)
    item, pos = _parse(data, 0, 1, max_array, max_map, max_depth)
    if pos != len(data):
        raise Malformed("%d bytes after the item" % (len(data) - pos))
    return item


def _head(data, pos):
    if pos >= len(data):
        raise Malformed("truncated")
    ib = data[pos]
    major, ai = ib >> 5, ib & 0x1F
    pos += 1
    if ai < 24:
        return major, ai, ai, True, pos
    if ai in (24, 25, 26, 27):
        n = 1 << (ai - 24)
        if pos + n > len(data):
            raise Malformed("truncated head")
        arg = int.from_bytes(data[pos:pos + n], "big")
        minimal = arg >= (24, 0x100, 0x10000, 0x100000000)[ai - 24]
        return major, ai, arg, minimal, pos + n
    if ai == 31:
        raise Malformed("indefinite length or break")
    raise Malformed("reserved additional information %d" % ai)


def _parse(data, pos, depth, max_array, max_map, max_depth):
    start = pos
    major, ai, arg, minimal, pos = _head(data, pos)
    if major in (0, 1):
        value = arg
    elif major in (2, 3):
        if pos + arg > len(data):
            raise Malformed("truncated string")
        value = data[pos:pos + arg]
        pos += arg
    elif major in (4, 5):
        if depth > max_depth:
            raise Malformed("nested deeper than %d" % max_depth)
        if major == 4:
            if arg > max_array:
                raise Malformed("array of %d elements, cap %d" % (arg, max_array))
            value = []
            for _ in range(arg):
                it, pos = _parse(data, pos, depth + 1, max_array, max_map, max_depth)
                value.append(it)
        else:
            if arg > max_map:
                raise Malformed("map of %d pairs, cap %d" % (arg, max_map))
            value = []
            for _ in range(arg):
                k, pos = _parse(data, pos, depth + 1, max_array, max_map, max_depth)
                v, pos = _parse(data, pos, depth + 1, max_array, max_map, max_depth)
                value.append((k, v))
    elif major == 6:
        raise Malformed("tag")
    else:  # major 7
        if ai == 24 and arg < 32:
            raise Malformed("two-byte simple value below 32")
        value = arg
    return Item(major, ai, arg, minimal, value, start, pos, data), pos


def canonical(item):
    """Apply the canonical rules to item and everything inside it."""
    _canonical_head(item)
    if item.major == 4:
        for it in item.value:
            canonical(it)
    elif item.major == 5:
        _canonical_keys(item)
        for _, v in item.value:
            canonical(v)


def _canonical_head(item):
    if not item.minimal:
        raise Malformed("non-shortest head")
    if item.major == 3:
        try:
            item.value.decode("utf-8", "strict")
        except UnicodeDecodeError:
            raise Malformed("invalid UTF-8")
    elif item.major == 7:
        if item.ai not in (20, 21):
            raise Malformed("simple value or float other than false/true")


def _canonical_keys(item):
    prev = None
    for k, _ in item.value:
        canonical(k)
        kb = k.raw()
        if prev is not None and kb <= prev:
            raise Malformed("map keys not strictly increasing")
        prev = kb


# ---- schema -------------------------------------------------------------

UINT, UINT8, UINT16, INT, BYTES, TEXT, BOOL, RAW = (
    "uint", "uint8", "uint16", "int", "bytes", "text", "bool", "raw")

_ZERO = {UINT: 0, UINT8: 0, UINT16: 0, INT: 0, BYTES: b"", TEXT: "", BOOL: False}


class Array:
    def __init__(self, elem):
        self.elem = elem


class Msg:
    """A CBOR map with unsigned integer keys: fields is a list of
    (key, name, type, required)."""

    def __init__(self, name, fields):
        self.name = name
        self.fields = {k: (n, t, r) for k, n, t, r in fields}


def value(item, typ):
    """The value of item as type typ (canonical rules apply, except inside
    RAW, which is returned as its exact bytes)."""
    if typ == RAW:
        return item.raw()
    _canonical_head(item)
    m = item.major
    if typ in (UINT, UINT8, UINT16):
        if m != 0:
            raise Malformed("want an unsigned integer (major type 0)")
        cap = {UINT: 2**64 - 1, UINT8: 255, UINT16: 65535}[typ]
        if item.value > cap:
            raise Malformed("%d over %d" % (item.value, cap))
        return item.value
    if typ == INT:
        if m == 0:
            if item.value > 2**63 - 1:
                raise Malformed("integer over 2^63-1")
            return item.value
        if m == 1:
            if item.value > 2**63 - 1:
                raise Malformed("integer under -2^63")
            return -1 - item.value
        raise Malformed("want an integer (major type 0 or 1)")
    if typ == BYTES:
        if m != 2:
            raise Malformed("want a byte string (major type 2)")
        return item.value
    if typ == TEXT:
        if m != 3:
            raise Malformed("want a text string (major type 3)")
        return item.value.decode("utf-8")
    if typ == BOOL:
        if m != 7 or item.ai not in (20, 21):
            raise Malformed("want false or true")
        return item.ai == 21
    if isinstance(typ, Array):
        if m != 4:
            raise Malformed("want an array (major type 4)")
        return [value(it, typ.elem) for it in item.value]
    if isinstance(typ, Msg):
        return message(item, typ)
    raise AssertionError("unknown type %r" % (typ,))


def message(item, msg):
    """Decode item as the map msg describes; returns {name: value} with
    only the fields present."""
    if item.major != 5:
        raise Malformed("%s: want a map (major type 5)" % msg.name)
    _canonical_head(item)
    _canonical_keys(item)
    out = {}
    for k, v in item.value:
        if k.major != 0 or k.value not in msg.fields:
            raise Malformed("%s: unknown field %r" % (msg.name, k.value))
        name, typ, _ = msg.fields[k.value]
        out[name] = value(v, typ)
    for key, (name, typ, required) in msg.fields.items():
        if name not in out:
            if required:
                raise Malformed("%s: field %d (%s) is required" % (msg.name, key, name))
        elif not required and _is_zero(out[name], typ):
            raise Malformed("%s: optional field %d (%s) present with its zero value" % (msg.name, key, name))
    return out


def _is_zero(v, typ):
    if isinstance(typ, Array):
        return len(v) == 0
    if typ in _ZERO:
        return v == _ZERO[typ]
    return False


def decode(data, msg, **caps):
    """Parse data (one item, whole input) and decode it as msg."""
    return message(parse(data, **caps), msg)


# ---- encoding (for building test inputs inside checkers) -----------------

def head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    for ai, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * size):
            return bytes([major << 5 | ai]) + n.to_bytes(size, "big")
    raise ValueError(n)


def encode(v):
    """Canonical encoding of ints, bytes, str, bool, lists and dicts with
    integer keys (enough to rebuild what a checker needs to compare)."""
    if isinstance(v, bool):
        return b"\xf5" if v else b"\xf4"
    if isinstance(v, int):
        return head(0, v) if v >= 0 else head(1, -1 - v)
    if isinstance(v, (bytes, bytearray)):
        return head(2, len(v)) + bytes(v)
    if isinstance(v, str):
        b = v.encode("utf-8")
        return head(3, len(b)) + b
    if isinstance(v, list):
        return head(4, len(v)) + b"".join(encode(x) for x in v)
    if isinstance(v, dict):
        pairs = sorted((encode(k), encode(x)) for k, x in v.items())
        return head(5, len(pairs)) + b"".join(k + x for k, x in pairs)
    raise TypeError(type(v))
