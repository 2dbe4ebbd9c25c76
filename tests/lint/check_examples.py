#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Every configuration example in cdnallow.conf.5 and contrib/cdnallow.conf.example passes
`cdnallow check` (completed with a source and a target when the snippet lacks them).

usage: check_examples.py CDNALLOW SRCDIR          Prints TAP.
"""
import os
import re
import subprocess
import sys
import tempfile



def snippets(page):
    text = open(page, encoding='utf-8').read()
    for m in re.finditer(r'^\.Bd -literal[^\n]*\n(.*?)^\.Ed$', text, re.S | re.M):
        body = m.group(1).replace('\\e', '\\').replace('\\(dq', '"')
        if re.search(r'^\[(cdnallow|source\.|target\.)', body, re.M):
            yield body


def main():
    binary, src = sys.argv[1:3]
    cases = list(snippets(src + '/man/cdnallow.conf.5'))
    cases.append(open(src + '/contrib/cdnallow.conf.example', encoding='utf-8').read())
    print('1..%d' % len(cases))
    fail = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, body in enumerate(cases, 1):
            conf = body
            # complete a snippet: the sources its targets name, a target for its sources
            have = set(re.findall(r'^\[source\.([-\w]+)\]', conf, re.M))
            for line in re.findall(r'^sources = (.*)$', conf, re.M):
                for name in re.split(r'[\s,]+', line.strip()):
                    if name not in have:
                        conf += '\n[source.%s]\nprovider = cloudflare\n' % name
                        have.add(name)
            if not have:
                conf += '\n[source.cloudflare]\nprovider = cloudflare\n'
                have.add('cloudflare')
            if '[target.' not in conf:
                conf += '\n[target.zz-filler]\nbackend = null\nsources = %s\n' % (
                    ' '.join(sorted(have)))
            path = os.path.join(tmp, 'c%d.conf' % i)
            with open(path, 'w', encoding='utf-8') as f:
                f.write(conf)
            os.chmod(path, 0o644)
            r = subprocess.run([binary, '-c', path, 'check'], capture_output=True, text=True)
            first = body.strip().splitlines()[0]
            if r.returncode != 0:
                fail = 1
                for line in (conf + r.stderr).splitlines():
                    print('# ' + line)
                print('not ok %d - example starting %r: status %d' % (i, first, r.returncode))
            else:
                print('ok %d - example starting %r' % (i, first))
    return fail


if __name__ == '__main__':
    sys.exit(main())
