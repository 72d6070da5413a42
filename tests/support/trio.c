/* trio.c - intake, the dispatcher and escalation running together on the test database. */
#include "trio.h"
#include <signal.h>
#include <stdio.h>
#include <string.h>

cl_trio_t cl_trio;

int cl_trio_start_escalation(cl_svc_t *svc)
{
    const char *env[] = {cl_trio.listen, "CL_IDLE_MS=100", NULL};
    return cl_svc_start(svc, "caseloop-escalation", env);
}

int cl_trio_setup(void **state)
{
    (void)state;
    cl_trio_t *t = &cl_trio;
    if (cl_test_reset_db() < 0 || cl_svc_start(&t->intake, "caseloop-intake", NULL) < 0)
        return -1;
    static char pub[300];
    snprintf(pub, sizeof pub, "CL_INTAKE_PUB=%.*s", (int)sizeof t->intake.pub, t->intake.pub);
    const char *env[] = {pub, "CL_IDLE_MS=100", NULL};
    if (cl_svc_start(&t->disp, "caseloop-dispatcher", env) < 0 || cl_test_load_policy(t->disp.router) < 0)
        return -1;
    snprintf(t->listen, sizeof t->listen, "CL_ESCALATION_LISTEN=%.*s,%.*s", (int)sizeof t->intake.pub, t->intake.pub,
             (int)sizeof t->disp.pub, t->disp.pub);
    if (cl_trio_start_escalation(&t->esc) < 0)
        return -1;
    t->in = cl_test_dealer(t->intake.router);
    return 0;
}

int cl_trio_up(void **state)
{
    (void)state;
    return cl_trio.esc.pid > 0 ? 0 : cl_trio_start_escalation(&cl_trio.esc);
}

int cl_trio_teardown(void **state)
{
    (void)state;
    cl_trio_t *t = &cl_trio;
    cl_test_close(&t->in);
    int a = cl_svc_stop(&t->esc, SIGTERM, 0), b = cl_svc_stop(&t->disp, SIGTERM, 0),
        c = cl_svc_stop(&t->intake, SIGTERM, 0);
    return a == 0 && b == 0 && c == 0 ? 0 : -1;
}

cl_env_t *cl_trio_submit(const char *site, long n, bool major, uint64_t callback_of)
{
    Caseloop__V1__Case c;
    char id[32], contact[32];
    cl_test_case(&c, site, "esc", id, sizeof id, n);
    snprintf(contact, sizeof contact, "1360000%05ld", n);
    c.customer_contact = contact;
    c.kind = CASELOOP__V1__KIND__KIND_COMPLAINT;
    if (major)
        c.has_severity = 1, c.severity = CASELOOP__V1__SEVERITY__SEVERITY_MAJOR;
    if (callback_of)
        c.has_raised_in_callback_of = 1, c.raised_in_callback_of = callback_of;
    cl_env_t *reply = cl_test_submit(cl_trio.in, &c, CL_TRIO_REPLY_MS);
    assert_non_null(reply);
    return reply;
}

uint64_t cl_trio_case(const char *site, long n, bool major)
{
    cl_env_t *reply = cl_trio_submit(site, n, major, 0);
    assert_int_equal(reply->body_case, CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE_REPLY);
    uint64_t id_ = reply->submit_case_reply->case_id;
    cl_codec_free(reply);
    return id_;
}

void cl_trio_command(uint64_t id, Caseloop__V1__CaseAction action, const char *text)
{
    cl_env_t *r = cl_test_command(cl_trio.in, id, action, "cs1", text, -1);
    if (r->body_case == CASELOOP__V1__ENVELOPE__BODY_ERROR)
        fail_msg("command refused: %s", r->error->message);
    cl_codec_free(r);
}

const Caseloop__V1__Clock *cl_trio_step(const cl_env_t *ev, char *step, size_t len, int64_t *late_us)
{
    const Caseloop__V1__Clock *c = NULL;
    *late_us = 0;
    step[0] = '\0';
    switch (ev->body_case) {
    case CASELOOP__V1__ENVELOPE__BODY_CLOCK_ARMED:
        c = ev->clock_armed->clock;
        snprintf(step, len, "A");
        break;
    case CASELOOP__V1__ENVELOPE__BODY_CLOCK_WARNING:
        c = ev->clock_warning->clock;
        snprintf(step, len, "W%u", ev->clock_warning->percent);
        break;
    case CASELOOP__V1__ENVELOPE__BODY_CLOCK_MET:
        c = ev->clock_met->clock;
        snprintf(step, len, "%s", ev->clock_met->in_time ? "M" : "ML");
        break;
    case CASELOOP__V1__ENVELOPE__BODY_CLOCK_BREACHED:
        c = ev->clock_breached->clock;
        *late_us = ev->clock_breached->late_us;
        snprintf(step, len, "B");
        break;
    case CASELOOP__V1__ENVELOPE__BODY_ESCALATION_RAISED:
        c = ev->escalation_raised->clock;
        *late_us = ev->escalation_raised->late_us;
        snprintf(step, len, "R%u:%s", ev->escalation_raised->level, ev->escalation_raised->role);
        break;
    default: break;
    }
    return c;
}

void cl_trio_story(uint64_t id, const char *code, char *out, size_t len, int64_t *max_late_us)
{
    cl_db_t *db = cl_db_new(cl_test_db(), "test");
    assert_non_null(db);
    char cid[24];
    snprintf(cid, sizeof cid, "%llu", (unsigned long long)id);
    const char *p[] = {cid};
    cl_err_t err;
    PGresult *res =
        cl_db_exec(db, "SELECT envelope FROM events WHERE case_id = $1::bigint ORDER BY position", 1, p, true, &err);
    assert_non_null(res);
    size_t n = 0;
    out[0] = '\0';
    *max_late_us = 0;
    for (int r = 0; r < PQntuples(res); r++) {
        cl_env_t *ev = cl_codec_decode(PQgetvalue(res, r, 0), (size_t)PQgetlength(res, r, 0), SIZE_MAX, &err);
        assert_non_null(ev);
        char step[48];
        int64_t late;
        const Caseloop__V1__Clock *c = cl_trio_step(ev, step, sizeof step, &late);
        if (c && strcmp(c->code, code) == 0) {
            int w = snprintf(out + n, len - n, "%s%s", n ? " " : "", step);
            if (w < 0 || (size_t)w >= len - n)
                fail_msg("the story of clock %s of case %llu is longer than %zu bytes: %s...", code,
                         (unsigned long long)id, len - 1, out);
            n += (size_t)w;
            if (late > *max_late_us)
                *max_late_us = late;
        }
        cl_codec_free(ev);
    }
    PQclear(res);
    cl_db_destroy(&db);
}

void cl_trio_callback_event(const char *site, uint64_t case_id, uint64_t callback_id, bool recorded)
{
    cl_trio_callback_event_at(site, case_id, callback_id, recorded, 0);
}

void cl_trio_callback_event_at(const char *site, uint64_t case_id, uint64_t callback_id, bool recorded, int64_t at_us)
{
    cl_db_t *db = cl_db_new(cl_test_db(), "test");
    assert_non_null(db);
    int64_t now = cl_clock_now(cl_clock_real());
    int64_t at = at_us ? at_us : now;
    cl_env_t env;
    char id[CL_ID_MAX + 1];
    cl_codec_init(&env, id, "callback-scheduler", now);
    env.site = (char *)site;
    Caseloop__V1__CallbackMade made = CASELOOP__V1__CALLBACK_MADE__INIT;
    Caseloop__V1__CallbackRecorded rec = CASELOOP__V1__CALLBACK_RECORDED__INIT;
    if (recorded) {
        rec.has_callback_id = 1, rec.callback_id = callback_id;
        rec.has_case_id = 1, rec.case_id = case_id;
        rec.site = (char *)site, rec.by = "cs1";
        rec.has_recorded_at_us = 1, rec.recorded_at_us = at;
        rec.has_satisfied = 1, rec.satisfied = 1;
        env.body_case = CASELOOP__V1__ENVELOPE__BODY_CALLBACK_RECORDED;
        env.callback_recorded = &rec;
    } else {
        made.has_callback_id = 1, made.callback_id = callback_id;
        made.has_case_id = 1, made.case_id = case_id;
        made.site = (char *)site, made.by = "cs1";
        made.has_mode = 1, made.mode = CASELOOP__V1__CALLBACK_MODE__CALLBACK_MODE_PHONE;
        made.has_made_at_us = 1, made.made_at_us = at;
        env.body_case = CASELOOP__V1__ENVELOPE__BODY_CALLBACK_MADE;
        env.callback_made = &made;
    }
    cl_event_t ev = {&env, (int64_t)case_id, {0}};
    cl_err_t err;
    if (cl_db_begin(db, &err) < 0 || cl_eventlog_append(db, &ev, 1, now, &err) < 0 || cl_db_commit(db, &err) < 0)
        fail_msg("callback event: %s", err.message);
    cl_eventlog_release(&ev, 1);
    cl_db_destroy(&db);
}

void cl_trio_pass_until(int64_t at_us)
{
    assert_true(cl_test_pass_until(at_us));
}

void cl_trio_pass(int seconds)
{
    cl_trio_pass_until(cl_clock_now(cl_clock_real()) + seconds * 1000000LL);
}
