/* bench_common.h - what the load generators of scripts/bench share: local-only checks, timing, percentiles. */
#ifndef CL_BENCH_COMMON_H
#define CL_BENCH_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True for an ipc://, inproc:// or loopback tcp endpoint: a bench sends nowhere else. */
bool bc_local_endpoint(const char *ep);
/* True for a host part (len bytes) that is a socket folder or the loopback. */
bool bc_local_host(const char *h, size_t len);
/* True when every host of a libpq conninfo is local. */
bool bc_local_db(const char *conninfo);

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

#endif
