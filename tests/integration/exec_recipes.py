#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The contrib/exec recipes against recording stand-ins of their CLIs (tests/integration/
standins/): the providers' endpoints cannot be reached from here, so each stand-in checks the
exact arguments, keeps the simulated service in a file and answers as the service does,
including the failures injected per test (version conflict, limits, throttling, a
concurrent writer). Each test asserts the calls the recipe made and what the service holds
after. The last tests run two recipes through cdnallow itself. Prints TAP.

usage: exec_recipes.py   (CDNALLOW, CDNALLOW_SRC in the environment)
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

SRC = os.environ["CDNALLOW_SRC"]
RECIPES = os.path.join(SRC, "contrib", "exec")
STANDINS = os.path.join(SRC, "tests", "integration", "standins")
N = 0
FAILED = 0


def ok(name, cond, *detail):
    global N, FAILED
    N += 1
    if not cond:
        FAILED += 1
    print("%s %d - %s" % ("ok" if cond else "not ok", N, name))
    if not cond:
        for d in detail:
            for line in str(d).splitlines():
                print("# " + line)


def doc(v4=(), v6=(), state="", source="cloudflare"):
    want = {"ipv4": list(v4), "ipv6": list(v6)}
    return {"version": 1, "target": "cloud", "dry_run": False, "state": state,
            "want": want, "added": want, "removed": {"ipv4": [], "ipv6": []},
            "sources_of": {c: source for c in list(v4) + list(v6)}}


class Cloud:
    """A temp dir holding one stand-in, its simulated service and its call log."""

    def __init__(self, tool, cloud, faults=None):
        self.dir = tempfile.mkdtemp(prefix="cdnallow-recipe.")
        self.bin = os.path.join(self.dir, "bin")
        os.mkdir(self.bin)
        for f in (tool, "standin.py"):
            shutil.copy(os.path.join(STANDINS, f), self.bin)
        self.tool = os.path.join(self.bin, tool)
        self.write("cloud.json", cloud)
        self.write("faults.json", faults or {})

    def write(self, name, obj):
        with open(os.path.join(self.bin, name), "w") as f:
            json.dump(obj, f)

    def run(self, recipe, args, document=None):
        env = {"PATH": self.bin + ":/usr/bin:/bin", "LANG": "C", "HOME": self.dir}
        p = subprocess.run([os.path.join(RECIPES, recipe)] + args + ["--backoff", "0.01"],
                           input=json.dumps(document) if document is not None else "",
                           capture_output=True, text=True, env=env, timeout=60)
        self.rc, self.out, self.err = p.returncode, p.stdout, p.stderr
        return p.returncode

    def calls(self, op=None):
        try:
            with open(os.path.join(self.bin, "calls.jsonl")) as f:
                calls = [json.loads(l) for l in f]
        except FileNotFoundError:
            return []
        return [c for c in calls if op is None or op in c["argv"][:3]]

    def state(self):
        with open(os.path.join(self.bin, "cloud.json")) as f:
            return json.load(f)

    def why(self):
        return "rc %s\nstdout: %s\nstderr: %s" % (self.rc, self.out, self.err)

    def close(self):
        shutil.rmtree(self.dir)


# ---- AWS managed prefix lists -------------------------------------------------------

CF4 = ["104.16.0.0/13", "104.24.0.0/14", "173.245.48.0/20"]
CF6 = ["2400:cb00::/32", "2606:4700::/32"]
PL_ARGS = ["apply", "--ipv4", "pl-4", "--ipv6", "pl-6", "--region", "eu-central-1"]


def pl_cloud(v4=(), v6=(), max4=20, max6=10, settle_after=1):
    def pl(fam, entries, mx):
        return {"family": fam, "max": mx, "version": 1, "settle": 0, "settle_after": settle_after,
                "versions": {"1": [[c, "old"] for c in entries]}}
    return {"prefix_lists": {"pl-4": pl("IPv4", v4, max4), "pl-6": pl("IPv6", v6, max6)},
            "groups": {}}


def entries(c, plid):
    pl = c.state()["prefix_lists"][plid]
    return sorted(e[0] for e in pl["versions"][str(pl["version"])])


def test_prefix_list():
    c = Cloud("aws", pl_cloud(v4=["104.16.0.0/12"]))
    c.run("aws-prefix-list", PL_ARGS, doc(CF4, CF6))
    ok("aws-prefix-list: first apply exits 0 and prints the versions as its token",
       c.rc == 0 and c.out == "pl-4=2,pl-6=2\n", c.why())
    mods = c.calls("modify-managed-prefix-list")
    ok("aws-prefix-list: one modify call per list (a change under 100 entries is one "
       "version)", len(mods) == 2, mods)
    ok("aws-prefix-list: the exact arguments, --current-version from describe",
       mods and mods[0]["argv"] == [
           "ec2", "modify-managed-prefix-list", "--prefix-list-id", "pl-4",
           "--current-version", "1", "--add-entries",
           '[{"Cidr":"104.16.0.0/13","Description":"cdnallow cloudflare"},'
           '{"Cidr":"104.24.0.0/14","Description":"cdnallow cloudflare"},'
           '{"Cidr":"173.245.48.0/20","Description":"cdnallow cloudflare"}]',
           "--remove-entries", '[{"Cidr":"104.16.0.0/12"}]',
           "--output", "json", "--region", "eu-central-1"], mods)
    ok("aws-prefix-list: waits for modify-complete before the next list",
       [x["argv"][1] for x in c.calls()][:6] == [
           "describe-managed-prefix-lists", "get-managed-prefix-list-entries",
           "modify-managed-prefix-list", "describe-managed-prefix-lists",
           "describe-managed-prefix-lists", "describe-managed-prefix-lists"],
       [x["argv"][1] for x in c.calls()])
    ok("aws-prefix-list: the lists hold exactly the wanted prefixes",
       entries(c, "pl-4") == CF4 and entries(c, "pl-6") == CF6, c.state())
    c.run("aws-prefix-list", ["read", "--ipv4", "pl-4", "--ipv6", "pl-6"])
    ok("aws-prefix-list: read prints both lists", c.rc == 0 and
       c.out.split() == CF4 + CF6, c.why())
    n = len(c.calls("modify-managed-prefix-list"))
    c.run("aws-prefix-list", PL_ARGS, doc(CF4, CF6, state="pl-4=2,pl-6=2"))
    ok("aws-prefix-list: nothing to change, no modify call, same token",
       c.rc == 0 and c.out == "pl-4=2,pl-6=2\n" and
       len(c.calls("modify-managed-prefix-list")) == n, c.why())
    c.close()


def test_prefix_list_conflict():
    c = Cloud("aws", pl_cloud(), {"modify-managed-prefix-list": [
        {"code": "PrefixListVersionMismatch", "foreign": "198.51.100.0/24"}]})
    c.run("aws-prefix-list", PL_ARGS, doc(CF4, CF6))
    mods = c.calls("modify-managed-prefix-list")
    ok("aws-prefix-list, version conflict: plans again from the new version and succeeds",
       c.rc == 0 and c.out == "pl-4=3,pl-6=2\n" and len(mods) == 3 and
       mods[1]["argv"][5] == "2", c.why(), mods)
    ok("aws-prefix-list, version conflict: the other writer's entry is removed, the list "
       "is exactly what cdnallow wants", entries(c, "pl-4") == CF4 and
       '{"Cidr":"198.51.100.0/24"}' in mods[1]["argv"][9], c.state())
    c.close()
    c = Cloud("aws", pl_cloud(), {"modify-managed-prefix-list": [
        {"code": "PrefixListVersionMismatch", "foreign": "198.51.100.%d/32" % i}
        for i in range(4)]})
    c.run("aws-prefix-list", PL_ARGS + ["--retries", "2"], doc(CF4, CF6))
    ok("aws-prefix-list, a conflict on every try: exit 1 after --retries, nothing of ours "
       "applied", c.rc == 1 and "PrefixListVersionMismatch" in c.err and
       "pl-4 unchanged" in c.err and len(c.calls("modify-managed-prefix-list")) == 3 and
       c.out == "", c.why())
    c.close()


def test_prefix_list_throttling():
    c = Cloud("aws", pl_cloud(), {"modify-managed-prefix-list": ["RequestLimitExceeded",
                                                                  "RequestLimitExceeded"]})
    c.run("aws-prefix-list", PL_ARGS, doc(CF4, CF6))
    ok("aws-prefix-list, throttled twice: retries with backoff and succeeds",
       c.rc == 0 and len(c.calls("modify-managed-prefix-list")) == 4 and
       "RequestLimitExceeded, retrying" in c.err, c.why())
    c.close()
    c = Cloud("aws", pl_cloud(v6=["2400:cb00::/32"]), {
        "modify-managed-prefix-list": [None] + ["RequestLimitExceeded"] * 9})
    c.run("aws-prefix-list", PL_ARGS + ["--retries", "3"], doc(CF4, CF6))
    restores = c.calls("restore-managed-prefix-list-version")
    ok("aws-prefix-list, throttled for good on the second list: exit 1 and the first list "
       "is restored", c.rc == 1 and "RequestLimitExceeded" in c.err and len(restores) == 1
       and restores[0]["argv"][2:8] == ["--prefix-list-id", "pl-4", "--previous-version",
                                        "1", "--current-version", "2"] and
       entries(c, "pl-4") == [] and entries(c, "pl-6") == ["2400:cb00::/32"], c.why(), restores)
    c.close()


def test_prefix_list_limits():
    c = Cloud("aws", pl_cloud(max4=2))
    c.run("aws-prefix-list", PL_ARGS, doc(CF4, CF6))
    ok("aws-prefix-list, max-entries too small: refused before any change, with the "
       "command that makes room", c.rc == 1 and not c.calls("modify-managed-prefix-list")
       and "--max-entries 3" in c.err and "pl-4 unchanged" in c.err, c.why())
    c.close()
    big = ["10.%d.%d.0/24" % (i // 256, i % 256) for i in range(250)]
    c = Cloud("aws", pl_cloud(v4=["11.0.0.0/16"], max4=300))
    c.run("aws-prefix-list", PL_ARGS, doc(big, CF6))
    mods = [m for m in c.calls("modify-managed-prefix-list") if "pl-4" in m["argv"]]
    sizes = [(len(json.loads(m["argv"][m["argv"].index("--add-entries") + 1]))
              if "--add-entries" in m["argv"] else 0) for m in mods]
    ok("aws-prefix-list, 250 new entries: three versions of at most 100 additions, each "
       "with the current version", c.rc == 0 and sizes == [100, 100, 50] and
       [m["argv"][5] for m in mods] == ["1", "2", "3"] and c.out == "pl-4=4,pl-6=2\n",
       c.why(), sizes)
    ok("aws-prefix-list, 250 new entries: the entry no wanted address needs goes in the "
       "first call", '"11.0.0.0/16"' in mods[0]["argv"][mods[0]["argv"].index(
           "--remove-entries") + 1] and entries(c, "pl-4") == sorted(big), c.why())
    c.close()
    c = Cloud("aws", pl_cloud(max4=300), {"modify-managed-prefix-list": [
        None, {"code": "PrefixListMaxEntriesExceeded",
               "message": "The prefix list would hold more entries than its maximum"}]})
    c.run("aws-prefix-list", PL_ARGS, doc(big, CF6))
    restores = c.calls("restore-managed-prefix-list-version")
    ok("aws-prefix-list, the service refuses the second of three versions (limit): the "
       "first is rolled back, exit 1", c.rc == 1 and "PrefixListMaxEntriesExceeded" in c.err
       and len(restores) == 1 and entries(c, "pl-4") == [] and
       "restored to version 1's entries" in c.err, c.why())
    c.close()


def test_prefix_list_token():
    c = Cloud("aws", pl_cloud(v4=CF4[:2], v6=CF6))
    c.run("aws-prefix-list", PL_ARGS + ["--strict"], doc(CF4, CF6, state="pl-4=7,pl-6=1"))
    ok("aws-prefix-list --strict: a list changed outside cdnallow since its token is "
       "refused", c.rc == 1 and "changed outside cdnallow since version 7" in c.err and
       not c.calls("modify-managed-prefix-list"), c.why())
    c.run("aws-prefix-list", PL_ARGS, doc(CF4, CF6, state="pl-4=7,pl-6=1"))
    ok("aws-prefix-list: without --strict it says so and makes the list what cdnallow "
       "wants", c.rc == 0 and "changed outside cdnallow" in c.err and
       entries(c, "pl-4") == CF4, c.why())
    c.run("aws-prefix-list", ["apply", "--ipv4", "pl-4"], doc(CF4, CF6))
    ok("aws-prefix-list: IPv6 wanted but no --ipv6 list is an error, not a silent gap",
       c.rc == 1 and "no --ipv6 list" in c.err, c.why())
    c.close()


# ---- AWS security groups ------------------------------------------------------------

SG_ARGS = ["apply", "--group-id", "sg-1", "--port", "443", "--port", "80"]
OFFICE = ["tcp", 22, "192.0.2.0/24", "office ssh"]


def sg_cloud(rules, limit=60):
    return {"prefix_lists": {}, "groups": {"sg-1": {"rules": rules, "limit": limit}}}


def sg_rules(c):
    return sorted((r[1], r[2]) for r in c.state()["groups"]["sg-1"]["rules"]
                  if (r[3] or "").startswith("cdnallow"))


def others(c):
    return [r for r in c.state()["groups"]["sg-1"]["rules"]
            if not (r[3] or "").startswith("cdnallow")]


def test_security_group():
    old = [["tcp", p, "104.16.0.0/12", "cdnallow cloudflare"] for p in (80, 443)]
    c = Cloud("aws", sg_cloud([OFFICE] + old))
    c.run("aws-security-group", SG_ARGS, doc(CF4[:2], CF6[:1]))
    verbs = [x["argv"][1] for x in c.calls() if x["argv"][1] != "describe-security-groups"]
    ok("aws-security-group: authorize before revoke (104.16.0.0/12 becomes /13 + /14)",
       c.rc == 0 and verbs == ["authorize-security-group-ingress",
                               "revoke-security-group-ingress"], c.why(), verbs)
    auth = c.calls("authorize-security-group-ingress")[0]["argv"]
    ok("aws-security-group: the exact arguments", auth[:5] == [
        "ec2", "authorize-security-group-ingress", "--group-id", "sg-1", "--ip-permissions"]
       and json.loads(auth[5])[0] == {
           "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
           "IpRanges": [{"CidrIp": "104.16.0.0/13", "Description": "cdnallow cloudflare"},
                        {"CidrIp": "104.24.0.0/14", "Description": "cdnallow cloudflare"}],
           "Ipv6Ranges": [{"CidrIpv6": "2400:cb00::/32",
                           "Description": "cdnallow cloudflare"}]} and
       auth[6:] == ["--output", "json"], auth)
    want = sorted((p, x) for p in (80, 443) for x in CF4[:2] + CF6[:1])
    ok("aws-security-group: our rules are exactly the wanted ones, the office rule "
       "untouched", sg_rules(c) == want and others(c) == [OFFICE], c.state())
    c.run("aws-security-group", ["read", "--group-id", "sg-1", "--port", "443", "--port",
                                 "80"])
    ok("aws-security-group: read prints the prefixes allowed on every port",
       c.out.split() == CF4[:2] + CF6[:1], c.why())
    c.close()


def test_security_group_limit():
    old = [["tcp", p, x, "cdnallow cloudflare"] for p in (80, 443)
           for x in ("104.16.0.0/12", "198.41.128.0/17")]
    c = Cloud("aws", sg_cloud([OFFICE] + old, limit=9))
    c.run("aws-security-group", SG_ARGS, doc(CF4[:2] + ["173.245.48.0/20"]))
    verbs = [x["argv"][1].split("-")[0] for x in c.calls()
             if x["argv"][1] != "describe-security-groups"]
    ok("aws-security-group, RulesPerSecurityGroupLimitExceeded: revokes the rules no wanted "
       "address needs (198.41.128.0/17) first, then authorizes, then revokes the rest",
       c.rc == 0 and verbs == ["authorize", "revoke", "authorize", "revoke"] and
       "198.41.128.0/17" in c.calls("revoke-security-group-ingress")[0]["argv"][5] and
       "104.16.0.0/12" in c.calls("revoke-security-group-ingress")[1]["argv"][5],
       c.why(), verbs)
    ok("aws-security-group, limit: ends with exactly the wanted rules",
       sg_rules(c) == sorted((p, x) for p in (80, 443)
                             for x in CF4[:2] + ["173.245.48.0/20"]), c.state())
    c.close()
    c = Cloud("aws", sg_cloud([OFFICE] + old, limit=5))
    before = c.state()["groups"]["sg-1"]["rules"]
    c.run("aws-security-group", SG_ARGS, doc(CF4[:2] + ["173.245.48.0/20"]))
    ok("aws-security-group, still over the limit after that: exit 1, the revoked rules put "
       "back, the quota named", c.rc == 1 and "RulesPerSecurityGroupLimitExceeded" in c.err
       and "quota" in c.err and sorted(map(tuple, c.state()["groups"]["sg-1"]["rules"])) ==
       sorted(map(tuple, before)), c.why())
    c.close()


def test_security_group_failures():
    c = Cloud("aws", sg_cloud([OFFICE]), {"authorize-security-group-ingress":
                                          ["RequestLimitExceeded"]})
    c.run("aws-security-group", SG_ARGS, doc(CF4))
    ok("aws-security-group, throttled once: retried, exit 0",
       c.rc == 0 and len(c.calls("authorize-security-group-ingress")) == 2, c.why())
    c.close()
    old = [["tcp", p, "104.16.0.0/12", "cdnallow cloudflare"] for p in (80, 443)]
    c = Cloud("aws", sg_cloud([OFFICE] + old), {"revoke-security-group-ingress":
                                                ["RequestLimitExceeded"] * 3})
    c.run("aws-security-group", SG_ARGS + ["--retries", "2"], doc(CF4[:2]))
    ok("aws-security-group, throttled for good on the revoke: the new rules are revoked "
       "again, exit 1", c.rc == 1 and "rolled back" in c.err and
       sg_rules(c) == [(80, "104.16.0.0/12"), (443, "104.16.0.0/12")], c.why(), sg_rules(c))
    c.close()
    c = Cloud("aws", sg_cloud([OFFICE] + old), {"revoke-security-group-ingress":
                                                ["RequestLimitExceeded"] * 9})
    c.run("aws-security-group", SG_ARGS + ["--retries", "2"], doc(CF4[:2]))
    ok("aws-security-group, and the rollback throttled too: exit 1 naming the rules to "
       "check", c.rc == 1 and "putting the group back failed too" in c.err and
       "rules marked 'cdnallow' of sg-1" in c.err, c.why())
    c.close()
    c = Cloud("aws", sg_cloud([OFFICE]), {"authorize-security-group-ingress": [
        {"code": "InvalidPermission.Duplicate", "rule": ["tcp", 443, "104.16.0.0/13",
                                                         "cdnallow by hand"]}]})
    c.run("aws-security-group", SG_ARGS, doc(CF4))
    ok("aws-security-group, a concurrent writer added one of our rules (Duplicate): plans "
       "again and succeeds", c.rc == 0 and "InvalidPermission.Duplicate" in c.err and
       sg_rules(c) == sorted((p, x) for p in (80, 443) for x in CF4), c.why())
    c.close()


# ---- Hetzner Cloud ------------------------------------------------------------------

SSH = {"direction": "in", "protocol": "tcp", "port": "22", "source_ips": ["192.0.2.0/24"],
       "destination_ips": [], "description": "office ssh"}
HC_ARGS = ["apply", "--firewall", "web", "--port", "443", "--port", "80"]


def hc_cloud(rules, **limits):
    return dict({"firewalls": {"web": {"id": 7, "rules": rules}}}, **limits)


def ours(port):
    return {"direction": "in", "protocol": "tcp", "port": port, "source_ips": CF4 + CF6,
            "destination_ips": [], "description": "cdnallow %s" % port}


def test_hcloud():
    old = dict(ours("443"), source_ips=["104.16.0.0/12"])
    c = Cloud("hcloud", hc_cloud([SSH, old]))
    c.run("hcloud-firewall", HC_ARGS, doc(CF4, CF6))
    rep = c.calls("replace-rules")
    ok("hcloud-firewall: one replace-rules call with the exact arguments, rules on stdin",
       c.rc == 0 and len(rep) == 1 and rep[0]["argv"] == [
           "firewall", "replace-rules", "--rules-file", "-", "web"], c.why(), rep)
    ok("hcloud-firewall: the office rule written back unchanged, one rule per port with "
       "every wanted prefix", rep and json.loads(rep[0]["stdin"]) == [SSH, ours("443"),
                                                                      ours("80")], rep)
    ok("hcloud-firewall: the token names the firewall", c.out.startswith("web:"), c.why())
    c.run("hcloud-firewall", ["read", "--firewall", "web", "--port", "443", "--port", "80"])
    ok("hcloud-firewall: read prints the prefixes allowed on every port",
       c.out.split() == CF4 + CF6, c.why())
    token = c.out
    c.run("hcloud-firewall", HC_ARGS, doc(CF4, CF6, state=token.strip()))
    ok("hcloud-firewall: nothing to change, no replace-rules call",
       c.rc == 0 and len(c.calls("replace-rules")) == 1, c.why())
    c.close()


def test_hcloud_failures():
    c = Cloud("hcloud", hc_cloud([SSH]), {"replace-rules": ["rate_limit_exceeded"] * 2})
    c.run("hcloud-firewall", HC_ARGS, doc(CF4, CF6))
    ok("hcloud-firewall, rate_limit_exceeded twice: retried with backoff, exit 0",
       c.rc == 0 and len(c.calls("replace-rules")) == 3 and
       c.state()["firewalls"]["web"]["rules"] == [SSH, ours("443"), ours("80")], c.why())
    c.close()
    extra = dict(SSH, port="8080", description="monitoring")
    c = Cloud("hcloud", hc_cloud([SSH]), {"replace-rules": [{"code": "conflict",
                                                             "foreign": extra}]})
    c.run("hcloud-firewall", HC_ARGS, doc(CF4, CF6))
    ok("hcloud-firewall, conflict (another writer added a rule): plans again, keeps that "
       "rule", c.rc == 0 and len(c.calls("replace-rules")) == 2 and
       c.state()["firewalls"]["web"]["rules"] == [SSH, extra, ours("443"), ours("80")],
       c.why())
    c.close()
    c = Cloud("hcloud", hc_cloud([SSH], max_effective=8))
    c.run("hcloud-firewall", HC_ARGS, doc(CF4, CF6))
    ok("hcloud-firewall, resource_limit_exceeded: exit 1, the firewall as it was",
       c.rc == 1 and "resource_limit_exceeded" in c.err and "nothing changed" in c.err and
       c.state()["firewalls"]["web"]["rules"] == [SSH], c.why())
    c.run("hcloud-firewall", HC_ARGS + ["--max-effective", "8"], doc(CF4, CF6))
    ok("hcloud-firewall: a plan over --max-effective is refused before any call",
       c.rc == 1 and "exceed the firewall's limits" in c.err and
       len(c.calls("replace-rules")) == 1, c.why())
    c.close()


# ---- DigitalOcean -------------------------------------------------------------------

DO_ARGS = ["apply", "--firewall", "fw-1", "--port", "443"]


def do_fw():
    return {"name": "cdn-only", "status": "succeeded", "pending_changes": [],
            "inbound_rules": [
                {"protocol": "tcp", "ports": "22", "sources": {"droplet_ids": [42],
                                                              "tags": ["bastion"]}},
                {"protocol": "tcp", "ports": "443", "sources": {
                    "addresses": ["104.16.0.0/12"], "load_balancer_uids": ["lb-9"]}}],
            "outbound_rules": [{"protocol": "tcp", "ports": "0", "destinations": {
                "addresses": ["0.0.0.0/0", "::/0"]}},
                {"protocol": "icmp", "destinations": {"addresses": ["0.0.0.0/0"]}}],
            "droplet_ids": [101, 102], "tags": ["web"]}


def test_do():
    c = Cloud("doctl", {"firewalls": {"fw-1": do_fw()}, "settle": 1})
    c.run("do-firewall", DO_ARGS, doc(CF4, CF6))
    upd = c.calls("update")
    addrs = ",".join("address:%s" % x for x in CF4 + CF6)
    ok("do-firewall: one update with the whole firewall, exact arguments", c.rc == 0 and
       len(upd) == 1 and upd[0]["argv"] == [
           "compute", "firewall", "update", "fw-1", "--name", "cdn-only",
           "--inbound-rules", "protocol:tcp,ports:22,droplet_id:42,tag:bastion "
           "protocol:tcp,ports:443,%s,load_balancer_uid:lb-9" % addrs,
           "--outbound-rules", "protocol:tcp,ports:0,address:0.0.0.0/0,address:::/0 "
           "protocol:icmp,address:0.0.0.0/0",
           "--droplet-ids", "101,102", "--tag-names", "web", "--output", "json"],
       c.why(), upd)
    fw = c.state()["firewalls"]["fw-1"]
    ok("do-firewall: waits until the change reached the Droplets (status succeeded)",
       fw["status"] == "succeeded" and c.calls()[-1]["argv"][2] == "get", c.calls()[-3:])
    ok("do-firewall: Droplets, tags, outbound rules and the other sources kept",
       fw["droplet_ids"] == [101, 102] and fw["tags"] == ["web"] and
       fw["inbound_rules"][1]["sources"]["load_balancer_uids"] == ["lb-9"], fw)
    c.run("do-firewall", ["read", "--firewall", "fw-1", "--port", "443"])
    ok("do-firewall: read prints the addresses of the port's rule",
       c.out.split() == CF4 + CF6, c.why())
    c.close()


def test_do_failures():
    c = Cloud("doctl", {"firewalls": {"fw-1": do_fw()}, "settle": 0},
              {"update": [429, 429]})
    c.run("do-firewall", DO_ARGS, doc(CF4, CF6))
    ok("do-firewall, HTTP 429 twice: retried with backoff, exit 0",
       c.rc == 0 and len(c.calls("update")) == 3, c.why())
    c.close()
    c = Cloud("doctl", {"firewalls": {"fw-1": do_fw()}, "settle": 0},
              {"get": [{"code": None, "after_get": {"tags": ["web", "added-by-hand"]}}]})
    c.run("do-firewall", DO_ARGS, doc(CF4, CF6))
    upd = c.calls("update")
    ok("do-firewall, another writer between our read and our write: read again, its tag "
       "is kept", c.rc == 0 and len(upd) == 1 and
       upd[0]["argv"][upd[0]["argv"].index("--tag-names") + 1] == "web,added-by-hand" and
       "changed while planning" in c.err, c.why(), upd)
    c.close()
    c = Cloud("doctl", {"firewalls": {"fw-1": do_fw()}, "settle": 0, "max_addresses": 3})
    c.run("do-firewall", DO_ARGS, doc(CF4, CF6))
    ok("do-firewall, 422 (too many addresses): exit 1, the firewall as it was",
       c.rc == 1 and "HTTP 422" in c.err and "nothing changed" in c.err and
       c.state()["firewalls"]["fw-1"]["inbound_rules"] == do_fw()["inbound_rules"], c.why())
    c.close()
    c = Cloud("doctl", {"firewalls": {"fw-1": do_fw()}, "settle": 0,
                        "outcomes": ["failed", "succeeded"]})
    c.run("do-firewall", DO_ARGS, doc(CF4, CF6))
    fw = c.state()["firewalls"]["fw-1"]
    ok("do-firewall, the update ends 'failed': the previous rules are put back, exit 1",
       c.rc == 1 and "put back" in c.err and len(c.calls("update")) == 2 and
       fw["inbound_rules"] == do_fw()["inbound_rules"], c.why())
    c.close()


# ---- through cdnallow ---------------------------------------------------------------

def cdnallow(c, name, command, read_command):
    work = os.path.join(c.dir, "run")
    os.mkdir(work)
    with open(os.path.join(work, "list.txt"), "w") as f:
        f.write("\n".join(CF4 + CF6) + "\n")
    conf = os.path.join(work, "cdnallow.conf")
    with open(conf, "w") as f:
        f.write("[cdnallow]\nstate_dir = %s/state\n[source.cloudflare]\nprovider = text\n"
                "url = file://%s/list.txt\n[target.%s]\nbackend = exec\n"
                "sources = cloudflare\ncommand = %s\nread_command = %s\n"
                % (work, work, name, command, read_command))
    os.chmod(conf, 0o600)
    env = dict(os.environ, CDNALLOW_NO_SYSLOG="1")

    def run(*args):
        p = subprocess.run([os.environ["CDNALLOW"], "-c", conf] + list(args),
                           capture_output=True, text=True, env=env, timeout=120)
        return p.returncode, p.stdout + p.stderr
    return work, run


def test_through_cdnallow():
    c = Cloud("aws", pl_cloud())
    recipe = os.path.join(RECIPES, "aws-prefix-list")
    opts = "--ipv4 pl-4 --ipv6 pl-6 --cli %s --backoff 0.01" % c.tool
    work, run = cdnallow(c, "aws", "%s apply %s" % (recipe, opts),
                         "%s read %s" % (recipe, opts))
    rc, out = run("sync")
    ok("cdnallow + aws-prefix-list: sync exits 0, the lists hold the source's prefixes",
       rc == 0 and entries(c, "pl-4") == CF4 and entries(c, "pl-6") == CF6, out)
    with open(os.path.join(work, "state", "token-exec-aws.tok")) as f:
        tok = f.read().split("\n")[1]
    ok("cdnallow + aws-prefix-list: the recipe's token is in the state dir",
       tok == "pl-4=2,pl-6=2", tok)
    rc, out = run("sync", "--detailed-exitcode")
    ok("cdnallow + aws-prefix-list: read_command agrees, the second sync changes nothing",
       rc == 0 and len(c.calls("modify-managed-prefix-list")) == 2, out)
    c.close()
    c = Cloud("hcloud", hc_cloud([SSH]), {"replace-rules": ["rate_limit_exceeded"] * 9})
    recipe = os.path.join(RECIPES, "hcloud-firewall")
    opts = "--firewall web --port 443 --cli %s --backoff 0.01 --retries 1" % c.tool
    work, run = cdnallow(c, "hetzner", "%s apply %s" % (recipe, opts),
                         "%s read %s" % (recipe, opts))
    rc, out = run("sync")
    ok("cdnallow + hcloud-firewall, throttled for good: exit 69 with the recipe's message, "
       "no token recorded", rc == 69 and "rate_limit_exceeded" in out and
       not os.path.exists(os.path.join(work, "state", "token-exec-hetzner.tok")), out)
    c.write("faults.json", {})
    rc, out = run("sync")
    ok("cdnallow + hcloud-firewall: the next run applies", rc == 0 and
       c.state()["firewalls"]["web"]["rules"] == [SSH, dict(ours("443"))], out)
    c.close()


def main():
    for t in (test_prefix_list, test_prefix_list_conflict, test_prefix_list_throttling,
              test_prefix_list_limits, test_prefix_list_token, test_security_group,
              test_security_group_limit, test_security_group_failures, test_hcloud,
              test_hcloud_failures, test_do, test_do_failures, test_through_cdnallow):
        try:
            t()
        except Exception as e:  # a crash in one test is a failure, not the end
            ok("%s ran to its end" % t.__name__, False, repr(e))
    print("1..%d" % N)
    print("# %d passed, %d failed" % (N - FAILED, FAILED))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
