# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
# cython: cdivision=True, infer_types=False
"""The compiled SNMP v1/v2c response decoder: ``ber.decode_message`` in C.

Why: decoding ~300 varbinds is the largest single cost of a full DOCSIS poll in
pure Python (a slice, a tuple and often an int subclass per varbind, ~0.5 ms).
This is the same decoder, statement for statement (probes/snmp/ber.py keeps
the reference in ``_py_decode_message``): the same checks in the same order,
the same values and types, ``BerError`` (only) for anything malformed. Every
read is bounds-checked against the datagram's length before it happens; no
recursion, no allocation that the input's lengths size beyond the input.

OIDs share ber's decode cache and go through ``ber.decode_oid`` on a miss, and
INTEGERs beyond 8 octets through ``int.from_bytes``, so the rare paths are the
Python ones. Tested value for value against the Python path and pysnmp
(tests/test_snmp_codec_props.py, tests/test_snmp_ber_fast.py) and fuzzed
(tests/test_snmp_fuzz.py, fuzz/fuzz_snmp_decode.py).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItem
from cpython.list cimport PyList_Append
from cpython.long cimport PyLong_FromLongLong, PyLong_FromUnsignedLongLong
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_XDECREF
from libc.string cimport memcmp
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM

cdef extern from "Python.h":
    void PyObject_GC_UnTrack(void* op)

cdef extern from *:
    """
    #define LW_U32_MAX 0xFFFFFFFFULL
    #define LW_U64_MAX 0xFFFFFFFFFFFFFFFFULL
    """
    unsigned long long LW_U32_MAX
    unsigned long long LW_U64_MAX

# Bound to probes.snmp.ber on first use (ber imports this module, not the reverse).
cdef bint _bound = False
cdef object BerError, Message, Pdu, ObjectId, IpAddress, Opaque
cdef object Counter32, Gauge32, TimeTicks, Counter64
cdef object NULL_, NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW
cdef object decode_oid
cdef dict oid_cache


cdef int _bind() except -1:
    global _bound, BerError, Message, Pdu, ObjectId, IpAddress, Opaque
    global Counter32, Gauge32, TimeTicks, Counter64
    global NULL_, NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW, decode_oid, oid_cache
    from probes.snmp import ber
    BerError, Message, Pdu = ber.BerError, ber.Message, ber.Pdu
    ObjectId, IpAddress, Opaque = ber.ObjectId, ber.IpAddress, ber.Opaque
    Counter32, Gauge32, TimeTicks, Counter64 = ber.Counter32, ber.Gauge32, ber.TimeTicks, ber.Counter64
    NULL_, NO_SUCH_OBJECT = ber.NULL, ber.NO_SUCH_OBJECT
    NO_SUCH_INSTANCE, END_OF_MIB_VIEW = ber.NO_SUCH_INSTANCE, ber.END_OF_MIB_VIEW
    decode_oid = ber.decode_oid
    oid_cache = ber._OID_DEC_CACHE
    _bound = True
    return 0


cdef inline int _fail(str why) except -1:
    raise BerError(why)


# A header's (tag, content start, content end), as ber._header: short and
# 1-4 octet long lengths, the content within ``end``.
cdef struct Header:
    int tag
    Py_ssize_t start
    Py_ssize_t stop


cdef int _header(const unsigned char* p, Py_ssize_t pos, Py_ssize_t end, Header* h) except -1:
    cdef Py_ssize_t length, count, i
    if pos + 2 > end:
        _fail("truncated header")
    h.tag = p[pos]
    length = p[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4:
            _fail("unsupported length form")
        if pos + count > end:
            _fail("truncated length")
        length = 0
        for i in range(count):
            length = (length << 8) | p[pos + i]
        pos += count
    if length > end - pos:
        _fail("truncated content")
    h.start = pos
    h.stop = pos + length
    return 0


cdef object _signed(const unsigned char* p, Py_ssize_t n):
    """A two's complement INTEGER of 1..9 octets (the caller checked n)."""
    cdef unsigned long long u = 0
    cdef Py_ssize_t i
    if n > 8:
        return int.from_bytes(PyBytes_FromStringAndSize(<const char*>p, n), "big", signed=True)
    for i in range(n):
        u = (u << 8) | p[i]
    if p[0] & 0x80 and n < 8:
        u |= LW_U64_MAX << (8 * n)  # sign-extend
    return PyLong_FromLongLong(<long long>u)


cdef object _unsigned(const unsigned char* p, Py_ssize_t n, unsigned long long limit):
    """An unsigned value of 1..9 octets at most ``limit`` (lenient on the leading zero)."""
    cdef unsigned long long u = 0
    cdef Py_ssize_t i
    if n < 1 or n > 9:
        _fail("bad unsigned length")
    if n == 9:
        if p[0]:
            _fail("unsigned value out of range")
        p += 1
        n = 8
    for i in range(n):
        u = (u << 8) | p[i]
    if u > limit:
        _fail("unsigned value out of range")
    return PyLong_FromUnsignedLongLong(u)


cdef object _read_int(const unsigned char* p, Py_ssize_t* pos, Py_ssize_t end):
    cdef Header h
    _header(p, pos[0], end, &h)
    if h.tag != 0x02 or h.start == h.stop or h.stop - h.start > 9:
        _fail("expected INTEGER")
    pos[0] = h.stop
    return _signed(p + h.start, h.stop - h.start)


# A direct-mapped cache in front of ber's OID cache, keyed by the content octets
# themselves: a hit costs a hash of the octets and a memcmp, not a bytes object
# and a dict lookup (~300 OIDs a DOCSIS poll). Each slot owns one (octets, OID)
# pair; a collision replaces it. The mapping is a pure function of the octets,
# so a slot can only ever give what decode_oid gives. Bounded: 2048 slots of at
# most 64 octets (the length ber caches).
cdef enum:
    _SLOTS = 2048
    _SLOT_OCTETS = 64
cdef PyObject* _slot_key[_SLOTS]
cdef PyObject* _slot_oid[_SLOTS]


cdef object _oid(object data, const unsigned char* p, Py_ssize_t start, Py_ssize_t stop):
    cdef Py_ssize_t n = stop - start, i
    cdef unsigned int h = 2166136261u
    cdef PyObject* key
    cdef object raw, oid
    if n <= _SLOT_OCTETS:
        for i in range(n):
            h = (h ^ p[start + i]) * 16777619u
        h = (h ^ (h >> 15)) & (_SLOTS - 1)
        key = _slot_key[h]
        if (key is not NULL and PyBytes_GET_SIZE(<object>key) == n
                and memcmp(PyBytes_AS_STRING(<object>key), p + start, n) == 0):
            return <object>_slot_oid[h]
    raw = PyBytes_FromStringAndSize(<const char*>(p + start), n)
    cdef PyObject* hit = PyDict_GetItem(oid_cache, raw)
    oid = <object>hit if hit is not NULL else decode_oid(raw)
    if n <= _SLOT_OCTETS:
        Py_XDECREF(_slot_key[h])
        Py_XDECREF(_slot_oid[h])
        Py_INCREF(raw)
        Py_INCREF(oid)
        _slot_key[h] = <PyObject*>raw
        _slot_oid[h] = <PyObject*>oid
    return oid


cdef inline object _atom(object value):
    """Out of the cyclic GC's lists: an int subclass without slots (Counter64...)
    refers to nothing, nor does a varbind (an OID of ints, such a value) or an
    index (ints), so none can be part of a cycle. A poll makes ~600 of them; tracked,
    they made the GC's young collections walk them all every poll or so, ~25 %
    of the poll's CPU (PyObject_GC_UnTrack is what CPython does for such tuples
    lazily; a decoded message is a tree, like the batches probes.model decodes
    with the GC paused)."""
    PyObject_GC_UnTrack(<PyObject*>value)
    return value


cdef object _rare_value(int tag, const unsigned char* p, Py_ssize_t n):
    """ber._decode_value for what the loop does not inline."""
    cdef bytes content
    if tag == 0x06:
        return ObjectId(decode_oid(PyBytes_FromStringAndSize(<const char*>p, n)))
    if tag == 0x40:
        if n != 4:
            _fail("IpAddress must be 4 octets")
        return IpAddress(PyBytes_FromStringAndSize(<const char*>p, n))
    if tag == 0x44:
        return Opaque(PyBytes_FromStringAndSize(<const char*>p, n))
    if n:
        _fail("NULL-like value with content")
    if tag == 0x05:
        return NULL_
    if tag == 0x80:
        return NO_SUCH_OBJECT
    if tag == 0x81:
        return NO_SUCH_INSTANCE
    if tag == 0x82:
        return END_OF_MIB_VIEW
    _fail(f"unknown value tag 0x{tag:02x}")


cdef list _varbinds(object data, const unsigned char* p, Py_ssize_t pos, Py_ssize_t end,
                    Py_ssize_t size):
    """ber._decode_varbinds. ``end`` is the list's end, ``size`` the datagram's."""
    cdef list out = []
    cdef Header h
    cdef Py_ssize_t n, start, stop, value_pos, value_start, oid_start
    cdef int tag
    cdef object oid, value
    cdef tuple pair
    while pos < end:
        if p[pos] != 0x30:
            _fail("expected varbind SEQUENCE")
        if pos + 1 >= size:
            _fail("truncated header")
        n = p[pos + 1]
        if n < 0x80:
            start = pos + 2
            pos = start + n
            if pos > end:
                _fail("truncated content")
        else:
            _header(p, pos, end, &h)
            start, pos = h.start, h.stop
        stop = pos
        # The OID header; what the Python path reads past the varbind fails there too.
        if start + 2 > stop:
            _fail("truncated header")
        if p[start] != 0x06:
            _fail("expected varbind OID")
        n = p[start + 1]
        if n < 0x80:
            value_pos = start + 2 + n
            if value_pos > stop:
                _fail("truncated content")
            oid_start = start + 2
        else:
            _header(p, start, stop, &h)
            oid_start, value_pos = h.start, h.stop
        if oid_start == value_pos:
            _fail("truncated OID")
        oid = _oid(data, p, oid_start, value_pos)
        if value_pos + 2 > stop:
            _fail("truncated header")
        tag = p[value_pos]
        n = p[value_pos + 1]
        if n < 0x80:
            value_start = value_pos + 2
            if value_start + n != stop:
                _fail("trailing bytes in varbind")
        else:
            _header(p, value_pos, stop, &h)
            tag = h.tag
            value_start = h.start
            if h.stop != stop:
                _fail("trailing bytes in varbind")
            n = stop - value_start
        if tag == 0x02:
            if n < 1 or n > 9:
                _fail("bad INTEGER length")
            value = _signed(p + value_start, n)
        elif tag == 0x04:
            value = PyBytes_FromStringAndSize(<const char*>(p + value_start), n)
        elif tag == 0x41:
            value = _atom(Counter32(_unsigned(p + value_start, n, LW_U32_MAX)))
        elif tag == 0x42:
            value = _atom(Gauge32(_unsigned(p + value_start, n, LW_U32_MAX)))
        elif tag == 0x43:
            value = _atom(TimeTicks(_unsigned(p + value_start, n, LW_U32_MAX)))
        elif tag == 0x46:
            value = _atom(Counter64(_unsigned(p + value_start, n, LW_U64_MAX)))
        else:
            value = _rare_value(tag, p + value_start, n)
        pair = PyTuple_New(2)
        Py_INCREF(oid)
        PyTuple_SET_ITEM(pair, 0, oid)
        Py_INCREF(value)
        PyTuple_SET_ITEM(pair, 1, value)
        PyObject_GC_UnTrack(<PyObject*>pair)  # see _atom
        PyList_Append(out, pair)
    return out


def decode_message(data):
    """Datagram -> Message. Raises BerError (only) for anything malformed or truncated."""
    cdef Header h
    cdef Py_ssize_t pos, stop, pdu_end, end
    cdef const unsigned char* p
    cdef object version, request_id, error_status, error_index, community
    cdef int tag
    if not _bound:
        _bind()
    if not PyBytes_CheckExact(data):
        try:
            data = bytes(data)
        except (IndexError, ValueError, OverflowError, TypeError) as exc:
            raise BerError(f"malformed message: {exc}") from None
    p = <const unsigned char*>PyBytes_AS_STRING(data)
    end = PyBytes_GET_SIZE(data)
    _header(p, 0, end, &h)
    if h.tag != 0x30 or h.stop != end:
        _fail("not a single SNMP message SEQUENCE")
    pos, stop = h.start, h.stop
    version = _read_int(p, &pos, stop)
    if not (version == 0 or version == 1):
        _fail(f"unsupported SNMP version {version}")
    _header(p, pos, stop, &h)
    if h.tag != 0x04:
        _fail("expected community OCTET STRING")
    community = PyBytes_FromStringAndSize(<const char*>(p + h.start), h.stop - h.start)
    _header(p, h.stop, stop, &h)
    if h.stop != stop:
        _fail("trailing bytes after PDU")
    tag = h.tag
    if tag < 0xA0 or tag > 0xA8 or tag == 0xA4:
        _fail(f"unsupported PDU tag 0x{tag:02x}")
    pos, pdu_end = h.start, h.stop
    request_id = _read_int(p, &pos, pdu_end)
    error_status = _read_int(p, &pos, pdu_end)
    error_index = _read_int(p, &pos, pdu_end)
    _header(p, pos, pdu_end, &h)
    if h.tag != 0x30 or h.stop != pdu_end:
        _fail("expected varbind list")
    return Message(version, community,
                   Pdu(tag, request_id, error_status, error_index,
                       _varbinds(data, p, h.start, h.stop, end)))


# --- the poll's other per-varbind loops (probes/snmp/probe.py, reading.py) ----------------

from cpython.dict cimport PyDict_Next, PyDict_SetItem
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_Check, PyLong_CheckExact
from cpython.bool cimport PyBool_Check
from cpython.float cimport PyFloat_FromDouble
from cpython.number cimport PyNumber_Long
from cpython.object cimport Py_EQ, Py_LE, PyObject_RichCompareBool
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE, PyTuple_GetSlice

_round = round


# One-arc row indexes (ifIndex...: every DOCSIS table) shared across polls, not
# ~300 new tuples a poll; bounded like ber's OID caches.
cdef dict _index1 = {}
cdef Py_ssize_t _INDEX1_MAX = 65536


cdef object _index(object oid, Py_ssize_t n, Py_ssize_t size):
    """oid[n:], an exact tuple of more than n arcs."""
    cdef object arc, index
    cdef PyObject* hit
    cdef Py_ssize_t i
    if size - n == 1:
        arc = <object>PyTuple_GET_ITEM(oid, n)
        if PyLong_CheckExact(arc):
            hit = PyDict_GetItem(_index1, arc)
            if hit is not NULL:
                return <object>hit
            index = PyTuple_GetSlice(oid, n, size)
            PyObject_GC_UnTrack(<PyObject*>index)  # ints only: see _atom
            if len(_index1) < _INDEX1_MAX:
                _index1[arc] = index
            return index
    index = PyTuple_GetSlice(oid, n, size)
    for i in range(size - n):
        if not PyLong_CheckExact(<object>PyTuple_GET_ITEM(index, i)):
            return index
    PyObject_GC_UnTrack(<PyObject*>index)  # ints only: see _atom
    return index


cdef bint _ints_equal(object oid, object prefix, Py_ssize_t n) except -1:
    """oid[:n] is n exact ints equal to prefix's (both tuples of at least n)."""
    cdef Py_ssize_t i
    cdef object a
    for i in range(n):
        a = <object>PyTuple_GET_ITEM(oid, i)
        if not PyLong_CheckExact(a) or not PyObject_RichCompareBool(
                a, <object>PyTuple_GET_ITEM(prefix, i), Py_EQ):
            return False
    return True


cdef bint _tail_le(object oid, object last, Py_ssize_t n) except -1:
    """oid <= last for two tuples whose first n arcs are the same ints: the tuple
    comparison from arc n on (the first unequal arc decides, else the lengths)."""
    cdef Py_ssize_t i, size = PyTuple_GET_SIZE(oid), other = PyTuple_GET_SIZE(last)
    cdef object a, b
    for i in range(n, size if size < other else other):
        a = <object>PyTuple_GET_ITEM(oid, i)
        b = <object>PyTuple_GET_ITEM(last, i)
        if not PyObject_RichCompareBool(a, b, Py_EQ):
            return PyObject_RichCompareBool(a, b, Py_LE)
    return size <= other


def absorb(list items, object prefix, object last, dict got):
    """walk_columns' loop over one column's answers: each (oid, value) under
    ``prefix`` and past ``last`` goes into ``got`` by its index (the arcs after
    the prefix); the first that is not (endOfMibView, another subtree, not
    increasing) ends the column. Returns (last, done); done also when ``items``
    is empty. The same as probe._absorb, for tuples without the slices; where
    the prefix and ``last`` are exact ints (decoded OIDs) the "not increasing"
    check compares only the arcs after the prefix."""
    cdef Py_ssize_t n = len(prefix), i, size
    cdef bint done = not items
    cdef bint fast = type(prefix) is tuple
    cdef bint ints = fast and _ints_equal(prefix, prefix, n)
    cdef bint last_ints = (ints and type(last) is tuple and PyTuple_GET_SIZE(last) >= n
                           and _ints_equal(last, prefix, n))
    cdef bint exact, le
    cdef object item, oid, value, index, a, b
    if not _bound:
        _bind()
    for item in items:
        if type(item) is tuple and PyTuple_GET_SIZE(item) == 2:
            oid = <object>PyTuple_GET_ITEM(item, 0)
            value = <object>PyTuple_GET_ITEM(item, 1)
        else:
            oid, value = item
        if value is END_OF_MIB_VIEW:
            done = True
            break
        if fast and type(oid) is tuple:
            size = PyTuple_GET_SIZE(oid)
            if size < n:
                done = True
                break
            exact = ints
            for i in range(n):
                a = <object>PyTuple_GET_ITEM(oid, i)
                b = <object>PyTuple_GET_ITEM(prefix, i)
                if a is b:
                    continue
                if not PyLong_CheckExact(a):
                    exact = False
                if not PyObject_RichCompareBool(a, b, Py_EQ):
                    done = True
                    break
            if done:
                break
            if exact and last_ints:
                le = _tail_le(oid, last, n)
            else:
                le = PyObject_RichCompareBool(oid, last, Py_LE)
            if le:
                done = True
                break
            index = _index(oid, n, size)
            PyDict_SetItem(got, index, value)
            last_ints = exact
        else:
            if oid[:n] != prefix or oid <= last:
                done = True
                break
            got[oid[n:]] = value
            last_ints = False
        last = oid
    return last, done


cdef object _level(double x):
    """reading._level of a float already in range: round(x, 3)."""
    return _round(PyFloat_FromDouble(x), 3)


cdef double _divisor(int kind, double scale):
    # The usual scales (x1, TenthdB(mV) x0.1, x0.01, x0.001) without Python's
    # round(), ~0.4 us a call through its decimal conversion: for |n| <= 1e9,
    # n * scale is within ~1e-7 of the decimal n / d (at most three decimals), so
    # round(n * scale, 6) is that decimal's nearest double, which is n / d (IEEE
    # division of exact doubles is correctly rounded), and round(n / d, 3) is n / d
    # again. tests/test_snmp_ber_fast.py compares against round() on every n up to
    # 2e4 and hypothesis' choice beyond.
    if kind == 2:
        if scale == 1.0:
            return 1.0
        if scale == 0.1:
            return 10.0
        if scale == 0.01:
            return 100.0
        if scale == 0.001:
            return 1000.0
    return 0.0


cdef object _convert(object value, int kind, double scale, double divisor, bint level):
    """One value as convert_column converts it; None where it does not convert."""
    cdef long long n
    cdef int overflow
    cdef double x
    cdef object result
    if not PyLong_Check(value) or PyBool_Check(value):
        return None
    if kind == 0:
        n = PyLong_AsLongLongAndOverflow(value, &overflow)
        if overflow or n < 0:
            return None
        return value if PyLong_CheckExact(value) else PyLong_FromLongLong(n)
    if kind == 1:
        return value if PyLong_CheckExact(value) else PyNumber_Long(value)
    n = PyLong_AsLongLongAndOverflow(value, &overflow)
    if divisor and not overflow and -1000000000 <= n <= 1000000000:
        x = n / divisor  # = round(n * scale, 6) and its round(x, 3): see _divisor
        if level and not -1000 <= x <= 1000:
            return None
        return PyFloat_FromDouble(x)
    if not overflow and -(1LL << 53) <= n <= (1LL << 53):
        result = _round(PyFloat_FromDouble(<double>n * scale), 6)  # exact int -> float
    else:
        result = _round(value * scale, 6)
    x = result
    if not -1e12 <= x <= 1e12:
        return None
    if level:
        if not -1000 <= x <= 1000:
            return None
        result = _level(x)
    return result


def convert_column(dict values, int kind, double scale, bint level=False):
    """reading._column's loop for the numeric kinds: {index: raw} -> {index:
    converted}, leaving out what does not convert (not an int, a bool or an
    exception value, out of range). kind 0: counter (0..2**63-1, a plain int),
    1: int (a plain int), 2: scaled (round(value * scale, 6) within +-1e12);
    ``level`` (scaled only): then reading._level (round(x, 3) within +-1000)."""
    cdef dict out = {}
    cdef Py_ssize_t pos = 0
    cdef PyObject* k
    cdef PyObject* v
    cdef object result
    cdef double divisor = _divisor(kind, scale)
    while PyDict_Next(values, &pos, &k, &v):
        result = _convert(<object>v, kind, scale, divisor, level)
        if result is not None:
            PyDict_SetItem(out, <object>k, result)
    return out


def all_convert(dict values, object rows, int kind, double scale):
    """Whether each of ``rows`` has a value in ``values`` that convert_column keeps
    (probe._any_unusable's question, without building the converted column)."""
    cdef double divisor = _divisor(kind, scale)
    cdef PyObject* v
    cdef object value
    cdef long long n
    cdef int overflow
    for row in rows:
        v = PyDict_GetItem(values, row)
        if v is NULL:
            return False
        value = <object>v
        if kind == 0 or kind == 1:  # the check alone, no converted int to make
            if not PyLong_Check(value) or PyBool_Check(value):
                return False
            if kind == 0:
                n = PyLong_AsLongLongAndOverflow(value, &overflow)
                if overflow or n < 0:
                    return False
        elif _convert(value, kind, scale, divisor, False) is None:
            return False
    return True
