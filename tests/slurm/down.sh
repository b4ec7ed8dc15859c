#!/bin/sh
# Stops what up.sh DIR started, by the pids in its files.
# usage: down.sh DIR
dir=$1
[ -n "$dir" ] || { echo "usage: $0 DIR" >&2; exit 2; }
# Its jobs first: their steps would outlive slurmd.
export SLURM_CONF="$dir/slurm.conf"
jobs=$(squeue -h -o %i 2>/dev/null)
if [ -n "$jobs" ]; then
    # shellcheck disable=SC2086
    scancel $jobs 2>/dev/null
    i=0
    while [ -n "$(squeue -h -o %i 2>/dev/null)" ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
fi
for name in slurmd slurmctld munged; do
    [ -f "$dir/$name.pid" ] || continue
    pid=$(cat "$dir/$name.pid")
    kill "$pid" 2>/dev/null
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    kill -9 "$pid" 2>/dev/null
    rm -f "$dir/$name.pid"
done
exit 0
