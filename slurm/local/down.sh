#!/usr/bin/env bash
# Stop the local cluster started by up.sh, by the PIDs it recorded (never by process name).
set -uo pipefail
RUN=${REPRO_SLURM_DIR:-/tmp/repro-slurm}
for name in slurmd slurmctld slurmdbd mariadb munged; do
  f="$RUN/pids/$name.pid"
  [ -s "$f" ] || continue
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$f"
done
echo "slurm-down: stopped (state kept in $RUN; remove that folder to purge)"
