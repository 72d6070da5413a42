/* soak.c - caseloop-soak, the driver behind `scripts/soak`: steady traffic for minutes, then what must still hold.
 *
 * It runs once per mode; scripts/soak owns the processes (PostgreSQL, intake, the dispatcher,
 * escalation) and runs the modes in this order:
 *   --mode run    (the services running) loads, through the dispatcher, the benches' policy
 *                 of 3 sites (tests/fixture/policy_fixture.c) with short clocks: C2 30 s from
 *                 receipt (met by acknowledge or first contact), C3 60 s from dispatch (met by
 *                 first contact), warnings at 50% and 80%, ladder levels 15 s apart, on a
 *                 calendar that works around the clock. Then, for --minutes, it submits --rate
 *                 cases a second to intake (open loop, the sites in turn) and sends each case
 *                 the lifecycle commands of its plan (s_plans, by submission number), some
 *                 late enough that clocks breach and climb first, some never. Every 10 s it
 *                 samples each service's VmRSS and the time a GetStats to it takes. After the
 *                 last submission it waits for the replies and for every case to be
 *                 dispatched, writes the cases acknowledged to --acked, and checks: every
 *                 request answered within 1 s; every submission created and every command
 *                 taken; each service's VmRSS at the end within 20% of its VmRSS at minute 2.
 *   --mode check  (the services stopped) checks the database against --acked: every case
 *                 acknowledged stored once and dispatched once; every clock step due more
 *                 than 2 s before its clock closed or before --until-us (when escalation was
 *                 told to stop) fired exactly once, and none fired more than 2 s after; the
 *                 event log's positions 1..head without a hole.
 * Each check prints one line: "PASS name: figures" or "FAIL name: figures".
 * Exit status: 0 when every check passed; 1 when one failed or the run could not be made;
 * 2 on a usage error. Only local endpoints (ipc://, inproc://, loopback tcp) and a local
 * database. */
#include "cl.h"
#include "cl_client.h"
#include "bench_common.h"
#include "policy_fixture.h"
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#define SENDER "caseloop-soak"
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))
#define SAMPLE_US (10 * CL_US_PER_S)  /* between two samples */
#define ANSWER_US CL_US_PER_S         /* a request is answered within this */
#define EDGE_US (2 * CL_US_PER_S)     /* a clock step this close to its clock's end may go either way */
#define MEMORY_PCT 20                 /* VmRSS at the end against minute 2 */
#define FIRST_RETRIES 10              /* a first command refused as the case is not dispatched yet, again 1 s later */

typedef enum { MODE_NONE, MODE_RUN, MODE_CHECK } s_mode_t;

enum { SVC_INTAKE, SVC_DISPATCHER, SVC_ESCALATION, NSVC };
static const char *const s_svc_name[NSVC] = {"intake", "dispatcher", "escalation"};

typedef struct {
    s_mode_t mode;
    const char *db;
    const char *router[NSVC];
    long pid[NSVC];
    long minutes;
    long rate;
    const char *acked;
    int64_t until_us;
} s_opts_t;

static s_opts_t s_opt = {.mode = MODE_NONE, .minutes = 10, .rate = 200};
static int s_failed;  /* checks that failed */

static const char *const s_sites[] = {"site-a", "site-b", "site-c", NULL};

/* One check's line: PASS or FAIL, its name, its figures. */
static void s_check(bool ok, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void s_check(bool ok, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%s %s: ", ok ? "PASS" : "FAIL", name);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    s_failed += !ok;
}

/* --- the policy and the plans ---------------------------------------------------------------- */

#define LADDER                                                                                              \
    "\"ladder\":[{\"role\":\"supervisor\",\"for\":15},{\"role\":\"project_head\",\"for\":15},"              \
    "{\"role\":\"leadership\"}],\"major_ladder\":[{\"role\":\"manager\",\"for\":15},{\"role\":\"leadership\"}]"
#define ALL_DAY "[\"00:00-24:00\"]"

/* Each site's calendar and clocks: working time around the clock, so that nothing waits for
   working hours; C2 and C3 short enough to breach and climb while the soak runs. */
static const char s_clocks[] =
    ",\"calendar\":{\"working_hours\":{\"mon\":" ALL_DAY ",\"tue\":" ALL_DAY ",\"wed\":" ALL_DAY
    ",\"thu\":" ALL_DAY ",\"fri\":" ALL_DAY ",\"sat\":" ALL_DAY ",\"sun\":" ALL_DAY "}},\"clocks\":["
    "{\"code\":\"C2\",\"name\":\"feedback form reaches the responsible department\",\"starts_on\":\"received\","
    "\"met_by\":[\"acknowledge\",\"first_contact\"],\"duration\":30," LADDER "},"
    "{\"code\":\"C3\",\"name\":\"the department contacts the customer with a plan\",\"starts_on\":\"dispatched\","
    "\"met_by\":[\"first_contact\"],\"pauses_on\":[\"wait_for_customer\"],\"resumes_on\":[\"resume\"],"
    "\"duration\":60," LADDER "}]";

#define ACT(name) CASELOOP__V1__CASE_ACTION__CASE_ACTION_##name

typedef struct {
    int at_s;                         /* seconds after the case was acknowledged */
    Caseloop__V1__CaseAction action;
} s_step_t;

typedef struct {
    const char *name;
    int n;
    s_step_t steps[4];
} s_plan_t;

/* What happens to a case, by its clocks (C2 warns at 15 and 24 s, breaches at 30, climbs at
   45 and 60; C3 warns at 30 and 48, breaches at 60, climbs at 75 and 90). */
static const s_plan_t s_closed = {"closed", 4, {{2, ACT(ACKNOWLEDGE)}, {4, ACT(FIRST_CONTACT)}, {6, ACT(RESOLVE)},
                                                 {8, ACT(REPORT_RESULT)}}};
static const s_plan_t s_contacted = {"contacted", 1, {{5, ACT(FIRST_CONTACT)}}};
static const s_plan_t s_late_contact = {"late contact", 2, {{20, ACT(ACKNOWLEDGE)}, {70, ACT(FIRST_CONTACT)}}};
static const s_plan_t s_late_ack = {"late acknowledgement", 1, {{40, ACT(ACKNOWLEDGE)}}};
static const s_plan_t s_closed_late = {"closed late", 4, {{35, ACT(ACKNOWLEDGE)}, {52, ACT(FIRST_CONTACT)},
                                                          {55, ACT(RESOLVE)}, {58, ACT(REPORT_RESULT)}}};
static const s_plan_t s_untouched = {"untouched", 0, {{0, 0}}};

/* The plan of submission seq: seq % 10. */
static const s_plan_t *const s_plans[10] = {&s_closed,       &s_closed,   &s_closed,      &s_closed,    &s_contacted,
                                            &s_late_contact, &s_late_ack, &s_closed_late, &s_untouched, &s_untouched};

/* --- the run's state ----------------------------------------------------------------------- */

typedef enum { REQ_SUBMIT, REQ_COMMAND, REQ_STATS, NREQ } s_kind_t;
static const char *const s_kind_name[NREQ] = {"submissions", "commands", "GetStats"};

typedef struct {
    int64_t sent_us;      /* monotonic */
    int64_t answered_us;  /* monotonic; 0 while not */
    uint32_t item;        /* the case (submissions, commands) or the sample (GetStats) */
    uint8_t kind, svc;
} s_req_t;

typedef struct {
    uint64_t case_id;   /* 0 until CREATED */
    int64_t acked_us;   /* monotonic */
    uint8_t step;       /* the next step of its plan */
    uint8_t retries;    /* of its first step */
} s_case_t;

typedef struct {
    int64_t at_us;      /* monotonic */
    uint32_t case_idx;
} s_due_t;

typedef struct {
    int64_t t_us;                 /* monotonic: when it was taken */
    bool last;                    /* the one after the traffic and its waits */
    long rss_kb[NSVC];
    int64_t stats_us[NSVC];       /* the GetStats round trip; -1 while unanswered */
    long submitted, acked, commands;
    long long head, dispatcher_at, escalation_at;
    int64_t slowest_us;           /* the slowest reply since the sample before */
    long late;                    /* replies since the sample before that took over 1 s */
    double load;                  /* the machine's load average over a minute */
    bool printed;
} s_sample_t;

typedef struct {
    cl_client_t *client[NSVC + 1];   /* the three for GetStats; [NSVC]: intake, for the traffic */
    void *dealer[NSVC + 1];
    char prefix[32];                 /* message ids: prefix + request number */
    bc_run_t run;
    s_req_t *reqs;
    size_t nreqs, capreqs;
    s_case_t *cases;
    long ncases, submitted;
    s_due_t *heap;                   /* commands due, earliest first */
    size_t nheap;
    s_sample_t *samples;
    int nsamples, capsamples;
    int64_t slowest_us;              /* since the last sample */
    long late;
    /* counters */
    long created, not_created, submit_refused, accepted, refused, retried, unmatched, dropped;
    char sample[320];                /* the first thing that went wrong */
} s_soak_t;

static void s_note(s_soak_t *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_note(s_soak_t *k, const char *fmt, ...)
{
    if (k->sample[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k->sample, sizeof k->sample, fmt, ap);
    va_end(ap);
}

static void s_heap_push(s_soak_t *k, int64_t at_us, uint32_t case_idx)
{
    size_t i = k->nheap++;
    while (i > 0 && k->heap[(i - 1) / 2].at_us > at_us) {
        k->heap[i] = k->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    k->heap[i] = (s_due_t){at_us, case_idx};
}

static s_due_t s_heap_pop(s_soak_t *k)
{
    s_due_t top = k->heap[0], last = k->heap[--k->nheap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= k->nheap)
            break;
        if (c + 1 < k->nheap && k->heap[c + 1].at_us < k->heap[c].at_us)
            c++;
        if (k->heap[c].at_us >= last.at_us)
            break;
        k->heap[i] = k->heap[c];
        i = c;
    }
    if (k->nheap)
        k->heap[i] = last;
    return top;
}

/* --- requests ---------------------------------------------------------------------------------- */

/* Sends env on the DEALER of svc (NSVC: the traffic's) as request number n of the run.
   Returns 0, or -1 (said). */
static int s_send(s_soak_t *k, int svc, cl_env_t *env, s_kind_t kind, uint32_t item)
{
    if (k->nreqs == k->capreqs) {
        k->capreqs = k->capreqs ? k->capreqs * 2 : 4096;
        k->reqs = realloc(k->reqs, k->capreqs * sizeof *k->reqs);
        if (!k->reqs)
            abort();
    }
    char id[CL_ID_MAX + 1];
    snprintf(id, sizeof id, "%s%zu", k->prefix, k->nreqs);
    env->message_id = id;
    cl_buf_t frame = {0};
    cl_codec_encode(env, &frame);
    s_req_t *r = &k->reqs[k->nreqs];
    *r = (s_req_t){cl_mono_us(), 0, item, (uint8_t)kind, (uint8_t)(svc == NSVC ? SVC_INTAKE : svc)};
    int rc = zmq_send(k->dealer[svc], frame.data, frame.len, 0);
    cl_buf_free(&frame);
    if (rc < 0) {
        fprintf(stderr, "soak: could not send to %s: %s\n", s_svc_name[r->svc], zmq_strerror(errno));
        return -1;
    }
    k->nreqs++;
    return 0;
}

static int s_submit(s_soak_t *k, long seq)
{
    int64_t now = cl_clock_now(cl_clock_real());
    bc_case_t b;
    bc_case_fill(&b, &k->run, s_sites, 's', seq, now);
    cl_env_t env;
    char idbuf[CL_ID_MAX + 1];
    cl_codec_init(&env, idbuf, SENDER, now);
    env.site = b.c.site;
    Caseloop__V1__SubmitCase body = CASELOOP__V1__SUBMIT_CASE__INIT;
    body.details = &b.c;
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE;
    env.submit_case = &body;
    return s_send(k, NSVC, &env, REQ_SUBMIT, (uint32_t)seq);
}

/* The next command of case idx's plan. */
static int s_command(s_soak_t *k, uint32_t idx)
{
    s_case_t *c = &k->cases[idx];
    const s_step_t *st = &s_plans[idx % 10]->steps[c->step];
    int64_t now = cl_clock_now(cl_clock_real());
    cl_env_t env;
    char idbuf[CL_ID_MAX + 1];
    cl_codec_init(&env, idbuf, SENDER, now);
    env.site = (char *)s_sites[idx % 3];
    Caseloop__V1__CaseCommand body = CASELOOP__V1__CASE_COMMAND__INIT;
    body.has_case_id = 1, body.case_id = c->case_id;
    body.has_action = 1, body.action = st->action;
    body.actor = st->action == ACT(REPORT_RESULT) ? "hotline" : "cs1";
    if (st->action == ACT(FIRST_CONTACT))
        body.text = "called the customer: an engineer comes tomorrow at 10:00";
    else if (st->action == ACT(RESOLVE))
        body.text = "repaired and checked with the customer";
    else if (st->action == ACT(REPORT_RESULT))
        body.has_satisfied = 1, body.satisfied = 1, body.text = "the customer is satisfied";
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_CASE_COMMAND;
    env.case_command = &body;
    return s_send(k, NSVC, &env, REQ_COMMAND, idx);
}

/* Sends a GetStats to every service for sample si. */
static int s_ask_stats(s_soak_t *k, int si)
{
    for (int v = 0; v < NSVC; v++) {
        cl_env_t env;
        char idbuf[CL_ID_MAX + 1];
        cl_codec_init(&env, idbuf, SENDER, cl_clock_now(cl_clock_real()));
        Caseloop__V1__GetStats body = CASELOOP__V1__GET_STATS__INIT;
        env.body_case = CASELOOP__V1__ENVELOPE__BODY_GET_STATS;
        env.get_stats = &body;
        if (s_send(k, v, &env, REQ_STATS, (uint32_t)si) < 0)
            return -1;
    }
    return 0;
}

/* A reply to a submission: the case is acknowledged; its plan starts. */
static void s_on_submit(s_soak_t *k, const s_req_t *r, const cl_env_t *env)
{
    s_case_t *c = &k->cases[r->item];
    const Caseloop__V1__SubmitCaseReply *rep = env->submit_case_reply;
    if (env->body_case == CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE_REPLY && rep && rep->has_outcome &&
        rep->outcome == CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_CREATED && rep->case_id) {
        k->created++;
        c->case_id = rep->case_id;
        c->acked_us = r->answered_us;
        const s_plan_t *plan = s_plans[r->item % 10];
        if (plan->n)
            s_heap_push(k, c->acked_us + plan->steps[0].at_s * CL_US_PER_S, r->item);
    } else if (env->body_case == CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE_REPLY) {
        k->not_created++;
        s_note(k, "submission %" PRIu32 " answered, but not CREATED (case %" PRIu64 ")", r->item,
               rep ? rep->case_id : 0);
    } else {
        k->submit_refused++;
        if (env->body_case == CASELOOP__V1__ENVELOPE__BODY_ERROR && env->error)
            s_note(k, "submission %" PRIu32 " refused: %s: %s", r->item, cl_err_code_name(env->error->code),
                   env->error->message ? env->error->message : "");
        else
            s_note(k, "submission %" PRIu32 " answered with %s", r->item, cl_codec_body_name(env));
    }
}

/* A reply to a command: the plan's next step, the same again when the case had not reached
   its department yet, or the plan ends. */
static void s_on_command(s_soak_t *k, const s_req_t *r, const cl_env_t *env, int64_t now)
{
    s_case_t *c = &k->cases[r->item];
    const s_plan_t *plan = s_plans[r->item % 10];
    if (env->body_case == CASELOOP__V1__ENVELOPE__BODY_CASE_COMMAND_REPLY) {
        k->accepted++;
        if (++c->step < plan->n)
            s_heap_push(k, c->acked_us + plan->steps[c->step].at_s * CL_US_PER_S, r->item);
        return;
    }
    const Caseloop__V1__Error *e = env->body_case == CASELOOP__V1__ENVELOPE__BODY_ERROR ? env->error : NULL;
    if (e && e->code == CL_CONFLICT && c->step == 0 && c->retries < FIRST_RETRIES) {
        c->retries++;
        k->retried++;
        s_heap_push(k, now + CL_US_PER_S, r->item);
        return;
    }
    k->refused++;
    if (e)
        s_note(k, "case %" PRIu64 ": %s refused: %s: %s", c->case_id, plan->name, cl_err_code_name(e->code),
               e->message ? e->message : "");
    else
        s_note(k, "case %" PRIu64 ": a command answered with %s", c->case_id, cl_codec_body_name(env));
}

static void s_reply(s_soak_t *k, const void *data, size_t len, int64_t now)
{
    cl_err_t err;
    cl_err_clear(&err);
    cl_env_t *env = cl_codec_decode(data, len, SIZE_MAX, &err);
    if (!env) {
        k->unmatched++;
        s_note(k, "unreadable reply: %s", err.message);
        return;
    }
    const char *corr = env->correlation_id ? env->correlation_id : "";
    size_t plen = strlen(k->prefix);
    char *end = NULL;
    unsigned long long n = strncmp(corr, k->prefix, plen) == 0 ? strtoull(corr + plen, &end, 10) : ULLONG_MAX;
    if (n >= k->nreqs || !end || *end || k->reqs[n].answered_us) {
        k->unmatched++;
        s_note(k, "a reply to no request of ours (\"%s\")", corr);
        cl_codec_free(env);
        return;
    }
    s_req_t *r = &k->reqs[n];
    r->answered_us = now;
    if (now - r->sent_us > k->slowest_us)
        k->slowest_us = now - r->sent_us;
    k->late += now - r->sent_us > ANSWER_US;
    switch (r->kind) {
    case REQ_SUBMIT: s_on_submit(k, r, env); break;
    case REQ_COMMAND: s_on_command(k, r, env, now); break;
    default:
        if (env->body_case == CASELOOP__V1__ENVELOPE__BODY_STATS_REPLY)
            k->samples[r->item].stats_us[r->svc] = now - r->sent_us;
        else
            s_note(k, "GetStats to %s answered with %s", s_svc_name[r->svc], cl_codec_body_name(env));
        break;
    }
    cl_codec_free(env);
}

/* Takes every reply waiting on the DEALERs. */
static void s_receive(s_soak_t *k)
{
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    for (int i = 0; i <= NSVC; i++)
        while (zmq_msg_recv(&msg, k->dealer[i], ZMQ_DONTWAIT) >= 0) {
            int64_t now = cl_mono_us();
            if (zmq_msg_more(&msg)) {  /* not what a service sends: skip the whole message */
                k->unmatched++;
                while (zmq_msg_more(&msg) && zmq_msg_recv(&msg, k->dealer[i], 0) >= 0)
                    ;
                continue;
            }
            s_reply(k, zmq_msg_data(&msg), zmq_msg_size(&msg), now);
        }
    zmq_msg_close(&msg);
}

/* Waits up to wait_us for a reply on any DEALER. */
static void s_wait(s_soak_t *k, int64_t wait_us)
{
    zmq_pollitem_t items[NSVC + 1];
    for (int i = 0; i <= NSVC; i++)
        items[i] = (zmq_pollitem_t){k->dealer[i], 0, ZMQ_POLLIN, 0};
    long ms = (long)((wait_us + 999) / 1000);
    zmq_poll(items, NSVC + 1, ms < 0 ? 0 : ms > 100 ? 100 : ms);
}

/* --- samples ------------------------------------------------------------------------------------- */

/* Takes sample number si: each service's VmRSS now, its GetStats sent, the log's positions. */
static int s_take_sample(s_soak_t *k, PGconn *pg, int64_t t_us, bool last)
{
    if (k->nsamples == k->capsamples) {
        k->capsamples = k->capsamples ? k->capsamples * 2 : 64;
        k->samples = realloc(k->samples, (size_t)k->capsamples * sizeof *k->samples);
        if (!k->samples)
            abort();
    }
    int si = k->nsamples++;
    s_sample_t *s = &k->samples[si];
    memset(s, 0, sizeof *s);
    s->t_us = t_us;
    s->last = last;
    for (int v = 0; v < NSVC; v++) {
        s->rss_kb[v] = bc_proc_kb(s_opt.pid[v], "VmRSS");
        s->stats_us[v] = -1;
    }
    s->submitted = k->submitted, s->acked = k->created, s->commands = k->accepted;
    s->slowest_us = k->slowest_us, s->late = k->late;
    k->slowest_us = 0, k->late = 0;
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f || fscanf(f, "%lf", &s->load) != 1)
        s->load = -1;
    if (f)
        fclose(f);
    PGresult *res = bc_sql(pg,
                           "SELECT (SELECT position FROM event_head),"
                           " coalesce((SELECT position FROM consumer_positions WHERE consumer = 'dispatcher'), 0),"
                           " coalesce((SELECT position FROM consumer_positions WHERE consumer = 'escalation'), 0)",
                           0, NULL);
    if (res && PQntuples(res) == 1) {
        s->head = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        s->dispatcher_at = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
        s->escalation_at = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    }
    PQclear(res);
    return s_ask_stats(k, si);
}

/* Prints the samples whose GetStats are all answered, or which waited 2 s for them. */
static void s_print_samples(s_soak_t *k, int64_t t0, int64_t now, bool all)
{
    for (int si = 0; si < k->nsamples; si++) {
        s_sample_t *s = &k->samples[si];
        bool done = s->stats_us[0] >= 0 && s->stats_us[1] >= 0 && s->stats_us[2] >= 0;
        if (s->printed || (!done && !all && now - s->t_us < 2 * CL_US_PER_S))
            continue;
        s->printed = true;
        printf("sample t=%.0fs%s submitted=%ld acked=%ld commands=%ld slowest reply %.0f ms, %ld over 1 s; log: head"
               " %lld, dispatcher -%lld, escalation -%lld; load %.1f |",
               (double)(s->t_us - t0) / 1e6, s->last ? " (end)" : "", s->submitted, s->acked, s->commands,
               (double)s->slowest_us / 1000.0, s->late, s->head, s->head - s->dispatcher_at, s->head - s->escalation_at,
               s->load);
        for (int v = 0; v < NSVC; v++) {
            printf(" %s %.1f MB", s_svc_name[v], (double)s->rss_kb[v] / 1024.0);
            if (s->stats_us[v] >= 0)
                printf(" GetStats %.1f ms", (double)s->stats_us[v] / 1000.0);
            else
                printf(" GetStats unanswered");
            printf(v + 1 < NSVC ? "," : "\n");
        }
    }
}

/* --- run ----------------------------------------------------------------------------------------- */

static int s_load_policy(cl_client_t *dispatcher)
{
    cl_buf_t doc = {0};
    cl_fixture_policy(&doc, s_sites, NULL, s_clocks);
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__LoadPolicy body = CASELOOP__V1__LOAD_POLICY__INIT;
    body.document = doc.data;
    body.source = "caseloop-soak";
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_LOAD_POLICY;
    env.load_policy = &body;
    cl_err_t err;
    cl_err_clear(&err);
    cl_env_t *reply = cl_client_call(dispatcher, &env, 10000, &err);
    cl_buf_free(&doc);
    int rc = reply ? cl_client_expect(reply, CASELOOP__V1__ENVELOPE__BODY_LOAD_POLICY_REPLY, &err) : -1;
    if (rc == 0)
        printf("policy version %u loaded: sites site-a, site-b, site-c (staff on shift all day, working time around"
               " the clock); clocks C2 30 s from receipt, C3 60 s from dispatch, warnings at 50%% and 80%%, ladder"
               " levels 15 s apart\n",
               reply->load_policy_reply->version);
    else
        fprintf(stderr, "soak: the policy was not loaded: %s\n", err.message);
    cl_codec_free(reply);
    return rc;
}

/* A distribution's figures for a line. */
static void s_fmt_dist(char *buf, size_t len, const char *what, bc_dist_t d)
{
    if (d.n)
        snprintf(buf, len, "%s %zu (p50 %.1f ms, p99 %.1f ms, max %.1f ms)", what, d.n, d.p50, d.p99, d.max);
    else
        snprintf(buf, len, "%s 0", what);
}

/* Every request answered within 1 s; every submission created, every command taken. */
static void s_check_requests(s_soak_t *k)
{
    int64_t *v[NREQ];
    size_t n[NREQ] = {0};
    long late = 0, unanswered = 0;
    for (int i = 0; i < NREQ; i++)
        if (!(v[i] = malloc(sizeof(int64_t) * (k->nreqs + 1))))
            abort();
    for (size_t i = 0; i < k->nreqs; i++) {
        const s_req_t *r = &k->reqs[i];
        if (!r->answered_us) {
            unanswered++;
            continue;
        }
        int64_t us = r->answered_us - r->sent_us;
        late += us > ANSWER_US;
        v[r->kind][n[r->kind]++] = us;
    }
    char line[3][160];
    for (int i = 0; i < NREQ; i++) {
        s_fmt_dist(line[i], sizeof line[i], s_kind_name[i], bc_dist(v[i], n[i]));
        free(v[i]);
    }
    s_check(unanswered == 0 && late == 0, "answered",
            "%zu requests, %ld answered after more than 1 s, %ld not at all; %s, %s, %s", k->nreqs, late, unanswered,
            line[0], line[1], line[2]);
    s_check(k->created == k->submitted && k->not_created == 0 && k->submit_refused == 0 && k->refused == 0 &&
                k->unmatched == 0,
            "taken",
            "%ld cases submitted, %ld created, %ld other outcomes, %ld refused; %ld commands taken, %ld refused"
            " (%ld sent again a second later: the case had not reached its department yet; %ld not sent: due after"
            " the last submission); %ld replies to no request%s%s",
            k->submitted, k->created, k->not_created, k->submit_refused, k->accepted, k->refused, k->retried,
            k->dropped, k->unmatched, k->sample[0] ? "; the first problem: " : "", k->sample);
}

/* Each service's VmRSS at the end within MEMORY_PCT% of the one at minute 2. */
static void s_check_memory(s_soak_t *k, int64_t t0)
{
    int ref = k->nsamples - 1;
    for (int si = 0; si < k->nsamples; si++)
        if (k->samples[si].t_us - t0 >= 120 * CL_US_PER_S - CL_US_PER_S) {
            ref = si;
            break;
        }
    const s_sample_t *a = &k->samples[ref], *b = &k->samples[k->nsamples - 1];
    for (int v = 0; v < NSVC; v++) {
        char name[32];
        snprintf(name, sizeof name, "memory-%s", s_svc_name[v]);
        bool known = a->rss_kb[v] > 0 && b->rss_kb[v] > 0;
        double pct = known ? 100.0 * (double)(b->rss_kb[v] - a->rss_kb[v]) / (double)a->rss_kb[v] : 0;
        s_check(known && pct <= MEMORY_PCT && pct >= -MEMORY_PCT, name,
                "VmRSS %.1f MB at t=%.0fs, %.1f MB at the end (t=%.0fs): %+.1f%% (within %d%%)%s",
                (double)a->rss_kb[v] / 1024.0, (double)(a->t_us - t0) / 1e6, (double)b->rss_kb[v] / 1024.0,
                (double)(b->t_us - t0) / 1e6, pct, MEMORY_PCT,
                b->t_us - a->t_us < 60 * CL_US_PER_S ? " (less than a minute apart: says little)" : "");
    }
}

static int s_run(PGconn *pg)
{
    s_soak_t k;
    memset(&k, 0, sizeof k);
    bc_run_new(&k.run, "soak");
    snprintf(k.prefix, sizeof k.prefix, "soak-%s-", k.run.tag);
    void *zctx = zmq_ctx_new();
    for (int v = 0; v <= NSVC; v++) {
        cl_err_t err;
        const char *ep = s_opt.router[v == NSVC ? SVC_INTAKE : v];
        k.client[v] = cl_client_new(zctx, ep, SENDER, &err);
        cl_env_t *reply = k.client[v] ? cl_client_stats(k.client[v], 10000, &err) : NULL;
        if (!reply) {
            fprintf(stderr, "soak: %s does not answer on %s: %s\n", s_svc_name[v == NSVC ? SVC_INTAKE : v], ep,
                    err.message);
            return 1;
        }
        cl_codec_free(reply);
    }
    if (s_load_policy(k.client[SVC_DISPATCHER]) < 0)
        return 1;
    for (int v = 0; v <= NSVC; v++)
        k.dealer[v] = cl_client_socket(k.client[v]);

    k.ncases = s_opt.rate * s_opt.minutes * 60;
    k.cases = calloc((size_t)k.ncases, sizeof *k.cases);
    k.heap = calloc((size_t)k.ncases + 1, sizeof *k.heap);
    if (!k.cases || !k.heap)
        abort();
    printf("traffic: %ld cases a second for %ld min (%ld cases) to intake, open loop, sites in turn; plans by"
           " submission number (the last digit): 0-3 %s (acknowledge +2 s, first contact +4 s, resolve +6 s, satisfied"
           " +8 s after the ack), 4 %s (+5 s), 5 %s (acknowledge +20 s, first contact +70 s), 6 %s (+40 s), 7 %s"
           " (+35 s, +52 s, +55 s, +58 s), 8-9 %s; a sample every 10 s\n",
           s_opt.rate, s_opt.minutes, k.ncases, s_closed.name, s_contacted.name, s_late_contact.name,
           s_late_ack.name, s_closed_late.name, s_untouched.name);

    int64_t t0 = cl_mono_us() + 100000, t_end = t0 + s_opt.minutes * 60 * CL_US_PER_S;
    int64_t next_sample = t0 + SAMPLE_US, max_lag = 0;
    int rc = 0;
    while (rc == 0) {
        int64_t now = cl_mono_us();
        while (k.submitted < k.ncases) {
            int64_t due = t0 + (int64_t)((double)k.submitted * 1e6 / (double)s_opt.rate);
            if (due > now)
                break;
            if (now - due > max_lag)
                max_lag = now - due;
            if (s_submit(&k, k.submitted) < 0) {
                rc = 1;
                break;
            }
            k.submitted++;
        }
        while (rc == 0 && k.nheap && k.heap[0].at_us <= now) {
            s_due_t d = s_heap_pop(&k);
            if (now >= t_end)
                k.dropped++;
            else if (s_command(&k, d.case_idx) < 0)
                rc = 1;
        }
        if (rc == 0 && now >= next_sample && next_sample < t_end) {
            rc = s_take_sample(&k, pg, next_sample, false) < 0;
            next_sample += SAMPLE_US;
        }
        s_receive(&k);
        now = cl_mono_us();
        s_print_samples(&k, t0, now, false);
        if (k.submitted == k.ncases && now >= t_end)
            break;
        int64_t wake = next_sample;
        if (k.submitted < k.ncases) {
            int64_t due = t0 + (int64_t)((double)k.submitted * 1e6 / (double)s_opt.rate);
            wake = due < wake ? due : wake;
        }
        if (k.nheap && k.heap[0].at_us < wake)
            wake = k.heap[0].at_us;
        s_wait(&k, wake - now);
    }
    while (k.nheap) {  /* due after the last submission: not sent */
        s_heap_pop(&k);
        k.dropped++;
    }

    /* The replies still due (at most 10 s), then every case dispatched (at most 60 s). */
    int64_t give_up = cl_mono_us() + 10 * CL_US_PER_S;
    for (;;) {
        s_receive(&k);
        size_t open = 0;
        for (size_t i = 0; i < k.nreqs; i++)
            open += !k.reqs[i].answered_us;
        if (!open || cl_mono_us() > give_up)
            break;
        s_wait(&k, 100000);
    }
    const char *src[] = {k.run.source};
    long long undispatched = -1;
    give_up = cl_mono_us() + 60 * CL_US_PER_S;
    while ((undispatched = bc_scalar(pg,
                                     "SELECT count(*) FROM cases c WHERE c.external_source = $1 AND NOT EXISTS"
                                     " (SELECT 1 FROM dispatches d WHERE d.case_id = c.id)",
                                     1, src)) > 0 &&
           cl_mono_us() < give_up)
        bc_sleep_us(200000);
    int64_t t_final = cl_mono_us();
    if (rc == 0 && s_take_sample(&k, pg, t_final, true) == 0) {
        give_up = t_final + 2 * CL_US_PER_S;
        s_sample_t *last = &k.samples[k.nsamples - 1];
        while (cl_mono_us() < give_up && (last->stats_us[0] < 0 || last->stats_us[1] < 0 || last->stats_us[2] < 0)) {
            s_wait(&k, 100000);
            s_receive(&k);
        }
    }
    s_print_samples(&k, t0, cl_mono_us(), true);
    printf("the end: the last submission %.1f s after the first, at most %.1f ms behind its schedule; %lld cases"
           " without a dispatch %.0f s after it\n",
           (double)(t_end - t0) / 1e6, (double)max_lag / 1000.0, undispatched, (double)(t_final - t_end) / 1e6);

    /* The cases acknowledged, for --mode check. */
    FILE *f = fopen(s_opt.acked, "w");
    if (!f) {
        fprintf(stderr, "soak: cannot write %s: %s\n", s_opt.acked, strerror(errno));
        rc = 1;
    } else {
        fprintf(f, "source %s\n", k.run.source);
        for (long i = 0; i < k.ncases; i++)
            if (k.cases[i].case_id)
                fprintf(f, "%" PRIu64 "\n", k.cases[i].case_id);
        if (fclose(f) != 0)
            rc = 1;
    }
    s_check_requests(&k);
    if (k.nsamples)
        s_check_memory(&k, t0);
    for (int v = 0; v <= NSVC; v++) {
        k.dealer[v] = NULL;
        cl_client_destroy(&k.client[v]);
    }
    zmq_ctx_term(zctx);
    free(k.reqs);
    free(k.cases);
    free(k.heap);
    free(k.samples);
    return rc ? 1 : s_failed ? 1 : 0;
}

/* --- check -------------------------------------------------------------------------------------- */

/* The cases of --acked: their source into source, their numbers as a bigint[] literal into ids.
   Returns how many, or -1 (said). */
static long s_read_acked(char *source, size_t len, cl_buf_t *ids)
{
    FILE *f = fopen(s_opt.acked, "r");
    if (!f) {
        fprintf(stderr, "soak: cannot read %s: %s\n", s_opt.acked, strerror(errno));
        return -1;
    }
    char line[128];
    long n = -1;
    if (fgets(line, sizeof line, f) && strncmp(line, "source ", 7) == 0) {
        snprintf(source, len, "%.*s", (int)strcspn(line + 7, "\n"), line + 7);
        n = 0;
        cl_pgarr_begin(ids);
        while (fgets(line, sizeof line, f)) {
            cl_pgarr_i64(ids, strtoll(line, NULL, 10));
            n++;
        }
        cl_pgarr_end(ids);
    } else {
        fprintf(stderr, "soak: %s does not start with its source\n", s_opt.acked);
    }
    fclose(f);
    return n;
}

/* Every case acknowledged stored once and dispatched once: its row, one CaseReceived, no report
   under the run's keys; its dispatch, one CaseDispatched and one CaseAssigned. */
static int s_check_cases(PGconn *pg, const char *source, const char *ids, long n)
{
    const char *p[] = {ids, source};
    PGresult *res = bc_sql(pg,
                           "WITH a AS (SELECT DISTINCT unnest($1::bigint[]) AS id),"
                           " e AS (SELECT case_id, count(*) FILTER (WHERE type = 'CaseReceived') r,"
                           "  count(*) FILTER (WHERE type = 'CaseDispatched') d,"
                           "  count(*) FILTER (WHERE type = 'CaseAssigned') s FROM events"
                           "  WHERE type IN ('CaseReceived', 'CaseDispatched', 'CaseAssigned') GROUP BY case_id)"
                           " SELECT count(*),"
                           "  count(*) FILTER (WHERE c.id IS NULL),"
                           "  count(*) FILTER (WHERE c.id IS NOT NULL AND coalesce(e.r, 0) <> 1),"
                           "  count(*) FILTER (WHERE d.case_id IS NULL),"
                           "  count(*) FILTER (WHERE d.case_id IS NOT NULL"
                           "   AND (coalesce(e.d, 0) <> 1 OR coalesce(e.s, 0) <> 1)),"
                           "  (SELECT count(*) FROM cases WHERE external_source = $2),"
                           "  (SELECT count(*) FROM case_reports WHERE external_source = $2)"
                           " FROM a LEFT JOIN cases c ON c.id = a.id LEFT JOIN dispatches d ON d.case_id = a.id"
                           " LEFT JOIN e ON e.case_id = a.id",
                           2, p);
    if (!res || PQntuples(res) != 1) {
        PQclear(res);
        return -1;
    }
    long long v[7];
    for (int i = 0; i < 7; i++)
        v[i] = strtoll(PQgetvalue(res, 0, i), NULL, 10);
    PQclear(res);
    long long distinct = v[0], missing = v[1], received_not_once = v[2], undispatched = v[3],
              dispatched_not_once = v[4], stored = v[5], reports = v[6];
    s_check(distinct == n && missing == 0 && received_not_once == 0 && reports == 0 && stored == n, "stored",
            "%ld cases acknowledged (%lld case numbers): %lld not in the cases table, %lld without exactly one"
            " CaseReceived; %lld cases stored under the run's keys, %lld further reports",
            n, distinct, missing, received_not_once, stored, reports);
    s_check(undispatched == 0 && dispatched_not_once == 0, "dispatched",
            "of %lld cases acknowledged, %lld without a dispatch, %lld without exactly one CaseDispatched and one"
            " CaseAssigned",
            distinct, undispatched, dispatched_not_once);
    return 0;
}

/* The log's positions: 1..head, each once (positions are its primary key). */
static int s_check_log(PGconn *pg)
{
    PGresult *res = bc_sql(pg,
                           "SELECT (SELECT position FROM event_head), count(*), coalesce(min(position), 0),"
                           " coalesce(max(position), 0) FROM events",
                           0, NULL);
    if (!res || PQntuples(res) != 1) {
        PQclear(res);
        return -1;
    }
    long long head = strtoll(PQgetvalue(res, 0, 0), NULL, 10), n = strtoll(PQgetvalue(res, 0, 1), NULL, 10),
              lo = strtoll(PQgetvalue(res, 0, 2), NULL, 10), hi = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
    PQclear(res);
    bool ok = n == head && hi == head && (n == 0 || lo == 1);
    char hole[64] = ", no hole";
    if (!ok)
        snprintf(hole, sizeof hole, "; the first position missing: %lld",
                 bc_scalar(pg,
                           "SELECT coalesce(min(g), 0) FROM generate_series(1, (SELECT position FROM event_head)) g"
                           " WHERE NOT EXISTS (SELECT 1 FROM events WHERE position = g)",
                           0, NULL));
    s_check(ok, "event-log", "head %lld; %lld events, positions %lld..%lld%s", head, n, lo, hi, hole);
    return 0;
}

/* The step a clock event fired ("W50", "B", "L2"), or NULL for another event. */
static const char *s_step_of(const cl_env_t *env, char *buf, size_t len, uint64_t *clock_id)
{
    const Caseloop__V1__Clock *c = NULL;
    switch (env->body_case) {
    case CASELOOP__V1__ENVELOPE__BODY_CLOCK_WARNING:
        c = env->clock_warning->clock;
        snprintf(buf, len, "W%u", env->clock_warning->percent);
        break;
    case CASELOOP__V1__ENVELOPE__BODY_CLOCK_BREACHED:
        c = env->clock_breached->clock;
        snprintf(buf, len, "B");
        break;
    case CASELOOP__V1__ENVELOPE__BODY_ESCALATION_RAISED:
        c = env->escalation_raised->clock;
        snprintf(buf, len, "L%u", env->escalation_raised->level);
        break;
    default:
        return NULL;
    }
    *clock_id = c ? c->clock_id : 0;
    return buf;
}

/* Every clock step due fired exactly once. The steps a clock was armed with are in clocks
   (steps, typed: at_us, kind, percent, level); each fired step is one event (ClockWarning with its percent,
   ClockBreached, EscalationRaised with its level) naming the clock. A step is due when its
   moment is more than EDGE_US before the clock closed (met or cancelled) or before until
   (escalation was told to stop); one more than EDGE_US after that must not have fired. */
static int s_check_steps(PGconn *pg)
{
    if (bc_cmd(pg, "CREATE TEMP TABLE soak_fired (clock_id bigint, step text, position bigint)", 0, NULL) < 0)
        return -1;
    long long after = 0, fired = 0, unreadable = 0;
    for (;;) {
        char a[24];
        snprintf(a, sizeof a, "%lld", after);
        const char *p[] = {a};
        PGresult *res = bc_sql(pg,
                               "SELECT position, envelope FROM events WHERE position > $1::bigint AND type IN"
                               " ('ClockWarning', 'ClockBreached', 'EscalationRaised') ORDER BY position LIMIT 10000",
                               1, p);
        if (!res)
            return -1;
        int rows = PQntuples(res);
        cl_buf_t ids = {0}, steps = {0}, pos = {0};
        cl_pgarr_begin(&ids), cl_pgarr_begin(&steps), cl_pgarr_begin(&pos);
        for (int r = 0; r < rows; r++) {
            after = strtoll(PQgetvalue(res, r, 0), NULL, 10);
            size_t len = 0;
            unsigned char *bytes = PQunescapeBytea((const unsigned char *)PQgetvalue(res, r, 1), &len);
            cl_err_t err;
            cl_env_t *env = bytes ? cl_codec_decode(bytes, len, SIZE_MAX, &err) : NULL;
            PQfreemem(bytes);
            char buf[16];
            uint64_t clock_id = 0;
            const char *step = env ? s_step_of(env, buf, sizeof buf, &clock_id) : NULL;
            if (step && clock_id) {
                cl_pgarr_i64(&ids, (int64_t)clock_id);
                cl_pgarr_text(&steps, step);
                cl_pgarr_i64(&pos, after);
                fired++;
            } else {
                unreadable++;
            }
            cl_codec_free(env);
        }
        PQclear(res);
        cl_pgarr_end(&ids), cl_pgarr_end(&steps), cl_pgarr_end(&pos);
        const char *q[] = {ids.data, steps.data, pos.data};
        int rc = rows ? bc_cmd(pg,
                               "INSERT INTO soak_fired SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[])",
                               3, q)
                      : 0;
        cl_buf_free(&ids), cl_buf_free(&steps), cl_buf_free(&pos);
        if (rc < 0)
            return -1;
        if (rows < 10000)
            break;
    }
    char until[24], edge[24];
    snprintf(until, sizeof until, "%" PRId64, s_opt.until_us);
    snprintf(edge, sizeof edge, "%" PRId64, (int64_t)EDGE_US);
    const char *p[] = {until, edge};
    /* Each step of each clock, the moment its clock stopped counting (closed, or escalation
       stopped), and how many events fired it. */
    static const char steps_sql[] =
        "WITH s AS (SELECT k.id, k.case_id, k.code, u.at_us AS at,"
        "   CASE u.kind WHEN 'warning' THEN 'W' || u.percent WHEN 'breach' THEN 'B' ELSE 'L' || u.level END AS step,"
        "   least($1::bigint, coalesce(cl_ts_to_us(k.closed_at), $1::bigint)) AS cut"
        "  FROM clocks k, unnest(k.steps) AS u),"
        " f AS (SELECT clock_id, step, count(*) AS n FROM soak_fired GROUP BY 1, 2),"
        " j AS (SELECT s.*, coalesce(f.n, 0) AS n FROM s LEFT JOIN f ON f.clock_id = s.id AND f.step = s.step)";
    cl_buf_t sql = {0};
    cl_buf_printf(&sql,
                  "%s SELECT count(DISTINCT id), count(*),"
                  " count(*) FILTER (WHERE at < cut - $2::bigint),"
                  " count(*) FILTER (WHERE at < cut - $2::bigint AND n = 1),"
                  " count(*) FILTER (WHERE at < cut - $2::bigint AND n = 0),"
                  " count(*) FILTER (WHERE n > 1),"
                  " count(*) FILTER (WHERE at > cut + $2::bigint AND n > 0),"
                  " count(*) FILTER (WHERE at >= cut - $2::bigint AND at <= cut + $2::bigint),"
                  " count(*) FILTER (WHERE at >= cut - $2::bigint AND at <= cut + $2::bigint AND n = 1),"
                  " (SELECT count(*) FROM clocks WHERE level > 0),"
                  " (SELECT count(*) FROM soak_fired x WHERE NOT EXISTS (SELECT 1 FROM s WHERE s.id = x.clock_id"
                  "   AND s.step = x.step))"
                  " FROM j",
                  steps_sql);
    PGresult *res = bc_sql(pg, sql.data, 2, p);
    if (!res || PQntuples(res) != 1) {
        PQclear(res);
        cl_buf_free(&sql);
        return -1;
    }
    long long v[11];
    for (int i = 0; i < 11; i++)
        v[i] = strtoll(PQgetvalue(res, 0, i), NULL, 10);
    PQclear(res);
    long long clocks = v[0], steps = v[1], due = v[2], once = v[3], missed = v[4], twice = v[5], late = v[6],
              edge_n = v[7], edge_fired = v[8], breached = v[9], stray = v[10];
    /* The first step that went wrong, to start looking from. */
    char first[200] = "";
    if (missed || twice || late) {
        cl_buf_reset(&sql);
        cl_buf_printf(&sql,
                      "%s SELECT case_id, code, step, n, round((cut - at) / 1000.0) FROM j"
                      " WHERE (at < cut - $2::bigint AND n = 0) OR n > 1 OR (at > cut + $2::bigint AND n > 0)"
                      " ORDER BY at LIMIT 1",
                      steps_sql);
        res = bc_sql(pg, sql.data, 2, p);
        if (res && PQntuples(res) == 1)
            snprintf(first, sizeof first,
                     "; the first: case %s clock %s step %s fired %s times, due %s ms before its end",
                     PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3),
                     PQgetvalue(res, 0, 4));
        PQclear(res);
    }
    cl_buf_free(&sql);
    s_check(due > 0 && missed == 0 && twice == 0 && late == 0 && stray == 0 && unreadable == 0, "clock-steps",
            "%lld clocks (%lld of them breached) with %lld steps, %lld step events; %lld steps due (more than %.0f s"
            " before the clock closed or escalation stopped): %lld fired once, %lld never; %lld fired more than"
            " once; %lld fired more than %.0f s after the clock closed; %lld within %.0f s of the end (%lld of them"
            " fired); %lld events of no step, %lld unreadable%s",
            clocks, breached, steps, fired, due, (double)EDGE_US / 1e6, once, missed, twice, late,
            (double)EDGE_US / 1e6, edge_n, (double)EDGE_US / 1e6, edge_fired, stray, unreadable, first);
    return 0;
}

static int s_check_db(PGconn *pg)
{
    char source[64];
    cl_buf_t ids = {0};
    long n = s_read_acked(source, sizeof source, &ids);
    int rc = n < 0 ? -1 : 0;
    if (rc == 0 && n == 0)
        fprintf(stderr, "soak: no case was acknowledged\n"), rc = -1;
    if (rc == 0)
        rc = s_check_cases(pg, source, ids.data, n);
    cl_buf_free(&ids);
    if (rc == 0)
        rc = s_check_steps(pg);
    if (rc == 0)
        rc = s_check_log(pg);
    return rc < 0 ? 1 : s_failed ? 1 : 0;
}

/* --- the program ------------------------------------------------------------------------------------ */

static const char s_usage[] =
    "usage: caseloop-soak --mode MODE [OPTION...]\n"
    "The driver of `scripts/soak`: steady traffic through intake, the dispatcher and escalation, then checks.\n"
    "Modes (scripts/soak runs them in this order):\n"
    "  run     load the soak policy, submit cases and take them through their plans for --minutes;\n"
    "          sample memory and GetStats every 10 s; check the replies and the memory\n"
    "  check   (the services stopped) check the database: cases stored and dispatched once, clock steps\n"
    "          fired once, the event log without holes\n"
    "Each check prints a line \"PASS name: figures\" or \"FAIL name: figures\".\n"
    "Options:\n"
    "  --db CONNINFO            the services' database (default: $CL_DB); a local one\n"
    "  --intake ENDPOINT        run: intake's ROUTER (default: $CL_INTAKE_ROUTER)\n"
    "  --dispatcher ENDPOINT    run: the dispatcher's ROUTER (default: $CL_DISPATCHER_ROUTER)\n"
    "  --escalation ENDPOINT    run: escalation's ROUTER (default: $CL_ESCALATION_ROUTER)\n"
    "  --pids I,D,E             run: the process ids of intake, the dispatcher and escalation\n"
    "  --minutes N              run: minutes of traffic (default 10)\n"
    "  --rate R                 run: cases submitted per second (default 200)\n"
    "  --acked FILE             the cases acknowledged: written by run, read by check\n"
    "  --until-us US            check: when escalation was told to stop (microseconds since the epoch)\n";

static void s_parse(int argc, char **argv)
{
    static const struct option longs[] = {
        {"mode", required_argument, NULL, 'm'},       {"db", required_argument, NULL, 'd'},
        {"intake", required_argument, NULL, 'i'},     {"dispatcher", required_argument, NULL, 'D'},
        {"escalation", required_argument, NULL, 'e'}, {"pids", required_argument, NULL, 'p'},
        {"minutes", required_argument, NULL, 'M'},    {"rate", required_argument, NULL, 'r'},
        {"acked", required_argument, NULL, 'a'},      {"until-us", required_argument, NULL, 'u'},
        {"help", no_argument, NULL, 'h'},             {NULL, 0, NULL, 0},
    };
    s_opt.db = getenv("CL_DB");
    s_opt.router[SVC_INTAKE] = getenv("CL_INTAKE_ROUTER");
    s_opt.router[SVC_DISPATCHER] = getenv("CL_DISPATCHER_ROUTER");
    s_opt.router[SVC_ESCALATION] = getenv("CL_ESCALATION_ROUTER");
    const char *pids = NULL;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (ch) {
        case 'm':
            s_opt.mode = strcmp(optarg, "run") == 0 ? MODE_RUN : strcmp(optarg, "check") == 0 ? MODE_CHECK : MODE_NONE;
            if (s_opt.mode == MODE_NONE) {
                fprintf(stderr, "soak: --mode is run or check, not \"%s\"\n", optarg);
                exit(2);
            }
            break;
        case 'd': s_opt.db = optarg; break;
        case 'i': s_opt.router[SVC_INTAKE] = optarg; break;
        case 'D': s_opt.router[SVC_DISPATCHER] = optarg; break;
        case 'e': s_opt.router[SVC_ESCALATION] = optarg; break;
        case 'p': pids = optarg; break;
        case 'M': s_opt.minutes = bc_num("--minutes", optarg, 1, 1440); break;
        case 'r': s_opt.rate = bc_num("--rate", optarg, 1, 5000); break;
        case 'a': s_opt.acked = optarg; break;
        case 'u': s_opt.until_us = bc_num("--until-us", optarg, 1, INT64_MAX); break;
        case 'h': fputs(s_usage, stdout); exit(0);
        default: fputs(s_usage, stderr); exit(2);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "soak: unexpected argument \"%s\"\n%s", argv[optind], s_usage);
        exit(2);
    }
    if (s_opt.mode == MODE_NONE) {
        fprintf(stderr, "soak: give --mode run or check\n%s", s_usage);
        exit(2);
    }
    bc_need("--db (or CL_DB)", s_opt.db);
    if (!bc_local_db(s_opt.db)) {
        fprintf(stderr, "soak: the database must be local (a Unix socket or loopback)\n");
        exit(2);
    }
    bc_need("--acked", s_opt.acked);
    if (s_opt.mode == MODE_RUN) {
        static const char *const what[NSVC] = {"--intake (or CL_INTAKE_ROUTER)",
                                               "--dispatcher (or CL_DISPATCHER_ROUTER)",
                                               "--escalation (or CL_ESCALATION_ROUTER)"};
        for (int v = 0; v < NSVC; v++) {
            bc_need(what[v], s_opt.router[v]);
            bc_need_local(s_opt.router[v]);
        }
        bc_need("--pids", pids);
        char *end;
        const char *at = pids;
        for (int v = 0; v < NSVC; v++) {
            errno = 0;
            s_opt.pid[v] = strtol(at, &end, 10);
            if (errno || end == at || s_opt.pid[v] <= 0 || *end != (v + 1 < NSVC ? ',' : '\0')) {
                fprintf(stderr, "soak: --pids is three process ids, I,D,E, not \"%s\"\n", pids);
                exit(2);
            }
            at = end + 1;
        }
    } else {
        if (s_opt.until_us <= 0) {
            fprintf(stderr, "soak: --mode check needs --until-us\n");
            exit(2);
        }
    }
}

int main(int argc, char **argv)
{
    bc_program("soak", s_usage);
    s_parse(argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
    /* The run's minutes, the waits after it (at most 10 s for replies, 60 s for dispatches) and a margin. */
    bc_deadline(s_opt.mode == MODE_RUN ? (unsigned)(s_opt.minutes * 60 + 180) : 600);

    PGconn *pg = PQconnectdb(s_opt.db);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "soak: cannot connect to the database: %s", PQerrorMessage(pg));
        PQfinish(pg);
        return 1;
    }
    PQclear(PQexec(pg, "SET client_min_messages = warning"));
    PQclear(PQexec(pg, "SET application_name = 'caseloop-soak'"));
    PQclear(PQexec(pg, "SET statement_timeout = 0"));
    int rc = s_opt.mode == MODE_RUN ? s_run(pg) : s_check_db(pg);
    PQfinish(pg);
    return rc;
}
