/* escalation.c - response clocks: armed, met and cancelled from the event log, fired by their due time. */
#include "escalation.h"
#include "clockplan.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SENDER "escalation"
#define CONSUMER "escalation"
#define MAX_LISTEN 8

const cl_cfg_option_t cl_escalation_options[] = {
    CL_CFG_STR("CL_DB", cl_escalation_config_t, db, "dbname=caseloop", "PostgreSQL connection (libpq conninfo or URI)"),
    CL_CFG_STR("CL_ESCALATION_ROUTER", cl_escalation_config_t, router, "tcp://127.0.0.1:7121",
               "ZeroMQ endpoint bound for requests (ROUTER)"),
    CL_CFG_STR("CL_ESCALATION_PUB", cl_escalation_config_t, pub, "tcp://127.0.0.1:7122",
               "ZeroMQ endpoint bound for events (PUB)"),
    CL_CFG_STR("CL_ESCALATION_LISTEN", cl_escalation_config_t, listen, "tcp://127.0.0.1:7102,tcp://127.0.0.1:7112",
               "event endpoints (comma-separated) whose events wake it: intake's and the dispatcher's PUB"),
    CL_CFG_STR("CL_MIGRATIONS", cl_escalation_config_t, migrations, CL_MIGRATIONS_DEFAULT,
               "folder of SQL migrations applied at start"),
    CL_CFG_STR("CL_LOG_LEVEL", cl_escalation_config_t, log_level, "info", "debug, info, warn or error"),
    CL_CFG_INT("CL_NOTIFY_FD", cl_escalation_config_t, notify_fd, "-1", -1, 65535,
               "file descriptor that gets \"READY\\n\" once serving; -1 for none"),
    CL_CFG_INT("CL_MAX_FRAME", cl_escalation_config_t, max_frame, "65536", 1024, 16777216,
               "largest request frame accepted, in bytes"),
    CL_CFG_INT("CL_BATCH_MAX", cl_escalation_config_t, batch_max, "500", 1, 10000,
               "most events applied, or clocks fired, in one transaction"),
    CL_CFG_INT("CL_IDLE_MS", cl_escalation_config_t, idle_ms, "1000", 10, 60000,
               "how often the event log is read when no event is heard of"),
    CL_CFG_INT("CL_C2_S", cl_escalation_config_t, c2_s, "3600", 1, 31536000,
               "clock C2: seconds from receipt until the department acknowledges the feedback form"),
    CL_CFG_INT("CL_C3_S", cl_escalation_config_t, c3_s, "86400", 1, 31536000,
               "clock C3: seconds from dispatch until the department first contacts the customer"),
    CL_CFG_INT("CL_LADDER_STEP_S", cl_escalation_config_t, ladder_step_s, "3600", 1, 31536000,
               "seconds each ladder level has before the next is told"),
    {0},
};

struct cl_escalation {
    const cl_escalation_config_t *cfg;
    cl_clock_t *clock;
    cl_db_t *db;
    void *zctx;
    void *router;
    void *pub;
    void *sub;
    cl_service_t *svc;
    int64_t next_due_us;        /* the earliest next_fire_at known; INT64_MAX for none */
};

/* Columns every clock query returns, in this order, for s_clock_from. */
#define CLOCK_COLUMNS                                                                                              \
    "id, case_id, site, code, name, state, cl_ts_to_us(armed_at), cl_ts_to_us(due_at), cl_ts_to_us(closed_at),"    \
    " level, responsible, coalesce(policy_version, 0), major, stage"

/* A Clock message read from a row (strings point into res). */
static void s_clock_from(Caseloop__V1__Clock *c, const PGresult *res, int r)
{
    caseloop__v1__clock__init(c);
    c->has_clock_id = 1, c->clock_id = strtoull(PQgetvalue(res, r, 0), NULL, 10);
    c->has_case_id = 1, c->case_id = strtoull(PQgetvalue(res, r, 1), NULL, 10);
    c->site = PQgetvalue(res, r, 2);
    c->code = PQgetvalue(res, r, 3);
    c->name = PQgetvalue(res, r, 4);
    c->has_state = 1, c->state = (Caseloop__V1__ClockState)atoi(PQgetvalue(res, r, 5));
    c->has_armed_at_us = 1, c->armed_at_us = strtoll(PQgetvalue(res, r, 6), NULL, 10);
    c->has_due_at_us = 1, c->due_at_us = strtoll(PQgetvalue(res, r, 7), NULL, 10);
    if (!PQgetisnull(res, r, 8))
        c->has_closed_at_us = 1, c->closed_at_us = strtoll(PQgetvalue(res, r, 8), NULL, 10);
    c->has_level = 1, c->level = (uint32_t)atoi(PQgetvalue(res, r, 9));
    c->responsible = PQgetvalue(res, r, 10);
    int v = atoi(PQgetvalue(res, r, 11));
    c->has_policy_version = v > 0, c->policy_version = (uint32_t)v;
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
} s_out_t;

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

/* --- applying the event log ----------------------------------------------------------- */

typedef struct {
    cl_buf_t cases, sites, codes, names, armed, due, fire, major;
    size_t n;
} s_arms_t;

static void s_arm(cl_escalation_t *self, s_arms_t *a, uint64_t case_id, const char *site, const char *code,
                  const char *name, int64_t armed_us, int64_t seconds, bool major)
{
    cl_clock_plan_t plan = {armed_us, armed_us + seconds * CL_US_PER_S, self->cfg->ladder_step_s * CL_US_PER_S, major};
    cl_pgarr_i64(&a->cases, (int64_t)case_id);
    cl_pgarr_text(&a->sites, site);
    cl_pgarr_text(&a->codes, code);
    cl_pgarr_text(&a->names, name);
    cl_pgarr_i64(&a->armed, plan.armed_us);
    cl_pgarr_i64(&a->due, plan.due_us);
    cl_pgarr_i64(&a->fire, cl_clock_stage_at(&plan, 0));
    cl_pgarr_bool(&a->major, major);
    a->n++;
}

/* Stores the armed clocks (a case's clock is armed once) with their ClockArmed. */
static int s_arm_store(cl_escalation_t *self, s_arms_t *a, s_out_t *out, int64_t now, cl_err_t *err)
{
    cl_buf_t *cols[] = {&a->cases, &a->sites, &a->codes, &a->names, &a->armed, &a->due, &a->fire, &a->major};
    const char *p[9];
    for (int k = 0; k < 8; k++) {
        cl_pgarr_end(cols[k]);
        p[k] = cols[k]->data;
    }
    char running[8];
    snprintf(running, sizeof running, "%d", CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_RUNNING);
    p[8] = running;
    if (a->n == 0)
        return 0;
    PGresult *res = cl_db_exec(self->db,
                               "INSERT INTO clocks (case_id, site, code, name, state, major, armed_at, due_at, stage,"
                               " next_fire_at)"
                               " SELECT c, s, k, n, $9::smallint, m, cl_us_to_ts(a), cl_us_to_ts(d), 0, cl_us_to_ts(f)"
                               " FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[],"
                               " $6::bigint[], $7::bigint[], $8::bool[]) AS u(c, s, k, n, a, d, f, m)"
                               " ON CONFLICT (case_id, code) DO NOTHING RETURNING " CLOCK_COLUMNS,
                               9, p, false, err);
    if (!res)
        return -1;
    for (int r = 0; r < PQntuples(res); r++) {
        union body *b;
        Caseloop__V1__Clock *c;
        cl_env_t *env = s_out_add(out, res, r, now, &b, &c);
        caseloop__v1__clock_armed__init(&b->armed);
        env->body_case = CASELOOP__V1__ENVELOPE__BODY_CLOCK_ARMED;
    }
    s_out_keep(out, res);
    return 0;
}

/* Meets (codes, NULL-terminated) or cancels (codes NULL) the open clocks of a case. */
static int s_close(cl_escalation_t *self, uint64_t case_id, const char *const *codes, int64_t at_us, s_out_t *out,
                   int64_t now, cl_err_t *err)
{
    cl_buf_t list = {0};
    cl_pgarr_begin(&list);
    for (const char *const *c = codes; c && *c; c++)
        cl_pgarr_text(&list, *c);
    cl_pgarr_end(&list);
    char id[24], at[24], running[8], breached[8], met[8], late[8], cancelled[8];
    snprintf(id, sizeof id, "%" PRIu64, case_id);
    snprintf(at, sizeof at, "%" PRId64, at_us);
    snprintf(running, sizeof running, "%d", CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_RUNNING);
    snprintf(breached, sizeof breached, "%d", CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_BREACHED);
    snprintf(met, sizeof met, "%d", CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_MET);
    snprintf(late, sizeof late, "%d", CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_MET_LATE);
    snprintf(cancelled, sizeof cancelled, "%d", CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_CANCELLED);
    const char *p[] = {id, codes ? list.data : NULL, at, running, breached, met, late, cancelled};
    PGresult *res = cl_db_exec(self->db,
                               "UPDATE clocks SET closed_at = cl_us_to_ts($3::bigint), next_fire_at = NULL,"
                               " state = CASE WHEN $2::text[] IS NULL THEN $8::smallint"
                               " WHEN state = $5::smallint THEN $7::smallint ELSE $6::smallint END"
                               " WHERE case_id = $1::bigint AND state IN ($4::smallint, $5::smallint)"
                               " AND ($2::text[] IS NULL OR code = ANY($2::text[]))"
                               " RETURNING " CLOCK_COLUMNS,
                               8, p, false, err);
    cl_buf_free(&list);
    if (!res)
        return -1;
    if (codes) {
        for (int r = 0; r < PQntuples(res); r++) {
            union body *b;
            Caseloop__V1__Clock *c;
            cl_env_t *env = s_out_add(out, res, r, now, &b, &c);
            caseloop__v1__clock_met__init(&b->met);
            b->met.has_in_time = 1;
            b->met.in_time = c->state == CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_MET;
            env->body_case = CASELOOP__V1__ENVELOPE__BODY_CLOCK_MET;
        }
    }
    s_out_keep(out, res);
    return 0;
}

static void s_arms_free(s_arms_t *a)
{
    cl_buf_t *cols[] = {&a->cases, &a->sites, &a->codes, &a->names, &a->armed, &a->due, &a->fire, &a->major};
    for (int k = 0; k < 8; k++)
        cl_buf_free(cols[k]);
}

static const char C2_NAME[] = "feedback form reaches the responsible department";
static const char C3_NAME[] = "the department contacts the customer with a plan";

/* One event's effect on the clocks. */
static int s_apply(cl_escalation_t *self, const cl_env_t *ev, s_arms_t *arms, s_out_t *out, int64_t now, cl_err_t *err)
{
    switch (ev->body_case) {
    case CASELOOP__V1__ENVELOPE__BODY_CASE_RECEIVED: {
        const Caseloop__V1__Case *c = ev->case_received->details;
        if (c)
            s_arm(self, arms, c->case_id, c->site, "C2", C2_NAME, c->received_at_us, self->cfg->c2_s,
                  c->severity == CASELOOP__V1__SEVERITY__SEVERITY_MAJOR);
        return 0;
    }
    case CASELOOP__V1__ENVELOPE__BODY_CASE_DISPATCHED: {
        const Caseloop__V1__CaseDispatched *d = ev->case_dispatched;
        if (d->department && *d->department)
            s_arm(self, arms, d->case_id, d->site, "C3", C3_NAME, ev->sent_at_us, self->cfg->c3_s,
                  d->severity == CASELOOP__V1__SEVERITY__SEVERITY_MAJOR);
        return 0;
    }
    case CASELOOP__V1__ENVELOPE__BODY_CASE_UPDATED: {
        const Caseloop__V1__CaseUpdated *u = ev->case_updated;
        /* Clocks armed in this batch must be stored before they can be met. */
        if (s_arm_store(self, arms, out, now, err) < 0)
            return -1;
        s_arms_free(arms);
        memset(arms, 0, sizeof *arms);
        cl_buf_t *cols[] = {&arms->cases, &arms->sites, &arms->codes, &arms->names, &arms->armed, &arms->due,
                            &arms->fire, &arms->major};
        for (int k = 0; k < 8; k++)
            cl_pgarr_begin(cols[k]);
        static const char *const ack[] = {"C2", NULL};
        static const char *const contact[] = {"C2", "C3", NULL};
        if (u->state_after == CASELOOP__V1__CASE_STATE__CASE_STATE_CLOSED)
            return s_close(self, u->case_id, NULL, ev->sent_at_us, out, now, err);
        if (u->action == CASELOOP__V1__CASE_ACTION__CASE_ACTION_ACKNOWLEDGE)
            return s_close(self, u->case_id, ack, ev->sent_at_us, out, now, err);
        if (u->action == CASELOOP__V1__CASE_ACTION__CASE_ACTION_FIRST_CONTACT)
            return s_close(self, u->case_id, contact, ev->sent_at_us, out, now, err);
        return 0;
    }
    default:
        return 0;
    }
}

/* Applies the next events of the log in one transaction holding the
   consumer's position row. Returns how many, 0 at the end, -1. */
static int s_apply_batch(cl_escalation_t *self, cl_err_t *err)
{
    const char *consumer[] = {CONSUMER};
    if (cl_db_cmd(self->db,
                  "INSERT INTO consumer_positions (consumer, position) VALUES ($1, 0) ON CONFLICT DO NOTHING", 1,
                  consumer, err) < 0 ||
        cl_db_begin(self->db, err) < 0)
        return -1;
    int64_t now = cl_clock_now(self->clock);
    cl_env_t **events = calloc((size_t)self->cfg->batch_max, sizeof *events);
    if (!events)
        abort();
    s_arms_t arms;
    memset(&arms, 0, sizeof arms);
    cl_buf_t *cols[] = {&arms.cases, &arms.sites, &arms.codes, &arms.names, &arms.armed, &arms.due, &arms.fire,
                        &arms.major};
    for (int k = 0; k < 8; k++)
        cl_pgarr_begin(cols[k]);
    s_out_t out;
    memset(&out, 0, sizeof out);
    int nev = 0, rc = -1;
    PGresult *res = cl_db_exec(self->db, "SELECT position FROM consumer_positions WHERE consumer = $1 FOR UPDATE",
                               1, consumer, false, err);
    if (!res)
        goto out;
    uint64_t from = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    nev = cl_eventlog_read_envs(self->db, from, (uint32_t)self->cfg->batch_max, events, err);
    if (nev <= 0) {
        rc = nev < 0 ? -1 : (cl_db_commit(self->db, err) < 0 ? -1 : 0);
        nev = nev < 0 ? 0 : nev;
        goto out;
    }
    for (int i = 0; i < nev; i++)
        if (s_apply(self, events[i], &arms, &out, now, err) < 0)
            goto out;
    char last[24];
    snprintf(last, sizeof last, "%" PRIu64, events[nev - 1]->position);
    const char *p[] = {CONSUMER, last};
    if (s_arm_store(self, &arms, &out, now, err) < 0)
        goto out;
    s_out_seal(&out);
    if (cl_eventlog_append(self->db, out.evs, out.n, now, err) < 0 ||
        cl_db_cmd(self->db, "UPDATE consumer_positions SET position = $2::bigint WHERE consumer = $1", 2, p, err) < 0 ||
        cl_db_commit(self->db, err) < 0)
        goto out;
    cl_eventlog_publish(self->pub, out.evs, out.n);
    cl_service_count(self->svc, "events_applied", (uint64_t)nev);
    self->next_due_us = INT64_MIN; /* armed clocks may be due sooner: look again */
    rc = nev;
out:
    if (rc < 0)
        cl_db_rollback(self->db);
    s_out_free(&out);
    s_arms_free(&arms);
    for (int i = 0; i < nev; i++)
        cl_codec_free(events[i]);
    free(events);
    return rc;
}

/* --- firing --------------------------------------------------------------------------------- */

/* Claims the clocks due by now that no other instance holds (SKIP LOCKED),
   fires the next stage of each, and moves it on, in one transaction.
   Returns how many fired, -1. */
static int s_fire_batch(cl_escalation_t *self, cl_err_t *err)
{
    int64_t now = cl_clock_now(self->clock);
    char at[24], lim[16];
    snprintf(at, sizeof at, "%" PRId64, now);
    snprintf(lim, sizeof lim, "%" PRId64, self->cfg->batch_max);
    const char *p[] = {at, lim};
    if (cl_db_begin(self->db, err) < 0)
        return -1;
    s_out_t out;
    memset(&out, 0, sizeof out);
    int rc = -1;
    PGresult *res = cl_db_exec(self->db,
                               "SELECT " CLOCK_COLUMNS ", cl_ts_to_us(next_fire_at) FROM clocks"
                               " WHERE next_fire_at <= cl_us_to_ts($1::bigint)"
                               " ORDER BY next_fire_at LIMIT $2::int FOR UPDATE SKIP LOCKED",
                               2, p, false, err);
    if (!res)
        goto out;
    s_out_keep(&out, res);
    int rows = PQntuples(res);
    cl_buf_t ids = {0}, stages = {0}, levels = {0}, states = {0}, who = {0}, next = {0};
    cl_buf_t *cols[] = {&ids, &stages, &levels, &states, &who, &next};
    for (int k = 0; k < 6; k++)
        cl_pgarr_begin(cols[k]);
    for (int r = 0; r < rows; r++) {
        cl_clock_plan_t plan = {strtoll(PQgetvalue(res, r, 6), NULL, 10), strtoll(PQgetvalue(res, r, 7), NULL, 10),
                                self->cfg->ladder_step_s * CL_US_PER_S, PQgetvalue(res, r, 12)[0] == 't'};
        int stage = atoi(PQgetvalue(res, r, 13)), arg;
        int64_t moment = strtoll(PQgetvalue(res, r, 14), NULL, 10);
        /* Warnings that come after the due time (a service that was down) are of no use: breach. */
        if (stage < 2 && now >= plan.due_us)
            stage = 2, moment = plan.due_us;
        cl_fire_t kind = cl_clock_stage(&plan, stage, &arg);
        int level = atoi(PQgetvalue(res, r, 9));
        int state = atoi(PQgetvalue(res, r, 5));
        const char *role = PQgetvalue(res, r, 10);
        union body *b;
        Caseloop__V1__Clock *c;
        int64_t late = now - moment > 0 ? now - moment : 0;
        if (kind == CL_FIRE_WARNING) {
            cl_env_t *env = s_out_add(&out, res, r, now, &b, &c);
            caseloop__v1__clock_warning__init(&b->warning);
            b->warning.has_percent = 1, b->warning.percent = (uint32_t)arg;
            b->warning.has_late_us = 1, b->warning.late_us = late;
            env->body_case = CASELOOP__V1__ENVELOPE__BODY_CLOCK_WARNING;
        } else if (kind == CL_FIRE_BREACH || kind == CL_FIRE_ESCALATION) {
            level = arg;
            role = cl_clock_ladder_role(plan.major, level);
            if (kind == CL_FIRE_BREACH) {
                state = CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_BREACHED;
                cl_env_t *env = s_out_add(&out, res, r, now, &b, &c);
                caseloop__v1__clock_breached__init(&b->breached);
                b->breached.has_late_us = 1, b->breached.late_us = late;
                c->has_state = 1, c->state = CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_BREACHED;
                env->body_case = CASELOOP__V1__ENVELOPE__BODY_CLOCK_BREACHED;
            }
            cl_env_t *env = s_out_add(&out, res, r, now, &b, &c);
            caseloop__v1__escalation_raised__init(&b->raised);
            b->raised.has_level = 1, b->raised.level = (uint32_t)level;
            b->raised.role = (char *)role;
            b->raised.responsible = (char *)role;
            int64_t deadline = cl_clock_stage_at(&plan, stage + 1);
            b->raised.has_deadline_us = 1, b->raised.deadline_us = deadline > 0 ? deadline : 0;
            b->raised.has_late_us = 1, b->raised.late_us = late;
            c->has_state = 1, c->state = CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_BREACHED;
            c->has_level = 1, c->level = (uint32_t)level;
            c->responsible = (char *)role;
            env->body_case = CASELOOP__V1__ENVELOPE__BODY_ESCALATION_RAISED;
            if (late > CL_US_PER_S)
                cl_log(CL_LOG_WARN, &(cl_log_ctx_t){(int64_t)c->case_id, c->site, NULL, NULL},
                       "clock %s fired %" PRId64 " ms late", c->code, late / 1000);
        }
        int64_t following = cl_clock_stage_at(&plan, stage + 1);
        cl_pgarr_i64(&ids, strtoll(PQgetvalue(res, r, 0), NULL, 10));
        cl_pgarr_i64(&stages, stage + 1);
        cl_pgarr_i64(&levels, level);
        cl_pgarr_i64(&states, state);
        cl_pgarr_text(&who, role);
        if (following >= 0)
            cl_pgarr_i64(&next, following);
        else
            cl_pgarr_text(&next, NULL);
    }
    const char *q[6];
    for (int k = 0; k < 6; k++) {
        cl_pgarr_end(cols[k]);
        q[k] = cols[k]->data;
    }
    int urc = rows ? cl_db_cmd(self->db,
                               "UPDATE clocks SET stage = u.s, level = u.l, state = u.st, responsible = u.w,"
                               " next_fire_at = cl_us_to_ts(u.n)"
                               " FROM unnest($1::bigint[], $2::smallint[], $3::smallint[], $4::smallint[],"
                               " $5::text[], $6::bigint[]) AS u(id, s, l, st, w, n) WHERE clocks.id = u.id",
                               6, q, err)
                   : 0;
    for (int k = 0; k < 6; k++)
        cl_buf_free(cols[k]);
    if (urc < 0)
        goto out;
    s_out_seal(&out);
    if (cl_eventlog_append(self->db, out.evs, out.n, now, err) < 0 || cl_db_commit(self->db, err) < 0)
        goto out;
    cl_eventlog_publish(self->pub, out.evs, out.n);
    cl_service_count(self->svc, "stages_fired", (uint64_t)rows);
    rc = rows;
out:
    if (rc < 0)
        cl_db_rollback(self->db);
    s_out_free(&out);
    return rc;
}

/* The earliest moment anything fires, INT64_MAX for none. */
static int64_t s_next_due(cl_escalation_t *self)
{
    cl_err_t err;
    PGresult *res = cl_db_exec(self->db, "SELECT cl_ts_to_us(min(next_fire_at)) FROM clocks", 0, NULL, false, &err);
    if (!res)
        return cl_clock_now(self->clock) + self->cfg->idle_ms * 1000;
    int64_t due = PQgetisnull(res, 0, 0) ? INT64_MAX : strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return due;
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
    cl_service_reply_init(self->svc, &reply, id, env);
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
    cl_service_reply(self->svc, req, &reply);
    free(cs);
    free(cp);
}

static void s_get_clocks(cl_escalation_t *self, cl_request_t *req, const cl_env_t *env)
{
    cl_err_t err;
    cl_err_clear(&err);
    const Caseloop__V1__GetClocks *q = env->get_clocks;
    if (!q->has_case_id || q->case_id == 0 || q->case_id > INT64_MAX) {
        cl_err_set(&err, CL_INVALID_ARGUMENT, "case_id", "case_id is required");
        cl_service_refuse(self->svc, req, env, &err);
        return;
    }
    char id[24];
    snprintf(id, sizeof id, "%" PRIu64, q->case_id);
    const char *p[] = {id};
    PGresult *res = cl_db_exec(self->db, "SELECT " CLOCK_COLUMNS " FROM clocks WHERE case_id = $1::bigint ORDER BY id",
                               1, p, false, &err);
    if (!res) {
        cl_service_refuse(self->svc, req, env, &err);
        return;
    }
    s_reply_clocks(self, req, env, res, false);
    PQclear(res);
}

static void s_list_breaches(cl_escalation_t *self, cl_request_t *req, const cl_env_t *env)
{
    cl_err_t err;
    cl_err_clear(&err);
    const Caseloop__V1__ListBreaches *q = env->list_breaches;
    uint32_t limit = q->has_limit ? q->limit : 50;
    if (cl_text_check(q->site, "site", 1, 64, &err) < 0 ||
        ((limit < 1 || limit > 500) && cl_err_set(&err, CL_INVALID_ARGUMENT, "limit", "limit is outside 1..500") < 0)) {
        cl_service_refuse(self->svc, req, env, &err);
        return;
    }
    char lim[16], breached[8];
    snprintf(lim, sizeof lim, "%" PRIu32, limit);
    snprintf(breached, sizeof breached, "%d", CASELOOP__V1__CLOCK_STATE__CLOCK_STATE_BREACHED);
    const char *p[] = {q->site, q->open_only ? "t" : "f", lim, breached};
    PGresult *res = cl_db_exec(self->db,
                               "SELECT " CLOCK_COLUMNS " FROM clocks WHERE site = $1 AND level > 0"
                               " AND (NOT $2::bool OR state = $4::smallint) ORDER BY id DESC LIMIT $3::int",
                               4, p, false, &err);
    if (!res) {
        cl_service_refuse(self->svc, req, env, &err);
        return;
    }
    s_reply_clocks(self, req, env, res, true);
    PQclear(res);
}

static void s_serve(cl_escalation_t *self)
{
    cl_request_t req;
    while (cl_bus_recv_request(self->router, &req, ZMQ_DONTWAIT) == 0) {
        cl_service_count(self->svc, "requests", 1);
        cl_env_t *env = cl_service_decode(self->svc, &req, (size_t)self->cfg->max_frame);
        if (!env)
            continue;
        cl_err_t err;
        switch (env->body_case) {
        case CASELOOP__V1__ENVELOPE__BODY_GET_CLOCKS:
            s_get_clocks(self, &req, env);
            break;
        case CASELOOP__V1__ENVELOPE__BODY_LIST_BREACHES:
            s_list_breaches(self, &req, env);
            break;
        case CASELOOP__V1__ENVELOPE__BODY_GET_STATS:
            cl_service_stats(self->svc, &req, env, self->db);
            break;
        default:
            cl_err_set(&err, CL_UNIMPLEMENTED, "body", "%s is not served by escalation", cl_codec_body_name(env));
            cl_service_refuse(self->svc, &req, env, &err);
            break;
        }
        cl_codec_free(env);
    }
}

/* --- the loop ---------------------------------------------------------------------------- */

cl_escalation_t *cl_escalation_new(const cl_escalation_config_t *cfg, cl_clock_t *clock, cl_err_t *err)
{
    cl_escalation_t *self = calloc(1, sizeof *self);
    if (!self) {
        cl_err_set(err, CL_INTERNAL, "", "out of memory");
        return NULL;
    }
    self->cfg = cfg;
    self->clock = clock;
    self->next_due_us = INT64_MIN;
    self->db = cl_db_new(cfg->db, "caseloop-escalation");
    self->zctx = zmq_ctx_new();
    if (!self->db || !self->zctx) {
        cl_err_set(err, CL_INTERNAL, "", "out of memory");
        goto err;
    }
    int64_t give_up = cl_mono_us() + 30 * CL_US_PER_S;
    while (cl_db_connect(self->db, err) < 0) {
        if (cl_mono_us() > give_up)
            goto err;
        usleep(100 * 1000);
    }
    if (cl_migrate(self->db, cfg->migrations, err) < 0)
        goto err;
    self->router = cl_bus_open(self->zctx, ZMQ_ROUTER, cfg->router, true, err);
    self->pub = self->router ? cl_bus_open(self->zctx, ZMQ_PUB, cfg->pub, true, err) : NULL;
    if (!self->pub)
        goto err;
    /* One SUB connected to every endpoint it listens to. */
    char endpoints[1024];
    snprintf(endpoints, sizeof endpoints, "%s", cfg->listen);
    char *save = NULL;
    for (char *ep = strtok_r(endpoints, ",", &save); ep; ep = strtok_r(NULL, ",", &save)) {
        if (!self->sub) {
            self->sub = cl_bus_open(self->zctx, ZMQ_SUB, ep, false, err);
            if (!self->sub)
                goto err;
        } else if (zmq_connect(self->sub, ep) != 0) {
            cl_err_set(err, CL_INVALID_ARGUMENT, "CL_ESCALATION_LISTEN", "could not connect to \"%s\"", ep);
            goto err;
        }
    }
    self->svc = cl_service_new(SENDER, self->router, clock);
    if (!self->svc) {
        cl_err_set(err, CL_INTERNAL, "", "out of memory");
        goto err;
    }
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
    cl_bus_close(&self->router);
    cl_bus_close(&self->pub);
    cl_bus_close(&self->sub);
    if (self->zctx)
        zmq_ctx_term(self->zctx);
    cl_db_destroy(&self->db);
    cl_service_destroy(&self->svc);
    free(self);
    *self_p = NULL;
}

static bool s_heard(cl_escalation_t *self)
{
    bool any = false;
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    while (self->sub && zmq_msg_recv(&msg, self->sub, ZMQ_DONTWAIT) >= 0)
        any = true;
    zmq_msg_close(&msg);
    return any;
}

int cl_escalation_run(cl_escalation_t *self, volatile sig_atomic_t *stop)
{
    cl_service_ready(self->cfg->notify_fd);
    cl_log(CL_LOG_INFO, NULL, "serving requests on %s, events on %s, listening to %s", self->cfg->router,
           self->cfg->pub, self->cfg->listen);
    int64_t last_read = 0;
    while (!*stop) {
        cl_err_t err;
        int64_t now = cl_clock_now(self->clock);
        /* Read the log when woken, and at least every idle period. */
        if (now - last_read >= self->cfg->idle_ms * 1000 || s_heard(self)) {
            int n;
            while ((n = s_apply_batch(self, &err)) > 0)
                ;
            if (n < 0)
                cl_log(CL_LOG_WARN, NULL, "could not apply the event log: %s", err.message);
            last_read = now;
        }
        /* Fire what is due; then sleep until the next due moment, an event, a request or the idle period. */
        if (self->next_due_us == INT64_MIN || self->next_due_us <= cl_clock_now(self->clock)) {
            int n;
            while ((n = s_fire_batch(self, &err)) > 0)
                ;
            if (n < 0)
                cl_log(CL_LOG_WARN, NULL, "could not fire clocks: %s", err.message);
            self->next_due_us = s_next_due(self);
        }
        int64_t wait_ms = self->cfg->idle_ms;
        if (self->next_due_us != INT64_MAX) {
            int64_t until = (self->next_due_us - cl_clock_now(self->clock)) / 1000 + 1;
            if (until < wait_ms)
                wait_ms = until < 0 ? 0 : until;
        }
        zmq_pollitem_t items[] = {{self->router, 0, ZMQ_POLLIN, 0}, {self->sub, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, self->sub ? 2 : 1, (long)wait_ms) > 0) {
            if (items[0].revents & ZMQ_POLLIN)
                s_serve(self);
            if (items[1].revents & ZMQ_POLLIN)
                last_read = 0;
        }
    }
    cl_log(CL_LOG_INFO, NULL, "stopping");
    return 0;
}
