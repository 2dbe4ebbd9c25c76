#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Fault campaigns over a full sync of the real binary (issue 13), run by syscall_faults.sh
and alloc_faults.sh inside a private network namespace.

  faultcamp.py syscall --kind nft|file --work DIR [--base URL --ca FILE]
  faultcamp.py alloc   --kind nft|file --work DIR --shim PATH [--base URL --ca FILE]

Each case flips the published list between two versions (A, B), runs one sync with one fault
injected (a system call failing with an errno at its Nth call, via strace; or the Nth memory
allocation returning NULL, via an LD_PRELOAD shim), then a clean sync, and checks:
  1. no crash: not killed by a signal, no sanitizer report, no hang;
  2. the target (nft sets / file) holds exactly the old or the new list;
  3. the state dir never runs ahead of the target: the nft cache at the live genid equals
     the live sets, the nft_file snapshot and the source's last known good list hold the new
     list only when the target does;
  4. a run that did not leave the new list exits non-zero with a cause on stderr (exit 0 is
     fine when the new list is live);
  5. the next clean run exits 0 and leaves the new list live, with a consistent state.
Prints the matrix size and the outcome counts; exits 1 on any violation, naming each case.
Sizes: FAULTS_CAP (cases per syscall and errno, or per process for allocations) and
FAULTS_TIMEOUT (seconds per run). Regression cases listed in faultcamp.cases always run.
"""

import argparse
import errno
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SANITIZER = re.compile(r"Sanitizer|runtime error:|==\d+==ERROR")

# The system calls worth failing, each with the errnos that apply to it. A call the run does
# not make is skipped; calls the run makes that are not listed are printed, not injected.
# Not brk: the kernel's brk never fails with an errno (it returns the old break), so an
# injected -ENOMEM is a state glibc cannot meet. Not fcntl: F_GETFL/F_SETFL/F_GETFD on an
# open descriptor cannot fail (and libcurl, left with a blocking socket, waits for the
# server to close the connection).
ERRNOS = {
	"write": ["ENOSPC", "EIO"], "pwrite64": ["ENOSPC", "EIO"], "writev": ["ENOSPC", "EIO"],
	"fsync": ["EIO", "ENOSPC"], "fdatasync": ["EIO"], "ftruncate": ["EIO"],
	"read": ["EIO", "EINTR"], "pread64": ["EIO"], "readv": ["EIO"],
	"openat": ["EACCES", "ENOMEM", "EMFILE"], "open": ["EACCES"], "close": ["EIO", "EINTR"],
	"rename": ["EIO", "ENOSPC"], "renameat": ["EIO", "ENOSPC"], "renameat2": ["EIO", "ENOSPC"],
	"unlink": ["EACCES", "EIO"], "unlinkat": ["EACCES", "EIO"],
	"fchmod": ["EPERM"], "fchown": ["EPERM"], "fchownat": ["EPERM"], "fchmodat": ["EPERM"],
	"mmap": ["ENOMEM"], "mprotect": ["ENOMEM"], "mremap": ["ENOMEM"],
	"sendmsg": ["ENOBUFS", "ENOMEM", "EINTR"], "sendto": ["ENOBUFS", "ENOMEM", "EINTR"],
	"recvmsg": ["ENOBUFS", "EINTR", "EAGAIN"], "recvfrom": ["ENOBUFS", "EINTR", "EAGAIN"],
	"connect": ["ECONNREFUSED", "EINTR"], "socket": ["EMFILE", "ENOBUFS"],
	"socketpair": ["EMFILE"], "pipe2": ["EMFILE"], "bind": ["ENOMEM"],
	"setsockopt": ["ENOMEM"], "getsockopt": ["ENOMEM"], "getsockname": ["ENOBUFS"],
	"poll": ["EINTR", "ENOMEM"], "ppoll": ["EINTR", "ENOMEM"],
	"clone": ["EAGAIN", "ENOMEM"], "clone3": ["EAGAIN"], "wait4": ["EINTR"],
	"flock": ["EINTR", "ENOLCK"], "getrandom": ["EAGAIN", "EINTR"],
	"newfstatat": ["EIO", "ENOMEM"], "fstat": ["EIO"], "statx": ["EIO"],
	"mkdir": ["EACCES", "ENOSPC"], "mkdirat": ["EACCES", "ENOSPC"],
	"flistxattr": ["EIO", "EOPNOTSUPP"], "fgetxattr": ["EIO"], "fsetxattr": ["EIO", "ENOSPC"],
	"readlinkat": ["EACCES"], "access": ["EACCES"], "faccessat2": ["EACCES"],
	"dup2": ["EMFILE"], "dup3": ["EMFILE"], "prlimit64": ["EPERM"],
	"setresuid": ["EPERM"], "setresgid": ["EPERM"], "setgroups": ["EPERM"],
	"capset": ["EPERM"], "prctl": ["EINVAL"], "seccomp": ["EINVAL"],
	"close_range": ["EINVAL"], "lseek": ["EIO"], "fstatfs": ["EIO"],
}


def nets_of(items):
	"""Items (CIDR, 'lo-hi' or address) as collapsed networks per family: comparable."""
	nets = []
	for s in items:
		s = s.strip()
		if not s:
			continue
		if "-" in s:
			lo, hi = (ipaddress.ip_address(a) for a in s.split("-"))
			nets += list(ipaddress.summarize_address_range(lo, hi))
		else:
			nets.append(ipaddress.ip_network(s, strict=False))
	out = []
	for v in (4, 6):
		out += [str(n) for n in ipaddress.collapse_addresses(
			[n for n in nets if n.version == v])]
	return tuple(out)


def nft_genid():
	"""The ruleset generation id (NFT_MSG_GETGEN over netlink)."""
	s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETLINK_NETFILTER
	try:
		msg = struct.pack("=IHHII", 20, (10 << 8) | 16, 1, 1, 0) + struct.pack("=BBH", 0, 0, 0)
		s.send(msg)
		data = s.recv(65536)
	finally:
		s.close()
	off = 16 + 4
	length = struct.unpack_from("=I", data, 0)[0]
	while off + 4 <= length:
		alen, atype = struct.unpack_from("=HH", data, off)
		if atype & 0x3fff == 1:  # NFTA_GEN_ID
			return struct.unpack_from(">I", data, off + 4)[0]
		off += (alen + 3) & ~3
	raise RuntimeError("no NFTA_GEN_ID in the GETGEN answer")


def nft_elems(table):
	"""The elements of the table's allow_v4 and allow_v6 sets; None when there is no table."""
	r = subprocess.run(["nft", "-j", "list", "table", "inet", table], capture_output=True,
			   text=True)
	if r.returncode != 0:
		return None
	items = []
	for o in json.loads(r.stdout)["nftables"]:
		st = o.get("set")
		if st is None or st["name"] not in ("allow_v4", "allow_v6"):
			continue
		for e in st.get("elem", []):
			if isinstance(e, dict) and "elem" in e:
				e = e["elem"]["val"]
			if isinstance(e, str):
				items.append(e)
			elif "prefix" in e:
				items.append("%s/%d" % (e["prefix"]["addr"], e["prefix"]["len"]))
			elif "range" in e:
				items.append("%s-%s" % tuple(e["range"]))
	return nets_of(items)


def file_items(path, skip_header=True):
	"""The address items of a list or state file (comments and key lines skipped)."""
	item = re.compile(r"^[0-9a-fA-F:.]+([/-][0-9a-fA-F:.]+)?$")
	try:
		with open(path) as f:
			return nets_of(l for l in f if item.match(l.strip()))
	except FileNotFoundError:
		return None


def script_items(path):
	"""The elements an nft_file snapshot loads (its 'elements = { ... }' lines)."""
	try:
		with open(path) as f:
			txt = f.read()
	except FileNotFoundError:
		return None
	items = []
	for m in re.finditer(r"elements = \{([^}]*)\}", txt):
		items += [x.strip() for x in m.group(1).replace("\n", " ").split(",") if x.strip()]
	return nets_of(items)


def applied_cache(state):
	"""(genid, items) of the nft cache in the state dir, or None."""
	for n in os.listdir(state) if os.path.isdir(state) else []:
		if n.startswith("applied-nft-") and n.endswith(".list"):
			with open(os.path.join(state, n)) as f:
				lines = f.read().splitlines()
			if len(lines) < 2 or not lines[1].startswith("genid "):
				return ("corrupt", None)
			return (int(lines[1][6:]), nets_of(lines[2:]))
	return None


def gen_lists(work):
	"""Two list versions, 300 IPv4 /24s and 6 IPv6 prefixes each, differing in 10 of them."""
	base = ["%d.%d.%d.0/24" % (20 + i // 250, (i * 7) % 250 + 1, i % 250) for i in range(300)]
	a = base[:] + ["2a0%d:%x::/32" % (i % 9 + 1, i) for i in range(6)]
	b = base[10:] + ["%d.%d.0.0/16" % (44 + i // 10, i % 10) for i in range(10)] + \
		["2a0%d:%x::/32" % (i % 9 + 1, i + 1) for i in range(6)]
	for name, lst in (("A", a), ("B", b)):
		with open(os.path.join(work, name + ".txt"), "w") as f:
			f.write("\n".join(lst) + "\n")


class Target:
	"""One configuration (an nftables target or a file target) and how to read it."""

	def __init__(self, args):
		self.kind = args.kind
		self.work = os.path.join(args.work, args.kind)
		os.makedirs(self.work, exist_ok=True)
		self.state = os.path.join(self.work, "state")
		self.table = "sf" + args.mode[0]
		self.path = os.path.join(self.work, "out", "allow.txt")
		os.makedirs(os.path.dirname(self.path), exist_ok=True)
		if args.kind == "nft":
			self.pub = os.path.join(args.docroot, "list.txt")
			url = args.base + "/list.txt"
		else:
			self.pub = os.path.join(self.work, "pub", "list.txt")
			os.makedirs(os.path.dirname(self.pub), exist_ok=True)
			url = "file://" + self.pub
		self.conf = os.path.join(self.work, "c.conf")
		with open(self.conf, "w") as f:
			f.write("[cdnallow]\nstate_dir = %s\nlock_timeout = 5s\nmax_shrink = 100%%\n"
				% self.state)
			# the fetch child's deadline is twice this: an allocation that fails inside
			# libseccomp 2.5's seccomp_load() makes it spin until killed there, so the
			# allocation campaign keeps it short (a local fetch takes milliseconds)
			f.write("[source.s]\nprovider = text\nurl = %s\ntimeout = %d\n"
				% (url, 1 if args.mode == "alloc" else 10))
			if args.ca:
				f.write("ca_file = %s\n" % args.ca)
			if args.kind == "nft":
				f.write("[target.edge]\nbackend = nftables\nsources = s\ntable = %s\n"
					% self.table)
			else:
				f.write("[target.list]\nbackend = file\nsources = s\npath = %s\n"
					% self.path)
		os.chmod(self.conf, 0o600)
		self.lists = {v: os.path.join(args.work, v + ".txt") for v in ("A", "B")}
		self.held = {}  # version -> what the target holds with it (from clean runs)

	def publish(self, v):
		tmp = self.pub + ".tmp"
		shutil.copyfile(self.lists[v], tmp)
		os.rename(tmp, self.pub)

	def live(self):
		if self.kind == "nft":
			return nft_elems(self.table)
		try:
			with open(self.path, "rb") as f:
				return f.read()
		except FileNotFoundError:
			return None

	def which(self, got):
		for v, h in self.held.items():
			if got == h:
				return v
		return None

	def state_problems(self, live_v, new):
		"""Ways the state dir claims more than the target holds."""
		bad = []
		src = file_items(os.path.join(self.state, "source-s.list"))
		if src is not None and src == file_items(self.lists[new]) and live_v != new:
			bad.append("the last known good list is the new list, the target is not")
		if self.kind != "nft":
			return bad
		live = nft_elems(self.table)
		c = applied_cache(self.state)
		if c is not None:
			if c[0] == "corrupt":
				bad.append("the nft cache is corrupt")
			elif live is not None and c[0] == nft_genid() and c[1] != live:
				bad.append("the nft cache at the live genid differs from the sets")
		snap = script_items(os.path.join(self.state, "edge.nft"))
		if snap is not None and snap == self.held[new] and live_v != new:
			bad.append("the nft_file snapshot holds the new list, the sets do not")
		return bad

	def reset(self):
		"""Start over: no table, no state, no output file."""
		subprocess.run(["nft", "delete", "table", "inet", self.table], capture_output=True)
		shutil.rmtree(self.state, ignore_errors=True)
		if os.path.exists(self.path):
			os.unlink(self.path)


def run(argv, env=None, timeout=60):
	"""(exit status or -signal or 'hang', stderr) of one run."""
	p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
			     start_new_session=True)
	try:
		_, err = p.communicate(timeout=timeout)
	except subprocess.TimeoutExpired:
		os.killpg(p.pid, signal.SIGKILL)
		_, err = p.communicate()
		return "hang", err.decode(errors="replace")
	return p.returncode, err.decode(errors="replace")


class Campaign:
	def __init__(self, args):
		self.args = args
		self.t = Target(args)
		self.bin = args.bin
		self.timeout = int(os.environ.get("FAULTS_TIMEOUT", "60"))
		self.counts = {}
		self.violations = []
		self.cur = None
		self.verbose = os.environ.get("FAULTS_VERBOSE") == "1"

	def clean(self):
		return run([self.bin, "-c", self.t.conf, "-q", "sync"], timeout=self.timeout)

	def baseline(self):
		t = self.t
		t.reset()
		for v in ("A", "B"):
			t.publish(v)
			rc, err = self.clean()
			if rc != 0:
				sys.exit("baseline sync of list %s: exit %s\n%s" % (v, rc, err))
			t.held[v] = t.live()
		if t.held["A"] == t.held["B"]:
			sys.exit("baseline: lists A and B are held alike")
		self.cur = "B"

	def recover(self, new):
		self.t.reset()
		self.t.publish(new)
		rc, err = self.clean()
		if rc != 0 or self.t.live() != self.t.held[new]:
			sys.exit("cannot recover after a violation: exit %s\n%s" % (rc, err))

	def case(self, label, argv, env, fired, errname=None):
		"""One case: the faulty run, the checks, the clean run. fired() -> bool."""
		t = self.t
		old = self.cur
		new = "A" if old == "B" else "B"
		t.publish(new)
		t0 = time.time()
		rc, err = run(argv, env=env, timeout=self.timeout)
		took = time.time() - t0
		if rc == 1 and err.startswith("strace: "):
			sys.exit("%s: %s" % (label, err))
		live_v = t.which(t.live())
		bad = []
		if rc == "hang":
			bad.append("hung (killed after %d s)" % self.timeout)
		elif rc < 0 or rc >= 128:
			bad.append("killed by a signal (status %s)" % rc)
		if SANITIZER.search(err):
			bad.append("sanitizer report")
		if live_v is None:
			bad.append("the target holds neither the old nor the new list")
		if rc == 0 and live_v != new:
			bad.append("exit 0 but the new list is not live")
		if rc != 0 and not err.strip():
			bad.append("exit %s with nothing on stderr" % rc)
		if live_v == new and live_v != old and "left as it was" in err:
			bad.append("the log says the target was left as it was, the new list is live")
		if errname and errname != "EIO" and "Input/output error" in err and \
				os.strerror(getattr(errno, errname)) not in err:
			bad.append("the cause is named EIO, the failure was %s" % errname)
		bad += t.state_problems(live_v, new)
		rc2, err2 = self.clean()
		live2 = t.which(t.live())
		if rc2 != 0 or live2 != new:
			bad.append("the next clean run: exit %s, %s live: %s" %
				   (rc2, live2 or "neither list", err2.strip()[-300:]))
		elif t.state_problems(live2, new):
			bad.append("after the next clean run: " + "; ".join(t.state_problems(live2, new)))
		elif SANITIZER.search(err2):
			bad.append("sanitizer report in the next clean run")
		if bad:
			kind = "violation"
			self.violations.append("%s: %s [exit %s] %s" %
					       (label, "; ".join(bad), rc, err.strip()[-400:]))
		elif not fired():
			kind = "not_fired"
		elif live_v == new:
			kind = "ok_new" if rc == 0 else "ok_new_with_error"
		else:
			kind = "ok_old_with_error"
		self.counts[kind] = self.counts.get(kind, 0) + 1
		if self.verbose:
			print("# %s: %s, exit %s, %.2f s: %s" % (label, kind, rc, took,
				" | ".join(err.strip().splitlines()[-2:])))
		self.cur = new
		if bad:
			self.recover(new)
		return kind

	def summary(self, name, ncases, t0):
		keys = ["ok_new", "ok_new_with_error", "ok_old_with_error", "not_fired"]
		print("# %s %s: cases=%d %s violations=%d (%.0f s)" % (
			name, self.t.kind, ncases,
			" ".join("%s=%d" % (k, self.counts.get(k, 0)) for k in keys),
			len(self.violations), time.time() - t0))
		for v in self.violations:
			print("# VIOLATION %s" % v)


def spread(ns, cap):
	"""At most cap of the numbers ns, evenly spaced, first and last included."""
	ns = sorted(set(ns))
	if cap <= 0 or len(ns) <= cap:
		return ns
	if cap == 1:
		return ns[:1]
	step = (len(ns) - 1) / (cap - 1)
	return sorted(set(ns[round(i * step)] for i in range(cap)))


def regressions(mode, kind):
	"""The kept cases of this mode and kind: (what, errno or '-', proc, k) tuples."""
	out = []
	with open(os.path.join(HERE, "faultcamp.cases")) as f:
		for line in f:
			w = line.split("#", 1)[0].split()
			if len(w) == 6 and w[0] == mode and w[1] in (kind, "any"):
				out.append((w[2], w[3], w[4], int(w[5])))
	return out


# --- system calls (strace) ---

def census(c):
	"""Per process kind and syscall, the call numbers to fail, from one fully traced run that
	changes the list: the parent's calls after main (from its opening its config on), and the
	calls of every other process or thread (the fetch child, its resolver thread), from 1."""
	t = c.t
	trace = os.path.join(t.work, "census")
	new = "A" if c.cur == "B" else "B"
	t.publish(new)
	rc, err = run(["strace", "-f", "-qq", "-o", trace, c.bin, "-c", t.conf, "-q", "sync"],
		      timeout=c.timeout)
	if rc != 0:
		sys.exit("census run: exit %s\n%s" % (rc, err))
	c.cur = new
	line = re.compile(r"^(\d+) +([a-z0-9_]+)\(")
	per = {}  # pid -> syscall -> count
	order = []
	pre = None  # the parent's counts before main
	with open(trace) as f:
		for l in f:
			m = line.match(l)
			if not m:
				continue
			pid, sc = int(m.group(1)), m.group(2)
			if pid not in per:
				per[pid] = {}
				order.append(pid)
			if pid == order[0] and pre is None and sc == "openat" and t.conf in l:
				pre = dict(per[pid])
			per[pid][sc] = per[pid].get(sc, 0) + 1
	if pre is None:
		sys.exit("census: the run never opened its config")
	parent = {sc: range(pre.get(sc, 0) + 1, n + 1) for sc, n in per[order[0]].items()}
	child = {}
	for pid in order[1:]:
		for sc, n in per[pid].items():
			child[sc] = max(child.get(sc, 0), n)
	return parent, child, pre


def strace_argv(c, sc, e, n, follow):
	return ["strace"] + (["-f", "--seccomp-bpf"] if follow else []) + [
		"-qq", "-o", os.path.join(c.t.work, "trace"), "-e", "trace=" + sc,
		"-e", "inject=%s:error=%s:when=%d" % (sc, e, n), c.bin, "-c", c.t.conf, "-q", "sync"]


def syscall_matrix(c, parent, child, pre, cap):
	"""(label, strace argv) of every case: the sampled matrix, then the kept regressions.
	A parent case traces the parent alone (strace without -f): its Nth call fails, counted
	from exec, so N is the call's number after main plus the loader's calls. strace counts
	per tracee, each from its start: a child case (-f) fails call N of every process, the
	parent's Nth too; a child call numbered within the parent's loader calls would fail the
	loader first and is left out (counted as shadowed)."""
	cases, seen, shadowed = [], set(), 0

	def add(proc, sc, e, n):
		if (proc, sc, e, n) in seen:
			return
		seen.add((proc, sc, e, n))
		cases.append(("%s %s %s #%d" % (proc, sc, e, n - (pre.get(sc, 0) if proc == "parent"
								     else 0)),
			      strace_argv(c, sc, e, n, proc == "child"), e))
	for sc in sorted(set(parent) | set(child)):
		for e in ERRNOS.get(sc, []):
			for n in spread(parent.get(sc, []), cap):
				add("parent", sc, e, n)
			ok = [n for n in range(1, child.get(sc, 0) + 1) if n > pre.get(sc, 0)]
			shadowed += child.get(sc, 0) - len(ok)
			for n in spread(ok, cap):
				add("child", sc, e, n)
	for sc, e, proc, k in regressions("syscall", c.t.kind):
		add(proc, sc, e, k + (pre.get(sc, 0) if proc == "parent" else 0))
	return cases, shadowed


# A sanitizer build's allocator maps its own memory (and its shadow) with these: a failure
# there is the sanitizer's report about itself, not the program's. The plain build injects
# them; the sanitizer build leaves them alone.
SANITIZER_OWN = ("mmap", "munmap", "mremap", "mprotect", "madvise")


def sanitized(binary):
	"""True when binary links a sanitizer runtime (ldd names libasan or libubsan)."""
	try:
		out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
	except OSError:
		return False
	return "libasan" in out or "libubsan" in out


def syscall_campaign(c):
	t0 = time.time()
	cap = int(os.environ.get("FAULTS_CAP", "8"))
	if sanitized(c.bin):
		for sc in SANITIZER_OWN:
			ERRNOS.pop(sc, None)
		print("# sanitizer build: %s not injected (the sanitizer's own allocator uses them; "
		      "the plain build injects them)" % " ".join(SANITIZER_OWN))
	c.baseline()
	parent, child, pre = census(c)
	calls = set(parent) | set(child)
	cases, shadowed = syscall_matrix(c, parent, child, pre, cap)
	print("# %s: the run makes %d distinct syscalls after main (parent %d calls, children "
	      "%d), %d of them injected; not injected: %s" % (
		c.t.kind, len(calls), sum(len(r) for r in parent.values()), sum(child.values()),
		len([s for s in calls if s in ERRNOS]),
		" ".join(sorted(s for s in calls if s not in ERRNOS))))
	print("# %s: matrix %d cases (FAULTS_CAP=%d per process kind, syscall and errno); "
	      "%d child calls (x errnos) shadowed by the parent's loader" % (
		c.t.kind, len(cases), cap, shadowed))
	sys.stdout.flush()
	trace = os.path.join(c.t.work, "trace")

	def fired():
		with open(trace) as f:
			return "(INJECTED)" in f.read()
	for label, argv, e in cases:
		c.case(label, argv, None, fired, e)
	c.summary("syscall faults", len(cases), t0)


# --- allocations (LD_PRELOAD shim) ---

def alloc_counts(c, env):
	rep = os.path.join(c.t.work, "allocs")
	if os.path.exists(rep):
		os.unlink(rep)
	e = dict(env, CDA_ALLOC_REPORT=rep)
	return e, rep


def read_report(rep):
	d = {}
	try:
		with open(rep) as f:
			for l in f:
				k, v = l.split()
				d[k] = int(v)
	except FileNotFoundError:
		pass
	return d


def alloc_campaign(c):
	t0 = time.time()
	cap = int(os.environ.get("FAULTS_CAP", "120"))
	c.baseline()
	t = c.t
	base = dict(os.environ, LD_PRELOAD=c.args.shim)
	new = "A" if c.cur == "B" else "B"
	t.publish(new)
	env, rep = alloc_counts(c, base)
	rc, err = run([c.bin, "-c", t.conf, "-q", "sync"], env=env, timeout=c.timeout)
	got = read_report(rep)
	if rc != 0 or "parent" not in got:
		sys.exit("counting run: exit %s, report %s\n%s" % (rc, got, err))
	c.cur = new
	total = {"parent": got["parent"], "child": got.get("child", 0)}
	cases = []
	for proc in ("parent", "child"):
		ns = spread(range(1, total[proc] + 1), cap)
		stride = (total[proc] + len(ns) - 1) // len(ns) if ns else 0
		print("# %s: %d allocations in the %s after main, %d cases (stride about %d)" %
		      (t.kind, total[proc], proc, len(ns), stride))
		cases += [(proc, n) for n in ns]
	for what, _, proc, k in regressions("alloc", t.kind):
		if (proc, k) not in cases:
			cases.append((proc, k))
	print("# %s: matrix %d cases (FAULTS_CAP=%d per process)" % (t.kind, len(cases), cap))
	sys.stdout.flush()
	for proc, n in cases:
		env, rep = alloc_counts(c, base)
		env.update(CDA_FAIL_ALLOC_AT=str(n), CDA_FAIL_ALLOC_IN=proc)

		def fired(rep=rep):
			return read_report(rep).get("failed", 0) > 0
		c.case("allocation %s #%d" % (proc, n), [c.bin, "-c", t.conf, "-q", "sync"], env,
		       fired)
	c.summary("allocation faults", len(cases), t0)


def main():
	ap = argparse.ArgumentParser()
	ap.add_argument("mode", choices=["syscall", "alloc"])
	ap.add_argument("--kind", choices=["nft", "file"], required=True)
	ap.add_argument("--work", required=True)
	ap.add_argument("--bin", default=os.environ.get("CDNALLOW"))
	ap.add_argument("--base")
	ap.add_argument("--docroot")
	ap.add_argument("--ca")
	ap.add_argument("--shim")
	args = ap.parse_args()
	if not os.path.exists(os.path.join(args.work, "A.txt")):
		gen_lists(args.work)
	c = Campaign(args)
	(syscall_campaign if args.mode == "syscall" else alloc_campaign)(c)
	return 1 if c.violations else 0


if __name__ == "__main__":
	sys.exit(main())
