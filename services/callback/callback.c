/* callback.c - the callback-scheduler: closings decided from the event log, callbacks timed, attempts and records. */
#include "callback.h"
#include "plan.h"
#include "store.h"
#include "cl_actor.h"
#include "cl_client.h"
#include <sodium.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SENDER "callback-scheduler"
#define CONSUMER "callback-scheduler"
#define OUTBOX_TIMEOUT_MS 2000 /* a request to intake unanswered by then is sent again later */
#define OUTBOX_RETRY_MS 1000

/* What the outbox's sender, an actor, is given: read only, on both sides. */
typedef struct {
    const cl_callback_config_t *cfg;
    void *zctx;
    cl_clock_t *clock;
} s_outbox_t;

struct cl_callback {
    const cl_callback_config_t *cfg;
    cl_runtime_t rt;
    cl_policies_t policies;     /* in force */
    cl_timer_t *timer;          /* the callbacks as timers: their slot's end, then their deadline */
    uint8_t seed[CL_CB_SEED_BYTES];
    int64_t next_due;           /* business time a timer is next due (INT64_MAX: none known) */
    int64_t last_look;          /* when the timers were last looked at */
    cl_actor_t *outbox;         /* sends the outbox to intake (s_outbox_main) */
    s_outbox_t ob;              /* what it is given, read only */
};

/* --- events ---------------------------------------------------------------------------------- */

/* One event, and the memory it points into. */
typedef struct {
    cl_env_t env;
    char id[CL_ID_MAX + 1];
    union {
        Caseloop__V1__CallbackScheduled scheduled;
        Caseloop__V1__CallbackSkipped skipped;
        Caseloop__V1__CallbackAttempted attempted;
        Caseloop__V1__CallbackMade made;
        Caseloop__V1__CallbackUnreachable unreachable;
        Caseloop__V1__CallbackOverdue overdue;
        Caseloop__V1__CallbackRecorded recorded;
        Caseloop__V1__CallbackReviewed reviewed;
        Caseloop__V1__ReplyLetterAttached reply_letter;
        Caseloop__V1__OpenLetterSent open_letter;
    } b;
} s_ev_t;

/* Starts event e of site about case_id (its body to be set), and points ev (unless NULL) at it. */
static void s_ev_init(s_ev_t *e, cl_event_t *ev, const char *site, uint64_t case_id, int64_t now)
{
    cl_codec_init(&e->env, e->id, SENDER, now);
    e->env.site = (char *)site;
    if (!ev)
        return;
    memset(ev, 0, sizeof *ev);
    ev->env = &e->env;
    ev->case_id = (int64_t)case_id;
}

/* Appends evs in db's open transaction and commits, in the publisher's order; publishes after. */
static int s_commit(cl_callback_t *self, cl_event_t *evs, size_t n, int64_t now, cl_err_t *err)
{
    uint64_t turn = cl_publisher_commit(self->rt.publisher, self->rt.db, evs, n, now, err);
    if (turn)
        cl_publisher_put(self->rt.publisher, turn, evs, n);
    cl_eventlog_release(evs, n);
    return turn ? 0 : -1;
}

/* --- performers' load ------------------------------------------------------------------------- */

/* The callbacks each performer of one site has per window instance, and open,
   read once a batch and kept up to date with the batch's own placements. */
typedef struct {
    const cl_site_in_force_t *site;
    uint32_t *open;               /* per staff index */
    struct s_slot {
        int64_t window_us;
        int staff;
        uint32_t n;
    } *slots;                     /* open addressing, cap a power of two; n 0: empty */
    size_t nslots, cap;
} s_loads_t;

static uint64_t s_hash(int staff, int64_t window_us)
{
    uint64_t x = (uint64_t)window_us ^ ((uint64_t)(uint32_t)staff * UINT64_C(0x9E3779B97F4A7C15));
    x ^= x >> 31;
    x *= UINT64_C(0xBF58476D1CE4E5B9);
    return x ^ (x >> 29);
}

static struct s_slot *s_slot_of(s_loads_t *l, int staff, int64_t window_us, bool make)
{
    if (make && (l->nslots + 1) * 2 > l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct s_slot *old = l->slots, *slots = calloc(cap, sizeof *slots);
        if (!slots)
            abort();
        size_t oldcap = l->cap;
        l->slots = slots, l->cap = cap;
        for (size_t i = 0; i < oldcap; i++)
            if (old[i].n) {
                size_t k = s_hash(old[i].staff, old[i].window_us) & (cap - 1);
                while (slots[k].n)
                    k = (k + 1) & (cap - 1);
                slots[k] = old[i];
            }
        free(old);
    }
    if (!l->cap)
        return NULL;
    size_t k = s_hash(staff, window_us) & (l->cap - 1);
    while (l->slots[k].n) {
        if (l->slots[k].staff == staff && l->slots[k].window_us == window_us)
            return &l->slots[k];
        k = (k + 1) & (l->cap - 1);
    }
    if (!make)
        return NULL;
    l->slots[k] = (struct s_slot){window_us, staff, 0};
    l->nslots++;
    return &l->slots[k];
}

static void s_loads_add(void *arg, int staff, int64_t window_us, uint32_t n)
{
    struct s_slot *s = s_slot_of(arg, staff, window_us, true);
    s->n += n;
}

static uint32_t s_load(void *arg, int staff, int64_t window_us)
{
    struct s_slot *s = s_slot_of(arg, staff, window_us, false);
    return s ? s->n : 0;
}

static void s_loads_free(s_loads_t *l)
{
    free(l->open);
    free(l->slots);
    memset(l, 0, sizeof *l);
}

/* The loads of site `in`, read when the batch first needs them (windows from a day before now). */
static s_loads_t *s_loads(cl_callback_t *self, s_loads_t *all, const cl_site_in_force_t *in, int64_t now,
                          cl_err_t *err)
{
    s_loads_t *l = &all[in - self->policies.sites];
    if (l->site == in)
        return l;
    s_loads_free(l);
    const cl_site_policy_t *s = &in->policy->sites[0];
    l->open = calloc(s->nstaff + 1, sizeof *l->open);
    if (!l->open)
        abort();
    if (cl_cbstore_loads(self->rt.db, s, now - INT64_C(86400) * CL_US_PER_S, l->open, s_loads_add, l, err) < 0) {
        s_loads_free(l);
        return NULL;
    }
    l->site = in;
    return l;
}

/* --- placing a callback ------------------------------------------------------------------------ */

/* The customer's preferences as cl_cb_place takes them: windows into iv, a calendar in their zone. */
static void s_prefs(const cl_site_policy_t *s, const Caseloop__V1__CustomerPreferences *p,
                    cl_calendar_interval_t iv[CL_CB_MAX_WINDOWS], cl_cb_prefs_t *out, cl_calendar_t **zone)
{
    memset(out, 0, sizeof *out);
    *zone = NULL;
    if (!p)
        return;
    for (size_t i = 0; i < p->n_windows && out->n < CL_CB_MAX_WINDOWS; i++)
        if (cl_calendar_interval_parse(p->windows[i], &iv[out->n]) == 0)
            out->n++;
    out->windows = iv;
    if (p->time_zone && *p->time_zone && strcmp(p->time_zone, s->time_zone) != 0) {
        cl_calendar_spec_t spec = {.tz = p->time_zone};
        spec.week[1].n = 1, spec.week[1].iv[0] = (cl_calendar_interval_t){0, 1440};
        cl_err_t err;
        *zone = cl_calendar_new(&spec, &err); /* checked at intake: a zone gone since is the site's */
        out->zone = *zone;
    }
}

/* Places callback cb (kind, severity, deadline and preferences set) at site
   `in` from not_before_us on (R-CB-1: a window of the site and the customer,
   a performer free, before the deadline or else flagged late), counting it
   in l. No place: no performer and no slot. Sets *window_us. */
static void s_place(const cl_site_in_force_t *in, s_loads_t *l, Caseloop__V1__Callback *cb,
                    const Caseloop__V1__CustomerPreferences *prefs, int64_t not_before_us, int64_t *window_us)
{
    const cl_site_policy_t *s = &in->policy->sites[0];
    cl_calendar_interval_t iv[CL_CB_MAX_WINDOWS];
    cl_cb_prefs_t p;
    cl_calendar_t *zone;
    s_prefs(s, prefs, iv, &p, &zone);
    cl_cb_slot_t slot;
    *window_us = 0;
    cb->performer = NULL;
    cb->has_slot_start_us = cb->has_slot_end_us = 0;
    cb->has_late = 1, cb->late = false;
    if (cl_cb_place(s, (int)cb->kind, (int)cb->severity, &p, not_before_us, cb->deadline_us, l->open, s_load, l,
                    &slot) == 0) {
        cb->performer = s->staff[slot.performer].id;
        cb->has_slot_start_us = 1, cb->slot_start_us = slot.start_us;
        cb->has_slot_end_us = 1, cb->slot_end_us = slot.end_us;
        cb->late = slot.late;
        *window_us = slot.window_us;
        l->open[slot.performer]++;
        s_loads_add(l, slot.performer, slot.window_us, 1);
    } else {
        cl_log(CL_LOG_WARN, &(cl_log_ctx_t){(int64_t)cb->case_id, s->code, NULL, NULL},
               "no callback slot and performer found within %d days of the deadline: the callback waits for "
               "someone to take it (its deadline still runs)",
               CL_CB_HORIZON_DAYS);
    }
    cl_calendar_destroy(&zone);
}

/* When a callback's timer fires first: the earlier of its slot's end and its deadline. */
static int64_t s_first_fire(const Caseloop__V1__Callback *cb)
{
    return cb->has_slot_end_us && cb->slot_end_us < cb->deadline_us ? cb->slot_end_us : cb->deadline_us;
}

/* --- closings ------------------------------------------------------------------------------------ */

/* One closing of a batch: its event, its case, and what was decided. */
typedef struct {
    const cl_env_t *ev;      /* the CaseUpdated to CLOSED */
    const cl_site_in_force_t *in;
    cl_cb_skip_t why;
    char month[16];          /* of its closing, site time */
    cl_cb_tally_key_t *tally;/* its draw's tally, when it needs a draw */
    bool sampled;
    bool made;               /* a callback task was made */
    s_ev_t e;
    Caseloop__V1__Callback cb;
    Caseloop__V1__CallbackMode modes[8];
} s_closing_t;

/* "YYYY-MM-01" of the month at_us falls in at the site (site time). */
static void s_month(const cl_site_policy_t *s, int64_t at_us, char out[16])
{
    struct tm tm;
    cl_calendar_localtime(s->calendar, at_us, &tm);
    snprintf(out, 16, "%04u-%02u-01", (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u);
}

static const int s_skip_reason[] = {
    [CL_CB_SKIP_ANONYMOUS] = CASELOOP__V1__SKIP_REASON__SKIP_REASON_ANONYMOUS,
    [CL_CB_SKIP_REPLY_LETTER] = CASELOOP__V1__SKIP_REASON__SKIP_REASON_REPLY_LETTER_ONLY,
    [CL_CB_SKIP_DO_NOT_CALL] = CASELOOP__V1__SKIP_REASON__SKIP_REASON_DO_NOT_CALL,
};

/* The closing's CallbackSkipped: no callback by rule, or not sampled (R-CB-1, R-CB-7). */
static void s_skipped(s_closing_t *d, const cl_closed_case_t *c, int64_t now)
{
    s_ev_init(&d->e, NULL, c->site, c->case_id, now);
    Caseloop__V1__CallbackSkipped *k = &d->e.b.skipped;
    caseloop__v1__callback_skipped__init(k);
    k->has_case_id = 1, k->case_id = c->case_id;
    k->site = (char *)c->site;
    k->has_reason = 1;
    k->reason = d->why != CL_CB_CALL ? (Caseloop__V1__SkipReason)s_skip_reason[d->why]
                                     : CASELOOP__V1__SKIP_REASON__SKIP_REASON_NOT_SAMPLED;
    k->rule = (char *)(d->why != CL_CB_CALL ? cl_cb_skip_rule(d->why) : "R-CB-1");
    k->has_closed_at_us = 1, k->closed_at_us = d->ev->sent_at_us;
    d->e.env.body_case = CASELOOP__V1__ENVELOPE__BODY_CALLBACK_SKIPPED;
    d->e.env.callback_skipped = k;
}

/* The closing's callback task (kind, severity, deadline, modes), placed in l
   (R-CB-1: a window of the site and the customer, a performer free, before
   the deadline or else flagged late), and its CallbackScheduled; the task is
   stored by the caller. Sets *window_us. */
static void s_scheduled(s_closing_t *d, const cl_closed_case_t *c, s_loads_t *l, int64_t now, int64_t *window_us)
{
    const cl_site_policy_t *s = &d->in->policy->sites[0];
    int64_t closed_us = d->ev->sent_at_us;
    Caseloop__V1__Callback *cb = &d->cb;
    caseloop__v1__callback__init(cb);
    cb->has_case_id = 1, cb->case_id = c->case_id;
    cb->site = (char *)c->site;
    cb->has_number = 1, cb->number = c->prior + 1;
    cb->has_kind = 1, cb->kind = (Caseloop__V1__Kind)c->kind;
    cb->has_severity = 1, cb->severity = (Caseloop__V1__Severity)c->severity;
    cb->has_state = 1, cb->state = CASELOOP__V1__CALLBACK_STATE__CALLBACK_STATE_SCHEDULED;
    cb->has_attempts = 1, cb->attempts = 0;
    cb->has_closed_at_us = 1, cb->closed_at_us = closed_us;
    cb->has_overdue = 1, cb->overdue = false;
    int64_t deadline;
    if (cl_cb_deadline(s, c->kind, closed_us, &deadline) < 0)
        deadline = closed_us + cl_cb_kind(s, c->kind)->within_s * CL_US_PER_S;
    cb->has_deadline_us = 1, cb->deadline_us = deadline;
    uint8_t modes = cl_cb_modes(s, c->kind, c->severity, (int)cb->number);
    for (int m = 1; m < 8; m++)
        if (modes & (1u << m))
            d->modes[cb->n_modes++] = (Caseloop__V1__CallbackMode)m;
    cb->modes = d->modes;
    cb->preferences = c->prefs;
    s_place(d->in, l, cb, c->prefs, now > closed_us ? now : closed_us, window_us);
    s_ev_init(&d->e, NULL, c->site, c->case_id, now);
    caseloop__v1__callback_scheduled__init(&d->e.b.scheduled);
    d->e.b.scheduled.callback = cb;
    d->e.env.body_case = CASELOOP__V1__ENVELOPE__BODY_CALLBACK_SCHEDULED;
    d->e.env.callback_scheduled = &d->e.b.scheduled;
}

/* The tally key of closing d, added to keys (distinct) when new. */
static cl_cb_tally_key_t *s_tally_key(cl_cb_tally_key_t *keys, size_t *n, const s_closing_t *d, int kind)
{
    for (size_t i = 0; i < *n; i++)
        if (keys[i].kind == kind && strcmp(keys[i].site, d->in->code) == 0 && strcmp(keys[i].month, d->month) == 0)
            return &keys[i];
    cl_cb_tally_key_t *k = &keys[(*n)++];
    memset(k, 0, sizeof *k);
    snprintf(k->site, sizeof k->site, "%s", d->in->code);
    k->kind = kind;
    memcpy(k->month, d->month, sizeof k->month);
    return k;
}

/* Decides the batch's closings (ds[0..n), cases cs[i], in log order): no
   callback by rule (R-CB-7), sampled or not (R-CB-1's share: a case's draw
   when it closed before, else a new one counted in its month's tally), a
   callback task placed. Reads the tallies once and writes them, the draws and
   the tasks once, in the transaction begun. Sets each made event; returns 0,
   or -1 with err. */
static int s_decide(cl_callback_t *self, s_closing_t *ds, cl_closed_case_t *cs, size_t n, s_loads_t *loads,
                    int64_t now, cl_err_t *err)
{
    cl_cb_tally_key_t *keys = calloc(n + 1, sizeof *keys);
    cl_cb_draw_t *draws = calloc(n + 1, sizeof *draws);
    cl_cb_new_t *made = calloc(n + 1, sizeof *made);
    if (!keys || !draws || !made)
        abort();
    size_t nkeys = 0, ndraws = 0, nmade = 0;
    int rc = -1;
    /* What needs a draw, and the tallies those draws count in. */
    for (size_t i = 0; i < n; i++) {
        s_closing_t *d = &ds[i];
        cl_closed_case_t *c = &cs[i];
        if (!c->found || c->done)
            continue;
        if (!(d->in = cl_policies_site(&self->policies, c->site)))
            continue;
        d->why = cl_cb_skip(c->anonymous, c->reply_letter_only, c->prefs && c->prefs->do_not_call);
        s_month(&d->in->policy->sites[0], d->ev->sent_at_us, d->month);
    }
    for (size_t i = 0; i < n; i++)
        if (ds[i].in && ds[i].why == CL_CB_CALL && cs[i].drawn < 0)
            ds[i].tally = s_tally_key(keys, &nkeys, &ds[i], cs[i].kind);
    if (cl_cbstore_tallies(self->rt.db, keys, nkeys, err) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) /* the keys were sorted: found again */
        if (ds[i].tally)
            ds[i].tally = s_tally_key(keys, &nkeys, &ds[i], cs[i].kind);
    /* In log order, each on what the ones before decided. */
    for (size_t i = 0; i < n; i++) {
        s_closing_t *d = &ds[i];
        cl_closed_case_t *c = &cs[i];
        if (!c->found) {
            cl_log(CL_LOG_WARN, NULL, "a closing names case %" PRIu64 ", which does not exist: no callback",
                   c->case_id);
            continue;
        }
        if (c->done)
            continue;
        if (!d->in) {
            cl_log(CL_LOG_ERROR, &(cl_log_ctx_t){(int64_t)c->case_id, c->site, NULL, NULL},
                   "site has no policy: its closed case gets no callback");
            continue;
        }
        for (size_t j = i; j-- > 0;) /* the same case closed earlier in this batch */
            if (cs[j].case_id == c->case_id && cs[j].found && !cs[j].done && ds[j].in) {
                if (ds[j].why == CL_CB_CALL)
                    c->drawn = ds[j].sampled;
                c->prior = cs[j].prior + ds[j].made;
                break;
            }
        if (d->why == CL_CB_CALL) {
            if (c->drawn >= 0) {
                d->sampled = c->drawn == 1;
            } else {
                const cl_site_policy_t *s = &d->in->policy->sites[0];
                d->sampled = cl_cb_sampled(self->seed, c->case_id, cl_cb_kind(s, c->kind)->share, &d->tally->t);
                draws[ndraws++] = (cl_cb_draw_t){c->case_id, d->in->code, c->kind, d->month, d->sampled};
            }
        }
        if (d->why != CL_CB_CALL || !d->sampled) {
            s_skipped(d, c, now);
            continue;
        }
        s_loads_t *l = s_loads(self, loads, d->in, now, err);
        if (!l)
            goto out;
        int64_t window_us;
        s_scheduled(d, c, l, now, &window_us);
        d->made = true;
        made[nmade++] = (cl_cb_new_t){&d->cb, d->ev->position, window_us, s_first_fire(&d->cb)};
        if (s_first_fire(&d->cb) < self->next_due)
            self->next_due = s_first_fire(&d->cb); /* lowered before the commit: at worst a look too soon */
    }
    if (cl_cbstore_tallies_put(self->rt.db, keys, nkeys, err) < 0 ||
        cl_cbstore_draws(self->rt.db, draws, ndraws, err) < 0 || cl_cbstore_insert(self->rt.db, made, nmade, err) < 0)
        goto out;
    rc = 0;
out:
    free(keys);
    free(draws);
    free(made);
    return rc;
}

/* Applies the next events of the log in one transaction holding the
   consumer's position row: each closing decided once. Returns how many
   events, 0 at the end of the log, -1 (a cl_batch_fn). */
static int s_apply_batch(void *arg, cl_err_t *err)
{
    cl_callback_t *self = arg;
    size_t max = (size_t)self->rt.cfg->batch_max;
    cl_env_t **events = calloc(max, sizeof *events);
    s_closing_t *ds = calloc(max, sizeof *ds);
    cl_closed_case_t *cs = calloc(max, sizeof *cs);
    uint64_t *ids = calloc(max, sizeof *ids), *pos = calloc(max, sizeof *pos);
    cl_event_t *evs = calloc(max, sizeof *evs);
    s_loads_t *loads = NULL;
    if (!events || !ds || !cs || !ids || !pos || !evs)
        abort();
    int64_t now = cl_clock_now(self->rt.clock);
    static const char *const types[] = {"CaseUpdated", NULL};
    uint64_t from, upto;
    int rc = -1, nev = cl_eventlog_consume(self->rt.db, CONSUMER, types, (uint32_t)max, events, &from, &upto, err);
    size_t nd = 0, nevs = 0;
    if (nev <= 0) {
        rc = nev < 0 ? -1
                     : ((upto > from ? cl_eventlog_consumed(self->rt.db, CONSUMER, upto, err)
                                     : cl_db_commit(self->rt.db, err)) < 0
                            ? -1
                            : 0);
        nev = nev < 0 ? 0 : nev;
        goto out;
    }
    if (cl_policies_refresh(&self->policies, self->rt.db, err) < 0)
        goto out;
    loads = calloc(self->policies.n + 1, sizeof *loads);
    if (!loads)
        abort();
    for (int i = 0; i < nev; i++) {
        const cl_env_t *ev = events[i];
        if (ev->body_case != CASELOOP__V1__ENVELOPE__BODY_CASE_UPDATED || !ev->case_updated->has_case_id ||
            ev->case_updated->state_after != CASELOOP__V1__CASE_STATE__CASE_STATE_CLOSED)
            continue;
        ds[nd].ev = ev;
        ids[nd] = ev->case_updated->case_id;
        pos[nd++] = ev->position;
    }
    if (cl_cbstore_closed_cases(self->rt.db, ids, pos, nd, cs, err) < 0 ||
        s_decide(self, ds, cs, nd, loads, now, err) < 0)
        goto out;
    for (size_t i = 0; i < nd; i++) {
        if (!ds[i].e.env.body_case)
            continue;
        memset(&evs[nevs], 0, sizeof evs[nevs]);
        evs[nevs].env = &ds[i].e.env;
        evs[nevs].case_id = (int64_t)cs[i].case_id;
        nevs++;
    }
    cl_publisher_lock(self->rt.publisher);
    bool committed = cl_eventlog_append(self->rt.db, evs, nevs, now, err) == 0 &&
                     cl_eventlog_consumed(self->rt.db, CONSUMER, upto, err) == 0;
    if (!committed)
        cl_db_rollback(self->rt.db);
    uint64_t turn = cl_publisher_unlock(self->rt.publisher, committed);
    if (!committed)
        goto out;
    cl_publisher_put(self->rt.publisher, turn, evs, nevs);
    cl_service_count(self->rt.svc, "events_applied", (uint64_t)nev);
    for (size_t i = 0; i < nevs; i++)
        cl_service_count(self->rt.svc,
                         evs[i].env->body_case == CASELOOP__V1__ENVELOPE__BODY_CALLBACK_SCHEDULED ? "callbacks_scheduled"
                                                                                                   : "callbacks_skipped",
                         1);
    rc = nev;
out:
    if (rc < 0)
        cl_db_rollback(self->rt.db);
    cl_eventlog_release(evs, nevs);
    for (size_t i = 0; i < nd; i++)
        cl_closed_case_free(&cs[i]);
    for (size_t i = 0; loads && i < self->policies.n; i++)
        s_loads_free(&loads[i]);
    free(loads);
    cl_eventlog_free_envs(events, nev);
    free(ds);
    free(cs);
    free(ids);
    free(pos);
    free(evs);
    return rc;
}

/* --- timers -------------------------------------------------------------------------------------- */

/* Fires the callbacks due by now (cl_cb_fire_decide): a slot that passed with
   nothing done, a deadline passed with the callback still open, each told
   once with CallbackOverdue to the customer-service supervisor; in one
   transaction. Returns how many it claimed, -1. */
static int s_fire_batch(cl_callback_t *self, cl_err_t *err)
{
    int64_t now = cl_clock_now(self->rt.clock);
    if (cl_policies_refresh(&self->policies, self->rt.db, err) < 0 || cl_db_begin(self->rt.db, err) < 0)
        return -1;
    cl_cb_list_t l;
    if (cl_cbstore_claim(self->rt.db, self->timer, now, self->rt.cfg->batch_max, &l, err) < 0) {
        cl_db_rollback(self->rt.db);
        return -1;
    }
    s_ev_t *es = calloc(l.n + 1, sizeof *es);
    cl_event_t *evs = calloc(l.n + 1, sizeof *evs);
    if (!es || !evs)
        abort();
    size_t n = 0;
    int rc = 0;
    for (size_t i = 0; i < l.n && rc == 0; i++) {
        Caseloop__V1__Callback *cb = &l.cbs[i];
        cl_cb_timer_t t = {cb->state == CASELOOP__V1__CALLBACK_STATE__CALLBACK_STATE_SCHEDULED,
                           cb->has_slot_end_us ? cb->slot_end_us : -1, cb->deadline_us, l.slot_missed[i], cb->overdue};
        cl_cb_fire_t f;
        cl_cb_fire_decide(&t, now, &f);
        cl_cb_change_t ch = {.window_us = l.window_us[i], .slot_missed = l.slot_missed[i] || f.tell_slot,
                             .fire_us = f.next_us};
        if (f.tell_deadline)
            cb->overdue = true;
        if (f.tell_slot || f.tell_deadline) {
            const cl_site_in_force_t *in = cl_policies_site(&self->policies, cb->site);
            s_ev_init(&es[n], &evs[n], cb->site, cb->case_id, now);
            Caseloop__V1__CallbackOverdue *o = &es[n].b.overdue;
            caseloop__v1__callback_overdue__init(o);
            o->has_callback_id = 1, o->callback_id = cb->callback_id;
            o->has_case_id = 1, o->case_id = cb->case_id;
            o->site = cb->site;
            o->has_deadline_passed = 1, o->deadline_passed = f.tell_deadline;
            o->has_due_us = 1, o->due_us = f.tell_deadline ? cb->deadline_us : cb->slot_end_us;
            o->tell = (char *)(in ? cl_cb_supervisor(&in->policy->sites[0]) : NULL);
            es[n].env.body_case = CASELOOP__V1__ENVELOPE__BODY_CALLBACK_OVERDUE;
            es[n].env.callback_overdue = o;
            n++;
        }
        rc = cl_cbstore_update(self->rt.db, cb, &ch, err);
    }
    int claimed = (int)l.n;
    if (rc == 0)
        rc = s_commit(self, evs, n, now, err);
    else
        cl_db_rollback(self->rt.db);
    if (rc == 0)
        cl_service_count(self->rt.svc, "callbacks_overdue", n);
    cl_cb_list_free(&l);
    free(es);
    free(evs);
    return rc < 0 ? -1 : claimed;
}

/* The loop's turn: fires what is due (by the business clock), and looks at the
   earliest due time again after firing and at least every idle period (another
   instance may have armed timers). Returns how long the loop may wait. */
static int64_t s_turn(void *arg, bool outside)
{
    (void)outside;
    cl_callback_t *self = arg;
    cl_err_t err;
    int64_t now = cl_clock_now(self->rt.clock);
    if (now >= self->next_due || now - self->last_look >= self->rt.cfg->idle_ms * 1000) {
        int n;
        while ((n = s_fire_batch(self, &err)) >= self->rt.cfg->batch_max)
            ;
        if (n < 0)
            cl_log(CL_LOG_WARN, NULL, "could not time the callbacks: %s", err.message);
        if (cl_cbstore_next_due(self->rt.db, &self->next_due, &err) < 0)
            self->next_due = now + self->rt.cfg->idle_ms * 1000;
        self->last_look = now;
    }
    int64_t wait = self->next_due == INT64_MAX ? -1 : (self->next_due - now) / 1000 + 1;
    return wait < 0 && self->next_due != INT64_MAX ? 0 : wait;
}

/* --- requests -------------------------------------------------------------------------------------- */

/* Answers env with callbacks: a ListCallbacksReply, or (one) an Attempt/RecordCallbackReply. */
static void s_reply(cl_callback_t *self, cl_request_t *req, const cl_env_t *env, int body,
                    Caseloop__V1__Callback **cbs, size_t n, int64_t respond_by_us)
{
    cl_env_t reply;
    char id[CL_ID_MAX + 1];
    cl_service_reply_init(self->rt.svc, &reply, id, env);
    Caseloop__V1__ListCallbacksReply list = CASELOOP__V1__LIST_CALLBACKS_REPLY__INIT;
    Caseloop__V1__AttemptCallbackReply attempt = CASELOOP__V1__ATTEMPT_CALLBACK_REPLY__INIT;
    Caseloop__V1__RecordCallbackReply record = CASELOOP__V1__RECORD_CALLBACK_REPLY__INIT;
    Caseloop__V1__ReviewCallbackReply review = CASELOOP__V1__REVIEW_CALLBACK_REPLY__INIT;
    reply.body_case = body;
    if (body == CASELOOP__V1__ENVELOPE__BODY_LIST_CALLBACKS_REPLY) {
        list.callbacks = cbs, list.n_callbacks = n;
        reply.list_callbacks_reply = &list;
    } else if (body == CASELOOP__V1__ENVELOPE__BODY_ATTEMPT_CALLBACK_REPLY) {
        attempt.callback = n ? cbs[0] : NULL;
        reply.attempt_callback_reply = &attempt;
    } else if (body == CASELOOP__V1__ENVELOPE__BODY_REVIEW_CALLBACK_REPLY) {
        review.callback = n ? cbs[0] : NULL;
        reply.review_callback_reply = &review;
    } else {
        record.callback = n ? cbs[0] : NULL;
        record.has_respond_by_us = respond_by_us > 0, record.respond_by_us = respond_by_us;
        reply.record_callback_reply = &record;
    }
    cl_service_reply(self->rt.svc, req, &reply);
}

static void s_list_callbacks(void *arg, cl_request_t *req, const cl_env_t *env)
{
    cl_callback_t *self = arg;
    const Caseloop__V1__ListCallbacks *q = env->list_callbacks;
    uint32_t limit;
    cl_err_t err;
    cl_err_clear(&err);
    bool by_case = q->has_case_id && q->case_id;
    if ((by_case && q->case_id > INT64_MAX && cl_err_set(&err, CL_INVALID_ARGUMENT, "case_id", "case_id is out of range") < 0) ||
        (!by_case && cl_text_check(q->site, "site", 1, 64, &err) < 0) ||
        cl_text_check(q->performer, "performer", 0, 100, &err) < 0 ||
        cl_text_limit(q->has_limit, q->limit, 100, 500, &limit, &err) < 0) {
        cl_service_refuse(self->rt.svc, req, env, &err);
        return;
    }
    /* Today, site time, unless the request says otherwise. */
    int64_t now = cl_clock_now(self->rt.clock), from = q->has_from_us ? q->from_us : 0, to = q->has_to_us ? q->to_us : 0;
    if (!by_case && (!q->has_from_us || !q->has_to_us)) {
        if (cl_policies_refresh(&self->policies, self->rt.db, &err) < 0) {
            cl_service_refuse(self->rt.svc, req, env, &err);
            return;
        }
        const cl_site_in_force_t *in = cl_policies_site(&self->policies, q->site);
        int64_t day_start = now - now % (INT64_C(86400) * CL_US_PER_S), day_end = day_start + INT64_C(86400) * CL_US_PER_S;
        if (in) {
            const cl_calendar_t *cal = in->policy->sites[0].calendar;
            int64_t day = cl_calendar_day(cal, now);
            day_start = cl_calendar_local(cal, day, 0);
            day_end = cl_calendar_local(cal, day + 1, 0);
        }
        if (!q->has_from_us)
            from = day_start;
        if (!q->has_to_us)
            to = day_end;
    }
    cl_cb_list_t l;
    if (cl_cbstore_list(self->rt.db, q, from, to, limit, &l, &err) < 0) {
        cl_service_refuse(self->rt.svc, req, env, &err);
        return;
    }
    s_reply(self, req, env, CASELOOP__V1__ENVELOPE__BODY_LIST_CALLBACKS_REPLY, l.ptrs, l.n, 0);
    cl_cb_list_free(&l);
}

/* Whether callback cb may use mode. */
static bool s_mode_allowed(const Caseloop__V1__Callback *cb, int mode)
{
    for (size_t i = 0; i < cb->n_modes; i++)
        if ((int)cb->modes[i] == mode)
            return true;
    return false;
}

/* The callback window of site s that at_us falls in: [*start, *end). Returns 0, or -1 when none. */
static int s_window_at(const cl_site_policy_t *s, int64_t at_us, int64_t *start, int64_t *end)
{
    int64_t day = cl_calendar_day(s->calendar, at_us);
    for (size_t i = 0; i < s->callbacks.nwindows; i++) {
        int64_t a = cl_calendar_local(s->calendar, day, s->callbacks.windows[i].from_min);
        int64_t b = cl_calendar_local(s->calendar, day, s->callbacks.windows[i].to_min);
        if (at_us >= a && at_us < b) {
            *start = a, *end = b;
            return 0;
        }
    }
    return -1;
}

/* Locks callback q's id into l (one row) in the transaction begun; NOT_FOUND when none. */
static int s_lock(cl_callback_t *self, uint64_t id, cl_cb_list_t *l, cl_err_t *err)
{
    if (cl_db_begin(self->rt.db, err) < 0)
        return -1;
    if (cl_cbstore_lock(self->rt.db, id, l, err) < 0)
        return -1;
    if (l->n == 0)
        return cl_err_set(err, CL_NOT_FOUND, "callback_id", "callback %" PRIu64 " does not exist", id);
    return 0;
}

/* R-CB-2: an attempt to reach the customer: reached (CallbackMade: its record
   is due), busy (moved to the time the customer named, inside a callback
   window, or the next slot) or unreachable (the next slot); after the policy's
   max_attempts it ends unreachable (CallbackUnreachable). */
static int s_attempt(cl_callback_t *self, const Caseloop__V1__AttemptCallback *q, cl_cb_list_t *l, cl_err_t *err)
{
    int64_t now = cl_clock_now(self->rt.clock);
    if (!q->has_callback_id || q->callback_id == 0 || q->callback_id > INT64_MAX)
        return cl_err_set(err, CL_INVALID_ARGUMENT, "callback_id", "callback_id is required");
    if (!q->has_outcome || q->outcome < CASELOOP__V1__ATTEMPT_OUTCOME__ATTEMPT_OUTCOME_REACHED ||
        q->outcome > CASELOOP__V1__ATTEMPT_OUTCOME__ATTEMPT_OUTCOME_UNREACHABLE)
        return cl_err_set(err, CL_INVALID_ARGUMENT, "outcome", "outcome is reached, busy or unreachable");
    if (cl_text_check(q->by, "by", 1, 100, err) < 0)
        return -1;
    if (q->has_call_at_us && q->outcome != CASELOOP__V1__ATTEMPT_OUTCOME__ATTEMPT_OUTCOME_BUSY)
        return cl_err_set(err, CL_INVALID_ARGUMENT, "call_at_us", "a time to call again goes with a busy customer");
    if (q->has_call_at_us && q->call_at_us <= now)
        return cl_err_set(err, CL_INVALID_ARGUMENT, "call_at_us", "the time to call again is in the past");
    if (cl_policies_refresh(&self->policies, self->rt.db, err) < 0 || s_lock(self, q->callback_id, l, err) < 0)
        return -1;
    Caseloop__V1__Callback *cb = &l->cbs[0];
    if (cb->state != CASELOOP__V1__CALLBACK_STATE__CALLBACK_STATE_SCHEDULED) {
        char name[40];
        return cl_err_set(err, CL_CONFLICT, "callback_id", "callback %" PRIu64 " is %s: no attempt is made", cb->callback_id,
                          cl_codec_enum_name(&caseloop__v1__callback_state__descriptor, (int)cb->state, name, sizeof name));
    }
    if (q->outcome == CASELOOP__V1__ATTEMPT_OUTCOME__ATTEMPT_OUTCOME_REACHED &&
        (!q->has_mode || !s_mode_allowed(cb, (int)q->mode)))
        return cl_err_set(err, CL_INVALID_ARGUMENT, "mode", "this callback may not be made in that mode");
    const cl_site_in_force_t *in = cl_policies_site(&self->policies, cb->site);
    if (!in)
        return cl_err_set(err, CL_CONFLICT, "callback_id", "site \"%s\" has no policy", cb->site);
    const cl_site_policy_t *s = &in->policy->sites[0];
    int64_t at = q->has_at_us ? q->at_us : now;
    cl_cb_change_t ch = {.window_us = l->window_us[0], .slot_missed = l->slot_missed[0], .fire_us = -1};
    cb->attempts++;
    cb->state = (Caseloop__V1__CallbackState)cl_cb_after_attempt((int)q->outcome, cb->attempts,
                                                                  s->callbacks.max_attempts);
    if (cb->state == CASELOOP__V1__CALLBACK_STATE__CALLBACK_STATE_REACHED) {
        ch.made_mode = (int)q->mode, ch.made_by = q->by, ch.made_at_us = at;
    } else if (cb->state == CASELOOP__V1__CALLBACK_STATE__CALLBACK_STATE_SCHEDULED) {
        int64_t start, end;
        if (q->has_call_at_us) {
            if (s_window_at(s, q->call_at_us, &start, &end) < 0)
                return cl_err_set(err, CL_INVALID_ARGUMENT, "call_at_us",
                                  "the time to call again is outside every callback window of the site");
            cb->has_slot_start_us = 1, cb->slot_start_us = q->call_at_us;
            cb->has_slot_end_us = 1, cb->slot_end_us = end;
            cb->late = q->call_at_us >= cb->deadline_us;
            ch.window_us = start;
        } else {
            /* The next slot after this one, with the same customer's preferences. */
            s_loads_t *arr = calloc(self->policies.n + 1, sizeof *arr);
            if (!arr)
                abort();
            s_loads_t *lo = s_loads(self, arr, in, now, err);
            if (!lo) {
                free(arr);
                return -1;
            }
            /* It competes with others, not with itself: its own place is given up. */
            const cl_site_policy_t *sp = &in->policy->sites[0];
            for (size_t i = 0; cb->performer && i < sp->nstaff; i++)
                if (strcmp(sp->staff[i].id, cb->performer) == 0) {
                    if (lo->open[i])
                        lo->open[i]--;
                    /* (its old window keeps it when it is alone there: an empty entry would end
                       the probe chains that pass it; the old window is past or nearly so) */
                    struct s_slot *old = l->window_us[0] ? s_slot_of(lo, (int)i, l->window_us[0], false) : NULL;
                    if (old && old->n > 1)
                        old->n--;
                    break;
                }
            int64_t after = cb->has_slot_end_us && cb->slot_end_us > now ? cb->slot_end_us : now;
            s_place(in, lo, cb, cb->preferences, after, &ch.window_us);
            for (size_t i = 0; i < self->policies.n; i++)
                s_loads_free(&arr[i]);
            free(arr);
        }
        ch.slot_missed = false;
        ch.fire_us = s_first_fire(cb);
    }
    cl_event_t evs[2];
    s_ev_t es[2];
    size_t n = 0;
    s_ev_init(&es[n], &evs[n], cb->site, cb->case_id, now);
    Caseloop__V1__CallbackAttempted *a = &es[n].b.attempted;
    caseloop__v1__callback_attempted__init(a);
    a->has_callback_id = 1, a->callback_id = cb->callback_id;
    a->has_case_id = 1, a->case_id = cb->case_id;
    a->site = cb->site;
    a->has_attempt = 1, a->attempt = cb->attempts;
    a->has_outcome = 1, a->outcome = q->outcome;
    a->by = q->by;
    a->has_at_us = 1, a->at_us = at;
    if (cb->state == CASELOOP__V1__CALLBACK_STATE__CALLBACK_STATE_SCHEDULED && cb->has_slot_start_us) {
        a->has_next_slot_start_us = 1, a->next_slot_start_us = cb->slot_start_us;
        a->has_next_slot_end_us = 1, a->next_slot_end_us = cb->slot_end_us;
    }
    es[n].env.body_case = CASELOOP__V1__ENVELOPE__BODY_CALLBACK_ATTEMPTED;
    es[n].env.callback_attempted = a;
    n++;
    if (cb->state == CASELOOP__V1__CALLBACK_STATE__CALLBACK_STATE_REACHED) {
        s_ev_init(&es[n], &evs[n], cb->site, cb->case_id, now);
        Caseloop__V1__CallbackMade *m = &es[n].b.made;
        caseloop__v1__callback_made__init(m);
        m->has_callback_id = 1, m->callback_id = cb->callback_id;
        m->has_case_id = 1, m->case_id = cb->case_id;
        m->site = cb->site;
        m->has_mode = 1, m->mode = q->mode;
        m->by = q->by;
        m->has_made_at_us = 1, m->made_at_us = at;
        es[n].env.body_case = CASELOOP__V1__ENVELOPE__BODY_CALLBACK_MADE;
        es[n].env.callback_made = m;
        n++;
    } else if (cb->state == CASELOOP__V1__CALLBACK_STATE__CALLBACK_STATE_UNREACHABLE) {
        s_ev_init(&es[n], &evs[n], cb->site, cb->case_id, now);
        Caseloop__V1__CallbackUnreachable *u = &es[n].b.unreachable;
        caseloop__v1__callback_unreachable__init(u);
        u->has_callback_id = 1, u->callback_id = cb->callback_id;
        u->has_case_id = 1, u->case_id = cb->case_id;
        u->site = cb->site;
        u->has_attempts = 1, u->attempts = cb->attempts;
        es[n].env.body_case = CASELOOP__V1__ENVELOPE__BODY_CALLBACK_UNREACHABLE;
        es[n].env.callback_unreachable = u;
        n++;
    }
    if (cl_cbstore_update(self->rt.db, cb, &ch, err) < 0 || s_commit(self, evs, n, now, err) < 0)
        return -1;
    if (ch.fire_us >= 0 && ch.fire_us < self->next_due)
        self->next_due = ch.fire_us;
    cl_service_count(self->rt.svc, "attempts", 1);
    return 0;
}

static void s_attempt_callback(void *arg, cl_request_t *req, const cl_env_t *env)
{
    cl_callback_t *self = arg;
    cl_err_t err;
    cl_err_clear(&err);
    cl_cb_list_t l = {0};
    if (s_attempt(self, env->attempt_callback, &l, &err) < 0) {
        cl_db_rollback(self->rt.db);
        cl_service_refuse(self->rt.svc, req, env, &err);
    } else {
        s_reply(self, req, env, CASELOOP__V1__ENVELOPE__BODY_ATTEMPT_CALLBACK_REPLY, l.ptrs, l.n, 0);
    }
    cl_cb_list_free(&l);
}

/* --- the outbox -------------------------------------------------------------------------------------- */

#define OUTBOX_SOURCE "callback-scheduler"

/* R-CB-5, R-CB-6: what callback cb's record q sends to intake, as packed
   Envelopes into requests (at most 1 + CL_CB_MAX_RAISED): the case reopened
   with the customer's words when not satisfied, and a case of its own for each
   problem raised, linked to this one; each with a key derived from the
   callback. Returns how many. */
static size_t s_requests(const Caseloop__V1__Callback *cb, const Caseloop__V1__RecordCallback *q,
                         const cl_cb_outcome_t *outcome, int64_t now, cl_buf_t *requests)
{
    size_t n = 0;
    char id[CL_ID_MAX + 1], key[64];
    cl_env_t env;
    if (outcome->reopen) {
        Caseloop__V1__CaseCommand c = CASELOOP__V1__CASE_COMMAND__INIT;
        c.has_case_id = 1, c.case_id = cb->case_id;
        c.has_action = 1, c.action = CASELOOP__V1__CASE_ACTION__CASE_ACTION_REOPEN;
        c.actor = q->by;
        c.text = q->record->customer_words;
        snprintf(key, sizeof key, "callback-%" PRIu64 "-reopen", cb->callback_id);
        c.source = OUTBOX_SOURCE;
        c.command_id = key;
        cl_codec_init(&env, id, SENDER, now);
        env.site = cb->site;
        env.body_case = CASELOOP__V1__ENVELOPE__BODY_CASE_COMMAND;
        env.case_command = &c;
        cl_codec_encode(&env, &requests[n++]);
    }
    for (size_t i = 0; i < outcome->raised && i < CL_CB_MAX_RAISED; i++) {
        const Caseloop__V1__RaisedProblem *p = q->record->raised[i];
        Caseloop__V1__Case c = CASELOOP__V1__CASE__INIT;
        c.site = cb->site;
        c.has_channel = 1, c.channel = CASELOOP__V1__CHANNEL__CHANNEL_CALLBACK;
        if (p->has_kind && p->kind != CASELOOP__V1__KIND__KIND_UNSPECIFIED)
            c.has_kind = 1, c.kind = p->kind;
        c.customer_name = cb->customer_name;
        c.customer_contact = cb->customer_contact;
        c.location = p->location;
        c.description = p->description;
        c.first_receiver = q->by;
        c.external_source = OUTBOX_SOURCE;
        snprintf(key, sizeof key, "callback-%" PRIu64 "-raised-%zu", cb->callback_id, i + 1);
        c.external_id = key;
        c.has_raised_in_callback_of = 1, c.raised_in_callback_of = cb->case_id;
        c.preferences = cb->preferences;
        Caseloop__V1__SubmitCase body = CASELOOP__V1__SUBMIT_CASE__INIT;
        body.details = &c;
        cl_codec_init(&env, id, SENDER, now);
        env.site = cb->site;
        env.body_case = CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE;
        env.submit_case = &body;
        cl_codec_encode(&env, &requests[n++]);
    }
    return n;
}

/* What intake answered request env with, for the outbox row. Sets *later when
   it is to be sent again (intake at capacity or down). */
static void s_outcome_of(const cl_env_t *reply, char *out, size_t size, bool *later)
{
    *later = false;
    char e[32];
    if (reply->body_case == CASELOOP__V1__ENVELOPE__BODY_ERROR) {
        *later = reply->error->code == CASELOOP__V1__ERROR_CODE__UNAVAILABLE;
        snprintf(out, size, "refused %s%s%s: %s", cl_err_code_name((cl_code_t)reply->error->code),
                 reply->error->field && *reply->error->field ? " on " : "", reply->error->field ? reply->error->field : "",
                 reply->error->message ? reply->error->message : "");
    } else if (reply->body_case == CASELOOP__V1__ENVELOPE__BODY_CASE_COMMAND_REPLY) {
        const Caseloop__V1__CaseCommandReply *r = reply->case_command_reply;
        snprintf(out, size, "case %" PRIu64 " %s%s", r->case_id,
                 cl_codec_enum_name(&caseloop__v1__case_state__descriptor, r->state, e, sizeof e),
                 r->repeated ? " (repeat)" : "");
    } else if (reply->body_case == CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE_REPLY) {
        const Caseloop__V1__SubmitCaseReply *r = reply->submit_case_reply;
        snprintf(out, size, "case %" PRIu64 " %s", r->case_id,
                 cl_codec_enum_name(&caseloop__v1__submit_outcome__descriptor, r->outcome, e, sizeof e));
    } else {
        snprintf(out, size, "answered with body %d", (int)reply->body_case);
    }
}

/* Sends what waits in the outbox, oldest first, each until intake answers it.
   Returns how many were answered, or -1 when intake did not answer (or the
   database failed): what is left waits for the next round. */
static int s_outbox_send(s_outbox_t *o, cl_actor_t *a, cl_db_t *db, cl_client_t *client)
{
    int answered = 0;
    uint64_t after = 0;
    for (;;) {
        cl_err_t err;
        cl_outbox_t box;
        if (cl_cbstore_outbox_next(db, after, 100, &box, &err) < 0) {
            cl_log(CL_LOG_WARN, NULL, "could not read the outbox: %s", err.message);
            return -1;
        }
        size_t n = box.n;
        for (size_t i = 0; i < box.n; i++) {
            if (cl_actor_stopping(a)) {
                cl_outbox_free(&box);
                return -1;
            }
            uint64_t id = cl_outbox_id(&box, i);
            size_t len;
            const void *bytes = cl_outbox_request(&box, i, &len);
            cl_env_t *req = cl_codec_decode(bytes, len, SIZE_MAX, &err);
            cl_env_t *reply = req ? cl_client_call(client, req, OUTBOX_TIMEOUT_MS, &err) : NULL;
            char outcome[600];
            bool later = true;
            if (!req) /* cannot happen: it was packed here; kept, and told */
                snprintf(outcome, sizeof outcome, "unreadable: %s", err.message), later = false;
            else if (reply)
                s_outcome_of(reply, outcome, sizeof outcome, &later);
            cl_codec_free(req);
            cl_codec_free(reply);
            if (later) {
                cl_outbox_free(&box);
                return -1;
            }
            if (strncmp(outcome, "refused", 7) == 0)
                cl_log(CL_LOG_WARN, NULL, "intake refused outbox request %" PRIu64 ": %s", id, outcome);
            if (cl_cbstore_outbox_sent(db, id, outcome, cl_clock_now(o->clock), &err) < 0) {
                cl_log(CL_LOG_WARN, NULL, "could not mark outbox request %" PRIu64 " sent: %s", id, err.message);
                cl_outbox_free(&box);
                return -1;
            }
            answered++;
            after = id;
        }
        cl_outbox_free(&box);
        if (n < 100)
            return answered;
    }
}

/* The outbox actor: sends when woken (a record wrote to the outbox), and
   looks again every idle period (another instance's rows, or a round intake
   did not answer). */
static void s_outbox_main(cl_actor_t *a, void *arg)
{
    s_outbox_t *o = arg;
    cl_err_t err;
    cl_db_t *db = cl_db_new(o->cfg->base.db, "caseloop-callback-outbox");
    cl_client_t *client = cl_client_new(o->zctx, o->cfg->intake, SENDER, &err);
    if (!db || !client)
        cl_log(CL_LOG_ERROR, NULL, "the outbox cannot send: %s", db ? err.message : "out of memory");
    int64_t wait = 0;
    char none;
    while (db && client && cl_actor_wait(a, wait, &none, 0, NULL) >= 0) {
        int sent = s_outbox_send(o, a, db, client);
        if (sent > 0) {
            uint64_t n = (uint64_t)sent;
            const void *part = &n;
            size_t len = sizeof n;
            cl_actor_put(a, 1, &part, &len);
        }
        wait = sent < 0 ? OUTBOX_RETRY_MS : o->cfg->base.idle_ms;
    }
    cl_client_destroy(&client);
    cl_db_destroy(&db);
}

/* Main thread: counts what the outbox sent. */
static void s_outbox_take(void *arg, cl_actor_t *a, size_t n, const void *const *data, const size_t *len)
{
    (void)a;
    cl_callback_t *self = arg;
    uint64_t sent;
    if (n == 1 && len[0] == sizeof sent) {
        memcpy(&sent, data[0], sizeof sent);
        cl_service_count(self->rt.svc, "outbox_sent", sent);
    }
}

/* R-CB-3, R-CB-4: files the record of a reached callback (cl_cb_record_check):
   CallbackRecorded carries it whole, and meets the callback's C6. */
static int s_record(cl_callback_t *self, const Caseloop__V1__RecordCallback *q, cl_cb_list_t *l, int64_t *respond_by,
                    cl_err_t *err)
{
    *respond_by = 0;
    int64_t now = cl_clock_now(self->rt.clock);
    if (!q->has_callback_id || q->callback_id == 0 || q->callback_id > INT64_MAX)
        return cl_err_set(err, CL_INVALID_ARGUMENT, "callback_id", "callback_id is required");
    if (cl_text_check(q->by, "by", 1, 100, err) < 0)
        return -1;
    if (!q->record)
        return cl_err_set(err, CL_INVALID_ARGUMENT, "record", "record is required");
    if (cl_policies_refresh(&self->policies, self->rt.db, err) < 0 || s_lock(self, q->callback_id, l, err) < 0)
        return -1;
    Caseloop__V1__Callback *cb = &l->cbs[0];
    if (cb->state != CASELOOP__V1__CALLBACK_STATE__CALLBACK_STATE_REACHED)
        return cl_err_set(err, CL_CONFLICT, "callback_id", "callback %" PRIu64 " %s", cb->callback_id,
                          cb->state == CASELOOP__V1__CALLBACK_STATE__CALLBACK_STATE_RECORDED
                              ? "is recorded already"
                              : "has not reached the customer: its record follows a reached attempt");
    const cl_site_in_force_t *in = cl_policies_site(&self->policies, cb->site);
    if (!in)
        return cl_err_set(err, CL_CONFLICT, "callback_id", "site \"%s\" has no policy", cb->site);
    uint8_t modes = 0;
    for (size_t i = 0; i < cb->n_modes; i++)
        modes |= (uint8_t)(1u << cb->modes[i]);
    if (cl_cb_record_check(&in->policy->sites[0], modes, q->record, err) < 0)
        return -1;
    cl_cb_outcome_t outcome;
    cl_cb_outcome(q->record, &outcome);
    if (outcome.reopen && cl_policy_promise(&in->policy->sites[0], now, respond_by) != 1)
        *respond_by = 0; /* the site promises nothing */
    size_t len = caseloop__v1__callback_record__get_packed_size(q->record);
    uint8_t *packed = malloc(len + 1);
    if (!packed)
        abort();
    caseloop__v1__callback_record__pack(q->record, packed);
    cb->state = CASELOOP__V1__CALLBACK_STATE__CALLBACK_STATE_RECORDED;
    cl_cb_change_t ch = {.window_us = l->window_us[0], .slot_missed = l->slot_missed[0], .fire_us = -1,
                         .record = packed, .record_len = len, .recorded_at_us = now};
    cl_event_t ev;
    s_ev_t e;
    s_ev_init(&e, &ev, cb->site, cb->case_id, now);
    Caseloop__V1__CallbackRecorded *r = &e.b.recorded;
    caseloop__v1__callback_recorded__init(r);
    r->has_callback_id = 1, r->callback_id = cb->callback_id;
    r->has_case_id = 1, r->case_id = cb->case_id;
    r->site = cb->site;
    r->by = q->by;
    r->has_recorded_at_us = 1, r->recorded_at_us = now;
    r->has_satisfied = 1, r->satisfied = outcome.satisfied;
    r->record = q->record;
    e.env.body_case = CASELOOP__V1__ENVELOPE__BODY_CALLBACK_RECORDED;
    e.env.callback_recorded = r;
    cl_buf_t requests[1 + CL_CB_MAX_RAISED] = {{0}};
    size_t nreq = s_requests(cb, q, &outcome, now, requests);
    int rc = cl_cbstore_update(self->rt.db, cb, &ch, err) < 0 ||
                     cl_cbstore_outbox_put(self->rt.db, cb->callback_id, requests, nreq, now, err) < 0 ||
                     s_commit(self, &ev, 1, now, err) < 0
                 ? -1
                 : 0;
    free(packed);
    for (size_t i = 0; i < nreq; i++)
        cl_buf_free(&requests[i]);
    if (rc == 0) {
        cl_service_count(self->rt.svc, "records", 1);
        if (nreq && self->outbox)
            cl_actor_wake(self->outbox);
    }
    return rc;
}

static void s_record_callback(void *arg, cl_request_t *req, const cl_env_t *env)
{
    cl_callback_t *self = arg;
    cl_err_t err;
    cl_err_clear(&err);
    cl_cb_list_t l = {0};
    int64_t respond_by;
    if (s_record(self, env->record_callback, &l, &respond_by, &err) < 0) {
        cl_db_rollback(self->rt.db);
        cl_service_refuse(self->rt.svc, req, env, &err);
    } else {
        s_reply(self, req, env, CASELOOP__V1__ENVELOPE__BODY_RECORD_CALLBACK_REPLY, l.ptrs, l.n, respond_by);
    }
    cl_cb_list_free(&l);
}


/* R-CB-8: a supervisor (or above) of the callback's site reviews its record
   and signs an opinion, once: CallbackReviewed. */
static int s_review(cl_callback_t *self, const Caseloop__V1__ReviewCallback *q, cl_cb_list_t *l, cl_err_t *err)
{
    int64_t now = cl_clock_now(self->rt.clock);
    if (!q->has_callback_id || q->callback_id == 0 || q->callback_id > INT64_MAX)
        return cl_err_set(err, CL_INVALID_ARGUMENT, "callback_id", "callback_id is required");
    if (cl_text_check(q->by, "by", 1, 100, err) < 0 || cl_text_check(q->opinion, "opinion", 1, 4000, err) < 0)
        return -1;
    if (cl_policies_refresh(&self->policies, self->rt.db, err) < 0 || s_lock(self, q->callback_id, l, err) < 0)
        return -1;
    Caseloop__V1__Callback *cb = &l->cbs[0];
    if (cb->state != CASELOOP__V1__CALLBACK_STATE__CALLBACK_STATE_RECORDED)
        return cl_err_set(err, CL_CONFLICT, "callback_id", "callback %" PRIu64 " has no record to review yet",
                          cb->callback_id);
    if (cb->reviewed_by)
        return cl_err_set(err, CL_CONFLICT, "callback_id", "callback %" PRIu64 " was reviewed already, by %s",
                          cb->callback_id, cb->reviewed_by);
    const cl_site_in_force_t *in = cl_policies_site(&self->policies, cb->site);
    if (!in || !cl_cb_may_review(&in->policy->sites[0], q->by))
        return cl_err_set(err, CL_PERMISSION_DENIED, "by", "%s is not a supervisor or above at site %s", q->by,
                          cb->site);
    cl_event_t ev;
    s_ev_t e;
    s_ev_init(&e, &ev, cb->site, cb->case_id, now);
    Caseloop__V1__CallbackReviewed *r = &e.b.reviewed;
    caseloop__v1__callback_reviewed__init(r);
    r->has_callback_id = 1, r->callback_id = cb->callback_id;
    r->has_case_id = 1, r->case_id = cb->case_id;
    r->site = cb->site;
    r->by = q->by;
    r->opinion = q->opinion;
    r->has_reviewed_at_us = 1, r->reviewed_at_us = now;
    e.env.body_case = CASELOOP__V1__ENVELOPE__BODY_CALLBACK_REVIEWED;
    e.env.callback_reviewed = r;
    if (cl_cbstore_review(self->rt.db, cb->callback_id, q->by, q->opinion, now, err) < 0 ||
        s_commit(self, &ev, 1, now, err) < 0)
        return -1;
    cb->reviewed_by = q->by;
    cb->has_reviewed_at_us = 1, cb->reviewed_at_us = now;
    cb->review_opinion = q->opinion;
    cl_service_count(self->rt.svc, "reviews", 1);
    return 0;
}

static void s_review_callback(void *arg, cl_request_t *req, const cl_env_t *env)
{
    cl_callback_t *self = arg;
    cl_err_t err;
    cl_err_clear(&err);
    cl_cb_list_t l = {0};
    if (s_review(self, env->review_callback, &l, &err) < 0) {
        cl_db_rollback(self->rt.db);
        cl_service_refuse(self->rt.svc, req, env, &err);
    } else {
        s_reply(self, req, env, CASELOOP__V1__ENVELOPE__BODY_REVIEW_CALLBACK_REPLY, l.ptrs, l.n, 0);
    }
    cl_cb_list_free(&l);
}

/* --- letters ------------------------------------------------------------------------------------------ */

/* R-CB-7 (seed 000 section 1.10): a reply letter kept with an anonymous or
   reply-letter-only case (ReplyLetterAttached), or an open letter kept with
   each of many cases of one problem, ending their scheduled callbacks
   (OpenLetterSent, one per case). Sets *letter_id and *ended. */
static int s_letter(cl_callback_t *self, const cl_letter_t *l, const uint64_t *ids, size_t n, uint64_t *letter_id,
                    uint32_t *ended_n, cl_err_t *err)
{
    int64_t now = cl_clock_now(self->rt.clock);
    *ended_n = 0;
    if (cl_text_check(l->site, "site", 1, 64, err) < 0 || cl_text_check(l->by, "by", 1, 100, err) < 0)
        return -1;
    if (n > CL_CB_MAX_LETTER_CASES)
        return cl_err_set(err, CL_INVALID_ARGUMENT, "case_ids", "an open letter answers 1 to %d cases",
                          CL_CB_MAX_LETTER_CASES);
    cl_letter_case_t *cases = calloc(n + 1, sizeof *cases);
    uint64_t *ended = calloc(n + 1, sizeof *ended);
    s_ev_t *es = calloc(n + 1, sizeof *es);
    cl_event_t *evs = calloc(n + 1, sizeof *evs);
    if (!cases || !ended || !es || !evs)
        abort();
    int rc = -1;
    if (cl_db_begin(self->rt.db, err) < 0)
        goto out;
    if (cl_cbstore_letter_cases(self->rt.db, ids, n, cases, err) < 0 ||
        cl_cb_letter_check(l->site, l->open, l->text, l->document_ref, ids, cases, n, err) < 0 ||
        cl_cbstore_letter(self->rt.db, l, ids, n, now, letter_id, ended, err) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        s_ev_init(&es[i], &evs[i], l->site, ids[i], now);
        if (l->open) {
            Caseloop__V1__OpenLetterSent *o = &es[i].b.open_letter;
            caseloop__v1__open_letter_sent__init(o);
            o->has_letter_id = 1, o->letter_id = *letter_id;
            o->has_case_id = 1, o->case_id = ids[i];
            o->site = (char *)l->site;
            o->by = (char *)l->by;
            o->text = (char *)l->text;
            o->document_ref = (char *)l->document_ref;
            o->has_sent_at_us = 1, o->sent_at_us = now;
            o->has_callback_id = ended[i] != 0, o->callback_id = ended[i];
            *ended_n += ended[i] != 0;
            es[i].env.body_case = CASELOOP__V1__ENVELOPE__BODY_OPEN_LETTER_SENT;
            es[i].env.open_letter_sent = o;
        } else {
            Caseloop__V1__ReplyLetterAttached *a = &es[i].b.reply_letter;
            caseloop__v1__reply_letter_attached__init(a);
            a->has_letter_id = 1, a->letter_id = *letter_id;
            a->has_case_id = 1, a->case_id = ids[i];
            a->site = (char *)l->site;
            a->by = (char *)l->by;
            a->text = (char *)l->text;
            a->document_ref = (char *)l->document_ref;
            a->has_attached_at_us = 1, a->attached_at_us = now;
            es[i].env.body_case = CASELOOP__V1__ENVELOPE__BODY_REPLY_LETTER_ATTACHED;
            es[i].env.reply_letter_attached = a;
        }
    }
    rc = s_commit(self, evs, n, now, err);
    if (rc == 0)
        cl_service_count(self->rt.svc, l->open ? "open_letters" : "reply_letters", 1);
out:
    if (rc < 0)
        cl_db_rollback(self->rt.db);
    free(cases);
    free(ended);
    free(es);
    free(evs);
    return rc;
}

static void s_attach_reply_letter(void *arg, cl_request_t *req, const cl_env_t *env)
{
    cl_callback_t *self = arg;
    const Caseloop__V1__AttachReplyLetter *q = env->attach_reply_letter;
    cl_err_t err;
    cl_err_clear(&err);
    cl_letter_t l = {q->site, false, q->by, q->text, q->document_ref};
    uint64_t id = q->has_case_id ? q->case_id : 0, letter = 0;
    uint32_t ended;
    if (id > INT64_MAX)
        id = 0;
    if (s_letter(self, &l, &id, 1, &letter, &ended, &err) < 0) {
        cl_service_refuse(self->rt.svc, req, env, &err);
        return;
    }
    cl_env_t reply;
    char mid[CL_ID_MAX + 1];
    cl_service_reply_init(self->rt.svc, &reply, mid, env);
    Caseloop__V1__AttachReplyLetterReply body = CASELOOP__V1__ATTACH_REPLY_LETTER_REPLY__INIT;
    body.has_letter_id = 1, body.letter_id = letter;
    reply.body_case = CASELOOP__V1__ENVELOPE__BODY_ATTACH_REPLY_LETTER_REPLY;
    reply.attach_reply_letter_reply = &body;
    cl_service_reply(self->rt.svc, req, &reply);
}

static void s_send_open_letter(void *arg, cl_request_t *req, const cl_env_t *env)
{
    cl_callback_t *self = arg;
    const Caseloop__V1__SendOpenLetter *q = env->send_open_letter;
    cl_err_t err;
    cl_err_clear(&err);
    cl_letter_t l = {q->site, true, q->by, q->text, q->document_ref};
    uint64_t *ids = calloc(q->n_case_ids + 1, sizeof *ids), letter = 0;
    if (!ids)
        abort();
    for (size_t i = 0; i < q->n_case_ids; i++)
        ids[i] = q->case_ids[i] > INT64_MAX ? 0 : q->case_ids[i];
    uint32_t ended;
    if (s_letter(self, &l, ids, q->n_case_ids, &letter, &ended, &err) < 0) {
        free(ids);
        cl_service_refuse(self->rt.svc, req, env, &err);
        return;
    }
    free(ids);
    cl_env_t reply;
    char mid[CL_ID_MAX + 1];
    cl_service_reply_init(self->rt.svc, &reply, mid, env);
    Caseloop__V1__SendOpenLetterReply body = CASELOOP__V1__SEND_OPEN_LETTER_REPLY__INIT;
    body.has_letter_id = 1, body.letter_id = letter;
    body.has_callbacks_ended = 1, body.callbacks_ended = ended;
    reply.body_case = CASELOOP__V1__ENVELOPE__BODY_SEND_OPEN_LETTER_REPLY;
    reply.send_open_letter_reply = &body;
    cl_service_reply(self->rt.svc, req, &reply);
}

/* --- the service ------------------------------------------------------------------------------------ */

const cl_cfg_option_t cl_callback_options[] = {
    CL_SERVICE_OPTIONS(cl_callback_config_t),
    CL_SERVICE_ENDPOINTS(cl_callback_config_t, "CALLBACK", "tcp://127.0.0.1:7131", "tcp://127.0.0.1:7132"),
    CL_CFG_STR("CL_CALLBACK_LISTEN", cl_callback_config_t, listen, "tcp://127.0.0.1:7102",
               "event endpoints (comma-separated) whose events wake it: intake's PUB, where cases are closed"),
    CL_CFG_STR("CL_CALLBACK_INTAKE", cl_callback_config_t, intake, "tcp://127.0.0.1:7101",
               "intake's request endpoint, where the outbox sends reopenings and new cases"),
    CL_SERVICE_LIMITS(cl_callback_config_t, "65536", "largest request frame accepted, in bytes", "500", 10000,
                      "most closings decided, or callbacks timed, in one transaction"),
    CL_SERVICE_IDLE_OPTION(cl_callback_config_t),
    {0},
};

cl_callback_t *cl_callback_new(const cl_callback_config_t *cfg, cl_clock_t *clock, cl_err_t *err)
{
    cl_callback_t *self = cl_service_alloc(sizeof *self, err);
    if (!self)
        return NULL;
    self->cfg = cfg;
    self->timer = cl_timer_new("callbacks", "id", "next_fire_at", 1);
    self->next_due = INT64_MIN; /* looked at on the first turn */
    cl_policies_init(&self->policies, cfg->base.tz_dir);
    int rc = self->timer ? 0 : cl_err_set(err, CL_INTERNAL, "", "out of memory");
    if (rc == 0)
        rc = cl_runtime_open(&self->rt, "callback", &cfg->base, clock, err) < 0 ||
                     cl_runtime_listen(&self->rt, cfg->listen, "CL_CALLBACK_LISTEN", err) < 0 ||
                     cl_cbstore_seed(self->rt.db, self->seed, err) < 0 ||
                     cl_policies_refresh(&self->policies, self->rt.db, err) < 0
                 ? -1
                 : 0;
    if (rc < 0)
        cl_callback_destroy(&self);
    return self;
}

void cl_callback_destroy(cl_callback_t **self_p)
{
    cl_callback_t *self = *self_p;
    if (!self)
        return;
    if (self->outbox)
        cl_actor_stop_all(&self->outbox, 1);
    cl_runtime_close(&self->rt);
    cl_policies_free(&self->policies);
    cl_timer_destroy(&self->timer);
    sodium_memzero(self->seed, sizeof self->seed);
    free(self);
    *self_p = NULL;
}

static const cl_handler_t s_handlers[] = {
    {CASELOOP__V1__ENVELOPE__BODY_LIST_CALLBACKS, s_list_callbacks, NULL},
    {CASELOOP__V1__ENVELOPE__BODY_ATTEMPT_CALLBACK, s_attempt_callback, NULL},
    {CASELOOP__V1__ENVELOPE__BODY_RECORD_CALLBACK, s_record_callback, NULL},
    {CASELOOP__V1__ENVELOPE__BODY_REVIEW_CALLBACK, s_review_callback, NULL},
    {CASELOOP__V1__ENVELOPE__BODY_ATTACH_REPLY_LETTER, s_attach_reply_letter, NULL},
    {CASELOOP__V1__ENVELOPE__BODY_SEND_OPEN_LETTER, s_send_open_letter, NULL},
    {0, NULL, NULL},
};

int cl_callback_run(cl_callback_t *self, volatile sig_atomic_t *stop)
{
    cl_log(CL_LOG_INFO, NULL, "listening to %s; the outbox sends to %s", self->cfg->listen, self->cfg->intake);
    self->ob = (s_outbox_t){self->cfg, self->rt.zctx, self->rt.clock};
    cl_err_t err;
    if (!(self->outbox =
              cl_actor_start(self->rt.zctx, "callback-outbox", 0, s_outbox_main, &self->ob, s_outbox_take, self, &err))) {
        cl_log(CL_LOG_ERROR, NULL, "could not start the outbox: %s", err.message);
        return -1;
    }
    const cl_loop_t loop = {.self = self, .handlers = s_handlers, .apply = s_apply_batch, .turn = s_turn,
                            .actors = &self->outbox, .nactors = 1};
    int rc = cl_runtime_run(&self->rt, &loop, stop);
    cl_actor_stop_all(&self->outbox, 1);
    return rc;
}
