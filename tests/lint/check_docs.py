#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Docs-vs-code check: every config key, provider, backend, long option, command and exit
status the code knows is documented in the man pages, and nothing documented is unknown.

usage: check_docs.py DUMP_KEYS CDNALLOW SRCDIR
  DUMP_KEYS  tests/lint/dump_keys (prints the key tables of the linked core)
  CDNALLOW   the built binary (its --help lists the commands)
  SRCDIR     the source tree (src/app/main.c's long_opts, man/)
Prints TAP.
"""
import re
import subprocess
import sys


def sections(path):
    """{('Sh title', 'Ss title' or ''): [lines]} of an mdoc page."""
    out, sh, ss = {}, '', ''
    with open(path, encoding='utf-8') as f:
        for line in f:
            line = line.rstrip('\n')
            m = re.match(r'\.Sh (.*)', line)
            if m:
                sh, ss = m.group(1).strip('"'), ''
                continue
            m = re.match(r'\.Ss (.*)', line)
            if m:
                ss = m.group(1).strip('"').replace('\\&', '').strip()
                continue
            out.setdefault((sh, ss), []).append(line)
    return out


def items(lines, macro):
    """Names of '.It <macro> NAME' items (Cm keys, Fl options, Sy statuses)."""
    names = []
    for line in lines:
        for m in re.finditer(r'(?:^\.It |\s)' + macro + r' (\\?-?[-\w.]+)', line):
            if line.startswith('.It'):
                names.append(m.group(1).lstrip('\\'))
    return names


def main():
    dump, binary, src = sys.argv[1:4]
    conf = sections(src + '/man/cdnallow.conf.5')
    page = sections(src + '/man/cdnallow.8')
    fails = []
    checks = 0

    def expect(cond, what):
        nonlocal checks
        checks += 1
        if not cond:
            fails.append(what)

    def conf_items(sh, ss):
        return items(conf.get((sh, ss), []), 'Cm')

    kinds = {'global': ('DESCRIPTION', '[cdnallow]'),
             'source': ('DESCRIPTION', '[source.NAME]'),
             'target': ('DESCRIPTION', '[target.NAME]')}
    known = {k: set() for k in kinds}
    providers, backends = {}, {}
    text = subprocess.run([dump], check=True, capture_output=True, text=True).stdout
    for line in text.splitlines():
        f = line.split('\t')
        if f[0] in kinds:
            known[f[0]].add(f[1])
            expect(f[1] in conf_items(*kinds[f[0]]),
                   'cdnallow.conf.5: key %s not documented in %s' % (f[1], kinds[f[0]][1]))
        elif f[0] in ('provider', 'backend'):
            table = providers if f[0] == 'provider' else backends
            sh = 'PROVIDERS' if f[0] == 'provider' else 'BACKENDS'
            keys = table.setdefault(f[1], set())
            if len(f) == 2:
                expect((sh, f[1]) in conf,
                       'cdnallow.conf.5: %s %s has no ".Ss %s" in %s' % (f[0], f[1], f[1], sh))
            else:
                keys.add(f[2])
                expect(f[2] in conf_items(sh, f[1]),
                       'cdnallow.conf.5: key %s of %s %s not documented' % (f[2], f[0], f[1]))
        else:
            expect(False, 'dump_keys: unexpected line %r' % line)
    expect(len(providers) > 0 and len(backends) > 0, 'dump_keys printed no providers/backends')
    # stale docs: documented keys the code does not accept
    for kind, (sh, ss) in kinds.items():
        for k in conf_items(sh, ss):
            expect(k in known[kind], 'cdnallow.conf.5: [%s] documents unknown key %s' % (ss, k))
    for sh, table in (('PROVIDERS', providers), ('BACKENDS', backends)):
        for (s1, s2), lines in conf.items():
            if s1 != sh or s2 == '':
                continue
            expect(s2 in table, 'cdnallow.conf.5: %s documents unknown %s' % (sh, s2))
            for k in items(lines, 'Cm'):
                expect(k in table.get(s2, ()), 'cdnallow.conf.5: %s %s documents unknown key %s'
                       % (sh, s2, k))

    # long options, from src/app/main.c's long_opts table
    with open(src + '/src/app/main.c', encoding='utf-8') as f:
        main_c = f.read()
    m = re.search(r'struct option long_opts\[\] = \{(.*?)\n\};', main_c, re.S)
    opts = re.findall(r'\{"([-\w]+)"', m.group(1)) if m else []
    expect(len(opts) > 0, 'src/app/main.c: no long_opts table found')
    documented = [o.lstrip('-') for o in items(page.get(('OPTIONS', ''), []), 'Fl')]
    for o in opts:
        expect(o in documented, 'cdnallow.8: option --%s not documented in OPTIONS' % o)
    for o in documented:
        if len(o) > 1:
            expect(o in opts, 'cdnallow.8: OPTIONS documents unknown option --%s' % o)

    # commands, from --help ("  NAME  description"), plus main.c's parse_command table
    helptext = subprocess.run([binary, '--help'], check=True, capture_output=True,
                              text=True).stdout
    cmds = set(re.findall(r'(?m)^  ([a-z]+)  ', helptext))
    m = re.search(r'cmds\[\] = \{(.*?)\};', main_c, re.S)
    if m:
        cmds |= set(re.findall(r'\{"([a-z]+)", CMD_', m.group(1)))
    expect(len(cmds) > 0, 'no commands found in --help')
    documented = items(page.get(('COMMANDS', ''), []), 'Cm')
    for c in sorted(cmds):
        expect(c in documented, 'cdnallow.8: command %s not documented in COMMANDS' % c)
    for c in documented:
        expect(c in cmds, 'cdnallow.8: COMMANDS documents unknown command %s' % c)

    # exit statuses: literal returns in main.c and the class mapping in cda_error.c
    with open(src + '/src/common/cda_error.c', encoding='utf-8') as f:
        statuses = set(re.findall(r'return (\d+);', main_c + f.read()))
    statuses |= set(re.findall(r'#define EXIT_\w+ (\d+)', main_c))
    documented = items(page.get(('EXIT STATUS', ''), []), 'Sy')
    for s in sorted(statuses, key=int):
        if s != '1':
            expect(s in documented, 'cdnallow.8: exit status %s not in EXIT STATUS' % s)

    print('1..1')
    for f in fails:
        print('# ' + f)
    print('%s 1 - %d documentation checks%s' % ('not ok' if fails else 'ok', checks,
          ', %d failed' % len(fails) if fails else ''))
    return 1 if fails else 0


if __name__ == '__main__':
    sys.exit(main())
