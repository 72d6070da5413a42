/* escalation.c - response clocks: armed, met and cancelled from the event log, fired by their due time. */
#include "escalation.h"
#include "clockplan.h"
#include "firing.h"
#include "cl_actor.h"
#include "cl_publish.h"
#include "store.h"
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SENDER "escalation"
#define CONSUMER "escalation"

const cl_cfg_option_t cl_escalation_options[] = {
    CL_SERVICE_OPTIONS(cl_escalation_config_t),
    CL_SERVICE_ENDPOINTS(cl_escalation_config_t, "ESCALATION", "tcp://127.0.0.1:7121", "tcp://127.0.0.1:7122"),
    CL_CFG_STR("CL_ESCALATION_LISTEN", cl_escalation_config_t, listen, "tcp://127.0.0.1:7102,tcp://127.0.0.1:7112",
               "event endpoints (comma-separated) whose events wake it: intake's and the dispatcher's PUB"),
    CL_SERVICE_LIMITS(cl_escalation_config_t, "65536", "largest request frame accepted, in bytes", "500", 10000,
                      "most events applied, or clocks fired, in one transaction"),
    CL_SERVICE_IDLE_OPTION(cl_escalation_config_t),
    CL_CFG_INT("CL_FIRE_WORKERS", cl_escalation_config_t, fire_workers, "2", 1, 16,
               "threads firing due clocks, each on its own database connection"),
    {0},
};

/* A fire worker: an actor (cl_actor.h) firing due clocks on its own
   connection, with its own copy of the policies in force. It hands each
   committed batch of events back to the main thread, which publishes them:
   [turn] then [type][envelope] per event. The main thread wakes it when a
   clock is armed before it would wake by itself, or the policies changed. Its
   db and policies are its own once it runs (the main thread sets them up
   before and frees them after). */
typedef struct {
    cl_escalation_t *owner;     /* cfg, clock, the timers and the publisher's turns: nothing else */
    size_t index;               /* its number among the timers' workers */
    cl_db_t *db;
    cl_policies_t policies;
    cl_actor_t *me;             /* the worker's own handle, set on its thread */
} s_worker_t;

struct cl_escalation {
    const cl_escalation_config_t *cfg;
    cl_runtime_t rt;            /* its db is the main thread's: the event log, policy changes, requests */
    cl_policies_t policies;     /* in force: each site's clocks, calendar and staff (main thread's copy) */
    cl_timer_t *timer;          /* the clocks as timers: next_fire_at, claimed by the workers */
    int64_t armed_earliest;     /* in a pass over the log: the earliest moment a clock it armed fires */
    bool change_pending;        /* a policy loaded is yet to be applied to armed clocks */
    int64_t last_look;          /* when the policies were last read */
    s_worker_t *workers;
    cl_actor_t **actors;        /* the main thread's handles of the workers (NULL until started) */
    size_t nworkers;
};

/* --- publication in commit order ---------------------------------------------------------- */

/* Worker side: hands the main thread the events its transaction committed in
   turn `turn`: [turn] then [type][envelope] for each. */
static void s_hand_in(s_worker_t *w, uint64_t turn, const cl_event_t *evs, size_t n)
{
    const void **data = malloc((2 * n + 1) * sizeof *data);
    size_t *len = malloc((2 * n + 1) * sizeof *len);
    if (!data || !len)
        abort();
    data[0] = &turn, len[0] = sizeof turn;
    for (size_t i = 0; i < n; i++) {
        const char *type = cl_codec_body_name(evs[i].env);
        data[1 + 2 * i] = type, len[1 + 2 * i] = strlen(type);
        data[2 + 2 * i] = evs[i].packed.data, len[2 + 2 * i] = evs[i].packed.len;
    }
    cl_actor_put(w->me, 2 * n + 1, data, len);
    free(data);
    free(len);
}

/* Main side: a batch a worker handed in: counted, and published at its turn. */
static void s_collect(void *arg, cl_actor_t *a, size_t n, const void *const *data, const size_t *len)
{
    (void)a;
    cl_escalation_t *self = arg;
    uint64_t turn;
    if (n < 1 || len[0] != sizeof turn)
        return; /* not a batch: cannot be */
    memcpy(&turn, data[0], sizeof turn);
    cl_service_count(self->rt.svc, "steps_fired", (n - 1) / 2);
    cl_publisher_put_parts(self->rt.publisher, turn, data + 1, len + 1, (n - 1) / 2);
}

/* --- applying the event log ----------------------------------------------------------- */

/* When an event says something happened: its own time when given and
   plausible (after 1970, not after it was sent by more than the skew the
   policy of its site allows: future_skew, 5 minutes by default), else when
   it was sent. */
static int64_t s_event_time(const cl_escalation_t *self, const char *site, const cl_env_t *ev, protobuf_c_boolean has,
                            int64_t at_us)
{
    const cl_site_in_force_t *in = site ? cl_policies_site(&self->policies, site) : NULL;
    int64_t skew_s = in ? in->policy->sites[0].future_skew_s : CL_POLICY_FUTURE_SKEW_S;
    return has && at_us > 0 && at_us <= ev->sent_at_us + skew_s * CL_US_PER_S ? at_us : ev->sent_at_us;
}

/* One event's effect on the clocks: which event arms, meets, pauses, resumes or
   cancels which clock of the site's policy. By default CaseReceived arms C1
   (reception's answer, R-IN-5) and C2 (and C7 for a problem raised in a
   callback), CaseDispatched arms C3, a return to the department head C4, a
   transfer to another department C5, CallbackMade C6 (met by
   CallbackRecorded); a case's actions meet them; closing the case cancels
   the rest. */
static int s_apply(cl_escalation_t *self, const cl_env_t *ev, cl_arms_t *arms, cl_clock_out_t *out, int64_t now, cl_err_t *err)
{
    switch (ev->body_case) {
    case CASELOOP__V1__ENVELOPE__BODY_CASE_RECEIVED: {
        const Caseloop__V1__Case *c = ev->case_received->details;
        bool major = c && c->severity == CASELOOP__V1__SEVERITY__SEVERITY_MAJOR;
        if (c)
            cl_clocks_arm(&self->policies, arms, c->case_id, 0, c->site, CL_CLOCK_ON_RECEIVED, c->received_at_us, major);
        if (c && c->has_raised_in_callback_of)
            cl_clocks_arm(&self->policies, arms, c->case_id, 0, c->site, CL_CLOCK_ON_RAISED_IN_CALLBACK, c->received_at_us, major);
        return 0;
    }
    case CASELOOP__V1__ENVELOPE__BODY_CALLBACK_MADE: {
        const Caseloop__V1__CallbackMade *m = ev->callback_made;
        if (!m->case_id || m->case_id > INT64_MAX)
            return 0;
        return cl_clocks_arm_later(self->rt.db, &self->policies, arms, m->case_id, m->callback_id,
                                   CL_CLOCK_ON_CALLBACK_MADE, s_event_time(self, m->site, ev, m->has_made_at_us, m->made_at_us), err);
    }
    case CASELOOP__V1__ENVELOPE__BODY_CALLBACK_RECORDED: {
        const Caseloop__V1__CallbackRecorded *r = ev->callback_recorded;
        if (!r->case_id || r->case_id > INT64_MAX)
            return 0;
        /* Clocks armed in this batch must be stored before they can be met. */
        if (cl_clocks_arm_store(self->rt.db, arms, out, now, err) < 0)
            return -1;
        return cl_clocks_close(self->rt.db, r->case_id, r->callback_id, CL_CLOCK_MEET_CALLBACK_RECORDED,
                       s_event_time(self, r->site, ev, r->has_recorded_at_us, r->recorded_at_us), out, now, err);
    }
    case CASELOOP__V1__ENVELOPE__BODY_CASE_DISPATCHED: {
        const Caseloop__V1__CaseDispatched *d = ev->case_dispatched;
        if (d->department && *d->department)
            cl_clocks_arm(&self->policies, arms, d->case_id, 0, d->site, CL_CLOCK_ON_DISPATCHED, ev->sent_at_us,
                  d->severity == CASELOOP__V1__SEVERITY__SEVERITY_MAJOR);
        return 0;
    }
    case CASELOOP__V1__ENVELOPE__BODY_CASE_TRANSFERRED: {
        const Caseloop__V1__CaseTransferred *t = ev->case_transferred;
        if (t->to_department && t->from_department && *t->from_department &&
            strcmp(t->to_department, t->from_department) != 0)
            return cl_clocks_arm_later(self->rt.db, &self->policies, arms, t->case_id, 0, CL_CLOCK_ON_TRANSFERRED, ev->sent_at_us, err);
        return 0;
    }
    case CASELOOP__V1__ENVELOPE__BODY_CASE_UPDATED: {
        const Caseloop__V1__CaseUpdated *u = ev->case_updated;
        /* Clocks armed in this batch must be stored before they can be met. */
        if (cl_clocks_arm_store(self->rt.db, arms, out, now, err) < 0)
            return -1;
        /* What the action meets is met; closing the case cancels the rest; then pauses
           and resumes; a reopened case arms the clocks that start on it. */
        /* Actions are bits 1..19 of met_by, pauses_on and resumes_on. */
        bool known = u->action > 0 && u->action < 20;
        if (known && (cl_clocks_close(self->rt.db, u->case_id, 0, 1u << u->action, ev->sent_at_us, out, now, err) < 0 ||
                      cl_clocks_pause(self->rt.db, u->case_id, (int)u->action, ev->sent_at_us, err) < 0 ||
                      cl_clocks_resume(self->rt.db, self->timer, &self->policies, u->case_id, (int)u->action, ev->sent_at_us, out, err) < 0))
            return -1;
        if (u->action == CASELOOP__V1__CASE_ACTION__CASE_ACTION_REOPEN &&
            cl_clocks_arm_later(self->rt.db, &self->policies, arms, u->case_id, 0, CL_CLOCK_ON_REOPENED, ev->sent_at_us, err) < 0)
            return -1;
        if (u->state_after == CASELOOP__V1__CASE_STATE__CASE_STATE_RETURNED &&
            u->state_before != CASELOOP__V1__CASE_STATE__CASE_STATE_RETURNED &&
            cl_clocks_arm_later(self->rt.db, &self->policies, arms, u->case_id, 0, CL_CLOCK_ON_RETURNED, ev->sent_at_us, err) < 0)
            return -1;
        if (u->state_after == CASELOOP__V1__CASE_STATE__CASE_STATE_CLOSED)
            return cl_clocks_close(self->rt.db, u->case_id, 0, 0, ev->sent_at_us, out, now, err);
        return 0;
    }
    default:
        return 0;
    }
}

/* Applies the next events of the log in one transaction holding the
   consumer's position row; lowers self->armed_earliest to the earliest moment a
   clock it armed or resumed fires, once committed. Returns how many, 0 at the
   end, -1 (a cl_batch_fn). */
static int s_apply_batch(void *arg, cl_err_t *err)
{
    cl_escalation_t *self = arg;
    int64_t *earliest = &self->armed_earliest;
    int64_t now = cl_clock_now(self->rt.clock);
    cl_env_t **events = calloc((size_t)self->cfg->base.batch_max, sizeof *events);
    if (!events)
        abort();
    cl_arms_t arms;
    cl_arms_begin(&arms);
    cl_clock_out_t out;
    cl_clock_out_begin(&out);
    int nev = 0, rc = -1;
    /* Only the events that arm, meet, pause or resume clocks: not the clock events it writes itself. */
    static const char *const types[] = {"CaseReceived", "CaseDispatched", "CaseTransferred", "CaseUpdated",
                                        "CallbackMade", "CallbackRecorded", NULL};
    uint64_t from, upto;
    bool locked = false;
    nev = cl_eventlog_consume(self->rt.db, CONSUMER, types, (uint32_t)self->cfg->base.batch_max, events, &from, &upto, err);
    if (nev <= 0) {
        /* none of its kinds: the position still moves on past the others */
        rc = nev < 0 ? -1
                     : ((upto > from ? cl_eventlog_consumed(self->rt.db, CONSUMER, upto, err) : cl_db_commit(self->rt.db, err)) < 0
                            ? -1
                            : 0);
        nev = nev < 0 ? 0 : nev;
        goto out;
    }
    for (int i = 0; i < nev; i++)
        if (s_apply(self, events[i], &arms, &out, now, err) < 0)
            goto out;
    if (cl_clocks_arm_store(self->rt.db, &arms, &out, now, err) < 0)
        goto out;
    cl_clock_out_seal(&out);
    cl_publisher_lock(self->rt.publisher);
    locked = true;
    if (cl_eventlog_append(self->rt.db, out.evs, out.n, now, err) < 0)
        goto out;
    if (cl_eventlog_consumed(self->rt.db, CONSUMER, upto, err) < 0)
        goto out;
    cl_service_count(self->rt.svc, "events_applied", (uint64_t)nev);
    if (out.earliest < *earliest)
        *earliest = out.earliest;
    rc = nev;
out:
    if (rc < 0)
        cl_db_rollback(self->rt.db);
    if (locked) {
        uint64_t turn = cl_publisher_unlock(self->rt.publisher, rc >= 0);
        if (turn)
            cl_publisher_put(self->rt.publisher, turn, out.evs, out.n);
    }
    cl_clock_out_free(&out);
    cl_arms_free(&arms);
    cl_eventlog_free_envs(events, nev);
    return rc;
}

/* --- firing --------------------------------------------------------------------------------- */

/* Fires the clocks due by now that no other worker or instance holds
   (cl_clocks_fire), in one transaction; the events go to the main thread to
   publish once committed. Returns how many rows it claimed, 0 when none moved
   on (all held for working hours: done for now), -1. */
static int s_fire_batch(s_worker_t *w, cl_err_t *err)
{
    cl_escalation_t *self = w->owner;
    int64_t now = cl_clock_now(self->rt.clock);
    if (cl_db_begin(w->db, err) < 0)
        return -1;
    cl_clock_out_t out;
    cl_clock_out_begin(&out);
    cl_fire_late_t late;
    int moved, rc = -1;
    bool locked = false;
    int rows = cl_clocks_fire(w->db, self->timer, &w->policies, now, self->cfg->base.batch_max, &out, &late, &moved, err);
    if (rows < 0)
        goto out;
    cl_clock_out_seal(&out);
    cl_publisher_lock(self->rt.publisher);
    locked = true;
    if (cl_eventlog_append(w->db, out.evs, out.n, now, err) < 0 || cl_db_commit(w->db, err) < 0)
        goto out;
    /* Steps told more than a second late (a service that was down, a backlog): one log line a batch. */
    if (late.n)
        cl_log(CL_LOG_WARN, &(cl_log_ctx_t){late.case_id, late.site, NULL, NULL},
               "%d clock step(s) fired more than a second late, up to %" PRId64 " ms late (clock %s of this case)",
               late.n, late.max_us / 1000, late.code);
    rc = moved ? rows : 0;
out:
    if (rc < 0)
        cl_db_rollback(w->db);
    if (locked) {
        uint64_t turn = cl_publisher_unlock(self->rt.publisher, rc >= 0);
        if (turn)
            s_hand_in(w, turn, out.evs, out.n);
    }
    cl_clock_out_free(&out);
    return rc;
}

/* A new policy version's effect on armed clocks (cl_clocks_policy_change). */
static int s_policy_change(cl_escalation_t *self, cl_err_t *err)
{
    return cl_clocks_policy_change(self->rt.db, self->timer, &self->policies, cl_clock_now(self->rt.clock), err);
}

/* A fire worker: takes the policies in force, fires while clocks are due
   (until woken, to take them again), then sleeps until the next due moment,
   a wake-up or the idle period. While it fires nothing armed wakes it; asleep,
   only a clock armed to fire before it would wake by itself does (cl_timer_armed). */
static void s_worker_main(cl_actor_t *a, void *arg)
{
    s_worker_t *w = arg;
    cl_escalation_t *self = w->owner;
    w->me = a;
    int64_t next_due = INT64_MIN, looked = 0, backoff_ms = 50;
    while (!cl_actor_stopping(a)) {
        cl_err_t err;
        /* The wake-up is taken before the policies are read, so that a change
           committed before it is seen. */
        bool woken = cl_actor_drain(a);
        if (cl_policies_refresh(&w->policies, w->db, &err) < 0)
            cl_log(CL_LOG_DEBUG, NULL, "could not read the policies in force: %s", err.message);
        /* Woken (clocks armed, a new policy), something due, or an idle period
           gone by (another instance may have armed clocks): look again. */
        int64_t now = cl_clock_now(self->rt.clock);
        if (woken || next_due <= now || now - looked >= self->cfg->base.idle_ms * 1000) {
            looked = now;
            int n;
            int64_t asked;
            cl_timer_busy(self->timer, w->index);
            do {
                asked = cl_clock_now(self->rt.clock);
                n = s_fire_batch(w, &err);
            } while (n > 0 && !cl_actor_stopping(a) && !cl_actor_woken(a));
            now = cl_clock_now(self->rt.clock);
            if (n < 0) {
                /* A failure (the database down): told once, tried again ever less often, up to the idle period. */
                if (backoff_ms == 50)
                    cl_log(CL_LOG_WARN, NULL, "could not fire clocks: %s", err.message);
                next_due = now + backoff_ms * 1000;
                backoff_ms = backoff_ms * 2 < self->cfg->base.idle_ms ? backoff_ms * 2 : self->cfg->base.idle_ms;
            } else {
                backoff_ms = 50;
                if (n > 0)
                    next_due = now;
                else if (cl_timer_next_due(self->timer, w->index, w->db, &next_due, &err) < 0)
                    next_due = now + self->cfg->base.idle_ms * 1000;
                /* Rows due when the last batch asked, yet none claimed: another worker or
                   instance holds them: back off a little rather than spin. Rows that came
                   due since are fired at once. */
                if (n == 0 && next_due <= asked)
                    next_due = now + 50 * 1000;
            }
        }
        int64_t wait_ms = self->cfg->base.idle_ms;
        if (next_due != INT64_MAX) {
            int64_t until = (next_due - now) / 1000 + 1;
            if (until < wait_ms)
                wait_ms = until < 0 ? 0 : until;
        }
        cl_timer_sleep(self->timer, w->index, now + wait_ms * 1000);
        if (wait_ms > 0 && cl_actor_sleep(a, wait_ms) < 0)
            break;
    }
}

/* --- requests ----------------------------------------------------------------------------- */

/* Answers env with the clocks of l: GetClocksReply, or ListBreachesReply when breaches. */
static void s_reply_clocks(cl_escalation_t *self, cl_request_t *req, const cl_env_t *env, cl_clock_list_t *l,
                           bool breaches)
{
    cl_env_t reply;
    char id[CL_ID_MAX + 1];
    cl_service_reply_init(self->rt.svc, &reply, id, env);
    Caseloop__V1__GetClocksReply a = CASELOOP__V1__GET_CLOCKS_REPLY__INIT;
    Caseloop__V1__ListBreachesReply b = CASELOOP__V1__LIST_BREACHES_REPLY__INIT;
    if (breaches) {
        b.clocks = l->ptrs, b.n_clocks = l->n;
        reply.body_case = CASELOOP__V1__ENVELOPE__BODY_LIST_BREACHES_REPLY;
        reply.list_breaches_reply = &b;
    } else {
        a.clocks = l->ptrs, a.n_clocks = l->n;
        reply.body_case = CASELOOP__V1__ENVELOPE__BODY_GET_CLOCKS_REPLY;
        reply.get_clocks_reply = &a;
    }
    cl_service_reply(self->rt.svc, req, &reply);
    cl_clock_list_free(l);
}

static void s_get_clocks(void *arg, cl_request_t *req, const cl_env_t *env)
{
    cl_escalation_t *self = arg;
    cl_err_t err;
    cl_err_clear(&err);
    const Caseloop__V1__GetClocks *q = env->get_clocks;
    if (!q->has_case_id || q->case_id == 0 || q->case_id > INT64_MAX) {
        cl_err_set(&err, CL_INVALID_ARGUMENT, "case_id", "case_id is required");
        cl_service_refuse(self->rt.svc, req, env, &err);
        return;
    }
    cl_clock_list_t l;
    if (cl_clocks_of_case(self->rt.db, q->case_id, &l, &err) < 0) {
        cl_service_refuse(self->rt.svc, req, env, &err);
        return;
    }
    s_reply_clocks(self, req, env, &l, false);
}

static void s_list_breaches(void *arg, cl_request_t *req, const cl_env_t *env)
{
    cl_escalation_t *self = arg;
    cl_err_t err;
    cl_err_clear(&err);
    const Caseloop__V1__ListBreaches *q = env->list_breaches;
    uint32_t limit;
    if (cl_text_check(q->site, "site", 1, 64, &err) < 0 || cl_text_limit(q->has_limit, q->limit, 50, 500, &limit, &err) < 0) {
        cl_service_refuse(self->rt.svc, req, env, &err);
        return;
    }
    cl_clock_list_t l;
    if (cl_clocks_breaches(self->rt.db, q->site, q->open_only, limit, &l, &err) < 0) {
        cl_service_refuse(self->rt.svc, req, env, &err);
        return;
    }
    s_reply_clocks(self, req, env, &l, true);
}

static const cl_handler_t s_handlers[] = {
    {CASELOOP__V1__ENVELOPE__BODY_GET_CLOCKS, s_get_clocks, NULL},
    {CASELOOP__V1__ENVELOPE__BODY_LIST_BREACHES, s_list_breaches, NULL},
    {0, NULL, NULL},
};

/* --- the loop ---------------------------------------------------------------------------- */

/* Sets up worker i: its connection (made on first use) and its policies. Returns 0 or -1 with err. */
static int s_worker_open(cl_escalation_t *self, size_t i, cl_err_t *err)
{
    s_worker_t *w = &self->workers[i];
    w->owner = self;
    w->index = i;
    cl_policies_init(&w->policies, self->cfg->base.tz_dir);
    char name[48];
    snprintf(name, sizeof name, "caseloop-escalation-fire-%zu", i + 1);
    w->db = cl_db_new(self->cfg->base.db, name);
    if (!w->db)
        return cl_err_set(err, CL_INTERNAL, "", "out of memory");
    return 0;
}

/* Starts the workers (SIGTERM and SIGINT reach the main thread). Returns 0 or -1 with err. */
static int s_workers_start(cl_escalation_t *self, cl_err_t *err)
{
    for (size_t i = 0; i < self->nworkers; i++)
        if (!(self->actors[i] = cl_actor_start(self->rt.zctx, "escalation-fire", i, s_worker_main, &self->workers[i],
                                               s_collect, self, err)))
            return -1;
    return 0;
}

/* Wakes worker i (cl_timer_armed's wake). */
static void s_wake_one(void *arg, size_t i)
{
    cl_escalation_t *self = arg;
    if (self->actors[i])
        cl_actor_wake(self->actors[i]);
}

/* Wakes every worker: the policies changed. */
static void s_wake(cl_escalation_t *self)
{
    for (size_t i = 0; i < self->nworkers; i++)
        s_wake_one(self, i);
}

/* Stops the workers that run: each ends after its batch; what they committed
   is published. */
static void s_workers_stop(cl_escalation_t *self)
{
    if (self->actors)
        cl_actor_stop_all(self->actors, self->nworkers);
}

cl_escalation_t *cl_escalation_new(const cl_escalation_config_t *cfg, cl_clock_t *clock, cl_err_t *err)
{
    cl_escalation_t *self = cl_service_alloc(sizeof *self, err);
    if (!self)
        return NULL;
    self->cfg = cfg;
    cl_policies_init(&self->policies, cfg->base.tz_dir);
    self->nworkers = (size_t)cfg->fire_workers;
    self->workers = calloc(self->nworkers, sizeof *self->workers);
    self->actors = calloc(self->nworkers, sizeof *self->actors);
    self->timer = cl_timer_new("clocks", "id", "next_fire_at", self->nworkers);
    int rc = self->workers && self->actors && self->timer ? 0 : cl_err_set(err, CL_INTERNAL, "", "out of memory");
    /* One SUB connected to every endpoint it listens to. */
    if (rc == 0)
        rc = cl_runtime_open(&self->rt, SENDER, &cfg->base, clock, err) < 0 ||
                     cl_runtime_listen(&self->rt, cfg->listen, "CL_ESCALATION_LISTEN", err) < 0
                 ? -1
                 : 0;
    for (size_t i = 0; rc == 0 && i < self->nworkers; i++)
        rc = s_worker_open(self, i, err);
    if (rc < 0)
        cl_escalation_destroy(&self);
    return self;
}

void cl_escalation_destroy(cl_escalation_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cl_escalation_t *self = *self_p;
    s_workers_stop(self);
    for (size_t i = 0; self->workers && i < self->nworkers; i++) {
        s_worker_t *w = &self->workers[i];
        cl_db_destroy(&w->db);
        cl_policies_free(&w->policies);
    }
    free(self->workers);
    free(self->actors);
    cl_runtime_close(&self->rt);
    cl_policies_free(&self->policies);
    cl_timer_destroy(&self->timer);
    free(self);
    *self_p = NULL;
}

/* The loop's turn: the policies are read again on every turn but those that
   only took the workers' batches, and at least every idle period (workers may
   hand in all the time). A new policy's effect on armed clocks is tried again
   until it commits; then the workers take the new policy and look again at
   what is due. */
static int64_t s_turn(void *arg, bool outside)
{
    cl_escalation_t *self = arg;
    cl_err_t err;
    if (!outside && cl_clock_now(self->rt.clock) - self->last_look < self->cfg->base.idle_ms * 1000)
        return -1;
    self->last_look = cl_clock_now(self->rt.clock);
    if (cl_policies_refresh(&self->policies, self->rt.db, &err) > 0)
        self->change_pending = true;
    if (self->change_pending) {
        if (s_policy_change(self, &err) == 0) {
            self->change_pending = false;
            s_wake(self);
        } else {
            cl_log(CL_LOG_WARN, NULL, "could not apply the new policy to armed clocks: %s", err.message);
        }
    }
    return -1;
}

/* After a pass over the log: clocks armed or resumed wake the workers that
   would sleep past them. */
static void s_applied(void *arg)
{
    cl_escalation_t *self = arg;
    if (self->armed_earliest != INT64_MAX)
        cl_timer_armed(self->timer, self->armed_earliest, s_wake_one, self);
    self->armed_earliest = INT64_MAX;
}

int cl_escalation_run(cl_escalation_t *self, volatile sig_atomic_t *stop)
{
    cl_err_t err;
    /* A policy loaded while the service was down stops or re-times armed clocks
       before any worker fires them under it (tried again in the turns on failure). */
    self->change_pending = cl_policies_refresh(&self->policies, self->rt.db, &err) > 0;
    if (self->change_pending && s_policy_change(self, &err) == 0)
        self->change_pending = false;
    if (s_workers_start(self, &err) < 0) {
        cl_log(CL_LOG_ERROR, NULL, "cannot fire clocks: %s", err.message);
        s_workers_stop(self);
        return -1;
    }
    cl_log(CL_LOG_INFO, NULL, "listening to %s, %zu fire workers", self->cfg->listen, self->nworkers);
    self->armed_earliest = INT64_MAX;
    const cl_loop_t loop = {.self = self, .handlers = s_handlers, .apply = s_apply_batch,
                            .applied = s_applied, .turn = s_turn, .actors = self->actors, .nactors = self->nworkers};
    int rc = cl_runtime_run(&self->rt, &loop, stop);
    /* What the workers committed is published before the end. */
    s_workers_stop(self);
    return rc;
}
