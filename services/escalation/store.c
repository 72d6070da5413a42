/* store.c - escalation's SQL: the clocks as rows, armed, met, paused, resumed, fired and re-timed. */
#include "store.h"
#include "cl_clock.h"
#include "cl_log.h"
#include "cl_sql.h"
#include "firing.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SENDER "escalation"

/* Columns every clock query returns, for s_clock_from (of table t), which reads them
   by name: a query's own columns have names of their own. */
#define CLOCK_COLUMNS_OF(t)                                                                                        \
    t ".id, " t ".case_id, " t ".site, " t ".code, " t ".name, " t ".state, cl_ts_to_us(" t ".armed_at) AS armed_at_us," \
    " cl_ts_to_us(" t ".due_at) AS due_at_us, cl_ts_to_us(" t ".closed_at) AS closed_at_us, " t ".level, "          \
    t ".responsible, coalesce(" t ".policy_version, 0) AS policy_version, " t ".major, " t ".stage,"                 \
    " cl_ts_to_us(" t ".paused_at) AS paused_at_us, " t ".callback_id"
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
    c->has_callback_id = cl_row_uint(res, r, "callback_id") > 0, c->callback_id = cl_row_uint(res, r, "callback_id");
    if (!cl_row_null(res, r, "paused_at_us"))
        c->has_paused_at_us = 1, c->paused_at_us = cl_row_int(res, r, "paused_at_us");
}

/* The clocks a query returns (CLOCK_COLUMNS) into out. Returns 0, or -1 with err. */
static int s_list(cl_db_t *db, const char *sql, const cl_sql_params_t *p, cl_clock_list_t *out, cl_err_t *err)
{
    memset(out, 0, sizeof *out);
    PGresult *res = cl_sql_exec(db, sql, p, err);
    if (!res)
        return -1;
    int rows = PQntuples(res);
    out->rows = res;
    out->clocks = calloc((size_t)rows + 1, sizeof *out->clocks);
    out->ptrs = calloc((size_t)rows + 1, sizeof *out->ptrs);
    if (!out->clocks || !out->ptrs)
        abort();
    for (int r = 0; r < rows; r++) {
        s_clock_from(&out->clocks[r], res, r);
        out->ptrs[r] = &out->clocks[r];
    }
    out->n = (size_t)rows;
    return 0;
}

/* --- events to publish -------------------------------------------------------------- */


void cl_clock_out_begin(cl_clock_out_t *o)
{
    memset(o, 0, sizeof *o);
    o->earliest = INT64_MAX;
}

static void s_out_keep(cl_clock_out_t *o, PGresult *res)
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
static cl_env_t *s_out_add(cl_clock_out_t *o, const PGresult *res, int r, int64_t now, union cl_clock_body **body,
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
void cl_clock_out_seal(cl_clock_out_t *o)
{
    for (size_t i = 0; i < o->n; i++) {
        o->evs[i].env = &o->envs[i];
        cl_env_t *env = &o->envs[i];
        env->message_id = o->ids[i];
        union cl_clock_body *b = &o->bodies[i];
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

void cl_clock_out_free(cl_clock_out_t *o)
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


void cl_arms_begin(cl_arms_t *a)
{
    memset(a, 0, sizeof *a);
    for (int k = 0; k < CL_NARM; k++)
        cl_pgarr_begin(&a->col[k]);
}

void cl_arms_free(cl_arms_t *a)
{
    for (int k = 0; k < CL_NARM; k++)
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

/* Arms every active clock of the case's site that `starts` starts, at armed_us
   (about callback callback_id, 0 for none: C6 runs per callback). */
void cl_clocks_arm(const cl_policies_t *policies, cl_arms_t *a, uint64_t case_id, uint64_t callback_id,
                   const char *site, cl_clock_start_t starts, int64_t armed_us, bool major)
{
    const cl_site_in_force_t *in = cl_policies_site(policies, site);
    if (!in) {
        cl_log(CL_LOG_WARN, &(cl_log_ctx_t){(int64_t)case_id, site, NULL, NULL},
               "site has no policy: no response clock is armed");
        return;
    }
    const cl_site_policy_t *s = &in->policy->sites[0];
    for (size_t i = 0; i < s->nclocks; i++) {
        const cl_clock_def_t *d = &s->clocks[i];
        if (!d->active || !(d->starts & CL_CLOCK_STARTS(starts)))
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
        cl_pgarr_i64(&a->col[14], (int64_t)callback_id);
        cl_buf_free(&steps);
        a->n++;
    }
}

/* Stores the armed clocks (a case's clock is armed once) with their ClockArmed, and
   the earliest moment they fire in out->earliest, and starts the next columns. */
int cl_clocks_arm_store(cl_db_t *db, cl_arms_t *a, cl_clock_out_t *out, int64_t now, cl_err_t *err)
{
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    for (int k = 0; k < CL_NARM; k++) {
        cl_pgarr_end(&a->col[k]);
        cl_sql_text(&p, a->col[k].data);
    }
    cl_sql_int(&p, CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_RUNNING);
    cl_sql_int(&p, CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_MET);
    cl_sql_int(&p, CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_MET_LATE);
    cl_sql_int(&p, CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_CANCELLED);
    PGresult *res = NULL;
    /* $1..$15 the columns, $16.. the states. */
    size_t n = a->n;
    if (n)
        res = cl_sql_exec(db,
                         "INSERT INTO clocks (case_id, site, code, name, state, major, armed_at, due_at, stage,"
                         " next_fire_at, steps, met_by, policy_version, pauses_on, resumes_on, callback_id)"
                         /* one row per clock, should a batch arm one twice (a replayed event) */
                         " SELECT DISTINCT ON (c, k, cb) c, s, k, n, $16::smallint, m, cl_us_to_ts(a), cl_us_to_ts(d), z, cl_us_to_ts(f),"
                         " st::clock_step[], mb, v, po, ro, cb"
                         " FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[],"
                         " $7::bigint[], $8::bool[], $9::text[], $10::int[], $11::int[], $12::smallint[],"
                         " $13::int[], $14::int[], $15::bigint[])"
                         " AS u(c, s, k, n, a, d, f, m, st, mb, v, z, po, ro, cb)"
                         /* A clock that can start again (a second return, transfer, reopening)
                            starts afresh once the earlier one is over; a running one stays. */
                         " ON CONFLICT (case_id, code, callback_id) DO UPDATE SET name = excluded.name, state = excluded.state,"
                         " major = excluded.major, armed_at = excluded.armed_at, due_at = excluded.due_at,"
                         " closed_at = NULL, stage = excluded.stage, level = 0, responsible = '',"
                         " next_fire_at = excluded.next_fire_at, steps = excluded.steps,"
                         " met_by = excluded.met_by, policy_version = excluded.policy_version,"
                         " pauses_on = excluded.pauses_on, resumes_on = excluded.resumes_on, paused_at = NULL,"
                         " paused_us = 0"
                         " WHERE clocks.state IN ($17::smallint, $18::smallint, $19::smallint)"
                         " RETURNING " CLOCK_COLUMNS ", cl_ts_to_us(clocks.next_fire_at) AS fires_at_us",
                         &p, err);
    cl_arms_free(a);
    cl_arms_begin(a);
    if (!res)
        return n ? -1 : 0;
    for (int r = 0; r < PQntuples(res); r++) {
        union cl_clock_body *b;
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
int cl_clocks_close(cl_db_t *db, uint64_t case_id, uint64_t callback_id, uint32_t meets, int64_t at_us,
                    cl_clock_out_t *out, int64_t now, cl_err_t *err)
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
    cl_sql_uint(&p, callback_id);
    /* In time is a matter of the meeting's time, not of which service ran first. */
    PGresult *res = cl_sql_exec(db,
                               "WITH old AS (SELECT id, state FROM clocks WHERE case_id = $1::bigint"
                               " AND state IN ($4::smallint, $5::smallint, $9::smallint)"
                               " AND ($2::int = 0 OR met_by & $2::int <> 0)"
                               " AND ($10::bigint = 0 OR callback_id = $10::bigint) ORDER BY id FOR UPDATE)"
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
            union cl_clock_body *b;
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
int cl_clocks_pause(cl_db_t *db, uint64_t case_id, int action, int64_t at_us, cl_err_t *err)
{
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_uint(&p, case_id);
    cl_sql_int(&p, 1 << action);
    cl_sql_int(&p, at_us);
    cl_sql_int(&p, CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_RUNNING);
    cl_sql_int(&p, CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_PAUSED);
    cl_sql_int(&p, CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_BREACHED);
    return cl_sql_cmd(db,
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
int cl_clocks_resume(cl_db_t *db, cl_timer_t *timer, const cl_policies_t *policies, uint64_t case_id, int action, int64_t at_us, cl_clock_out_t *out, cl_err_t *err)
{
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_uint(&p, case_id);
    cl_sql_int(&p, 1 << action);
    cl_sql_int(&p, CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_PAUSED);
    cl_sql_int(&p, CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_BREACHED);
    /* One row a step, in order (a clock without steps: one row, its step NULL). */
    PGresult *res = cl_sql_exec(db,
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
        const cl_site_in_force_t *in = cl_policies_site(policies, cl_row_text(res, r, "site"));
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
    int rc = cl_timer_rearm(timer, db, &b,
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
int cl_clocks_arm_later(cl_db_t *db, const cl_policies_t *policies, cl_arms_t *a, uint64_t case_id,
                        uint64_t callback_id, cl_clock_start_t starts, int64_t armed_us, cl_err_t *err)
{
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_uint(&p, case_id);
    cl_sql_int(&p, CASELOOP__V1__SEVERITY__SEVERITY_MAJOR);
    PGresult *res = cl_sql_exec(db,
                                "SELECT c.site, c.severity = $2::smallint OR coalesce(d.severity = $2::smallint, false)"
                                " AS major FROM cases c LEFT JOIN dispatches d ON d.case_id = c.id WHERE c.id = $1::bigint",
                                &p, err);
    if (!res)
        return -1;
    if (PQntuples(res) == 1)
        cl_clocks_arm(policies, a, case_id, callback_id, cl_row_text(res, 0, "site"), starts, armed_us,
                      cl_row_bool(res, 0, "major"));
    else
        cl_log(CL_LOG_WARN, &(cl_log_ctx_t){(int64_t)case_id, NULL, NULL, NULL},
               "an event names case %" PRIu64 ", which does not exist: no clock is armed", case_id);
    PQclear(res);
    return 0;
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
static void s_tell(cl_clock_out_t *out, const PGresult *res, int r, int64_t now, const cl_clock_step_t *st, const cl_fire_t *f,
                   int *state, int *level, const char **who)
{
    union cl_clock_body *b;
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

int cl_clocks_fire(cl_db_t *db, cl_timer_t *timer, const cl_policies_t *policies, int64_t now, int64_t batch_max,
                   cl_clock_out_t *out, cl_fire_late_t *late, int *moved_p, cl_err_t *err)
{
    memset(late, 0, sizeof *late);
    *moved_p = 0;
    PGresult *res = cl_timer_claim(timer, db, FIRE_COLUMNS, now, batch_max, err);
    if (!res)
        return -1;
    s_out_keep(out, res);
    cl_timer_batch_t moves;
    cl_timer_batch_begin(&moves, s_fired_cols);
    int rows = PQntuples(res);
    int moved = 0; /* rows whose next step changed */
    for (int r = 0; r < rows; r++) {
        const char *site = cl_row_text(res, r, "site");
        const cl_site_in_force_t *in = cl_policies_site(policies, site);
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
                s_tell(out, res, r, now, &c.step, &f, &state, &level, &who);
                shift = f.shift_us;
                if (f.late_us > CL_US_PER_S && c.step.kind != CL_STEP_WARNING) {
                    late->n++;
                    if (f.late_us > late->max_us) {
                        late->max_us = f.late_us;
                        late->case_id = cl_row_int(res, r, "case_id");
                        late->site = site;
                        late->code = cl_row_text(res, r, "code");
                    }
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
    int rc = cl_timer_rearm(timer, db, &moves,
                            "stage = u.stage, level = u.level, state = u.state, responsible = u.responsible,"
                            " steps = CASE WHEN u.shift = 0 THEN clocks.steps"
                            " ELSE clock_steps_moved(clocks.steps, u.stage, u.shift) END",
                            err);
    cl_timer_batch_free(&moves);
    *moved_p = moved;
    return rc < 0 ? -1 : rows;
}

/* What a re-timed clock's row takes besides its next moment (cl_timer_rearm). */
static const cl_timer_col_t s_retimed_cols[] = {
    {"due_at", "bigint"}, {"steps", "text"},     {"stage", "smallint"},   {"version", "int"},
    {"met_by", "int"},    {"pauses_on", "int"}, {"resumes_on", "int"}, {NULL, NULL}};

/* A new policy version: clocks armed under an older one stop when their
   clock is no longer active, take the new times when it says retime (from
   the first step still ahead), or keep theirs. */
int cl_clocks_policy_change(cl_db_t *db, cl_timer_t *timer, const cl_policies_t *policies, int64_t now, cl_err_t *err)
{
    if (cl_db_begin(db, err) < 0)
        return -1;
    for (size_t i = 0; i < policies->n; i++) {
        const cl_site_in_force_t *in = &policies->sites[i];
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
                if (cl_sql_cmd(db,
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
            PGresult *res = cl_sql_exec(db,
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
            int rc = cl_timer_rearm(timer, db, &b,
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
    if (cl_db_commit(db, err) < 0)
        goto err;
    return 0;
err:
    cl_db_rollback(db);
    return -1;
}


int cl_clocks_of_case(cl_db_t *db, uint64_t case_id, cl_clock_list_t *out, cl_err_t *err)
{
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_uint(&p, case_id);
    return s_list(db, "SELECT " CLOCK_COLUMNS " FROM clocks WHERE case_id = $1::bigint ORDER BY id", &p, out, err);
}

int cl_clocks_breaches(cl_db_t *db, const char *site, bool open_only, uint32_t limit, cl_clock_list_t *out,
                       cl_err_t *err)
{
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_text(&p, site);
    cl_sql_bool(&p, open_only);
    cl_sql_uint(&p, limit);
    cl_sql_int(&p, CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_BREACHED);
    return s_list(db,
                  "SELECT " CLOCK_COLUMNS " FROM clocks WHERE site = $1 AND level > 0"
                  " AND (NOT $2::bool OR state = $4::smallint) ORDER BY id DESC LIMIT $3::int",
                  &p, out, err);
}

void cl_clock_list_free(cl_clock_list_t *l)
{
    PQclear(l->rows);
    free(l->clocks);
    free(l->ptrs);
    memset(l, 0, sizeof *l);
}
