/* bench_common.h - what the load generators of scripts/bench share: local-only checks, timing, percentiles, SQL, /proc, cases. */
#ifndef CL_BENCH_COMMON_H
#define CL_BENCH_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>
#include "cl_codec.h"

/* True for an ipc://, inproc:// or loopback tcp endpoint: a bench sends nowhere else. */
bool bc_local_endpoint(const char *ep);
/* True for a host part (len bytes) that is a socket folder or the loopback. */
bool bc_local_host(const char *h, size_t len);
/* True when every host of a libpq conninfo is local. */
bool bc_local_db(const char *conninfo);

/* The program's name for its messages ("bench dispatch") and its usage text;
   set first, in main. */
void bc_program(const char *name, const char *usage);
/* Ends the process (status 1, saying so on stderr) once seconds have passed. */
void bc_deadline(unsigned seconds);
/* Option checks: each prints why and exits with status 2 on a bad value. The
   value of option as a whole number in lo..hi; a value that must be given
   (what names it); an endpoint that must be local. */
long bc_num(const char *option, const char *v, long lo, long hi);
void bc_need(const char *what, const char *v);
void bc_need_local(const char *ep);

/* Sleeps us microseconds. */
void bc_sleep_us(int64_t us);
/* True once the file at path says READY (a service's CL_NOTIFY_FD). */
bool bc_file_says_ready(const char *path);

typedef struct {
    size_t n;
    double p50, p90, p99, max;
} bc_dist_t;

/* qsort order of int64_t. */
int bc_cmp_i64(const void *a, const void *b);
/* Nearest-rank percentiles of v[0..n) (microseconds) in ms; sorts v. */
bc_dist_t bc_dist(int64_t *v, size_t n);

/* A run of a load generator: its tag (6 characters of a fresh id), in idempotency keys and
   message ids, its number (0..999), in phone numbers, and the idempotency source of its
   cases ("PREFIX-TAG"). */
typedef struct {
    char tag[16];
    unsigned num;
    char source[48];
} bc_run_t;

/* A fresh run whose cases come from source prefix-TAG. */
void bc_run_new(bc_run_t *run, const char *prefix);

typedef struct {
    Caseloop__V1__Case c;
    char contact[64], location[64], description[320], xid[48];
} bc_case_t;

/* Case seq of run in phase (a letter): its own idempotency key (run's source,
   "PHASE-SEQ"), contact and location, so that nothing de-duplicates; sites (NULL-
   terminated) in turn; every 9th without a kind (the keyword rules classify it); one in
   10 important, one in 50 major (the special path); occurred up to an hour before now_us.
   b->c points into b, at run and at the sites. */
void bc_case_fill(bc_case_t *b, const bc_run_t *run, const char *const *sites, char phase, long seq, int64_t now_us);

/* Runs sql with its n text parameters. Returns the result (PQclear it), or NULL
   after saying on stderr what failed (the program's name, the query's start, the
   server's message). */
PGresult *bc_sql(PGconn *pg, const char *sql, int n, const char *const *params);
/* bc_sql for a statement whose rows do not matter. Returns 0, or -1. */
int bc_cmd(PGconn *pg, const char *sql, int n, const char *const *params);
/* The first value of a one-row query as a number; -1 on failure or NULL. */
long long bc_scalar(PGconn *pg, const char *sql, int n, const char *const *params);

/* CPU seconds of a process (user + system), -1 when it cannot be read. */
double bc_proc_cpu(long pid);
/* A field of /proc/PID/status in kB (VmRSS, VmHWM); -1 when it cannot be read. */
long bc_proc_kb(long pid, const char *field);

#endif
