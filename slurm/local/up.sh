#!/usr/bin/env bash
# Start a real single-node Slurm cluster on localhost, idempotently: munge, MariaDB + slurmdbd (accounting, which
# submitit polls through sacct), slurmctld, slurmd. Installs Debian's packages when they are missing (needs root).
# Everything it runs lives under $REPRO_SLURM_DIR (default /tmp/repro-slurm); `down.sh` stops the daemons by the
# PIDs recorded there. Settings follow what is known to work on a 2-core, no-systemd machine.
set -euo pipefail
RUN=${REPRO_SLURM_DIR:-/tmp/repro-slurm}
HOST=$(hostname -s)
say() { echo "slurm-up: $*"; }

if scontrol ping 2>/dev/null | grep -q "is UP" && timeout 20 srun -N1 -t 1 true 2>/dev/null; then
  say "cluster already up (sinfo: $(sinfo -h -o '%P %a %D %T' | head -1))"; exit 0
fi

if ! command -v slurmctld >/dev/null || ! command -v slurmdbd >/dev/null || ! command -v mariadbd >/dev/null \
   || ! command -v munged >/dev/null || ! command -v sbatch >/dev/null; then
  [ "$(id -u)" = 0 ] || { say "Slurm packages are missing and installing them needs root"; exit 1; }
  say "installing Debian packages (slurmctld slurmd slurm-client munge slurmdbd mariadb-server)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge slurmdbd mariadb-server >/dev/null
fi

mkdir -p "$RUN"/{log,state,spool,pids}

# --- munge -------------------------------------------------------------------------------------------------
install -d -o munge -g munge -m 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then mungekey --create --keyfile /etc/munge/munge.key; fi
chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key
if ! munge -n >/dev/null 2>&1; then
  runuser -u munge -- /usr/sbin/munged --pid-file="/run/munge/munged.pid"
  cp /run/munge/munged.pid "$RUN/pids/munged.pid" 2>/dev/null || true
  for _ in $(seq 50); do munge -n >/dev/null 2>&1 && break; sleep 0.1; done
fi
# munged runs as munge; record its pid for down.sh
pgrep -u munge -x munged | head -1 > "$RUN/pids/munged.pid"

# --- MariaDB and slurmdbd (accounting) ----------------------------------------------------------------------
DB="$RUN/mysql"
install -d -o mysql -g mysql /run/mysqld
if [ ! -d "$DB/mysql" ]; then
  mariadb-install-db --user=mysql --datadir="$DB" --skip-test-db >/dev/null
fi
if ! mariadb-admin --socket=/run/mysqld/mysqld.sock ping >/dev/null 2>&1; then
  # mariadbd runs as mysql: its pid and log files go where mysql may write, the pid is then copied for down.sh
  (mariadbd --user=mysql --datadir="$DB" --socket=/run/mysqld/mysqld.sock --bind-address=127.0.0.1 \
     --pid-file=/run/mysqld/mariadb.pid --log-error="$DB/mariadb.log" >/dev/null 2>&1 &)
  for _ in $(seq 100); do mariadb-admin --socket=/run/mysqld/mysqld.sock ping >/dev/null 2>&1 && break; sleep 0.2; done
  mariadb-admin --socket=/run/mysqld/mysqld.sock ping >/dev/null 2>&1 || { say "MariaDB did not start; see $DB/mariadb.log"; exit 1; }
fi
cp /run/mysqld/mariadb.pid "$RUN/pids/mariadb.pid"
mariadb --socket=/run/mysqld/mysqld.sock -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
  CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'repro-slurm';
  GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"

mkdir -p /etc/slurm
cat > /etc/slurm/slurmdbd.conf <<CONF
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=repro-slurm
StorageLoc=slurm_acct_db
PidFile=$RUN/pids/slurmdbd.pid
LogFile=$RUN/log/slurmdbd.log
CONF
chmod 600 /etc/slurm/slurmdbd.conf

CPUS=$(nproc)
MEM=$(( $(free -m | awk '/^Mem:/{print $2}') * 9 / 10 ))
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=repro
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$RUN/state
SlurmdSpoolDir=$RUN/spool
SlurmctldPidFile=$RUN/pids/slurmctld.pid
SlurmdPidFile=$RUN/pids/slurmd.pid
SlurmctldLogFile=$RUN/log/slurmctld.log
SlurmdLogFile=$RUN/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=512
SchedulerParameters=batch_sched_delay=0,sched_interval=1,bf_interval=1
AuthInfo=cred_expire=10
KillWait=5
MinJobAge=3600
MailProg=/bin/true
ReturnToService=2
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF

start() {  # name, pidfile, command...
  local name=$1 pidfile=$2; shift 2
  if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then return; fi
  "$@"
  for _ in $(seq 100); do [ -s "$pidfile" ] && break; sleep 0.1; done
  [ -s "$pidfile" ] || { say "$name did not start; see $RUN/log/$name.log"; exit 1; }
}
start slurmdbd "$RUN/pids/slurmdbd.pid" slurmdbd
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/6819) 2>/dev/null && break; sleep 0.1; done
start slurmctld "$RUN/pids/slurmctld.pid" slurmctld
start slurmd "$RUN/pids/slurmd.pid" slurmd

# Ready when a job step really runs (sinfo can show the node idle before slurmd has registered).
for _ in $(seq 60); do
  if timeout 10 srun -N1 -t 1 true 2>/dev/null; then
    say "cluster up: $(sinfo -h -o '%P %D nodes %c cpus %T' | head -1); logs and state in $RUN"; exit 0
  fi
  scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true
  sleep 1
done
say "cluster did not become ready; see $RUN/log/"; exit 1
