/* escalation.c - response clocks: armed, met and cancelled from the event log, fired by their due time. */
#include "escalation.h"
#include "clockplan.h"
#include "firing.h"
#include "cl_actor.h"
#include "cl_publish.h"
#include "cl_sql.h"
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
    CL_CFG_INT("CL_MAX_FRAME", cl_escalation_config_t, base.max_frame, "65536", 1024, 16777216,
               "largest request frame accepted, in bytes"),
    CL_CFG_INT("CL_BATCH_MAX", cl_escalation_config_t, base.batch_max, "500", 1, 10000,
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
    cl_clock_t *clock;
    cl_runtime_t rt;            /* its db is the main thread's: the event log, policy changes, requests */
    void *sub;
    cl_policies_t policies;     /* in force: each site's clocks, calendar and staff (main thread's copy) */
    cl_timer_t *timer;          /* the clocks as timers: next_fire_at, claimed by the workers */
    int64_t armed_earliest;     /* in a pass over the log: the earliest moment a clock it armed fires */
    bool change_pending;        /* a policy loaded is yet to be applied to armed clocks */
    int64_t last_look;          /* when the policies were last read */
    s_worker_t *workers;
    cl_actor_t **actors;        /* the main thread's handles of the workers (NULL until started) */
    size_t nworkers;
};

/* Columns every clock query returns, for s_clock_from (of table t), which reads them
   by name: a query's own columns have names of their own. */
#define CLOCK_COLUMNS_OF(t)                                                                                        \
    t ".id, " t ".case_id, " t ".site, " t ".code, " t ".name, " t ".state, cl_ts_to_us(" t ".armed_at) AS armed_at_us," \
    " cl_ts_to_us(" t ".due_at) AS due_at_us, cl_ts_to_us(" t ".closed_at) AS closed_at_us, " t ".level, "          \
    t ".responsible, coalesce(" t ".policy_version, 0) AS policy_version, " t ".major, " t ".stage,"                 \
    " cl_ts_to_us(" t ".paused_at) AS paused_at_us"
#define CLOCK_COLUMNS CLOCK_COLUMNS_OF("clocks")

/* The one mapping from a clock's row to a Clock message (strings point into res). */
static void s_clock_from(Caseloop__V1__Clock *c, const PGresult *res, int r)
{
    caseloop__v1__clock__init(c);
    c->has_clock_id = 1, c->clock_id = cl_row_uint(res, r, "id");
    c->has_case_id = 1, c->case_id = cl_row_uint(res, r, "case_id");
    c->site = (char *)cl_row_text(res, r, "site");
    c->code = (char *)cl_row_text(res, r, "code");
    c->name = (char *)cl_row_text(res, r, "name");
    c->has_state = 1, c->state = (Caseloop__V1__ClockState)cl_row_int(res, r, "state");
    c->has_armed_at_us = 1, c->armed_at_us = cl_row_int(res, r, "armed_at_us");
    c->has_due_at_us = 1, c->due_at_us = cl_row_int(res, r, "due_at_us");
    if (!cl_row_null(res, r, "closed_at_us"))
        c->has_closed_at_us = 1, c->closed_at_us = cl_row_int(res, r, "closed_at_us");
    c->has_level = 1, c->level = (uint32_t)cl_row_int(res, r, "level");
    c->responsible = (char *)cl_row_text(res, r, "responsible");
    int64_t v = cl_row_int(res, r, "policy_version");
    c->has_policy_version = v > 0, c->policy_version = (uint32_t)v;
    if (!cl_row_null(res, r, "paused_at_us"))
        c->has_paused_at_us = 1, c->paused_at_us = cl_row_int(res, r, "paused_at_us");
}

/* --- events to publish -------------------------------------------------------------- */

/* The events one transaction makes, and the memory they point into. */
typedef struct {
    cl_event_t *evs;
    cl_env_t *envs;
    char (*ids)[CL_ID_MAX + 1];
    Caseloop__V1__Clock *clocks;
    union body {
        Caseloop__V1__ClockArmed armed;
        Caseloop__V1__ClockWarning warning;
        Caseloop__V1__ClockMet met;
        Caseloop__V1__ClockBreached breached;
        Caseloop__V1__EscalationRaised raised;
    } *bodies;
    PGresult **results;          /* kept until the events are published */
    size_t n, cap, nres, capres;
    int64_t earliest;            /* the earliest next_fire_at it armed; INT64_MAX for none */
} s_out_t;

static void s_out_begin(s_out_t *o)
{
    memset(o, 0, sizeof *o);
    o->earliest = INT64_MAX;
}

static void s_out_keep(s_out_t *o, PGresult *res)
{
    if (o->nres == o->capres) {
        o->capres = o->capres ? o->capres * 2 : 8;
        o->results = realloc(o->results, o->capres * sizeof *o->results);
        if (!o->results)
            abort();
    }
    o->results[o->nres++] = res;
}

/* A new event of clock row r of res; returns its envelope for the body. */
static cl_env_t *s_out_add(s_out_t *o, const PGresult *res, int r, int64_t now, union body **body,
                           Caseloop__V1__Clock **clock)
{
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 64;
        o->evs = realloc(o->evs, o->cap * sizeof *o->evs);
        o->envs = realloc(o->envs, o->cap * sizeof *o->envs);
        o->ids = realloc(o->ids, o->cap * sizeof *o->ids);
        o->clocks = realloc(o->clocks, o->cap * sizeof *o->clocks);
        o->bodies = realloc(o->bodies, o->cap * sizeof *o->bodies);
        if (!o->evs || !o->envs || !o->ids || !o->clocks || !o->bodies)
            abort();
    }
    size_t i = o->n++;
    s_clock_from(&o->clocks[i], res, r);
    cl_env_t *env = &o->envs[i];
    cl_codec_init(env, o->ids[i], SENDER, now);
    env->site = o->clocks[i].site;
    memset(&o->evs[i], 0, sizeof o->evs[i]);
    o->evs[i].case_id = (int64_t)o->clocks[i].case_id;
    *body = &o->bodies[i];
    *clock = &o->clocks[i];
    return env;
}

/* The arrays move when they grow: point events, envelopes and bodies at each other once all are added. */
static void s_out_seal(s_out_t *o)
{
    for (size_t i = 0; i < o->n; i++) {
        o->evs[i].env = &o->envs[i];
        cl_env_t *env = &o->envs[i];
        env->message_id = o->ids[i];
        union body *b = &o->bodies[i];
        switch (env->body_case) {
        case CASELOOP__V1__ENVELOPE__BODY_CLOCK_ARMED: b->armed.clock = &o->clocks[i]; env->clock_armed = &b->armed; break;
        case CASELOOP__V1__ENVELOPE__BODY_CLOCK_WARNING: b->warning.clock = &o->clocks[i]; env->clock_warning = &b->warning; break;
        case CASELOOP__V1__ENVELOPE__BODY_CLOCK_MET: b->met.clock = &o->clocks[i]; env->clock_met = &b->met; break;
        case CASELOOP__V1__ENVELOPE__BODY_CLOCK_BREACHED: b->breached.clock = &o->clocks[i]; env->clock_breached = &b->breached; break;
        case CASELOOP__V1__ENVELOPE__BODY_ESCALATION_RAISED: b->raised.clock = &o->clocks[i]; env->escalation_raised = &b->raised; break;
        default: break;
        }
    }
}

static void s_out_free(s_out_t *o)
{
    cl_eventlog_release(o->evs, o->n);
    for (size_t i = 0; i < o->nres; i++)
        PQclear(o->results[i]);
    free(o->evs);
    free(o->envs);
    free(o->ids);
    free(o->clocks);
    free(o->bodies);
    free(o->results);
    memset(o, 0, sizeof *o);
}

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

#define NARM 14

/* The clocks a batch arms, as columns. */
typedef struct {
    cl_buf_t col[NARM];
    size_t n;
} s_arms_t;

static void s_arms_begin(s_arms_t *a)
{
    memset(a, 0, sizeof *a);
    for (int k = 0; k < NARM; k++)
        cl_pgarr_begin(&a->col[k]);
}

static void s_arms_free(s_arms_t *a)
{
    for (int k = 0; k < NARM; k++)
        cl_buf_free(&a->col[k]);
}

/* A clock's steps as one parameter of type clock_step[] (deploy/sql/012): each step a
   composite (at_us, kind, percent, level, role), its fields NULL where they do not apply. */
static void s_steps_param(const cl_clock_step_t *st, int n, cl_buf_t *out)
{
    cl_buf_t one = {0};
    cl_pgarr_begin(out);
    for (int i = 0; i < n; i++) {
        cl_buf_reset(&one);
        cl_buf_printf(&one, "(%" PRId64 ",%s,", st[i].at_us, cl_clock_step_kind_name(st[i].kind));
        if (st[i].kind == CL_STEP_WARNING)
            cl_buf_printf(&one, "%d,,)", st[i].arg);
        else if (st[i].kind == CL_STEP_LEVEL)
            cl_buf_printf(&one, ",%d,%s)", st[i].arg, cl_role_name(st[i].role));
        else
            cl_buf_puts(&one, ",,)");
        cl_pgarr_text(out, one.data);
    }
    cl_pgarr_end(out);
    cl_buf_free(&one);
}

/* Arms every active clock of the case's site that `starts` starts, at armed_us. */
static void s_arm(cl_escalation_t *self, s_arms_t *a, uint64_t case_id, const char *site, cl_clock_start_t starts,
                  int64_t armed_us, bool major)
{
    const cl_site_in_force_t *in = cl_policies_site(&self->policies, site);
    if (!in) {
        cl_log(CL_LOG_WARN, &(cl_log_ctx_t){(int64_t)case_id, site, NULL, NULL},
               "site has no policy: no response clock is armed");
        return;
    }
    const cl_site_policy_t *s = &in->policy->sites[0];
    for (size_t i = 0; i < s->nclocks; i++) {
        const cl_clock_def_t *d = &s->clocks[i];
        if (!d->active || d->starts_on != starts)
            continue;
        cl_clock_step_t st[CL_CLOCK_MAX_STEPS];
        int64_t due;
        int n = cl_clock_schedule(d, s->calendar, major, armed_us, &due, st);
        if (n < 1)
            continue;
        cl_buf_t steps = {0};
        s_steps_param(st, n, &steps);
        cl_pgarr_i64(&a->col[0], (int64_t)case_id);
        cl_pgarr_text(&a->col[1], site);
        cl_pgarr_text(&a->col[2], d->code);
        cl_pgarr_text(&a->col[3], d->name);
        cl_pgarr_i64(&a->col[4], armed_us);
        cl_pgarr_i64(&a->col[5], due);
        cl_pgarr_i64(&a->col[6], st[0].at_us);
        cl_pgarr_bool(&a->col[7], major);
        cl_pgarr_text(&a->col[8], steps.data);
        cl_pgarr_i64(&a->col[9], d->met_by);
        cl_pgarr_i64(&a->col[10], in->version);
        cl_pgarr_i64(&a->col[11], 0);
        cl_pgarr_i64(&a->col[12], d->pauses_on);
        cl_pgarr_i64(&a->col[13], d->resumes_on);
        cl_buf_free(&steps);
        a->n++;
    }
}

/* Stores the armed clocks (a case's clock is armed once) with their ClockArmed, and
   the earliest moment they fire in out->earliest, and starts the next columns. */
static int s_arm_store(cl_escalation_t *self, s_arms_t *a, s_out_t *out, int64_t now, cl_err_t *err)
{
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    for (int k = 0; k < NARM; k++) {
        cl_pgarr_end(&a->col[k]);
        cl_sql_text(&p, a->col[k].data);
    }
    cl_sql_int(&p, CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_RUNNING);
    cl_sql_int(&p, CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_MET);
    cl_sql_int(&p, CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_MET_LATE);
    cl_sql_int(&p, CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_CANCELLED);
    PGresult *res = NULL;
    size_t n = a->n;
    if (n)
        res = cl_sql_exec(self->rt.db,
                         "INSERT INTO clocks (case_id, site, code, name, state, major, armed_at, due_at, stage,"
                         " next_fire_at, steps, met_by, policy_version, pauses_on, resumes_on)"
                         " SELECT c, s, k, n, $15::smallint, m, cl_us_to_ts(a), cl_us_to_ts(d), z, cl_us_to_ts(f),"
                         " st::clock_step[], mb, v, po, ro"
                         " FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[],"
                         " $7::bigint[], $8::bool[], $9::text[], $10::int[], $11::int[], $12::smallint[],"
                         " $13::int[], $14::int[])"
                         " AS u(c, s, k, n, a, d, f, m, st, mb, v, z, po, ro)"
                         /* A clock that can start again (a second return, transfer, reopening)
                            starts afresh once the earlier one is over; a running one stays. */
                         " ON CONFLICT (case_id, code) DO UPDATE SET name = excluded.name, state = excluded.state,"
                         " major = excluded.major, armed_at = excluded.armed_at, due_at = excluded.due_at,"
                         " closed_at = NULL, stage = excluded.stage, level = 0, responsible = '',"
                         " next_fire_at = excluded.next_fire_at, steps = excluded.steps,"
                         " met_by = excluded.met_by, policy_version = excluded.policy_version,"
                         " pauses_on = excluded.pauses_on, resumes_on = excluded.resumes_on, paused_at = NULL,"
                         " paused_us = 0"
                         " WHERE clocks.state IN ($16::smallint, $17::smallint, $18::smallint)"
                         " RETURNING " CLOCK_COLUMNS ", cl_ts_to_us(clocks.next_fire_at) AS fires_at_us",
                         &p, err);
    s_arms_free(a);
    s_arms_begin(a);
    if (!res)
        return n ? -1 : 0;
    for (int r = 0; r < PQntuples(res); r++) {
        union body *b;
        Caseloop__V1__Clock *c;
        cl_env_t *env = s_out_add(out, res, r, now, &b, &c);
        caseloop__v1__clock_armed__init(&b->armed);
        env->body_case = CASELOOP__V1__ENVELOPE__BODY_CLOCK_ARMED;
        int64_t fires = cl_row_null(res, r, "fires_at_us") ? INT64_MAX : cl_row_int(res, r, "fires_at_us");
        if (fires < out->earliest)
            out->earliest = fires;
    }
    s_out_keep(out, res);
    return 0;
}

/* Meets the open clocks of a case that `meets` meets (bits of their met_by), or (0) cancels them all. */
static int s_close(cl_escalation_t *self, uint64_t case_id, uint32_t meets, int64_t at_us, s_out_t *out, int64_t now,
                   cl_err_t *err)
{
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_uint(&p, case_id);
    cl_sql_uint(&p, meets);
    cl_sql_int(&p, at_us);
    cl_sql_int(&p, CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_RUNNING);
    cl_sql_int(&p, CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_BREACHED);
    cl_sql_int(&p, CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_MET);
    cl_sql_int(&p, CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_MET_LATE);
    cl_sql_int(&p, CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_CANCELLED);
    cl_sql_int(&p, CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_PAUSED);
    /* In time is a matter of the meeting's time, not of which service ran first. */
    PGresult *res = cl_sql_exec(self->rt.db,
                               "WITH old AS (SELECT id, state FROM clocks WHERE case_id = $1::bigint"
                               " AND state IN ($4::smallint, $5::smallint, $9::smallint)"
                               " AND ($2::int = 0 OR met_by & $2::int <> 0) ORDER BY id FOR UPDATE)"
                               " UPDATE clocks SET closed_at = cl_us_to_ts($3::bigint), next_fire_at = NULL,"
                               " state = CASE WHEN $2::int = 0 THEN $8::smallint"
                               " WHEN old.state = $5::smallint"
                               " OR coalesce(clocks.paused_at, cl_us_to_ts($3::bigint)) > clocks.due_at"
                               " THEN $7::smallint ELSE $6::smallint END, paused_at = NULL"
                               " FROM old WHERE clocks.id = old.id"
                               " RETURNING " CLOCK_COLUMNS_OF("clocks") ", old.state AS was",
                               &p, err);
    if (!res)
        return -1;
    if (meets) {
        for (int r = 0; r < PQntuples(res); r++) {
            union body *b;
            Caseloop__V1__Clock *c;
            bool in_time = cl_row_int(res, r, "state") == CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_MET;
            /* Met after its due time while still running (the service was down): its breach
               is told first, late, so that every breach is told once. */
            int64_t was = cl_row_int(res, r, "was");
            if (!in_time && (was == CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_RUNNING ||
                             was == CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_PAUSED)) {
                cl_env_t *env = s_out_add(out, res, r, now, &b, &c);
                caseloop__v1__clock_breached__init(&b->breached);
                b->breached.has_late_us = 1, b->breached.late_us = now - c->due_at_us;
                c->state = CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_BREACHED;
                env->body_case = CASELOOP__V1__ENVELOPE__BODY_CLOCK_BREACHED;
            }
            cl_env_t *env = s_out_add(out, res, r, now, &b, &c);
            caseloop__v1__clock_met__init(&b->met);
            b->met.has_in_time = 1;
            b->met.in_time = in_time;
            env->body_case = CASELOOP__V1__ENVELOPE__BODY_CLOCK_MET;
        }
    }
    s_out_keep(out, res);
    return 0;
}

/* Stops the clocks of a case that action pauses, at at_us: a running clock
   is paused; a breached one stays breached but its ladder stops climbing
   (from its due time at the earliest: the firing loop may have told the
   breach before this event was applied). A running clock already past its
   due time is left to the firing loop, so that its breach is told. */
static int s_pause(cl_escalation_t *self, uint64_t case_id, int action, int64_t at_us, cl_err_t *err)
{
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_uint(&p, case_id);
    cl_sql_int(&p, 1 << action);
    cl_sql_int(&p, at_us);
    cl_sql_int(&p, CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_RUNNING);
    cl_sql_int(&p, CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_PAUSED);
    cl_sql_int(&p, CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_BREACHED);
    return cl_sql_cmd(self->rt.db,
                     "UPDATE clocks SET state = CASE WHEN state = $4::smallint THEN $5::smallint ELSE state END,"
                     " paused_at = CASE WHEN state = $4::smallint THEN cl_us_to_ts($3::bigint)"
                     " ELSE greatest(cl_us_to_ts($3::bigint), due_at) END, next_fire_at = NULL"
                     " WHERE case_id = $1::bigint AND paused_at IS NULL AND pauses_on & $2::int <> 0"
                     " AND (state = $6::smallint OR (state = $4::smallint AND due_at > cl_us_to_ts($3::bigint)))",
                     &p, err);
}

/* What a resumed clock's row takes besides its next moment (cl_timer_rearm). */
static const cl_timer_col_t s_resumed_cols[] = {
    {"state", "smallint"}, {"due_at", "bigint"}, {"steps_at", "text"}, {"paused", "bigint"}, {NULL, NULL}};

/* Lets the paused clocks of a case that action resumes count again at at_us:
   each step still ahead moves on by the time paused (working time counted on
   the site's calendar for working-time clocks); the earliest moment they fire
   goes to out->earliest. */
static int s_resume(cl_escalation_t *self, uint64_t case_id, int action, int64_t at_us, s_out_t *out, cl_err_t *err)
{
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_uint(&p, case_id);
    cl_sql_int(&p, 1 << action);
    cl_sql_int(&p, CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_PAUSED);
    cl_sql_int(&p, CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_BREACHED);
    /* One row a step, in order (a clock without steps: one row, its step NULL). */
    PGresult *res = cl_sql_exec(self->rt.db,
                                "SELECT c.id, c.site, c.code, cl_ts_to_us(c.paused_at) AS paused_at_us,"
                                " cl_ts_to_us(c.due_at) AS due_at_us, c.stage, c.state, s.at_us"
                                " FROM clocks c LEFT JOIN LATERAL unnest(c.steps) WITH ORDINALITY"
                                " AS s(at_us, kind, percent, level, role, o) ON true"
                                " WHERE c.case_id = $1::bigint AND c.state IN ($3::smallint, $4::smallint)"
                                " AND c.paused_at IS NOT NULL AND c.resumes_on & $2::int <> 0 ORDER BY c.id, s.o"
                                " FOR UPDATE OF c",
                                &p, err);
    if (!res)
        return -1;
    cl_timer_batch_t b;
    cl_timer_batch_begin(&b, s_resumed_cols);
    int rows = PQntuples(res);
    for (int r = 0, next_row; r < rows; r = next_row) {
        const char *key = cl_row_text(res, r, "id");
        const cl_site_in_force_t *in = cl_policies_site(&self->policies, cl_row_text(res, r, "site"));
        const cl_site_policy_t *sp = in ? &in->policy->sites[0] : NULL;
        const cl_clock_def_t *d = sp ? cl_policy_clock(sp, cl_row_text(res, r, "code")) : NULL;
        const cl_calendar_t *cal = d && d->working_time ? sp->calendar : NULL;
        int64_t since = cl_row_int(res, r, "paused_at_us"), due = cl_row_int(res, r, "due_at_us");
        int stage = (int)cl_row_int(res, r, "stage"), state = (int)cl_row_int(res, r, "state");
        int64_t steps[CL_CLOCK_MAX_STEPS];
        bool known[CL_CLOCK_MAX_STEPS];
        int n = 0;
        for (next_row = r; next_row < rows && strcmp(cl_row_text(res, next_row, "id"), key) == 0; next_row++) {
            if (n == CL_CLOCK_MAX_STEPS)
                continue;
            known[n] = !cl_row_null(res, next_row, "at_us");
            steps[n] = known[n] ? cl_row_int(res, next_row, "at_us") : INT64_MIN;
            n++;
        }
        cl_clock_resume(cal, since, at_us, &due, steps, n, stage);
        cl_buf_t lit = {0};
        cl_pgarr_begin(&lit);
        for (int k = 0; k < n; k++)
            if (known[k])
                cl_pgarr_i64(&lit, steps[k]);
            else
                cl_pgarr_text(&lit, NULL);
        cl_pgarr_end(&lit);
        cl_buf_t *col = cl_timer_batch_add(&b, strtoll(key, NULL, 10), stage < n && known[stage] ? steps[stage] : -1);
        cl_pgarr_i64(&col[0], state == CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_PAUSED
                                  ? CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_RUNNING
                                  : state);
        cl_pgarr_i64(&col[1], due);
        cl_pgarr_text(&col[2], lit.data);
        cl_pgarr_i64(&col[3], d ? cl_clock_paused_span(d, cal, since, at_us) : at_us - since);
        cl_buf_free(&lit);
    }
    PQclear(res);
    int rc = cl_timer_rearm(self->timer, self->rt.db, &b,
                            "state = u.state, paused_at = NULL, due_at = cl_us_to_ts(u.due_at),"
                            " steps = clock_steps_at(clocks.steps, u.steps_at::bigint[]),"
                            " paused_us = clocks.paused_us + u.paused",
                            err);
    if (rc == 0 && b.earliest < out->earliest)
        out->earliest = b.earliest;
    cl_timer_batch_free(&b);
    return rc;
}

/* Arms the clocks `starts` starts for a case already received (a return, a
   transfer, a callback): at its site, major as intake registered it or as the
   dispatcher judged it. An event about a case that does not exist (another
   system's mistake) arms nothing, and is logged. */
static int s_arm_later(cl_escalation_t *self, s_arms_t *a, uint64_t case_id, cl_clock_start_t starts, int64_t armed_us,
                       cl_err_t *err)
{
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_uint(&p, case_id);
    cl_sql_int(&p, CASELOOP__V1__SEVERITY__SEVERITY_MAJOR);
    PGresult *res = cl_sql_exec(self->rt.db,
                                "SELECT c.site, c.severity = $2::smallint OR coalesce(d.severity = $2::smallint, false)"
                                " AS major FROM cases c LEFT JOIN dispatches d ON d.case_id = c.id WHERE c.id = $1::bigint",
                                &p, err);
    if (!res)
        return -1;
    if (PQntuples(res) == 1)
        s_arm(self, a, case_id, cl_row_text(res, 0, "site"), starts, armed_us, cl_row_bool(res, 0, "major"));
    else
        cl_log(CL_LOG_WARN, &(cl_log_ctx_t){(int64_t)case_id, NULL, NULL, NULL},
               "an event names case %" PRIu64 ", which does not exist: no clock is armed", case_id);
    PQclear(res);
    return 0;
}

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
static int s_apply(cl_escalation_t *self, const cl_env_t *ev, s_arms_t *arms, s_out_t *out, int64_t now, cl_err_t *err)
{
    switch (ev->body_case) {
    case CASELOOP__V1__ENVELOPE__BODY_CASE_RECEIVED: {
        const Caseloop__V1__Case *c = ev->case_received->details;
        bool major = c && c->severity == CASELOOP__V1__SEVERITY__SEVERITY_MAJOR;
        if (c)
            s_arm(self, arms, c->case_id, c->site, CL_CLOCK_ON_RECEIVED, c->received_at_us, major);
        if (c && c->has_raised_in_callback_of)
            s_arm(self, arms, c->case_id, c->site, CL_CLOCK_ON_RAISED_IN_CALLBACK, c->received_at_us, major);
        return 0;
    }
    case CASELOOP__V1__ENVELOPE__BODY_CALLBACK_MADE: {
        const Caseloop__V1__CallbackMade *m = ev->callback_made;
        if (!m->case_id || m->case_id > INT64_MAX)
            return 0;
        return s_arm_later(self, arms, m->case_id, CL_CLOCK_ON_CALLBACK_MADE,
                           s_event_time(self, m->site, ev, m->has_made_at_us, m->made_at_us), err);
    }
    case CASELOOP__V1__ENVELOPE__BODY_CALLBACK_RECORDED: {
        const Caseloop__V1__CallbackRecorded *r = ev->callback_recorded;
        if (!r->case_id || r->case_id > INT64_MAX)
            return 0;
        /* Clocks armed in this batch must be stored before they can be met. */
        if (s_arm_store(self, arms, out, now, err) < 0)
            return -1;
        return s_close(self, r->case_id, CL_CLOCK_MEET_CALLBACK_RECORDED,
                       s_event_time(self, r->site, ev, r->has_recorded_at_us, r->recorded_at_us), out, now, err);
    }
    case CASELOOP__V1__ENVELOPE__BODY_CASE_DISPATCHED: {
        const Caseloop__V1__CaseDispatched *d = ev->case_dispatched;
        if (d->department && *d->department)
            s_arm(self, arms, d->case_id, d->site, CL_CLOCK_ON_DISPATCHED, ev->sent_at_us,
                  d->severity == CASELOOP__V1__SEVERITY__SEVERITY_MAJOR);
        return 0;
    }
    case CASELOOP__V1__ENVELOPE__BODY_CASE_TRANSFERRED: {
        const Caseloop__V1__CaseTransferred *t = ev->case_transferred;
        if (t->to_department && t->from_department && *t->from_department &&
            strcmp(t->to_department, t->from_department) != 0)
            return s_arm_later(self, arms, t->case_id, CL_CLOCK_ON_TRANSFERRED, ev->sent_at_us, err);
        return 0;
    }
    case CASELOOP__V1__ENVELOPE__BODY_CASE_UPDATED: {
        const Caseloop__V1__CaseUpdated *u = ev->case_updated;
        /* Clocks armed in this batch must be stored before they can be met. */
        if (s_arm_store(self, arms, out, now, err) < 0)
            return -1;
        /* What the action meets is met; closing the case cancels the rest; then pauses
           and resumes; a reopened case arms the clocks that start on it. */
        /* Actions are bits 1..19 of met_by, pauses_on and resumes_on. */
        bool known = u->action > 0 && u->action < 20;
        if (known && (s_close(self, u->case_id, 1u << u->action, ev->sent_at_us, out, now, err) < 0 ||
                      s_pause(self, u->case_id, (int)u->action, ev->sent_at_us, err) < 0 ||
                      s_resume(self, u->case_id, (int)u->action, ev->sent_at_us, out, err) < 0))
            return -1;
        if (u->action == CASELOOP__V1__CASE_ACTION__CASE_ACTION_REOPEN &&
            s_arm_later(self, arms, u->case_id, CL_CLOCK_ON_REOPENED, ev->sent_at_us, err) < 0)
            return -1;
        if (u->state_after == CASELOOP__V1__CASE_STATE__CASE_STATE_RETURNED &&
            u->state_before != CASELOOP__V1__CASE_STATE__CASE_STATE_RETURNED &&
            s_arm_later(self, arms, u->case_id, CL_CLOCK_ON_RETURNED, ev->sent_at_us, err) < 0)
            return -1;
        if (u->state_after == CASELOOP__V1__CASE_STATE__CASE_STATE_CLOSED)
            return s_close(self, u->case_id, 0, ev->sent_at_us, out, now, err);
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
    int64_t now = cl_clock_now(self->clock);
    cl_env_t **events = calloc((size_t)self->cfg->base.batch_max, sizeof *events);
    if (!events)
        abort();
    s_arms_t arms;
    s_arms_begin(&arms);
    s_out_t out;
    s_out_begin(&out);
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
    if (s_arm_store(self, &arms, &out, now, err) < 0)
        goto out;
    s_out_seal(&out);
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
    s_out_free(&out);
    s_arms_free(&arms);
    for (int i = 0; i < nev; i++)
        cl_codec_free(events[i]);
    free(events);
    return rc;
}

/* --- firing --------------------------------------------------------------------------------- */

/* Columns of a claimed clock: the clock's, then its step due (kind, moment, percent,
   level, role), the next step's moment, how many steps it has, the case's department. */
#define FIRE_COLUMNS                                                                                                  \
    CLOCK_COLUMNS ", (steps[stage + 1]).kind AS step_kind, (steps[stage + 1]).at_us AS step_at_us,"                    \
                  " (steps[stage + 1]).percent AS step_percent, (steps[stage + 1]).level AS step_level,"               \
                  " (steps[stage + 1]).role AS step_role, (steps[stage + 2]).at_us AS next_at_us,"                     \
                  " cardinality(steps) AS nsteps,"                                                                     \
                  " (SELECT department FROM dispatches d WHERE d.case_id = clocks.case_id) AS department"

/* The step due of claimed row r; -1 when it has none that can be read. */
static int s_step_from(const PGresult *res, int r, cl_clock_step_t *st)
{
    memset(st, 0, sizeof *st);
    int kind = cl_row_null(res, r, "step_kind") ? -1 : cl_clock_step_kind_parse(cl_row_text(res, r, "step_kind"));
    if (kind < 0 || cl_row_null(res, r, "step_at_us"))
        return -1;
    st->kind = (cl_step_kind_t)kind;
    st->at_us = cl_row_int(res, r, "step_at_us");
    const char *field = kind == CL_STEP_WARNING ? "step_percent" : kind == CL_STEP_LEVEL ? "step_level" : NULL;
    if (field) {
        if (cl_row_null(res, r, field))
            return -1;
        st->arg = (int)cl_row_int(res, r, field);
    }
    if (kind == CL_STEP_LEVEL) {
        int role = cl_row_null(res, r, "step_role") ? -1 : cl_role_parse(cl_row_text(res, r, "step_role"));
        if (role < 0)
            return -1;
        st->role = (cl_role_t)role;
    }
    return 0;
}

/* The event of step st of claimed row r told as f decided, and what it changes in the
   row: its state (breached), level and who is responsible now. */
static void s_tell(s_out_t *out, const PGresult *res, int r, int64_t now, const cl_clock_step_t *st, const cl_fire_t *f,
                   int *state, int *level, const char **who)
{
    union body *b;
    Caseloop__V1__Clock *c;
    cl_env_t *env = s_out_add(out, res, r, now, &b, &c);
    if (st->kind == CL_STEP_WARNING) {
        caseloop__v1__clock_warning__init(&b->warning);
        b->warning.has_percent = 1, b->warning.percent = (uint32_t)st->arg;
        b->warning.has_late_us = 1, b->warning.late_us = f->late_us;
        env->body_case = CASELOOP__V1__ENVELOPE__BODY_CLOCK_WARNING;
    } else if (st->kind == CL_STEP_BREACH) {
        *state = CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_BREACHED;
        caseloop__v1__clock_breached__init(&b->breached);
        b->breached.has_late_us = 1, b->breached.late_us = f->late_us;
        env->body_case = CASELOOP__V1__ENVELOPE__BODY_CLOCK_BREACHED;
    } else {
        *level = st->arg;
        *who = f->responsible;
        caseloop__v1__escalation_raised__init(&b->raised);
        b->raised.has_level = 1, b->raised.level = (uint32_t)*level;
        b->raised.role = (char *)cl_role_name(st->role);
        b->raised.responsible = (char *)*who;
        b->raised.has_deadline_us = 1, b->raised.deadline_us = f->next_us >= 0 ? f->next_us : 0;
        b->raised.has_late_us = 1, b->raised.late_us = f->late_us;
        c->has_level = 1, c->level = (uint32_t)*level;
        c->responsible = (char *)*who;
        env->body_case = CASELOOP__V1__ENVELOPE__BODY_ESCALATION_RAISED;
    }
    c->has_state = 1, c->state = (Caseloop__V1__ClockState)*state;
}

/* What a fired clock's row takes besides its next moment (cl_timer_rearm). */
static const cl_timer_col_t s_fired_cols[] = {{"stage", "smallint"}, {"level", "smallint"}, {"state", "smallint"},
                                              {"responsible", "text"}, {"shift", "bigint"}, {NULL, NULL}};

/* Claims the clocks due by now that no other worker or instance holds, decides
   what the next step of each does (cl_fire_decide: told, passed over or held for
   working hours), and moves each on, in one transaction. The events go to the main
   thread to publish once committed. Returns how many rows it claimed, 0 when none
   moved on (all held), -1. */
static int s_fire_batch(s_worker_t *w, cl_err_t *err)
{
    cl_escalation_t *self = w->owner;
    int64_t now = cl_clock_now(self->clock);
    if (cl_db_begin(w->db, err) < 0)
        return -1;
    s_out_t out;
    s_out_begin(&out);
    cl_timer_batch_t moves;
    cl_timer_batch_begin(&moves, s_fired_cols);
    int rc = -1;
    bool locked = false;
    PGresult *res = cl_timer_claim(self->timer, w->db, FIRE_COLUMNS, now, self->cfg->base.batch_max, err);
    if (!res)
        goto out;
    s_out_keep(&out, res);
    int rows = PQntuples(res);
    /* Steps told more than a second late (a service that was down, a backlog): one log line a batch. */
    int nlate = 0, latest = -1, moved = 0; /* moved: rows whose next step changed */
    int64_t max_late = 0;
    for (int r = 0; r < rows; r++) {
        const char *site = cl_row_text(res, r, "site");
        const cl_site_in_force_t *in = cl_policies_site(&w->policies, site);
        int nsteps = (int)cl_row_int(res, r, "nsteps");
        int stage = (int)cl_row_int(res, r, "stage"), level = (int)cl_row_int(res, r, "level");
        int state = (int)cl_row_int(res, r, "state");
        const char *who = cl_row_text(res, r, "responsible");
        int64_t next = -1, shift = 0;
        cl_fire_clock_t c = {
            .next_at_us = cl_row_null(res, r, "next_at_us") ? -1 : cl_row_int(res, r, "next_at_us"),
            .due_us = cl_row_int(res, r, "due_at_us"),
            .major = cl_row_bool(res, r, "major"),
            .department = cl_row_null(res, r, "department") ? NULL : cl_row_text(res, r, "department"),
        };
        if (stage >= nsteps || s_step_from(res, r, &c.step) < 0) {
            if (stage < nsteps || nsteps == 0)
                cl_log(CL_LOG_ERROR, &(cl_log_ctx_t){cl_row_int(res, r, "case_id"), site, NULL, NULL},
                       "clock %s has no readable step %d: it stops", cl_row_text(res, r, "code"), stage);
            stage = nsteps; /* nothing more to fire */
        } else {
            cl_fire_t f;
            cl_fire_decide(in ? &in->policy->sites[0] : NULL, &c, now, &f);
            next = f.next_us;
            if (f.action == CL_FIRE_TELL) {
                s_tell(&out, res, r, now, &c.step, &f, &state, &level, &who);
                shift = f.shift_us;
                if (f.late_us > CL_US_PER_S && c.step.kind != CL_STEP_WARNING) {
                    nlate++;
                    if (f.late_us > max_late)
                        max_late = f.late_us, latest = r;
                }
            }
            if (f.action != CL_FIRE_HOLD) {
                stage++;
                moved++;
            }
        }
        cl_buf_t *col = cl_timer_batch_add(&moves, cl_row_int(res, r, "id"), next);
        cl_pgarr_i64(&col[0], stage);
        cl_pgarr_i64(&col[1], level);
        cl_pgarr_i64(&col[2], state);
        cl_pgarr_text(&col[3], who);
        cl_pgarr_i64(&col[4], shift);
    }
    /* A level told late moves the steps after it on (clock_steps_moved, deploy/sql/012). */
    if (cl_timer_rearm(self->timer, w->db, &moves,
                       "stage = u.stage, level = u.level, state = u.state, responsible = u.responsible,"
                       " steps = CASE WHEN u.shift = 0 THEN clocks.steps"
                       " ELSE clock_steps_moved(clocks.steps, u.stage, u.shift) END",
                       err) < 0)
        goto out;
    s_out_seal(&out);
    cl_publisher_lock(self->rt.publisher);
    locked = true;
    if (cl_eventlog_append(w->db, out.evs, out.n, now, err) < 0)
        goto out;
    if (cl_db_commit(w->db, err) < 0)
        goto out;
    if (nlate)
        cl_log(CL_LOG_WARN,
               &(cl_log_ctx_t){cl_row_int(res, latest, "case_id"), cl_row_text(res, latest, "site"), NULL, NULL},
               "%d clock step(s) fired more than a second late, up to %" PRId64 " ms late (clock %s of this case)",
               nlate, max_late / 1000, cl_row_text(res, latest, "code"));
    /* A batch whose rows all wait for working hours moved nothing on: it is done for now. */
    rc = moved ? rows : 0;
out:
    if (rc < 0)
        cl_db_rollback(w->db);
    if (locked) {
        uint64_t turn = cl_publisher_unlock(self->rt.publisher, rc >= 0);
        if (turn)
            s_hand_in(w, turn, out.evs, out.n);
    }
    cl_timer_batch_free(&moves);
    s_out_free(&out);
    return rc;
}

/* What a re-timed clock's row takes besides its next moment (cl_timer_rearm). */
static const cl_timer_col_t s_retimed_cols[] = {
    {"due_at", "bigint"}, {"steps", "text"},     {"stage", "smallint"},   {"version", "int"},
    {"met_by", "int"},    {"pauses_on", "int"}, {"resumes_on", "int"}, {NULL, NULL}};

/* A new policy version: clocks armed under an older one stop when their
   clock is no longer active, take the new times when it says retime (from
   the first step still ahead), or keep theirs. */
static int s_policy_change(cl_escalation_t *self, cl_err_t *err)
{
    int64_t now = cl_clock_now(self->clock);
    if (cl_db_begin(self->rt.db, err) < 0)
        return -1;
    for (size_t i = 0; i < self->policies.n; i++) {
        const cl_site_in_force_t *in = &self->policies.sites[i];
        const cl_site_policy_t *s = &in->policy->sites[0];
        for (size_t k = 0; k < s->nclocks; k++) {
            const cl_clock_def_t *d = &s->clocks[k];
            if (!d->active) {
                cl_sql_params_t p;
                cl_sql_params_init(&p);
                cl_sql_text(&p, in->code);
                cl_sql_text(&p, d->code);
                cl_sql_int(&p, in->version);
                cl_sql_int(&p, CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_RUNNING);
                cl_sql_int(&p, CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_BREACHED);
                cl_sql_int(&p, CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_CANCELLED);
                cl_sql_int(&p, now);
                cl_sql_int(&p, CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_PAUSED);
                if (cl_sql_cmd(self->rt.db,
                              "UPDATE clocks SET state = $6::smallint, next_fire_at = NULL, closed_at = cl_us_to_ts($7::bigint),"
                              " paused_at = NULL"
                              " WHERE site = $1 AND code = $2 AND state IN ($4::smallint, $5::smallint, $8::smallint)"
                              " AND coalesce(policy_version, 0) < $3::int",
                              &p, err) < 0)
                    goto err;
                continue;
            }
            if (!d->retime)
                continue;
            /* Running and paused clocks: a paused one takes its new times and stays paused,
               its steps moving on when it resumes. The warnings told so far (the highest
               percent among the steps fired) are not told again. */
            cl_sql_params_t q;
            cl_sql_params_init(&q);
            cl_sql_text(&q, in->code);
            cl_sql_text(&q, d->code);
            cl_sql_int(&q, in->version);
            cl_sql_int(&q, CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_RUNNING);
            cl_sql_int(&q, CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_PAUSED);
            PGresult *res = cl_sql_exec(self->rt.db,
                                        "SELECT id, cl_ts_to_us(armed_at) AS armed_at_us, major,"
                                        " cl_ts_to_us(paused_at) AS paused_at_us, paused_us,"
                                        " coalesce((SELECT max(s.percent) FROM unnest(steps) WITH ORDINALITY"
                                        " AS s(at_us, kind, percent, level, role, o) WHERE s.o <= stage), 0) AS told"
                                        " FROM clocks WHERE site = $1 AND code = $2"
                                        " AND state IN ($4::smallint, $5::smallint)"
                                        " AND coalesce(policy_version, 0) < $3::int ORDER BY id FOR UPDATE",
                                        &q, err);
            if (!res)
                goto err;
            cl_timer_batch_t b;
            cl_timer_batch_begin(&b, s_retimed_cols);
            for (int r = 0; r < PQntuples(res); r++) {
                bool paused_now = !cl_row_null(res, r, "paused_at_us");
                cl_clock_step_t st[CL_CLOCK_MAX_STEPS];
                int64_t due;
                int stage;
                int n = cl_clock_retime(d, s->calendar, cl_row_bool(res, r, "major"), cl_row_int(res, r, "armed_at_us"),
                                        cl_row_int(res, r, "paused_us"),
                                        paused_now ? cl_row_int(res, r, "paused_at_us") : now,
                                        (int)cl_row_int(res, r, "told"), &due, st, &stage);
                if (n < 1)
                    continue;
                cl_buf_t steps = {0};
                s_steps_param(st, n, &steps);
                cl_buf_t *col = cl_timer_batch_add(&b, cl_row_int(res, r, "id"),
                                                   paused_now ? -1 : stage < n ? st[stage].at_us : due);
                cl_pgarr_i64(&col[0], due);
                cl_pgarr_text(&col[1], steps.data);
                cl_pgarr_i64(&col[2], stage);
                cl_pgarr_i64(&col[3], in->version);
                cl_pgarr_i64(&col[4], d->met_by);
                cl_pgarr_i64(&col[5], d->pauses_on);
                cl_pgarr_i64(&col[6], d->resumes_on);
                cl_buf_free(&steps);
            }
            PQclear(res);
            int rc = cl_timer_rearm(self->timer, self->rt.db, &b,
                                    "due_at = cl_us_to_ts(u.due_at), steps = u.steps::clock_step[], stage = u.stage,"
                                    " policy_version = u.version, met_by = u.met_by, pauses_on = u.pauses_on,"
                                    /* a paused clock still resumes on what would have resumed it */
                                    " resumes_on = u.resumes_on"
                                    " | CASE WHEN clocks.paused_at IS NULL THEN 0 ELSE clocks.resumes_on END",
                                    err);
            cl_timer_batch_free(&b);
            if (rc < 0)
                goto err;
        }
    }
    if (cl_db_commit(self->rt.db, err) < 0)
        goto err;
    return 0;
err:
    cl_db_rollback(self->rt.db);
    return -1;
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
        int64_t now = cl_clock_now(self->clock);
        if (woken || next_due <= now || now - looked >= self->cfg->base.idle_ms * 1000) {
            looked = now;
            int n;
            int64_t asked;
            cl_timer_busy(self->timer, w->index);
            do {
                asked = cl_clock_now(self->clock);
                n = s_fire_batch(w, &err);
            } while (n > 0 && !cl_actor_stopping(a) && !cl_actor_woken(a));
            now = cl_clock_now(self->clock);
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

static void s_reply_clocks(cl_escalation_t *self, cl_request_t *req, const cl_env_t *env, PGresult *res, bool breaches)
{
    int rows = PQntuples(res);
    Caseloop__V1__Clock *cs = calloc((size_t)rows + 1, sizeof *cs);
    Caseloop__V1__Clock **cp = calloc((size_t)rows + 1, sizeof *cp);
    if (!cs || !cp)
        abort();
    for (int r = 0; r < rows; r++) {
        s_clock_from(&cs[r], res, r);
        cp[r] = &cs[r];
    }
    cl_env_t reply;
    char id[CL_ID_MAX + 1];
    cl_service_reply_init(self->rt.svc, &reply, id, env);
    Caseloop__V1__GetClocksReply a = CASELOOP__V1__GET_CLOCKS_REPLY__INIT;
    Caseloop__V1__ListBreachesReply b = CASELOOP__V1__LIST_BREACHES_REPLY__INIT;
    if (breaches) {
        b.clocks = cp, b.n_clocks = (size_t)rows;
        reply.body_case = CASELOOP__V1__ENVELOPE__BODY_LIST_BREACHES_REPLY;
        reply.list_breaches_reply = &b;
    } else {
        a.clocks = cp, a.n_clocks = (size_t)rows;
        reply.body_case = CASELOOP__V1__ENVELOPE__BODY_GET_CLOCKS_REPLY;
        reply.get_clocks_reply = &a;
    }
    cl_service_reply(self->rt.svc, req, &reply);
    free(cs);
    free(cp);
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
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_uint(&p, q->case_id);
    PGresult *res = cl_sql_exec(self->rt.db, "SELECT " CLOCK_COLUMNS " FROM clocks WHERE case_id = $1::bigint ORDER BY id",
                                &p, &err);
    if (!res) {
        cl_service_refuse(self->rt.svc, req, env, &err);
        return;
    }
    s_reply_clocks(self, req, env, res, false);
    PQclear(res);
}

static void s_list_breaches(void *arg, cl_request_t *req, const cl_env_t *env)
{
    cl_escalation_t *self = arg;
    cl_err_t err;
    cl_err_clear(&err);
    const Caseloop__V1__ListBreaches *q = env->list_breaches;
    uint32_t limit = q->has_limit ? q->limit : 50;
    if (cl_text_check(q->site, "site", 1, 64, &err) < 0 ||
        ((limit < 1 || limit > 500) && cl_err_set(&err, CL_INVALID_ARGUMENT, "limit", "limit is outside 1..500") < 0)) {
        cl_service_refuse(self->rt.svc, req, env, &err);
        return;
    }
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_text(&p, q->site);
    cl_sql_bool(&p, q->open_only);
    cl_sql_uint(&p, limit);
    cl_sql_int(&p, CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_BREACHED);
    PGresult *res = cl_sql_exec(self->rt.db,
                                "SELECT " CLOCK_COLUMNS " FROM clocks WHERE site = $1 AND level > 0"
                                " AND (NOT $2::bool OR state = $4::smallint) ORDER BY id DESC LIMIT $3::int",
                                &p, &err);
    if (!res) {
        cl_service_refuse(self->rt.svc, req, env, &err);
        return;
    }
    s_reply_clocks(self, req, env, res, true);
    PQclear(res);
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
    cl_escalation_t *self = calloc(1, sizeof *self);
    if (!self) {
        cl_err_set(err, CL_INTERNAL, "", "out of memory");
        return NULL;
    }
    self->cfg = cfg;
    self->clock = clock;
    cl_policies_init(&self->policies, cfg->base.tz_dir);
    self->nworkers = (size_t)cfg->fire_workers;
    self->workers = calloc(self->nworkers, sizeof *self->workers);
    self->actors = calloc(self->nworkers, sizeof *self->actors);
    self->timer = cl_timer_new("clocks", "id", "next_fire_at", self->nworkers);
    if (!self->workers || !self->actors || !self->timer) {
        cl_err_set(err, CL_INTERNAL, "", "out of memory");
        goto err;
    }
    if (cl_runtime_open(&self->rt, SENDER, &cfg->base, clock, err) < 0)
        goto err;
    /* One SUB connected to every endpoint it listens to. */
    if (*cfg->listen && !(self->sub = cl_bus_wakeup(self->rt.zctx, cfg->listen, "CL_ESCALATION_LISTEN", err)))
        goto err;
    for (size_t i = 0; i < self->nworkers; i++)
        if (s_worker_open(self, i, err) < 0)
            goto err;
    return self;
err:
    cl_escalation_destroy(&self);
    return NULL;
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
    cl_bus_close(&self->sub);
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
    if (!outside && cl_clock_now(self->clock) - self->last_look < self->cfg->base.idle_ms * 1000)
        return -1;
    self->last_look = cl_clock_now(self->clock);
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
    const cl_loop_t loop = {.self = self, .handlers = s_handlers, .apply = s_apply_batch, .sub = self->sub,
                            .applied = s_applied, .turn = s_turn, .actors = self->actors, .nactors = self->nworkers};
    int rc = cl_runtime_run(&self->rt, &loop, stop);
    /* What the workers committed is published before the end. */
    s_workers_stop(self);
    return rc;
}
