# shellcheck shell=bash
# scripts/lib/services.sh: the release build and the caseloop services on ipc:// endpoints
# in one folder, for scripts/bench and scripts/soak. Source it from bash; it sets no shell
# options. Messages start with "$svc_prog: " (the caller's name; default "services").
#
# The services of a folder DIR (keep it short: a Unix socket path has at most 107 bytes)
# bind and hear these endpoints, which svc_endpoints DIR puts in variables:
#   intake       svc_intake_router=ipc://DIR/router      svc_intake_pub=ipc://DIR/pub
#   dispatcher   svc_dispatcher_router=ipc://DIR/d-router svc_dispatcher_pub=ipc://DIR/d-pub
#                (hears intake's PUB)
#   escalation   svc_escalation_router=ipc://DIR/e-router svc_escalation_pub=ipc://DIR/e-pub
#                (hears intake's and the dispatcher's PUB)
#
# Functions:
#   svc_positive NAME VALUE MAX    VALUE is a whole number in 1..MAX, or say so and exit 2
#   svc_build REPO                 build REPO/build (RelWithDebInfo); sets svc_repo and svc_bin
#   svc_have PROGRAM...            each is in svc_bin, or say which is not and return 1
#   svc_endpoints DIR              set the endpoint variables above
#   svc_start NAME DIR READYFILE [VAR=VALUE ...]
#                                  start caseloop-NAME in the background: CL_DB of the
#                                  environment, log level warn, the folder's endpoints, READY
#                                  written to READYFILE (CL_NOTIFY_FD), its log appended to
#                                  DIR/NAME.log; VAR=VALUE pairs come last and win. Sets svc_pid
#                                  and writes it to DIR/NAME.pid. Does not wait
#   svc_wait_ready NAME PID READYFILE LOG
#                                  wait until the service says READY (60 s): 0; else 1, with
#                                  the log's last lines and the reason
#   svc_stop PID [SECONDS]         SIGTERM, up to SECONDS (default 5) to exit, then SIGKILL;
#                                  reaps it and returns its exit status (137 once killed)
#   svc_run_shown FILE CMD...      run a program (a load generator) in the background, its
#                                  output into FILE and shown as it comes, and wait for it;
#                                  svc_gen_pid is its process id meanwhile, for the caller's
#                                  EXIT trap to stop. Returns its exit status

svc_prog=${svc_prog:-services}

svc__say() { printf '%s\n' "$svc_prog: $*" >&2; }

# svc_positive NAME VALUE MAX: VALUE is a whole number in 1..MAX; else a usage error (exit 2).
svc_positive() {
  if ! [[ $2 =~ ^[0-9]{1,9}$ ]] || (( 10#$2 < 1 || 10#$2 > $3 )); then
    svc__say "$1 must be a whole number in 1..$3, not \"$2\""
    exit 2
  fi
}

# svc_build REPO: the release build in REPO/build; on failure, its last 40 lines.
svc_build() {
  local log
  svc_repo=$1
  svc_bin=$1/build/bin
  svc__say "building build/ (RelWithDebInfo)"
  log=$(mktemp "${TMPDIR:-/tmp}/caseloop-build.XXXXXX") || return 1
  if ! (cd "$1" && cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build build -j2) >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    rm -f "$log"
    svc__say "the build failed (see above)"
    return 1
  fi
  rm -f "$log"
}

# svc_have PROGRAM...: every one is an executable of svc_bin.
svc_have() {
  local p
  for p in "$@"; do
    [[ -x $svc_bin/$p ]] || { svc__say "build/bin lacks $p"; return 1; }
  done
}

# svc_endpoints DIR: the endpoint variables of the services of DIR.
svc_endpoints() {
  svc_intake_router="ipc://$1/router"
  svc_intake_pub="ipc://$1/pub"
  svc_dispatcher_router="ipc://$1/d-router"
  svc_dispatcher_pub="ipc://$1/d-pub"
  svc_escalation_router="ipc://$1/e-router"
  svc_escalation_pub="ipc://$1/e-pub"
  svc_callback_router="ipc://$1/c-router"
  svc_callback_pub="ipc://$1/c-pub"
}

# svc_start NAME DIR READYFILE [VAR=VALUE ...]: caseloop-NAME in the background (see above).
svc_start() {
  local name=$1 dir=$2 ready=$3
  shift 3
  svc_endpoints "$dir"
  local envs=(CL_DB="${CL_DB:-}" CL_MIGRATIONS="$svc_repo/deploy/sql" CL_LOG_LEVEL=warn CL_NOTIFY_FD=3)
  case $name in
    intake) envs+=(CL_INTAKE_ROUTER="$svc_intake_router" CL_INTAKE_PUB="$svc_intake_pub") ;;
    dispatcher) envs+=(CL_INTAKE_PUB="$svc_intake_pub" CL_DISPATCHER_ROUTER="$svc_dispatcher_router"
                       CL_DISPATCHER_PUB="$svc_dispatcher_pub") ;;
    escalation) envs+=(CL_ESCALATION_ROUTER="$svc_escalation_router" CL_ESCALATION_PUB="$svc_escalation_pub"
                       CL_ESCALATION_LISTEN="$svc_intake_pub,$svc_dispatcher_pub") ;;
    callback) envs+=(CL_CALLBACK_ROUTER="$svc_callback_router" CL_CALLBACK_PUB="$svc_callback_pub"
                     CL_CALLBACK_LISTEN="$svc_intake_pub" CL_CALLBACK_INTAKE="$svc_intake_router") ;;
    *) svc__say "no service \"$name\""; return 1 ;;
  esac
  : >"$ready"
  env "${envs[@]}" "$@" "$svc_bin/caseloop-$name" 3>"$ready" </dev/null >>"$dir/$name.log" 2>&1 &
  svc_pid=$!
  echo "$svc_pid" >"$dir/$name.pid"
}

# svc_wait_ready NAME PID READYFILE LOG: until the service writes READY (60 s).
svc_wait_ready() {
  local waited=0
  until grep -q READY "$3"; do
    if ! kill -0 "$2" 2>/dev/null; then
      tail -n 20 "$4" >&2
      svc__say "caseloop-$1 exited before it was ready"
      return 1
    fi
    if (( waited++ >= 600 )); then
      tail -n 20 "$4" >&2
      svc__say "caseloop-$1 was not ready within 60 s"
      return 1
    fi
    sleep 0.1
  done
}

# svc_stop PID [SECONDS]: SIGTERM, up to SECONDS (5) to exit, then SIGKILL; reaps it.
# Returns its exit status.
svc_stop() {
  local pid=$1 tenths=$(( ${2:-5} * 10 )) i rc=0
  kill -TERM "$pid" 2>/dev/null || true
  for (( i = 0; i < tenths; i++ )); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || rc=$?
  return "$rc"
}

# svc_run_shown FILE CMD...: CMD in the background, its standard output into FILE and shown as
# it comes; waits for it. A signal interrupts the wait (a foreground program would hold the
# traps back until it ends), and the caller's EXIT trap stops svc_gen_pid. Returns its status.
svc_run_shown() {
  local file=$1 st=0 tail_pid
  shift
  : >"$file"
  "$@" >"$file" &
  svc_gen_pid=$!
  tail -n +1 -s 0.2 -f --pid="$svc_gen_pid" "$file" &
  tail_pid=$!
  wait "$svc_gen_pid" || st=$?
  svc_gen_pid=""
  wait "$tail_pid" 2>/dev/null || true
  return "$st"
}
