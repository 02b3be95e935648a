#!/usr/bin/env bash
# A one-node Slurm "cluster" on this machine, started by hand (no systemd), to try the sweep and
# data-parallel templates before a real cluster, and for the tests.
#
#   scripts/slurm/local-cluster.sh start DIR    # writes DIR/slurm.conf, starts munged (if not
#                                                # running), slurmctld and slurmd; waits for the node
#   export SLURM_CONF=DIR/slurm.conf             # then sbatch / squeue / sinfo talk to it
#   scripts/slurm/local-cluster.sh stop DIR
#
# Needs Debian's slurm-wlm and munge (scripts/setup.sh installs them) and root (SlurmUser=root). The
# daemons listen on two free local ports picked at start. Exit status 3 with a one-line reason when
# it cannot start (tests skip on it).
set -u
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }

fail() { echo "local-cluster: $*" >&2; exit 3; }

stop() {
  for d in slurmd slurmctld; do
    if [ -f "$dir/$d.pid" ]; then
      pid=$(cat "$dir/$d.pid" 2>/dev/null)
      [ -n "$pid" ] && kill "$pid" 2>/dev/null
    fi
  done
  for _ in $(seq 50); do
    alive=0
    for d in slurmd slurmctld; do
      [ -f "$dir/$d.pid" ] && kill -0 "$(cat "$dir/$d.pid")" 2>/dev/null && alive=1
    done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  rm -f "$dir/slurmd.pid" "$dir/slurmctld.pid"
  # munged only when this script started it (another user of munge may be running).
  if [ -f "$dir/munged.started" ]; then
    pid=$(cat /run/munge/munged.pid 2>/dev/null)
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    rm -f "$dir/munged.started"
  fi
}

if [ "$cmd" = stop ]; then
  stop
  exit 0
fi
[ "$cmd" = start ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }

for b in slurmctld slurmd munged sbatch sinfo; do
  command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] || fail "$b not found (apt-get install slurm-wlm munge)"
done
[ "$(id -u)" = 0 ] || fail "needs root (the test configuration runs the daemons as SlurmUser=root)"
[ -r /etc/munge/munge.key ] || fail "no /etc/munge/munge.key (the munge package creates it)"
mkdir -p "$dir/state" "$dir/spool" || fail "cannot create $dir"
dir=$(cd "$dir" && pwd)

# munged: one per machine, as the munge user, on its default socket (where libmunge looks).
if ! pgrep -u munge -x munged >/dev/null; then
  mkdir -p /run/munge && chown munge:munge /run/munge && chmod 0755 /run/munge
  runuser -u munge -- /usr/sbin/munged || fail "munged did not start"
  touch "$dir/munged.started"
fi

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
p1=$(free_port) && p2=$(free_port) || fail "no free port"
[ "$p1" != "$p2" ] || p2=$((p1 + 1))
cpus=$(getconf _NPROCESSORS_ONLN)  # not nproc: it honours OMP_NUM_THREADS
cat > "$dir/slurm.conf" <<EOF
ClusterName=rnnlablocal
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$p1
SlurmdPort=$p2
AuthType=auth/munge
# A requeued job waits for its old credential to expire (default 120 s) before it starts again.
AuthInfo=cred_expire=5
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
export SLURM_CONF=$dir/slurm.conf
/usr/sbin/slurmctld -i -f "$SLURM_CONF" || fail "slurmctld did not start (see $dir/slurmctld.log)"
/usr/sbin/slurmd -f "$SLURM_CONF" -N localhost || { stop; fail "slurmd did not start (see $dir/slurmd.log)"; }
for _ in $(seq 300); do
  state=$(sinfo -h -N -o %t 2>/dev/null | head -1)
  if [ "$state" = idle ]; then
    echo "local-cluster: up (SLURM_CONF=$SLURM_CONF)"
    exit 0
  fi
  sleep 0.1
done
stop
fail "the node did not become idle in 30 s (state '${state:-?}'; logs in $dir)"
