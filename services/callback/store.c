/* store.c - the callback-scheduler's SQL: the sampling key, draws and tallies, callback tasks and their timers. */
#include "store.h"
#include "cl_buf.h"
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

/* Arrays of n values as $k parameters: cols[k] built by the caller, ended here. */
static void s_params_of(cl_sql_params_t *p, cl_buf_t *cols, int ncols)
{
    cl_sql_params_init(p);
    for (int k = 0; k < ncols; k++) {
        cl_pgarr_end(&cols[k]);
        cl_sql_text(p, cols[k].data);
    }
}

static void s_cols_free(cl_buf_t *cols, int ncols)
{
    for (int k = 0; k < ncols; k++)
        cl_buf_free(&cols[k]);
}

static void s_cols_begin(cl_buf_t *cols, int ncols)
{
    for (int k = 0; k < ncols; k++) {
        cols[k] = (cl_buf_t){0};
        cl_pgarr_begin(&cols[k]);
    }
}

int cl_cbstore_closed_cases(cl_db_t *db, const uint64_t *case_ids, const uint64_t *positions, size_t n,
                            cl_closed_case_t *out, cl_err_t *err)
{
    for (size_t i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        out[i].case_id = case_ids[i];
    }
    if (n == 0)
        return 0;
    cl_buf_t col[2];
    s_cols_begin(col, 2);
    for (size_t i = 0; i < n; i++) {
        cl_pgarr_i64(&col[0], (int64_t)case_ids[i]);
        cl_pgarr_i64(&col[1], (int64_t)positions[i]);
    }
    cl_sql_params_t p;
    s_params_of(&p, col, 2);
    PGresult *res = cl_sql_exec(db,
                                "SELECT u.i, c.site, coalesce(d.kind, c.kind) AS kind,"
                                " greatest(c.severity, coalesce(d.severity, 0)) AS severity, c.anonymous,"
                                " c.reply_letter_only, c.preferences, coalesce(dr.sampled::int, -1) AS drawn,"
                                " (SELECT count(*) FROM callbacks b WHERE b.case_id = c.id) AS prior,"
                                " EXISTS (SELECT 1 FROM callbacks b WHERE b.closed_position = u.pos) AS done"
                                " FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY AS u(id, pos, i)"
                                " JOIN cases c ON c.id = u.id LEFT JOIN dispatches d ON d.case_id = c.id"
                                " LEFT JOIN callback_draws dr ON dr.case_id = c.id",
                                &p, err);
    s_cols_free(col, 2);
    if (!res)
        return -1;
    for (int r = 0; r < PQntuples(res); r++) {
        int64_t i = cl_row_int(res, r, "i") - 1;
        if (i < 0 || (size_t)i >= n)
            continue;
        cl_closed_case_t *c = &out[i];
        c->found = true;
        snprintf(c->site, sizeof c->site, "%s", cl_row_text(res, r, "site"));
        c->kind = (int)cl_row_int(res, r, "kind");
        c->severity = (int)cl_row_int(res, r, "severity");
        c->anonymous = cl_row_bool(res, r, "anonymous");
        c->reply_letter_only = cl_row_bool(res, r, "reply_letter_only");
        c->prefs = s_prefs(res, r, "preferences");
        c->drawn = (int)cl_row_int(res, r, "drawn");
        c->prior = (uint32_t)cl_row_uint(res, r, "prior");
        c->done = cl_row_bool(res, r, "done");
    }
    PQclear(res);
    return 0;
}

void cl_closed_case_free(cl_closed_case_t *c)
{
    if (c->prefs)
        caseloop__v1__customer_preferences__free_unpacked(c->prefs, NULL);
    c->prefs = NULL;
}

static int s_tally_cmp(const void *a, const void *b)
{
    const cl_cb_tally_key_t *x = a, *y = b;
    int c = strcmp(x->site, y->site);
    if (c == 0)
        c = (x->kind > y->kind) - (x->kind < y->kind);
    return c ? c : strcmp(x->month, y->month);
}

int cl_cbstore_tallies(cl_db_t *db, cl_cb_tally_key_t *keys, size_t n, cl_err_t *err)
{
    if (n == 0)
        return 0;
    /* Locked in one order by every instance: two never wait on each other in a circle. */
    qsort(keys, n, sizeof *keys, s_tally_cmp);
    cl_buf_t col[3];
    s_cols_begin(col, 3);
    for (size_t i = 0; i < n; i++) {
        keys[i].t = (cl_cb_tally_t){0, 0};
        cl_pgarr_text(&col[0], keys[i].site);
        cl_pgarr_i64(&col[1], keys[i].kind);
        cl_pgarr_text(&col[2], keys[i].month);
    }
    cl_sql_params_t p;
    s_params_of(&p, col, 3);
    PGresult *res = cl_sql_exec(db,
                                "INSERT INTO callback_tallies (site, kind, month)"
                                " SELECT s, k, m FROM unnest($1::text[], $2::smallint[], $3::date[])"
                                " WITH ORDINALITY AS u(s, k, m, i) ORDER BY i"
                                " ON CONFLICT (site, kind, month) DO UPDATE SET counted = callback_tallies.counted"
                                " RETURNING site, kind, to_char(month, 'YYYY-MM-DD') AS month, counted, called",
                                &p, err);
    s_cols_free(col, 3);
    if (!res)
        return -1;
    for (int r = 0; r < PQntuples(res); r++) {
        cl_cb_tally_key_t k = {0};
        snprintf(k.site, sizeof k.site, "%s", cl_row_text(res, r, "site"));
        k.kind = (int)cl_row_int(res, r, "kind");
        snprintf(k.month, sizeof k.month, "%s", cl_row_text(res, r, "month"));
        cl_cb_tally_key_t *at = bsearch(&k, keys, n, sizeof *keys, s_tally_cmp);
        if (at)
            at->t = (cl_cb_tally_t){(uint32_t)cl_row_uint(res, r, "counted"), (uint32_t)cl_row_uint(res, r, "called")};
    }
    PQclear(res);
    return 0;
}

int cl_cbstore_tallies_put(cl_db_t *db, const cl_cb_tally_key_t *keys, size_t n, cl_err_t *err)
{
    if (n == 0)
        return 0;
    cl_buf_t col[5];
    s_cols_begin(col, 5);
    for (size_t i = 0; i < n; i++) {
        cl_pgarr_text(&col[0], keys[i].site);
        cl_pgarr_i64(&col[1], keys[i].kind);
        cl_pgarr_text(&col[2], keys[i].month);
        cl_pgarr_i64(&col[3], keys[i].t.counted);
        cl_pgarr_i64(&col[4], keys[i].t.called);
    }
    cl_sql_params_t p;
    s_params_of(&p, col, 5);
    int rc = cl_sql_cmd(db,
                        "UPDATE callback_tallies t SET counted = u.c, called = u.d"
                        " FROM unnest($1::text[], $2::smallint[], $3::date[], $4::int[], $5::int[]) AS u(s, k, m, c, d)"
                        " WHERE t.site = u.s AND t.kind = u.k AND t.month = u.m",
                        &p, err);
    s_cols_free(col, 5);
    return rc;
}

int cl_cbstore_draws(cl_db_t *db, const cl_cb_draw_t *draws, size_t n, cl_err_t *err)
{
    if (n == 0)
        return 0;
    cl_buf_t col[5];
    s_cols_begin(col, 5);
    for (size_t i = 0; i < n; i++) {
        cl_pgarr_i64(&col[0], (int64_t)draws[i].case_id);
        cl_pgarr_text(&col[1], draws[i].site);
        cl_pgarr_i64(&col[2], draws[i].kind);
        cl_pgarr_text(&col[3], draws[i].month);
        cl_pgarr_bool(&col[4], draws[i].sampled);
    }
    cl_sql_params_t p;
    s_params_of(&p, col, 5);
    int rc = cl_sql_cmd(db,
                        "INSERT INTO callback_draws (case_id, site, kind, month, sampled)"
                        " SELECT * FROM unnest($1::bigint[], $2::text[], $3::smallint[], $4::date[], $5::bool[])",
                        &p, err);
    s_cols_free(col, 5);
    return rc;
}

int cl_cbstore_loads(cl_db_t *db, const cl_site_policy_t *s, int64_t since_us, uint32_t *open,
                     void (*each)(void *arg, int staff, int64_t window_us, uint32_t n), void *arg, cl_err_t *err)
{
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_text(&p, s->code);
    cl_sql_int(&p, since_us);
    /* callback_loads: counted by triggers on callbacks (migration 016). */
    PGresult *res = cl_sql_exec(db,
                                "SELECT performer, CASE WHEN window_start = '-infinity' THEN 0"
                                " ELSE cl_ts_to_us(window_start) END AS window_us, open,"
                                " CASE WHEN window_start >= cl_us_to_ts($2::bigint) THEN placed ELSE 0 END AS in_window"
                                " FROM callback_loads WHERE site = $1"
                                " AND (open > 0 OR window_start >= cl_us_to_ts($2::bigint))",
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

/* An optional number into an array: NULL when not has. */
static void s_opt(cl_buf_t *col, bool has, int64_t v)
{
    if (has)
        cl_pgarr_i64(col, v);
    else
        cl_pgarr_text(col, NULL);
}

int cl_cbstore_insert(cl_db_t *db, cl_cb_new_t *rows, size_t n, cl_err_t *err)
{
    if (n == 0)
        return 0;
    enum { NCOL = 16 };
    cl_buf_t col[NCOL];
    s_cols_begin(col, NCOL);
    for (size_t i = 0; i < n; i++) {
        const Caseloop__V1__Callback *cb = rows[i].cb;
        cl_pgarr_i64(&col[0], (int64_t)cb->case_id);
        cl_pgarr_text(&col[1], cb->site);
        cl_pgarr_i64(&col[2], cb->number);
        cl_pgarr_i64(&col[3], (int64_t)rows[i].closed_position);
        cl_pgarr_i64(&col[4], cb->kind);
        cl_pgarr_i64(&col[5], cb->severity);
        cl_pgarr_i64(&col[6], cb->state);
        cl_pgarr_text(&col[7], cb->performer && *cb->performer ? cb->performer : NULL);
        s_opt(&col[8], cb->has_slot_start_us, cb->slot_start_us);
        s_opt(&col[9], cb->has_slot_end_us, cb->slot_end_us);
        s_opt(&col[10], rows[i].window_us > 0, rows[i].window_us);
        cl_pgarr_i64(&col[11], cb->deadline_us);
        cl_pgarr_bool(&col[12], cb->late);
        cl_pgarr_i64(&col[13], s_mode_bits(cb));
        cl_pgarr_i64(&col[14], cb->closed_at_us);
        s_opt(&col[15], rows[i].fire_us >= 0, rows[i].fire_us);
    }
    cl_sql_params_t p;
    s_params_of(&p, col, NCOL);
    PGresult *res = cl_sql_exec(db,
                                "INSERT INTO callbacks (case_id, site, number, closed_position, kind, severity, state,"
                                " performer, slot_start, slot_end, window_start, deadline, late, modes, closed_at,"
                                " next_fire_at)"
                                " SELECT id, site, num, pos, kind, sev, st, who, cl_us_to_ts(s0), cl_us_to_ts(s1),"
                                " cl_us_to_ts(w), cl_us_to_ts(dl), late, modes, cl_us_to_ts(closed), cl_us_to_ts(fire)"
                                " FROM unnest($1::bigint[], $2::text[], $3::int[], $4::bigint[], $5::smallint[],"
                                " $6::smallint[], $7::smallint[], $8::text[], $9::bigint[], $10::bigint[], $11::bigint[],"
                                " $12::bigint[], $13::bool[], $14::smallint[], $15::bigint[], $16::bigint[])"
                                " AS u(id, site, num, pos, kind, sev, st, who, s0, s1, w, dl, late, modes, closed, fire)"
                                " RETURNING id, closed_position",
                                &p, err);
    s_cols_free(col, NCOL);
    if (!res)
        return -1;
    for (int r = 0; r < PQntuples(res); r++) {
        uint64_t pos = cl_row_uint(res, r, "closed_position");
        for (size_t i = 0; i < n; i++)
            if (rows[i].closed_position == pos) {
                rows[i].cb->has_callback_id = 1, rows[i].cb->callback_id = cl_row_uint(res, r, "id");
                break;
            }
    }
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
    " (SELECT c.preferences FROM cases c WHERE c.id = callbacks.case_id) AS preferences,"                          \
    " callbacks.reviewed_by, cl_ts_to_us(callbacks.reviewed_at) AS reviewed_at_us, callbacks.review_opinion"

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
    if (!cl_row_null(res, r, "reviewed_by")) {
        cb->reviewed_by = (char *)cl_row_text(res, r, "reviewed_by");
        cb->has_reviewed_at_us = 1, cb->reviewed_at_us = cl_row_int(res, r, "reviewed_at_us");
        cb->review_opinion = (char *)cl_row_text(res, r, "review_opinion");
    }
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
    if (q->unended)
        return s_list(db,
                      "SELECT " CB_COLUMNS " FROM callbacks WHERE site = $5 AND state IN ($2::smallint, $3::smallint)"
                      " AND $1::bool IS NOT NULL ORDER BY closed_at, id LIMIT $4::int",
                      &p, out, err);
    if (q->awaiting_review)
        return s_list(db,
                      "SELECT " CB_COLUMNS " FROM callbacks WHERE site = $5 AND recorded_at IS NOT NULL"
                      " AND reviewed_at IS NULL AND $1::bool IS NOT NULL AND $2::smallint IS NOT NULL"
                      " AND $3::smallint IS NOT NULL ORDER BY recorded_at, id LIMIT $4::int",
                      &p, out, err);
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

/* --- the outbox ------------------------------------------------------------------------------------ */

int cl_cbstore_outbox_put(cl_db_t *db, uint64_t callback_id, const cl_buf_t *requests, size_t n, int64_t now_us,
                          cl_err_t *err)
{
    if (n == 0)
        return 0;
    cl_buf_t col = {0};
    cl_pgarr_begin(&col);
    for (size_t i = 0; i < n; i++)
        cl_pgarr_bytea(&col, requests[i].data, requests[i].len);
    cl_pgarr_end(&col);
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_uint(&p, callback_id);
    cl_sql_text(&p, col.data);
    cl_sql_int(&p, now_us);
    int rc = cl_sql_cmd(db,
                        "INSERT INTO callback_outbox (callback_id, request, created_at)"
                        " SELECT $1::bigint, r, cl_us_to_ts($3::bigint) FROM unnest($2::bytea[]) WITH ORDINALITY AS u(r, i)"
                        " ORDER BY i",
                        &p, err);
    cl_buf_free(&col);
    return rc;
}

int cl_cbstore_outbox_next(cl_db_t *db, uint64_t after, uint32_t limit, cl_outbox_t *out, cl_err_t *err)
{
    memset(out, 0, sizeof *out);
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_uint(&p, after);
    cl_sql_uint(&p, limit);
    PGresult *res = cl_sql_exec_binary(db,
                                       "SELECT id, request FROM callback_outbox WHERE sent_at IS NULL AND id > $1::bigint"
                                       " ORDER BY id LIMIT $2::int",
                                       &p, err);
    if (!res)
        return -1;
    out->rows = res;
    out->n = (size_t)PQntuples(res);
    return 0;
}

uint64_t cl_outbox_id(const cl_outbox_t *o, size_t i)
{
    return cl_row_u64_binary(o->rows, (int)i, "id");
}

const void *cl_outbox_request(const cl_outbox_t *o, size_t i, size_t *len)
{
    *len = (size_t)cl_row_length(o->rows, (int)i, "request");
    return cl_row_text(o->rows, (int)i, "request");
}

void cl_outbox_free(cl_outbox_t *o)
{
    PQclear(o->rows);
    memset(o, 0, sizeof *o);
}

int cl_cbstore_outbox_sent(cl_db_t *db, uint64_t id, const char *outcome, int64_t now_us, cl_err_t *err)
{
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_uint(&p, id);
    cl_sql_text(&p, outcome);
    cl_sql_int(&p, now_us);
    return cl_sql_cmd(db, "UPDATE callback_outbox SET sent_at = cl_us_to_ts($3::bigint), outcome = $2 WHERE id = $1::bigint",
                      &p, err);
}

int cl_cbstore_review(cl_db_t *db, uint64_t id, const char *by, const char *opinion, int64_t now_us, cl_err_t *err)
{
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_uint(&p, id);
    cl_sql_text(&p, by);
    cl_sql_text(&p, opinion);
    cl_sql_int(&p, now_us);
    return cl_sql_cmd(db,
                      "UPDATE callbacks SET reviewed_by = $2, review_opinion = $3, reviewed_at = cl_us_to_ts($4::bigint)"
                      " WHERE id = $1::bigint",
                      &p, err);
}

/* --- letters ------------------------------------------------------------------------------------- */

int cl_cbstore_letter_cases(cl_db_t *db, const uint64_t *ids, size_t n, cl_letter_case_t *out, cl_err_t *err)
{
    memset(out, 0, n * sizeof *out);
    cl_buf_t col = {0};
    cl_pgarr_begin(&col);
    for (size_t i = 0; i < n; i++)
        cl_pgarr_i64(&col, (int64_t)ids[i]);
    cl_pgarr_end(&col);
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_text(&p, col.data);
    PGresult *res = cl_sql_exec(db,
                                "SELECT u.i, c.site, coalesce(d.kind, c.kind) AS kind, c.anonymous, c.reply_letter_only"
                                " FROM unnest($1::bigint[]) WITH ORDINALITY AS u(id, i) JOIN cases c ON c.id = u.id"
                                " LEFT JOIN dispatches d ON d.case_id = c.id",
                                &p, err);
    cl_buf_free(&col);
    if (!res)
        return -1;
    for (int r = 0; r < PQntuples(res); r++) {
        int64_t i = cl_row_int(res, r, "i") - 1;
        if (i < 0 || (size_t)i >= n)
            continue;
        cl_letter_case_t *c = &out[i];
        c->found = true;
        snprintf(c->site, sizeof c->site, "%s", cl_row_text(res, r, "site"));
        c->kind = (int)cl_row_int(res, r, "kind");
        c->anonymous = cl_row_bool(res, r, "anonymous");
        c->reply_letter_only = cl_row_bool(res, r, "reply_letter_only");
    }
    PQclear(res);
    return 0;
}

int cl_cbstore_letter(cl_db_t *db, const cl_letter_t *l, const uint64_t *case_ids, size_t n, int64_t now_us,
                      uint64_t *letter_id, uint64_t *ended, cl_err_t *err)
{
    cl_buf_t col = {0};
    cl_pgarr_begin(&col);
    for (size_t i = 0; i < n; i++)
        cl_pgarr_i64(&col, (int64_t)case_ids[i]);
    cl_pgarr_end(&col);
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_text(&p, l->site);
    cl_sql_bool(&p, l->open);
    cl_sql_text(&p, l->by);
    cl_sql_text(&p, l->text && *l->text ? l->text : NULL);
    cl_sql_text(&p, l->document_ref && *l->document_ref ? l->document_ref : NULL);
    cl_sql_int(&p, now_us);
    cl_sql_text(&p, col.data);
    cl_sql_int(&p, CASELOOP__V1__CALLBACK_STATE__CALLBACK_STATE_SCHEDULED);
    cl_sql_int(&p, CASELOOP__V1__CALLBACK_STATE__CALLBACK_STATE_ANSWERED_BY_LETTER);
    /* The letter, kept with each case; an open letter ends each case's scheduled callbacks. */
    PGresult *res = cl_sql_exec(db,
                                "WITH l AS (INSERT INTO letters (site, open, sent_by, body, document_ref, sent_at)"
                                " VALUES ($1, $2::bool, $3, $4, $5, cl_us_to_ts($6::bigint)) RETURNING id),"
                                " k AS (INSERT INTO letter_cases (letter_id, case_id)"
                                " SELECT l.id, c FROM l, unnest($7::bigint[]) AS c),"
                                " e AS (UPDATE callbacks b SET state = $9::smallint, letter_id = l.id, next_fire_at = NULL"
                                " FROM l WHERE $2::bool AND b.case_id = ANY($7::bigint[]) AND b.state = $8::smallint"
                                " RETURNING b.id, b.case_id)"
                                " SELECT l.id AS letter_id, e.id AS callback_id, e.case_id FROM l LEFT JOIN e ON true",
                                &p, err);
    cl_buf_free(&col);
    if (!res)
        return -1;
    memset(ended, 0, n * sizeof *ended);
    for (int r = 0; r < PQntuples(res); r++) {
        *letter_id = cl_row_uint(res, r, "letter_id");
        if (cl_row_null(res, r, "callback_id"))
            continue;
        uint64_t case_id = cl_row_uint(res, r, "case_id");
        for (size_t i = 0; i < n; i++)
            if (case_ids[i] == case_id)
                ended[i] = cl_row_uint(res, r, "callback_id");
    }
    PQclear(res);
    return 0;
}
