#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for emergent's Slurm tests and for trying
# `emergent slurm` by hand: munged with its own key and socket, slurmctld and slurmd
# with a minimal slurm.conf, everything (state, logs, pid files) under one folder.
#
#   scripts/slurm-local.sh start [DIR]   # DIR defaults to /tmp/emergent-slurm
#   export SLURM_CONF=DIR/slurm.conf     # then sbatch, squeue, scontrol use it
#   scripts/slurm-local.sh stop [DIR]
#
# Needs Debian's `slurm-wlm` and `munge` (apt-get install slurm-wlm munge). Ports
# 16817/16818 keep clear of a real cluster's 6817/6818.
set -euo pipefail
cmd=${1:-start}
dir=${2:-/tmp/emergent-slurm}
conf=$dir/slurm.conf

stop() {
  for p in slurmd slurmctld munged; do
    if [ -f "$dir/$p.pid" ]; then
      kill "$(cat "$dir/$p.pid")" 2>/dev/null || true
      rm -f "$dir/$p.pid"
    fi
  done
}

if [ "$cmd" = stop ]; then
  stop
  echo "slurm-local: stopped ($dir)"
  exit 0
fi
[ "$cmd" = start ] || { echo "usage: $0 start|stop [DIR]" >&2; exit 2; }
for b in munged slurmctld slurmd sbatch; do
  command -v "$b" >/dev/null || { echo "slurm-local: $b not found: apt-get install slurm-wlm munge" >&2; exit 1; }
done
stop
mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
user=$(id -un)
if [ ! -f "$dir/munge/munge.key" ]; then
  dd if=/dev/urandom bs=1 count=1024 of="$dir/munge/munge.key" 2>/dev/null
  chmod 400 "$dir/munge/munge.key"
fi
chmod 700 "$dir/munge"
munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
  --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munge/munge.seed"
cpus=$(nproc)
mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
cat > "$conf" <<CONF
ClusterName=emergent-local
SlurmctldHost=localhost
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=600
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
slurmctld -f "$conf"
slurmd -f "$conf" -N localhost
export SLURM_CONF=$conf
for _ in $(seq 1 50); do
  if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
    echo "slurm-local: up ($conf); export SLURM_CONF=$conf"
    exit 0
  fi
  sleep 0.2
done
echo "slurm-local: the node did not come up; see $dir/slurmctld.log and $dir/slurmd.log" >&2
sinfo >&2 || true
exit 1
