#!/usr/bin/env bash
# Start a throw-away single-node SLURM cluster on 127.0.0.1 with one (placeholder) GPU GRES,
# for tests/test_slurm.py and for trying `snakemake --profile profiles/slurm` locally.
#
#   sudo tests/cluster/slurm_up.sh [STATE_DIR]      # default: $VEM_SLURM_DIR or /tmp/vem-slurm
#   sudo tests/cluster/slurm_down.sh [STATE_DIR]
#
# Needs root on Debian/Ubuntu without systemd (CI containers): installs slurmctld, slurmd,
# slurm-client and munge from the distribution if they are missing, writes slurm.conf and
# gres.conf into STATE_DIR (nothing under /etc/slurm is touched), starts munged (unless one
# is already running), slurmctld and slurmd, records their PIDs in STATE_DIR/*.pid and waits
# until `sinfo` reports the node idle. Facts behind each setting: ../shared/CLUSTER.md.
# slurm.conf and gres.conf are written to STATE_DIR and copied to /etc/slurm, because the
# srun that snakemake's jobstep runs inside each job drops SLURM_CONF from its environment
# and reads the default path; an /etc/slurm/slurm.conf not written by this script is saved
# as STATE_DIR/etc.orig/ and put back by slurm_down.sh.
set -euo pipefail

DIR="${1:-${VEM_SLURM_DIR:-/tmp/vem-slurm}}"
TIMEOUT="${VEM_SLURM_TIMEOUT:-60}"   # seconds to wait for the node to become idle
say() { echo "slurm_up: $*" >&2; }
die() { say "ERROR: $*"; for f in "$DIR"/log/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 30 "$f" >&2; }; done; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (starts munged/slurmctld/slurmd)"
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
export SLURM_CONF=/etc/slurm/slurm.conf   # where every SLURM command (and the jobs) read it

cannot_install() { say "CANNOT INSTALL: $*"; exit 3; }   # exit 3: tests/test_slurm.py skips

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Already up (idempotent): all our daemons alive and the node idle.
if alive "$DIR/slurmctld.pid" && alive "$DIR/slurmd.pid" \
   && sinfo -h -N -o %T 2>/dev/null | grep -qx idle; then
    say "already up in $DIR"; echo "SLURM_CONF=/etc/slurm/slurm.conf"; exit 0
fi
# Half-up from an earlier run: stop what we started, then start afresh.
if ls "$DIR"/*.pid >/dev/null 2>&1; then
    say "stale state in $DIR, stopping it first"
    "$(dirname "$0")/slurm_down.sh" "$DIR" || true
fi

# Another cluster on this machine (e.g. started with another STATE_DIR) holds the ports.
if command -v scontrol >/dev/null && [ -f /etc/slurm/slurm.conf ] && timeout 5 scontrol ping 2>/dev/null | grep -q UP; then
    die "a slurmctld not started from $DIR already answers (/etc/slurm/slurm.conf); stop it first (slurm_down.sh <its STATE_DIR>)"
fi

# 1. Packages (Debian's SLURM 22.05 + munge 0.5); apt starts no daemons without systemd.
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
   || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    command -v apt-get >/dev/null || cannot_install "SLURM binaries missing and no apt-get to install them"
    say "installing slurmctld slurmd slurm-client munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || cannot_install "apt-get update failed (no package registry?)"
    apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null \
        || cannot_install "apt-get install slurmctld slurmd slurm-client munge failed"
fi
[ -s /etc/munge/munge.key ] || { command -v mungekey >/dev/null && mungekey --create --force; } \
    || die "no /etc/munge/munge.key"

# 2. Directories: state, spool, logs and pid files all under $DIR; munge's socket in /run/munge.
rm -rf "$DIR/ctld" "$DIR/spool"   # a fresh cluster: no jobs left from an earlier one
mkdir -p "$DIR/ctld" "$DIR/spool" "$DIR/log" /run/munge
chown munge:munge /run/munge
chmod 0755 /run/munge

CPUS="$(nproc)"
MEM_MB="$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 - 512 ))"

cat >"$DIR/slurm.conf" <<EOF
# Written by tests/cluster/slurm_up.sh: one node on 127.0.0.1, one placeholder GPU.
ClusterName=vemtest
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
MinJobAge=3600
GresTypes=gpu
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
StateSaveLocation=$DIR/ctld
SlurmdSpoolDir=$DIR/spool
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
# gres.conf is read from slurm.conf's directory; File= is required or the node is invalid.
echo "NodeName=localhost Name=gpu Count=1 File=/dev/null" >"$DIR/gres.conf"
mkdir -p /etc/slurm
MARK="Written by tests/cluster/slurm_up.sh"
if [ -f /etc/slurm/slurm.conf ] && ! grep -q "$MARK" /etc/slurm/slurm.conf && [ ! -d "$DIR/etc.orig" ]; then
    say "saving the existing /etc/slurm/{slurm,gres}.conf to $DIR/etc.orig/"
    mkdir -p "$DIR/etc.orig"
    cp -p /etc/slurm/slurm.conf "$DIR/etc.orig/"
    [ -f /etc/slurm/gres.conf ] && cp -p /etc/slurm/gres.conf "$DIR/etc.orig/"
fi
cp "$DIR/slurm.conf" "$DIR/gres.conf" /etc/slurm/
export SLURM_CONF=/etc/slurm/slurm.conf

# 3. munged (as the munge user), unless one already answers; remember whether we started it.
if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    say "munged already running; leaving it alone"
else
    runuser -u munge -- /usr/sbin/munged || die "munged did not start"
    for _ in $(seq 50); do [ -s /run/munge/munged.pid ] && break; sleep 0.1; done
    cp /run/munge/munged.pid "$DIR/munged.pid" || die "munged wrote no pid file"
fi

# 4. slurmctld, then slurmd (-N: this host's name is not "localhost"). Both daemonize and
#    write the pid files named in slurm.conf.
slurmctld -f "$SLURM_CONF" || die "slurmctld did not start"
for _ in $(seq 50); do [ -s "$DIR/slurmctld.pid" ] && break; sleep 0.1; done
slurmd -f "$SLURM_CONF" -N localhost || die "slurmd did not start"

# 5. Wait until the node is idle.
deadline=$(( $(date +%s) + TIMEOUT ))
until [ "$(sinfo -h -N -o %T 2>/dev/null)" = idle ]; do
    [ "$(date +%s)" -lt "$deadline" ] || die "node not idle after ${TIMEOUT}s: $(sinfo -N 2>&1 | tr '\n' ' ')"
    sleep 0.5
done
alive "$DIR/slurmctld.pid" || die "slurmctld is not running"
alive "$DIR/slurmd.pid" || die "slurmd is not running"
say "up in $DIR: $(sinfo -h -N -o '%N %T cpus=%c mem=%m gres=%G')"
echo "SLURM_CONF=/etc/slurm/slurm.conf"
