#!/usr/bin/env bash
# Stop the cluster started by slurm_up.sh: slurmd, slurmctld and (if slurm_up.sh started it)
# munged, each by the PID in STATE_DIR/<daemon>.pid, and nothing else. Keeps the logs; puts
# back an /etc/slurm/slurm.conf (and gres.conf) that slurm_up.sh found and saved.
#   tests/cluster/slurm_down.sh [STATE_DIR]   # default: $VEM_SLURM_DIR or /tmp/vem-slurm
set -uo pipefail

DIR="${1:-${VEM_SLURM_DIR:-/tmp/vem-slurm}}"
say() { echo "slurm_down: $*" >&2; }
[ -d "$DIR" ] || { say "no state dir $DIR; nothing to stop"; exit 0; }

status=0
for daemon in slurmd slurmctld munged; do
    pidfile="$DIR/$daemon.pid"
    [ -f "$pidfile" ] || continue
    pid="$(cat "$pidfile")"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            say "$daemon ($pid) ignored SIGTERM for 10 s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || status=1
        fi
        say "stopped $daemon ($pid)"
    fi
    rm -f "$pidfile"
done
MARK="Written by tests/cluster/slurm_up.sh"
if [ -d "$DIR/etc.orig" ]; then
    cp -p "$DIR"/etc.orig/* /etc/slurm/ && rm -rf "$DIR/etc.orig" && say "restored /etc/slurm from $DIR/etc.orig"
elif [ -f /etc/slurm/slurm.conf ] && grep -q "$MARK" /etc/slurm/slurm.conf; then
    rm -f /etc/slurm/slurm.conf /etc/slurm/gres.conf
fi
exit $status
