# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
# cython: cdivision=True
"""The compiled send and receive of probes.ping's bulk ICMP path.

Why: on a 10,000-host round about half of PingProbe's CPU was the interpreter
around two system calls per echo (bench/bench_ping.py): ``sendto`` parsing the
address tuple again for every request, and ``recvmsg`` building a bytes, an
ancillary-data list, an address tuple and its string for every reply, then
Python unpacking the timestamp. Here an echo request is packed, checksummed
and sent from a sockaddr prepared once per host, and replies are read up to
64 at a time with ``recvmmsg`` (one system call), each handed back as
``(data, source, kernel timestamp)``.

Same packets and the same fields as the Python path in probes/ping.py, which
stays the reference where this module is not built (tests/test_ping_fast.py
compares them packet for packet and call for call).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.list cimport PyList_Append
from libc.errno cimport errno
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport strlen

cdef extern from *:
    """
    #include <sys/socket.h>
    #include <netinet/in.h>
    #include <arpa/inet.h>
    #include <time.h>
    #include <string.h>

    #define LW_BATCH 64
    #define LW_BUF 2048
    #define LW_CTRL 64

    /* One receive batch: replies are copied out into Python objects before
       lw_recv returns, and the event loop's thread holds the GIL throughout,
       so one static set of buffers serves every socket. */
    static struct mmsghdr lw_msgs[LW_BATCH];
    static struct iovec lw_iov[LW_BATCH];
    static char lw_bufs[LW_BATCH][LW_BUF];
    static char lw_ctrl[LW_BATCH][LW_CTRL];
    static struct sockaddr_storage lw_addrs[LW_BATCH];

    static int lw_recv(int fd, int want) {
        int i;
        if (want > LW_BATCH) want = LW_BATCH;
        for (i = 0; i < want; i++) {
            lw_iov[i].iov_base = lw_bufs[i];
            lw_iov[i].iov_len = LW_BUF;
            memset(&lw_msgs[i], 0, sizeof(lw_msgs[i]));
            lw_msgs[i].msg_hdr.msg_name = &lw_addrs[i];
            lw_msgs[i].msg_hdr.msg_namelen = sizeof(lw_addrs[i]);
            lw_msgs[i].msg_hdr.msg_iov = &lw_iov[i];
            lw_msgs[i].msg_hdr.msg_iovlen = 1;
            lw_msgs[i].msg_hdr.msg_control = lw_ctrl[i];
            lw_msgs[i].msg_hdr.msg_controllen = LW_CTRL;
        }
        return recvmmsg(fd, lw_msgs, want, MSG_DONTWAIT, NULL);
    }

    /* The kernel's receive time of reply i (SO_TIMESTAMPNS), or -1.0. */
    static double lw_stamp(int i) {
        struct msghdr *m = &lw_msgs[i].msg_hdr;
        struct cmsghdr *c;
        struct timespec ts;
        for (c = CMSG_FIRSTHDR(m); c != NULL; c = CMSG_NXTHDR(m, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS
                    && c->cmsg_len >= CMSG_LEN(sizeof(ts))) {
                memcpy(&ts, CMSG_DATA(c), sizeof(ts));
                return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
            }
        }
        return -1.0;
    }

    /* Reply i's source address as text into out (INET6_ADDRSTRLEN), or "". */
    static void lw_source(int i, char *out) {
        struct sockaddr_storage *a = &lw_addrs[i];
        out[0] = 0;
        if (a->ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)a)->sin_addr, out, INET6_ADDRSTRLEN);
        else if (a->ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)a)->sin6_addr, out, INET6_ADDRSTRLEN);
    }

    static ssize_t lw_send(int fd, const void *buf, size_t n, const char *addr,
                           unsigned int addrlen) {
        return sendto(fd, buf, n, MSG_DONTWAIT, (const struct sockaddr *)addr,
                      (socklen_t)addrlen);
    }

    static char *lw_data(int i) { return lw_bufs[i]; }
    static int lw_len(int i) { return (int)lw_msgs[i].msg_len; }
    """
    int LW_BATCH
    int INET6_ADDRSTRLEN
    int EAGAIN
    int EWOULDBLOCK
    int EINTR
    int lw_recv(int fd, int want) nogil
    double lw_stamp(int i)
    void lw_source(int i, char *out)
    char *lw_data(int i)
    int lw_len(int i)
    ssize_t lw_send(int fd, const void *buf, size_t n, const char *addr,
                    unsigned int addrlen) nogil

BATCH = LW_BATCH
_ECHO_SIZE = 20  # !BBHHH4sQ: header, the magic, the nonce


cdef inline uint32_t _fold(uint32_t total):
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return (~total) & 0xFFFF


def echo_request(int icmp_type, int checksummed, unsigned int ident, unsigned int seq,
                 bytes magic, unsigned long long nonce):
    """The echo request probes.ping sends: ``_ECHO.pack(icmp_type, 0, checksum,
    ident, seq, magic, nonce)``, the RFC 1071 checksum filled in when
    ``checksummed`` (IPv4; for ICMPv6 the kernel fills it)."""
    cdef uint8_t packet[20]
    _pack(packet, icmp_type, checksummed, ident, seq, magic, nonce)
    return PyBytes_FromStringAndSize(<char *>packet, 20)


cdef void _pack(uint8_t *p, int icmp_type, int checksummed, unsigned int ident,
                unsigned int seq, bytes magic, unsigned long long nonce):
    cdef int i
    cdef uint32_t total = 0
    cdef const uint8_t *m = <const uint8_t *>PyBytes_AS_STRING(magic)
    p[0] = <uint8_t>icmp_type
    p[1] = 0
    p[2] = 0
    p[3] = 0
    p[4] = (ident >> 8) & 0xFF
    p[5] = ident & 0xFF
    p[6] = (seq >> 8) & 0xFF
    p[7] = seq & 0xFF
    for i in range(4):
        p[8 + i] = m[i]
    for i in range(8):
        p[12 + i] = (nonce >> (56 - 8 * i)) & 0xFF
    if checksummed:
        for i in range(0, 20, 2):
            total += (<uint32_t>p[i] << 8) | p[i + 1]
        total = _fold(total)
        p[2] = (total >> 8) & 0xFF
        p[3] = total & 0xFF


def send_echo(int fd, bytes dest, int icmp_type, int checksummed, unsigned int ident,
              unsigned int seq, bytes magic, unsigned long long nonce):
    """Send one echo request to ``dest`` (a packed sockaddr, see ``pack_sockaddr``
    in probes.ping) without blocking: 0 when the kernel took it, else the errno
    (EAGAIN for a full send buffer), as ``socket.sendto`` would have raised."""
    cdef uint8_t packet[20]
    if PyBytes_GET_SIZE(magic) != 4:
        raise ValueError("the payload magic is 4 bytes")
    _pack(packet, icmp_type, checksummed, ident, seq, magic, nonce)
    cdef const char *addr = PyBytes_AS_STRING(dest)
    cdef unsigned int addrlen = <unsigned int>PyBytes_GET_SIZE(dest)
    cdef ssize_t sent
    with nogil:
        sent = lw_send(fd, packet, 20, addr, addrlen)
    if sent < 0:
        return errno
    return 0


def recv_replies(int fd, int want):
    """Up to ``want`` (at most BATCH) queued packets in one ``recvmmsg``: a list
    of ``(data, source, stamp)``, ``stamp`` the kernel's receive time or -1.0.
    An empty list when nothing is queued; OSError for any other failure, as
    ``socket.recvmsg`` raises."""
    cdef int n, i
    cdef char source[64]
    with nogil:
        n = lw_recv(fd, want)
    if n < 0:
        if errno == EAGAIN or errno == EWOULDBLOCK or errno == EINTR:
            return []
        raise OSError(errno, _strerror(errno))
    out = []
    for i in range(n):
        lw_source(i, source)
        PyList_Append(out, (PyBytes_FromStringAndSize(lw_data(i), lw_len(i)),
                            source[:strlen(source)].decode("ascii"), lw_stamp(i)))
    return out


def _strerror(int code):
    import os
    return os.strerror(code)
