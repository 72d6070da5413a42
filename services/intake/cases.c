/* cases.c - intake's SQL for the case lifecycle: commands, lists, histories. */
#include "cases.h"
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
    return 0;
}

void cl_command_event_release(cl_command_event_t *out)
{
    cl_eventlog_release(&out->ev, 1);
    free(out->site);
    out->site = NULL;
}

/* The column a state's milestone is stamped in, or NULL. */
static const char *s_milestone(Caseloop__V1__CaseState to, Caseloop__V1__CaseAction action)
{
    switch (action) {
    case CASELOOP__V1__CASE_ACTION__CASE_ACTION_ACKNOWLEDGE:
        return "acknowledged_at";
    case CASELOOP__V1__CASE_ACTION__CASE_ACTION_FIRST_CONTACT:
        return "first_contact_at";
    case CASELOOP__V1__CASE_ACTION__CASE_ACTION_RESOLVE:
        return "resolved_at";
    default:
        return to == CASELOOP__V1__CASE_STATE__CASE_STATE_CLOSED ? "closed_at" : NULL;
    }
}

int cl_store_command(cl_db_t *db, const Caseloop__V1__CaseCommand *cmd, int64_t now_us, const char *sender,
                     cl_publisher_t *pub, cl_command_event_t *out, cl_err_t *err)
{
    memset(out, 0, sizeof *out);
    cl_sql_params_t p1;
    cl_sql_params_init(&p1);
    cl_sql_uint(&p1, cmd->case_id);
    if (cl_db_begin(db, err) < 0)
        return -1;
    PGresult *res = cl_sql_exec(db,
                                "SELECT c.state, c.site, EXISTS (SELECT 1 FROM dispatches d WHERE d.case_id = c.id"
                                " AND d.department <> '') AS dispatched FROM cases c WHERE c.id = $1::bigint"
                                " FOR NO KEY UPDATE",
                                &p1, err);
    if (!res)
        goto err;
    if (PQntuples(res) == 0) {
        PQclear(res);
        cl_err_set(err, CL_NOT_FOUND, "case_id", "case %" PRIu64 " does not exist", cmd->case_id);
        goto err;
    }
    Caseloop__V1__CaseState from = (Caseloop__V1__CaseState)cl_row_int(res, 0, "state");
    out->site = strdup(cl_row_text(res, 0, "site"));
    bool dispatched = cl_row_bool(res, 0, "dispatched");
    PQclear(res);
    if (!out->site)
        abort();
    Caseloop__V1__CaseState to;
    if (cl_lifecycle_next(from, (cl_action_t)cmd->action, dispatched, cmd->satisfied, &to, err) < 0)
        goto err;
    const char *milestone = s_milestone(to, cmd->action);
    char sql[256];
    /* The milestone column comes from a fixed list above, never from input. */
    snprintf(sql, sizeof sql,
             "UPDATE cases SET state = $2::smallint, satisfied = coalesce(nullif($3, '')::bool, satisfied)%s%s%s"
             " WHERE id = $1::bigint",
             milestone ? ", " : "", milestone ? milestone : "", milestone ? " = cl_us_to_ts($4::bigint)" : "");
    cl_sql_params_t p2;
    cl_sql_params_init(&p2);
    cl_sql_uint(&p2, cmd->case_id);
    cl_sql_int(&p2, to);
    cl_sql_text(&p2, cmd->has_satisfied ? (cmd->satisfied ? "t" : "f") : "");
    if (milestone)
        cl_sql_int(&p2, now_us);
    if (cl_sql_cmd(db, sql, &p2, err) < 0)
        goto err;

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
    if ((out->turn = cl_publisher_commit(pub, db, &out->ev, 1, now_us, err)) > 0)
        return 0;
    cl_command_event_release(out); /* rolled back */
    return -1;
err:
    cl_db_rollback(db);
    cl_command_event_release(out);
    return -1;
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
