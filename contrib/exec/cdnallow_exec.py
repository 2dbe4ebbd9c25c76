# SPDX-License-Identifier: MIT
"""What the contrib/exec recipes share: cdnallow's document on stdin, the provider's CLI run
with retries on throttling, its errors sorted into kinds, the exit contract.

The contract with cdnallow (cdnallow.conf(5), backend exec): exit 0 only when everything was
applied, then print the new state token (one line); any other exit means nothing was applied.
A recipe that cannot keep that promise after a partial change (a multi-call change whose
rollback failed too) says so loudly on stderr and still exits non-zero: the next run starts
again from what the firewall really holds.
"""

import argparse
import hashlib
import ipaddress
import json
import os
import pwd
import re
import stat
import subprocess
import sys
import time

FAMILIES = ("ipv4", "ipv6")


class Failed(Exception):
    """The change did not happen (or was rolled back); the message goes to stderr."""


class CliError(Exception):
    """A CLI call failed for good: kind is throttle, conflict, limit, busy, gone or other."""

    def __init__(self, kind, code, text, words):
        super().__init__(text)
        self.kind, self.code, self.text, self.words = kind, code, text, words

    def __str__(self):
        return "`%s` failed (%s): %s" % (" ".join(self.words[:4]), self.code, self.text)


def read_doc():
    """The document cdnallow wrote on stdin (version 1)."""
    try:
        doc = json.load(sys.stdin)
    except ValueError as e:
        raise Failed("stdin is not cdnallow's JSON document: %s" % e)
    if not isinstance(doc, dict) or doc.get("version") != 1:
        raise Failed("unsupported document version %r" % (doc.get("version")
                                                           if isinstance(doc, dict) else None))
    return doc


def want_of(doc, fam):
    """The wanted prefixes of one family, as ip_network objects."""
    return [ipaddress.ip_network(c) for c in doc["want"][fam]]


def canon(c):
    """Canonical text of a CIDR or address as a provider printed it."""
    return str(ipaddress.ip_network(c, strict=False))


def family(c):
    return "ipv4" if ipaddress.ip_network(c, strict=False).version == 4 else "ipv6"


def digest(items):
    """A short stable fingerprint of a set of strings, for tokens."""
    return hashlib.sha256("\n".join(sorted(items)).encode()).hexdigest()[:16]


def overlaps_any(net, nets):
    return any(net.version == n.version and net.overlaps(n) for n in nets)


def load_env_file(path):
    """KEY=VALUE lines (# comments) from a file only its owner (root or us) can read."""
    st = os.stat(path)
    if st.st_uid not in (0, os.geteuid()) or st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise Failed("%s must be owned by root and readable by its owner only" % path)
    env = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, sep, value = line.partition("=")
            if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key.strip()):
                raise Failed("%s:%d: expected KEY=VALUE" % (path, n))
            env[key.strip()] = value.strip().strip("'\"")
    return env


def cli_env(env_file):
    """The CLI's environment: ours (cdnallow gives PATH and LANG only), a HOME for the CLI's
    own configuration, and the credentials file when there is one."""
    env = dict(os.environ)
    if "HOME" not in env:
        env["HOME"] = pwd.getpwuid(os.geteuid()).pw_dir
    env.setdefault("AWS_PAGER", "")
    if env_file:
        env.update(load_env_file(env_file))
    return env


class Cli:
    """One provider CLI: run(words) returns stdout; throttling is retried with backoff."""

    def __init__(self, program, env, classify, retries=5, backoff=2.0, log=None):
        self.program, self.env, self.classify = program, env, classify
        self.retries, self.backoff = retries, backoff
        self.log = log or (lambda msg: sys.stderr.write(msg + "\n"))

    def run(self, words, stdin=None):
        for attempt in range(self.retries + 1):
            try:
                p = subprocess.run([self.program] + words, input=stdin, env=self.env,
                                   capture_output=True, text=True, timeout=600)
            except FileNotFoundError:
                raise Failed("%s: not found (install it, or give its path)" % self.program)
            except subprocess.TimeoutExpired:
                raise Failed("`%s %s` did not answer within 10 minutes"
                             % (self.program, " ".join(words[:2])))
            if p.returncode == 0:
                return p.stdout
            kind, code, text = self.classify(p.stderr.strip() or p.stdout.strip(), p.returncode)
            if kind in ("throttle", "busy") and attempt < self.retries:
                delay = self.backoff * (2 ** attempt)
                self.log("%s: %s, retrying in %.2g s" % (words[1] if len(words) > 1 else
                                                          words[0], code, delay))
                time.sleep(delay)
                continue
            raise CliError(kind, code, text, [self.program] + words)
        raise AssertionError("unreachable")

    def json(self, words, stdin=None):
        out = self.run(words, stdin)
        try:
            return json.loads(out) if out.strip() else {}
        except ValueError:
            raise Failed("`%s %s` printed something that is not JSON" % (self.program, words[0]))


def parser(description, cli):
    """The options every recipe has; the recipe adds its own."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("mode", choices=("apply", "read"),
                   help="apply: the document on stdin; read: print what is held")
    p.add_argument("--cli", default=cli, help="the CLI program (default: %(default)s)")
    p.add_argument("--env-file", help="KEY=VALUE credentials for the CLI (mode 0600, root's)")
    p.add_argument("--retries", type=int, default=5,
                   help="retries on throttling and conflicts (default: %(default)s)")
    p.add_argument("--backoff", type=float, default=2.0,
                   help="first retry delay in seconds, doubled each time (default: %(default)s)")
    return p


def main(prog, p, classify, apply, read):
    """Parse options, run the mode, keep the exit contract."""
    args = p.parse_args()
    try:
        cli = Cli(args.cli, cli_env(args.env_file), classify, args.retries, args.backoff,
                  lambda msg: sys.stderr.write("%s: %s\n" % (prog, msg)))
        if args.mode == "read":
            for c in read(args, cli):
                print(c)
            return 0
        token = apply(args, cli, read_doc())
        print(token)
        return 0
    except (Failed, CliError) as e:
        sys.stderr.write("%s: %s\n" % (prog, e))
        return 1
