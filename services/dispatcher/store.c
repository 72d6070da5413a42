/* store.c - the dispatcher's SQL: dispatches, waiting cases, workloads, transfers and handovers. */
#include "store.h"
#include "cl_buf.h"
#include "cl_codec.h"
#include "cl_sql.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cl_dstore_dispatches(cl_db_t *db, const cl_dispatch_rec_t *ds, size_t n, bool waited, int64_t now_us,
                         cl_err_t *err)
{
    enum { NCOL = 12 };
    cl_buf_t col[NCOL];
    memset(col, 0, sizeof col);
    for (int k = 0; k < NCOL; k++)
        cl_pgarr_begin(&col[k]);
    cl_buf_t notified = {0};
    size_t rows = 0;
    for (size_t i = 0; i < n; i++) {
        const cl_dispatch_rec_t *d = &ds[i];
        if (d->waited != waited)
            continue;
        rows++;
        cl_pgarr_i64(&col[0], (int64_t)d->case_id);
        cl_pgarr_text(&col[1], d->site);
        cl_pgarr_i64(&col[2], d->kind);
        cl_pgarr_bool(&col[3], d->classified);
        cl_pgarr_i64(&col[4], d->severity);
        cl_pgarr_text(&col[5], d->department);
        cl_pgarr_bool(&col[6], d->special);
        cl_pgarr_text(&col[7], d->assignee);
        /* text[] per row travels as a text literal, turned back into an array in SQL */
        cl_pgarr_begin(&notified);
        if (d->notified)
            cl_pgarr_text(&notified, d->notified);
        cl_pgarr_end(&notified);
        cl_pgarr_text(&col[8], notified.data);
        if (d->version > 0)
            cl_pgarr_i64(&col[9], d->version);
        else
            cl_pgarr_text(&col[9], NULL);
        cl_pgarr_i64(&col[10], (int64_t)d->position);
        cl_pgarr_i64(&col[11], now_us);
    }
    const char *p[NCOL];
    for (int k = 0; k < NCOL; k++) {
        cl_pgarr_end(&col[k]);
        p[k] = col[k].data;
    }
    static const char insert[] =
        "INSERT INTO dispatches (case_id, site, kind, classified, severity, department, special,"
        " assignee, notified, policy_version, position, dispatched_at)"
        " SELECT id, site, kind, cls, sev, dept, special, who, told::text[], ver, pos, cl_us_to_ts(t)"
        " FROM unnest($1::bigint[], $2::text[], $3::smallint[], $4::bool[], $5::smallint[],"
        " $6::text[], $7::bool[], $8::text[], $9::text[], $10::int[], $11::bigint[], $12::bigint[])"
        " AS u(id, site, kind, cls, sev, dept, special, who, told, ver, pos, t)";
    static const char update[] =
        "UPDATE dispatches SET kind = u.kind, classified = u.cls, severity = u.sev, department = u.dept,"
        " special = u.special, assignee = u.who, notified = u.told::text[], policy_version = u.ver,"
        " dispatched_at = cl_us_to_ts(u.t)"
        " FROM unnest($1::bigint[], $2::text[], $3::smallint[], $4::bool[], $5::smallint[],"
        " $6::text[], $7::bool[], $8::text[], $9::text[], $10::int[], $11::bigint[], $12::bigint[])"
        " AS u(id, site, kind, cls, sev, dept, special, who, told, ver, pos, t)"
        " WHERE dispatches.case_id = u.id AND dispatches.department = ''";
    int rc = rows ? cl_db_cmd(db, waited ? update : insert, NCOL, p, err) : 0;
    for (int k = 0; k < NCOL; k++)
        cl_buf_free(&col[k]);
    cl_buf_free(&notified);
    return rc;
}

int cl_dstore_waiting(cl_db_t *db, const cl_policies_t *in_force, size_t room, cl_waiting_t *out, cl_err_t *err)
{
    memset(out, 0, sizeof *out);
    cl_buf_t sites = {0};
    cl_pgarr_begin(&sites);
    for (size_t i = 0; i < in_force->n; i++)
        cl_pgarr_text(&sites, in_force->sites[i].code);
    cl_pgarr_end(&sites);
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_text(&p, sites.data);
    cl_sql_uint(&p, room);
    PGresult *res = cl_sql_exec(db,
                                "SELECT c.id, c.site, c.kind, c.severity, c.description, d.position"
                                " FROM dispatches d JOIN cases c ON c.id = d.case_id"
                                " WHERE d.department = '' AND d.site = ANY($1::text[]) ORDER BY d.case_id LIMIT $2::int"
                                " FOR UPDATE OF d",
                                &p, err);
    cl_buf_free(&sites);
    if (!res)
        return -1;
    int rows = PQntuples(res);
    out->rows = res;
    out->cases = calloc((size_t)rows + 1, sizeof *out->cases);
    out->positions = calloc((size_t)rows + 1, sizeof *out->positions);
    if (!out->cases || !out->positions)
        abort();
    for (int r = 0; r < rows; r++) {
        Caseloop__V1__Case *c = &out->cases[r];
        caseloop__v1__case__init(c);
        c->has_case_id = 1, c->case_id = cl_row_uint(res, r, "id");
        c->site = (char *)cl_row_text(res, r, "site");
        c->has_kind = 1, c->kind = (Caseloop__V1__Kind)cl_row_int(res, r, "kind");
        c->has_severity = 1, c->severity = (Caseloop__V1__Severity)cl_row_int(res, r, "severity");
        c->description = (char *)cl_row_text(res, r, "description");
        out->positions[r] = cl_row_uint(res, r, "position");
    }
    out->n = (size_t)rows;
    return 0;
}

void cl_waiting_free(cl_waiting_t *w)
{
    PQclear(w->rows);
    free(w->cases);
    free(w->positions);
    memset(w, 0, sizeof *w);
}

/* R-RT-2: the open cases each person carries, which assignment balances. */
int cl_dstore_open_counts(cl_db_t *db, const cl_site_policy_t *s, uint32_t *open, cl_err_t *err)
{
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_text(&p, s->code);
    cl_sql_int(&p, CASELOOP__V1__CASE_STATE__CASE_STATE_CLOSED);
    PGresult *res = cl_sql_exec(db,
                                "SELECT d.assignee, count(*) AS open FROM dispatches d JOIN cases c ON c.id = d.case_id"
                                " WHERE d.site = $1 AND d.assignee IS NOT NULL AND c.state <> $2::smallint"
                                " GROUP BY d.assignee",
                                &p, err);
    if (!res)
        return -1;
    memset(open, 0, sizeof *open * s->nstaff);
    for (int r = 0; r < PQntuples(res); r++)
        for (size_t i = 0; i < s->nstaff; i++)
            if (strcmp(s->staff[i].id, cl_row_text(res, r, "assignee")) == 0)
                open[i] = (uint32_t)cl_row_uint(res, r, "open");
    PQclear(res);
    return 0;
}

/* Whether a stored CaseUpdated (bytes of its envelope) moved its case to or
   from CLOSED; an unreadable one may have. */
static bool s_closes_or_reopens(const char *envelope, size_t len)
{
    cl_err_t derr;
    cl_env_t *ev = cl_codec_decode(envelope, len, SIZE_MAX, &derr);
    bool changed = true;
    if (ev && ev->body_case == CASELOOP__V1__ENVELOPE__BODY_CASE_UPDATED && ev->case_updated) {
        const Caseloop__V1__CaseUpdated *u = ev->case_updated;
        changed = (u->has_state_before && u->state_before == CASELOOP__V1__CASE_STATE__CASE_STATE_CLOSED) ||
                  (u->has_state_after && u->state_after == CASELOOP__V1__CASE_STATE__CASE_STATE_CLOSED);
    }
    cl_codec_free(ev);
    return changed;
}

int cl_dstore_workload_changes(cl_db_t *db, uint64_t from, uint64_t upto, const cl_span_t *own, size_t nown,
                               void (*changed)(void *arg, const char *site), void *arg, cl_err_t *err)
{
    cl_buf_t types = {0}, lo = {0}, hi = {0};
    cl_pgarr_begin(&types);
    cl_pgarr_text(&types, "CaseAssigned");
    cl_pgarr_text(&types, "CaseTransferred");
    cl_pgarr_text(&types, "CaseUpdated");
    cl_pgarr_end(&types);
    cl_pgarr_begin(&lo);
    cl_pgarr_begin(&hi);
    for (size_t i = 0; i < nown; i++) {
        cl_pgarr_i64(&lo, (int64_t)own[i].lo);
        cl_pgarr_i64(&hi, (int64_t)own[i].hi);
    }
    cl_pgarr_end(&lo);
    cl_pgarr_end(&hi);
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_uint(&p, from);
    cl_sql_uint(&p, upto);
    cl_sql_text(&p, types.data);
    cl_sql_text(&p, lo.data);
    cl_sql_text(&p, hi.data);
    cl_sql_text(&p, "CaseUpdated");
    /* Binary: the envelope as stored (only a CaseUpdated's is needed). */
    PGresult *res = cl_sql_exec_binary(db,
                                       "SELECT e.site, CASE WHEN e.type = $6 THEN e.envelope END AS envelope FROM events e"
                                       " WHERE e.position > $1::bigint AND e.position <= $2::bigint"
                                       " AND e.type = ANY ($3::text[])"
                                       " AND NOT EXISTS (SELECT 1 FROM unnest($4::bigint[], $5::bigint[]) AS o(lo, hi)"
                                       " WHERE e.position BETWEEN o.lo AND o.hi)",
                                       &p, err);
    cl_buf_free(&types);
    cl_buf_free(&lo);
    cl_buf_free(&hi);
    if (!res)
        return -1;
    for (int r = 0; r < PQntuples(res); r++)
        if (cl_row_null(res, r, "envelope") ||
            s_closes_or_reopens(cl_row_text(res, r, "envelope"), (size_t)cl_row_length(res, r, "envelope")))
            changed(arg, cl_row_text(res, r, "site"));
    PQclear(res);
    return 0;
}

int cl_dstore_lock_dispatch(cl_db_t *db, uint64_t case_id, cl_dispatch_row_t *out, cl_err_t *err)
{
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_uint(&p, case_id);
    PGresult *res = cl_sql_exec(db,
                                "SELECT d.site, d.department, coalesce(d.assignee, '') AS assignee, c.state,"
                                " coalesce(d.kind, c.kind) AS kind"
                                " FROM cases c LEFT JOIN dispatches d ON d.case_id = c.id"
                                " WHERE c.id = $1::bigint FOR NO KEY UPDATE OF c",
                                &p, err);
    if (!res)
        return -1;
    int rc = 0;
    if (PQntuples(res) == 0) {
        rc = cl_err_set(err, CL_NOT_FOUND, "case_id", "case %" PRIu64 " does not exist", case_id);
    } else if (cl_row_null(res, 0, "site")) {
        rc = cl_err_set(err, CL_CONFLICT, "case_id", "case %" PRIu64 " has not been dispatched yet", case_id);
    } else {
        snprintf(out->site, sizeof out->site, "%s", cl_row_text(res, 0, "site"));
        snprintf(out->department, sizeof out->department, "%s", cl_row_text(res, 0, "department"));
        snprintf(out->assignee, sizeof out->assignee, "%s", cl_row_text(res, 0, "assignee"));
        out->state = (int)cl_row_int(res, 0, "state");
        out->kind = (int)cl_row_int(res, 0, "kind");
    }
    PQclear(res);
    return rc;
}

int cl_dstore_move(cl_db_t *db, uint64_t case_id, const char *dept, const char *who, int version, cl_err_t *err)
{
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_uint(&p, case_id);
    cl_sql_text(&p, dept);
    cl_sql_text(&p, who);
    cl_sql_int(&p, version);
    return cl_sql_cmd(db,
                      "UPDATE dispatches SET department = $2, assignee = $3, policy_version = $4::int"
                      " WHERE case_id = $1::bigint",
                      &p, err);
}

/* Fills h's case list from the rows (case_id, state) of res. */
static void s_handover_cases(Caseloop__V1__Handover *h, PGresult *res)
{
    int rows = PQntuples(res);
    h->case_ids = calloc((size_t)rows + 1, sizeof *h->case_ids);
    h->states = calloc((size_t)rows + 1, sizeof *h->states);
    if (!h->case_ids || !h->states)
        abort();
    for (int r = 0; r < rows; r++) {
        h->case_ids[r] = cl_row_uint(res, r, "case_id");
        h->states[r] = (Caseloop__V1__CaseState)cl_row_int(res, r, "state");
    }
    h->n_case_ids = h->n_states = (size_t)rows;
}

int cl_dstore_hand_over(cl_db_t *db, const Caseloop__V1__HandOver *q, int64_t now_us, Caseloop__V1__Handover *h,
                        cl_err_t *err)
{
    cl_sql_params_t p1;
    cl_sql_params_init(&p1);
    cl_sql_text(&p1, q->site);
    cl_sql_text(&p1, q->outgoing);
    cl_sql_text(&p1, q->incoming);
    cl_sql_text(&p1, q->note ? q->note : "");
    cl_sql_int(&p1, now_us);
    const char *site_key[] = {q->site};
    /* One handover of a site at a time: a second one waits, then sees the tracking the first left. */
    if (cl_db_begin(db, err) < 0 ||
        cl_db_cmd(db, "SELECT pg_advisory_xact_lock(hashtext('handover:' || $1))", 1, site_key, err) < 0)
        goto err;
    PGresult *res = cl_sql_exec(db,
                                "INSERT INTO handovers (site, outgoing, incoming, note, at, position)"
                                " VALUES ($1, $2, $3, $4, cl_us_to_ts($5::bigint), 0) RETURNING id",
                                &p1, err);
    if (!res)
        goto err;
    h->has_handover_id = 1, h->handover_id = cl_row_uint(res, 0, "id");
    h->has_at_us = 1, h->at_us = now_us;
    PQclear(res);
    /* Every open case the outgoing person tracks, locked so that none slips by. */
    cl_sql_params_t p2;
    cl_sql_params_init(&p2);
    cl_sql_uint(&p2, h->handover_id);
    cl_sql_text(&p2, q->site);
    cl_sql_text(&p2, q->outgoing);
    cl_sql_int(&p2, CASELOOP__V1__CASE_STATE__CASE_STATE_CLOSED);
    res = cl_sql_exec(db,
                      "INSERT INTO handover_cases (handover_id, case_id, state)"
                      " SELECT $1::bigint, c.id, c.state FROM cases c LEFT JOIN case_tracking t ON t.case_id = c.id"
                      " WHERE c.site = $2 AND c.state <> $4::smallint AND coalesce(t.tracker, c.first_receiver) = $3"
                      " ORDER BY c.id FOR NO KEY UPDATE OF c"
                      " RETURNING case_id, state",
                      &p2, err);
    if (!res)
        goto err;
    s_handover_cases(h, res);
    PQclear(res);
    cl_sql_params_t p3;
    cl_sql_params_init(&p3);
    cl_sql_uint(&p3, h->handover_id);
    cl_sql_text(&p3, q->incoming);
    cl_sql_int(&p3, now_us);
    if (cl_sql_cmd(db,
                   "INSERT INTO case_tracking (case_id, tracker, since)"
                   " SELECT case_id, $2, cl_us_to_ts($3::bigint) FROM handover_cases WHERE handover_id = $1::bigint"
                   " ON CONFLICT (case_id) DO UPDATE SET tracker = excluded.tracker, since = excluded.since",
                   &p3, err) < 0)
        goto err;
    return 0;
err:
    cl_db_rollback(db);
    return -1;
}

int cl_dstore_handover_at(cl_db_t *db, uint64_t id, uint64_t position, cl_err_t *err)
{
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_uint(&p, id);
    cl_sql_uint(&p, position);
    return cl_sql_cmd(db, "UPDATE handovers SET position = $2::bigint WHERE id = $1::bigint", &p, err);
}

/* Reads a list "1,2,3" of n numbers into a new array of n (+1). */
static uint64_t *s_numbers(const char *list, size_t n)
{
    uint64_t *v = calloc(n + 1, sizeof *v);
    if (!v)
        abort();
    char *end;
    for (size_t i = 0; i < n; i++) {
        v[i] = strtoull(list, &end, 10);
        list = *end ? end + 1 : end;
    }
    return v;
}

int cl_dstore_list_handovers(cl_db_t *db, const char *site, const char *incoming, uint32_t limit,
                             Caseloop__V1__ListHandoversReply *out, cl_err_t *err)
{
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_text(&p, site);
    cl_sql_text(&p, incoming);
    cl_sql_uint(&p, limit);
    PGresult *res = cl_sql_exec(db,
                                "SELECT h.id, h.site, h.outgoing, h.incoming, cl_ts_to_us(h.at) AS at_us, h.note,"
                                " count(hc.case_id) AS n,"
                                " coalesce(string_agg(hc.case_id::text, ',' ORDER BY hc.case_id), '') AS case_ids,"
                                " coalesce(string_agg(hc.state::text, ',' ORDER BY hc.case_id), '') AS states"
                                " FROM handovers h LEFT JOIN handover_cases hc ON hc.handover_id = h.id"
                                " WHERE h.site = $1 AND ($2::text IS NULL OR h.incoming = $2)"
                                " GROUP BY h.id ORDER BY h.id DESC LIMIT $3::int",
                                &p, err);
    if (!res)
        return -1;
    int rows = PQntuples(res);
    out->handovers = calloc((size_t)rows + 1, sizeof *out->handovers);
    if (!out->handovers)
        abort();
    for (int r = 0; r < rows; r++) {
        Caseloop__V1__Handover *h = malloc(sizeof *h);
        if (!h)
            abort();
        caseloop__v1__handover__init(h);
        h->has_handover_id = 1, h->handover_id = cl_row_uint(res, r, "id");
        h->site = cl_row_strdup(res, r, "site");
        h->outgoing = cl_row_strdup(res, r, "outgoing");
        h->incoming = cl_row_strdup(res, r, "incoming");
        h->has_at_us = 1, h->at_us = cl_row_int(res, r, "at_us");
        h->note = cl_row_strdup(res, r, "note");
        size_t n = (size_t)cl_row_uint(res, r, "n");
        h->case_ids = s_numbers(cl_row_text(res, r, "case_ids"), n);
        uint64_t *states = s_numbers(cl_row_text(res, r, "states"), n);
        h->states = calloc(n + 1, sizeof *h->states);
        if (!h->states)
            abort();
        for (size_t i = 0; i < n; i++)
            h->states[i] = (Caseloop__V1__CaseState)states[i];
        free(states);
        h->n_case_ids = h->n_states = n;
        out->handovers[r] = h;
        out->n_handovers = (size_t)r + 1;
    }
    PQclear(res);
    return 0;
}

void cl_dstore_handovers_free(Caseloop__V1__ListHandoversReply *out)
{
    for (size_t i = 0; i < out->n_handovers; i++) {
        Caseloop__V1__Handover *h = out->handovers[i];
        free(h->site);
        free(h->outgoing);
        free(h->incoming);
        free(h->note);
        free(h->case_ids);
        free(h->states);
        free(h);
    }
    free(out->handovers);
    out->handovers = NULL;
    out->n_handovers = 0;
}
