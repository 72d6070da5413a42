# shellcheck shell=bash
# scripts/lib/pg.sh: a private PostgreSQL instance in one folder, for scripts/test,
# scripts/run-local and scripts/pgctl. Source it from bash; it sets no shell options.
#
# An instance folder DIR holds:
#   DIR/data   the cluster (initdb), with DIR/data/caseloop.conf written by pg_start
#   DIR/sock   the Unix socket directory; the server listens on no TCP address
#   DIR/log    the server log
# The server runs as a non-root user (PostgreSQL refuses root): as root, the
# `postgres` system user of Debian's postgresql package; otherwise the current
# user. Authentication is `trust`, over a socket only that user and root can reach.
# Role `caseloop` (superuser) owns database `caseloop` (UTF8).
#
# Functions:
#   pg_start DIR PORT [NAME=VALUE ...]  create the cluster if missing, start it, create
#                                       role and database if missing, export CL_DB
#   pg_stop DIR [fast|immediate]        stop it; nothing to do if it is not running
#   pg_resume DIR                       start an existing cluster with its saved settings
#   pg_status DIR                       print running / stopped; 0 running, 3 stopped, 4 no cluster
#   pg_conninfo DIR                     print the libpq conninfo of a running instance
#   pg_bindir                           print the folder of the PostgreSQL server programs
# Environment: PG_BINDIR overrides the search for the server programs.

PG_ROLE=caseloop
PG_DBNAME=caseloop
PG_SUPERUSER=postgres   # the bootstrap superuser created by initdb

pg__say() { printf '%s\n' "pg: $*" >&2; }
pg__err() { printf '%s\n' "pg: error: $*" >&2; return 1; }

# pg_bindir: the newest /usr/lib/postgresql/N/bin, else the folder of pg_ctl on PATH.
pg_bindir() {
  if [[ -n ${PG_BINDIR:-} ]]; then
    [[ -x $PG_BINDIR/pg_ctl ]] || { pg__err "PG_BINDIR=$PG_BINDIR has no pg_ctl"; return 1; }
    printf '%s\n' "$PG_BINDIR"
    return 0
  fi
  local d best=""
  while IFS= read -r d; do
    [[ -x $d/pg_ctl && -x $d/initdb && -x $d/postgres ]] && best=$d
  done < <(compgen -G '/usr/lib/postgresql/*/bin' | sort -V)
  if [[ -z $best ]] && command -v pg_ctl >/dev/null 2>&1; then
    best=$(dirname "$(readlink -f "$(command -v pg_ctl)")")
  fi
  [[ -n $best && -x $best/initdb ]] ||
    { pg__err "PostgreSQL server programs not found (install the Debian package postgresql, or set PG_BINDIR)"; return 1; }
  printf '%s\n' "$best"
}

# pg_owner: the user the server runs as.
pg_owner() {
  if (( EUID == 0 )); then
    id -u postgres >/dev/null 2>&1 ||
      { pg__err "running as root, but there is no 'postgres' user to run PostgreSQL (install the postgresql package)"; return 1; }
    printf 'postgres\n'
  else
    id -un
  fi
}

# pg__as_owner CMD...: run CMD as the server's user, from /, so that a working
# folder that user cannot enter does not matter. Paths given must be absolute.
pg__as_owner() {
  if (( EUID == 0 )); then
    if command -v runuser >/dev/null 2>&1; then
      (cd / && runuser -u postgres -- "$@")
    else
      local a cmd=""
      for a in "$@"; do cmd+="'${a//\'/\'\\\'\'}' "; done
      (cd / && su postgres -s /bin/sh -c "$cmd")
    fi
  else
    (cd / && "$@")
  fi
}

# pg__abs DIR: the absolute, physical path of DIR, which must exist.
pg__abs() { (cd "$1" && pwd -P); }

# pg__conninfo_value VALUE: VALUE quoted for a libpq conninfo string when it needs it.
pg__conninfo_value() {
  local v=$1
  if [[ -z $v || $v == *[[:space:]\'\\]* ]]; then
    v=${v//\\/\\\\}
    v=${v//\'/\\\'}
    printf "'%s'" "$v"
  else
    printf '%s' "$v"
  fi
}

# pg__port DIR: the port of the running server (postmaster.pid), else the saved one.
pg__port() {
  local dir=$1 port=""
  if [[ -r $dir/data/postmaster.pid ]]; then
    port=$(sed -n 4p "$dir/data/postmaster.pid" 2>/dev/null || true)
  fi
  if [[ -z $port && -r $dir/data/caseloop.conf ]]; then
    port=$(sed -n "s/^port = '\{0,1\}\([0-9]*\)'\{0,1\}\$/\1/p" "$dir/data/caseloop.conf")
  fi
  [[ $port =~ ^[0-9]+$ ]] || { pg__err "cannot tell the port of the instance in $dir"; return 1; }
  printf '%s\n' "$port"
}

# pg_conninfo DIR [DBNAME [USER]]: the conninfo for the instance in DIR.
pg_conninfo() {
  local dir port
  dir=$(pg__abs "$1") || return 1
  port=$(pg__port "$dir") || return 1
  printf 'host=%s port=%s dbname=%s user=%s\n' "$(pg__conninfo_value "$dir/sock")" "$port" \
    "${2:-$PG_DBNAME}" "${3:-$PG_ROLE}"
}

# pg__psql DIR PORT ARGS...: psql as the bootstrap superuser to database postgres.
pg__psql() {
  local dir=$1 port=$2 bindir
  shift 2
  bindir=$(pg_bindir) || return 1
  PGOPTIONS='' "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir/sock" -p "$port" \
    -U "$PG_SUPERUSER" -d postgres "$@"
}

# pg_status DIR: print "running" or "stopped"; returns 0 running, 3 stopped, 4 no cluster.
pg_status() {
  local dir bindir
  if [[ ! -f $1/data/PG_VERSION ]]; then
    printf 'no cluster in %s\n' "$1"
    return 4
  fi
  dir=$(pg__abs "$1") || return 4
  bindir=$(pg_bindir) || return 1
  if pg__as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    printf 'running\n'
    return 0
  fi
  printf 'stopped\n'
  return 3
}

# pg_resume DIR: start the existing cluster in DIR with the settings pg_start saved.
# Returns 0 when it runs (also when it already ran), 1 when it could not start.
pg_resume() {
  local dir bindir
  [[ -f $1/data/PG_VERSION ]] || { pg__err "no cluster in $1 (pg_start creates one)"; return 1; }
  dir=$(pg__abs "$1") || return 1
  bindir=$(pg_bindir) || return 1
  if pg__as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    return 0
  fi
  # pg_ctl sends the server's own output to DIR/log and reads /dev/null.
  if ! pg__as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 -s start </dev/null >/dev/null 2>"$dir/pg_ctl.err"; then
    pg__say "could not start PostgreSQL in $dir/data:"
    cat "$dir/pg_ctl.err" >&2 || true
    [[ -r $dir/log ]] && tail -n 20 "$dir/log" >&2
    return 1
  fi
  rm -f "$dir/pg_ctl.err"
}

# pg_start DIR PORT [NAME=VALUE ...]: the instance in DIR, running on PORT (its Unix
# socket is DIR/sock/.s.PGSQL.PORT), with role and database caseloop, and CL_DB exported.
# NAME=VALUE pairs are server settings saved with the instance (scripts/test: fsync=off).
# A server already running from DIR is reused on the port it has.
pg_start() {
  if (( $# < 2 )) || ! [[ $2 =~ ^[0-9]+$ ]]; then
    pg__err "usage: pg_start DIR PORT [NAME=VALUE ...]"
    return 1
  fi
  local dir port bindir owner kv name value conf
  mkdir -p "$1" || return 1
  dir=$(pg__abs "$1") || return 1
  port=$2
  shift 2
  bindir=$(pg_bindir) || return 1
  owner=$(pg_owner) || return 1

  # A Unix socket path has at most 107 bytes.
  if (( ${#dir} + ${#port} + 16 > 107 )); then
    pg__err "the path $dir is too long for a Unix socket; use a shorter folder"
    return 1
  fi
  if (( EUID == 0 )); then
    chown "$owner:" "$dir" || return 1
    chmod 0700 "$dir" || return 1
    if ! pg__as_owner test -w "$dir"; then
      pg__err "user $owner cannot write $dir (is one of its parent folders closed to other users?); use a folder under /tmp or /var/tmp"
      return 1
    fi
  fi

  if [[ ! -f $dir/data/PG_VERSION ]]; then
    local locale_opt=(--no-locale)
    if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then locale_opt=(--locale=C.UTF-8); fi
    pg__say "creating a PostgreSQL cluster in $dir/data ($("$bindir/postgres" --version 2>/dev/null || echo "$bindir"))"
    if ! pg__as_owner "$bindir/initdb" -D "$dir/data" -U "$PG_SUPERUSER" -E UTF8 "${locale_opt[@]}" \
        --auth=trust >"$dir/initdb.log" 2>&1; then
      cat "$dir/initdb.log" >&2
      pg__err "initdb failed"
      return 1
    fi
    rm -f "$dir/initdb.log"
  fi
  grep -q "^include_if_exists = 'caseloop.conf'" "$dir/data/postgresql.conf" ||
    printf "\ninclude_if_exists = 'caseloop.conf'\n" | pg__as_owner tee -a "$dir/data/postgresql.conf" >/dev/null ||
    return 1
  if ! pg__as_owner mkdir -p "$dir/sock" || ! pg__as_owner chmod 0700 "$dir/sock"; then
    pg__err "cannot make the socket folder $dir/sock"
    return 1
  fi

  if pg__as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    local running
    running=$(pg__port "$dir") || return 1
    [[ $running == "$port" ]] || pg__say "PostgreSQL already runs from $dir on port $running; using it"
    port=$running
  else
    # The settings of this instance, read at every start (also by scripts/pgctl start).
    conf="# written by scripts/lib/pg.sh (pg_start) at each start: change its arguments, not this file"$'\n'
    conf+="port = $port"$'\n'
    conf+="listen_addresses = ''"$'\n'
    conf+="unix_socket_directories = '${dir//\'/\'\'}/sock'"$'\n'
    conf+="unix_socket_permissions = 0700"$'\n'
    for kv in "$@"; do
      [[ $kv == ?*=* ]] || { pg__err "setting '$kv' is not NAME=VALUE"; return 1; }
      name=${kv%%=*}
      value=${kv#*=}
      conf+="$name = '${value//\'/\'\'}'"$'\n'
    done
    printf '%s' "$conf" | pg__as_owner tee "$dir/data/caseloop.conf" >/dev/null || return 1
    pg__say "starting PostgreSQL in $dir (socket $dir/sock, port $port)"
    pg_resume "$dir" || return 1
  fi

  local has
  has=$(pg__psql "$dir" "$port" -tAc "select 1 from pg_roles where rolname = '$PG_ROLE'") || return 1
  if [[ $has != 1 ]]; then
    pg__psql "$dir" "$port" -c "create role $PG_ROLE superuser login" || return 1
  fi
  has=$(pg__psql "$dir" "$port" -tAc "select 1 from pg_database where datname = '$PG_DBNAME'") || return 1
  if [[ $has != 1 ]]; then
    pg__psql "$dir" "$port" -c "create database $PG_DBNAME owner $PG_ROLE encoding 'UTF8' template template0" ||
      return 1
  fi
  CL_DB=$(pg_conninfo "$dir") || return 1
  export CL_DB
}

# pg_stop DIR [fast|immediate]: stop the instance in DIR; nothing to do when it is not running.
pg_stop() {
  local dir bindir mode=${2:-fast}
  [[ -f ${1:-}/data/PG_VERSION ]] || return 0
  dir=$(pg__abs "$1") || return 1
  bindir=$(pg_bindir) || return 1
  pg__as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1 || return 0
  pg__as_owner "$bindir/pg_ctl" -D "$dir/data" -m "$mode" -w -t 60 -s stop </dev/null >/dev/null
}
