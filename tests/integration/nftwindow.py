#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""How long a set was missing, from the kernel's own nf_tables notifications.

usage: nftwindow.py FAMILY TABLE SET [TIMEOUT]     e.g. nftwindow.py inet cdnallow allow_v4

Listens on the NFNLGRP_NFTABLES netlink group (what `nft monitor` reads, without its
per-event lookups and stdio buffering), prints READY, then waits. The clock starts at the
first transaction committed by a process named nft (nftables.service's `nft -f
/etc/nftables.conf`, or its `nft flush ruleset` on stop): the kernel sends the "new
generation" notice after a transaction's object notices. It stops at the first element added
to SET of TABLE after that table was deleted or the clock started. Prints
"window_ms=N same_transaction=yes|no by=PROCESS" (the process whose transaction put the
elements back); elements that came back in nft's own first transaction (an include in the
file it loads) are a window of 0. Exit 1 when they did not come back within
TIMEOUT seconds (default 20).
"""
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
NFNLGRP_NFTABLES = 7
NFNL_SUBSYS_NFTABLES = 10
NFT_MSG_DELTABLE, NFT_MSG_NEWSETELEM, NFT_MSG_NEWGEN = 2, 12, 15
FAMILIES = {'inet': 1, 'ip': 2, 'ip6': 10}


def attrs(payload):
    """{type: bytes} of the attributes after the 4-byte nfgenmsg."""
    out, off = {}, 4
    while off + 4 <= len(payload):
        alen, atype = struct.unpack_from('=HH', payload, off)
        if alen < 4:
            break
        out[atype & 0x3fff] = payload[off + 4:off + alen]
        off += (alen + 3) & ~3
    return out


def cstr(b):
    return b.split(b'\0', 1)[0].decode(errors='replace') if b else ''


def events(sock, deadline):
    """(monotonic time, message type, family, attributes) as the kernel sends them."""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = sock.recv(1 << 20)
        except socket.timeout:
            return
        now = time.monotonic()
        off = 0
        while off + 16 <= len(data):
            mlen, mtype = struct.unpack_from('=IH', data, off)
            if mlen < 16:
                break
            if mtype >> 8 == NFNL_SUBSYS_NFTABLES:
                payload = data[off + 16:off + mlen]
                yield now, mtype & 0xff, payload[0] if payload else 0, attrs(payload)
            off += (mlen + 3) & ~3


def main():
    family, table, setname = FAMILIES[sys.argv[1]], sys.argv[2], sys.argv[3]
    timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 20.0
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.bind((0, 0))
    sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, NFNLGRP_NFTABLES)
    print('READY', flush=True)
    deleted, t0, ms = False, None, None
    for now, kind, fam, a in events(sock, time.monotonic() + timeout):
        if kind == NFT_MSG_DELTABLE and fam == family and cstr(a.get(1)) == table:
            deleted = True
        elif kind == NFT_MSG_NEWGEN and ms is not None:
            # the transaction that put the elements back ends here: whose was it?
            print('window_ms=%.1f same_transaction=%s by=%s'
                  % (ms, 'yes' if t0 is None else 'no', cstr(a.get(3))), flush=True)
            return 0
        elif kind == NFT_MSG_NEWGEN and t0 is None and cstr(a.get(3)) == 'nft':
            t0 = now
        elif kind == NFT_MSG_NEWSETELEM and fam == family and cstr(a.get(1)) == table \
                and cstr(a.get(2)) == setname and (deleted or t0 is not None) and ms is None:
            ms = 0.0 if t0 is None else (now - t0) * 1000
    print('window_ms=none (not back within %gs)' % timeout, flush=True)
    return 1


if __name__ == '__main__':
    sys.exit(main())
