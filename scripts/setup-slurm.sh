#!/usr/bin/env bash
# A real Slurm cluster on loopback for baton's tests and for trying the slurm orchestrator:
# munge, slurmctld, two slurmd daemons (nodes n1 and n2 on this host, 8 CPUs, 8000 MB and two
# count-only GPUs each), and slurmdbd with MariaDB so that `sacct` has the cluster's records.
#
#   scripts/setup-slurm.sh          install what is missing (Debian 12), configure, start; idempotent
#   scripts/setup-slurm.sh stop     stop every daemon it started (by pid file)
#
# Runs as root (the daemons run as root; there is no systemd on CI machines). Memory limits are
# enforced by the accounting plugin (JobAcctGatherParams=OverMemoryKill), not by cgroups: the
# machines this runs on have hybrid cgroups, which Slurm's cgroup plugins do not support.
set -euo pipefail

state=/var/lib/baton-slurm
conf=/etc/slurm

pids=(/run/slurmd-n1.pid /run/slurmd-n2.pid /run/slurmctld.pid /run/slurmdbd.pid /run/mysqld/mysqld.pid /run/munge/munged.pid)

stop() {
  for f in "${pids[@]}"; do
    [ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
  done
  for _ in $(seq 100); do
    local alive=0
    for f in "${pids[@]}"; do [ -s "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && return 0
    sleep 0.1
  done
}

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local secs=$1 what=$2; shift 2
  for _ in $(seq $((secs * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "setup-slurm: $what did not come up; see /var/log/slurm" >&2
  return 1
}

if [ "${1:-start}" = stop ]; then stop; exit 0; fi
[ "$(id -u)" -eq 0 ] || { echo "setup-slurm: run as root" >&2; exit 1; }

packages=(slurmctld slurmd slurm-client slurmdbd munge mariadb-server)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup-slurm: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
export USER=${USER:-root}
host=$(hostname)

# munge: the key comes from the package; the daemon runs as its own user.
if ! alive /run/munge/munged.pid; then
  [ -s /etc/munge/munge.key ] || head -c 128 /dev/urandom > /etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key
  chmod 400 /etc/munge/munge.key
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
  runuser -u munge -- /usr/sbin/munged
  wait_for 10 munge sh -c 'munge -n </dev/null | unmunge'
fi

# MariaDB for slurmdbd (the accounting records `sacct` reads).
if ! alive /run/mysqld/mysqld.pid; then
  install -d -o mysql -g mysql -m 0755 /run/mysqld
  [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
  setsid /usr/sbin/mariadbd --user=mysql --datadir=/var/lib/mysql --socket=/run/mysqld/mysqld.sock \
    --pid-file=/run/mysqld/mysqld.pid --bind-address=127.0.0.1 --skip-log-bin \
    --innodb-buffer-pool-size=64M --log-error=/var/log/baton-slurm-mariadb.err </dev/null >/dev/null 2>&1 &
  wait_for 30 MariaDB mariadb -uroot -e 'select 1'
fi
mariadb -uroot <<'SQL'
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'baton-test';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
FLUSH PRIVILEGES;
SQL

install -d -m 0755 "$conf" /var/log/slurm /var/spool/slurmctld /var/spool/slurmd "$state"
cat > "$conf/slurmdbd.conf" <<'EOF'
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
PidFile=/run/slurmdbd.pid
LogFile=/var/log/slurm/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageLoc=slurm_acct_db
StorageUser=slurm
StoragePass=baton-test
EOF
chmod 600 "$conf/slurmdbd.conf"

cat > "$conf/slurm.conf.new" <<EOF
# baton's test cluster: one host, two slurmd daemons, accounting through slurmdbd.
ClusterName=baton
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
SlurmctldPort=6817
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd/%n
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd-%n.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd-%n.log
# No cgroups here (hybrid hierarchy): processes are tracked by parentage, and memory is
# enforced by the accounting plugin, which samples every second and kills a job over --mem.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
JobAcctGatherParams=OverMemoryKill
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
AccountingStorageTRES=gres/gpu
AccountingStoreFlags=job_comment
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SchedulerParameters=sched_min_interval=100000
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
GresTypes=gpu
ReturnToService=2
MinJobAge=300
MaxArraySize=1001
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
DefMemPerCPU=500
NodeName=n1 NodeHostname=$host NodeAddr=127.0.0.1 Port=17001 CPUs=8 RealMemory=8000 Gres=gpu:2 State=UNKNOWN
NodeName=n2 NodeHostname=$host NodeAddr=127.0.0.1 Port=17002 CPUs=8 RealMemory=8000 Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=n1,n2 Default=YES MaxTime=INFINITE State=UP
PartitionName=short Nodes=n1,n2 MaxTime=INFINITE State=UP
EOF
# Stand-in GPUs: jobs asking for --gres=gpu:N schedule against two per node. Slurm drops GPUs
# without a File, and without cgroups the files are only bookkeeping: plain files do.
touch "$state/gpu0" "$state/gpu1"
cat > "$conf/gres.conf.new" <<EOF
AutoDetect=off
Name=gpu File=$state/gpu[0-1]
EOF

# A changed configuration needs the daemons restarted (nodes cannot be reconfigured live).
changed=0
for f in slurm.conf gres.conf; do
  if ! cmp -s "$conf/$f.new" "$conf/$f"; then changed=1; fi
  mv "$conf/$f.new" "$conf/$f"
done
if [ $changed = 1 ]; then
  for f in /run/slurmd-n1.pid /run/slurmd-n2.pid /run/slurmctld.pid; do
    alive "$f" && kill "$(cat "$f")"
    for _ in $(seq 100); do alive "$f" || break; sleep 0.1; done
  done
fi

if ! alive /run/slurmdbd.pid; then
  /usr/sbin/slurmdbd
  wait_for 30 slurmdbd sacctmgr -n show cluster
fi
if ! alive /run/slurmctld.pid; then
  /usr/sbin/slurmctld
  wait_for 30 slurmctld scontrol ping
fi
for n in n1 n2; do
  alive "/run/slurmd-$n.pid" || /usr/sbin/slurmd -N "$n"
done
ready() {
  local st
  st=$(sinfo -h -N -o '%T' 2>/dev/null) || return 1
  [ -n "$st" ] && ! grep -qvE '^(idle|mixed|allocated)$' <<<"$st"
}
# Nodes drained by an earlier configuration come back.
sleep 1
scontrol update nodename=n1,n2 state=resume >/dev/null 2>&1 || true
wait_for 30 "the nodes" ready
# The cluster must exist in the accounting database for sacct to list its jobs.
sacctmgr -i -Q add cluster baton >/dev/null 2>&1 || true
sinfo -N -o '%N %T %c %m %G'
