#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Seeded list generator for cdnallow's benchmarks (stdlib only; same seed, same bytes).

  gen.py disjoint --family 4|6 --n N --change K --seed S OUT_A OUT_B
      N non-overlapping, non-adjacent prefixes (IPv4 /24../28 in 11.0.0.0-99.255.255.255,
      IPv6 /48../64 in 2a00::/16: no special-purpose space, nothing a guard drops) into
      OUT_A, and the same list with K prefixes replaced by K others into OUT_B. Because no two
      prefixes touch, every prefix is exactly one interval (two set elements) in every tool.
  gen.py union --n N --seed S OUT
      N lines that look like a merged "ip ranges" union list: unsorted, with duplicates,
      prefixes nested in others, adjacent siblings, bare addresses (IPv4 only, for iprange).
"""

import argparse
import ipaddress
import random
import sys

V4_BASE = 11 << 24                  # 11.0.0.0
V4_TOP = 100 << 24                  # up to 99.255.255.255 (100.64/10 is CGNAT)
V6_BASE = 0x2a00 << 112             # 2a00::/16


def fmt4(a, plen):
    return "%d.%d.%d.%d/%d" % (a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255, plen)


def fmt6(a, plen):
    return "%s/%d" % (":".join("%x" % ((a >> s) & 0xffff) for s in range(112, -1, -16)), plen)


def disjoint(fam, n, rnd):
    """n prefixes, each in its own slot, never touching a slot edge: no overlap, no adjacency."""
    if fam == 4:
        slot_bits, lens, base = 10, range(24, 29), V4_BASE
        nslots = (V4_TOP - V4_BASE) >> slot_bits
        fmt = fmt4
    else:
        slot_bits, lens, base = 82, range(48, 65), V6_BASE
        nslots = 1 << 30
        fmt = fmt6
    width = 32 if fam == 4 else 128
    if n > nslots * 9 // 10:
        sys.exit("gen.py: %d prefixes do not fit" % n)
    slots = rnd.sample(range(nslots), n)
    out = []
    for s in slots:
        plen = rnd.choice(lens)
        size = 1 << (width - plen)
        # aligned positions 1 .. (slot/size - 2): never at either edge of the slot
        k = rnd.randrange(1, (1 << slot_bits) // size - 1)
        out.append(fmt(base + (s << slot_bits) + k * size, plen))
    return out


def union(n, rnd):
    """Realistic messy IPv4 union list: what list aggregators publish before merging."""
    out = []
    while len(out) < n:
        # a provider block: one /12../20 region, partly described at several granularities
        plen = rnd.randint(12, 20)
        size = 1 << (32 - plen)
        a = rnd.randrange(1 << 24, 224 << 24) & ~(size - 1)
        r = rnd.random()
        if r < 0.05:
            out.append(fmt4(a, plen))
        sub = rnd.randint(plen + 4, 24)
        ssize = 1 << (32 - sub)
        # a run of sibling subnets (adjacent, so they merge), some missing
        start = rnd.randrange(0, size // ssize)
        for i in range(start, min(size // ssize, start + rnd.randint(1, 40))):
            if rnd.random() < 0.8:
                out.append(fmt4(a + i * ssize, sub))
        # nested prefixes and bare addresses inside the block
        for _ in range(rnd.randint(0, 6)):
            p = rnd.randint(sub, 32)
            off = rnd.randrange(0, size) & ~((1 << (32 - p)) - 1)
            ip = a + off
            if p == 32 and rnd.random() < 0.7:
                out.append("%d.%d.%d.%d" % (ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255,
                                            ip & 255))
            else:
                out.append(fmt4(ip, p))
        # duplicates
        if out and rnd.random() < 0.1:
            out.append(rnd.choice(out))
    out = out[:n]
    # mostly sorted in chunks, like concatenated per-provider files
    chunks = [out[i:i + 5000] for i in range(0, len(out), 5000)]
    rnd.shuffle(chunks)
    res = []
    for c in chunks:
        if rnd.random() < 0.5:
            c.sort(key=lambda s: int(ipaddress.IPv4Network(s, strict=False).network_address))
        res.extend(c)
    return res


def write(path, lines):
    with open(path, "w") as f:
        f.write("\n".join(lines))
        f.write("\n")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("disjoint")
    d.add_argument("--family", type=int, choices=(4, 6), default=4)
    d.add_argument("--n", type=int, required=True)
    d.add_argument("--change", type=int, default=0)
    d.add_argument("--seed", type=int, default=1)
    d.add_argument("out_a")
    d.add_argument("out_b", nargs="?")
    u = sub.add_parser("union")
    u.add_argument("--n", type=int, required=True)
    u.add_argument("--seed", type=int, default=1)
    u.add_argument("out")
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    if a.cmd == "disjoint":
        pool = disjoint(a.family, a.n + a.change, rnd)
        write(a.out_a, pool[:a.n])
        if a.out_b:
            # remove K prefixes spread over the list, add the K spare ones
            gone = set(rnd.sample(range(a.n), a.change))
            b = [p for i, p in enumerate(pool[:a.n]) if i not in gone] + pool[a.n:]
            rnd.shuffle(b)
            write(a.out_b, b)
    else:
        write(a.out, union(a.n, rnd))


if __name__ == "__main__":
    main()
