/* bench_dispatch.c - caseloop-bench-dispatch, the load generator behind `scripts/bench dispatch`
 * (and `scripts/bench callbacks`, whose closings are cases too: modes close-*).
 *
 * It runs once per mode; scripts/bench owns the processes (intake, the dispatcher, PostgreSQL)
 * and runs the modes in this order:
 *   --mode latency  (dispatcher running) loads a policy of 3 sites whose staff are on shift
 *                   all day, then offers cases to intake at a fixed rate, open loop, from
 *                   several pipelining DEALERs, and takes for each case the time its
 *                   CaseAssigned event shows on the dispatcher's PUB (SUB "CaseAssigned")
 *                   minus the time the case was due to be sent. Events the PUB dropped are
 *                   counted; when more than 1% of the cases lack one, their dispatched_at
 *                   from the dispatches table stands in (same machine, same clock).
 *                   Last line: latency p50_ms=<ms> p99_ms=<ms>
 *   --mode backlog  (dispatcher stopped) submits N cases to intake and exits.
 *                   Last line: backlog cases=<N>
 *   --mode drain    (started before the dispatcher) reads the backlog (cases without a
 *                   dispatch), creates --armed-file, waits for READY in --ready-file (the
 *                   dispatcher's CL_NOTIFY_FD), then polls SELECT count(*) FROM dispatches
 *                   every 20 ms until every case has one. rate = backlog / elapsed.
 *                   Last line: drain rate=<cases/s>
 *   --mode policy   (dispatcher running) loads the policy of the latency mode and exits, for
 *                   a run that makes a backlog without measuring the latency first.
 *                   Last line: policy version=<N>
 * Exit status: 0; 1 when a case was refused, lost or never dispatched, or the run failed or
 * ran out of time (the last line is printed when there is a figure); 2 on a usage error.
 * Only local endpoints (ipc://, inproc://, loopback tcp) and a local database. */
#include "cl.h"
#include "cl_client.h"
#include "bench_common.h"
#include "policy_fixture.h"
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
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
#define MAX_CLIENTS 64

typedef enum {
    MODE_NONE,
    MODE_LATENCY,
    MODE_BACKLOG,
    MODE_DRAIN,
    MODE_POLICY,
    MODE_CLOSE_LATENCY,
    MODE_CLOSE_BACKLOG,
    MODE_CLOSE_DRAIN
} s_mode_t;

typedef struct {
    s_mode_t mode;
    const char *intake;      /* intake's ROUTER */
    const char *dispatcher;  /* the dispatcher's ROUTER */
    const char *events;      /* the dispatcher's PUB */
    const char *db;
    int clients;
    double rate;
    double seconds;
    double grace;
    long cases;
    int window;
    const char *ready_file;
    const char *armed_file;
    const char *pid_file;
    int timeout_s;
    long dispatcher_pid;
    long intake_pid;
} s_opts_t;

static s_opts_t s_opt = {.mode = MODE_NONE, .clients = 4, .rate = 2000, .seconds = 5, .grace = 15,
                         .cases = 20000, .window = 64, .timeout_s = 120};
static void *s_zctx;
static int64_t s_deadline_us;  /* monotonic: the run gives up after this */
static bc_run_t s_run;         /* this run's tag: in idempotency keys and message ids */

static bool s_expired(void)
{
    return cl_mono_us() > s_deadline_us;
}

/* --- the policy: 3 sites, everybody on shift all day ---------------------------------- */

static const char *const s_sites[] = {"site-a", "site-b", "site-c", NULL};

/* The bench policy's callbacks: four 6-hour windows a day, a thousand callbacks each for a
   performer, so that a closing's slot is found within days, not searched for weeks. */
#define S_CALLBACKS                                                                                                 \
    ",\"callbacks\":{\"per_window\":1000,\"windows\":[\"00:00-06:00\",\"06:00-12:00\",\"12:00-18:00\","     \
    "\"18:00-24:00\"]}"

/* Loads the bench policy through the dispatcher. Returns its version, or -1 (said on stderr). */
static int s_load_policy(cl_client_t *dispatcher)
{
    cl_buf_t doc = {0};
    cl_fixture_policy(&doc, s_sites, NULL, S_CALLBACKS);
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__LoadPolicy body = CASELOOP__V1__LOAD_POLICY__INIT;
    body.document = doc.data;
    body.source = "caseloop-bench-dispatch";
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_LOAD_POLICY;
    env.load_policy = &body;
    cl_err_t err;
    cl_err_clear(&err);
    cl_env_t *reply = cl_client_call(dispatcher, &env, 10000, &err);
    cl_buf_free(&doc);
    int rc = -1;
    if (!reply)
        fprintf(stderr, "bench dispatch: LoadPolicy: no answer from the dispatcher: %s\n", err.message);
    else if (reply->body_case == CASELOOP__V1__ENVELOPE__BODY_LOAD_POLICY_REPLY && reply->load_policy_reply) {
        printf("policy version %u loaded: %zu sites (site-a, site-b, site-c), 11 staff each, everybody on shift"
               " all day\n",
               reply->load_policy_reply->version, reply->load_policy_reply->n_sites);
        rc = (int)reply->load_policy_reply->version;
    } else if (reply->body_case == CASELOOP__V1__ENVELOPE__BODY_ERROR && reply->error)
        fprintf(stderr, "bench dispatch: the policy was refused: %s: %s\n",
                reply->error->field ? reply->error->field : "", reply->error->message ? reply->error->message : "");
    else
        fprintf(stderr, "bench dispatch: LoadPolicy answered with %s\n", cl_codec_body_name(reply));
    cl_codec_free(reply);
    return rc;
}

/* --- requests, replies and events ---------------------------------------------------- */

typedef struct {
    cl_buf_t frame;     /* the encoded SubmitCase */
    int64_t due_us;     /* monotonic: when it was to leave (open loop) */
    int64_t sent_us;    /* monotonic: when it left */
    int64_t ack_us;     /* monotonic: answered; 0 while not */
    int64_t event_us;   /* monotonic: its CaseAssigned seen on the PUB; 0 while not */
    int64_t db_us;      /* real clock: its dispatched_at, when read from the table; 0 if not */
    uint64_t case_id;   /* from the reply; 0 until CREATED */
} s_req_t;

/* case_id -> request index, or an event heard before the reply (index -1). */
typedef struct {
    uint64_t case_id;   /* 0: empty */
    long index;
    int64_t event_us;
} s_slot_t;

typedef struct {
    char phase;
    char prefix[32];    /* message ids are prefix + request index */
    s_req_t *reqs;
    long n;
    s_slot_t *slots;
    size_t nslots, used;
    cl_client_t *clients[MAX_CLIENTS];
    void *dealers[MAX_CLIENTS];  /* each client's DEALER, which the generator pipelines on */
    int nclients;
    void *sub;
    /* counters over the requests [from, to) of the loop running */
    long from, to;
    long sent, answered, created, not_created, errors, unmatched, events, events_other, events_late;
    int64_t last_heard_us;  /* monotonic: the last reply or event taken */
    int64_t max_send_lag_us;
    char sample[320];   /* the first thing that went wrong */
} s_gen_t;

static void s_sample(s_gen_t *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_sample(s_gen_t *g, const char *fmt, ...)
{
    if (g->sample[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->sample, sizeof g->sample, fmt, ap);
    va_end(ap);
}

static s_slot_t *s_slot(s_gen_t *g, uint64_t case_id, bool add)
{
    size_t mask = g->nslots - 1;
    for (size_t i = (size_t)(case_id * 0x9E3779B97F4A7C15ULL) & mask;; i = (i + 1) & mask) {
        if (g->slots[i].case_id == case_id)
            return &g->slots[i];
        if (g->slots[i].case_id == 0) {
            if (!add || g->used * 4 >= g->nslots * 3)
                return NULL;
            g->used++;
            g->slots[i].case_id = case_id;
            g->slots[i].index = -1;
            return &g->slots[i];
        }
    }
}

/* Encodes the requests [0, n) ahead of time. */
static void s_prepare(s_gen_t *g, char phase, long n, long first_seq)
{
    memset(g, 0, sizeof *g);
    g->phase = phase;
    g->n = n;
    snprintf(g->prefix, sizeof g->prefix, "bench-%s-%c", s_run.tag, phase);
    g->reqs = calloc((size_t)n + 1, sizeof *g->reqs);
    g->nslots = 1024;
    while (g->nslots < (size_t)n * 4)
        g->nslots *= 2;
    g->slots = calloc(g->nslots, sizeof *g->slots);
    if (!g->reqs || !g->slots)
        abort();
    int64_t now = cl_clock_now(cl_clock_real());
    for (long k = 0; k < n; k++) {
        bc_case_t b;
        bc_case_fill(&b, &s_run, s_sites, phase, first_seq + k, now);
        cl_env_t env;
        char idbuf[CL_ID_MAX + 1], id[CL_ID_MAX + 1];
        cl_codec_init(&env, idbuf, SENDER, now);
        snprintf(id, sizeof id, "%s%ld", g->prefix, k);
        env.message_id = id;
        env.site = b.c.site;
        Caseloop__V1__SubmitCase body = CASELOOP__V1__SUBMIT_CASE__INIT;
        body.details = &b.c;
        env.body_case = CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE;
        env.submit_case = &body;
        cl_codec_encode(&env, &g->reqs[k].frame);
    }
}

static void s_release(s_gen_t *g)
{
    for (long k = 0; k < g->n; k++)
        cl_buf_free(&g->reqs[k].frame);
    free(g->reqs);
    free(g->slots);
    for (int i = 0; i < g->nclients; i++) {
        cl_client_destroy(&g->clients[i]);
        g->dealers[i] = NULL;
    }
    if (g->sub)
        zmq_close(g->sub);
    g->reqs = NULL;
    g->slots = NULL;
    g->sub = NULL;
}

/* One GetStats round trip: the DEALER is connected before anything is measured. */
static int s_ping(cl_client_t *client, int timeout_ms)
{
    cl_err_t err;
    cl_env_t *reply = cl_client_stats(client, timeout_ms, &err);
    cl_codec_free(reply);
    return reply ? 0 : -1;
}

static int s_connect_clients(s_gen_t *g, int n)
{
    for (int i = 0; i < n; i++) {
        cl_err_t err;
        g->clients[i] = cl_client_new(s_zctx, s_opt.intake, SENDER, &err);
        if (!g->clients[i]) {
            fprintf(stderr, "bench dispatch: %s\n", err.message);
            return -1;
        }
        g->nclients = i + 1;
        if (s_ping(g->clients[i], 10000) < 0) {
            fprintf(stderr, "bench dispatch: intake does not answer on %s\n", s_opt.intake);
            return -1;
        }
        g->dealers[i] = cl_client_socket(g->clients[i]);
    }
    return 0;
}

static void s_reply(s_gen_t *g, const void *data, size_t len, int64_t now)
{
    cl_err_t err;
    cl_err_clear(&err);
    cl_env_t *env = cl_codec_decode(data, len, SIZE_MAX, &err);
    if (!env) {
        g->unmatched++;
        s_sample(g, "unreadable reply: %s", err.message);
        return;
    }
    const char *corr = env->correlation_id ? env->correlation_id : "";
    size_t plen = strlen(g->prefix);
    char *end = NULL;
    long k = strncmp(corr, g->prefix, plen) == 0 ? strtol(corr + plen, &end, 10) : -1;
    if (k < g->from || k >= g->to || !end || *end || !g->reqs[k].sent_us || g->reqs[k].ack_us) {
        g->unmatched++;
        s_sample(g, "reply to no request of ours (\"%s\")", corr);
        cl_codec_free(env);
        return;
    }
    s_req_t *r = &g->reqs[k];
    r->ack_us = now;
    g->answered++;
    if (env->body_case == CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE_REPLY && env->submit_case_reply &&
        env->submit_case_reply->has_outcome &&
        env->submit_case_reply->outcome == CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_CREATED &&
        env->submit_case_reply->case_id > 0) {
        r->case_id = env->submit_case_reply->case_id;
        g->created++;
        s_slot_t *s = s_slot(g, r->case_id, true);
        if (s) {
            s->index = k;
            if (s->event_us) {  /* the event came first */
                r->event_us = s->event_us;
                g->events++;
            }
        }
    } else if (env->body_case == CASELOOP__V1__ENVELOPE__BODY_CASE_COMMAND_REPLY && r->case_id) {
        g->created++;  /* a closing: its case is closed */
    } else if (env->body_case == CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE_REPLY) {
        g->not_created++;
        s_sample(g, "case %c%ld answered, but not CREATED (case %" PRIu64 ")", g->phase, k,
                 env->submit_case_reply ? env->submit_case_reply->case_id : 0);
    } else {
        g->errors++;
        if (env->body_case == CASELOOP__V1__ENVELOPE__BODY_ERROR && env->error)
            s_sample(g, "case %c%ld refused: %s (%s): %s", g->phase, k, cl_err_code_name(env->error->code),
                     env->error->field ? env->error->field : "", env->error->message ? env->error->message : "");
        else
            s_sample(g, "case %c%ld answered with %s", g->phase, k, cl_codec_body_name(env));
    }
    cl_codec_free(env);
}

static void s_event(s_gen_t *g, const void *data, size_t len, int64_t now)
{
    cl_err_t err;
    cl_env_t *env = cl_codec_decode(data, len, SIZE_MAX, &err);
    if (!env)
        return;
    uint64_t case_id = 0;
    if (env->body_case == CASELOOP__V1__ENVELOPE__BODY_CASE_ASSIGNED && env->case_assigned)
        case_id = env->case_assigned->case_id;
    else if (env->body_case == CASELOOP__V1__ENVELOPE__BODY_CALLBACK_SCHEDULED && env->callback_scheduled->callback)
        case_id = env->callback_scheduled->callback->case_id;
    else if (env->body_case == CASELOOP__V1__ENVELOPE__BODY_CALLBACK_SKIPPED)
        case_id = env->callback_skipped->case_id;
    if (case_id) {
        s_slot_t *s = s_slot(g, case_id, true);
        if (s && s->index >= 0) {
            s_req_t *r = &g->reqs[s->index];
            if (!r->event_us) {
                r->event_us = now;
                if (s->index >= g->from && s->index < g->to)
                    g->events++;
                else
                    g->events_late++;
            }
        } else if (s && !s->event_us) {
            s->event_us = now;  /* a case whose reply has not come (yet), or not one of ours */
        } else if (!s) {
            g->events_other++;
        }
    }
    cl_codec_free(env);
}

/* Takes everything queued on the DEALERs and the SUB. */
static void s_receive(s_gen_t *g)
{
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    for (int i = 0; i < g->nclients; i++) {
        while (zmq_msg_recv(&msg, g->dealers[i], ZMQ_DONTWAIT) >= 0) {
            int64_t now = g->last_heard_us = cl_mono_us();
            if (zmq_msg_more(&msg)) {  /* not what intake sends: skip the whole message */
                g->unmatched++;
                s_sample(g, "reply of more than one frame");
                while (zmq_msg_more(&msg) && zmq_msg_recv(&msg, g->dealers[i], 0) >= 0)
                    ;
                continue;
            }
            s_reply(g, zmq_msg_data(&msg), zmq_msg_size(&msg), now);
        }
    }
    while (g->sub && zmq_msg_recv(&msg, g->sub, ZMQ_DONTWAIT) >= 0) {  /* [topic][envelope] */
        int64_t now = g->last_heard_us = cl_mono_us();
        if (!zmq_msg_more(&msg) || zmq_msg_recv(&msg, g->sub, 0) < 0)
            continue;
        s_event(g, zmq_msg_data(&msg), zmq_msg_size(&msg), now);
        while (zmq_msg_more(&msg) && zmq_msg_recv(&msg, g->sub, 0) >= 0)
            ;
    }
    zmq_msg_close(&msg);
}

/* True when any socket has something to read (their FDs are edge-triggered). */
static bool s_readable(s_gen_t *g)
{
    for (int i = 0; i <= g->nclients; i++) {
        void *s = i < g->nclients ? g->dealers[i] : g->sub;
        if (!s)
            continue;
        uint32_t ev = 0;
        size_t len = sizeof ev;
        if (zmq_getsockopt(s, ZMQ_EVENTS, &ev, &len) == 0 && (ev & ZMQ_POLLIN))
            return true;
    }
    return false;
}

/* Sends requests [from, to) at rate per second from t0 (open loop: on schedule whatever
   the replies do; request k on client k % clients), and takes replies and events until
   every case is answered and, when wait_events, has its event, or until grace_us after the
   last send, or 2 s after the last reply or event once all are sent and answered (the
   missing events were dropped). Returns 0, -1 when a send failed or the run ran out of time. */
static int s_loop(s_gen_t *g, long from, long to, double rate, int64_t t0, int64_t grace_us, bool wait_events)
{
    g->from = from, g->to = to;
    g->sent = g->answered = g->created = g->not_created = g->errors = g->unmatched = g->events = 0;
    g->max_send_lag_us = 0;
    struct pollfd fds[MAX_CLIENTS + 1];
    int nfds = 0;
    for (int i = 0; i <= g->nclients; i++) {
        void *s = i < g->nclients ? g->dealers[i] : g->sub;
        if (!s)
            continue;
        int fd = -1;
        size_t len = sizeof fd;
        if (zmq_getsockopt(s, ZMQ_FD, &fd, &len) < 0)
            return -1;
        fds[nfds].fd = fd, fds[nfds].events = POLLIN, fds[nfds++].revents = 0;
    }
    long next = from;
    int64_t stop_at = INT64_MAX;
    for (;;) {
        int64_t now = cl_mono_us();
        while (next < to) {
            s_req_t *r = &g->reqs[next];
            r->due_us = t0 + (int64_t)((double)(next - from) * 1e6 / rate);
            if (r->due_us > now)
                break;
            if (zmq_send(g->dealers[next % g->nclients], r->frame.data, r->frame.len, 0) < 0) {
                s_sample(g, "could not send: %s", zmq_strerror(errno));
                return -1;
            }
            r->sent_us = now = cl_mono_us();
            if (now - r->due_us > g->max_send_lag_us)
                g->max_send_lag_us = now - r->due_us;
            g->sent++;
            next++;
        }
        if (next == to && stop_at == INT64_MAX)
            stop_at = now + grace_us;
        s_receive(g);
        if (next == to && g->answered == to - from && (!wait_events || g->events >= g->created))
            return 0;
        now = cl_mono_us();
        if (now > stop_at)
            return 0;
        if (next == to && g->answered == to - from && now - g->last_heard_us > 2 * CL_US_PER_S)
            return 0;
        if (s_expired()) {
            s_sample(g, "out of time");
            return -1;
        }
        if (s_readable(g))
            continue;
        /* requests[next].due_us was set when the sending stopped at it */
        int64_t wait_us = next < to ? g->reqs[next].due_us - now : 100000;
        if (wait_us <= 0)
            continue;
        struct timespec ts = {wait_us / CL_US_PER_S, (wait_us % CL_US_PER_S) * 1000};
        ppoll(fds, (nfds_t)nfds, &ts, NULL);
    }
}

/* --- figures --------------------------------------------------------------------------- */

static void s_print_dist(const char *what, bc_dist_t d)
{
    if (d.n)
        printf("  %-44s p50 %8.2f ms  p90 %8.2f ms  p99 %8.2f ms  max %8.2f ms  (%zu cases)\n", what, d.p50, d.p90,
               d.p99, d.max, d.n);
    else
        printf("  %-44s no cases\n", what);
}

/* Where the CPU went: the services, their database backends (by application_name), the
   machine; and the writing transactions PostgreSQL committed. */
typedef struct {
    int64_t mono;
    double disp, intake, self, machine_busy, machine_all, iowait, xid;
    long pids[64];
    double cpu[64];
    char app[64];   /* per pid: 'd' dispatcher's, 'i' intake's, 'b' ours, '-' other */
    int n;
} s_snap_t;

static void s_snap(PGconn *pg, long disp_pid, s_snap_t *s)
{
    memset(s, 0, sizeof *s);
    s->mono = cl_mono_us();
    s->disp = disp_pid > 0 ? bc_proc_cpu(disp_pid) : -1;
    s->intake = s_opt.intake_pid > 0 ? bc_proc_cpu(s_opt.intake_pid) : -1;
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
    /* Every PostgreSQL process: client backends by application_name, ours, the rest
       (autovacuum, WAL writer, checkpointer, ...). */
    PGresult *res = bc_sql(pg,
                           "SELECT pid, CASE WHEN pid = pg_backend_pid() THEN 'b'"
                           " WHEN application_name = 'caseloop-dispatcher' THEN 'd'"
                           " WHEN application_name = 'caseloop-intake' THEN 'i' ELSE '-' END FROM pg_stat_activity",
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
    double disp_db = 0, intake_db = 0, own_db = 0, other = 0;
    for (int i = 0; i < b->n; i++)
        for (int j = 0; j < a->n; j++)
            if (a->pids[j] == b->pids[i] && a->cpu[j] >= 0 && b->cpu[i] >= 0) {
                double d = b->cpu[i] - a->cpu[j];
                *(b->app[i] == 'd' ? &disp_db : b->app[i] == 'i' ? &intake_db : b->app[i] == 'b' ? &own_db : &other) += d;
            }
    printf("  cpu (100%% = one core of %ld):", sysconf(_SC_NPROCESSORS_ONLN));
    if (a->disp >= 0 && b->disp >= 0)
        printf(" dispatcher %.0f%%,", 100.0 * (b->disp - a->disp) / wall);
    printf(" its database backend %.0f%%,", 100.0 * disp_db / wall);
    if (a->intake >= 0 && b->intake >= 0)
        printf(" intake %.0f%%,", 100.0 * (b->intake - a->intake) / wall);
    printf(" intake's backends %.0f%%, other postgres processes %.0f%%, load generator %.0f%% (+ its backend %.0f%%)\n",
           100.0 * intake_db / wall, 100.0 * other / wall, 100.0 * (b->self - a->self) / wall, 100.0 * own_db / wall);
    double all = b->machine_all - a->machine_all;
    if (all > 0)
        printf("  machine: busy %.0f%%, waiting on I/O %.0f%%; postgres committed %.0f writing transactions"
               " (%.0f/s)\n",
               100.0 * (b->machine_busy - a->machine_busy) / all, 100.0 * (b->iowait - a->iowait) / all,
               b->xid - a->xid, (b->xid - a->xid) / wall);
}

/* The dispatcher's counters (GetStats) that tell how it went. */
typedef struct {
    uint64_t events_applied, cases_dispatched, cases_queued;
    bool ok;
} s_dstats_t;

static s_dstats_t s_dispatcher_stats(cl_client_t *dispatcher)
{
    s_dstats_t st = {0, 0, 0, false};
    if (!dispatcher)
        return st;
    cl_err_t err;
    cl_env_t *reply = cl_client_stats(dispatcher, 10000, &err);
    if (reply) {
        const Caseloop__V1__StatsReply *r = reply->stats_reply;
        st.events_applied = cl_client_counter(r, "events_applied");
        st.cases_dispatched = cl_client_counter(r, "cases_dispatched");
        st.cases_queued = cl_client_counter(r, "cases_queued");
        st.ok = true;
    }
    cl_codec_free(reply);
    return st;
}

/* Transactions of the dispatcher among the rows selected by `where` on dispatches
   (each batch stamps its rows with one dispatched_at): how many, how big. */
static void s_print_batches(PGconn *pg, const char *where, int n, const char *const *params)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*), coalesce(round(avg(c), 1), 0), coalesce(max(c), 0),"
             " coalesce(percentile_disc(0.5) WITHIN GROUP (ORDER BY c), 0)"
             " FROM (SELECT count(*) c FROM dispatches WHERE %s GROUP BY dispatched_at) b",
             where);
    PGresult *res = bc_sql(pg, sql, n, params);
    if (res && PQntuples(res) == 1)
        printf("  dispatcher transactions (rows of dispatches sharing one dispatched_at): %s, cases per"
               " transaction: mean %s, median %s, max %s\n",
               PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 2));
    PQclear(res);
}

/* --- latency ----------------------------------------------------------------------------- */

#define WARMUP 30

static int s_latency(PGconn *pg)
{
    cl_err_t err;
    cl_client_t *ctl = cl_client_new(s_zctx, s_opt.dispatcher, SENDER, &err);
    if (!ctl || s_ping(ctl, 10000) < 0) {
        fprintf(stderr, "bench dispatch: the dispatcher does not answer on %s\n", s_opt.dispatcher);
        return 1;
    }
    if (s_load_policy(ctl) < 0)
        return 1;

    long n = (long)(s_opt.rate * s_opt.seconds);
    s_gen_t g;
    s_prepare(&g, 'l', WARMUP + n, 0);
    if (s_connect_clients(&g, s_opt.clients) < 0)
        return 1;
    g.sub = zmq_socket(s_zctx, ZMQ_SUB);
    int hwm = 1000000, linger = 0;
    zmq_setsockopt(g.sub, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(g.sub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(g.sub, ZMQ_SUBSCRIBE, "CaseAssigned", strlen("CaseAssigned"));
    if (zmq_connect(g.sub, s_opt.events) != 0) {
        fprintf(stderr, "bench dispatch: cannot connect to %s: %s\n", s_opt.events, zmq_strerror(errno));
        return 1;
    }

    /* Warm-up: a few cases until their events come back, which also shows the
       subscription is in place (a SUB hears nothing until it is). */
    printf("warm-up: %d cases at 100/s, until their CaseAssigned events are heard (at most 5 s)\n", WARMUP);
    bc_sleep_us(200000);  /* time for the SUB to connect and subscribe */
    int rc = s_loop(&g, 0, WARMUP, 100, cl_mono_us() + 1000, 5 * CL_US_PER_S, true);
    if (rc < 0 || g.created < WARMUP || g.events == 0) {
        fprintf(stderr,
                "bench dispatch: warm-up failed: %ld of %d cases CREATED, %ld CaseAssigned events heard on %s%s%s\n",
                g.created, WARMUP, g.events, s_opt.events, g.sample[0] ? "; " : "", g.sample);
        return 1;
    }

    s_dstats_t d0 = s_dispatcher_stats(ctl), d1;
    s_snap_t a, b;
    s_snap(pg, s_opt.dispatcher_pid, &a);
    int64_t real_off = cl_clock_now(cl_clock_real()) - cl_mono_us();
    printf("\nlatency: %.0f cases/s offered to intake for %.0f s (%ld cases), open loop from %d pipelining DEALER"
           " clients;\n  latency per case = its CaseAssigned event heard on the dispatcher's PUB - the time the case"
           " was due to be sent\n",
           s_opt.rate, s_opt.seconds, n, s_opt.clients);
    rc = s_loop(&g, WARMUP, WARMUP + n, s_opt.rate, cl_mono_us() + 10000, (int64_t)(s_opt.grace * 1e6), true);
    s_snap(pg, s_opt.dispatcher_pid, &b);
    d1 = s_dispatcher_stats(ctl);
    int64_t first_due = g.reqs[WARMUP].due_us, last_sent = 0;
    for (long k = WARMUP; k < WARMUP + n; k++)
        last_sent = g.reqs[k].sent_us > last_sent ? g.reqs[k].sent_us : last_sent;
    double span = last_sent > first_due ? (double)(last_sent - first_due) / 1e6 : 0;
    printf("  %ld sent in %.2f s (%.0f/s; at most %.2f ms behind schedule); replies: %ld CREATED, %ld other"
           " outcomes, %ld errors, %ld unmatched, %ld unanswered\n",
           g.sent, span, span > 0 ? (double)(g.sent - 1) / span : 0, (double)g.max_send_lag_us / 1000.0, g.created,
           g.not_created, g.errors, g.unmatched, g.sent - g.answered);
    if (g.sample[0])
        printf("  first problem: %s\n", g.sample);
    long missing = g.created - g.events;
    printf("  CaseAssigned events heard for %ld of the %ld cases; %ld not heard (dropped by the PUB, or not"
           " dispatched within %.0f s of the last send)\n",
           g.events, g.created, missing, s_opt.grace);
    bool clean = rc == 0 && g.created == n && g.unmatched == 0;

    /* The dispatches table: every case's dispatched_at (waiting, bounded, for stragglers). */
    cl_buf_t ids = {0};
    cl_pgarr_begin(&ids);
    for (long k = WARMUP; k < WARMUP + n; k++)
        if (g.reqs[k].case_id)
            cl_pgarr_i64(&ids, (int64_t)g.reqs[k].case_id);
    cl_pgarr_end(&ids);
    const char *p[] = {ids.data};
    long long in_table = 0;
    int64_t give_up = cl_mono_us() + 20 * CL_US_PER_S;
    while ((in_table = bc_scalar(pg, "SELECT count(*) FROM dispatches WHERE case_id = ANY($1::bigint[])", 1, p)) >= 0 &&
           in_table < g.created && cl_mono_us() < give_up && !s_expired())
        bc_sleep_us(20000);
    PGresult *res = bc_sql(pg, "SELECT case_id, cl_ts_to_us(dispatched_at) FROM dispatches"
                              " WHERE case_id = ANY($1::bigint[])",
                           1, p);
    if (res) {
        for (int r = 0; r < PQntuples(res); r++) {
            s_slot_t *s = s_slot(&g, strtoull(PQgetvalue(res, r, 0), NULL, 10), false);
            if (s && s->index >= 0)
                g.reqs[s->index].db_us = strtoll(PQgetvalue(res, r, 1), NULL, 10);
        }
    }
    PQclear(res);
    if (in_table < g.created) {
        printf("  %lld of the %ld cases have no dispatch 20 s after the run\n", g.created - in_table, g.created);
        clean = false;
    }

    bool use_db = g.created > 0 && (double)missing > 0.01 * (double)g.created;
    int64_t *v = malloc(sizeof *v * ((size_t)n + 1) * 5);
    if (!v)
        abort();
    int64_t *pub = v, *final = v + n + 1, *db = v + 2 * (n + 1), *ack = v + 3 * (n + 1), *ack_ev = v + 4 * (n + 1);
    size_t npub = 0, nfinal = 0, ndb = 0, nack = 0, nack_ev = 0, from_db = 0, unknown = 0;
    for (long k = WARMUP; k < WARMUP + n; k++) {
        const s_req_t *r = &g.reqs[k];
        if (r->ack_us)
            ack[nack++] = r->ack_us - r->due_us;
        if (!r->case_id)
            continue;
        if (r->event_us) {
            pub[npub++] = r->event_us - r->due_us;
            ack_ev[nack_ev++] = r->event_us - r->ack_us;
            final[nfinal++] = r->event_us - r->due_us;
        } else if (use_db && r->db_us) {
            final[nfinal++] = r->db_us - (r->due_us + real_off);
            from_db++;
        } else if (use_db) {
            unknown++;
        }
        if (r->db_us)
            db[ndb++] = r->db_us - (r->due_us + real_off);
    }
    bc_dist_t dpub = bc_dist(pub, npub), dfinal = bc_dist(final, nfinal), ddb = bc_dist(db, ndb), dack = bc_dist(ack, nack),
             dackev = bc_dist(ack_ev, nack_ev);
    s_print_dist("sent -> CaseAssigned heard on the PUB:", dpub);
    s_print_dist("sent -> dispatched_at (dispatches table):", ddb);
    s_print_dist("sent -> intake's ack:", dack);
    s_print_dist("intake's ack -> CaseAssigned heard:", dackev);
    printf("  (sent = the case's scheduled send time. dispatched_at is stamped when the dispatcher starts the\n"
           "   transaction, before it writes and commits, by the same machine's real-time clock as ours; the event\n"
           "   is published after the commit.)\n");
    if (use_db) {
        printf("  more than 1%% of the events were not heard: the result takes dispatched_at from the table for"
               " those %zu cases%s\n",
               from_db, unknown ? " (some have no dispatch at all: left out)" : "");
        s_print_dist("result (PUB, else dispatched_at):", dfinal);
    } else if (missing > 0) {
        printf("  %ld events not heard (at most 1%%): the result is over the cases whose event was heard\n",
               missing);
    }
    s_print_batches(pg, "case_id = ANY($1::bigint[])", 1, p);
    if (d0.ok && d1.ok)
        printf("  dispatcher counters over the run: events_applied +%" PRIu64 ", cases_dispatched +%" PRIu64
               ", cases_queued +%" PRIu64 " (it reads its own CaseDispatched/CaseAssigned back from the log:"
               " about 3 events a case)\n",
               d1.events_applied - d0.events_applied, d1.cases_dispatched - d0.cases_dispatched,
               d1.cases_queued - d0.cases_queued);
    s_print_cpu(&a, &b);
    cl_buf_free(&ids);
    free(v);
    if (!clean)
        printf("WARNING: not every case was CREATED and dispatched (see above)\n");
    printf("latency p50_ms=%.2f p99_ms=%.2f\n", dfinal.p50, dfinal.p99);
    s_release(&g);
    cl_client_destroy(&ctl);
    return clean && dfinal.n ? 0 : 1;
}

/* --- backlog ------------------------------------------------------------------------------ */

/* Sends requests [0, g->n) of g as fast as --window in flight per client allows, until each
   is answered (or the run runs out of time). Returns the seconds it took. */
static double s_send_all(s_gen_t *g)
{
    g->from = 0, g->to = g->n;
    g->sent = g->answered = g->created = g->not_created = g->errors = g->unmatched = 0;
    int64_t t0 = cl_mono_us();
    long next = 0;
    while (g->answered < g->n && !s_expired()) {
        while (next < g->n && g->sent - g->answered < (long)s_opt.window * g->nclients) {
            s_req_t *r = &g->reqs[next];
            r->due_us = r->sent_us = cl_mono_us();
            if (zmq_send(g->dealers[next % g->nclients], r->frame.data, r->frame.len, 0) < 0) {
                s_sample(g, "could not send: %s", zmq_strerror(errno));
                return -1;
            }
            g->sent++;
            next++;
        }
        s_receive(g);
        if (!s_readable(g)) {
            zmq_pollitem_t items[MAX_CLIENTS];
            for (int i = 0; i < g->nclients; i++)
                items[i] = (zmq_pollitem_t){g->dealers[i], 0, ZMQ_POLLIN, 0};
            zmq_poll(items, g->nclients, 100);
        }
    }
    return (double)(cl_mono_us() - t0) / 1e6;
}

static int s_backlog(void)
{
    s_gen_t g;
    s_prepare(&g, 'b', s_opt.cases, 0);
    if (s_connect_clients(&g, s_opt.clients) < 0)
        return 1;
    printf("backlog: %ld cases submitted to intake from %d DEALER clients, %d in flight each (the dispatcher is"
           " stopped)\n",
           s_opt.cases, s_opt.clients, s_opt.window);
    double s = s_send_all(&g);
    printf("  %ld CREATED in %.2f s (%.0f cases/s), %ld other outcomes, %ld errors, %ld unmatched, %ld"
           " unanswered\n",
           g.created, s, s > 0 ? (double)g.created / s : 0, g.not_created, g.errors, g.unmatched,
           g.sent - g.answered);
    if (g.sample[0])
        printf("  first problem: %s\n", g.sample);
    bool clean = g.created == s_opt.cases && g.unmatched == 0;
    printf("backlog cases=%ld\n", g.created);
    s_release(&g);
    return clean ? 0 : 1;
}

/* --- closings (the callback-scheduler) ---------------------------------------------------- */

/* Submits g's cases, makes each a resolved complaint of a named customer (by SQL: the steps
   to get there are not what is measured) and turns g's requests into the closings of those
   cases (CaseCommand CLOSE), each of which the callback-scheduler decides. Returns 0, or -1. */
static int s_make_closings(PGconn *pg, s_gen_t *g)
{
    double took = s_send_all(g);
    if (g->created != g->n) {
        fprintf(stderr, "bench dispatch: only %ld of %ld cases CREATED%s%s\n", g->created, g->n,
                g->sample[0] ? ": " : "", g->sample);
        return -1;
    }
    cl_buf_t ids = {0};
    cl_pgarr_begin(&ids);
    for (long k = 0; k < g->n; k++)
        cl_pgarr_i64(&ids, (int64_t)g->reqs[k].case_id);
    cl_pgarr_end(&ids);
    char resolved[8], complaint[8];
    snprintf(resolved, sizeof resolved, "%d", CASELOOP__V1__CASE_STATE__CASE_STATE_RESOLVED);
    snprintf(complaint, sizeof complaint, "%d", CASELOOP__V1__KIND__KIND_COMPLAINT);
    const char *p[] = {ids.data, resolved, complaint};
    int rc = bc_cmd(pg,
                    "UPDATE cases SET state = $2::smallint, kind = $3::smallint, anonymous = false,"
                    " reply_letter_only = false, preferences = NULL WHERE id = ANY($1::bigint[])",
                    3, p);
    const char *pd[] = {ids.data, complaint};
    if (rc == 0) /* the dispatcher's classification, when it has dispatched them, says the same */
        rc = bc_cmd(pg, "UPDATE dispatches SET kind = $2::smallint WHERE case_id = ANY($1::bigint[])", 2, pd);
    cl_buf_free(&ids);
    if (rc < 0)
        return -1;
    printf("  %ld cases submitted in %.2f s and made resolved complaints (SQL)\n", g->n, took);
    snprintf(g->prefix, sizeof g->prefix, "bench-%s-c%c", s_run.tag, g->phase);
    int64_t now = cl_clock_now(cl_clock_real());
    for (long k = 0; k < g->n; k++) {
        s_req_t *r = &g->reqs[k];
        cl_env_t env;
        char idbuf[CL_ID_MAX + 1], id[CL_ID_MAX + 1];
        cl_codec_init(&env, idbuf, SENDER, now);
        snprintf(id, sizeof id, "%s%ld", g->prefix, k);
        env.message_id = id;
        Caseloop__V1__CaseCommand cmd = CASELOOP__V1__CASE_COMMAND__INIT;
        cmd.has_case_id = 1, cmd.case_id = r->case_id;
        cmd.has_action = 1, cmd.action = CASELOOP__V1__CASE_ACTION__CASE_ACTION_CLOSE;
        cmd.actor = "bench";
        env.body_case = CASELOOP__V1__ENVELOPE__BODY_CASE_COMMAND;
        env.case_command = &cmd;
        cl_buf_reset(&r->frame);
        cl_codec_encode(&env, &r->frame);
        r->due_us = r->sent_us = r->ack_us = r->event_us = r->db_us = 0;
    }
    return 0;
}

/* close-latency: closings offered at --rate for --seconds; per closing, the reply (its
   commit) -> its decision (CallbackScheduled, or CallbackSkipped) heard on the scheduler's PUB. */
static int s_close_latency(PGconn *pg)
{
    cl_err_t err;
    cl_client_t *ctl = cl_client_new(s_zctx, s_opt.dispatcher, SENDER, &err);
    if (!ctl || s_ping(ctl, 10000) < 0 || s_load_policy(ctl) < 0) {
        fprintf(stderr, "bench dispatch: the policy was not loaded through %s\n", s_opt.dispatcher);
        cl_client_destroy(&ctl);
        return 1;
    }
    cl_client_destroy(&ctl);
    long n = (long)(s_opt.rate * s_opt.seconds);
    s_gen_t g;
    s_prepare(&g, 'k', WARMUP + n, 0);
    if (s_connect_clients(&g, s_opt.clients) < 0 || s_make_closings(pg, &g) < 0)
        return 1;
    g.sub = zmq_socket(s_zctx, ZMQ_SUB);
    int hwm = 1000000, linger = 0;
    zmq_setsockopt(g.sub, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(g.sub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(g.sub, ZMQ_SUBSCRIBE, "CallbackScheduled", strlen("CallbackScheduled"));
    zmq_setsockopt(g.sub, ZMQ_SUBSCRIBE, "CallbackSkipped", strlen("CallbackSkipped"));
    if (zmq_connect(g.sub, s_opt.events) != 0) {
        fprintf(stderr, "bench dispatch: cannot connect to %s: %s\n", s_opt.events, zmq_strerror(errno));
        return 1;
    }
    printf("warm-up: %d closings at 100/s, until their decisions are heard (at most 5 s)\n", WARMUP);
    bc_sleep_us(200000); /* time for the SUB to connect and subscribe */
    int rc = s_loop(&g, 0, WARMUP, 100, cl_mono_us() + 1000, 5 * CL_US_PER_S, true);
    if (rc < 0 || g.created < WARMUP || g.events == 0) {
        fprintf(stderr, "bench dispatch: warm-up failed: %ld of %d closed, %ld decisions heard on %s%s%s\n", g.created,
                WARMUP, g.events, s_opt.events, g.sample[0] ? "; " : "", g.sample);
        return 1;
    }
    printf("\nclose-latency: %.0f closings/s offered to intake for %.0f s (%ld closings, resolved complaints),"
           " open loop from %d pipelining DEALER clients;\n  latency per closing = its CallbackScheduled heard on"
           " the scheduler's PUB - intake's reply to the CLOSE (sent after its commit)\n",
           s_opt.rate, s_opt.seconds, n, s_opt.clients);
    rc = s_loop(&g, WARMUP, WARMUP + n, s_opt.rate, cl_mono_us() + 10000, (int64_t)(s_opt.grace * 1e6), true);
    int64_t *v = malloc(sizeof *v * ((size_t)n + 1) * 2);
    if (!v)
        abort();
    int64_t *ack_ev = v, *due_ev = v + n + 1;
    size_t m = 0;
    for (long k = WARMUP; k < WARMUP + n; k++) {
        const s_req_t *r = &g.reqs[k];
        if (r->event_us && r->ack_us) {
            ack_ev[m] = r->event_us - r->ack_us;
            due_ev[m++] = r->event_us - r->due_us;
        }
    }
    bc_dist_t d = bc_dist(ack_ev, m), dd = bc_dist(due_ev, m);
    printf("  %ld closed of %ld (%ld errors, %ld unmatched); decisions heard for %zu%s%s\n", g.created, n, g.errors,
           g.unmatched, m, g.sample[0] ? "; first problem: " : "", g.sample);
    s_print_dist("closing committed (reply) -> CallbackScheduled heard:", d);
    s_print_dist("closing due to be sent -> CallbackScheduled heard:", dd);
    bool clean = rc == 0 && g.created == n && (long)m == n;
    if (!clean)
        printf("WARNING: not every closing was made and decided (see above)\n");
    printf("latency p50_ms=%.2f p99_ms=%.2f\n", d.p50, d.p99);
    free(v);
    s_release(&g);
    return clean && d.n ? 0 : 1;
}

/* close-backlog: --cases closings while the scheduler (and the dispatcher) are stopped. */
static int s_close_backlog(PGconn *pg)
{
    s_gen_t g;
    s_prepare(&g, 'q', s_opt.cases, 0);
    if (s_connect_clients(&g, s_opt.clients) < 0 || s_make_closings(pg, &g) < 0)
        return 1;
    double took = s_send_all(&g);
    printf("  %ld closed in %.2f s (%.0f/s), %ld errors, %ld unmatched%s%s\n", g.created, took,
           took > 0 ? (double)g.created / took : 0, g.errors, g.unmatched, g.sample[0] ? "; first problem: " : "",
           g.sample);
    bool clean = g.created == s_opt.cases && g.unmatched == 0;
    printf("backlog closings=%ld\n", g.created);
    s_release(&g);
    return clean ? 0 : 1;
}

/* close-drain: from the scheduler's READY until every closing is decided (each closing makes
   one CallbackScheduled or CallbackSkipped). */
static int s_close_drain(PGconn *pg)
{
    char closed[8];
    snprintf(closed, sizeof closed, "%d", CASELOOP__V1__CASE_STATE__CASE_STATE_CLOSED);
    const char *p[] = {closed};
    long long total = bc_scalar(pg, "SELECT count(*) FROM cases WHERE state = $1::smallint", 1, p);
#define S_DECIDED "SELECT count(*) FROM events WHERE type IN ('CallbackScheduled', 'CallbackSkipped')"
    long long before = bc_scalar(pg, S_DECIDED, 0, NULL);
    if (total < 0 || before < 0 || total <= before) {
        fprintf(stderr, "bench dispatch: no closings to decide: %lld closed cases, %lld decided\n", total, before);
        return 1;
    }
    printf("close-drain: %lld closings wait (%lld decided before); elapsed = from the scheduler's READY until"
           " the events CallbackScheduled and CallbackSkipped number %lld (polled every 20 ms)\n",
           total - before, before, total);
    FILE *armed = fopen(s_opt.armed_file, "w");
    if (!armed)
        return 1;
    fclose(armed);
    while (!bc_file_says_ready(s_opt.ready_file)) {
        if (s_expired())
            return 1;
        bc_sleep_us(1000);
    }
    int64_t t0 = cl_mono_us(), t1 = t0;
    long long done = before;
    while ((done = bc_scalar(pg, S_DECIDED, 0, NULL)) >= 0 && done < total && !s_expired()) {
        t1 = cl_mono_us();
        bc_sleep_us(20000);
    }
    t1 = cl_mono_us();
    if (done < total) {
        fprintf(stderr, "bench dispatch: aborted: %lld of %lld closings decided when the time ran out\n",
                done - before, total - before);
        return 1;
    }
    double elapsed = (double)(t1 - t0) / 1e6, rate = elapsed > 0 ? (double)(total - before) / elapsed : 0;
    printf("  %lld closings decided in %.2f s = %.0f closings/s\n", total - before, elapsed, rate);
    printf("drain rate=%.0f\n", rate);
    return 0;
}

/* --- drain -------------------------------------------------------------------------------- */

static int s_drain(PGconn *pg)
{
    long long total = bc_scalar(pg, "SELECT count(*) FROM cases", 0, NULL);
    long long before = bc_scalar(pg, "SELECT count(*) FROM dispatches", 0, NULL);
    long long last_before =
        bc_scalar(pg, "SELECT coalesce(max(cl_ts_to_us(dispatched_at)), 0) FROM dispatches", 0, NULL);
    if (total < 0 || before < 0 || last_before < 0)
        return 1;
    long long backlog = total - before;
    if (backlog <= 0) {
        fprintf(stderr, "bench dispatch: no backlog: %lld cases, %lld dispatched\n", total, before);
        return 1;
    }
    printf("drain: %lld cases wait undispatched (%lld dispatched before); elapsed = from the dispatcher's READY"
           " until SELECT count(*) FROM dispatches reaches %lld (polled every 20 ms)\n",
           backlog, before, total);
    FILE *armed = fopen(s_opt.armed_file, "w");
    if (!armed) {
        fprintf(stderr, "bench dispatch: cannot create %s\n", s_opt.armed_file);
        return 1;
    }
    fclose(armed);
    while (!bc_file_says_ready(s_opt.ready_file)) {
        if (s_expired()) {
            fprintf(stderr, "bench dispatch: the dispatcher did not say READY in %s\n", s_opt.ready_file);
            return 1;
        }
        bc_sleep_us(1000);
    }
    int64_t t0 = cl_mono_us();
    int64_t t0_real = cl_clock_now(cl_clock_real());
    long disp_pid = 0;
    if (s_opt.pid_file) {
        FILE *f = fopen(s_opt.pid_file, "r");
        if (f) {
            if (fscanf(f, "%ld", &disp_pid) != 1)
                disp_pid = 0;
            fclose(f);
        }
    }
    double disp_cpu0 = disp_pid > 0 ? bc_proc_cpu(disp_pid) : -1;
    s_snap_t a, b;
    s_snap(pg, 0, &a);
    long long done = before;
    int64_t t1 = 0;
    for (;;) {
        done = bc_scalar(pg, "SELECT count(*) FROM dispatches", 0, NULL);
        t1 = cl_mono_us();
        if (done < 0 || done >= total || s_expired())
            break;
        int64_t wait = 20000 - (cl_mono_us() - t1);
        if (wait > 0)
            bc_sleep_us(wait);
    }
    s_snap(pg, 0, &b);
    double disp_cpu1 = disp_pid > 0 ? bc_proc_cpu(disp_pid) : -1;
    if (done < total) {
        fprintf(stderr, "bench dispatch: aborted: %lld of %lld cases dispatched when the time ran out\n",
                done - before, backlog);
        return 1;
    }
    double elapsed = (double)(t1 - t0) / 1e6;
    double rate = elapsed > 0 ? (double)backlog / elapsed : 0;
    printf("  %lld cases dispatched in %.2f s = %.0f cases/s\n", backlog, elapsed, rate);

    char lb[24];
    snprintf(lb, sizeof lb, "%lld", last_before);
    const char *p[] = {lb};
    const char *where = "dispatched_at > cl_us_to_ts($1::bigint)";
    s_print_batches(pg, where, 1, p);
    /* Batch starts: how long after READY the first began, and how the time per batch grew. */
    PGresult *res = bc_sql(pg,
                           "SELECT cl_ts_to_us(dispatched_at), count(*) FROM dispatches"
                           " WHERE dispatched_at > cl_us_to_ts($1::bigint) GROUP BY 1 ORDER BY 1",
                           1, p);
    int nb = res ? PQntuples(res) : 0;
    if (nb >= 2) {
        int64_t first = strtoll(PQgetvalue(res, 0, 0), NULL, 10), last = strtoll(PQgetvalue(res, nb - 1, 0), NULL, 10);
        printf("  the first transaction began %.1f ms from READY being seen (the file is polled every 1 ms); %d"
               " transactions, from one's start to the next: mean %.1f ms",
               (double)(first - t0_real) / 1000.0, nb, (double)(last - first) / 1000.0 / (nb - 1));
        int tenth = nb / 10 > 0 ? nb / 10 : 1;
        if (nb >= 4) {
            int64_t a0 = strtoll(PQgetvalue(res, 0, 0), NULL, 10), a1 = strtoll(PQgetvalue(res, tenth, 0), NULL, 10);
            int64_t z0 = strtoll(PQgetvalue(res, nb - 1 - tenth, 0), NULL, 10);
            printf(", over the first tenth %.1f ms, the last tenth %.1f ms", (double)(a1 - a0) / 1000.0 / tenth,
                   (double)(last - z0) / 1000.0 / tenth);
        }
        printf("\n");
    }
    PQclear(res);
    if (s_opt.dispatcher) {
        cl_err_t err;
        cl_client_t *ctl = cl_client_new(s_zctx, s_opt.dispatcher, SENDER, &err);
        s_dstats_t d = s_dispatcher_stats(ctl);
        if (d.ok)
            printf("  dispatcher counters since its start: events_applied %" PRIu64 ", cases_dispatched %" PRIu64
                   ", cases_queued %" PRIu64 "\n",
                   d.events_applied, d.cases_dispatched, d.cases_queued);
        cl_client_destroy(&ctl);
    }
    if (disp_cpu0 >= 0 && disp_cpu1 >= 0)
        b.disp = disp_cpu1, a.disp = disp_cpu0;
    s_print_cpu(&a, &b);
    printf("drain rate=%.0f\n", rate);
    return 0;
}

/* --- policy ------------------------------------------------------------------------------- */

static int s_policy(void)
{
    cl_err_t err;
    cl_client_t *ctl = cl_client_new(s_zctx, s_opt.dispatcher, SENDER, &err);
    int version = ctl && s_ping(ctl, 10000) == 0 ? s_load_policy(ctl) : -1;
    if (!ctl || version < 0)
        fprintf(stderr, "bench dispatch: the policy was not loaded through %s\n", s_opt.dispatcher);
    else
        printf("policy version=%d\n", version);
    cl_client_destroy(&ctl);
    return version < 0 ? 1 : 0;
}

/* --- the run ------------------------------------------------------------------------------- */

static const char s_usage[] =
    "usage: caseloop-bench-dispatch --mode MODE [OPTION...]\n"
    "Load generator of `scripts/bench dispatch`: measures a running caseloop-dispatcher.\n"
    "Modes (scripts/bench runs them in this order):\n"
    "  latency   load the bench policy, offer cases to intake at a fixed rate (open loop) and take\n"
    "            sent -> CaseAssigned heard on the dispatcher's PUB; last line: latency p50_ms= p99_ms=\n"
    "  backlog   submit --cases cases to intake (the dispatcher stopped); last line: backlog cases=\n"
    "  drain     started before the dispatcher: from READY until every case has a dispatch;\n"
    "            last line: drain rate=<cases/s>\n"
    "  policy    load the bench policy and exit (for a backlog without the latency run);\n"
    "            last line: policy version=<N>\n"
    "  close-latency  (`scripts/bench callbacks`) load the bench policy, make resolved complaints and\n"
    "            close them at a fixed rate; reply -> CallbackScheduled heard on --events (the\n"
    "            callback-scheduler's PUB); last line: latency p50_ms= p99_ms=\n"
    "  close-backlog  --cases closings (the scheduler stopped); last line: backlog closings=\n"
    "  close-drain    started before the scheduler: from READY until every closed case has its\n"
    "            callback; last line: drain rate=<closings/s>\n"
    "Options:\n"
    "  --intake ENDPOINT      intake's ROUTER (default: $CL_INTAKE_ROUTER)\n"
    "  --dispatcher ENDPOINT  the dispatcher's ROUTER (default: $CL_DISPATCHER_ROUTER)\n"
    "  --events ENDPOINT      the dispatcher's PUB (default: $CL_DISPATCHER_PUB)\n"
    "  --db CONNINFO          the services' database (default: $CL_DB); a local one\n"
    "  --clients N            DEALER clients (default 4)\n"
    "  --rate R               latency: offered cases per second (default 2000)\n"
    "  --seconds S            latency: for how long (default 5)\n"
    "  --grace S              latency: how long to wait for replies and events after the last send (default 15)\n"
    "  --cases N              backlog: cases (default 20000)\n"
    "  --window N             backlog: requests in flight per client (default 64)\n"
    "  --ready-file FILE      drain: the file the dispatcher writes READY to (its CL_NOTIFY_FD)\n"
    "  --armed-file FILE      drain: created once the backlog is counted; start the dispatcher then\n"
    "  --pid-file FILE        drain: holds the dispatcher's process id (optional, for its CPU)\n"
    "  --dispatcher-pid PID   latency: the dispatcher's process (optional, for CPU figures)\n"
    "  --intake-pid PID       intake's process (optional, for CPU figures)\n"
    "  --timeout S            give up after S seconds in all (default 120)\n";

static void s_parse(int argc, char **argv)
{
    static const struct option longs[] = {
        {"mode", required_argument, NULL, 'm'},         {"intake", required_argument, NULL, 'i'},
        {"dispatcher", required_argument, NULL, 'D'},   {"events", required_argument, NULL, 'e'},
        {"db", required_argument, NULL, 'd'},           {"clients", required_argument, NULL, 'c'},
        {"rate", required_argument, NULL, 'R'},         {"seconds", required_argument, NULL, 's'},
        {"grace", required_argument, NULL, 'g'},        {"cases", required_argument, NULL, 'n'},
        {"window", required_argument, NULL, 'w'},       {"ready-file", required_argument, NULL, 'r'},
        {"armed-file", required_argument, NULL, 'a'},   {"pid-file", required_argument, NULL, 'P'},
        {"dispatcher-pid", required_argument, NULL, 'p'}, {"intake-pid", required_argument, NULL, 'I'},
        {"timeout", required_argument, NULL, 't'},      {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    s_opt.intake = getenv("CL_INTAKE_ROUTER");
    s_opt.dispatcher = getenv("CL_DISPATCHER_ROUTER");
    s_opt.events = getenv("CL_DISPATCHER_PUB");
    s_opt.db = getenv("CL_DB");
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (ch) {
        case 'm':
            s_opt.mode = strcmp(optarg, "latency") == 0   ? MODE_LATENCY
                         : strcmp(optarg, "backlog") == 0 ? MODE_BACKLOG
                         : strcmp(optarg, "drain") == 0   ? MODE_DRAIN
                         : strcmp(optarg, "policy") == 0  ? MODE_POLICY
                         : strcmp(optarg, "close-latency") == 0 ? MODE_CLOSE_LATENCY
                         : strcmp(optarg, "close-backlog") == 0 ? MODE_CLOSE_BACKLOG
                         : strcmp(optarg, "close-drain") == 0   ? MODE_CLOSE_DRAIN
                                                                : MODE_NONE;
            if (s_opt.mode == MODE_NONE) {
                fprintf(stderr, "bench dispatch: --mode is latency, backlog, drain or policy, not \"%s\"\n", optarg);
                exit(2);
            }
            break;
        case 'i': s_opt.intake = optarg; break;
        case 'D': s_opt.dispatcher = optarg; break;
        case 'e': s_opt.events = optarg; break;
        case 'd': s_opt.db = optarg; break;
        case 'c': s_opt.clients = (int)bc_num("--clients", optarg, 1, MAX_CLIENTS); break;
        case 'R': s_opt.rate = (double)bc_num("--rate", optarg, 1, 100000); break;
        case 's': s_opt.seconds = (double)bc_num("--seconds", optarg, 1, 60); break;
        case 'g': s_opt.grace = (double)bc_num("--grace", optarg, 1, 600); break;
        case 'n': s_opt.cases = bc_num("--cases", optarg, 1, 1000000); break;
        case 'w': s_opt.window = (int)bc_num("--window", optarg, 1, 4096); break;
        case 'r': s_opt.ready_file = optarg; break;
        case 'a': s_opt.armed_file = optarg; break;
        case 'P': s_opt.pid_file = optarg; break;
        case 'p': s_opt.dispatcher_pid = bc_num("--dispatcher-pid", optarg, 1, 1L << 30); break;
        case 'I': s_opt.intake_pid = bc_num("--intake-pid", optarg, 1, 1L << 30); break;
        case 't': s_opt.timeout_s = (int)bc_num("--timeout", optarg, 10, 3600); break;
        case 'h': fputs(s_usage, stdout); exit(0);
        default: fputs(s_usage, stderr); exit(2);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "bench dispatch: unexpected argument \"%s\"\n%s", argv[optind], s_usage);
        exit(2);
    }
    if (s_opt.mode == MODE_NONE) {
        fprintf(stderr, "bench dispatch: give --mode latency, backlog, drain or policy\n%s", s_usage);
        exit(2);
    }
    bc_need("--db (or CL_DB)", s_opt.db);
    if (!bc_local_db(s_opt.db)) {
        fprintf(stderr, "bench dispatch: the database must be local (a Unix socket or loopback)\n");
        exit(2);
    }
    if (s_opt.mode == MODE_LATENCY || s_opt.mode == MODE_BACKLOG || s_opt.mode == MODE_CLOSE_LATENCY ||
        s_opt.mode == MODE_CLOSE_BACKLOG) {
        bc_need("--intake (or CL_INTAKE_ROUTER)", s_opt.intake);
        bc_need_local(s_opt.intake);
    }
    if (s_opt.mode == MODE_LATENCY || s_opt.mode == MODE_POLICY || s_opt.mode == MODE_CLOSE_LATENCY)
        bc_need("--dispatcher (or CL_DISPATCHER_ROUTER)", s_opt.dispatcher);
    if (s_opt.mode == MODE_LATENCY || s_opt.mode == MODE_CLOSE_LATENCY) {
        bc_need("--events (or CL_DISPATCHER_PUB)", s_opt.events);
        bc_need_local(s_opt.events);
    }
    if (s_opt.dispatcher && *s_opt.dispatcher)
        bc_need_local(s_opt.dispatcher);
    else
        s_opt.dispatcher = NULL;
    if (s_opt.mode == MODE_DRAIN || s_opt.mode == MODE_CLOSE_DRAIN) {
        bc_need("--ready-file", s_opt.ready_file);
        bc_need("--armed-file", s_opt.armed_file);
    }
}

int main(int argc, char **argv)
{
    bc_program("bench dispatch", s_usage);
    s_parse(argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0);
    s_deadline_us = cl_mono_us() + (int64_t)s_opt.timeout_s * CL_US_PER_S;
    bc_deadline((unsigned)s_opt.timeout_s + 15);
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);  /* wake-ups on schedule to the microsecond */

    bc_run_new(&s_run, "bench-dispatch");

    PGconn *pg = PQconnectdb(s_opt.db);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "bench dispatch: cannot connect to the database: %s", PQerrorMessage(pg));
        PQfinish(pg);
        return 1;
    }
    PQclear(PQexec(pg, "SET client_min_messages = warning"));
    PQclear(PQexec(pg, "SET application_name = 'caseloop-bench'"));
    s_zctx = zmq_ctx_new();
    int rc = s_opt.mode == MODE_LATENCY         ? s_latency(pg)
             : s_opt.mode == MODE_BACKLOG       ? s_backlog()
             : s_opt.mode == MODE_POLICY        ? s_policy()
             : s_opt.mode == MODE_CLOSE_LATENCY ? s_close_latency(pg)
             : s_opt.mode == MODE_CLOSE_BACKLOG ? s_close_backlog(pg)
             : s_opt.mode == MODE_CLOSE_DRAIN   ? s_close_drain(pg)
                                                : s_drain(pg);
    zmq_ctx_term(s_zctx);
    PQfinish(pg);
    return rc;
}
