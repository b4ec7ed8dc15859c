#!/bin/sh
# Starts a one-node Slurm cluster (Debian's slurm-wlm and munge) whose every
# file lives in DIR: munged, slurmctld and slurmd, as root, on the ports
# given, the node named zt-node on 127.0.0.1. Waits until the node takes
# jobs. Use it with SLURM_CONF=DIR/slurm.conf; stop it with down.sh DIR.
# usage: up.sh DIR CTLD_PORT SLURMD_PORT
set -e
dir=$1 ctld_port=$2 slurmd_port=$3
[ -n "$dir" ] && [ -n "$ctld_port" ] && [ -n "$slurmd_port" ] || { echo "usage: $0 DIR CTLD_PORT SLURMD_PORT" >&2; exit 2; }
mkdir -p "$dir/state" "$dir/spool"
chmod 700 "$dir"
dd if=/dev/urandom of="$dir/munge.key" bs=1024 count=1 2>/dev/null
chmod 400 "$dir/munge.key"
/usr/sbin/munged --force --key-file="$dir/munge.key" --socket="$dir/munge.socket" \
    --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munged.seed"
cat > "$dir/slurm.conf" <<CONF
ClusterName=zt
SlurmctldHost=$(hostname)(127.0.0.1)
MailProg=/bin/true
AuthType=auth/munge
AuthInfo=socket=$dir/munge.socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
NodeName=zt-node NodeHostname=$(hostname) NodeAddr=127.0.0.1 CPUs=16 State=UNKNOWN
PartitionName=zt Nodes=zt-node Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$dir/slurm.conf"
/usr/sbin/slurmctld -i -f "$dir/slurm.conf"
/usr/sbin/slurmd -N zt-node -f "$dir/slurm.conf"
i=0
until [ "$(sinfo -h -o %t 2>/dev/null)" = idle ]; do
    i=$((i + 1))
    if [ $i -gt 10 ] && ! kill -0 "$(cat "$dir/slurmctld.pid" 2>/dev/null)" 2>/dev/null; then
        echo "slurmctld ended; see $dir/slurmctld.log" >&2
        exit 1
    fi
    [ $i -le 150 ] || { echo "the Slurm node did not come up; see $dir/*.log" >&2; exit 1; }
    sleep 0.2
done
