#!/usr/bin/env bash
# Run a command with the local Slurm cluster up: start it if it is down (and stop it afterwards), leave it alone if
# it was already up. If it cannot start here (no root to install packages, say), the command still runs, and the
# tests marked `slurm` skip, or fail when REPRO_REQUIRE_SLURM=1 (as in CI).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
started=0
if scontrol ping 2>/dev/null | grep -q "is UP"; then
  :
elif bash "$here/up.sh"; then
  started=1
else
  echo "with-cluster: the local Slurm cluster could not start; tests marked slurm will skip (or fail if required)" >&2
fi
"$@"
rc=$?
[ "$started" = 1 ] && bash "$here/down.sh"
exit $rc
