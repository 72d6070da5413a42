/* bench_common.c - what the load generators of scripts/bench share: local-only checks, timing, percentiles, SQL, /proc, cases. */
#include "bench_common.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <libpq-fe.h>
#include "cl_clock.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static const char *s_name = "bench", *s_usage = "";
static char s_aborted[128];

void bc_program(const char *name, const char *usage)
{
    s_name = name;
    s_usage = usage;
    snprintf(s_aborted, sizeof s_aborted, "%s: aborted: the run did not finish in time\n", name);
}

static void s_on_alarm(int sig)
{
    (void)sig;
    ssize_t rc = write(2, s_aborted, strlen(s_aborted));
    (void)rc;
    _exit(1);
}

void bc_deadline(unsigned seconds)
{
    signal(SIGALRM, s_on_alarm);
    alarm(seconds);
}

long bc_num(const char *option, const char *v, long lo, long hi)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < lo || n > hi) {
        fprintf(stderr, "%s: %s must be a whole number in %ld..%ld, not \"%s\"\n", s_name, option, lo, hi, v);
        exit(2);
    }
    return n;
}

void bc_need(const char *what, const char *v)
{
    if (!v || !*v) {
        fprintf(stderr, "%s: give %s\n%s", s_name, what, s_usage);
        exit(2);
    }
}

void bc_need_local(const char *ep)
{
    if (!bc_local_endpoint(ep)) {
        fprintf(stderr, "%s: %s is not a local endpoint (ipc://, inproc:// or loopback tcp only)\n", s_name, ep);
        exit(2);
    }
}

bool bc_local_endpoint(const char *ep)
{
    static const char *const ok[] = {"ipc://", "inproc://", "tcp://127.", "tcp://localhost:", "tcp://[::1]:"};
    for (size_t i = 0; i < N_OF(ok); i++)
        if (strncmp(ep, ok[i], strlen(ok[i])) == 0)
            return true;
    return false;
}

bool bc_local_host(const char *h, size_t len)
{
    return len == 0 || h[0] == '/' || h[0] == '@' || (len == 9 && strncmp(h, "localhost", 9) == 0) ||
           (len >= 4 && strncmp(h, "127.", 4) == 0) || (len == 3 && strncmp(h, "::1", 3) == 0);
}

/* The conninfo names a local server only (a Unix socket or loopback). */
bool bc_local_db(const char *conninfo)
{
    char *errmsg = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &errmsg);
    if (!opts) {
        PQfreemem(errmsg);
        return false;
    }
    bool ok = true;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || (strcmp(o->keyword, "host") != 0 && strcmp(o->keyword, "hostaddr") != 0))
            continue;
        for (const char *h = o->val; ok;) {
            size_t len = strcspn(h, ",");
            ok = bc_local_host(h, len);
            if (!h[len])
                break;
            h += len + 1;
        }
    }
    PQconninfoFree(opts);
    return ok;
}

int bc_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentiles of v[0..n) (microseconds) in ms; sorts v. */
bc_dist_t bc_dist(int64_t *v, size_t n)
{
    bc_dist_t d = {n, 0, 0, 0, 0};
    if (n == 0)
        return d;
    qsort(v, n, sizeof *v, bc_cmp_i64);
    double ps[] = {0.50, 0.90, 0.99};
    double *out[] = {&d.p50, &d.p90, &d.p99};
    for (int i = 0; i < 3; i++) {
        size_t rank = (size_t)(ps[i] * (double)n + 0.999999);
        rank = rank < 1 ? 1 : rank > n ? n : rank;
        *out[i] = (double)v[rank - 1] / 1000.0;
    }
    d.max = (double)v[n - 1] / 1000.0;
    return d;
}

bool bc_file_says_ready(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char buf[64];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, "READY") != NULL;
}

void bc_sleep_us(int64_t us)
{
    struct timespec ts = {us / CL_US_PER_S, (us % CL_US_PER_S) * 1000};
    nanosleep(&ts, NULL);
}

PGresult *bc_sql(PGconn *pg, const char *sql, int n, const char *const *params)
{
    PGresult *res = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        fprintf(stderr, "%s: %.120s: %s", s_name, sql, PQerrorMessage(pg));
        PQclear(res);
        return NULL;
    }
    return res;
}

int bc_cmd(PGconn *pg, const char *sql, int n, const char *const *params)
{
    PGresult *res = bc_sql(pg, sql, n, params);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

long long bc_scalar(PGconn *pg, const char *sql, int n, const char *const *params)
{
    PGresult *res = bc_sql(pg, sql, n, params);
    long long v = res && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) ? strtoll(PQgetvalue(res, 0, 0), NULL, 10)
                                                                         : -1;
    PQclear(res);
    return v;
}

double bc_proc_cpu(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    /* after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

long bc_proc_kb(long pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    size_t flen = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            kb = strtol(line + flen + 1, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

/* --- cases ---------------------------------------------------------------------------------- */

static const char *const s_names[] = {"Wang Fang", "Li Wei",  "Zhang Min", "Liu Yang", "Chen Jing",
                                      "Mrs Huang", "Mr Zhao", "Sun Li",    "Zhou Tao", "Wu Xia"};
static const char *const s_problems[] = {
    "water is leaking from the ceiling of the bathroom",
    "the lift stops between the 7th and the 8th floor",
    "the corridor light on the staircase has been off for three days",
    "noise from the renovation next door starts before 7 in the morning",
    "the parking barrier does not open for my resident card",
    "garbage has not been collected from the bins behind the block",
    "there is a strong smell of gas near the boiler room",
    "thanks to the night guard who helped my mother carry her shopping home",
    "could the gym open one hour earlier on weekdays",
    "我家卫生间天花板漏水，已经三天了",
    "电梯经常停在两层之间，很危险",
};

void bc_run_new(bc_run_t *run, const char *prefix)
{
    char id[CL_ID_MAX + 1];
    cl_codec_new_id(id);
    run->num = (unsigned)(strtoull(id + 26, NULL, 16) % 1000);
    snprintf(run->tag, sizeof run->tag, "%.6s", id);
    snprintf(run->source, sizeof run->source, "%s-%s", prefix, run->tag);
}

void bc_case_fill(bc_case_t *b, const bc_run_t *run, const char *const *sites, char phase, long seq, int64_t now_us)
{
    unsigned s = (unsigned)seq, nsites = 0;
    while (sites[nsites])
        nsites++;
    caseloop__v1__case__init(&b->c);
    b->c.site = (char *)sites[s % nsites];
    if (s % 9 != 8)
        b->c.has_kind = 1, b->c.kind = (Caseloop__V1__Kind)(1 + (s / 3) % 8);
    b->c.has_channel = 1, b->c.channel = (Caseloop__V1__Channel)(1 + (s / 7) % 12);
    b->c.has_severity = 1;
    b->c.severity = s % 50 == 0   ? CASELOOP__V1__SEVERITY__SEVERITY_MAJOR
                    : s % 10 == 0 ? CASELOOP__V1__SEVERITY__SEVERITY_IMPORTANT
                                  : CASELOOP__V1__SEVERITY__SEVERITY_GENERAL;
    b->c.customer_name = (char *)s_names[s % N_OF(s_names)];
    if (s % 2)
        snprintf(b->contact, sizeof b->contact, "+86 1%03u%07ld", run->num, seq % 10000000);
    else
        snprintf(b->contact, sizeof b->contact, "customer.%c%ld.%s@example.com", phase, seq, run->tag);
    b->c.customer_contact = b->contact;
    snprintf(b->location, sizeof b->location, "block %u, room %s-%c%ld", s % 40 + 1, run->tag, phase, seq);
    b->c.location = b->location;
    snprintf(b->description, sizeof b->description, "%s (ref %s-%c%ld)", s_problems[s % N_OF(s_problems)],
             run->tag, phase, seq);
    b->c.description = b->description;
    b->c.has_occurred_at_us = 1, b->c.occurred_at_us = now_us - (int64_t)(s % 3600) * CL_US_PER_S;
    b->c.first_receiver = "hotline";
    b->c.external_source = (char *)run->source;
    snprintf(b->xid, sizeof b->xid, "%c-%ld", phase, seq);
    b->c.external_id = b->xid;
}
