/* store.c - the callback-scheduler's SQL: the sampling key, draws and tallies, callback tasks and their timers. */
#include "store.h"
#include "cl_sql.h"
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cl_cbstore_seed(cl_db_t *db, uint8_t seed[CL_CB_SEED_BYTES], cl_err_t *err)
{
    uint8_t fresh[CL_CB_SEED_BYTES];
    randombytes_buf(fresh, sizeof fresh);
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_bytes(&p, fresh, sizeof fresh);
    /* The first instance to start makes it; every later one reads the same. */
    if (cl_sql_cmd(db, "INSERT INTO callback_seed (seed) VALUES ($1::bytea) ON CONFLICT (id) DO NOTHING", &p, err) < 0)
        return -1;
    cl_sql_params_init(&p);
    PGresult *res = cl_sql_exec_binary(db, "SELECT seed FROM callback_seed", &p, err);
    if (!res)
        return -1;
    int rc = 0;
    if (PQntuples(res) != 1 || cl_row_length(res, 0, "seed") != CL_CB_SEED_BYTES)
        rc = cl_err_set(err, CL_INTERNAL, "", "the callback sampling key is not %d bytes", CL_CB_SEED_BYTES);
    else
        memcpy(seed, cl_row_text(res, 0, "seed"), CL_CB_SEED_BYTES);
    PQclear(res);
    return rc;
}

/* A bytea column of a text result, unpacked as a CustomerPreferences; NULL for none. */
static Caseloop__V1__CustomerPreferences *s_prefs(const PGresult *res, int r, const char *col)
{
    if (cl_row_null(res, r, col))
        return NULL;
    size_t n = 0;
    unsigned char *bytes = PQunescapeBytea((const unsigned char *)cl_row_text(res, r, col), &n);
    if (!bytes)
        return NULL;
    Caseloop__V1__CustomerPreferences *p = caseloop__v1__customer_preferences__unpack(NULL, n, bytes);
    PQfreemem(bytes);
    return p;
}

int cl_cbstore_closed_case(cl_db_t *db, uint64_t case_id, uint64_t position, cl_closed_case_t *out, cl_err_t *err)
{
    memset(out, 0, sizeof *out);
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_uint(&p, case_id);
    cl_sql_uint(&p, position);
    PGresult *res = cl_sql_exec(db,
                                "SELECT c.site, coalesce(d.kind, c.kind) AS kind,"
                                " greatest(c.severity, coalesce(d.severity, 0)) AS severity, c.anonymous,"
                                " c.reply_letter_only, c.preferences, coalesce(dr.sampled::int, -1) AS drawn,"
                                " (SELECT count(*) FROM callbacks b WHERE b.case_id = c.id) AS prior,"
                                " EXISTS (SELECT 1 FROM callbacks b WHERE b.closed_position = $2::bigint) AS done"
                                " FROM cases c LEFT JOIN dispatches d ON d.case_id = c.id"
                                " LEFT JOIN callback_draws dr ON dr.case_id = c.id WHERE c.id = $1::bigint",
                                &p, err);
    if (!res)
        return -1;
    int found = PQntuples(res) == 1;
    if (found) {
        out->case_id = case_id;
        snprintf(out->site, sizeof out->site, "%s", cl_row_text(res, 0, "site"));
        out->kind = (int)cl_row_int(res, 0, "kind");
        out->severity = (int)cl_row_int(res, 0, "severity");
        out->anonymous = cl_row_bool(res, 0, "anonymous");
        out->reply_letter_only = cl_row_bool(res, 0, "reply_letter_only");
        out->prefs = s_prefs(res, 0, "preferences");
        out->drawn = (int)cl_row_int(res, 0, "drawn");
        out->prior = (uint32_t)cl_row_uint(res, 0, "prior");
        out->done = cl_row_bool(res, 0, "done");
    }
    PQclear(res);
    return found;
}

void cl_closed_case_free(cl_closed_case_t *c)
{
    if (c->prefs)
        caseloop__v1__customer_preferences__free_unpacked(c->prefs, NULL);
    c->prefs = NULL;
}

int cl_cbstore_tally(cl_db_t *db, const char *site, int kind, const char *month, cl_cb_tally_t *t, cl_err_t *err)
{
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_text(&p, site);
    cl_sql_int(&p, kind);
    cl_sql_text(&p, month);
    PGresult *res = cl_sql_exec(db,
                                "INSERT INTO callback_tallies (site, kind, month) VALUES ($1, $2::smallint, $3::date)"
                                " ON CONFLICT (site, kind, month) DO UPDATE SET counted = callback_tallies.counted"
                                " RETURNING counted, called",
                                &p, err);
    if (!res)
        return -1;
    t->counted = (uint32_t)cl_row_uint(res, 0, "counted");
    t->called = (uint32_t)cl_row_uint(res, 0, "called");
    PQclear(res);
    return 0;
}

int cl_cbstore_tally_put(cl_db_t *db, const char *site, int kind, const char *month, const cl_cb_tally_t *t,
                         cl_err_t *err)
{
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_text(&p, site);
    cl_sql_int(&p, kind);
    cl_sql_text(&p, month);
    cl_sql_uint(&p, t->counted);
    cl_sql_uint(&p, t->called);
    return cl_sql_cmd(db,
                      "UPDATE callback_tallies SET counted = $4::int, called = $5::int"
                      " WHERE site = $1 AND kind = $2::smallint AND month = $3::date",
                      &p, err);
}

int cl_cbstore_draw(cl_db_t *db, uint64_t case_id, const char *site, int kind, const char *month, bool sampled,
                    cl_err_t *err)
{
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_uint(&p, case_id);
    cl_sql_text(&p, site);
    cl_sql_int(&p, kind);
    cl_sql_text(&p, month);
    cl_sql_bool(&p, sampled);
    return cl_sql_cmd(db,
                      "INSERT INTO callback_draws (case_id, site, kind, month, sampled)"
                      " VALUES ($1::bigint, $2, $3::smallint, $4::date, $5::bool)",
                      &p, err);
}

int cl_cbstore_loads(cl_db_t *db, const cl_site_policy_t *s, int64_t since_us, uint32_t *open,
                     void (*each)(void *arg, int staff, int64_t window_us, uint32_t n), void *arg, cl_err_t *err)
{
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_text(&p, s->code);
    cl_sql_int(&p, since_us);
    cl_sql_int(&p, CASELOOP__V1__CALLBACK_STATE__CALLBACK_STATE_SCHEDULED);
    PGresult *res = cl_sql_exec(db,
                                "SELECT performer, coalesce(cl_ts_to_us(window_start), 0) AS window_us,"
                                " count(*) FILTER (WHERE state = $3::smallint) AS open,"
                                " count(*) FILTER (WHERE window_start >= cl_us_to_ts($2::bigint)) AS in_window"
                                " FROM callbacks WHERE site = $1 AND performer IS NOT NULL"
                                " AND (state = $3::smallint OR window_start >= cl_us_to_ts($2::bigint))"
                                " GROUP BY performer, window_start",
                                &p, err);
    if (!res)
        return -1;
    memset(open, 0, sizeof *open * s->nstaff);
    for (int r = 0; r < PQntuples(res); r++) {
        const char *who = cl_row_text(res, r, "performer");
        for (size_t i = 0; i < s->nstaff; i++) {
            if (strcmp(s->staff[i].id, who) != 0)
                continue;
            open[i] += (uint32_t)cl_row_uint(res, r, "open");
            uint32_t n = (uint32_t)cl_row_uint(res, r, "in_window");
            if (n)
                each(arg, (int)i, cl_row_int(res, r, "window_us"), n);
            break;
        }
    }
    PQclear(res);
    return 0;
}

/* The modes of a Callback as bits 1 << CallbackMode. */
static int64_t s_mode_bits(const Caseloop__V1__Callback *cb)
{
    int64_t bits = 0;
    for (size_t i = 0; i < cb->n_modes; i++)
        if (cb->modes[i] > 0 && cb->modes[i] < 8)
            bits |= INT64_C(1) << cb->modes[i];
    return bits;
}

int cl_cbstore_insert(cl_db_t *db, Caseloop__V1__Callback *cb, uint64_t closed_position, int64_t window_us,
                      int64_t fire_us, cl_err_t *err)
{
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_uint(&p, cb->case_id);
    cl_sql_text(&p, cb->site);
    cl_sql_uint(&p, cb->number);
    cl_sql_uint(&p, closed_position);
    cl_sql_int(&p, cb->kind);
    cl_sql_int(&p, cb->severity);
    cl_sql_int(&p, cb->state);
    cl_sql_text(&p, cb->performer && *cb->performer ? cb->performer : NULL);
    cl_sql_opt_int(&p, cb->has_slot_start_us, cb->slot_start_us);
    cl_sql_opt_int(&p, cb->has_slot_end_us, cb->slot_end_us);
    cl_sql_opt_int(&p, window_us > 0, window_us);
    cl_sql_int(&p, cb->deadline_us);
    cl_sql_bool(&p, cb->late);
    cl_sql_int(&p, s_mode_bits(cb));
    cl_sql_int(&p, cb->closed_at_us);
    cl_sql_opt_int(&p, fire_us >= 0, fire_us);
    PGresult *res = cl_sql_exec(db,
                                "INSERT INTO callbacks (case_id, site, number, closed_position, kind, severity, state,"
                                " performer, slot_start, slot_end, window_start, deadline, late, modes, closed_at,"
                                " next_fire_at)"
                                " VALUES ($1::bigint, $2, $3::int, $4::bigint, $5::smallint, $6::smallint, $7::smallint,"
                                " $8, cl_us_to_ts($9::bigint), cl_us_to_ts($10::bigint), cl_us_to_ts($11::bigint),"
                                " cl_us_to_ts($12::bigint), $13::bool, $14::smallint, cl_us_to_ts($15::bigint),"
                                " cl_us_to_ts($16::bigint)) RETURNING id",
                                &p, err);
    if (!res)
        return -1;
    cb->has_callback_id = 1, cb->callback_id = cl_row_uint(res, 0, "id");
    PQclear(res);
    return 0;
}

/* What every callback query returns, for s_callback_from: the row of callbacks
   (named so) and the customer from its case. */
#define CB_COLUMNS                                                                                                  \
    "callbacks.id, callbacks.case_id, callbacks.site, callbacks.number, callbacks.kind, callbacks.severity,"        \
    " callbacks.state, callbacks.performer, cl_ts_to_us(callbacks.slot_start) AS slot_start_us,"                   \
    " cl_ts_to_us(callbacks.slot_end) AS slot_end_us, cl_ts_to_us(callbacks.deadline) AS deadline_us,"              \
    " callbacks.late, callbacks.attempts, callbacks.modes, cl_ts_to_us(callbacks.closed_at) AS closed_at_us,"       \
    " callbacks.overdue, callbacks.slot_missed, coalesce(cl_ts_to_us(callbacks.window_start), 0) AS window_us,"     \
    " (SELECT c.customer_name FROM cases c WHERE c.id = callbacks.case_id) AS customer_name,"                      \
    " (SELECT c.customer_contact FROM cases c WHERE c.id = callbacks.case_id) AS customer_contact,"                \
    " (SELECT c.preferences FROM cases c WHERE c.id = callbacks.case_id) AS preferences"

/* The one mapping from a callback's row to a Callback message (strings point into res). */
static void s_callback_from(Caseloop__V1__Callback *cb, const PGresult *res, int r)
{
    caseloop__v1__callback__init(cb);
    cb->has_callback_id = 1, cb->callback_id = cl_row_uint(res, r, "id");
    cb->has_case_id = 1, cb->case_id = cl_row_uint(res, r, "case_id");
    cb->site = (char *)cl_row_text(res, r, "site");
    cb->has_number = 1, cb->number = (uint32_t)cl_row_uint(res, r, "number");
    cb->has_kind = 1, cb->kind = (Caseloop__V1__Kind)cl_row_int(res, r, "kind");
    cb->has_severity = 1, cb->severity = (Caseloop__V1__Severity)cl_row_int(res, r, "severity");
    cb->has_state = 1, cb->state = (Caseloop__V1__CallbackState)cl_row_int(res, r, "state");
    if (!cl_row_null(res, r, "performer"))
        cb->performer = (char *)cl_row_text(res, r, "performer");
    if (!cl_row_null(res, r, "slot_start_us"))
        cb->has_slot_start_us = 1, cb->slot_start_us = cl_row_int(res, r, "slot_start_us");
    if (!cl_row_null(res, r, "slot_end_us"))
        cb->has_slot_end_us = 1, cb->slot_end_us = cl_row_int(res, r, "slot_end_us");
    cb->has_deadline_us = 1, cb->deadline_us = cl_row_int(res, r, "deadline_us");
    cb->has_late = 1, cb->late = cl_row_bool(res, r, "late");
    cb->has_attempts = 1, cb->attempts = (uint32_t)cl_row_uint(res, r, "attempts");
    int64_t bits = cl_row_int(res, r, "modes");
    cb->modes = calloc(8, sizeof *cb->modes);
    if (!cb->modes)
        abort();
    for (int m = 1; m < 8; m++)
        if (bits & (INT64_C(1) << m))
            cb->modes[cb->n_modes++] = (Caseloop__V1__CallbackMode)m;
    cb->customer_name = (char *)cl_row_text(res, r, "customer_name");
    cb->customer_contact = (char *)cl_row_text(res, r, "customer_contact");
    cb->preferences = s_prefs(res, r, "preferences");
    cb->has_closed_at_us = 1, cb->closed_at_us = cl_row_int(res, r, "closed_at_us");
    cb->has_overdue = 1, cb->overdue = cl_row_bool(res, r, "overdue");
}

/* The callbacks of res into out. */
static void s_list_from(PGresult *res, cl_cb_list_t *out)
{
    int rows = PQntuples(res);
    out->rows = res;
    out->cbs = calloc((size_t)rows + 1, sizeof *out->cbs);
    out->ptrs = calloc((size_t)rows + 1, sizeof *out->ptrs);
    out->slot_missed = calloc((size_t)rows + 1, sizeof *out->slot_missed);
    out->window_us = calloc((size_t)rows + 1, sizeof *out->window_us);
    if (!out->cbs || !out->ptrs || !out->slot_missed || !out->window_us)
        abort();
    for (int r = 0; r < rows; r++) {
        s_callback_from(&out->cbs[r], res, r);
        out->ptrs[r] = &out->cbs[r];
        out->slot_missed[r] = cl_row_bool(res, r, "slot_missed");
        out->window_us[r] = cl_row_int(res, r, "window_us");
    }
    out->n = (size_t)rows;
}

void cl_cb_list_free(cl_cb_list_t *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->cbs[i].modes);
        if (l->cbs[i].preferences)
            caseloop__v1__customer_preferences__free_unpacked(l->cbs[i].preferences, NULL);
    }
    PQclear(l->rows);
    free(l->cbs);
    free(l->ptrs);
    free(l->slot_missed);
    free(l->window_us);
    memset(l, 0, sizeof *l);
}

/* Runs a query of CB_COLUMNS into out. */
static int s_list(cl_db_t *db, const char *sql, const cl_sql_params_t *p, cl_cb_list_t *out, cl_err_t *err)
{
    memset(out, 0, sizeof *out);
    PGresult *res = cl_sql_exec(db, sql, p, err);
    if (!res)
        return -1;
    s_list_from(res, out);
    return 0;
}

int cl_cbstore_lock(cl_db_t *db, uint64_t id, cl_cb_list_t *out, cl_err_t *err)
{
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_uint(&p, id);
    return s_list(db, "SELECT " CB_COLUMNS " FROM callbacks WHERE id = $1::bigint FOR UPDATE", &p, out, err);
}

int cl_cbstore_list(cl_db_t *db, const Caseloop__V1__ListCallbacks *q, int64_t from_us, int64_t to_us,
                    uint32_t limit, cl_cb_list_t *out, cl_err_t *err)
{
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_bool(&p, q->open_only);
    cl_sql_int(&p, CASELOOP__V1__CALLBACK_STATE__CALLBACK_STATE_SCHEDULED);
    cl_sql_int(&p, CASELOOP__V1__CALLBACK_STATE__CALLBACK_STATE_REACHED);
    cl_sql_uint(&p, limit);
    if (q->has_case_id && q->case_id) {
        cl_sql_uint(&p, q->case_id);
        return s_list(db,
                      "SELECT " CB_COLUMNS " FROM callbacks WHERE case_id = $5::bigint"
                      " AND (NOT $1::bool OR state IN ($2::smallint, $3::smallint)) ORDER BY id LIMIT $4::int",
                      &p, out, err);
    }
    cl_sql_text(&p, q->site);
    cl_sql_text(&p, q->performer && *q->performer ? q->performer : NULL);
    cl_sql_int(&p, from_us);
    cl_sql_int(&p, to_us);
    return s_list(db,
                  "SELECT " CB_COLUMNS " FROM callbacks WHERE site = $5 AND ($6::text IS NULL OR performer = $6)"
                  " AND slot_start >= cl_us_to_ts($7::bigint) AND slot_start < cl_us_to_ts($8::bigint)"
                  " AND (NOT $1::bool OR state IN ($2::smallint, $3::smallint))"
                  " ORDER BY slot_start, id LIMIT $4::int",
                  &p, out, err);
}

int cl_cbstore_update(cl_db_t *db, const Caseloop__V1__Callback *cb, const cl_cb_change_t *ch, cl_err_t *err)
{
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_uint(&p, cb->callback_id);
    cl_sql_int(&p, cb->state);
    cl_sql_text(&p, cb->performer && *cb->performer ? cb->performer : NULL);
    cl_sql_opt_int(&p, cb->has_slot_start_us, cb->slot_start_us);
    cl_sql_opt_int(&p, cb->has_slot_end_us, cb->slot_end_us);
    cl_sql_opt_int(&p, ch->window_us > 0, ch->window_us);
    cl_sql_bool(&p, cb->late);
    cl_sql_uint(&p, cb->attempts);
    cl_sql_bool(&p, cb->overdue);
    cl_sql_bool(&p, ch->slot_missed);
    cl_sql_opt_int(&p, ch->fire_us >= 0, ch->fire_us);
    cl_sql_opt_int(&p, ch->made_mode > 0, ch->made_mode);
    cl_sql_text(&p, ch->made_mode > 0 ? ch->made_by : NULL);
    cl_sql_opt_int(&p, ch->made_mode > 0, ch->made_at_us);
    if (ch->record)
        cl_sql_bytes(&p, ch->record, ch->record_len);
    else
        cl_sql_text(&p, NULL);
    cl_sql_opt_int(&p, ch->record != NULL, ch->recorded_at_us);
    return cl_sql_cmd(db,
                      "UPDATE callbacks SET state = $2::smallint, performer = $3, slot_start = cl_us_to_ts($4::bigint),"
                      " slot_end = cl_us_to_ts($5::bigint), window_start = cl_us_to_ts($6::bigint), late = $7::bool,"
                      " attempts = $8::int, overdue = $9::bool, slot_missed = $10::bool,"
                      " next_fire_at = cl_us_to_ts($11::bigint),"
                      " made_mode = coalesce($12::smallint, made_mode), made_by = coalesce($13, made_by),"
                      " made_at = coalesce(cl_us_to_ts($14::bigint), made_at), record = coalesce($15::bytea, record),"
                      " recorded_at = coalesce(cl_us_to_ts($16::bigint), recorded_at)"
                      " WHERE id = $1::bigint",
                      &p, err);
}

int cl_cbstore_claim(cl_db_t *db, const cl_timer_t *timer, int64_t now_us, int64_t limit, cl_cb_list_t *out,
                     cl_err_t *err)
{
    memset(out, 0, sizeof *out);
    PGresult *res = cl_timer_claim(timer, db, CB_COLUMNS, now_us, limit, err);
    if (!res)
        return -1;
    s_list_from(res, out);
    return 0;
}

int cl_cbstore_next_due(cl_db_t *db, int64_t *due_us, cl_err_t *err)
{
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    PGresult *res = cl_sql_exec(db, "SELECT cl_ts_to_us(min(next_fire_at)) AS due FROM callbacks", &p, err);
    if (!res)
        return -1;
    *due_us = cl_row_null(res, 0, "due") ? INT64_MAX : cl_row_int(res, 0, "due");
    PQclear(res);
    return 0;
}
