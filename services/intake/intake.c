/* intake.c - the intake service loop: batches requests, stores submissions in group commits, replies, publishes. */
#include "intake.h"
#include "validate.h"
#include "cases.h"
#include "cl_actor.h"
#include "cl_policies.h"
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SENDER "intake"

const cl_cfg_option_t cl_intake_options[] = {
    CL_SERVICE_OPTIONS(cl_intake_config_t),
    CL_SERVICE_ENDPOINTS(cl_intake_config_t, "INTAKE", "tcp://127.0.0.1:7101", "tcp://127.0.0.1:7102"),
    CL_SERVICE_LIMITS(cl_intake_config_t, "65536", "largest request frame accepted, in bytes", "256", 4096,
                      "most submissions stored in one transaction"),
    CL_CFG_INT("CL_STORE_WORKERS", cl_intake_config_t, store_workers, "2", 1, 64,
               "threads storing batches, each on its own database connection"),
    {0},
};

/* --- counters ---------------------------------------------------------------- */

/* One batch on its way: taken off the ROUTER and checked by the main thread,
   stored by a worker on its own connection, then answered and published by
   the main thread. Only the thread holding it touches it; the pipe hands it over. */
typedef struct {
    cl_request_t *reqs;
    cl_env_t **envs;
    cl_submit_t *subs;
    size_t *sub_req;            /* request index of each submission */
    size_t n, nsub;
    cl_store_events_t *evs;     /* one per committed transaction: the batch's, or each item's */
    size_t nevs;
    size_t *cmd_req;            /* request index of each lifecycle command, applied after the submissions */
    cl_command_event_t *cmd_out;
    cl_err_t *cmd_err;
    size_t ncmd;
} s_job_t;

/* A store worker (an actor, cl_actor.h): gets a job's pointer in a message,
   stores it on its own connection and hands the pointer back. What it holds
   here is its own once it runs (set up before, freed after). */
typedef struct {
    cl_policies_t policies;     /* the worker's own copy, read on its connection */
    cl_publisher_t *publisher;  /* for its turns only: the main thread publishes */
    cl_clock_t *clock;
    cl_db_t *db;
} s_worker_t;

struct cl_intake {
    const cl_intake_config_t *cfg;
    cl_runtime_t rt;            /* its db serves lookups and stats; the publisher's turns are shared with
                                   the workers, and the main thread publishes */
    s_worker_t *workers;
    cl_actor_t **actors;        /* the main thread's handles of the workers */
    s_job_t *jobs;              /* jobs[i]: worker i's, held by the main thread unless busy[i] */
    bool *busy;
    size_t queued;              /* requests waiting in the service's queue */
    size_t nworkers;
};

/* --- replies ------------------------------------------------------------------ */

/* Answers a submission with its case number, outcome (created, attached,
   repeated), report count and the time by which the customer hears back
   (R-IN-2). */
static void s_reply_submit(cl_intake_t *self, cl_request_t *req, const cl_env_t *env, const cl_submit_t *s)
{
    cl_env_t reply;
    char id[CL_ID_MAX + 1];
    cl_service_reply_init(self->rt.svc, &reply, id, env);
    Caseloop__V1__SubmitCaseReply body = CASELOOP__V1__SUBMIT_CASE_REPLY__INIT;
    body.has_case_id = 1, body.case_id = s->case_id;
    body.has_outcome = 1, body.outcome = s->outcome;
    body.has_respond_by_us = s->respond_by_us != 0, body.respond_by_us = s->respond_by_us;
    body.has_report_count = 1, body.report_count = s->report_count;
    if (s->report_id)
        body.has_report_id = 1, body.report_id = s->report_id;
    reply.body_case = CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE_REPLY;
    reply.submit_case_reply = &body;
    cl_service_reply(self->rt.svc, req, &reply);
}

/* --- submissions ---------------------------------------------------------------- */

/* The policies in force, read again when a newer version was loaded. A
   database that cannot be read leaves them as they were: what needs the
   database fails on its own. */
static void s_refresh(cl_policies_t *p, cl_db_t *db)
{
    cl_err_t err;
    if (cl_policies_refresh(p, db, &err) < 0)
        cl_log(CL_LOG_WARN, NULL, "the policies in force could not be read (those read before apply): %s",
               err.message);
}

/* Each submission's terms from its site's policy in force at now (R-IN-2, R-IN-3). */
static void s_terms(const cl_policies_t *p, cl_submit_t *subs, size_t n, int64_t now)
{
    for (size_t i = 0; i < n; i++) {
        const cl_site_in_force_t *site = cl_policies_site(p, subs[i].in->site);
        if (cl_terms_of(site ? &site->policy->sites[0] : NULL, now, &subs[i].terms) < 0) {
            cl_log_ctx_t ctx = {0, subs[i].in->site, NULL, NULL};
            cl_log(CL_LOG_WARN, &ctx, "the site's calendar cannot place the promise: nothing is promised");
        }
    }
}

/* Refuses the submissions that say they occurred further ahead than their
   site allows, and moves them after the others. Returns how many are left. */
static size_t s_admit(s_job_t *job, int64_t now)
{
    size_t k = 0;
    for (size_t i = 0; i < job->nsub; i++) {
        cl_submit_t *it = &job->subs[i];
        cl_err_clear(&it->err);
        if (cl_validate_occurred(it->in, now, it->terms.future_skew_us, &it->err) < 0)
            continue;
        if (i != k) {
            cl_submit_t t = job->subs[k];
            job->subs[k] = *it;
            *it = t;
            size_t r = job->sub_req[k];
            job->sub_req[k] = job->sub_req[i];
            job->sub_req[i] = r;
        }
        k++;
    }
    return k;
}

/* cl_store_submit, tried again when a concurrent writer took the same key. */
static int s_store_try(s_worker_t *w, cl_submit_t *subs, size_t n, cl_store_events_t *evs, cl_err_t *err)
{
    int rc = -1;
    for (int attempt = 0; attempt < 3; attempt++) {
        cl_err_clear(err);
        int64_t now = cl_clock_now(w->clock);
        s_terms(&w->policies, subs, n, now);
        rc = cl_store_submit(w->db, subs, n, now, SENDER, w->publisher, evs, err);
        if (rc == 0 || !cl_db_retryable(w->db))
            break;
    }
    return rc;
}

/* Worker side: reads the policies in force (a new version is in force for
   the next batch), checks what the site decides, and stores the job's
   submissions in one transaction, falling back to one transaction per item
   when the batch fails for a reason of its own, so that one bad row cannot
   refuse the others. */
static void s_store(s_worker_t *w, s_job_t *job)
{
    cl_err_t err;
    job->nevs = 0;
    if (job->nsub == 0)
        return;
    s_refresh(&w->policies, w->db);
    int64_t now = cl_clock_now(w->clock);
    s_terms(&w->policies, job->subs, job->nsub, now);
    size_t n = s_admit(job, now);
    if (n == 0)
        return;
    if (s_store_try(w, job->subs, n, &job->evs[0], &err) == 0) {
        job->nevs = 1;
        return;
    }
    if (err.code == CL_UNAVAILABLE || n == 1) {
        for (size_t i = 0; i < n; i++)
            job->subs[i].err = err;
        return;
    }
    cl_log(CL_LOG_WARN, NULL, "batch of %zu failed (%s); storing one by one", n, err.message);
    for (size_t i = 0; i < n; i++) {
        if (s_store_try(w, &job->subs[i], 1, &job->evs[job->nevs], &err) < 0)
            job->subs[i].err = err;
        else
            job->nevs++;
    }
}

/* cl_store_commands, tried again when it lost a deadlock or a serialization
   conflict. Returns 0, or -1 with err. */
static int s_commands_try(s_worker_t *w, const Caseloop__V1__CaseCommand *const *cmds, size_t n,
                          cl_command_event_t *out, cl_err_t *refused, cl_err_t *err)
{
    int rc = -1;
    for (int attempt = 0; attempt < 3; attempt++) {
        cl_err_clear(err);
        rc = cl_store_commands(w->db, cmds, n, cl_clock_now(w->clock), SENDER, w->publisher, out, refused, err);
        if (rc == 0 || !cl_db_retryable(w->db))
            break;
    }
    return rc;
}

/* Worker side: the job's lifecycle commands, after its submissions, in one
   transaction in the order they came; when that fails for a reason of its
   own, one transaction each, so that one cannot refuse the others. */
static void s_commands(s_worker_t *w, s_job_t *job)
{
    if (job->ncmd == 0)
        return;
    const Caseloop__V1__CaseCommand **cmds = calloc(job->ncmd, sizeof *cmds);
    if (!cmds)
        abort();
    for (size_t k = 0; k < job->ncmd; k++)
        cmds[k] = job->envs[job->cmd_req[k]]->case_command;
    cl_err_t err;
    if (s_commands_try(w, cmds, job->ncmd, job->cmd_out, job->cmd_err, &err) < 0) {
        if (err.code == CL_UNAVAILABLE || job->ncmd == 1) {
            for (size_t k = 0; k < job->ncmd; k++)
                job->cmd_err[k] = err;
        } else {
            cl_log(CL_LOG_WARN, NULL, "%zu commands failed together (%s); applying them one by one", job->ncmd,
                   err.message);
            for (size_t k = 0; k < job->ncmd; k++)
                if (s_commands_try(w, &cmds[k], 1, &job->cmd_out[k], &job->cmd_err[k], &err) < 0)
                    job->cmd_err[k] = err;
        }
    }
    free(cmds);
}

/* Worker: each job handed over is stored, then handed back. */
static void s_worker_main(cl_actor_t *a, void *arg)
{
    s_worker_t *w = arg;
    s_job_t *job;
    int rc;
    while ((rc = cl_actor_wait(a, -1, &job, sizeof job, NULL)) >= 0) {
        if (rc == 0)
            continue;
        s_store(w, job);
        s_commands(w, job);
        const void *part = &job;
        size_t len = sizeof job;
        cl_actor_put(a, 1, &part, &len);
    }
}

static void s_reply_command(cl_intake_t *self, cl_request_t *req, const cl_env_t *env, cl_command_event_t *out,
                            const cl_err_t *err);
static void s_publish_commands(cl_intake_t *self, s_job_t *job);

/* Main side, once the worker is done: acks (each one committed), counters,
   then the events, published after their commit. */
static void s_finish(cl_intake_t *self, s_job_t *job)
{
    /* batches: the transactions that stored submissions (a batch stored one by one
       counts each); batch_items: the submissions they answered. */
    if (job->nevs)
        cl_service_count(self->rt.svc, "batches", job->nevs);
    for (size_t i = 0; i < job->nsub; i++) {
        cl_submit_t *s = &job->subs[i];
        cl_request_t *req = &job->reqs[job->sub_req[i]];
        const cl_env_t *env = job->envs[job->sub_req[i]];
        if (s->err.code != CL_OK) {
            if (s->err.code == CL_INTERNAL) {
                cl_log_ctx_t ctx = {0, s->in->site, "INTERNAL", NULL};
                cl_log(CL_LOG_ERROR, &ctx, "could not store %s/%s: %s", s->in->external_source, s->in->external_id,
                       s->err.message);
                cl_err_set(&s->err, CL_INTERNAL, "", "the case could not be stored; it is logged");
            }
            cl_service_refuse(self->rt.svc, req, env, &s->err);
            continue;
        }
        s_reply_submit(self, req, env, s);
        cl_service_count(self->rt.svc, "batch_items", 1);
        cl_service_count(self->rt.svc, s->outcome == CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_CREATED    ? "cases_created"
                      : s->outcome == CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_ATTACHED ? "reports_attached"
                                                                                           : "repeats",
                1);
    }
    for (size_t i = 0; i < job->nevs; i++) {
        cl_publisher_put(self->rt.publisher, job->evs[i].turn, job->evs[i].evs, job->evs[i].n);
        cl_store_events_release(&job->evs[i]);
    }
    job->nevs = 0;
    for (size_t k = 0; k < job->ncmd; k++)
        s_reply_command(self, &job->reqs[job->cmd_req[k]], job->envs[job->cmd_req[k]], &job->cmd_out[k],
                        &job->cmd_err[k]);
    s_publish_commands(self, job);
    for (size_t i = 0; i < job->n; i++) {
        cl_codec_free(job->envs[i]);
        job->envs[i] = NULL;
    }
    job->n = job->nsub = job->ncmd = 0;
}

/* --- reads ---------------------------------------------------------------------- */

static void s_get_case(void *arg, cl_request_t *req, const cl_env_t *env)
{
    cl_intake_t *self = arg;
    cl_err_t err;
    cl_err_clear(&err);
    if (!env->get_case->has_case_id || env->get_case->case_id == 0) {
        cl_err_set(&err, CL_INVALID_ARGUMENT, "case_id", "case_id is required");
        cl_service_refuse(self->rt.svc, req, env, &err);
        return;
    }
    Caseloop__V1__GetCaseReply *body = NULL;
    if (cl_store_get_case(self->rt.db, env->get_case->case_id, &body, &err) < 0) {
        cl_service_refuse(self->rt.svc, req, env, &err);
        return;
    }
    cl_env_t reply;
    char id[CL_ID_MAX + 1];
    cl_service_reply_init(self->rt.svc, &reply, id, env);
    reply.body_case = CASELOOP__V1__ENVELOPE__BODY_GET_CASE_REPLY;
    reply.get_case_reply = body;
    cl_service_reply(self->rt.svc, req, &reply);
    cl_store_case_free(&body);
}

/* --- writes on the main thread ----------------------------------------------------- */

/* The customer's callback preferences changed after submission: checked as at
   submission, stored with CasePreferencesChanged in one transaction, published
   after commit. */
static void s_set_preferences(void *arg, cl_request_t *req, const cl_env_t *env)
{
    cl_intake_t *self = arg;
    const Caseloop__V1__SetPreferences *q = env->set_preferences;
    cl_err_t err;
    cl_err_clear(&err);
    if (!q->has_case_id || q->case_id == 0 || q->case_id > INT64_MAX)
        cl_err_set(&err, CL_INVALID_ARGUMENT, "case_id", "case_id is required");
    else if (cl_text_check(q->actor, "actor", 1, 100, &err) == 0 && !q->preferences)
        cl_err_set(&err, CL_INVALID_ARGUMENT, "preferences", "preferences are required (an empty message asks for nothing)");
    if (err.code != CL_OK || cl_validate_preferences(q->preferences, "preferences", self->cfg->base.tz_dir, &err) < 0) {
        cl_service_refuse(self->rt.svc, req, env, &err);
        return;
    }
    size_t len = caseloop__v1__customer_preferences__get_packed_size(q->preferences);
    uint8_t *packed = malloc(len + 1);
    if (!packed)
        abort();
    caseloop__v1__customer_preferences__pack(q->preferences, packed);
    char site[80];
    int64_t now = cl_clock_now(self->rt.clock);
    Caseloop__V1__CasePreferencesChanged ch = CASELOOP__V1__CASE_PREFERENCES_CHANGED__INIT;
    cl_env_t ev;
    char eid[CL_ID_MAX + 1];
    cl_event_t e = {&ev, (int64_t)q->case_id, {0}};
    uint64_t turn = 0;
    if (cl_db_begin(self->rt.db, &err) == 0 &&
        cl_store_set_preferences(self->rt.db, q->case_id, packed, len, site, &err) == 0) {
        ch.has_case_id = 1, ch.case_id = q->case_id;
        ch.site = site;
        ch.preferences = q->preferences;
        ch.actor = q->actor;
        cl_codec_init(&ev, eid, SENDER, now);
        ev.site = site;
        ev.body_case = CASELOOP__V1__ENVELOPE__BODY_CASE_PREFERENCES_CHANGED;
        ev.case_preferences_changed = &ch;
        turn = cl_publisher_commit(self->rt.publisher, self->rt.db, &e, 1, now, &err);
    }
    free(packed);
    if (!turn) {
        cl_db_rollback(self->rt.db);
        cl_service_refuse(self->rt.svc, req, env, &err);
        return;
    }
    cl_publisher_put(self->rt.publisher, turn, &e, 1);
    cl_eventlog_release(&e, 1);
    cl_env_t reply;
    char id[CL_ID_MAX + 1];
    cl_service_reply_init(self->rt.svc, &reply, id, env);
    Caseloop__V1__SetPreferencesReply body = CASELOOP__V1__SET_PREFERENCES_REPLY__INIT;
    body.has_case_id = 1, body.case_id = q->case_id;
    body.preferences = q->preferences;
    reply.body_case = CASELOOP__V1__ENVELOPE__BODY_SET_PREFERENCES_REPLY;
    reply.set_preferences_reply = &body;
    cl_service_reply(self->rt.svc, req, &reply);
    cl_service_count(self->rt.svc, "preferences_changed", 1);
}

/* Main side: answers a lifecycle command a worker applied (err set when it
   was refused). */
static void s_reply_command(cl_intake_t *self, cl_request_t *req, const cl_env_t *env, cl_command_event_t *out,
                            const cl_err_t *err)
{
    if (err->code != CL_OK) {
        cl_service_refuse(self->rt.svc, req, env, err);
        return;
    }
    const Caseloop__V1__CaseCommand *cmd = env->case_command;
    cl_env_t reply;
    char id[CL_ID_MAX + 1];
    cl_service_reply_init(self->rt.svc, &reply, id, env);
    Caseloop__V1__CaseCommandReply body = CASELOOP__V1__CASE_COMMAND_REPLY__INIT;
    body.has_case_id = 1, body.case_id = cmd->case_id;
    body.has_state = 1, body.state = out->updated.state_after;
    body.has_position = 1, body.position = out->env.position;
    body.has_repeated = out->repeated, body.repeated = out->repeated;
    reply.body_case = CASELOOP__V1__ENVELOPE__BODY_CASE_COMMAND_REPLY;
    reply.case_command_reply = &body;
    cl_service_reply(self->rt.svc, req, &reply);
    cl_service_count(self->rt.svc, out->repeated ? "command_repeats" : "case_commands", 1);
}

/* Main side: publishes the events of a job's commands, each commit's at its
   turn (one for the job, or one per command when they were applied one by
   one), and releases them. */
static void s_publish_commands(cl_intake_t *self, s_job_t *job)
{
    cl_event_t *evs = calloc(job->ncmd + 1, sizeof *evs);
    if (!evs)
        abort();
    size_t n = 0;
    uint64_t turn = 0;
    for (size_t k = 0; k <= job->ncmd; k++) {
        cl_command_event_t *out = k < job->ncmd ? &job->cmd_out[k] : NULL;
        if (out && out->turn == 0)
            continue;
        if (n > 0 && (!out || out->turn != turn)) {
            cl_publisher_put(self->rt.publisher, turn, evs, n);
            n = 0;
        }
        if (out) {
            turn = out->turn;
            evs[n++] = out->ev;
        }
    }
    for (size_t k = 0; k < job->ncmd; k++)
        cl_command_event_release(&job->cmd_out[k]);
    free(evs);
}

static void s_list_cases(void *arg, cl_request_t *req, const cl_env_t *env)
{
    cl_intake_t *self = arg;
    cl_err_t err;
    cl_err_clear(&err);
    Caseloop__V1__ListCasesReply *body = NULL;
    if (cl_list_validate(env->list_cases, &err) < 0 || cl_store_list_cases(self->rt.db, env->list_cases, &body, &err) < 0) {
        cl_service_refuse(self->rt.svc, req, env, &err);
        return;
    }
    cl_env_t reply;
    char id[CL_ID_MAX + 1];
    cl_service_reply_init(self->rt.svc, &reply, id, env);
    reply.body_case = CASELOOP__V1__ENVELOPE__BODY_LIST_CASES_REPLY;
    reply.list_cases_reply = body;
    cl_service_reply(self->rt.svc, req, &reply);
    caseloop__v1__list_cases_reply__free_unpacked(body, NULL);
}

static void s_read_events(void *arg, cl_request_t *req, const cl_env_t *env)
{
    cl_intake_t *self = arg;
    cl_err_t err;
    cl_err_clear(&err);
    const Caseloop__V1__ReadEvents *q = env->read_events;
    uint32_t max = q->has_max_count ? q->max_count : 100;
    if (max < 1 || max > 1000) {
        cl_err_set(&err, CL_INVALID_ARGUMENT, "max_count", "max_count %" PRIu32 " is outside 1..1000", max);
        cl_service_refuse(self->rt.svc, req, env, &err);
        return;
    }
    uint64_t head = 0, upto;
    cl_env_t **events = calloc(max, sizeof *events);
    if (!events)
        abort();
    /* Positions fit PostgreSQL's bigint; anything past that is past the end. */
    uint64_t after = q->after_position > INT64_MAX ? INT64_MAX : q->after_position;
    int n = cl_eventlog_read_envs(self->rt.db, after, NULL, max, events, &head, &upto, &err);
    if (n < 0) {
        cl_service_refuse(self->rt.svc, req, env, &err);
    } else {
        cl_env_t reply;
        char id[CL_ID_MAX + 1];
        cl_service_reply_init(self->rt.svc, &reply, id, env);
        Caseloop__V1__ReadEventsReply body = CASELOOP__V1__READ_EVENTS_REPLY__INIT;
        body.events = events;
        body.n_events = (size_t)n;
        body.has_head_position = 1, body.head_position = head;
        reply.body_case = CASELOOP__V1__ENVELOPE__BODY_READ_EVENTS_REPLY;
        reply.read_events_reply = &body;
        cl_service_reply(self->rt.svc, req, &reply);
    }
    cl_eventlog_free_envs(events, n);
}

/* Forgets fields of a newer contract that this version does not know, so
   they are not stored into the event log as if intake vouched for them. */
static void s_drop_unknown(ProtobufCMessage *m)
{
    for (unsigned i = 0; i < m->n_unknown_fields; i++)
        free(m->unknown_fields[i].data);
    free(m->unknown_fields);
    m->unknown_fields = NULL;
    m->n_unknown_fields = 0;
}

/* --- the loop ---------------------------------------------------------------------- */

/* Takes into job up to batch_max requests that are queued (at least one is). */
static void s_take(cl_intake_t *self, s_job_t *job)
{
    job->n = 0;
    while (job->n < (size_t)self->cfg->base.batch_max && cl_service_next(self->rt.svc, &job->reqs[job->n]) == 0)
        job->n++;
}

/* Main side: decodes and checks every request of job; answers refusals and
   lookups at once and keeps the submissions, in order, for the worker. */
static void s_prepare(cl_intake_t *self, s_job_t *job)
{
    job->nsub = 0;
    cl_service_count(self->rt.svc, "requests", job->n);
    for (size_t i = 0; i < job->n; i++) {
        cl_request_t *req = &job->reqs[i];
        cl_err_t err;
        cl_err_clear(&err);
        job->envs[i] = NULL;
        cl_env_t *env = cl_service_decode(self->rt.svc, req, (size_t)self->cfg->base.max_frame);
        if (!env)
            continue;
        static const cl_handler_t handlers[] = {
            {CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE, NULL, NULL}, /* batched below */
            {CASELOOP__V1__ENVELOPE__BODY_CASE_COMMAND, NULL, NULL}, /* applied by the worker, below */
            {CASELOOP__V1__ENVELOPE__BODY_GET_CASE, s_get_case, NULL},
            {CASELOOP__V1__ENVELOPE__BODY_SET_PREFERENCES, s_set_preferences, NULL},
            {CASELOOP__V1__ENVELOPE__BODY_LIST_CASES, s_list_cases, NULL},
            {CASELOOP__V1__ENVELOPE__BODY_READ_EVENTS, s_read_events, NULL},
            {0, NULL, NULL},
        };
        const cl_handler_t *h = cl_service_route(self->rt.svc, handlers, self, self->rt.db, req, env);
        if (h && h->fn) {
            h->fn(self, req, env);
        } else if (h && env->body_case == CASELOOP__V1__ENVELOPE__BODY_CASE_COMMAND) {
            /* Applied by the worker with the batch (its commit waits on the disk, which would
               hold up this loop), answered when it is done. */
            if (cl_command_validate(env->case_command, &err) < 0) {
                cl_service_refuse(self->rt.svc, req, env, &err);
            } else {
                job->cmd_req[job->ncmd++] = i;
                job->envs[i] = env;
                continue;
            }
        } else if (h) {
            /* A case raised in a callback names an existing case of its site: looked up here,
               as a refusal is answered before the batch is stored. */
            if (cl_validate_case(env->submit_case->details, &err) < 0 ||
                cl_validate_preferences(env->submit_case->details->preferences, "details.preferences",
                                        self->cfg->base.tz_dir, &err) < 0 ||
                (env->submit_case->details->has_raised_in_callback_of &&
                 cl_store_check_callback_of(self->rt.db, env->submit_case->details, &err) < 0)) {
                cl_service_refuse(self->rt.svc, req, env, &err);
            } else {
                s_drop_unknown(&env->submit_case->details->base);
                memset(&job->subs[job->nsub], 0, sizeof job->subs[job->nsub]);
                job->subs[job->nsub].in = env->submit_case->details;
                job->sub_req[job->nsub++] = i;
                job->envs[i] = env; /* kept until answered: the events point into it */
                continue;
            }
        }
        cl_codec_free(env);
    }
}

static int s_job_alloc(s_job_t *job, size_t bm)
{
    job->reqs = calloc(bm, sizeof *job->reqs);
    job->envs = calloc(bm, sizeof *job->envs);
    job->subs = calloc(bm, sizeof *job->subs);
    job->sub_req = calloc(bm, sizeof *job->sub_req);
    job->evs = calloc(bm, sizeof *job->evs);
    job->cmd_req = calloc(bm, sizeof *job->cmd_req);
    job->cmd_out = calloc(bm, sizeof *job->cmd_out);
    job->cmd_err = calloc(bm, sizeof *job->cmd_err);
    return job->reqs && job->envs && job->subs && job->sub_req && job->evs && job->cmd_req && job->cmd_out &&
                   job->cmd_err
               ? 0
               : -1;
}

static void s_job_free(s_job_t *job)
{
    free(job->reqs);
    free(job->envs);
    free(job->subs);
    free(job->sub_req);
    free(job->evs);
    free(job->cmd_req);
    free(job->cmd_out);
    free(job->cmd_err);
}

static void s_collect(void *arg, cl_actor_t *a, size_t n, const void *const *data, const size_t *len);

/* Sets up worker i and starts it. Returns 0 or -1 with err. */
static int s_worker_start(cl_intake_t *self, size_t i, cl_err_t *err)
{
    s_worker_t *w = &self->workers[i];
    cl_policies_init(&w->policies, self->cfg->base.tz_dir);
    w->publisher = self->rt.publisher;
    w->clock = self->rt.clock;
    w->db = cl_db_new(self->cfg->base.db, "caseloop-intake");
    if (!w->db || s_job_alloc(&self->jobs[i], (size_t)self->cfg->base.batch_max) < 0)
        return cl_err_set(err, CL_INTERNAL, "", "out of memory");
    self->actors[i] = cl_actor_start(self->rt.zctx, "intake-store", i, s_worker_main, w, s_collect, self, err);
    return self->actors[i] ? 0 : -1;
}

cl_intake_t *cl_intake_new(const cl_intake_config_t *cfg, cl_clock_t *clock, cl_err_t *err)
{
    cl_intake_t *self = cl_service_alloc(sizeof *self, err);
    if (!self)
        return NULL;
    self->cfg = cfg;
    self->nworkers = (size_t)cfg->store_workers;
    self->workers = calloc(self->nworkers, sizeof *self->workers);
    self->actors = calloc(self->nworkers, sizeof *self->actors);
    self->jobs = calloc(self->nworkers, sizeof *self->jobs);
    self->busy = calloc(self->nworkers, sizeof *self->busy);
    if (!self->workers || !self->actors || !self->jobs || !self->busy) {
        cl_err_set(err, CL_INTERNAL, "", "out of memory");
        goto err;
    }
    if (cl_runtime_open(&self->rt, SENDER, &cfg->base, clock, err) < 0)
        goto err;
    for (size_t i = 0; i < self->nworkers; i++)
        if (s_worker_start(self, i, err) < 0)
            goto err;
    return self;
err:
    cl_intake_destroy(&self);
    return NULL;
}

void cl_intake_destroy(cl_intake_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cl_intake_t *self = *self_p;
    if (self->actors)
        cl_actor_stop_all(self->actors, self->nworkers);
    for (size_t i = 0; self->workers && i < self->nworkers; i++) {
        s_worker_t *w = &self->workers[i];
        cl_db_destroy(&w->db);
        cl_policies_free(&w->policies);
        if (self->jobs)
            s_job_free(&self->jobs[i]);
    }
    free(self->workers);
    free(self->actors);
    free(self->jobs);
    free(self->busy);
    cl_runtime_close(&self->rt);
    free(self);
    *self_p = NULL;
}

/* Main side: a job a worker handed back: answered and published. */
static void s_collect(void *arg, cl_actor_t *a, size_t n, const void *const *data, const size_t *len)
{
    cl_intake_t *self = arg;
    s_job_t *job;
    if (n != 1 || len[0] != sizeof job)
        return; /* not a job: cannot be */
    memcpy(&job, data[0], sizeof job);
    s_finish(self, job);
    self->busy[cl_actor_index(a)] = false;
}

/* The loop: requests wait in the service's queue until a worker is free to
   store them (the next batch is the larger for it); past the queue's size
   they are answered at once. */
static void s_queue(void *arg)
{
    cl_intake_t *self = arg;
    self->queued = cl_service_take(self->rt.svc);
}

/* The index of a worker that stores nothing, or -1. */
static int s_idle(const cl_intake_t *self)
{
    for (size_t i = 0; i < self->nworkers; i++)
        if (!self->busy[i])
            return (int)i;
    return -1;
}

static bool s_busy(void *arg)
{
    const cl_intake_t *self = arg;
    for (size_t i = 0; i < self->nworkers; i++)
        if (self->busy[i])
            return true;
    return false;
}

/* The loop's turn: an idle worker gets the requests queued. */
static int64_t s_turn(void *arg, bool outside)
{
    cl_intake_t *self = arg;
    (void)outside;
    int idle = s_idle(self);
    if (idle >= 0 && self->queued) {
        s_job_t *job = &self->jobs[idle];
        s_take(self, job);
        self->queued -= job->n;
        s_prepare(self, job);
        if (job->nsub + job->ncmd > 0 && cl_actor_send(self->actors[idle], &job, sizeof job) == 0)
            self->busy[idle] = true;
        else
            s_finish(self, job);
    }
    return s_idle(self) >= 0 && self->queued ? 0 : -1;
}

int cl_intake_run(cl_intake_t *self, volatile sig_atomic_t *stop)
{
    cl_log(CL_LOG_INFO, NULL, "%zu store workers", self->nworkers);
    const cl_loop_t loop = {.self = self, .take = s_queue, .turn = s_turn, .actors = self->actors,
                            .nactors = self->nworkers, .busy = s_busy};
    return cl_runtime_run(&self->rt, &loop, stop);
}
