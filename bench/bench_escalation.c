/* bench_escalation.c - caseloop-bench-escalation, the load generator behind `scripts/bench escalation`.
 *
 * It runs once per mode; scripts/bench owns the processes (caseloop-escalation, PostgreSQL,
 * the peer) and runs the modes in this order:
 *   --mode migrate       applies the migrations of --migrations to --db (the tables must
 *                        exist before they are seeded; the service then finds them applied).
 *   --mode seed-armed    (service stopped) writes --armed cases and one running clock C2
 *                        each, straight into the tables with INSERT ... SELECT generate_series:
 *                        --rate x --seconds of them come due at --rate per second from
 *                        --lead seconds after the seeding ends (the window), the rest 1 to
 *                        12 days later. Every clock has one step, its breach, so the
 *                        ladder adds nothing in the run.
 *                        Last line: armed n=<N> window=<W> t0_us=<first due, real clock>
 *   --mode lag           (service READY, before the window) subscribes to ClockBreached on
 *                        the service's PUB; per clock of the window, lag = the time its event
 *                        is received (real clock, same machine) minus clock.due_at_us of the
 *                        event. Clocks whose event the SUB missed take recorded_at of their
 *                        ClockBreached row minus due_at instead (recorded_at is taken when the
 *                        firing transaction starts, so it reads low). Samples the service's
 *                        VmRSS. Last line:
 *                          lag armed=<N> window=<W> heard=<H> p50_ms= p99_ms= max_ms= rss_mb= rss_ready_mb=
 *   --mode seed-overdue  (service stopped; a fresh database) --clocks cases and clocks that
 *                        came due 10 to 110 s ago, the breach next. Last line: overdue clocks=<N>
 *   --mode drain         (started before the service) counts the overdue clocks, creates
 *                        --armed-file, waits for READY in --ready-file, then asks every 20 ms
 *                        whether a clock is still due (an index read) until none is; then
 *                        checks that every one is breached. Last line: fire rate=<clocks/s>
 *   --mode apply         (started before the service; cases and their events in the log,
 *                        put there by intake and the dispatcher) reads the log's head,
 *                        creates --armed-file, waits for READY in --ready-file, then reads the
 *                        service's position in the log (consumer_positions) every 20 ms until
 *                        it reaches that head; then checks that every case has clocks.
 *                        rate = cases / elapsed. Last line: apply rate=<cases/s>
 * Exit status: 0; 1 when a clock was not fired or the run failed or ran out of time; 2 on a
 * usage error. Only local endpoints (ipc://, inproc://, loopback tcp) and a local database. */
#include "cl.h"
#include "cl_client.h"
#include "bench_common.h"
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define SENDER "caseloop-bench"
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

typedef enum { MODE_NONE, MODE_MIGRATE, MODE_SEED_ARMED, MODE_LAG, MODE_SEED_OVERDUE, MODE_DRAIN, MODE_APPLY } s_mode_t;

typedef struct {
    s_mode_t mode;
    const char *db;
    const char *migrations;
    const char *events;      /* the service's PUB */
    const char *router;      /* the service's ROUTER (GetStats), optional */
    long armed;
    long rate;
    long seconds;
    long lead;
    long clocks;
    long grace;
    long pid;
    const char *ready_file;
    const char *armed_file;
    const char *pid_file;
    int timeout_s;
} s_opts_t;

static s_opts_t s_opt = {.mode = MODE_NONE, .armed = 1000000, .rate = 5000, .seconds = 25, .lead = 10,
                         .clocks = 100000, .grace = 15, .timeout_s = 300};
static int64_t s_deadline_us;  /* monotonic: the run gives up after this */

static bool s_expired(void)
{
    return cl_mono_us() > s_deadline_us;
}

static int64_t s_real_us(void)
{
    return cl_clock_now(cl_clock_real());
}

/* --- figures ------------------------------------------------------------------------------- */

static void s_print_dist(const char *what, bc_dist_t d)
{
    if (d.n)
        printf("  %-48s p50 %8.2f ms  p90 %8.2f ms  p99 %8.2f ms  max %8.2f ms  (%zu clocks)\n", what, d.p50, d.p90,
               d.p99, d.max, d.n);
    else
        printf("  %-48s no clocks\n", what);
}

/* Where the CPU went: the service, its database backend (by application_name), the other
   PostgreSQL processes, the machine; and the writing transactions PostgreSQL committed. */
typedef struct {
    int64_t mono;
    double svc, self, machine_busy, machine_all, iowait, xid;
    long pids[64];
    double cpu[64];
    char app[64];   /* per pid: 'e' the service's, 'b' ours, '-' other */
    int n;
} s_snap_t;

static void s_snap(PGconn *pg, long svc_pid, s_snap_t *s)
{
    memset(s, 0, sizeof *s);
    s->mono = cl_mono_us();
    s->svc = svc_pid > 0 ? bc_proc_cpu(svc_pid) : -1;
    FILE *f = fopen("/proc/stat", "r");
    if (f) {
        unsigned long long v[8] = {0};
        if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
                   &v[7]) == 8) {
            double tck = (double)sysconf(_SC_CLK_TCK), all = 0;
            for (int i = 0; i < 8; i++)
                all += (double)v[i];
            s->machine_all = all / tck;
            s->iowait = (double)v[4] / tck;
            s->machine_busy = (all - (double)v[3] - (double)v[4]) / tck;
        }
        fclose(f);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    s->self = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
              (double)ru.ru_stime.tv_usec / 1e6;
    PGresult *res = bc_sql(pg,
                           "SELECT pid, CASE WHEN pid = pg_backend_pid() THEN 'b'"
                           " WHEN application_name = 'caseloop-escalation' THEN 'e' ELSE '-' END FROM pg_stat_activity",
                           0, NULL);
    for (int r = 0; res && r < PQntuples(res) && s->n < 64; r++) {
        s->pids[s->n] = strtol(PQgetvalue(res, r, 0), NULL, 10);
        s->app[s->n] = PQgetvalue(res, r, 1)[0];
        s->cpu[s->n] = bc_proc_cpu(s->pids[s->n]);
        s->n++;
    }
    PQclear(res);
    s->xid = (double)bc_scalar(pg, "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint", 0, NULL);
}

static void s_print_cpu(const s_snap_t *a, const s_snap_t *b)
{
    double wall = (double)(b->mono - a->mono) / 1e6;
    if (wall <= 0)
        return;
    double svc_db = 0, own_db = 0, other = 0;
    for (int i = 0; i < b->n; i++)
        for (int j = 0; j < a->n; j++)
            if (a->pids[j] == b->pids[i] && a->cpu[j] >= 0 && b->cpu[i] >= 0) {
                double d = b->cpu[i] - a->cpu[j];
                *(b->app[i] == 'e' ? &svc_db : b->app[i] == 'b' ? &own_db : &other) += d;
            }
    printf("  cpu over %.1f s (100%% = one core of %ld):", wall, sysconf(_SC_NPROCESSORS_ONLN));
    if (a->svc >= 0 && b->svc >= 0)
        printf(" caseloop-escalation %.0f%%,", 100.0 * (b->svc - a->svc) / wall);
    printf(" its database backend %.0f%%, other postgres processes %.0f%%, load generator %.0f%% (+ its backend"
           " %.0f%%)\n",
           100.0 * svc_db / wall, 100.0 * other / wall, 100.0 * (b->self - a->self) / wall, 100.0 * own_db / wall);
    double all = b->machine_all - a->machine_all;
    if (all > 0)
        printf("  machine: busy %.0f%%, waiting on I/O %.0f%%; postgres committed %.0f writing transactions"
               " (%.0f/s)\n",
               100.0 * (b->machine_busy - a->machine_busy) / all, 100.0 * (b->iowait - a->iowait) / all,
               b->xid - a->xid, (b->xid - a->xid) / wall);
}

/* The service's counters (GetStats), printed on one line. */
static void s_print_stats(void *zctx)
{
    if (!s_opt.router)
        return;
    cl_err_t err;
    cl_err_clear(&err);
    cl_client_t *escalation = cl_client_new(zctx, s_opt.router, SENDER, &err);
    if (!escalation)
        return;
    cl_env_t *reply = cl_client_stats(escalation, 5000, &err);
    if (reply) {
        const Caseloop__V1__StatsReply *r = reply->stats_reply;
        printf("  caseloop-escalation counters since its start:");
        for (size_t i = 0; i < r->n_counters; i++)
            printf("%s %s %" PRIu64, i ? "," : "", r->counters[i]->name ? r->counters[i]->name : "?",
                   r->counters[i]->value);
        printf("\n");
    }
    cl_codec_free(reply);
    cl_client_destroy(&escalation);
}

/* Firing transactions among the ClockBreached events recorded from `from_us` (each
   transaction stamps its events with one recorded_at): how many, how big. */
static void s_print_batches(PGconn *pg, int64_t from_us)
{
    char f[24];
    snprintf(f, sizeof f, "%" PRId64, from_us);
    const char *p[] = {f};
    PGresult *res = bc_sql(pg,
                           "SELECT count(*), coalesce(round(avg(c), 1), 0), coalesce(max(c), 0),"
                           " coalesce(percentile_disc(0.5) WITHIN GROUP (ORDER BY c), 0),"
                           " coalesce(round(avg(gap) / 1000.0, 1), 0), coalesce(round(max(gap) / 1000.0, 1), 0)"
                           " FROM (SELECT c, t - lag(t) OVER (ORDER BY t) AS gap FROM"
                           "  (SELECT cl_ts_to_us(recorded_at) t, count(*) c FROM events"
                           "   WHERE type = 'ClockBreached' AND recorded_at >= cl_us_to_ts($1::bigint)"
                           "   GROUP BY recorded_at) b) g",
                           1, p);
    if (res && PQntuples(res) == 1)
        printf("  firing transactions (ClockBreached rows sharing one recorded_at): %s, clocks per transaction:"
               " mean %s, median %s, max %s; from one's start to the next: mean %s ms, max %s ms\n",
               PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 2),
               PQgetvalue(res, 0, 4), PQgetvalue(res, 0, 5));
    PQclear(res);
}

/* --- migrate --------------------------------------------------------------------------------- */

static int s_migrate(void)
{
    cl_log_init("caseloop-bench", "warn");
    cl_db_t *db = cl_db_new(s_opt.db, "caseloop-bench");
    cl_err_t err;
    cl_err_clear(&err);
    int rc = -1;
    if (db && cl_db_connect(db, &err) == 0)
        rc = cl_migrate(db, s_opt.migrations, &err);
    if (rc < 0)
        fprintf(stderr, "bench escalation: could not apply the migrations of %s: %s\n", s_opt.migrations,
                err.message);
    else
        printf("migrations: %d applied from %s\n", rc, s_opt.migrations);
    cl_db_destroy(&db);
    return rc < 0 ? 1 : 0;
}

/* --- seeding --------------------------------------------------------------------------------- */

/* Cases [first, last]: the columns cases requires, nothing that a partial index takes in
   (no contact, no location). */
static int s_seed_cases(PGconn *pg, long first, long last)
{
    char a[24], b[24];
    snprintf(a, sizeof a, "%ld", first);
    snprintf(b, sizeof b, "%ld", last);
    const char *p[] = {a, b};
    if (bc_cmd(pg,
               "INSERT INTO cases (id, site, channel, kind, severity, state, customer_name, customer_contact, location,"
               " description, anonymous, reply_letter_only, first_receiver, external_source, external_id, received_at,"
               " respond_by)"
               " SELECT g, 'site-a', 1, 1, 1, 1, 'bench customer', '', '', 'escalation bench case', false, false,"
               " 'bench', 'bench-escalation', g::text, now() - interval '1 hour', now() + interval '1 day'"
               " FROM generate_series($1::bigint, $2::bigint) g",
               2, p) < 0)
        return -1;
    return bc_cmd(pg, "SELECT setval('cases_id_seq', $1::bigint)", 1, (const char *[]){b});
}

/* INSERT INTO clocks ... SELECT ... FROM <rows of g (case id) and d (due time)>. A clock's next
   step is its breach: at stage 2 of the fixed plan of 005_clocks.sql, or, where the clock keeps
   its own steps, a single step, the breach at d, stage 0: typed (column steps of type
   clock_step[], 012_typed_clock_steps.sql), or as text with its time (columns steps and
   steps_at, 006_clock_steps.sql). */
static char s_clock_insert[1024];

static int s_clock_sql(PGconn *pg)
{
    long long own = bc_scalar(pg,
                              "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema()"
                             " AND table_name = 'clocks' AND column_name IN ('steps', 'steps_at')",
                             0, NULL);
    long long typed = bc_scalar(pg,
                               "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema()"
                               " AND table_name = 'clocks' AND column_name = 'steps' AND udt_name = '_clock_step'",
                               0, NULL);
    if (own < 0 || typed < 0)
        return -1;
    const char *cols = typed == 1 ? ", steps" : own == 2 ? ", steps_at, steps" : "";
    const char *vals = typed == 1  ? ", ARRAY[ROW(cl_ts_to_us(d), 'breach', NULL, NULL, NULL)::clock_step]"
                       : own == 2 ? ", ARRAY[cl_ts_to_us(d)], ARRAY['B']"
                                  : "";
    snprintf(s_clock_insert, sizeof s_clock_insert,
             "INSERT INTO clocks (case_id, site, code, name, state, major, armed_at, due_at, stage, level, responsible,"
             " next_fire_at%s) SELECT g, 'site-a', 'C2', 'feedback form reaches the responsible department', 1, false,"
             " d - interval '1 hour', d, %s, 0, '', d%s FROM ",
             cols, *cols ? "0" : "2", vals);
    if (*cols)
        printf("  (clocks keep their own steps%s: each is seeded with the single step 'B', its breach, at due_at)\n",
               typed == 1 ? ", typed" : "");
    return 0;
}

/* s_clock_insert followed by rows. */
static int s_insert_clocks(PGconn *pg, const char *rows, int n, const char *const *params)
{
    char sql[2048];
    snprintf(sql, sizeof sql, "%s%s", s_clock_insert, rows);
    return bc_cmd(pg, sql, n, params);
}

static int s_tidy(PGconn *pg)
{
    int64_t t = cl_mono_us();
    if (bc_cmd(pg, "VACUUM (ANALYZE) cases", 0, NULL) < 0 || bc_cmd(pg, "VACUUM (ANALYZE) clocks", 0, NULL) < 0 ||
        bc_cmd(pg, "CHECKPOINT", 0, NULL) < 0)
        return -1;
    printf("  VACUUM (ANALYZE) cases, clocks; CHECKPOINT: %.1f s\n", (double)(cl_mono_us() - t) / 1e6);
    return 0;
}

static bool s_empty(PGconn *pg)
{
    long long n = bc_scalar(pg, "SELECT count(*) FROM cases", 0, NULL);
    long long m = bc_scalar(pg, "SELECT count(*) FROM clocks", 0, NULL);
    if (n != 0 || m != 0) {
        fprintf(stderr, "bench escalation: the database is not empty (%lld cases, %lld clocks)\n", n, m);
        return false;
    }
    return true;
}

static int s_seed_armed(PGconn *pg)
{
    long n = s_opt.armed, w = s_opt.rate * s_opt.seconds;
    if (w > n) {
        fprintf(stderr, "bench escalation: --rate x --seconds (%ld) exceeds --armed (%ld)\n", w, n);
        return 2;
    }
    if (!s_empty(pg))
        return 1;
    printf("seeding %ld cases and %ld running clocks C2 whose next step is the breach (warnings skipped)\n", n, n);
    int64_t t = cl_mono_us();
    if (s_seed_cases(pg, 1, n) < 0)
        return 1;
    printf("  %ld cases: %.1f s\n", n, (double)(cl_mono_us() - t) / 1e6);
    /* Cases w+1..n: due 1 to 12 days from now, spread evenly. */
    char a[24], b[24];
    snprintf(a, sizeof a, "%ld", w);
    snprintf(b, sizeof b, "%ld", n);
    t = cl_mono_us();
    if (s_clock_sql(pg) < 0 ||
        s_insert_clocks(pg,
                        "(SELECT g, now() + interval '1 day' + (g - $1::bigint) * (interval '11 days' / $2::bigint) AS d"
                        " FROM generate_series($1::bigint + 1, $2::bigint) g) s",
                        2, (const char *[]){a, b}) < 0)
        return 1;
    printf("  %ld clocks due 1 to 12 days from now: %.1f s\n", n - w, (double)(cl_mono_us() - t) / 1e6);
    if (s_tidy(pg) < 0)
        return 1;
    /* Cases 1..w: the window, at rate per second from t0. */
    int64_t t0 = s_real_us() + s_opt.lead * CL_US_PER_S;
    char ts[24], r[24];
    snprintf(ts, sizeof ts, "%" PRId64, t0);
    snprintf(r, sizeof r, "%ld", s_opt.rate);
    t = cl_mono_us();
    if (s_insert_clocks(pg,
                        "(SELECT g, cl_us_to_ts($2::bigint + (g - 1) * 1000000 / $3::bigint) AS d"
                        " FROM generate_series(1, $1::bigint) g) s",
                        3, (const char *[]){a, ts, r}) < 0)
        return 1;
    int64_t now = s_real_us();
    printf("  %ld clocks due at %ld/s over %ld s (the window): %.1f s; the window begins in %.1f s\n", w, s_opt.rate,
           s_opt.seconds, (double)(cl_mono_us() - t) / 1e6, (double)(t0 - now) / 1e6);
    long long armed =
        bc_scalar(pg, "SELECT count(*) FROM clocks WHERE state = 1 AND next_fire_at IS NOT NULL", 0, NULL);
    printf("armed n=%lld window=%ld t0_us=%" PRId64 "\n", armed, w, t0);
    return armed == n ? 0 : 1;
}

static int s_seed_overdue(PGconn *pg)
{
    long n = s_opt.clocks;
    if (!s_empty(pg))
        return 1;
    int64_t t = cl_mono_us();
    char b[24];
    snprintf(b, sizeof b, "%ld", n);
    if (s_seed_cases(pg, 1, n) < 0 || s_clock_sql(pg) < 0 ||
        s_insert_clocks(pg,
                        "(SELECT g, now() - interval '10 s' - g * (interval '100 s' / $1::bigint) AS d"
                        " FROM generate_series(1, $1::bigint) g) s",
                        1, (const char *[]){b}) < 0)
        return 1;
    printf("seeded %ld cases and %ld clocks C2, the breach next, that came due 10 to 110 s ago: %.1f s\n", n, n,
           (double)(cl_mono_us() - t) / 1e6);
    if (s_tidy(pg) < 0)
        return 1;
    printf("overdue clocks=%ld\n", n);
    return 0;
}

/* --- lag ------------------------------------------------------------------------------------- */

typedef struct {
    int64_t clock_id;   /* 0: empty slot */
    int64_t due_us;
    int64_t heard_us;   /* real clock: its ClockBreached received; 0 while not */
    int64_t event_due_us;
} s_wclock_t;

typedef struct {
    s_wclock_t *slots;
    size_t nslots;
} s_table_t;

static s_wclock_t *s_find(s_table_t *t, int64_t id, bool add)
{
    size_t mask = t->nslots - 1;
    for (size_t i = ((uint64_t)id * 0x9E3779B97F4A7C15ULL) & mask;; i = (i + 1) & mask) {
        if (t->slots[i].clock_id == id)
            return &t->slots[i];
        if (t->slots[i].clock_id == 0) {
            if (!add)
                return NULL;
            t->slots[i].clock_id = id;
            return &t->slots[i];
        }
    }
}

static int s_lag(PGconn *pg, void *zctx)
{
    long long armed =
        bc_scalar(pg, "SELECT count(*) FROM clocks WHERE state = 1 AND next_fire_at IS NOT NULL", 0, NULL);
    PGresult *res = bc_sql(pg,
                           "SELECT id, cl_ts_to_us(due_at) FROM clocks WHERE due_at < now() + interval '1 hour'"
                           " ORDER BY due_at",
                           0, NULL);
    if (!res || armed < 0)
        return 1;
    size_t w = (size_t)PQntuples(res);
    if (w == 0) {
        fprintf(stderr, "bench escalation: no clock in the window (run --mode seed-armed first)\n");
        PQclear(res);
        return 1;
    }
    s_table_t tab = {NULL, 1024};
    while (tab.nslots < w * 2)
        tab.nslots *= 2;
    tab.slots = calloc(tab.nslots, sizeof *tab.slots);
    if (!tab.slots)
        abort();
    int64_t t0 = INT64_MAX, tlast = 0;
    for (size_t r = 0; r < w; r++) {
        s_wclock_t *c = s_find(&tab, strtoll(PQgetvalue(res, (int)r, 0), NULL, 10), true);
        c->due_us = strtoll(PQgetvalue(res, (int)r, 1), NULL, 10);
        t0 = c->due_us < t0 ? c->due_us : t0;
        tlast = c->due_us > tlast ? c->due_us : tlast;
    }
    PQclear(res);

    void *sub = zmq_socket(zctx, ZMQ_SUB);
    int hwm = 0, linger = 0;
    zmq_setsockopt(sub, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "ClockBreached", strlen("ClockBreached"));
    if (zmq_connect(sub, s_opt.events) != 0) {
        fprintf(stderr, "bench escalation: cannot connect to %s: %s\n", s_opt.events, zmq_strerror(errno));
        zmq_close(sub);
        return 1;
    }
    int64_t now = s_real_us();
    long rss_ready = bc_proc_kb(s_opt.pid, "VmRSS");
    printf("lag: %lld clocks armed; the window: %zu clocks due from %.1f s from now for %.1f s (%.0f/s);"
           " caseloop-escalation VmRSS %.1f MB now, before the window\n",
           armed, w, (double)(t0 - now) / 1e6, (double)(tlast - t0) / 1e6,
           tlast > t0 ? (double)(w - 1) * 1e6 / (double)(tlast - t0) : 0.0, rss_ready / 1024.0);
    if (t0 - now < 500000)
        printf("  WARNING: the window began %.1f s after the service was READY (wanted a few seconds): the first"
               " lags include the service's start\n",
               (double)(t0 - now) / 1e6);

    long rss_peak = rss_ready;
    size_t heard = 0, other = 0, mismatched = 0;
    bool snapped = false, ended = false;
    s_snap_t a, b;
    int64_t next_sample = 0, stop_at = tlast + s_opt.grace * CL_US_PER_S;
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    for (;;) {
        now = s_real_us();
        if (!snapped && now >= t0) {
            s_snap(pg, s_opt.pid, &a);
            snapped = true;
        }
        if (now >= next_sample) {
            long kb = bc_proc_kb(s_opt.pid, "VmRSS");
            if (kb > rss_peak)
                rss_peak = kb;
            if (kb < 0) {
                fprintf(stderr, "bench escalation: caseloop-escalation (pid %ld) is gone\n", s_opt.pid);
                break;
            }
            next_sample = now + 250000;
        }
        if (heard == w || now > stop_at || s_expired())
            break;
        int64_t wait_ms = (next_sample - now) / 1000 + 1;
        if (!snapped && (t0 - now) / 1000 + 1 < wait_ms)
            wait_ms = (t0 - now) / 1000 + 1;
        zmq_pollitem_t item = {sub, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, (long)(wait_ms > 0 ? wait_ms : 0)) <= 0)
            continue;
        while (zmq_msg_recv(&msg, sub, ZMQ_DONTWAIT) >= 0) {  /* [topic][envelope] */
            int64_t at = s_real_us();
            if (!zmq_msg_more(&msg) || zmq_msg_recv(&msg, sub, 0) < 0)
                continue;
            cl_err_t err;
            cl_env_t *env = cl_codec_decode(zmq_msg_data(&msg), zmq_msg_size(&msg), SIZE_MAX, &err);
            while (zmq_msg_more(&msg) && zmq_msg_recv(&msg, sub, 0) >= 0)
                ;
            if (!env)
                continue;
            const Caseloop__V1__Clock *c = env->body_case == CASELOOP__V1__ENVELOPE__BODY_CLOCK_BREACHED &&
                                                   env->clock_breached
                                               ? env->clock_breached->clock
                                               : NULL;
            s_wclock_t *wc = c ? s_find(&tab, (int64_t)c->clock_id, false) : NULL;
            if (wc && !wc->heard_us) {
                wc->heard_us = at;
                wc->event_due_us = c->due_at_us;
                if (c->due_at_us != wc->due_us)
                    mismatched++;
                heard++;
            } else if (!wc) {
                other++;
            }
            cl_codec_free(env);
        }
        if (heard == w && !ended) {
            s_snap(pg, s_opt.pid, &b);
            ended = true;
        }
    }
    zmq_msg_close(&msg);
    zmq_close(sub);
    if (!snapped)
        s_snap(pg, s_opt.pid, &a);
    if (!ended)
        s_snap(pg, s_opt.pid, &b);
    long hwm_kb = bc_proc_kb(s_opt.pid, "VmHWM");

    /* The table: every clock of the window breached? When was its event recorded? */
    char f[24], l[24];
    snprintf(f, sizeof f, "%" PRId64, t0);
    snprintf(l, sizeof l, "%" PRId64, tlast);
    res = bc_sql(pg,
                 "SELECT c.id, c.state, cl_ts_to_us(e.recorded_at) FROM clocks c"
                 " LEFT JOIN events e ON e.case_id = c.case_id AND e.type = 'ClockBreached'"
                 " WHERE c.due_at BETWEEN cl_us_to_ts($1::bigint) AND cl_us_to_ts($2::bigint)",
                 2, (const char *[]){f, l});
    if (!res)
        return 1;
    int64_t *lag = calloc(w + 1, sizeof *lag), *sub_lag = calloc(w + 1, sizeof *sub_lag),
            *db_lag = calloc(w + 1, sizeof *db_lag);
    if (!lag || !sub_lag || !db_lag)
        abort();
    size_t nlag = 0, nsub = 0, ndb = 0, breached = 0, from_db = 0, missing = 0;
    for (int r = 0; r < PQntuples(res); r++) {
        s_wclock_t *wc = s_find(&tab, strtoll(PQgetvalue(res, r, 0), NULL, 10), false);
        if (!wc)
            continue;
        if (atoi(PQgetvalue(res, r, 1)) == CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_BREACHED)
            breached++;
        bool in_db = !PQgetisnull(res, r, 2);
        int64_t recorded = in_db ? strtoll(PQgetvalue(res, r, 2), NULL, 10) : 0;
        if (in_db)
            db_lag[ndb++] = recorded - wc->due_us;
        if (wc->heard_us) {
            sub_lag[nsub++] = wc->heard_us - wc->event_due_us;
            lag[nlag++] = wc->heard_us - wc->event_due_us;
        } else if (in_db) {
            lag[nlag++] = recorded - wc->due_us;
            from_db++;
        } else {
            missing++;
        }
    }
    PQclear(res);
    /* The worst lag of each second of the window (before bc_dist sorts the lags). */
    size_t nsec = (size_t)((tlast - t0) / CL_US_PER_S) + 1;
    int64_t *worst = calloc(nsec, sizeof *worst);
    if (!worst)
        abort();
    for (size_t i = 0; i < tab.nslots; i++) {
        const s_wclock_t *wc = &tab.slots[i];
        if (wc->clock_id && wc->heard_us) {
            size_t k = (size_t)((wc->due_us - t0) / CL_US_PER_S);
            int64_t v = wc->heard_us - wc->event_due_us;
            if (k < nsec && v > worst[k])
                worst[k] = v;
        }
    }
    bc_dist_t d = bc_dist(lag, nlag);
    printf("  %zu of %zu clocks of the window breached in the table; %zu ClockBreached heard on the PUB"
           " (%zu of other clocks), %zu taken from the events table, %zu without any event\n",
           breached, w, heard, other, from_db, missing);
    if (mismatched)
        printf("  WARNING: %zu events carried a due_at_us other than the row's\n", mismatched);
    s_print_dist("fire lag (received on the PUB - due_at):", bc_dist(sub_lag, nsub));
    s_print_dist("cross-check (events.recorded_at - due_at):", bc_dist(db_lag, ndb));
    s_print_dist("fire lag reported (PUB, else the table):", d);
    printf("  worst lag heard in each second of the window, ms:");
    for (size_t k = 0; k < nsec; k++)
        printf(" %.0f", (double)worst[k] / 1000.0);
    printf("\n");
    free(worst);
    s_print_batches(pg, t0 - CL_US_PER_S);
    s_print_stats(zctx);
    s_print_cpu(&a, &b);
    printf("  caseloop-escalation memory: VmRSS %.1f MB before the window, %.1f MB at most during it"
           " (sampled every 250 ms); VmHWM %.1f MB\n",
           rss_ready / 1024.0, rss_peak / 1024.0, hwm_kb / 1024.0);
    printf("lag armed=%lld window=%zu heard=%zu p50_ms=%.2f p99_ms=%.2f max_ms=%.2f rss_mb=%.1f rss_ready_mb=%.1f\n",
           armed, w, heard, d.p50, d.p99, d.max, rss_peak / 1024.0, rss_ready / 1024.0);
    free(lag);
    free(sub_lag);
    free(db_lag);
    free(tab.slots);
    return breached == w && missing == 0 ? 0 : 1;
}

/* --- drain ----------------------------------------------------------------------------------- */

/* Waits for READY in the ready file (having created the armed file); returns 0, or -1 when
   the time ran out. */
static int s_await_ready(void)
{
    FILE *armed = fopen(s_opt.armed_file, "w");
    if (!armed) {
        fprintf(stderr, "bench escalation: cannot create %s\n", s_opt.armed_file);
        return -1;
    }
    fclose(armed);
    while (!bc_file_says_ready(s_opt.ready_file)) {
        if (s_expired()) {
            fprintf(stderr, "bench escalation: the service did not say READY in %s\n", s_opt.ready_file);
            return -1;
        }
        bc_sleep_us(1000);
    }
    return 0;
}

/* The service's process id from --pid-file, 0 when there is none. */
static long s_pid_from_file(void)
{
    long pid = 0;
    FILE *f = s_opt.pid_file ? fopen(s_opt.pid_file, "r") : NULL;
    if (f) {
        if (fscanf(f, "%ld", &pid) != 1)
            pid = 0;
        fclose(f);
    }
    return pid;
}

static int s_drain(PGconn *pg, void *zctx)
{
    int64_t start = s_real_us();
    char st[24];
    snprintf(st, sizeof st, "%" PRId64, start);
    const char *p[] = {st};
    const char *due_sql = "SELECT count(*) FROM clocks WHERE next_fire_at <= cl_us_to_ts($1::bigint)";
    const char *any_sql = "SELECT EXISTS (SELECT 1 FROM clocks WHERE next_fire_at <= cl_us_to_ts($1::bigint))::int";
    long long backlog = bc_scalar(pg, due_sql, 1, p);
    long long before = bc_scalar(pg, "SELECT count(*) FROM clocks WHERE state = 3", 0, NULL);
    if (backlog <= 0 || before < 0) {
        fprintf(stderr, "bench escalation: no overdue clock (run --mode seed-overdue first)\n");
        return 1;
    }
    printf("fire rate: %lld clocks overdue; elapsed = from caseloop-escalation's READY until no clock is due"
           " any more (SELECT EXISTS (... WHERE next_fire_at <= start), an index read, every 20 ms)\n",
           backlog);
    if (s_await_ready() < 0)
        return 1;
    int64_t t0 = cl_mono_us();
    int64_t t0_real = s_real_us();
    long pid = s_pid_from_file();
    s_snap_t a, b;
    s_snap(pg, pid, &a);
    long long left = backlog;
    int64_t t1 = 0;
    for (;;) {
        int64_t tick = cl_mono_us();
        left = bc_scalar(pg, any_sql, 1, p);
        t1 = cl_mono_us();
        if (left <= 0 || s_expired())
            break;
        int64_t wait = 20000 - (t1 - tick);
        if (wait > 0)
            bc_sleep_us(wait);
    }
    s_snap(pg, pid, &b);
    left = bc_scalar(pg, due_sql, 1, p);
    long hwm_kb = pid > 0 ? bc_proc_kb(pid, "VmHWM") : -1;
    long long breached = bc_scalar(pg, "SELECT count(*) FROM clocks WHERE state = 3", 0, NULL) - before;
    if (left != 0) {
        fprintf(stderr, "bench escalation: aborted: %lld of %lld clocks still due when the time ran out\n", left,
                backlog);
        return 1;
    }
    double elapsed = (double)(t1 - t0) / 1e6;
    double rate = elapsed > 0 ? (double)backlog / elapsed : 0;
    printf("  %lld clocks fired in %.2f s = %.0f clocks/s; %lld breached in the table\n", backlog, elapsed, rate,
           breached);
    s_print_batches(pg, t0_real - 5 * CL_US_PER_S);
    s_print_stats(zctx);
    s_print_cpu(&a, &b);
    if (hwm_kb >= 0)
        printf("  caseloop-escalation VmHWM %.1f MB\n", hwm_kb / 1024.0);
    if (breached != backlog) {
        fprintf(stderr, "bench escalation: %lld clocks were due but %lld are breached\n", backlog, breached);
        return 1;
    }
    printf("fire rate=%.0f\n", rate);
    return 0;
}

/* --- apply ----------------------------------------------------------------------------------- */

/* The service's position in the event log: where it has applied it up to (0 before its first start). */
#define POSITION_SQL "SELECT coalesce((SELECT position FROM consumer_positions WHERE consumer = 'escalation'), 0)"

static int s_apply(PGconn *pg, void *zctx)
{
    long long head = bc_scalar(pg, "SELECT position FROM event_head", 0, NULL);
    long long cases = bc_scalar(pg, "SELECT count(*) FROM cases", 0, NULL);
    long long from = bc_scalar(pg, POSITION_SQL, 0, NULL);
    long long clocks0 = bc_scalar(pg, "SELECT count(*) FROM clocks", 0, NULL);
    char f[24], h[24];
    snprintf(f, sizeof f, "%lld", from);
    snprintf(h, sizeof h, "%lld", head);
    const char *p[] = {f, h};
    /* The kinds it applies (escalation.c, s_apply_batch); it looks past the others. */
    long long kinds = bc_scalar(pg,
                                "SELECT count(*) FROM events WHERE position > $1::bigint AND position <= $2::bigint"
                                " AND type IN ('CaseReceived', 'CaseDispatched', 'CaseTransferred', 'CaseUpdated',"
                                " 'CallbackMade', 'CallbackRecorded')",
                                2, p);
    if (head < 0 || cases < 0 || from < 0 || clocks0 < 0 || kinds < 0)
        return 1;
    if (head <= from || cases == 0) {
        fprintf(stderr, "bench escalation: nothing to apply: %lld cases, the log at %lld, the service at %lld\n",
                cases, head, from);
        return 1;
    }
    printf("apply: %lld events in the log after the service's position %lld, %lld of them of the kinds that arm"
           " clocks (the rest it looks past), for %lld cases; elapsed = from caseloop-escalation's READY until its"
           " position (consumer_positions) reaches %lld, read every 20 ms\n",
           head - from, from, kinds, cases, head);
    if (s_await_ready() < 0)
        return 1;
    int64_t t0 = cl_mono_us();
    long pid = s_pid_from_file();
    s_snap_t a, b;
    s_snap(pg, pid, &a);
    long long at = from;
    int64_t t1 = 0;
    for (;;) {
        int64_t tick = cl_mono_us();
        at = bc_scalar(pg, POSITION_SQL, 0, NULL);
        t1 = cl_mono_us();
        if (at < 0 || at >= head || s_expired())
            break;
        int64_t wait = 20000 - (t1 - tick);
        if (wait > 0)
            bc_sleep_us(wait);
    }
    s_snap(pg, pid, &b);
    if (at < head) {
        fprintf(stderr, "bench escalation: aborted: the service at position %lld of %lld when the time ran out\n",
                at, head);
        return 1;
    }
    long long armed = bc_scalar(pg, "SELECT count(*) FROM clocks", 0, NULL) - clocks0;
    long long bare = bc_scalar(pg, "SELECT count(*) FROM cases c WHERE NOT EXISTS"
                                   " (SELECT 1 FROM clocks k WHERE k.case_id = c.id)",
                               0, NULL);
    double elapsed = (double)(t1 - t0) / 1e6;
    double rate = elapsed > 0 ? (double)cases / elapsed : 0;
    printf("  %lld events (%lld of its kinds) applied in %.2f s = %.0f events/s (%.0f of its kinds); %lld clocks"
           " armed = %.0f clocks/s, %.1f a case; %.0f cases/s\n",
           head - from, kinds, elapsed, elapsed > 0 ? (double)(head - from) / elapsed : 0,
           elapsed > 0 ? (double)kinds / elapsed : 0, armed, elapsed > 0 ? (double)armed / elapsed : 0,
           (double)armed / (double)cases, rate);
    s_print_stats(zctx);
    s_print_cpu(&a, &b);
    if (bare != 0) {
        fprintf(stderr, "bench escalation: %lld of the %lld cases have no clock\n", bare, cases);
        return 1;
    }
    printf("apply rate=%.0f\n", rate);
    return 0;
}

/* --- the run --------------------------------------------------------------------------------- */

static const char s_usage[] =
    "usage: caseloop-bench-escalation --mode MODE [OPTION...]\n"
    "Load generator of `scripts/bench escalation`: measures a running caseloop-escalation.\n"
    "Modes (scripts/bench runs them in this order):\n"
    "  migrate       apply --migrations to --db\n"
    "  seed-armed    (service stopped) --armed clocks, --rate x --seconds of them due at --rate/s from\n"
    "                --lead s after the seeding; last line: armed n= window= t0_us=\n"
    "  lag           (service READY, before the window) ClockBreached heard on the PUB minus due_at;\n"
    "                last line: lag armed= window= heard= p50_ms= p99_ms= max_ms= rss_mb= rss_ready_mb=\n"
    "  seed-overdue  (service stopped, fresh database) --clocks clocks already due; last line: overdue clocks=\n"
    "  drain         started before the service: from READY until no clock is due; last line: fire rate=\n"
    "  apply         started before the service, cases and their events in the log: from READY until the\n"
    "                service has applied the log up to its head; last line: apply rate=<cases/s>\n"
    "Options:\n"
    "  --db CONNINFO        the service's database (default: $CL_DB); a local one\n"
    "  --migrations DIR     migrate: the folder of SQL migrations\n"
    "  --events ENDPOINT    lag: the service's PUB (default: $CL_ESCALATION_PUB)\n"
    "  --router ENDPOINT    the service's ROUTER, for its counters (optional)\n"
    "  --armed N            seed-armed: clocks armed (default 1000000)\n"
    "  --rate R             seed-armed: clocks due per second in the window (default 5000)\n"
    "  --seconds S          seed-armed: length of the window (default 25)\n"
    "  --lead S             seed-armed: seconds from the end of the seeding to the window (default 10)\n"
    "  --clocks N           seed-overdue: clocks already due (default 100000)\n"
    "  --grace S            lag: how long after the last due time to wait for events (default 15)\n"
    "  --pid PID            lag: the service's process (RSS, CPU)\n"
    "  --ready-file FILE    drain, apply: the file the service writes READY to (its CL_NOTIFY_FD)\n"
    "  --armed-file FILE    drain, apply: created once the backlog is counted; start the service then\n"
    "  --pid-file FILE      drain, apply: holds the service's process id (optional, for its CPU)\n"
    "  --timeout S          give up after S seconds in all (default 300)\n";

static void s_parse(int argc, char **argv)
{
    static const struct option longs[] = {
        {"mode", required_argument, NULL, 'm'},       {"db", required_argument, NULL, 'd'},
        {"migrations", required_argument, NULL, 'M'}, {"events", required_argument, NULL, 'e'},
        {"router", required_argument, NULL, 'R'},     {"armed", required_argument, NULL, 'n'},
        {"rate", required_argument, NULL, 'r'},       {"seconds", required_argument, NULL, 's'},
        {"lead", required_argument, NULL, 'l'},       {"clocks", required_argument, NULL, 'c'},
        {"grace", required_argument, NULL, 'g'},      {"pid", required_argument, NULL, 'p'},
        {"ready-file", required_argument, NULL, 'y'}, {"armed-file", required_argument, NULL, 'a'},
        {"pid-file", required_argument, NULL, 'P'},   {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},             {NULL, 0, NULL, 0},
    };
    s_opt.db = getenv("CL_DB");
    s_opt.events = getenv("CL_ESCALATION_PUB");
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (ch) {
        case 'm':
            s_opt.mode = strcmp(optarg, "migrate") == 0        ? MODE_MIGRATE
                         : strcmp(optarg, "seed-armed") == 0   ? MODE_SEED_ARMED
                         : strcmp(optarg, "lag") == 0          ? MODE_LAG
                         : strcmp(optarg, "seed-overdue") == 0 ? MODE_SEED_OVERDUE
                         : strcmp(optarg, "drain") == 0        ? MODE_DRAIN
                         : strcmp(optarg, "apply") == 0        ? MODE_APPLY
                                                               : MODE_NONE;
            if (s_opt.mode == MODE_NONE) {
                fprintf(stderr,
                        "bench escalation: --mode is migrate, seed-armed, lag, seed-overdue, drain or apply,"
                        " not \"%s\"\n",
                        optarg);
                exit(2);
            }
            break;
        case 'd': s_opt.db = optarg; break;
        case 'M': s_opt.migrations = optarg; break;
        case 'e': s_opt.events = optarg; break;
        case 'R': s_opt.router = optarg; break;
        case 'n': s_opt.armed = bc_num("--armed", optarg, 1, 100000000); break;
        case 'r': s_opt.rate = bc_num("--rate", optarg, 1, 1000000); break;
        case 's': s_opt.seconds = bc_num("--seconds", optarg, 1, 600); break;
        case 'l': s_opt.lead = bc_num("--lead", optarg, 1, 600); break;
        case 'c': s_opt.clocks = bc_num("--clocks", optarg, 1, 100000000); break;
        case 'g': s_opt.grace = bc_num("--grace", optarg, 1, 600); break;
        case 'p': s_opt.pid = bc_num("--pid", optarg, 1, 1L << 30); break;
        case 'y': s_opt.ready_file = optarg; break;
        case 'a': s_opt.armed_file = optarg; break;
        case 'P': s_opt.pid_file = optarg; break;
        case 't': s_opt.timeout_s = (int)bc_num("--timeout", optarg, 10, 3600); break;
        case 'h': fputs(s_usage, stdout); exit(0);
        default: fputs(s_usage, stderr); exit(2);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "bench escalation: unexpected argument \"%s\"\n%s", argv[optind], s_usage);
        exit(2);
    }
    if (s_opt.mode == MODE_NONE) {
        fprintf(stderr, "bench escalation: give --mode\n%s", s_usage);
        exit(2);
    }
    bc_need("--db (or CL_DB)", s_opt.db);
    if (!bc_local_db(s_opt.db)) {
        fprintf(stderr, "bench escalation: the database must be local (a Unix socket or loopback)\n");
        exit(2);
    }
    if (s_opt.mode == MODE_MIGRATE)
        bc_need("--migrations", s_opt.migrations);
    if (s_opt.mode == MODE_LAG) {
        bc_need("--events (or CL_ESCALATION_PUB)", s_opt.events);
        bc_need_local(s_opt.events);
        if (s_opt.pid <= 0) {
            fprintf(stderr, "bench escalation: --mode lag needs --pid\n");
            exit(2);
        }
    }
    if (s_opt.router && *s_opt.router)
        bc_need_local(s_opt.router);
    else
        s_opt.router = NULL;
    if (s_opt.mode == MODE_DRAIN || s_opt.mode == MODE_APPLY) {
        bc_need("--ready-file", s_opt.ready_file);
        bc_need("--armed-file", s_opt.armed_file);
    }
}

int main(int argc, char **argv)
{
    bc_program("bench escalation", s_usage);
    s_parse(argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0);
    s_deadline_us = cl_mono_us() + (int64_t)s_opt.timeout_s * CL_US_PER_S;
    bc_deadline((unsigned)s_opt.timeout_s + 15);
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);

    if (s_opt.mode == MODE_MIGRATE)
        return s_migrate();
    PGconn *pg = PQconnectdb(s_opt.db);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "bench escalation: cannot connect to the database: %s", PQerrorMessage(pg));
        PQfinish(pg);
        return 1;
    }
    PQclear(PQexec(pg, "SET client_min_messages = warning"));
    PQclear(PQexec(pg, "SET application_name = 'caseloop-bench'"));
    PQclear(PQexec(pg, "SET statement_timeout = 0"));
    void *zctx = zmq_ctx_new();
    int rc;
    switch (s_opt.mode) {
    case MODE_SEED_ARMED: rc = s_seed_armed(pg); break;
    case MODE_LAG: rc = s_lag(pg, zctx); break;
    case MODE_SEED_OVERDUE: rc = s_seed_overdue(pg); break;
    case MODE_APPLY: rc = s_apply(pg, zctx); break;
    default: rc = s_drain(pg, zctx); break;
    }
    zmq_ctx_term(zctx);
    PQfinish(pg);
    return rc;
}
