/* bench_intake.c - caseloop-bench-intake, the load generator behind `scripts/bench intake`.
 *
 * Against one running intake and its database it measures, in this order:
 *   1. throughput: N client threads, each with its own DEALER and a window of W
 *      SubmitCase requests in flight, every case distinct; rate = cases acknowledged
 *      as CREATED per wall-clock second;
 *   2. ack latency at a fixed offered rate (open loop): requests leave on a schedule
 *      whatever the replies do, and each latency is reply time minus scheduled time;
 *   3. the ceiling: the same number of rows of the same shape inserted with plain
 *      batched INSERTs (autocommit) into bench_ceiling, a copy of the cases table
 *      (LIKE cases INCLUDING ALL), with 1, 2 and 4 connections; the best is the ceiling.
 * It prints what it saw, then as its last line:
 *   bench intake rate=<cases/s> ceiling=<rows/s> ratio=<r> ack_p50_ms=<ms> ack_p99_ms=<ms>
 * Exit status: 0; 1 when a request was refused, lost or answered with anything but
 * CREATED (the line is printed all the same), or when the run failed or ran out of time.
 * Only local endpoints: ipc://, inproc:// or loopback tcp, and a local database. */
#include "cl.h"
#include "cl_client.h"
#include "bench_common.h"
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define SENDER "caseloop-bench"

typedef struct {
    const char *router;
    const char *db;
    int clients;
    long cases;
    int window;
    double rate;
    double seconds;
    int lat_clients;
    int ceiling_batch;
    int timeout_s;
    long intake_pid;
} s_opts_t;

static s_opts_t s_opt = {NULL, NULL, 4, 20000, 64, 2000, 5, 2, 500, 120, 0};
static void *s_zctx;
static int64_t s_deadline_us;      /* monotonic: the run gives up after this */
static atomic_bool s_expired_flag;
static char s_run[16];             /* this run's tag, in every idempotency key */
static unsigned s_run_num;         /* 0..999, in every phone number */
static pthread_barrier_t s_barrier;

/* Client threads and the main thread meet twice: everyone ready, then the main
   thread sets the start of the schedule, then everyone goes. */
static void s_start_gate(void)
{
    pthread_barrier_wait(&s_barrier);
    pthread_barrier_wait(&s_barrier);
}

static bool s_expired(void)
{
    if (atomic_load(&s_expired_flag))
        return true;
    if (cl_mono_us() > s_deadline_us) {
        atomic_store(&s_expired_flag, true);
        return true;
    }
    return false;
}

/* --- the cases ---------------------------------------------------------------- */

static const char *const s_names[] = {"Wang Fang", "Li Wei",   "Zhang Min", "Liu Yang", "Chen Jing",
                                      "Mrs Huang", "Mr Zhao",  "Sun Li",    "Zhou Tao", "Wu Xia",
                                      "Ma Lin",    "Hu Qiang", "Guo Hua",   "He Ping",  "Lin Na"};
static const char *const s_problems[] = {
    "water is leaking from the ceiling of the bathroom",
    "the lift stops between the 7th and the 8th floor",
    "the corridor light on the staircase has been off for three days",
    "noise from the renovation next door starts before 7 in the morning",
    "the parking barrier does not open for my resident card",
    "garbage has not been collected from the bins behind the block",
    "the intercom at the gate does not ring my flat",
    "there is a strong smell of gas near the boiler room",
    "thanks to the night guard who helped my mother carry her shopping home",
    "could the gym open one hour earlier on weekdays",
    "the invoice for the management fee shows the wrong floor area",
    "a window pane in the lobby is cracked and may fall",
    "我家卫生间天花板漏水，已经三天了",
    "电梯经常停在两层之间，很危险",
    "地下车库的灯坏了好几盏，晚上很暗",
};
static const char *const s_receivers[] = {"", "front desk", "customer service", "night shift", "hotline"};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

typedef struct {
    Caseloop__V1__Case c;
    char site[4], contact[64], location[64], description[320], xid[48];
} s_case_t;

static char s_source[32];

/* Case number seq of this run (distinct seq, distinct case: own idempotency key,
   own phone number or e-mail, own location, so nothing de-duplicates). */
static void s_case_fill(s_case_t *b, char phase, long seq, int64_t now_us)
{
    unsigned s = (unsigned)seq;
    caseloop__v1__case__init(&b->c);
    snprintf(b->site, sizeof b->site, "%c", 'A' + (int)(s % 3));
    b->c.site = b->site;
    b->c.has_kind = 1, b->c.kind = (Caseloop__V1__Kind)(1 + (s / 3) % 8);
    b->c.has_channel = 1, b->c.channel = (Caseloop__V1__Channel)(1 + (s / 7) % 12);
    b->c.has_severity = 1;
    b->c.severity = s % 50 == 0   ? CASELOOP__V1__SEVERITY__SEVERITY_MAJOR
                    : s % 10 == 0 ? CASELOOP__V1__SEVERITY__SEVERITY_IMPORTANT
                                  : CASELOOP__V1__SEVERITY__SEVERITY_GENERAL;
    b->c.customer_name = (char *)s_names[s % N_OF(s_names)];
    if (s % 2)
        snprintf(b->contact, sizeof b->contact, "+86 1%03u%07ld", s_run_num, seq % 10000000);
    else
        snprintf(b->contact, sizeof b->contact, "customer.%ld.%s@example.com", seq, s_run);
    b->c.customer_contact = b->contact;
    if (s % 3 == 2)
        b->location[0] = '\0';
    else
        snprintf(b->location, sizeof b->location, "block %u, room %s-%c%ld", s % 40 + 1, s_run, phase, seq);
    b->c.location = b->location;
    snprintf(b->description, sizeof b->description, "%s (ref %c%ld)", s_problems[s % N_OF(s_problems)], phase, seq);
    b->c.description = b->description;
    b->c.has_occurred_at_us = 1, b->c.occurred_at_us = now_us - (int64_t)(s % 7200) * CL_US_PER_S;
    b->c.first_receiver = (char *)s_receivers[s % N_OF(s_receivers)];
    b->c.external_source = s_source;
    snprintf(b->xid, sizeof b->xid, "%c-%ld", phase, seq);
    b->c.external_id = b->xid;
}

/* --- clients ------------------------------------------------------------------ */

typedef struct {
    char id[CL_ID_MAX + 1];
    cl_buf_t frame;    /* the encoded request */
    int64_t t0_us;     /* monotonic: sent (throughput) or scheduled (latency) */
    int64_t t1_us;     /* monotonic: answered; 0 while not */
} s_req_t;

typedef struct {
    int index;
    char phase;        /* 't' throughput, 'l' latency */
    long first_seq;
    long n;
    s_req_t *reqs;
    uint64_t first_ctr;
    cl_client_t *client;
    void *dealer;          /* the client's DEALER, which the thread pipelines on */
    int64_t lat_t0_us;     /* latency: the schedule's origin */
    /* results */
    long sent, answered, created, not_created, errors, unmatched;
    int64_t t_begin_us, t_end_us, last_send_us, max_send_lag_us;
    bool failed;
    char sample[320];  /* the first thing that went wrong */
} s_client_t;

static void s_sample(s_client_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_sample(s_client_t *w, const char *fmt, ...)
{
    if (w->sample[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->sample, sizeof w->sample, fmt, ap);
    va_end(ap);
}

static uint64_t s_id_counter(const char *id)
{
    const char *dash = id ? strrchr(id, '-') : NULL;
    return dash ? strtoull(dash + 1, NULL, 10) : 0;
}

/* Encodes this client's requests ahead of time, in its own thread: message ids
   come from a per-thread counter, so request k has counter first_ctr + k. */
static int s_client_prepare(s_client_t *w)
{
    w->reqs = calloc((size_t)w->n + 1, sizeof *w->reqs);
    if (!w->reqs)
        return -1;
    int64_t now = cl_clock_now(cl_clock_real());
    for (long k = 0; k < w->n; k++) {
        s_req_t *r = &w->reqs[k];
        s_case_t b;
        s_case_fill(&b, w->phase, w->first_seq + k, now);
        cl_env_t env;
        cl_codec_init(&env, r->id, SENDER, now);
        env.site = b.c.site;
        Caseloop__V1__SubmitCase body = CASELOOP__V1__SUBMIT_CASE__INIT;
        body.details = &b.c;
        env.body_case = CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE;
        env.submit_case = &body;
        cl_codec_encode(&env, &r->frame);
        if (k == 0)
            w->first_ctr = s_id_counter(r->id);
        else if (s_id_counter(r->id) != w->first_ctr + (uint64_t)k)
            return -1;
    }
    return 0;
}

static void s_client_release(s_client_t *w)
{
    if (w->reqs)
        for (long k = 0; k < w->n; k++)
            cl_buf_free(&w->reqs[k].frame);
    free(w->reqs);
    w->reqs = NULL;
    cl_client_destroy(&w->client);
    w->dealer = NULL;
}

/* One reply: matched to its request by correlation_id, checked to be CREATED. */
static void s_client_reply(s_client_t *w, zmq_msg_t *msg, int64_t now)
{
    cl_err_t err;
    cl_err_clear(&err);
    cl_env_t *env = cl_codec_decode(zmq_msg_data(msg), zmq_msg_size(msg), SIZE_MAX, &err);
    if (!env) {
        w->unmatched++;
        s_sample(w, "unreadable reply: %s", err.message);
        return;
    }
    const char *corr = env->correlation_id ? env->correlation_id : "";
    long k = (long)(s_id_counter(corr) - w->first_ctr);
    if (k < 0 || k >= w->sent || strcmp(w->reqs[k].id, corr) != 0 || w->reqs[k].t1_us) {
        w->unmatched++;
        if (env->body_case == CASELOOP__V1__ENVELOPE__BODY_ERROR && env->error)
            s_sample(w, "reply to no request of ours (\"%s\"): error %s: %s", corr,
                     cl_err_code_name(env->error->code), env->error->message ? env->error->message : "");
        else
            s_sample(w, "reply to no request of ours (\"%s\")", corr);
        cl_codec_free(env);
        return;
    }
    w->reqs[k].t1_us = now;
    w->answered++;
    if (env->body_case == CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE_REPLY && env->submit_case_reply) {
        const Caseloop__V1__SubmitCaseReply *r = env->submit_case_reply;
        if (r->has_outcome && r->outcome == CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_CREATED && r->case_id > 0) {
            w->created++;
        } else {
            w->not_created++;
            const ProtobufCEnumValue *v =
                protobuf_c_enum_descriptor_get_value(&caseloop__v1__submit_outcome__descriptor, (int)r->outcome);
            s_sample(w, "case %c%ld answered with %s (case %" PRIu64 "), not CREATED", w->phase, w->first_seq + k,
                     v ? v->name : "no outcome", r->case_id);
        }
    } else if (env->body_case == CASELOOP__V1__ENVELOPE__BODY_ERROR && env->error) {
        w->errors++;
        s_sample(w, "case %c%ld refused: %s (%s): %s", w->phase, w->first_seq + k,
                 cl_err_code_name(env->error->code), env->error->field ? env->error->field : "",
                 env->error->message ? env->error->message : "");
    } else {
        w->errors++;
        s_sample(w, "case %c%ld answered with %s", w->phase, w->first_seq + k, cl_codec_body_name(env));
    }
    cl_codec_free(env);
}

/* Takes every reply already queued. */
static void s_client_drain(s_client_t *w)
{
    for (;;) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, w->dealer, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            return;
        }
        int64_t now = cl_mono_us();
        if (zmq_msg_more(&msg)) {  /* not what intake sends: count and skip the whole message */
            w->unmatched++;
            s_sample(w, "reply of more than one frame");
            while (zmq_msg_more(&msg)) {
                zmq_msg_close(&msg);
                zmq_msg_init(&msg);
                if (zmq_msg_recv(&msg, w->dealer, 0) < 0)
                    break;
            }
            zmq_msg_close(&msg);
            continue;
        }
        s_client_reply(w, &msg, now);
        zmq_msg_close(&msg);
    }
}

/* Opens the DEALER and makes one GetStats round trip, so that connecting is not
   part of the measurement. */
static int s_client_connect(s_client_t *w)
{
    cl_err_t err;
    w->client = cl_client_new(s_zctx, s_opt.router, SENDER, &err);
    if (!w->client) {
        s_sample(w, "%s", err.message);
        return -1;
    }
    cl_env_t *reply = cl_client_stats(w->client, 10000, &err);
    if (!reply) {
        s_sample(w, "intake did not answer GetStats: %s", err.message);
        return -1;
    }
    cl_codec_free(reply);
    w->dealer = cl_client_socket(w->client);
    return 0;
}

static void *s_throughput_main(void *arg)
{
    s_client_t *w = arg;
    if (s_client_connect(w) < 0 || s_client_prepare(w) < 0) {
        s_sample(w, "could not prepare the requests");
        w->failed = true;
    }
    s_start_gate();
    w->t_begin_us = w->t_end_us = cl_mono_us();
    if (w->failed)
        return NULL;
    while (w->answered < w->n) {
        while (w->sent - w->answered < s_opt.window && w->sent < w->n) {
            s_req_t *r = &w->reqs[w->sent];
            r->t0_us = cl_mono_us();
            if (zmq_send(w->dealer, r->frame.data, r->frame.len, 0) < 0) {
                s_sample(w, "could not send: %s", zmq_strerror(errno));
                w->failed = true;
                return NULL;
            }
            w->sent++;
        }
        if (s_expired())
            break;
        zmq_pollitem_t item = {w->dealer, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 100) > 0)
            s_client_drain(w);
    }
    w->t_end_us = cl_mono_us();
    return NULL;
}

/* Latency client j of L: request k is due at t0 + (k * L + j) / rate. */
static int64_t s_due(const s_client_t *w, long k)
{
    double slot = (double)k * s_opt.lat_clients + w->index;
    return w->lat_t0_us + (int64_t)(slot * 1e6 / s_opt.rate);
}

static void *s_latency_main(void *arg)
{
    s_client_t *w = arg;
    if (s_client_connect(w) < 0 || s_client_prepare(w) < 0) {
        s_sample(w, "could not prepare the requests");
        w->failed = true;
    }
    int fd = -1;
    size_t fdlen = sizeof fd;
    if (!w->failed && zmq_getsockopt(w->dealer, ZMQ_FD, &fd, &fdlen) < 0) {
        s_sample(w, "no ZMQ_FD: %s", zmq_strerror(errno));
        w->failed = true;
    }
    s_start_gate();
    w->t_begin_us = w->t_end_us = cl_mono_us();
    if (w->failed)
        return NULL;
    for (;;) {
        int64_t now = cl_mono_us();
        while (w->sent < w->n && s_due(w, w->sent) <= now) {
            s_req_t *r = &w->reqs[w->sent];
            r->t0_us = s_due(w, w->sent);
            if (zmq_send(w->dealer, r->frame.data, r->frame.len, 0) < 0) {
                s_sample(w, "could not send: %s", zmq_strerror(errno));
                w->failed = true;
                return NULL;
            }
            w->last_send_us = cl_mono_us();
            if (w->last_send_us - r->t0_us > w->max_send_lag_us)
                w->max_send_lag_us = w->last_send_us - r->t0_us;
            w->sent++;
            now = w->last_send_us;
        }
        s_client_drain(w);
        if (w->answered >= w->n || s_expired())
            break;
        /* The socket's FD is edge-triggered: sleep only when ZMQ_EVENTS shows nothing to read. */
        uint32_t events = 0;
        size_t elen = sizeof events;
        if (zmq_getsockopt(w->dealer, ZMQ_EVENTS, &events, &elen) == 0 && (events & ZMQ_POLLIN))
            continue;
        now = cl_mono_us();
        int64_t wait_us = w->sent < w->n ? s_due(w, w->sent) - now : 100000;
        if (wait_us <= 0)
            continue;
        struct timespec ts = {wait_us / CL_US_PER_S, (wait_us % CL_US_PER_S) * 1000};
        struct pollfd p = {fd, POLLIN, 0};
        ppoll(&p, 1, &ts, NULL);
    }
    w->t_end_us = cl_mono_us();
    return NULL;
}

/* --- what the rest of the machine did ------------------------------------------ */

typedef struct {
    uint64_t batches, batch_items, requests;
} s_istats_t;

static int s_intake_stats(cl_client_t *intake, s_istats_t *st)
{
    memset(st, 0, sizeof *st);
    cl_err_t err;
    cl_env_t *reply = cl_client_stats(intake, 10000, &err);
    if (!reply)
        return -1;
    st->batches = cl_client_counter(reply->stats_reply, "batches");
    st->batch_items = cl_client_counter(reply->stats_reply, "batch_items");
    st->requests = cl_client_counter(reply->stats_reply, "requests");
    cl_codec_free(reply);
    return 0;
}

typedef struct {
    long pids[64];
    double cpu[64];
    int n;
    long backend_pid;   /* intake's connection */
    double intake, self, machine_busy, machine_idle, machine_iowait, machine_all;
    double wal_bytes, xid;
    bool have_wal;
} s_snap_t;

static PGresult *s_sql(PGconn *pg, const char *sql)
{
    PGresult *res = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        PQclear(res);
        return NULL;
    }
    return res;
}

static void s_snap_cpu(PGconn *pg, s_snap_t *s)
{
    memset(s, 0, sizeof *s);
    s->intake = s_opt.intake_pid > 0 ? bc_proc_cpu(s_opt.intake_pid) : -1;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    s->self = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
              ru.ru_stime.tv_usec / 1e6;
    FILE *f = fopen("/proc/stat", "r");
    if (f) {
        unsigned long long v[8] = {0};
        if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
                   &v[7]) == 8) {
            double tck = (double)sysconf(_SC_CLK_TCK);
            double all = 0;
            for (int i = 0; i < 8; i++)
                all += (double)v[i];
            s->machine_all = all / tck;
            s->machine_idle = (double)v[3] / tck;
            s->machine_iowait = (double)v[4] / tck;
            s->machine_busy = (all - (double)v[3] - (double)v[4]) / tck;
        }
        fclose(f);
    }
    char q[256];
    snprintf(q, sizeof q,
             "SELECT pid, application_name = 'caseloop-intake' FROM pg_stat_activity WHERE pid <> %d ORDER BY pid",
             PQbackendPID(pg));
    PGresult *res = s_sql(pg, q);
    for (int r = 0; res && r < PQntuples(res) && s->n < 64; r++) {
        long pid = strtol(PQgetvalue(res, r, 0), NULL, 10);
        if (PQgetvalue(res, r, 1)[0] == 't')
            s->backend_pid = pid;
        s->pids[s->n] = pid;
        s->cpu[s->n++] = bc_proc_cpu(pid);
    }
    PQclear(res);
}

/* Exact, unlike the cumulative statistics (flushed about once a second): the WAL
   position, and the next transaction id (each writing transaction takes one). */
static void s_snap_wal(PGconn *pg, s_snap_t *s)
{
    PGresult *res = s_sql(pg, "SELECT pg_current_wal_lsn() - '0/0', pg_snapshot_xmax(pg_current_snapshot())");
    if (res && PQntuples(res) == 1) {
        s->have_wal = true;
        s->wal_bytes = strtod(PQgetvalue(res, 0, 0), NULL);
        s->xid = strtod(PQgetvalue(res, 0, 1), NULL);
    }
    PQclear(res);
}

static double s_pct(double cpu_s, double wall_s)
{
    return wall_s > 0 ? 100.0 * cpu_s / wall_s : 0;
}

/* Prints where the CPU went between a and b (wall seconds apart) and what the WAL did. */
static void s_print_machine(const s_snap_t *a, const s_snap_t *b, double wall_s, uint64_t created)
{
    double backend = -1, others = 0;
    for (int i = 0; i < b->n; i++)
        for (int j = 0; j < a->n; j++)
            if (a->pids[j] == b->pids[i] && a->cpu[j] >= 0 && b->cpu[i] >= 0) {
                if (b->pids[i] == b->backend_pid)
                    backend = b->cpu[i] - a->cpu[j];
                else
                    others += b->cpu[i] - a->cpu[j];
            }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    printf("  cpu (100%% = one core of %ld):", ncpu);
    if (a->intake >= 0 && b->intake >= 0)
        printf(" intake %.0f%%,", s_pct(b->intake - a->intake, wall_s));
    if (backend >= 0)
        printf(" its database backend %.0f%%,", s_pct(backend, wall_s));
    printf(" other postgres processes %.0f%%, load generator %.0f%%\n", s_pct(others, wall_s),
           s_pct(b->self - a->self, wall_s));
    double all = b->machine_all - a->machine_all;
    if (all > 0)
        printf("  machine: busy %.0f%%, idle %.0f%%, waiting on I/O %.0f%%\n",
               100.0 * (b->machine_busy - a->machine_busy) / all, 100.0 * (b->machine_idle - a->machine_idle) / all,
               100.0 * (b->machine_iowait - a->machine_iowait) / all);
    if (a->have_wal && b->have_wal) {
        double txns = b->xid - a->xid;
        printf("  postgres: %.0f writing transactions (%.0f/s, each one WAL flush at commit), %.1f MB of WAL"
               " (%.0f bytes per case)\n",
               txns, wall_s > 0 ? txns / wall_s : 0, (b->wal_bytes - a->wal_bytes) / 1e6,
               created ? (b->wal_bytes - a->wal_bytes) / (double)created : 0);
    }
}

/* --- a phase of clients ----------------------------------------------------------- */

typedef struct {
    long sent, answered, created, not_created, errors, unmatched;
    double wall_s;
    double p50_ms, p90_ms, p99_ms, max_ms;
    int64_t max_send_lag_us;
    double send_span_s;
    bool failed, timed_out;
    char sample[320];
} s_result_t;

/* Nearest-rank percentile of sorted v[0..n). */
static double s_percentile_ms(const int64_t *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t rank = (size_t)(p * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return (double)v[rank - 1] / 1000.0;
}

static int s_run_clients(char phase, int nclients, long total, long first_seq, void *(*fn)(void *),
                         s_result_t *out)
{
    memset(out, 0, sizeof *out);
    s_client_t *ws = calloc((size_t)nclients, sizeof *ws);
    pthread_t *th = calloc((size_t)nclients, sizeof *th);
    if (!ws || !th)
        abort();
    if (pthread_barrier_init(&s_barrier, NULL, (unsigned)nclients + 1) != 0)
        abort();
    long seq = first_seq;
    for (int i = 0; i < nclients; i++) {
        ws[i].index = i;
        ws[i].phase = phase;
        ws[i].n = total / nclients + (i < total % nclients);
        ws[i].first_seq = seq;
        seq += ws[i].n;
        if (pthread_create(&th[i], NULL, fn, &ws[i]) != 0) {
            fprintf(stderr, "bench intake: cannot start a client thread\n");
            exit(1);
        }
    }
    /* Once everyone is ready, the schedule (latency clients) starts 10 ms ahead. */
    pthread_barrier_wait(&s_barrier);
    int64_t t0 = cl_mono_us() + 10000;
    for (int i = 0; i < nclients; i++)
        ws[i].lat_t0_us = t0;
    pthread_barrier_wait(&s_barrier);
    for (int i = 0; i < nclients; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&s_barrier);

    int64_t begin = INT64_MAX, end = 0, first_due = INT64_MAX, last_send = 0;
    size_t nl = 0;
    int64_t *lat = malloc(sizeof *lat * ((size_t)total + 1));
    if (!lat)
        abort();
    for (int i = 0; i < nclients; i++) {
        s_client_t *w = &ws[i];
        out->sent += w->sent;
        out->answered += w->answered;
        out->created += w->created;
        out->not_created += w->not_created;
        out->errors += w->errors;
        out->unmatched += w->unmatched;
        out->failed |= w->failed;
        if (!out->sample[0] && w->sample[0])
            snprintf(out->sample, sizeof out->sample, "%s", w->sample);
        if (w->max_send_lag_us > out->max_send_lag_us)
            out->max_send_lag_us = w->max_send_lag_us;
        begin = w->t_begin_us < begin ? w->t_begin_us : begin;
        end = w->t_end_us > end ? w->t_end_us : end;
        if (w->n && w->lat_t0_us < first_due)
            first_due = w->lat_t0_us;
        last_send = w->last_send_us > last_send ? w->last_send_us : last_send;
        for (long k = 0; k < w->sent && w->reqs; k++)
            if (w->reqs[k].t1_us)
                lat[nl++] = w->reqs[k].t1_us - w->reqs[k].t0_us;
        s_client_release(w);
    }
    out->timed_out = atomic_load(&s_expired_flag);
    out->wall_s = end > begin ? (double)(end - begin) / 1e6 : 0;
    if (phase == 'l' && last_send > first_due)
        out->send_span_s = (double)(last_send - first_due) / 1e6;
    qsort(lat, nl, sizeof *lat, bc_cmp_i64);
    out->p50_ms = s_percentile_ms(lat, nl, 0.50);
    out->p90_ms = s_percentile_ms(lat, nl, 0.90);
    out->p99_ms = s_percentile_ms(lat, nl, 0.99);
    out->max_ms = nl ? (double)lat[nl - 1] / 1000.0 : 0;
    free(lat);
    free(ws);
    free(th);
    return out->failed || out->timed_out ? -1 : 0;
}

static void s_print_outcomes(const s_result_t *r)
{
    printf("  replies: %ld CREATED, %ld other outcomes, %ld errors, %ld unmatched, %ld unanswered\n", r->created,
           r->not_created, r->errors, r->unmatched, r->sent - r->answered);
    if (r->sample[0])
        printf("  first problem: %s\n", r->sample);
}

static void s_print_batches(const s_istats_t *a, const s_istats_t *b)
{
    uint64_t batches = b->batches - a->batches, items = b->batch_items - a->batch_items;
    printf("  intake: %" PRIu64 " submissions stored in %" PRIu64 " batches (one transaction each), %.1f per batch"
           " on average\n",
           items, batches, batches ? (double)items / (double)batches : 0);
}

/* --- the ceiling ---------------------------------------------------------------------- */

static const char SQL_CEILING_INSERT[] =
    "INSERT INTO bench_ceiling (id, site, channel, kind, severity, customer_name, customer_contact, location,"
    " description, occurred_at, anonymous, reply_letter_only, first_receiver, external_source, external_id,"
    " report_count, state, received_at, respond_by)"
    " SELECT id, site, channel, kind, severity, name, contact, loc, descr, cl_us_to_ts(occ), anon, letter, recv,"
    " src, xid, cnt, $17::smallint, cl_us_to_ts($18::bigint), cl_us_to_ts($19::bigint)"
    " FROM unnest($1::bigint[], $2::text[], $3::smallint[], $4::smallint[], $5::smallint[], $6::text[],"
    " $7::text[], $8::text[], $9::text[], $10::bigint[], $11::bool[], $12::bool[], $13::text[], $14::text[],"
    " $15::text[], $16::int[])"
    " AS u(id, site, channel, kind, severity, name, contact, loc, descr, occ, anon, letter, recv, src, xid, cnt)";

typedef struct {
    long rows;          /* in all */
    int batch;          /* rows per statement */
    char phase;         /* distinct keys per pass */
    atomic_long next;   /* next chunk to take */
    atomic_bool failed;
    char error[320];
    pthread_mutex_t mu;
} s_ceiling_t;

static void s_ceiling_fail(s_ceiling_t *c, const char *what, PGconn *pg)
{
    pthread_mutex_lock(&c->mu);
    if (!c->error[0])
        snprintf(c->error, sizeof c->error, "%s: %s", what, pg ? PQerrorMessage(pg) : "");
    c->error[strcspn(c->error, "\n")] = '\0';
    pthread_mutex_unlock(&c->mu);
    atomic_store(&c->failed, true);
}

static void *s_ceiling_main(void *arg)
{
    s_ceiling_t *c = arg;
    PGconn *pg = PQconnectdb(s_opt.db);
    if (PQstatus(pg) != CONNECTION_OK)
        s_ceiling_fail(c, "cannot connect", pg);
    pthread_barrier_wait(&s_barrier);
    enum { NCOL = 16 };
    cl_buf_t col[NCOL];
    memset(col, 0, sizeof col);
    int64_t now = cl_clock_now(cl_clock_real());
    char state[8], recv[24], by[24];
    snprintf(state, sizeof state, "%d", CASELOOP__V1__CASE_STATE__CASE_STATE_RECEIVED);
    snprintf(recv, sizeof recv, "%" PRId64, now);
    snprintf(by, sizeof by, "%" PRId64, now + 86400 * CL_US_PER_S);
    while (!atomic_load(&c->failed) && !s_expired()) {
        long chunk = atomic_fetch_add(&c->next, 1);
        long from = chunk * c->batch;
        if (from >= c->rows)
            break;
        long to = from + c->batch < c->rows ? from + c->batch : c->rows;
        for (int k = 0; k < NCOL; k++)
            cl_pgarr_begin(&col[k]);
        for (long seq = from; seq < to; seq++) {
            s_case_t b;
            s_case_fill(&b, c->phase, seq, now);
            const Caseloop__V1__Case *x = &b.c;
            cl_pgarr_i64(&col[0], seq + 1);
            cl_pgarr_text(&col[1], x->site);
            cl_pgarr_i64(&col[2], x->channel);
            cl_pgarr_i64(&col[3], x->kind);
            cl_pgarr_i64(&col[4], x->severity);
            cl_pgarr_text(&col[5], x->customer_name);
            cl_pgarr_text(&col[6], x->customer_contact);
            cl_pgarr_text(&col[7], x->location);
            cl_pgarr_text(&col[8], x->description);
            cl_pgarr_i64(&col[9], x->occurred_at_us);
            cl_pgarr_bool(&col[10], false);
            cl_pgarr_bool(&col[11], false);
            cl_pgarr_text(&col[12], x->first_receiver);
            cl_pgarr_text(&col[13], x->external_source);
            cl_pgarr_text(&col[14], x->external_id);
            cl_pgarr_i64(&col[15], 1);
        }
        const char *p[NCOL + 3];
        for (int k = 0; k < NCOL; k++) {
            cl_pgarr_end(&col[k]);
            p[k] = col[k].data;
        }
        p[NCOL] = state, p[NCOL + 1] = recv, p[NCOL + 2] = by;
        PGresult *res = PQexecParams(pg, SQL_CEILING_INSERT, NCOL + 3, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            s_ceiling_fail(c, "INSERT INTO bench_ceiling failed", pg);
        PQclear(res);
    }
    for (int k = 0; k < NCOL; k++)
        cl_buf_free(&col[k]);
    PQfinish(pg);
    return NULL;
}

/* One pass with conns connections; returns rows per second, or -1. */
static double s_ceiling_pass(PGconn *pg, int conns, char phase, long rows, char *error, size_t errlen)
{
    PGresult *res = s_sql(pg, "TRUNCATE bench_ceiling");
    if (!res) {
        snprintf(error, errlen, "TRUNCATE bench_ceiling: %s", PQerrorMessage(pg));
        return -1;
    }
    PQclear(res);
    res = s_sql(pg, "CHECKPOINT");  /* every pass starts from the same WAL state */
    PQclear(res);
    s_ceiling_t c;
    memset(&c, 0, sizeof c);
    c.rows = rows;
    c.batch = s_opt.ceiling_batch;
    c.phase = phase;
    atomic_init(&c.next, 0);
    atomic_init(&c.failed, false);
    pthread_mutex_init(&c.mu, NULL);
    pthread_t th[8];
    if (pthread_barrier_init(&s_barrier, NULL, (unsigned)conns + 1) != 0)
        abort();
    for (int i = 0; i < conns; i++)
        if (pthread_create(&th[i], NULL, s_ceiling_main, &c) != 0)
            abort();
    pthread_barrier_wait(&s_barrier);
    int64_t t0 = cl_mono_us();
    for (int i = 0; i < conns; i++)
        pthread_join(th[i], NULL);
    int64_t t1 = cl_mono_us();
    pthread_barrier_destroy(&s_barrier);
    pthread_mutex_destroy(&c.mu);
    if (atomic_load(&c.failed) || s_expired()) {
        snprintf(error, errlen, "%s", c.error[0] ? c.error : "out of time");
        return -1;
    }
    res = s_sql(pg, "SELECT count(*) FROM bench_ceiling");
    long n = res ? strtol(PQgetvalue(res, 0, 0), NULL, 10) : -1;
    PQclear(res);
    if (n != rows) {
        snprintf(error, errlen, "bench_ceiling holds %ld rows, not %ld", n, rows);
        return -1;
    }
    double s = (double)(t1 - t0) / 1e6;
    printf("  %d connection%s: %ld rows in %.2f s = %.0f rows/s\n", conns, conns > 1 ? "s" : " ", rows, s,
           (double)rows / s);
    fflush(stdout);
    return (double)rows / s;
}

/* --- the run ---------------------------------------------------------------------------- */

static const char s_usage[] =
    "usage: caseloop-bench-intake [OPTION...]\n"
    "Load generator of `scripts/bench intake`: measures a running caseloop-intake and its database.\n"
    "  --router ENDPOINT   intake's ROUTER endpoint (default: $CL_INTAKE_ROUTER); ipc://, inproc:// or loopback tcp\n"
    "  --db CONNINFO       the same database as intake's (default: $CL_DB); a local one\n"
    "  --clients N         throughput: client threads, each with its own DEALER (default 4)\n"
    "  --cases N           throughput: cases in all (default 20000); also the ceiling's row count\n"
    "  --window N          throughput: requests in flight per client (default 64)\n"
    "  --rate R            latency: offered cases per second, open loop (default 2000)\n"
    "  --seconds S         latency: for how long (default 5)\n"
    "  --ceiling-batch N   ceiling: rows per INSERT statement (default 500)\n"
    "  --timeout S         give up after S seconds in all (default 120)\n"
    "  --intake-pid PID    intake's process, for CPU figures (optional)\n"
    "The last line printed is:\n"
    "  bench intake rate=<cases/s> ceiling=<rows/s> ratio=<rate/ceiling> ack_p50_ms=<ms> ack_p99_ms=<ms>\n";

static void s_parse(int argc, char **argv)
{
    static const struct option longs[] = {
        {"router", required_argument, NULL, 'r'},  {"db", required_argument, NULL, 'd'},
        {"clients", required_argument, NULL, 'c'}, {"cases", required_argument, NULL, 'n'},
        {"window", required_argument, NULL, 'w'},  {"rate", required_argument, NULL, 'R'},
        {"seconds", required_argument, NULL, 's'}, {"ceiling-batch", required_argument, NULL, 'b'},
        {"timeout", required_argument, NULL, 't'}, {"intake-pid", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    s_opt.router = getenv("CL_INTAKE_ROUTER");
    s_opt.db = getenv("CL_DB");
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (ch) {
        case 'r': s_opt.router = optarg; break;
        case 'd': s_opt.db = optarg; break;
        case 'c': s_opt.clients = (int)bc_num("--clients", optarg, 1, 256); break;
        case 'n': s_opt.cases = bc_num("--cases", optarg, 1, 1000000); break;
        case 'w': s_opt.window = (int)bc_num("--window", optarg, 1, 4096); break;
        case 'R': s_opt.rate = (double)bc_num("--rate", optarg, 1, 100000); break;
        case 's': s_opt.seconds = (double)bc_num("--seconds", optarg, 1, 60); break;
        case 'b': s_opt.ceiling_batch = (int)bc_num("--ceiling-batch", optarg, 1, 10000); break;
        case 't': s_opt.timeout_s = (int)bc_num("--timeout", optarg, 10, 3600); break;
        case 'p': s_opt.intake_pid = bc_num("--intake-pid", optarg, 1, 1L << 30); break;
        case 'h': fputs(s_usage, stdout); exit(0);
        default: fputs(s_usage, stderr); exit(2);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "bench intake: unexpected argument \"%s\"\n%s", argv[optind], s_usage);
        exit(2);
    }
    if (!s_opt.router || !*s_opt.router || !s_opt.db || !*s_opt.db) {
        fprintf(stderr, "bench intake: give --router and --db (or CL_INTAKE_ROUTER and CL_DB)\n");
        exit(2);
    }
    if (!bc_local_endpoint(s_opt.router)) {
        fprintf(stderr, "bench intake: %s is not a local endpoint (ipc://, inproc:// or loopback tcp only)\n",
                s_opt.router);
        exit(2);
    }
    if (!bc_local_db(s_opt.db)) {
        fprintf(stderr, "bench intake: the database must be local (a Unix socket or loopback)\n");
        exit(2);
    }
}

int main(int argc, char **argv)
{
    bc_program("bench intake", s_usage);
    s_parse(argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0);
    s_deadline_us = cl_mono_us() + (int64_t)s_opt.timeout_s * CL_US_PER_S;
    bc_deadline((unsigned)s_opt.timeout_s + 15);
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);  /* wake-ups on schedule to the microsecond, not 50 us late */

    char id[CL_ID_MAX + 1];
    cl_codec_new_id(id);
    s_run_num = (unsigned)(strtoull(id + 26, NULL, 16) % 1000);
    snprintf(s_run, sizeof s_run, "%.6s", id);
    snprintf(s_source, sizeof s_source, "bench-%s", s_run);

    PGconn *pg = PQconnectdb(s_opt.db);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "bench intake: cannot connect to the database: %s", PQerrorMessage(pg));
        return 1;
    }
    PQclear(s_sql(pg, "SET client_min_messages = warning"));
    s_zctx = zmq_ctx_new();
    cl_err_t err;
    cl_client_t *ctl = cl_client_new(s_zctx, s_opt.router, SENDER, &err);
    s_istats_t is0, is1, is2;
    if (!ctl || s_intake_stats(ctl, &is0) < 0) {
        fprintf(stderr, "bench intake: intake does not answer on %s\n", s_opt.router);
        return 1;
    }
    long lat_n = (long)(s_opt.rate * s_opt.seconds);
    printf("bench intake: run %s, %ld cases from %d clients with %d in flight each; then %.0f cases/s offered "
           "for %.0f s; then the plain-INSERT ceiling\n",
           s_run, s_opt.cases, s_opt.clients, s_opt.window, s_opt.rate, s_opt.seconds);

    /* 1. throughput */
    s_result_t tr, lr;
    s_snap_t a, b;
    s_snap_cpu(pg, &a);
    s_snap_wal(pg, &a);
    int rc_t = s_run_clients('t', s_opt.clients, s_opt.cases, 0, s_throughput_main, &tr);
    s_snap_cpu(pg, &b);
    s_snap_wal(pg, &b);
    s_intake_stats(ctl, &is1);
    double rate = tr.wall_s > 0 ? (double)tr.created / tr.wall_s : 0;
    printf("\nthroughput: %ld cases sent by %d clients (window %d), %ld acknowledged as CREATED in %.2f s = %.0f "
           "cases/s\n",
           tr.sent, s_opt.clients, s_opt.window, tr.created, tr.wall_s, rate);
    s_print_outcomes(&tr);
    printf("  ack latency under full load (closed loop): p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
           tr.p50_ms, tr.p90_ms, tr.p99_ms, tr.max_ms);
    s_print_batches(&is0, &is1);
    s_print_machine(&a, &b, tr.wall_s, (uint64_t)tr.created);
    if (rc_t < 0) {
        fprintf(stderr, "bench intake: aborted: the throughput phase %s\n",
                tr.timed_out ? "did not finish within the time limit" : "failed");
        return 1;
    }

    /* 2. latency at a fixed offered rate */
    s_snap_cpu(pg, &a);
    s_snap_wal(pg, &a);
    int rc_l = s_run_clients('l', s_opt.lat_clients, lat_n, s_opt.cases, s_latency_main, &lr);
    s_snap_cpu(pg, &b);
    s_snap_wal(pg, &b);
    s_intake_stats(ctl, &is2);
    printf("\nlatency: %.0f cases/s offered for %.0f s from %d clients (open loop: sent on schedule, latency = "
           "reply - scheduled time)\n",
           s_opt.rate, s_opt.seconds, s_opt.lat_clients);
    printf("  %ld sent in %.2f s (%.0f/s; the sender was at most %.2f ms behind schedule), %ld acknowledged\n",
           lr.sent, lr.send_span_s, lr.send_span_s > 0 ? (double)(lr.sent - 1) / lr.send_span_s : 0,
           (double)lr.max_send_lag_us / 1000.0, lr.created);
    s_print_outcomes(&lr);
    printf("  ack latency: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n", lr.p50_ms, lr.p90_ms, lr.p99_ms,
           lr.max_ms);
    s_print_batches(&is1, &is2);
    s_print_machine(&a, &b, lr.wall_s, (uint64_t)lr.created);
    if (rc_l < 0) {
        fprintf(stderr, "bench intake: aborted: the latency phase %s\n",
                lr.timed_out ? "did not finish within the time limit" : "failed");
        return 1;
    }

    /* 3. the ceiling */
    printf("\nceiling: %ld rows of the same shape inserted into bench_ceiling (LIKE cases INCLUDING ALL),"
           " %d rows per INSERT, each statement its own transaction\n",
           s_opt.cases, s_opt.ceiling_batch);
    PGresult *res = s_sql(pg, "DROP TABLE IF EXISTS bench_ceiling");
    PQclear(res);
    res = s_sql(pg, "CREATE TABLE bench_ceiling (LIKE cases INCLUDING ALL)");
    if (!res) {
        fprintf(stderr, "bench intake: cannot create bench_ceiling: %s", PQerrorMessage(pg));
        return 1;
    }
    PQclear(res);
    double ceiling = 0;
    int best = 0;
    static const int conns[] = {1, 2, 4};
    char error[400] = "";
    /* Passes are short: each connection count runs twice, and the best pass is the ceiling. */
    for (int round = 0; round < 2 && !error[0]; round++) {
        for (size_t i = 0; i < N_OF(conns); i++) {
            char phase = (char)('a' + round * (int)N_OF(conns) + (int)i);
            double r = s_ceiling_pass(pg, conns[i], phase, s_opt.cases, error, sizeof error);
            if (r < 0)
                break;
            if (r > ceiling)
                ceiling = r, best = conns[i];
        }
    }
    res = s_sql(pg, "DROP TABLE IF EXISTS bench_ceiling");
    PQclear(res);
    if (error[0]) {
        fprintf(stderr, "bench intake: aborted: the ceiling failed: %s\n", error);
        return 1;
    }
    printf("  ceiling = %.0f rows/s (%d connection%s)\n", ceiling, best, best > 1 ? "s" : "");

    double ratio = ceiling > 0 ? rate / ceiling : 0;
    bool clean = tr.created == tr.sent && lr.created == lr.sent && tr.unmatched + lr.unmatched == 0;
    printf("\nintake acknowledged %.0f cases/s, %.2f of the %.0f rows/s that plain INSERTs of the same rows reach.\n"
           "Per case intake also checks the idempotency key and open cases for duplicates, takes a case number,\n"
           "appends one event row, commits before it acknowledges, and publishes the event.\n",
           rate, ratio, ceiling);
    if (!clean)
        printf("WARNING: not every request was acknowledged as CREATED (see the replies lines above)\n");
    printf("bench intake rate=%.0f ceiling=%.0f ratio=%.2f ack_p50_ms=%.2f ack_p99_ms=%.2f\n", rate, ceiling, ratio,
           lr.p50_ms, lr.p99_ms);
    cl_client_destroy(&ctl);
    zmq_ctx_term(s_zctx);
    PQfinish(pg);
    return clean ? 0 : 1;
}
