/* store.c - intake's SQL: a batch of submissions in one transaction with its events; case lookup. */
#include "intake.h"
#include "cl_sql.h"
#include "cases.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S(x) ((x) ? (x) : "")

/* Existing idempotency keys, each looked up through the primary key of
   idempotency_keys (010), which holds every key stored: a case's or a
   report's. */
static const char SQL_KEYS[] =
    "SELECT u.i, k.case_id, coalesce(k.report_id, 0) AS report_id, cl_ts_to_us(c.respond_by) AS respond_by_us,"
    " c.report_count"
    " FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(src, xid, i)"
    " JOIN idempotency_keys k ON k.external_source = u.src AND k.external_id = u.xid"
    " JOIN cases c ON c.id = k.case_id";

/* Open cases that may be the same problem (cl_dedupe_pick decides): per
   submission, the latest few with its contact, and with its location, each
   found through its partial index. */
static const char SQL_CANDIDATES[] =
    "SELECT u.i, c.id, c.customer_contact, c.location, c.description, cl_ts_to_us(c.received_at) AS received_at_us"
    " FROM unnest($1::int[], $2::text[], $3::smallint[], $4::text[], $5::text[], $6::bigint[])"
    " AS u(i, site, kind, contact, loc, since)"
    " CROSS JOIN LATERAL ("
    "  (SELECT * FROM cases c WHERE c.site = u.site AND c.kind = u.kind AND c.customer_contact = u.contact"
    "   AND c.customer_contact <> '' AND c.received_at >= cl_us_to_ts(u.since) AND c.state <> $7::smallint"
    "   ORDER BY c.received_at DESC LIMIT 20)"
    "  UNION"
    "  (SELECT * FROM cases c WHERE c.site = u.site AND c.kind = u.kind AND c.location = u.loc"
    "   AND c.location <> '' AND c.received_at >= cl_us_to_ts(u.since) AND c.state <> $7::smallint"
    "   ORDER BY c.received_at DESC LIMIT 20)"
    " ) AS c"
    " ORDER BY 1, 2";

static const char SQL_IDS[] =
    "SELECT 0 AS of_reports, nextval('cases_id_seq') AS id FROM generate_series(1, $1::int)"
    " UNION ALL SELECT 1, nextval('case_reports_id_seq') FROM generate_series(1, $2::int)"
    " ORDER BY 1, 2";

/* The batch's new keys, in one order for every writer (so that two batches
   holding keys of each other wait in a line, not in a circle). A key another
   transaction stored first is a unique violation (cl_db_retryable); one it is
   still storing makes this wait for its end. */
static const char SQL_INSERT_KEYS[] =
    "INSERT INTO idempotency_keys (external_source, external_id, case_id, report_id)"
    " SELECT src, xid, case_id, nullif(report_id, 0)"
    " FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) AS u(src, xid, case_id, report_id)"
    " ORDER BY src, xid";

static const char SQL_INSERT_CASES[] =
    "INSERT INTO cases (id, site, channel, kind, severity, customer_name, customer_contact, location,"
    " description, occurred_at, anonymous, reply_letter_only, first_receiver, external_source, external_id,"
    " report_count, raised_in_callback_of, preferences, state, received_at, respond_by)"
    " SELECT id, site, channel, kind, severity, name, contact, loc, descr, cl_us_to_ts(occ), anon, letter, recv,"
    " src, xid, cnt, cb, pref, $20::smallint, cl_us_to_ts($21::bigint), cl_us_to_ts(by)"
    " FROM unnest($1::bigint[], $2::text[], $3::smallint[], $4::smallint[], $5::smallint[], $6::text[],"
    " $7::text[], $8::text[], $9::text[], $10::bigint[], $11::bool[], $12::bool[], $13::text[], $14::text[],"
    " $15::text[], $16::int[], $17::bigint[], $18::bigint[], $19::bytea[])"
    " AS u(id, site, channel, kind, severity, name, contact, loc, descr, occ, anon, letter, recv, src, xid, cnt, cb, by,"
    " pref)";

static const char SQL_INSERT_REPORTS[] =
    "INSERT INTO case_reports (id, case_id, channel, customer_name, customer_contact, location, description,"
    " occurred_at, first_receiver, external_source, external_id, received_at)"
    " SELECT id, case_id, channel, name, contact, loc, descr, cl_us_to_ts(occ), recv, src, xid,"
    " cl_us_to_ts($12::bigint)"
    " FROM unnest($1::bigint[], $2::bigint[], $3::smallint[], $4::text[], $5::text[], $6::text[], $7::text[],"
    " $8::bigint[], $9::text[], $10::text[], $11::text[])"
    " AS u(id, case_id, channel, name, contact, loc, descr, occ, recv, src, xid)";

static const char SQL_COUNT_REPORTS[] =
    "UPDATE cases SET report_count = cases.report_count + u.n"
    " FROM (SELECT id, count(*) AS n FROM unnest($1::bigint[]) AS id GROUP BY id) AS u"
    " WHERE cases.id = u.id"
    " RETURNING cases.id, cases.report_count, cl_ts_to_us(cases.respond_by) AS respond_by_us";

typedef struct {
    cl_env_t *envs;
    char (*ids)[CL_ID_MAX + 1];
    Caseloop__V1__CaseReceived *received;
    Caseloop__V1__CaseReportAttached *attached;
    Caseloop__V1__Report *reports;
} s_mem_t;

void cl_store_events_release(cl_store_events_t *out)
{
    cl_eventlog_release(out->evs, out->n);
    s_mem_t *m = out->mem;
    if (m) {
        free(m->envs);
        free(m->ids);
        free(m->received);
        free(m->attached);
        free(m->reports);
        free(m);
    }
    free(out->evs);
    memset(out, 0, sizeof *out);
}

static bool s_same_key(const Caseloop__V1__Case *a, const Caseloop__V1__Case *b)
{
    return strcmp(a->external_source, b->external_source) == 0 && strcmp(a->external_id, b->external_id) == 0;
}

/* Step 1: marks items whose key is already stored, or repeated earlier in the batch. */
static int s_find_repeats(cl_db_t *db, cl_submit_t *items, size_t n, cl_err_t *err)
{
    cl_buf_t src = {0}, xid = {0};
    cl_pgarr_begin(&src);
    cl_pgarr_begin(&xid);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < i && items[i].same_as < 0; j++)
            if (items[j].same_as < 0 && s_same_key(items[i].in, items[j].in))
                items[i].same_as = (int)j;
        cl_pgarr_text(&src, items[i].in->external_source);
        cl_pgarr_text(&xid, items[i].in->external_id);
    }
    cl_pgarr_end(&src);
    cl_pgarr_end(&xid);
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_text(&p, src.data);
    cl_sql_text(&p, xid.data);
    PGresult *res = cl_sql_exec(db, SQL_KEYS, &p, err);
    cl_buf_free(&src);
    cl_buf_free(&xid);
    if (!res)
        return -1;
    for (int r = 0; r < PQntuples(res); r++) {
        cl_submit_t *it = &items[cl_row_int(res, r, "i") - 1];
        it->outcome = CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_REPEATED;
        it->case_id = cl_row_uint(res, r, "case_id");
        it->report_id = cl_row_uint(res, r, "report_id");
        it->respond_by_us = cl_row_int(res, r, "respond_by_us"); /* NULL (0): nothing was promised */
        it->report_count = (uint32_t)cl_row_int(res, r, "report_count");
        it->same_as = -1;
    }
    PQclear(res);
    return 0;
}

static cl_dedupe_item_t s_probe(const Caseloop__V1__Case *c, int64_t now_us)
{
    cl_dedupe_item_t d = {c->site, (int)c->kind, S(c->customer_contact), S(c->location), c->description, now_us};
    return d;
}

/* Steps 2-3: decides for each remaining item whether it is a new case or
   the same problem as an open case (stored, or new in this batch; R-IN-3).
   A problem raised in a callback is always a new case (R-CB-6). */
static int s_decide(cl_db_t *db, cl_submit_t *items, size_t n, int64_t now_us, cl_err_t *err)
{
    cl_buf_t idx = {0}, site = {0}, kind = {0}, contact = {0}, loc = {0}, since = {0};
    cl_pgarr_begin(&since);
    cl_pgarr_begin(&idx);
    cl_pgarr_begin(&site);
    cl_pgarr_begin(&kind);
    cl_pgarr_begin(&contact);
    cl_pgarr_begin(&loc);
    for (size_t i = 0; i < n; i++) {
        if (items[i].outcome || items[i].same_as >= 0 || items[i].in->has_raised_in_callback_of)
            continue;
        cl_pgarr_i64(&idx, (int64_t)i);
        cl_pgarr_text(&site, items[i].in->site);
        cl_pgarr_i64(&kind, items[i].in->kind);
        cl_pgarr_text(&contact, S(items[i].in->customer_contact));
        cl_pgarr_text(&loc, S(items[i].in->location));
        cl_pgarr_i64(&since, now_us - items[i].terms.dedupe.window_us);
    }
    cl_pgarr_end(&since);
    cl_pgarr_end(&idx);
    cl_pgarr_end(&site);
    cl_pgarr_end(&kind);
    cl_pgarr_end(&contact);
    cl_pgarr_end(&loc);
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_text(&p, idx.data);
    cl_sql_text(&p, site.data);
    cl_sql_text(&p, kind.data);
    cl_sql_text(&p, contact.data);
    cl_sql_text(&p, loc.data);
    cl_sql_text(&p, since.data);
    cl_sql_int(&p, CASELOOP__V1__CASE_STATE__CASE_STATE_CLOSED);
    PGresult *res = cl_sql_exec(db, SQL_CANDIDATES, &p, err);
    cl_buf_free(&idx);
    cl_buf_free(&site);
    cl_buf_free(&kind);
    cl_buf_free(&contact);
    cl_buf_free(&loc);
    cl_buf_free(&since);
    if (!res)
        return -1;

    int rows = PQntuples(res);
    /* Candidates of one item: its stored rows, then this batch's new cases. */
    cl_dedupe_item_t *cands = malloc(sizeof *cands * ((size_t)rows + n + 1));
    uint64_t *cand_case = malloc(sizeof *cand_case * ((size_t)rows + n + 1));
    int *cand_item = malloc(sizeof *cand_item * ((size_t)rows + n + 1));
    if (!cands || !cand_case || !cand_item)
        abort();
    int r = 0;
    for (size_t i = 0; i < n; i++) {
        cl_submit_t *it = &items[i];
        if (it->outcome || it->same_as >= 0)
            continue;
        /* A problem raised in a callback is a case of its own (R-CB-6), never a further
           report of another, not even of the case called back. */
        if (it->in->has_raised_in_callback_of) {
            it->outcome = CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_CREATED;
            continue;
        }
        size_t k = 0;
        for (; r < rows && cl_row_int(res, r, "i") == (int64_t)i; r++, k++) {
            cands[k] = (cl_dedupe_item_t){it->in->site, (int)it->in->kind, cl_row_text(res, r, "customer_contact"),
                                          cl_row_text(res, r, "location"), cl_row_text(res, r, "description"),
                                          cl_row_int(res, r, "received_at_us")};
            cand_case[k] = cl_row_uint(res, r, "id");
            cand_item[k] = -1;
        }
        for (size_t j = 0; j < i; j++) {
            if (items[j].outcome != CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_CREATED)
                continue;
            cands[k] = s_probe(items[j].in, now_us);
            cand_case[k] = 0;
            cand_item[k++] = (int)j;
        }
        cl_dedupe_item_t probe = s_probe(it->in, now_us);
        int pick = cl_dedupe_pick(&probe, cands, k, &it->terms.dedupe);
        if (pick < 0) {
            it->outcome = CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_CREATED;
        } else {
            it->outcome = CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_ATTACHED;
            it->case_id = cand_case[pick];
            it->attach_to_item = cand_item[pick];
        }
    }
    free(cands);
    free(cand_case);
    free(cand_item);
    PQclear(res);
    return 0;
}

/* Step 4: case and report numbers for the new rows. */
static int s_assign_ids(cl_db_t *db, cl_submit_t *items, size_t n, int64_t now_us, cl_err_t *err)
{
    size_t ncase = 0, nrep = 0;
    for (size_t i = 0; i < n; i++) {
        ncase += items[i].outcome == CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_CREATED && items[i].same_as < 0;
        nrep += items[i].outcome == CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_ATTACHED;
    }
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_uint(&p, ncase);
    cl_sql_uint(&p, nrep);
    PGresult *res = cl_sql_exec(db, SQL_IDS, &p, err);
    if (!res)
        return -1;
    int rc = 0, r = 0, rows = PQntuples(res);
    for (size_t i = 0; i < n; i++) {
        cl_submit_t *it = &items[i];
        if (it->same_as >= 0 || it->outcome == CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_REPEATED)
            continue;
        if (r >= rows) {
            rc = cl_err_set(err, CL_INTERNAL, "", "database gave %d ids for %zu rows", rows, ncase + nrep);
            break;
        }
        if (it->outcome == CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_CREATED) {
            it->case_id = cl_row_uint(res, r++, "id");
            it->report_count = 1;
            it->respond_by_us = it->terms.respond_by_us;
            Caseloop__V1__Case *c = it->in;
            c->has_case_id = 1, c->case_id = it->case_id;
            c->has_received_at_us = 1, c->received_at_us = now_us;
            c->has_respond_by_us = it->respond_by_us != 0, c->respond_by_us = it->respond_by_us;
            c->has_state = 1, c->state = CASELOOP__V1__CASE_STATE__CASE_STATE_RECEIVED;
            if (!c->has_channel || c->channel == 0)
                c->has_channel = 1, c->channel = CASELOOP__V1__CHANNEL__CHANNEL_SYSTEM;
            if (!c->has_severity || c->severity == 0)
                c->has_severity = 1, c->severity = CASELOOP__V1__SEVERITY__SEVERITY_GENERAL;
        }
    }
    /* Reports follow the cases in the result; the batch's own new cases count their reports. */
    for (size_t i = 0; rc == 0 && i < n; i++) {
        cl_submit_t *it = &items[i];
        if (it->outcome != CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_ATTACHED)
            continue;
        it->report_id = cl_row_uint(res, r++, "id");
        if (it->attach_to_item >= 0) {
            cl_submit_t *first = &items[it->attach_to_item];
            it->case_id = first->case_id;
            it->respond_by_us = first->respond_by_us;
            it->report_count = 1 + ++first->batch_reports; /* this report is the case's 2nd, 3rd, ... */
        }
    }
    for (size_t i = 0; i < n; i++)
        if (items[i].outcome == CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_CREATED)
            items[i].in->has_report_count = 1, items[i].in->report_count = 1; /* as it was received */
    PQclear(res);
    return rc;
}

/* Step 5: claims the idempotency key of every case and report about to be
   stored, before any row is written. Fails (retryable) when another
   transaction stored one of them first: the retry finds it in step 1 and
   answers REPEATED, so a key gives one case or report and one answer however
   many workers or instances received it at once. */
static int s_claim_keys(cl_db_t *db, const cl_submit_t *items, size_t n, cl_err_t *err)
{
    cl_buf_t src = {0}, xid = {0}, case_id = {0}, report_id = {0};
    cl_pgarr_begin(&src);
    cl_pgarr_begin(&xid);
    cl_pgarr_begin(&case_id);
    cl_pgarr_begin(&report_id);
    size_t rows = 0;
    for (size_t i = 0; i < n; i++) {
        const cl_submit_t *it = &items[i];
        if (it->outcome != CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_CREATED &&
            it->outcome != CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_ATTACHED)
            continue;
        rows++;
        cl_pgarr_text(&src, it->in->external_source);
        cl_pgarr_text(&xid, it->in->external_id);
        cl_pgarr_i64(&case_id, (int64_t)it->case_id);
        cl_pgarr_i64(&report_id, (int64_t)it->report_id);
    }
    cl_pgarr_end(&src);
    cl_pgarr_end(&xid);
    cl_pgarr_end(&case_id);
    cl_pgarr_end(&report_id);
    int rc = 0;
    if (rows) {
        cl_sql_params_t p;
        cl_sql_params_init(&p);
        cl_sql_text(&p, src.data);
        cl_sql_text(&p, xid.data);
        cl_sql_text(&p, case_id.data);
        cl_sql_text(&p, report_id.data);
        rc = cl_sql_cmd(db, SQL_INSERT_KEYS, &p, err);
    }
    cl_buf_free(&src);
    cl_buf_free(&xid);
    cl_buf_free(&case_id);
    cl_buf_free(&report_id);
    return rc;
}

static void s_opt_i64(cl_buf_t *b, protobuf_c_boolean has, int64_t v)
{
    if (has)
        cl_pgarr_i64(b, v);
    else
        cl_pgarr_text(b, NULL);
}

/* Step 6: the new cases. */
static int s_insert_cases(cl_db_t *db, cl_submit_t *items, size_t n, int64_t now_us, cl_err_t *err)
{
    enum { NCOL = 19 };
    cl_buf_t col[NCOL], packed = {0};
    memset(col, 0, sizeof col);
    for (int k = 0; k < NCOL; k++)
        cl_pgarr_begin(&col[k]);
    size_t rows = 0;
    for (size_t i = 0; i < n; i++) {
        cl_submit_t *it = &items[i];
        if (it->outcome != CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_CREATED)
            continue;
        const Caseloop__V1__Case *c = it->in;
        rows++;
        cl_pgarr_i64(&col[0], (int64_t)it->case_id);
        cl_pgarr_text(&col[1], c->site);
        cl_pgarr_i64(&col[2], c->channel);
        cl_pgarr_i64(&col[3], c->kind);
        cl_pgarr_i64(&col[4], c->severity);
        cl_pgarr_text(&col[5], S(c->customer_name));
        cl_pgarr_text(&col[6], S(c->customer_contact));
        cl_pgarr_text(&col[7], S(c->location));
        cl_pgarr_text(&col[8], c->description);
        s_opt_i64(&col[9], c->has_occurred_at_us, c->occurred_at_us);
        cl_pgarr_bool(&col[10], c->anonymous);
        cl_pgarr_bool(&col[11], c->reply_letter_only);
        cl_pgarr_text(&col[12], S(c->first_receiver));
        cl_pgarr_text(&col[13], c->external_source);
        cl_pgarr_text(&col[14], c->external_id);
        cl_pgarr_i64(&col[15], 1 + it->batch_reports);
        s_opt_i64(&col[16], c->has_raised_in_callback_of, (int64_t)c->raised_in_callback_of);
        s_opt_i64(&col[17], c->has_respond_by_us, c->respond_by_us);
        if (c->preferences) {
            cl_buf_reset(&packed);
            cl_buf_reserve(&packed, caseloop__v1__customer_preferences__get_packed_size(c->preferences));
            packed.len = caseloop__v1__customer_preferences__pack(c->preferences, (uint8_t *)packed.data);
            cl_pgarr_bytea(&col[18], packed.data, packed.len);
        } else {
            cl_pgarr_text(&col[18], NULL);
        }
    }
    cl_buf_free(&packed);
    int rc = 0;
    if (rows) {
        cl_sql_params_t p;
        cl_sql_params_init(&p);
        for (int k = 0; k < NCOL; k++) {
            cl_pgarr_end(&col[k]);
            cl_sql_text(&p, col[k].data);
        }
        cl_sql_int(&p, CASELOOP__V1__CASE_STATE__CASE_STATE_RECEIVED);
        cl_sql_int(&p, now_us);
        rc = cl_sql_cmd(db, SQL_INSERT_CASES, &p, err);
    }
    for (int k = 0; k < NCOL; k++)
        cl_buf_free(&col[k]);
    return rc;
}

/* True when it is a report attached to stored case id. */
static bool s_attached_to(const cl_submit_t *it, uint64_t id)
{
    return it->outcome == CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_ATTACHED && it->attach_to_item < 0 &&
           it->case_id == id;
}

/* Steps 7-8: the attached reports, and the report counts of stored cases. */
static int s_insert_reports(cl_db_t *db, cl_submit_t *items, size_t n, int64_t now_us, cl_err_t *err)
{
    enum { NCOL = 11 };
    cl_buf_t col[NCOL], older = {0};
    memset(col, 0, sizeof col);
    for (int k = 0; k < NCOL; k++)
        cl_pgarr_begin(&col[k]);
    cl_pgarr_begin(&older);
    size_t rows = 0, nolder = 0;
    for (size_t i = 0; i < n; i++) {
        cl_submit_t *it = &items[i];
        if (it->outcome != CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_ATTACHED)
            continue;
        const Caseloop__V1__Case *c = it->in;
        rows++;
        cl_pgarr_i64(&col[0], (int64_t)it->report_id);
        cl_pgarr_i64(&col[1], (int64_t)it->case_id);
        cl_pgarr_i64(&col[2], c->has_channel && c->channel ? c->channel : CASELOOP__V1__CHANNEL__CHANNEL_SYSTEM);
        cl_pgarr_text(&col[3], S(c->customer_name));
        cl_pgarr_text(&col[4], S(c->customer_contact));
        cl_pgarr_text(&col[5], S(c->location));
        cl_pgarr_text(&col[6], c->description);
        s_opt_i64(&col[7], c->has_occurred_at_us, c->occurred_at_us);
        cl_pgarr_text(&col[8], S(c->first_receiver));
        cl_pgarr_text(&col[9], c->external_source);
        cl_pgarr_text(&col[10], c->external_id);
        if (it->attach_to_item < 0) {
            cl_pgarr_i64(&older, (int64_t)it->case_id);
            nolder++;
        }
    }
    cl_pgarr_end(&older);
    int rc = 0;
    if (rows) {
        cl_sql_params_t p;
        cl_sql_params_init(&p);
        for (int k = 0; k < NCOL; k++) {
            cl_pgarr_end(&col[k]);
            cl_sql_text(&p, col[k].data);
        }
        cl_sql_int(&p, now_us);
        rc = cl_sql_cmd(db, SQL_INSERT_REPORTS, &p, err);
    }
    if (rc == 0 && nolder) {
        cl_sql_params_t p;
        cl_sql_params_init(&p);
        cl_sql_text(&p, older.data);
        PGresult *res = cl_sql_exec(db, SQL_COUNT_REPORTS, &p, err);
        if (!res) {
            rc = -1;
        } else {
            /* The count now, less this batch's reports, numbers them in order. */
            for (int r = 0; r < PQntuples(res); r++) {
                uint64_t id = cl_row_uint(res, r, "id");
                uint32_t count = (uint32_t)cl_row_int(res, r, "report_count");
                for (size_t i = 0; i < n; i++)
                    count -= s_attached_to(&items[i], id);
                for (size_t i = 0; i < n; i++) {
                    cl_submit_t *it = &items[i];
                    if (s_attached_to(it, id)) {
                        it->report_count = ++count;
                        it->respond_by_us = cl_row_int(res, r, "respond_by_us"); /* NULL (0): none */
                    }
                }
            }
            PQclear(res);
        }
    }
    for (int k = 0; k < NCOL; k++)
        cl_buf_free(&col[k]);
    cl_buf_free(&older);
    return rc;
}

/* Step 9: CaseReceived for each new case, CaseReportAttached for each report
   (appended as the transaction commits). */
static void s_events(cl_submit_t *items, size_t n, int64_t now_us, const char *sender, cl_store_events_t *out)
{
    s_mem_t *m = calloc(1, sizeof *m);
    out->evs = calloc(n, sizeof *out->evs);
    if (!m || !out->evs)
        abort();
    out->mem = m;
    m->envs = calloc(n, sizeof *m->envs);
    m->ids = calloc(n, sizeof *m->ids);
    m->received = calloc(n, sizeof *m->received);
    m->attached = calloc(n, sizeof *m->attached);
    m->reports = calloc(n, sizeof *m->reports);
    if (!m->envs || !m->ids || !m->received || !m->attached || !m->reports)
        abort();
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        cl_submit_t *it = &items[i];
        const Caseloop__V1__Case *c = it->in;
        cl_env_t *env = &m->envs[k];
        if (it->outcome == CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_CREATED) {
            cl_codec_init(env, m->ids[k], sender, now_us);
            caseloop__v1__case_received__init(&m->received[k]);
            m->received[k].details = it->in;
            env->body_case = CASELOOP__V1__ENVELOPE__BODY_CASE_RECEIVED;
            env->case_received = &m->received[k];
        } else if (it->outcome == CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_ATTACHED) {
            cl_codec_init(env, m->ids[k], sender, now_us);
            Caseloop__V1__Report *r = &m->reports[k];
            caseloop__v1__report__init(r);
            r->has_report_id = 1, r->report_id = it->report_id;
            r->has_case_id = 1, r->case_id = it->case_id;
            r->has_channel = 1;
            r->channel = c->has_channel && c->channel ? c->channel : CASELOOP__V1__CHANNEL__CHANNEL_SYSTEM;
            r->customer_name = c->customer_name;
            r->customer_contact = c->customer_contact;
            r->location = c->location;
            r->description = c->description;
            r->has_occurred_at_us = c->has_occurred_at_us, r->occurred_at_us = c->occurred_at_us;
            r->first_receiver = c->first_receiver;
            r->external_source = c->external_source;
            r->external_id = c->external_id;
            r->has_received_at_us = 1, r->received_at_us = now_us;
            caseloop__v1__case_report_attached__init(&m->attached[k]);
            m->attached[k].report = r;
            m->attached[k].has_report_count = 1;
            m->attached[k].report_count = it->report_count;
            env->body_case = CASELOOP__V1__ENVELOPE__BODY_CASE_REPORT_ATTACHED;
            env->case_report_attached = &m->attached[k];
        } else {
            continue;
        }
        env->site = c->site;
        out->evs[k].env = env;
        out->evs[k].case_id = (int64_t)it->case_id;
        k++;
    }
    out->n = k;
}

int cl_store_submit(cl_db_t *db, cl_submit_t *items, size_t n, int64_t now_us, const char *sender,
                    cl_publisher_t *pub, cl_store_events_t *out, cl_err_t *err)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        cl_submit_t *it = &items[i];
        it->outcome = CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_UNSPECIFIED;
        it->case_id = it->report_id = 0;
        it->report_count = 0;
        it->respond_by_us = 0;
        it->same_as = it->attach_to_item = -1;
        it->batch_reports = 0;
        cl_err_clear(&it->err);
    }
    if (cl_db_begin(db, err) < 0)
        return -1;
    if (s_find_repeats(db, items, n, err) < 0 || s_decide(db, items, n, now_us, err) < 0 ||
        s_assign_ids(db, items, n, now_us, err) < 0 || s_claim_keys(db, items, n, err) < 0 ||
        s_insert_cases(db, items, n, now_us, err) < 0 ||
        s_insert_reports(db, items, n, now_us, err) < 0) {
        cl_db_rollback(db);
        return -1;
    }
    s_events(items, n, now_us, sender, out);
    if ((out->turn = cl_publisher_commit(pub, db, out->evs, out->n, now_us, err)) == 0) {
        cl_store_events_release(out);
        return -1;
    }
    /* Repeats of an item of this same batch answer as that item did. */
    for (size_t i = 0; i < n; i++) {
        cl_submit_t *it = &items[i];
        if (it->same_as < 0)
            continue;
        const cl_submit_t *first = &items[it->same_as];
        it->outcome = CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_REPEATED;
        it->case_id = first->case_id;
        it->report_id = first->report_id;
        it->respond_by_us = first->respond_by_us;
        it->report_count = first->report_count;
    }
    return 0;
}

/* --- lookup ---------------------------------------------------------------- */

static void s_opt_read(const PGresult *res, int row, const char *col, protobuf_c_boolean *has, int64_t *v)
{
    *has = !cl_row_null(res, row, col);
    *v = *has ? cl_row_int(res, row, col) : 0;
}

int cl_store_check_callback_of(cl_db_t *db, const Caseloop__V1__Case *c, cl_err_t *err)
{
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_uint(&p, c->raised_in_callback_of);
    PGresult *res = cl_sql_exec(db, "SELECT site FROM cases WHERE id = $1::bigint", &p, err);
    if (!res)
        return -1;
    int rc = 0;
    if (PQntuples(res) == 0)
        rc = cl_err_set(err, CL_NOT_FOUND, "details.raised_in_callback_of", "case %" PRIu64 " does not exist",
                        c->raised_in_callback_of);
    else if (strcmp(cl_row_text(res, 0, "site"), c->site) != 0)
        rc = cl_err_set(err, CL_INVALID_ARGUMENT, "details.raised_in_callback_of",
                        "case %" PRIu64 " is a case of another site", c->raised_in_callback_of);
    PQclear(res);
    return rc;
}

/* The packed preferences stored with a case, given as hex; NULL when they do not read. */
static Caseloop__V1__CustomerPreferences *s_preferences(const char *hex)
{
    size_t n = strlen(hex) / 2;
    uint8_t *bytes = malloc(n + 1);
    if (!bytes)
        abort();
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
            free(bytes);
            return NULL;
        }
        bytes[i] = (uint8_t)v;
    }
    Caseloop__V1__CustomerPreferences *p = caseloop__v1__customer_preferences__unpack(NULL, n, bytes);
    free(bytes);
    return p;
}

int cl_store_get_case(cl_db_t *db, uint64_t case_id, Caseloop__V1__GetCaseReply **reply_p, cl_err_t *err)
{
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_uint(&p, case_id);
    PGresult *res = cl_sql_exec(db,
                                "SELECT id, site, channel, kind, severity, state, customer_name, customer_contact,"
                                " location, description, cl_ts_to_us(occurred_at) AS occurred_at_us, anonymous,"
                                " reply_letter_only, first_receiver, external_source, external_id,"
                                " cl_ts_to_us(received_at) AS received_at_us, cl_ts_to_us(respond_by) AS respond_by_us,"
                                " report_count, raised_in_callback_of, encode(preferences, 'hex') AS preferences"
                                " FROM cases WHERE id = $1::bigint",
                                &p, err);
    if (!res)
        return -1;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return cl_err_set(err, CL_NOT_FOUND, "case_id", "case %" PRIu64 " does not exist", case_id);
    }
    Caseloop__V1__GetCaseReply *reply = calloc(1, sizeof *reply);
    Caseloop__V1__Case *c = calloc(1, sizeof *c);
    if (!reply || !c)
        abort();
    caseloop__v1__get_case_reply__init(reply);
    caseloop__v1__case__init(c);
    reply->details = c;
    c->has_case_id = 1, c->case_id = cl_row_uint(res, 0, "id");
    c->site = cl_row_strdup(res, 0, "site");
    c->has_channel = 1, c->channel = (Caseloop__V1__Channel)cl_row_int(res, 0, "channel");
    c->has_kind = 1, c->kind = (Caseloop__V1__Kind)cl_row_int(res, 0, "kind");
    c->has_severity = 1, c->severity = (Caseloop__V1__Severity)cl_row_int(res, 0, "severity");
    c->has_state = 1, c->state = (Caseloop__V1__CaseState)cl_row_int(res, 0, "state");
    c->customer_name = cl_row_strdup(res, 0, "customer_name");
    c->customer_contact = cl_row_strdup(res, 0, "customer_contact");
    c->location = cl_row_strdup(res, 0, "location");
    c->description = cl_row_strdup(res, 0, "description");
    s_opt_read(res, 0, "occurred_at_us", &c->has_occurred_at_us, &c->occurred_at_us);
    c->has_anonymous = 1, c->anonymous = cl_row_bool(res, 0, "anonymous");
    c->has_reply_letter_only = 1, c->reply_letter_only = cl_row_bool(res, 0, "reply_letter_only");
    c->first_receiver = cl_row_strdup(res, 0, "first_receiver");
    c->external_source = cl_row_strdup(res, 0, "external_source");
    c->external_id = cl_row_strdup(res, 0, "external_id");
    s_opt_read(res, 0, "received_at_us", &c->has_received_at_us, &c->received_at_us);
    s_opt_read(res, 0, "respond_by_us", &c->has_respond_by_us, &c->respond_by_us);
    c->has_report_count = 1, c->report_count = (uint32_t)cl_row_int(res, 0, "report_count");
    int64_t origin;
    protobuf_c_boolean has_origin;
    s_opt_read(res, 0, "raised_in_callback_of", &has_origin, &origin);
    c->has_raised_in_callback_of = has_origin, c->raised_in_callback_of = (uint64_t)origin;
    if (!cl_row_null(res, 0, "preferences"))
        c->preferences = s_preferences(cl_row_text(res, 0, "preferences"));
    PQclear(res);
    *reply_p = reply;

    res = cl_sql_exec(db,
                      "SELECT id, case_id, channel, customer_name, customer_contact, location, description,"
                      " cl_ts_to_us(occurred_at) AS occurred_at_us, first_receiver, external_source, external_id,"
                      " cl_ts_to_us(received_at) AS received_at_us FROM case_reports WHERE case_id = $1::bigint"
                      " ORDER BY id",
                      &p, err);
    if (!res) {
        cl_store_case_free(reply_p);
        return -1;
    }
    int rows = PQntuples(res);
    reply->reports = calloc((size_t)rows + 1, sizeof *reply->reports);
    if (!reply->reports)
        abort();
    for (int r = 0; r < rows; r++) {
        Caseloop__V1__Report *rep = calloc(1, sizeof *rep);
        if (!rep)
            abort();
        caseloop__v1__report__init(rep);
        rep->has_report_id = 1, rep->report_id = cl_row_uint(res, r, "id");
        rep->has_case_id = 1, rep->case_id = cl_row_uint(res, r, "case_id");
        rep->has_channel = 1, rep->channel = (Caseloop__V1__Channel)cl_row_int(res, r, "channel");
        rep->customer_name = cl_row_strdup(res, r, "customer_name");
        rep->customer_contact = cl_row_strdup(res, r, "customer_contact");
        rep->location = cl_row_strdup(res, r, "location");
        rep->description = cl_row_strdup(res, r, "description");
        s_opt_read(res, r, "occurred_at_us", &rep->has_occurred_at_us, &rep->occurred_at_us);
        rep->first_receiver = cl_row_strdup(res, r, "first_receiver");
        rep->external_source = cl_row_strdup(res, r, "external_source");
        rep->external_id = cl_row_strdup(res, r, "external_id");
        s_opt_read(res, r, "received_at_us", &rep->has_received_at_us, &rep->received_at_us);
        reply->reports[reply->n_reports++] = rep;
    }
    PQclear(res);
    if (cl_store_history(db, case_id, reply, err) < 0) {
        cl_store_case_free(reply_p);
        return -1;
    }
    return 0;
}

void cl_store_case_free(Caseloop__V1__GetCaseReply **reply_p)
{
    /* Built with malloc'd members, the layout protobuf-c's own free expects. */
    if (reply_p && *reply_p) {
        caseloop__v1__get_case_reply__free_unpacked(*reply_p, NULL);
        *reply_p = NULL;
    }
}

int cl_store_set_preferences(cl_db_t *db, uint64_t case_id, const void *packed, size_t len, char site[80],
                             cl_err_t *err)
{
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_uint(&p, case_id);
    cl_sql_bytes(&p, packed, len);
    PGresult *res = cl_sql_exec(db, "UPDATE cases SET preferences = $2::bytea WHERE id = $1::bigint RETURNING site",
                                &p, err);
    if (!res)
        return -1;
    int rc = 0;
    if (PQntuples(res) == 0)
        rc = cl_err_set(err, CL_NOT_FOUND, "case_id", "case %" PRIu64 " does not exist", case_id);
    else
        snprintf(site, 80, "%s", cl_row_text(res, 0, "site"));
    PQclear(res);
    return rc;
}
