#!/bin/sh
# SPDX-License-Identifier: MIT
# The contrib/exec recipes against recording stand-ins of aws, hcloud and doctl
# (exec_recipes.py says how); no network, no firewall. Prints TAP.
. "$CDNALLOW_SRC/tests/integration/lib.sh"
command -v python3 >/dev/null || prereq_missing python3
exec python3 "$CDNALLOW_SRC/tests/integration/exec_recipes.py"
