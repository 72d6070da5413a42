/* cases.c - intake's SQL for the case lifecycle: commands, lists, histories. */
#include "cases.h"
#include "cl_buf.h"
#include "cl_sql.h"
#include "lifecycle.h"
#include <endian.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_MAX 4000

/* --- commands ------------------------------------------------------------------------ */

int cl_command_validate(const Caseloop__V1__CaseCommand *cmd, cl_err_t *err)
{
    if (!cmd->has_case_id || cmd->case_id == 0 || cmd->case_id > INT64_MAX)
        return cl_err_set(err, CL_INVALID_ARGUMENT, "case_id", "case_id is required");
    if (!cmd->has_action || cmd->action == CASELOOP__V1__CASE_ACTION__CASE_ACTION_UNSPECIFIED ||
        !protobuf_c_enum_descriptor_get_value(&caseloop__v1__case_action__descriptor, (int)cmd->action))
        return cl_err_set(err, CL_INVALID_ARGUMENT, "action", "action is required and must be a known CaseAction");
    if (cl_text_check(cmd->actor, "actor", 1, 100, err) < 0 || cl_text_check(cmd->text, "text", 0, TEXT_MAX, err) < 0)
        return -1;
    bool needs_text = cmd->action == CASELOOP__V1__CASE_ACTION__CASE_ACTION_FIRST_CONTACT ||
                      cmd->action == CASELOOP__V1__CASE_ACTION__CASE_ACTION_RESOLVE;
    if (needs_text && !*(cmd->text ? cmd->text : ""))
        return cl_err_set(err, CL_INVALID_ARGUMENT, "text",
                          cmd->action == CASELOOP__V1__CASE_ACTION__CASE_ACTION_RESOLVE
                              ? "text is required: the result"
                              : "text is required: the plan told to the customer");
    if (cmd->action == CASELOOP__V1__CASE_ACTION__CASE_ACTION_REPORT_RESULT && !cmd->has_satisfied)
        return cl_err_set(err, CL_INVALID_ARGUMENT, "satisfied", "satisfied is required: the customer's opinion");
    bool has_source = cmd->source && *cmd->source, has_id = cmd->command_id && *cmd->command_id;
    if (has_source != has_id)
        return cl_err_set(err, CL_INVALID_ARGUMENT, has_source ? "command_id" : "source",
                          "source and command_id go together: the command's key is both");
    if (has_source &&
        (cl_text_check(cmd->source, "source", 1, 100, err) < 0 || cl_text_check(cmd->command_id, "command_id", 1, 200, err) < 0))
        return -1;
    return 0;
}

/* Whether cmd carries an idempotency key (checked: both parts or neither). */
static bool s_keyed(const Caseloop__V1__CaseCommand *cmd)
{
    return cmd->source && *cmd->source;
}

/* cmd as its key stands for: packed without the key. */
static void s_command_body(const Caseloop__V1__CaseCommand *cmd, cl_buf_t *out)
{
    Caseloop__V1__CaseCommand c = *cmd;
    c.source = NULL;
    c.command_id = NULL;
    cl_buf_reset(out);
    cl_buf_reserve(out, caseloop__v1__case_command__get_packed_size(&c));
    out->len = caseloop__v1__case_command__pack(&c, (uint8_t *)out->data);
    out->data[out->len] = '\0';
}

/* What the key of a command says from before: nothing (found false), or the
   command it stands for (same: this one) and the outcome it had. */
typedef struct {
    bool found, same;
    Caseloop__V1__CaseState state;
    uint64_t position;
} s_key_t;

/* The keys of the keyed commands among cmds, as stored, into keys[k] (bodies[k]: the command as its key stands for). */
static int s_keys_read(cl_db_t *db, const Caseloop__V1__CaseCommand *const *cmds, size_t n, const cl_buf_t *bodies,
                       s_key_t *keys, cl_err_t *err)
{
    cl_buf_t col[4] = {{0}};
    for (int c = 0; c < 4; c++)
        cl_pgarr_begin(&col[c]);
    size_t keyed = 0;
    for (size_t k = 0; k < n; k++) {
        if (!s_keyed(cmds[k]))
            continue;
        cl_pgarr_i64(&col[0], (int64_t)k);
        cl_pgarr_text(&col[1], cmds[k]->source);
        cl_pgarr_text(&col[2], cmds[k]->command_id);
        cl_pgarr_bytea(&col[3], bodies[k].data, bodies[k].len);
        keyed++;
    }
    int rc = 0;
    if (keyed) {
        cl_sql_params_t p;
        cl_sql_params_init(&p);
        for (int c = 0; c < 4; c++) {
            cl_pgarr_end(&col[c]);
            cl_sql_text(&p, col[c].data);
        }
        PGresult *res = cl_sql_exec(db,
                                    "SELECT u.k, k.command = u.body AS same, k.state, k.position"
                                    " FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bytea[]) AS u(k, src, xid, body)"
                                    " JOIN command_keys k ON k.source = u.src AND k.command_id = u.xid",
                                    &p, err);
        if (!res) {
            rc = -1;
        } else {
            for (int r = 0; r < PQntuples(res); r++) {
                uint64_t k = cl_row_uint(res, r, "k");
                if (k < n)
                    keys[k] = (s_key_t){true, cl_row_bool(res, r, "same"),
                                        (Caseloop__V1__CaseState)cl_row_int(res, r, "state"), cl_row_uint(res, r, "position")};
            }
            PQclear(res);
        }
    }
    for (int c = 0; c < 4; c++)
        cl_buf_free(&col[c]);
    return rc;
}

/* Stores the keys of the keyed commands applied (applied[0..n) index cmds and out). */
static int s_keys_write(cl_db_t *db, const Caseloop__V1__CaseCommand *const *cmds, const cl_buf_t *bodies,
                        const cl_command_event_t *out, const size_t *applied, size_t n, cl_err_t *err)
{
    cl_buf_t col[6] = {{0}};
    for (int c = 0; c < 6; c++)
        cl_pgarr_begin(&col[c]);
    size_t keyed = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = applied[i];
        if (!s_keyed(cmds[k]))
            continue;
        cl_pgarr_text(&col[0], cmds[k]->source);
        cl_pgarr_text(&col[1], cmds[k]->command_id);
        cl_pgarr_bytea(&col[2], bodies[k].data, bodies[k].len);
        cl_pgarr_i64(&col[3], (int64_t)cmds[k]->case_id);
        cl_pgarr_i64(&col[4], out[k].updated.state_after);
        cl_pgarr_i64(&col[5], (int64_t)out[k].env.position);
        keyed++;
    }
    int rc = 0;
    if (keyed) {
        cl_sql_params_t p;
        cl_sql_params_init(&p);
        for (int c = 0; c < 6; c++) {
            cl_pgarr_end(&col[c]);
            cl_sql_text(&p, col[c].data);
        }
        /* A key another transaction stored first fails the batch with a retryable conflict;
           tried again, the command is its repeat. */
        rc = cl_sql_cmd(db,
                        "INSERT INTO command_keys (source, command_id, command, case_id, state, position)"
                        " SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bigint[], $5::smallint[],"
                        " $6::bigint[])",
                        &p, err);
    }
    for (int c = 0; c < 6; c++)
        cl_buf_free(&col[c]);
    return rc;
}

/* out answers cmd as a repeat: the first outcome, no event. */
static void s_repeat(cl_command_event_t *out, Caseloop__V1__CaseState state, uint64_t position)
{
    out->repeated = true;
    out->updated.state_after = state;
    out->env.position = position;
}

void cl_command_event_release(cl_command_event_t *out)
{
    cl_eventlog_release(&out->ev, 1);
    free(out->site);
    out->site = NULL;
}

/* The milestone an action stamps (a bit of s_row_t.stamps), or 0. */
enum { S_ACKNOWLEDGED = 1, S_FIRST_CONTACT = 2, S_RESOLVED = 4, S_CLOSED = 8 };
static int s_milestone(Caseloop__V1__CaseState to, Caseloop__V1__CaseAction action)
{
    switch (action) {
    case CASELOOP__V1__CASE_ACTION__CASE_ACTION_ACKNOWLEDGE:
        return S_ACKNOWLEDGED;
    case CASELOOP__V1__CASE_ACTION__CASE_ACTION_FIRST_CONTACT:
        return S_FIRST_CONTACT;
    case CASELOOP__V1__CASE_ACTION__CASE_ACTION_RESOLVE:
        return S_RESOLVED;
    default:
        return to == CASELOOP__V1__CASE_STATE__CASE_STATE_CLOSED ? S_CLOSED : 0;
    }
}

/* A case a batch of commands locked, and what they did to it so far. */
typedef struct {
    uint64_t id;
    Caseloop__V1__CaseState state;
    const char *site;           /* in the result */
    bool dispatched, changed;
    int satisfied;              /* -1: left as it is */
    int stamps;                 /* s_milestone bits */
} s_row_t;

static int s_row_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = ((const s_row_t *)b)->id;
    return x < y ? -1 : x > y;
}

/* Fills out's CaseUpdated: cmd moved its case (at site) from `from` to `to`. */
static void s_updated(cl_command_event_t *out, const Caseloop__V1__CaseCommand *cmd, const char *site,
                      Caseloop__V1__CaseState from, Caseloop__V1__CaseState to, int64_t now_us, const char *sender)
{
    out->site = strdup(site);
    if (!out->site)
        abort();
    Caseloop__V1__CaseUpdated *u = &out->updated;
    caseloop__v1__case_updated__init(u);
    u->has_case_id = 1, u->case_id = cmd->case_id;
    u->site = out->site;
    u->has_action = 1, u->action = cmd->action;
    u->has_state_before = 1, u->state_before = from;
    u->has_state_after = 1, u->state_after = to;
    u->actor = cmd->actor;
    u->text = cmd->text;
    u->has_satisfied = cmd->has_satisfied, u->satisfied = cmd->satisfied;
    u->has_signed_ = cmd->has_signed_, u->signed_ = cmd->signed_;
    cl_codec_init(&out->env, out->id, sender, now_us);
    out->env.site = out->site;
    out->env.body_case = CASELOOP__V1__ENVELOPE__BODY_CASE_UPDATED;
    out->env.case_updated = u;
    out->ev.env = &out->env;
    out->ev.case_id = (int64_t)cmd->case_id;
}

/* Writes the cases rows changed: state, satisfied and the milestones stamped at now_us. */
static int s_write_rows(cl_db_t *db, const s_row_t *rows, size_t n, int64_t now_us, cl_err_t *err)
{
    cl_buf_t col[4] = {{0}};
    for (int k = 0; k < 4; k++)
        cl_pgarr_begin(&col[k]);
    for (size_t i = 0; i < n; i++) {
        if (!rows[i].changed)
            continue;
        cl_pgarr_i64(&col[0], (int64_t)rows[i].id);
        cl_pgarr_i64(&col[1], rows[i].state);
        if (rows[i].satisfied < 0)
            cl_pgarr_text(&col[2], NULL);
        else
            cl_pgarr_bool(&col[2], rows[i].satisfied == 1);
        cl_pgarr_i64(&col[3], rows[i].stamps);
    }
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    for (int k = 0; k < 4; k++) {
        cl_pgarr_end(&col[k]);
        cl_sql_text(&p, col[k].data);
    }
    cl_sql_int(&p, now_us);
    int rc = cl_sql_cmd(db,
                        "UPDATE cases SET state = u.st, satisfied = coalesce(u.sat, cases.satisfied),"
                        " acknowledged_at = CASE WHEN u.ms & 1 <> 0 THEN cl_us_to_ts($5::bigint)"
                        " ELSE cases.acknowledged_at END,"
                        " first_contact_at = CASE WHEN u.ms & 2 <> 0 THEN cl_us_to_ts($5::bigint)"
                        " ELSE cases.first_contact_at END,"
                        " resolved_at = CASE WHEN u.ms & 4 <> 0 THEN cl_us_to_ts($5::bigint) ELSE cases.resolved_at END,"
                        " closed_at = CASE WHEN u.ms & 8 <> 0 THEN cl_us_to_ts($5::bigint) ELSE cases.closed_at END"
                        " FROM unnest($1::bigint[], $2::smallint[], $3::bool[], $4::int[]) AS u(id, st, sat, ms)"
                        " WHERE cases.id = u.id",
                        &p, err);
    for (int k = 0; k < 4; k++)
        cl_buf_free(&col[k]);
    return rc;
}

/* Whether commands a and b (both keyed) have the same key. */
static bool s_same_key(const Caseloop__V1__CaseCommand *a, const Caseloop__V1__CaseCommand *b)
{
    return strcmp(a->source, b->source) == 0 && strcmp(a->command_id, b->command_id) == 0;
}

/* Sets refused[k]: the key of cmd stands for another command. */
static void s_key_reused(cl_err_t *refused, const Caseloop__V1__CaseCommand *cmd)
{
    cl_err_set(refused, CL_CONFLICT, "command_id",
               "the key %s/%s was used for another command; the first stands", cmd->source, cmd->command_id);
}

int cl_store_commands(cl_db_t *db, const Caseloop__V1__CaseCommand *const *cmds, size_t n, int64_t now_us,
                      const char *sender, cl_publisher_t *pub, cl_command_event_t *out, cl_err_t *refused,
                      cl_err_t *err)
{
    for (size_t k = 0; k < n; k++) {
        memset(&out[k], 0, sizeof out[k]);
        cl_err_clear(&refused[k]);
    }
    cl_buf_t ids = {0};
    cl_pgarr_begin(&ids);
    for (size_t k = 0; k < n; k++)
        cl_pgarr_i64(&ids, (int64_t)cmds[k]->case_id);
    cl_pgarr_end(&ids);
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_text(&p, ids.data);
    if (cl_db_begin(db, err) < 0) {
        cl_buf_free(&ids);
        return -1;
    }
    /* Locked in the order of their ids, as every batch locks them: two batches never wait on each other in a circle. */
    PGresult *res = cl_sql_exec(db,
                                "SELECT c.id, c.state, c.site, EXISTS (SELECT 1 FROM dispatches d WHERE d.case_id = c.id"
                                " AND d.department <> '') AS dispatched FROM cases c WHERE c.id = ANY($1::bigint[])"
                                " ORDER BY c.id FOR NO KEY UPDATE OF c",
                                &p, err);
    cl_buf_free(&ids);
    if (!res) {
        cl_db_rollback(db);
        return -1;
    }
    size_t nrows = (size_t)PQntuples(res);
    s_row_t *rows = calloc(nrows + 1, sizeof *rows);
    cl_event_t *evs = calloc(n, sizeof *evs);
    size_t *applied = calloc(n, sizeof *applied);
    cl_buf_t *bodies = calloc(n, sizeof *bodies);
    s_key_t *keys = calloc(n, sizeof *keys);
    if (!rows || !evs || !applied || !bodies || !keys)
        abort();
    for (size_t r = 0; r < nrows; r++)
        rows[r] = (s_row_t){cl_row_uint(res, (int)r, "id"), (Caseloop__V1__CaseState)cl_row_int(res, (int)r, "state"),
                            cl_row_text(res, (int)r, "site"), cl_row_bool(res, (int)r, "dispatched"), false, -1, 0};
    for (size_t k = 0; k < n; k++)
        if (s_keyed(cmds[k]))
            s_command_body(cmds[k], &bodies[k]);
    /* The keys are read once their cases are locked: a command of the same case
       that held the lock committed first, and its key is seen. */
    int rc = s_keys_read(db, cmds, n, bodies, keys, err);
    /* In the order they came, each on what the ones before left. */
    size_t nev = 0;
    for (size_t k = 0; k < n && rc == 0; k++) {
        const Caseloop__V1__CaseCommand *cmd = cmds[k];
        if (s_keyed(cmd)) {
            if (keys[k].found) {
                if (keys[k].same)
                    s_repeat(&out[k], keys[k].state, keys[k].position);
                else
                    s_key_reused(&refused[k], cmd);
                continue;
            }
            size_t j = k;
            while (j-- > 0 && !(s_keyed(cmds[j]) && s_same_key(cmds[j], cmd)))
                ;
            if (j < k) { /* an earlier command of this batch had the key: as it went, this one goes */
                if (bodies[j].len != bodies[k].len || memcmp(bodies[j].data, bodies[k].data, bodies[k].len) != 0)
                    s_key_reused(&refused[k], cmd);
                else if (out[j].same_as)
                    out[k].repeated = true, out[k].same_as = out[j].same_as;
                else if (refused[j].code != CL_OK || out[j].repeated)
                    refused[k] = refused[j], out[k].repeated = out[j].repeated,
                    out[k].updated.state_after = out[j].updated.state_after, out[k].env.position = out[j].env.position;
                else
                    out[k].repeated = true, out[k].same_as = j + 1;
                continue;
            }
        }
        s_row_t *row = bsearch(&cmd->case_id, rows, nrows, sizeof *rows, s_row_cmp);
        Caseloop__V1__CaseState to;
        if (!row) {
            cl_err_set(&refused[k], CL_NOT_FOUND, "case_id", "case %" PRIu64 " does not exist", cmd->case_id);
            continue;
        }
        if (cl_lifecycle_next(row->state, (cl_action_t)cmd->action, row->dispatched, cmd->satisfied, &to,
                              &refused[k]) < 0)
            continue;
        s_updated(&out[k], cmd, row->site, row->state, to, now_us, sender);
        row->state = to;
        row->changed = true;
        if (cmd->has_satisfied)
            row->satisfied = cmd->satisfied ? 1 : 0;
        row->stamps |= s_milestone(to, cmd->action);
        evs[nev] = out[k].ev;
        applied[nev++] = k;
    }
    if (rc < 0 || nev == 0) {
        cl_db_rollback(db); /* nothing written: the locks go */
    } else if (s_write_rows(db, rows, nrows, now_us, err) < 0) {
        cl_db_rollback(db);
        rc = -1;
    } else {
        cl_publisher_lock(pub);
        bool ok = cl_eventlog_append(db, evs, nev, now_us, err) == 0;
        for (size_t i = 0; i < nev; i++) { /* the packed events, with their positions, go back to their commands */
            out[applied[i]].ev = evs[i];
            evs[i].packed = (cl_buf_t){0};
        }
        ok = ok && s_keys_write(db, cmds, bodies, out, applied, nev, err) == 0 && cl_db_commit(db, err) == 0;
        if (!ok)
            cl_db_rollback(db);
        uint64_t turn = cl_publisher_unlock(pub, ok);
        rc = ok ? 0 : -1;
        for (size_t i = 0; i < nev; i++)
            out[applied[i]].turn = turn;
    }
    if (rc == 0) /* repeats of a command applied earlier in this batch: its outcome */
        for (size_t k = 0; k < n; k++)
            if (out[k].same_as) {
                const cl_command_event_t *first = &out[out[k].same_as - 1];
                s_repeat(&out[k], first->updated.state_after, first->env.position);
            }
    PQclear(res);
    if (rc < 0)
        for (size_t k = 0; k < n; k++)
            cl_command_event_release(&out[k]);
    for (size_t k = 0; k < n; k++)
        cl_buf_free(&bodies[k]);
    free(rows);
    free(evs);
    free(applied);
    free(bodies);
    free(keys);
    return rc;
}

/* --- lists ---------------------------------------------------------------------------- */

int cl_list_validate(const Caseloop__V1__ListCases *q, cl_err_t *err)
{
    if (cl_text_check(q->site, "site", 1, 64, err) < 0 || cl_text_check(q->department, "department", 0, 64, err) < 0 ||
        cl_text_check(q->assignee, "assignee", 0, 100, err) < 0 || cl_text_check(q->tracker, "tracker", 0, 100, err) < 0)
        return -1;
    if (q->has_state && !protobuf_c_enum_descriptor_get_value(&caseloop__v1__case_state__descriptor, (int)q->state))
        return cl_err_set(err, CL_INVALID_ARGUMENT, "state", "state %d is not a known CaseState", (int)q->state);
    if (q->has_kind && !protobuf_c_enum_descriptor_get_value(&caseloop__v1__kind__descriptor, (int)q->kind))
        return cl_err_set(err, CL_INVALID_ARGUMENT, "kind", "kind %d is not a known Kind", (int)q->kind);
    if (q->has_severity && !protobuf_c_enum_descriptor_get_value(&caseloop__v1__severity__descriptor, (int)q->severity))
        return cl_err_set(err, CL_INVALID_ARGUMENT, "severity", "severity %d is not a known Severity", (int)q->severity);
    if (q->has_page_size && (q->page_size < 1 || q->page_size > 500))
        return cl_err_set(err, CL_INVALID_ARGUMENT, "page_size", "page_size %" PRIu32 " is outside 1..500", q->page_size);
    return 0;
}

int cl_store_list_cases(cl_db_t *db, const Caseloop__V1__ListCases *q, Caseloop__V1__ListCasesReply **reply_p,
                        cl_err_t *err)
{
    uint32_t size = q->has_page_size ? q->page_size : 50;
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_text(&p, q->site);
    cl_sql_text(&p, q->department && *q->department ? q->department : NULL);
    cl_sql_text(&p, q->assignee && *q->assignee ? q->assignee : NULL);
    cl_sql_text(&p, q->tracker && *q->tracker ? q->tracker : NULL);
    cl_sql_opt_int(&p, q->has_state, q->state);
    cl_sql_bool(&p, q->open_only);
    cl_sql_bool(&p, q->queued_only);
    cl_sql_opt_int(&p, q->has_kind, q->kind);
    cl_sql_opt_int(&p, q->has_severity, q->severity);
    cl_sql_opt_int(&p, q->has_received_from_us, q->received_from_us);
    cl_sql_opt_int(&p, q->has_received_to_us, q->received_to_us);
    cl_sql_opt_int(&p, q->has_page_after && q->page_after > 0,
                   q->page_after > INT64_MAX ? INT64_MAX : (int64_t)q->page_after);
    cl_sql_uint(&p, size + 1);
    cl_sql_int(&p, CASELOOP__V1__CASE_STATE__CASE_STATE_CLOSED);
    PGresult *res = cl_sql_exec(
        db,
        "SELECT c.id, c.site, coalesce(d.kind, c.kind) AS kind, c.severity, c.state,"
        " coalesce(d.department, '') AS department, coalesce(d.assignee, '') AS assignee,"
        " coalesce(t.tracker, c.first_receiver) AS tracker, cl_ts_to_us(c.received_at) AS received_at_us,"
        " cl_ts_to_us(c.respond_by) AS respond_by_us, c.report_count, left(c.description, 200) AS description"
        " FROM cases c LEFT JOIN dispatches d ON d.case_id = c.id LEFT JOIN case_tracking t ON t.case_id = c.id"
        " WHERE c.site = $1"
        " AND ($2::text IS NULL OR d.department = $2)"
        " AND ($3::text IS NULL OR d.assignee = $3)"
        " AND ($4::text IS NULL OR coalesce(t.tracker, c.first_receiver) = $4)"
        " AND ($5::smallint IS NULL OR c.state = $5)"
        " AND (NOT $6::bool OR c.state <> $14::smallint)"
        " AND (NOT $7::bool OR (d.department <> '' AND d.assignee IS NULL AND c.state <> $14::smallint))"
        " AND ($8::smallint IS NULL OR coalesce(d.kind, c.kind) = $8)"
        " AND ($9::smallint IS NULL OR c.severity = $9)"
        " AND ($10::bigint IS NULL OR c.received_at >= cl_us_to_ts($10))"
        " AND ($11::bigint IS NULL OR c.received_at < cl_us_to_ts($11))"
        " AND ($12::bigint IS NULL OR c.id < $12)"
        " ORDER BY c.id DESC LIMIT $13::int",
        &p, err);
    if (!res)
        return -1;
    int rows = PQntuples(res);
    Caseloop__V1__ListCasesReply *reply = calloc(1, sizeof *reply);
    if (!reply)
        abort();
    caseloop__v1__list_cases_reply__init(reply);
    int shown = rows > (int)size ? (int)size : rows;
    reply->cases = calloc((size_t)shown + 1, sizeof *reply->cases);
    if (!reply->cases)
        abort();
    for (int r = 0; r < shown; r++) {
        Caseloop__V1__CaseSummary *c = calloc(1, sizeof *c);
        if (!c)
            abort();
        caseloop__v1__case_summary__init(c);
        c->has_case_id = 1, c->case_id = cl_row_uint(res, r, "id");
        c->site = cl_row_strdup(res, r, "site");
        c->has_kind = 1, c->kind = (Caseloop__V1__Kind)cl_row_int(res, r, "kind");
        c->has_severity = 1, c->severity = (Caseloop__V1__Severity)cl_row_int(res, r, "severity");
        c->has_state = 1, c->state = (Caseloop__V1__CaseState)cl_row_int(res, r, "state");
        c->department = cl_row_strdup(res, r, "department");
        c->assignee = cl_row_strdup(res, r, "assignee");
        c->tracker = cl_row_strdup(res, r, "tracker");
        c->has_received_at_us = 1, c->received_at_us = cl_row_int(res, r, "received_at_us");
        c->has_respond_by_us = !cl_row_null(res, r, "respond_by_us");
        c->respond_by_us = cl_row_int(res, r, "respond_by_us");
        c->has_report_count = 1, c->report_count = (uint32_t)cl_row_int(res, r, "report_count");
        c->description = cl_row_strdup(res, r, "description");
        reply->cases[reply->n_cases++] = c;
    }
    if (rows > (int)size)
        reply->has_next_page = 1, reply->next_page = reply->cases[shown - 1]->case_id;
    PQclear(res);
    *reply_p = reply;
    return 0;
}

/* --- history ---------------------------------------------------------------------------- */

typedef struct {
    Caseloop__V1__GetCaseReply *reply;
    size_t cap;
} s_history_t;

int cl_store_history(cl_db_t *db, uint64_t case_id, Caseloop__V1__GetCaseReply *reply, cl_err_t *err)
{
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_uint(&p, case_id);
    /* Its own events, and the handovers that listed it (binary: int8 as 8 bytes, big-endian). */
    PGresult *res = cl_sql_exec_binary(db,
                                       "SELECT position, cl_ts_to_us(recorded_at) AS recorded_at_us, envelope FROM events"
                                       " WHERE case_id = $1::bigint"
                                       " UNION ALL"
                                       " SELECT e.position, cl_ts_to_us(e.recorded_at), e.envelope FROM handover_cases hc"
                                       " JOIN handovers h ON h.id = hc.handover_id JOIN events e ON e.position = h.position"
                                       " WHERE hc.case_id = $1::bigint"
                                       " ORDER BY 1",
                                       &p, err);
    if (!res)
        return -1;
    int rows = PQntuples(res);
    reply->history = calloc((size_t)rows + 1, sizeof *reply->history);
    if (!reply->history)
        abort();
    for (int r = 0; r < rows; r++) {
        uint64_t pos, at;
        memcpy(&pos, cl_row_text(res, r, "position"), 8);
        memcpy(&at, cl_row_text(res, r, "recorded_at_us"), 8);
        cl_err_t derr;
        cl_env_t *ev = cl_codec_decode(cl_row_text(res, r, "envelope"), (size_t)cl_row_length(res, r, "envelope"),
                                       SIZE_MAX, &derr);
        if (!ev)
            continue;
        Caseloop__V1__HistoryEntry *h = calloc(1, sizeof *h);
        char line[1024];
        const char *actor;
        if (!h)
            abort();
        caseloop__v1__history_entry__init(h);
        h->has_position = 1, h->position = be64toh(pos);
        h->has_at_us = 1, h->at_us = (int64_t)be64toh(at);
        h->type = strdup(cl_codec_body_name(ev));
        cl_event_describe(ev, line, sizeof line, &actor);
        h->text = strdup(line);
        h->actor = strdup(actor);
        if (!h->type || !h->text || !h->actor)
            abort();
        reply->history[reply->n_history++] = h;
        cl_codec_free(ev);
    }
    PQclear(res);
    return 0;
}
