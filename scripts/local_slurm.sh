#!/usr/bin/env bash
# A real Slurm cluster on this one machine, for the integration tests and for trying the executor.
#
#   scripts/local_slurm.sh up   [STATE_DIR]   # install (Debian packages) if needed, start, wait until ready
#   scripts/local_slurm.sh down [STATE_DIR]   # stop every daemon by the PID it recorded, remove STATE_DIR
#   scripts/local_slurm.sh env  [STATE_DIR]   # print `export SLURM_CONF=…` for clients
#
# Layout: slurmctld, four slurmd (cpu1, cpu2 in partition `cpu` (default); gpu1, gpu2 with two fake
# GPUs each as GRES in partition `gpu`), slurmdbd + MariaDB so that `sacct` works. Everything
# listens on 127.0.0.1 ports from SEC_SLURM_PORT (default 16800) upwards and lives in STATE_DIR
# (default /tmp/sec-slurm). Facts behind the config: ../shared/notes/slurm-local-cluster.md in the
# project's workspace — no cgroups on this image (so --mem, CPU binding and GPU isolation are
# bookkeeping only), fake GPUs are character devices (links to /dev/null) so that
# CUDA_VISIBLE_DEVICES is set, auth/none. Needs root (the daemons run as root).
set -euo pipefail
# shellcheck source=apt_wait.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt_wait.sh"

cmd=${1:-}
STATE=${2:-${SEC_SLURM_DIR:-/tmp/sec-slurm}}
BASE=${SEC_SLURM_PORT:-16800}
CTLD_PORT=$((BASE + 17)) DBD_PORT=$((BASE + 19)) DB_PORT=$((BASE + 6))
NODES=(cpu1 cpu2 gpu1 gpu2)
PACKAGES=(slurmctld slurmd slurm-client slurmdbd slurm-wlm-mysql-plugin mariadb-server-core mariadb-client-core)

log() { echo "local_slurm: $*" >&2; }

record_pid() { echo "$1 $2" >>"$STATE/pids"; }

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND…
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      log "timed out waiting for $what; logs in $STATE/log"
      tail -n 20 "$STATE"/log/*.log >&2 || true
      return 1
    fi
    sleep 0.2
  done
}

install_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt_install "${missing[@]}"
  fi
}

write_configs() {
  mkdir -p "$STATE"/{log,ctld,dev,mysql} "${NODES[@]/#/$STATE/spool/}"
  for i in 0 1; do ln -sf /dev/null "$STATE/dev/nvidia$i"; done
  local node_lines="" port=$((BASE + 21))
  for n in "${NODES[@]}"; do
    local gres=""
    [[ $n == gpu* ]] && gres="Gres=gpu:2"
    node_lines+="NodeName=$n NodeHostname=localhost NodeAddr=127.0.0.1 Port=$port CPUs=4 Boards=1 "
    node_lines+="SocketsPerBoard=1 CoresPerSocket=4 ThreadsPerCore=1 RealMemory=8192 $gres State=UNKNOWN"$'\n'
    port=$((port + 1))
  done
  cat >"$STATE/slurm.conf" <<EOF
ClusterName=sec
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/none
CredType=cred/none
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool/%n
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd-%n.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=256
SlurmdParameters=config_overrides
MailProg=/bin/true
MinJobAge=60
KillWait=5
InactiveLimit=0
GresTypes=gpu
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=2
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
AccountingStorageTRES=gres/gpu
$node_lines
PartitionName=cpu Nodes=cpu1,cpu2 Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=gpu1,gpu2 MaxTime=INFINITE State=UP
EOF
  cat >"$STATE/gres.conf" <<EOF
AutoDetect=off
NodeName=gpu[1-2] Name=gpu File=$STATE/dev/nvidia[0-1]
EOF
  cat >"$STATE/slurmdbd.conf" <<EOF
AuthType=auth/none
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
PidFile=$STATE/slurmdbd.pid
LogFile=$STATE/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
EOF
  chmod 600 "$STATE/slurmdbd.conf"
}

start_mariadb() {
  mariadb-install-db --no-defaults --datadir="$STATE/mysql" --user=root --auth-root-authentication-method=socket \
    >"$STATE/log/mariadb-install.log" 2>&1
  mariadbd --no-defaults --user=root --datadir="$STATE/mysql" --socket="$STATE/mysql.sock" \
    --port="$DB_PORT" --bind-address=127.0.0.1 --pid-file="$STATE/mysql.pid" \
    --log-error="$STATE/log/mariadb.log" >>"$STATE/log/mariadb.stdout" 2>&1 &
  record_pid $! mariadbd
  wait_for 60 MariaDB mariadb --no-defaults --socket="$STATE/mysql.sock" -uroot -e "SELECT 1"
  mariadb --no-defaults --socket="$STATE/mysql.sock" -uroot -e "
    CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
    CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
    GRANT ALL ON *.* TO 'slurm'@'127.0.0.1'; GRANT ALL ON *.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
}

up() {
  if [[ -f $STATE/pids ]]; then
    log "a cluster is recorded in $STATE already (run '$0 down $STATE' first)"
    exit 1
  fi
  install_packages
  write_configs
  : >"$STATE/pids"
  export SLURM_CONF=$STATE/slurm.conf
  start_mariadb
  slurmdbd -D >>"$STATE/log/slurmdbd.stdout" 2>&1 &
  record_pid $! slurmdbd
  wait_for 60 slurmdbd bash -c "exec 3<>/dev/tcp/127.0.0.1/$DBD_PORT"
  sacctmgr -i add cluster sec >/dev/null 2>&1 || true
  slurmctld -D -i >>"$STATE/log/slurmctld.stdout" 2>&1 &
  record_pid $! slurmctld
  wait_for 60 slurmctld scontrol ping
  for n in "${NODES[@]}"; do
    slurmd -D -N "$n" >>"$STATE/log/slurmd-$n.stdout" 2>&1 &
    record_pid $! "slurmd-$n"
  done
  wait_for 60 "4 idle nodes" bash -c "[ \$(sinfo -h -N -t idle -o '%N' | sort -u | wc -l) -ge ${#NODES[@]} ]"
  wait_for 60 "accounting" bash -c "sacctmgr -n list cluster format=cluster | grep -q sec"
  log "up: $(sinfo -h -o '%P %D %t %G' | tr '\n' ';') — export SLURM_CONF=$SLURM_CONF"
}

down() {
  [[ -f $STATE/pids ]] || { log "no cluster recorded in $STATE"; rm -rf "$STATE"; return 0; }
  local pids=()
  # reverse order: nodes, controller, accounting, database
  while read -r pid name; do pids=("$pid" "${pids[@]}"); done <"$STATE/pids"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  local deadline=$((SECONDS + 20))
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$STATE"
  log "down"
}

case $cmd in
  up) up ;;
  down) down ;;
  env) echo "export SLURM_CONF=$STATE/slurm.conf" ;;
  *) echo "usage: $0 up|down|env [STATE_DIR]" >&2; exit 2 ;;
esac
