/* test_callbacks.c - the callback-scheduler with intake, the dispatcher and escalation on the
   real database: every closed case gets the callback its kind calls for, in a window, by a
   person of the right role; attempts, records and their refusals, C6 per callback, the
   timers on the settable business clock; a killed scheduler and two at once decide each
   closing once. */
#include "trio.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define A(x) CASELOOP__V1__CASE_ACTION__CASE_ACTION_##x
#define OUT(x) CASELOOP__V1__ATTEMPT_OUTCOME__ATTEMPT_OUTCOME_##x
#define MODE(x) CASELOOP__V1__CALLBACK_MODE__CALLBACK_MODE_##x
#define US INT64_C(1000000)
#define DAY (INT64_C(86400) * US)

static cl_svc_t s_cb, s_cb2;
static void *s_cbd; /* a DEALER to the scheduler */

/* Starts a callback-scheduler listening to intake. */
static int s_start(cl_svc_t *svc)
{
    static char listen[300], intake[300];
    snprintf(listen, sizeof listen, "CL_CALLBACK_LISTEN=%.*s", (int)sizeof cl_trio.intake.pub, cl_trio.intake.pub);
    snprintf(intake, sizeof intake, "CL_CALLBACK_INTAKE=%.*s", (int)sizeof cl_trio.intake.router, cl_trio.intake.router);
    const char *env[] = {listen, intake, "CL_IDLE_MS=100", NULL};
    return cl_svc_start(svc, "caseloop-callback", env);
}

/* The CLI reaches the scheduler and intake the tests started. */
static void s_cli_env(void)
{
    setenv("CL_CALLBACK_ROUTER", s_cb.router, 1);
    setenv("CL_INTAKE_ROUTER", cl_trio.intake.router, 1);
}

static int s_setup(void **state)
{
    if (cl_trio_setup(state) < 0 || s_start(&s_cb) < 0)
        return -1;
    s_cbd = cl_test_dealer(s_cb.router);
    s_cli_env();
    return 0;
}

static int s_teardown(void **state)
{
    cl_test_close(&s_cbd);
    int a = cl_svc_stop(&s_cb, SIGTERM, 0);
    return cl_trio_teardown(state) == 0 && a == 0 ? 0 : -1;
}

/* What a submitted case is. */
typedef struct {
    Caseloop__V1__Kind kind;
    bool major, anonymous, letter, do_not_call;
    const char *window; /* a preferred window, or NULL */
} s_case_t;

/* Submits case n of site as spec says and takes it to CLOSED; returns its id. */
static uint64_t s_closed(const char *site, long n, const s_case_t *spec)
{
    Caseloop__V1__Case c;
    char xid[32], contact[32], text[80];
    cl_test_case(&c, site, "cb", xid, sizeof xid, n);
    snprintf(contact, sizeof contact, "1390000%05ld", n);
    snprintf(text, sizeof text, "problem number %ld of its kind", n);
    c.kind = spec->kind;
    c.description = text;
    c.has_severity = 1;
    c.severity = spec->major ? CASELOOP__V1__SEVERITY__SEVERITY_MAJOR : CASELOOP__V1__SEVERITY__SEVERITY_GENERAL;
    c.customer_contact = spec->anonymous ? "" : contact;
    c.customer_name = spec->anonymous ? "" : "Wang";
    c.has_anonymous = 1, c.anonymous = spec->anonymous;
    c.has_reply_letter_only = 1, c.reply_letter_only = spec->letter;
    Caseloop__V1__CustomerPreferences p = CASELOOP__V1__CUSTOMER_PREFERENCES__INIT;
    char *windows[1] = {(char *)spec->window};
    if (spec->window)
        p.windows = windows, p.n_windows = 1;
    p.has_do_not_call = 1, p.do_not_call = spec->do_not_call;
    c.preferences = spec->window || spec->do_not_call ? &p : NULL;
    cl_env_t *r = cl_test_submit(cl_trio.in, &c, CL_TRIO_REPLY_MS);
    assert_non_null(r);
    if (r->body_case != CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE_REPLY)
        fail_msg("case %ld refused: %s", n, r->body_case == CASELOOP__V1__ENVELOPE__BODY_ERROR ? r->error->message : "?");
    uint64_t id = r->submit_case_reply->case_id;
    cl_codec_free(r);
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS, "SELECT count(*) FROM dispatches WHERE case_id = %llu AND department <> ''",
                        (unsigned long long)id);
    cl_trio_command(id, A(ACKNOWLEDGE), NULL);
    cl_trio_command(id, A(FIRST_CONTACT), "we come by");
    cl_trio_command(id, A(RESOLVE), "done");
    cl_trio_command(id, A(CLOSE), NULL);
    return id;
}

static long long s_scalar(const char *fmt, unsigned long long id)
{
    char sql[600];
    snprintf(sql, sizeof sql, fmt, id);
    return cl_test_scalar(sql);
}

/* Sends a request to the scheduler; the reply is the caller's. */
static cl_env_t *s_call(cl_env_t *env)
{
    cl_env_t *r = cl_test_call(s_cbd, env, CL_TRIO_REPLY_MS);
    assert_non_null(r);
    return r;
}

static cl_env_t *s_attempt(uint64_t cb, Caseloop__V1__AttemptOutcome outcome, int mode, int64_t call_at)
{
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__AttemptCallback a = CASELOOP__V1__ATTEMPT_CALLBACK__INIT;
    a.has_callback_id = 1, a.callback_id = cb;
    a.has_outcome = 1, a.outcome = outcome;
    a.by = "cs1";
    if (mode)
        a.has_mode = 1, a.mode = (Caseloop__V1__CallbackMode)mode;
    if (call_at)
        a.has_call_at_us = 1, a.call_at_us = call_at;
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_ATTEMPT_CALLBACK;
    env.attempt_callback = &a;
    return s_call(&env);
}

/* Expects r to be an Error of code on field; frees it. */
static void s_refused(cl_env_t *r, cl_code_t code, const char *field)
{
    if (r->body_case != CASELOOP__V1__ENVELOPE__BODY_ERROR)
        fail_msg("expected a refusal on %s, got body %d", field, r->body_case);
    assert_string_equal(cl_err_code_name(r->error->code), cl_err_code_name(code));
    assert_string_equal(r->error->field, field);
    cl_codec_free(r);
}

/* The callback id of case id's callback number n (0 when none). */
static uint64_t s_callback_of(uint64_t id, int n)
{
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT coalesce(max(id), 0) FROM callbacks WHERE case_id = %llu AND number = %d",
             (unsigned long long)id, n);
    return (uint64_t)cl_test_scalar(sql);
}

/* A complaint (number n of site) closed, once it has its first callback: the case; *cb that
   callback, and *day (unless NULL) the midnight, site time, of its slot's day. */
static uint64_t s_called(const char *site, long n, uint64_t *cb, int64_t *day)
{
    s_case_t spec = {.kind = CASELOOP__V1__KIND__KIND_COMPLAINT};
    uint64_t id = s_closed(site, n, &spec);
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS, "SELECT count(*) FROM callbacks WHERE case_id = %llu", (unsigned long long)id);
    *cb = s_callback_of(id, 1);
    if (day)
        *day = s_scalar("SELECT cl_ts_to_us(date_trunc('day', slot_start AT TIME ZONE 'Asia/Shanghai')"
                        " AT TIME ZONE 'Asia/Shanghai') FROM callbacks WHERE id = %llu",
                        (unsigned long long)*cb);
    return id;
}

/* R-CB-1: a closed complaint gets a callback in a callback window of the site, by an
   assistant of customer service, within 3 days; the first one is a visit. */
static void test_a_closed_complaint_is_called_back_in_a_window_by_an_assistant(void **state)
{
    (void)state;
    s_case_t spec = {.kind = CASELOOP__V1__KIND__KIND_COMPLAINT};
    uint64_t id = s_closed("site-a", 1, &spec);
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS, "SELECT count(*) FROM callbacks WHERE case_id = %llu", (unsigned long long)id);
    assert_int_equal(s_scalar("SELECT count(*) FROM callbacks WHERE case_id = %llu AND state = 1 AND number = 1"
                              " AND performer IN ('cs1', 'cs2') AND NOT late"
                              " AND deadline = closed_at + interval '3 days' AND slot_start < deadline"
                              " AND slot_start >= closed_at AND modes = 4",
                              id),
                     1);
    /* Inside 09:30-10:30 or 14:30-16:30, Shanghai time. */
    assert_int_equal(s_scalar("SELECT count(*) FROM callbacks, LATERAL (SELECT (slot_start AT TIME ZONE 'Asia/Shanghai')::time"
                              " AS a, (slot_end AT TIME ZONE 'Asia/Shanghai')::time AS b) t WHERE case_id = %llu"
                              " AND ((t.a >= '09:30' AND t.b <= '10:30') OR (t.a >= '14:30' AND t.b <= '16:30'))",
                              id),
                     1);
    assert_int_equal(s_scalar("SELECT count(*) FROM events WHERE case_id = %llu AND type = 'CallbackScheduled'", id), 1);
    /* The CLI shows it among the callbacks of the case. */
    char args[64], out[4096];
    snprintf(args, sizeof args, "callbacks --case %llu", (unsigned long long)id);
    assert_int_equal(cl_test_cli(args, out, sizeof out), 0);
    assert_non_null(strstr(out, "scheduled"));
    assert_non_null(strstr(out, "visit"));
}

/* R-CB-7: anonymous and reply-letter-only cases get no callback, nor does a customer who
   asked not to be called; each closing says so once, naming the rule. */
static void test_no_callback_by_rule_is_said_once_with_the_rule(void **state)
{
    (void)state;
    s_case_t anon = {.kind = CASELOOP__V1__KIND__KIND_COMPLAINT, .anonymous = true},
             letter = {.kind = CASELOOP__V1__KIND__KIND_COMPLAINT, .letter = true},
             dnc = {.kind = CASELOOP__V1__KIND__KIND_COMPLAINT, .do_not_call = true};
    uint64_t ids[3] = {s_closed("site-a", 11, &anon), s_closed("site-a", 12, &letter), s_closed("site-a", 13, &dnc)};
    for (int i = 0; i < 3; i++) {
        cl_test_wait_scalar(1, CL_TRIO_WAIT_MS, "SELECT count(*) FROM events WHERE case_id = %llu AND type = 'CallbackSkipped'",
                            (unsigned long long)ids[i]);
        assert_int_equal(s_scalar("SELECT count(*) FROM callbacks WHERE case_id = %llu", ids[i]), 0);
    }
    /* Skipped by rule: not counted in the month's tally of complaints. */
    assert_int_equal(s_scalar("SELECT count(*) FROM callback_draws WHERE case_id IN (%llu)", ids[0]), 0);
    char args[64], out[8192];
    snprintf(args, sizeof args, "case show %llu", (unsigned long long)ids[0]);
    assert_int_equal(cl_test_cli(args, out, sizeof out), 0);
    assert_non_null(strstr(out, "R-CB-7"));
}

/* R-CB-2: busy moves the callback to the time the customer named (inside a window), or the
   next slot; after the policy's 3 attempts it ends unreachable. */
static void test_attempts_move_the_callback_and_the_last_ends_it_unreachable(void **state)
{
    (void)state;
    uint64_t cb;
    int64_t day;
    uint64_t id = s_called("site-a", 21, &cb, &day);
    /* A time outside every window, or in the past, is refused and changes nothing. */
    s_refused(s_attempt(cb, OUT(BUSY), 0, day + DAY + 12 * 3600 * US), CL_INVALID_ARGUMENT, "call_at_us");
    s_refused(s_attempt(cb, OUT(BUSY), 0, cl_test_clock_now() - 60 * US), CL_INVALID_ARGUMENT, "call_at_us");
    s_refused(s_attempt(cb + 1000000, OUT(BUSY), 0, 0), CL_NOT_FOUND, "callback_id");
    assert_int_equal(s_scalar("SELECT attempts FROM callbacks WHERE id = %llu", cb), 0);
    /* Busy: the customer names 15:00 the day after the slot's day. */
    int64_t named = day + DAY + 15 * 3600 * US;
    cl_env_t *r = s_attempt(cb, OUT(BUSY), 0, named);
    assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_ATTEMPT_CALLBACK_REPLY);
    assert_int_equal(r->attempt_callback_reply->callback->slot_start_us, named);
    cl_codec_free(r);
    assert_int_equal(s_scalar("SELECT count(*) FROM callbacks WHERE id = %llu AND attempts = 1 AND state = 1"
                              " AND cl_ts_to_us(slot_start) = cl_ts_to_us(slot_end) - 5400000000",
                              cb),
                     1);
    /* Unreachable: the next slot, then the third attempt ends it. */
    r = s_attempt(cb, OUT(UNREACHABLE), 0, 0);
    assert_int_equal(r->attempt_callback_reply->callback->state, CASELOOP__V1__CALLBACK_STATE__CALLBACK_STATE_SCHEDULED);
    assert_true(r->attempt_callback_reply->callback->slot_start_us >= named);
    cl_codec_free(r);
    r = s_attempt(cb, OUT(UNREACHABLE), 0, 0);
    assert_int_equal(r->attempt_callback_reply->callback->state, CASELOOP__V1__CALLBACK_STATE__CALLBACK_STATE_UNREACHABLE);
    cl_codec_free(r);
    s_refused(s_attempt(cb, OUT(REACHED), MODE(VISIT), 0), CL_CONFLICT, "callback_id");
    assert_int_equal(s_scalar("SELECT count(*) FROM events WHERE case_id = %llu AND type = 'CallbackAttempted'", id), 3);
    assert_int_equal(s_scalar("SELECT count(*) FROM events WHERE case_id = %llu AND type = 'CallbackUnreachable'", id), 1);
}

/* Fills a record that the test policy's aspects accept. */
static void s_record_init(Caseloop__V1__CallbackRecord *rec, Caseloop__V1__AspectScore *sc,
                          Caseloop__V1__AspectScore **sp)
{
    static const char *const aspects[] = {"result", "service", "staff"};
    caseloop__v1__callback_record__init(rec);
    for (int i = 0; i < 3; i++) {
        caseloop__v1__aspect_score__init(&sc[i]);
        sc[i].aspect = (char *)aspects[i];
        sc[i].has_score = 1, sc[i].score = 4;
        sp[i] = &sc[i];
    }
    rec->scores = sp, rec->n_scores = 3;
    rec->has_mode = 1, rec->mode = MODE(VISIT);
    rec->signature_ref = "doc-77";
    rec->has_satisfied = 1, rec->satisfied = 1;
    rec->has_recommend = 1, rec->recommend = 9;
}

static cl_env_t *s_record(uint64_t cb, Caseloop__V1__CallbackRecord *rec)
{
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__RecordCallback q = CASELOOP__V1__RECORD_CALLBACK__INIT;
    q.has_callback_id = 1, q.callback_id = cb;
    q.by = "cs1";
    q.record = rec;
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_RECORD_CALLBACK;
    env.record_callback = &q;
    return s_call(&env);
}

/* R-CB-3, R-CB-4 and C6: a reached callback (in a mode it may use) arms its own record
   clock; a record with a score out of range, a low score without a reason, a visit without
   the customer's signature, or for a callback not reached or recorded already is refused
   on its field; the record filed meets that callback's C6. */
static void test_a_reached_callback_is_recorded_and_its_record_meets_its_c6(void **state)
{
    (void)state;
    s_case_t spec = {.kind = CASELOOP__V1__KIND__KIND_COMPLAINT};
    uint64_t id = s_closed("site-a", 31, &spec);
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS, "SELECT count(*) FROM callbacks WHERE case_id = %llu", (unsigned long long)id);
    uint64_t cb = s_callback_of(id, 1);
    Caseloop__V1__CallbackRecord rec;
    Caseloop__V1__AspectScore sc[3], *sp[3];
    s_record_init(&rec, sc, sp);
    s_refused(s_record(cb, &rec), CL_CONFLICT, "callback_id"); /* not reached yet */
    s_refused(s_attempt(cb, OUT(REACHED), MODE(PHONE), 0), CL_INVALID_ARGUMENT, "mode"); /* the first is a visit */
    s_refused(s_attempt(cb, OUT(REACHED), 0, 0), CL_INVALID_ARGUMENT, "mode");
    cl_env_t *r = s_attempt(cb, OUT(REACHED), MODE(VISIT), 0);
    assert_int_equal(r->attempt_callback_reply->callback->state, CASELOOP__V1__CALLBACK_STATE__CALLBACK_STATE_REACHED);
    cl_codec_free(r);
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C6' AND callback_id = %llu AND state = 1",
                        (unsigned long long)id, (unsigned long long)cb);
    sc[1].score = 6;
    s_refused(s_record(cb, &rec), CL_INVALID_ARGUMENT, "record.scores[1].score");
    sc[1].score = 2;
    s_refused(s_record(cb, &rec), CL_INVALID_ARGUMENT, "record.scores[1].reason");
    sc[1].reason = "came late";
    rec.signature_ref = NULL;
    s_refused(s_record(cb, &rec), CL_INVALID_ARGUMENT, "record.signature_ref");
    rec.signature_ref = "doc-77";
    rec.n_scores = 2;
    s_refused(s_record(cb, &rec), CL_INVALID_ARGUMENT, "record.scores");
    rec.n_scores = 3;
    rec.recommend = 11;
    s_refused(s_record(cb, &rec), CL_INVALID_ARGUMENT, "record.recommend");
    rec.recommend = 9;
    assert_int_equal(s_scalar("SELECT count(*) FROM callbacks WHERE id = %llu AND state = 2 AND record IS NULL", cb), 1);
    r = s_record(cb, &rec);
    assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_RECORD_CALLBACK_REPLY);
    assert_int_equal(r->record_callback_reply->callback->state, CASELOOP__V1__CALLBACK_STATE__CALLBACK_STATE_RECORDED);
    cl_codec_free(r);
    s_refused(s_record(cb, &rec), CL_CONFLICT, "callback_id"); /* recorded already */
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C6' AND callback_id = %llu AND state = 2",
                        (unsigned long long)id, (unsigned long long)cb);
    assert_int_equal(s_scalar("SELECT count(*) FROM events WHERE case_id = %llu AND type = 'CallbackRecorded'", id), 1);
    /* A reopening and a second closing: callback number 2, which may be a phone call. */
    cl_trio_command(id, A(REOPEN), "not fixed after all");
    cl_trio_command(id, A(RESOLVE), "done now");
    cl_trio_command(id, A(CLOSE), NULL);
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS, "SELECT count(*) FROM callbacks WHERE case_id = %llu AND number = 2"
                        " AND modes = 6", (unsigned long long)id);
}

/* A reached callback of a new complaint of site-a (number n): its callback id. */
static uint64_t s_reached(long n, uint64_t *case_id)
{
    uint64_t cb, id = s_called("site-a", n, &cb, NULL);
    cl_env_t *r = s_attempt(cb, OUT(REACHED), MODE(VISIT), 0);
    assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_ATTEMPT_CALLBACK_REPLY);
    cl_codec_free(r);
    *case_id = id;
    return cb;
}

/* s_reached, and rec a record of it whose customer is not satisfied (sc, sp: its scores). */
static uint64_t s_unsatisfied(long n, uint64_t *case_id, Caseloop__V1__CallbackRecord *rec,
                              Caseloop__V1__AspectScore sc[3], Caseloop__V1__AspectScore *sp[3])
{
    uint64_t cb = s_reached(n, case_id);
    s_record_init(rec, sc, sp);
    rec->satisfied = 0;
    return cb;
}

/* R-CB-5, R-CB-6: a customer not satisfied has the case reopened through intake with their
   words, back to its department, and each new problem raised becomes a case of its own
   linked to it (C7); the outbox sent again (a crash after sending, before marking it sent)
   changes nothing; a problem fixed during the callback counts as satisfied. Malformed
   outcomes are refused on their field. */
static void test_an_unsatisfied_customer_reopens_the_case_and_new_problems_become_cases(void **state)
{
    (void)state;
    uint64_t id;
    Caseloop__V1__CallbackRecord rec;
    Caseloop__V1__AspectScore sc[3], *sp[3];
    uint64_t cb = s_unsatisfied(3001, &id, &rec, sc, sp);
    s_refused(s_record(cb, &rec), CL_INVALID_ARGUMENT, "record.customer_words");
    rec.has_fixed_during_callback = 1, rec.fixed_during_callback = 1;
    s_refused(s_record(cb, &rec), CL_INVALID_ARGUMENT, "record.notes");
    rec.satisfied = 1;
    rec.notes = "reset the valve while there";
    s_refused(s_record(cb, &rec), CL_INVALID_ARGUMENT, "record.fixed_during_callback");
    rec.satisfied = 0, rec.fixed_during_callback = 0, rec.has_fixed_during_callback = 0;
    rec.customer_words = "the pipe still leaks when it rains";
    Caseloop__V1__RaisedProblem raised[2], *rp[2];
    for (int i = 0; i < 2; i++) {
        caseloop__v1__raised_problem__init(&raised[i]);
        rp[i] = &raised[i];
    }
    raised[0].description = "the corridor lamp on floor 3 flickers";
    raised[0].location = "block 2, floor 3";
    raised[1].description = "";
    rec.raised = rp, rec.n_raised = 2;
    s_refused(s_record(cb, &rec), CL_INVALID_ARGUMENT, "record.raised[1].description");
    raised[1].description = "the parking gate card reader is slow";
    raised[1].has_kind = 1, raised[1].kind = CASELOOP__V1__KIND__KIND_REPAIR;
    cl_env_t *r = s_record(cb, &rec);
    assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_RECORD_CALLBACK_REPLY);
    /* The customer is told when they hear from the department: the site's promise from now. */
    assert_true(r->record_callback_reply->has_respond_by_us);
    assert_true(r->record_callback_reply->respond_by_us > r->record_callback_reply->callback->closed_at_us);
    cl_codec_free(r);
    /* Through intake: the case reopened once, two new cases linked to it, each with C7. */
    cl_test_wait_scalar(3, CL_TRIO_WAIT_MS, "SELECT count(*) FROM callback_outbox WHERE callback_id = %llu AND sent_at IS NOT NULL",
                        (unsigned long long)cb);
    assert_int_equal(s_scalar("SELECT count(*) FROM cases WHERE id = %llu AND state = 6", id), 1); /* REOPENED */
    assert_int_equal(s_scalar("SELECT count(*) FROM cases WHERE raised_in_callback_of = %llu", id), 2);
    assert_int_equal(s_scalar("SELECT count(*) FROM cases WHERE raised_in_callback_of = %llu AND kind = 2"
                              " AND channel = 13 AND customer_contact <> ''", id),
                     1);
    cl_test_wait_scalar(2, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE code = 'C7' AND case_id IN"
                        " (SELECT id FROM cases WHERE raised_in_callback_of = %llu)",
                        (unsigned long long)id);
    const char *reopens = "SELECT count(*) FROM events e WHERE case_id = %llu AND type = 'CaseUpdated'"
                          " AND position > (SELECT max(position) FROM events WHERE case_id = e.case_id AND type = 'CallbackMade')";
    assert_int_equal(s_scalar(reopens, id), 1);
    /* Sent again: intake answers each as a repeat, and nothing changes. */
    assert_int_equal(s_scalar("WITH u AS (UPDATE callback_outbox SET sent_at = NULL WHERE callback_id = %llu RETURNING 1)"
                              " SELECT count(*) FROM u", cb),
                     3);
    cl_test_wait_scalar(3, CL_TRIO_WAIT_MS, "SELECT count(*) FROM callback_outbox WHERE callback_id = %llu AND sent_at IS NOT NULL"
                        " AND (outcome LIKE '%%(repeat)' OR outcome LIKE '%% repeated')", (unsigned long long)cb);
    assert_int_equal(s_scalar(reopens, id), 1);
    assert_int_equal(s_scalar("SELECT count(*) FROM cases WHERE raised_in_callback_of = %llu", id), 2);
    assert_int_equal(s_scalar("SELECT count(*) FROM events WHERE case_id = %llu AND type = 'CallbackRecorded'", id), 1);
    /* Fixed during the callback: satisfied, nothing sent. */
    uint64_t id2, cb2 = s_reached(3002, &id2);
    s_record_init(&rec, sc, sp);
    rec.satisfied = 0;
    rec.has_fixed_during_callback = 1, rec.fixed_during_callback = 1;
    rec.notes = "tightened the tap during the visit";
    r = s_record(cb2, &rec);
    assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_RECORD_CALLBACK_REPLY);
    assert_false(r->record_callback_reply->has_respond_by_us);
    cl_codec_free(r);
    assert_int_equal(s_scalar("SELECT count(*) FROM callback_outbox WHERE callback_id = %llu", cb2), 0);
    assert_int_equal(s_scalar("SELECT count(*) FROM cases WHERE id = %llu AND state = 15", id2), 1); /* still CLOSED */
}

/* The outbox outlives a crash: with intake stopped, a record's reopening waits in the
   outbox; the scheduler is killed and started again, intake goes on, and the case is
   reopened exactly once (the copy the first scheduler left in intake's queue and the one
   the second sends meet at the command's key). */
static void test_a_reopening_waits_for_intake_and_outlives_a_killed_scheduler(void **state)
{
    (void)state;
    uint64_t id;
    Caseloop__V1__CallbackRecord rec;
    Caseloop__V1__AspectScore sc[3], *sp[3];
    uint64_t cb = s_unsatisfied(3003, &id, &rec, sc, sp);
    rec.customer_words = "nobody came";
    assert_int_equal(kill(cl_trio.intake.pid, SIGSTOP), 0);
    cl_env_t *r = s_record(cb, &rec);
    assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_RECORD_CALLBACK_REPLY);
    cl_codec_free(r);
    assert_int_equal(s_scalar("SELECT count(*) FROM callback_outbox WHERE callback_id = %llu AND sent_at IS NULL", cb), 1);
    assert_int_equal(cl_svc_stop(&s_cb, SIGKILL, 0), 128 + SIGKILL);
    assert_int_equal(kill(cl_trio.intake.pid, SIGCONT), 0);
    assert_int_equal(s_start(&s_cb), 0);
    cl_test_close(&s_cbd);
    s_cbd = cl_test_dealer(s_cb.router);
    s_cli_env();
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS, "SELECT count(*) FROM callback_outbox WHERE callback_id = %llu AND sent_at IS NOT NULL",
                        (unsigned long long)cb);
    assert_int_equal(s_scalar("SELECT count(*) FROM cases WHERE id = %llu AND state = 6", id), 1);
    assert_int_equal(s_scalar("SELECT count(*) FROM events e WHERE case_id = %llu AND type = 'CaseUpdated'"
                              " AND position > (SELECT max(position) FROM events WHERE case_id = e.case_id"
                              " AND type = 'CallbackMade')",
                              id),
                     1);
    assert_int_equal(s_scalar("SELECT count(*) FROM command_keys WHERE case_id = %llu AND source = 'callback-scheduler'", id), 1);
    /* A reopening of a case that is not closed (it is reopened already) is refused; nothing changes. */
    cl_env_t *again = cl_test_command(cl_trio.in, id, A(REOPEN), "cs1", "once more", -1);
    s_refused(again, CL_CONFLICT, "action");
    assert_int_equal(s_scalar("SELECT count(*) FROM cases WHERE id = %llu AND state = 6", id), 1);
}

static cl_env_t *s_review(uint64_t cb, const char *by, const char *opinion)
{
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__ReviewCallback q = CASELOOP__V1__REVIEW_CALLBACK__INIT;
    q.has_callback_id = 1, q.callback_id = cb;
    q.by = (char *)by;
    q.opinion = (char *)opinion;
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_REVIEW_CALLBACK;
    env.review_callback = &q;
    return s_call(&env);
}

/* Whether `callbacks WHAT --site site-a` (the CLI) lists callback cb. */
static bool s_listed(const char *what, uint64_t cb)
{
    char args[128], out[1 << 16], line[48];
    snprintf(args, sizeof args, "callbacks %s --site site-a", what);
    assert_int_equal(cl_test_cli(args, out, sizeof out), 0);
    snprintf(line, sizeof line, "callback %-6llu ", (unsigned long long)cb);
    return strstr(out, line) != NULL;
}

/* R-CB-8, R-CB-9: the records waiting for review are listed per site; only a supervisor or
   above of the site may review one, once, with an opinion (CallbackReviewed); the callbacks
   not ended yet are listed, and a recorded one is not among them. */
static void test_a_supervisor_reviews_a_record_once_and_what_is_not_ended_is_listed(void **state)
{
    (void)state;
    uint64_t id, cb = s_reached(3004, &id);
    s_refused(s_review(cb, "cs-sup", "fine"), CL_CONFLICT, "callback_id"); /* nothing recorded yet */
    assert_true(s_listed("open", cb));
    Caseloop__V1__CallbackRecord rec;
    Caseloop__V1__AspectScore sc[3], *sp[3];
    s_record_init(&rec, sc, sp);
    cl_codec_free(s_record(cb, &rec));
    assert_false(s_listed("open", cb));
    assert_true(s_listed("review", cb));
    s_refused(s_review(cb, "cs1", "fine"), CL_PERMISSION_DENIED, "by");   /* an assistant */
    s_refused(s_review(cb, "nobody", "fine"), CL_PERMISSION_DENIED, "by"); /* not staff of the site */
    s_refused(s_review(cb, "cs-sup", ""), CL_INVALID_ARGUMENT, "opinion");
    s_refused(s_review(UINT64_C(9999999), "cs-sup", "fine"), CL_NOT_FOUND, "callback_id");
    cl_env_t *r = s_review(cb, "head", "the visit was well prepared");
    assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_REVIEW_CALLBACK_REPLY);
    assert_string_equal(r->review_callback_reply->callback->reviewed_by, "head");
    assert_string_equal(r->review_callback_reply->callback->review_opinion, "the visit was well prepared");
    cl_codec_free(r);
    s_refused(s_review(cb, "cs-sup", "again"), CL_CONFLICT, "callback_id"); /* once */
    assert_false(s_listed("review", cb));
    assert_int_equal(s_scalar("SELECT count(*) FROM events WHERE case_id = %llu AND type = 'CallbackReviewed'", id), 1);
    /* From the CLI too, and case show tells it. */
    uint64_t id2, cb2 = s_reached(3005, &id2);
    s_record_init(&rec, sc, sp);
    cl_codec_free(s_record(cb2, &rec));
    char args[160], out[1 << 16];
    snprintf(args, sizeof args, "callback review --id %llu --by cs-sup --opinion 'signed off'", (unsigned long long)cb2);
    assert_int_equal(cl_test_cli(args, out, sizeof out), 0);
    assert_non_null(strstr(out, "reviewed by cs-sup"));
    snprintf(args, sizeof args, "case show %llu", (unsigned long long)id2);
    assert_int_equal(cl_test_cli(args, out, sizeof out), 0);
    assert_non_null(strstr(out, "reviewed: signed off"));
}

static cl_env_t *s_reply_letter(uint64_t case_id, const char *site, const char *text)
{
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__AttachReplyLetter q = CASELOOP__V1__ATTACH_REPLY_LETTER__INIT;
    q.has_case_id = 1, q.case_id = case_id;
    q.site = (char *)site;
    q.by = "cs1";
    q.text = (char *)text;
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_ATTACH_REPLY_LETTER;
    env.attach_reply_letter = &q;
    return s_call(&env);
}

static cl_env_t *s_open_letter(uint64_t *ids, size_t n)
{
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__SendOpenLetter q = CASELOOP__V1__SEND_OPEN_LETTER__INIT;
    q.site = "site-a";
    q.by = "cs-sup";
    q.document_ref = "notice-2026-12";
    q.case_ids = ids, q.n_case_ids = n;
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_SEND_OPEN_LETTER;
    env.send_open_letter = &q;
    return s_call(&env);
}

/* R-CB-7, seed 000 section 1.10: a reply letter is kept with an anonymous case (which gets no
   callback) and told in its history; it is refused for an unknown case, a case of another
   site, a case that is called back, or with no words. An open letter answers cases of one
   problem at one site at once: stored once, kept with each, their scheduled callbacks ended
   answered by it; cases of another site or problem, or named twice, are refused. */
static void test_letters_answer_cases_without_a_callback_and_end_the_callbacks_they_answer(void **state)
{
    (void)state;
    s_case_t anon = {.kind = CASELOOP__V1__KIND__KIND_COMPLAINT, .anonymous = true},
             plain = {.kind = CASELOOP__V1__KIND__KIND_COMPLAINT},
             repair = {.kind = CASELOOP__V1__KIND__KIND_REPAIR};
    uint64_t a = s_closed("site-a", 3010, &anon);
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS, "SELECT count(*) FROM events WHERE case_id = %llu AND type = 'CallbackSkipped'",
                        (unsigned long long)a);
    uint64_t other_site = s_closed("site-b", 3011, &anon);
    uint64_t called[2] = {s_closed("site-a", 3012, &plain), s_closed("site-a", 3013, &plain)};
    for (int i = 0; i < 2; i++)
        cl_test_wait_scalar(1, CL_TRIO_WAIT_MS, "SELECT count(*) FROM callbacks WHERE case_id = %llu AND state = 1",
                            (unsigned long long)called[i]);
    s_refused(s_reply_letter(UINT64_C(99999999), "site-a", "sorry"), CL_NOT_FOUND, "case_id");
    s_refused(s_reply_letter(other_site, "site-a", "sorry"), CL_INVALID_ARGUMENT, "case_id");
    s_refused(s_reply_letter(called[0], "site-a", "sorry"), CL_CONFLICT, "case_id");
    s_refused(s_reply_letter(a, "site-a", ""), CL_INVALID_ARGUMENT, "text");
    cl_env_t *r = s_reply_letter(a, "site-a", "We have repaired the lamp you wrote about.");
    assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_ATTACH_REPLY_LETTER_REPLY);
    uint64_t letter = r->attach_reply_letter_reply->letter_id;
    cl_codec_free(r);
    assert_int_equal(s_scalar("SELECT count(*) FROM letter_cases WHERE case_id = %llu", a), 1);
    assert_int_equal(s_scalar("SELECT count(*) FROM events WHERE case_id = %llu AND type = 'ReplyLetterAttached'", a), 1);
    char args[160], out[1 << 16];
    snprintf(args, sizeof args, "case show %llu", (unsigned long long)a);
    assert_int_equal(cl_test_cli(args, out, sizeof out), 0);
    char told[80];
    snprintf(told, sizeof told, "reply letter %llu attached", (unsigned long long)letter);
    assert_non_null(strstr(out, told));
    /* An open letter: refused for another site, another problem, a case named twice. */
    uint64_t mixed[2] = {called[0], other_site};
    s_refused(s_open_letter(mixed, 2), CL_INVALID_ARGUMENT, "case_ids[1]");
    uint64_t fix = s_closed("site-a", 3014, &repair);
    uint64_t kinds[2] = {called[0], fix};
    s_refused(s_open_letter(kinds, 2), CL_INVALID_ARGUMENT, "case_ids[1]");
    uint64_t twice[2] = {called[0], called[0]};
    s_refused(s_open_letter(twice, 2), CL_INVALID_ARGUMENT, "case_ids[1]");
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM letters WHERE open"), 0); /* nothing changed */
    r = s_open_letter(called, 2);
    assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_SEND_OPEN_LETTER_REPLY);
    assert_int_equal(r->send_open_letter_reply->callbacks_ended, 2);
    letter = r->send_open_letter_reply->letter_id;
    cl_codec_free(r);
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM letters WHERE open"), 1);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(s_scalar("SELECT count(*) FROM callbacks WHERE case_id = %llu AND state = 5 AND letter_id IS NOT NULL"
                                  " AND next_fire_at IS NULL",
                                  called[i]),
                         1);
        assert_int_equal(s_scalar("SELECT count(*) FROM events WHERE case_id = %llu AND type = 'OpenLetterSent'", called[i]),
                         1);
        assert_false(s_listed("open", s_callback_of(called[i], 1)));
    }
    assert_int_equal(s_scalar("SELECT count(*) FROM letter_cases WHERE letter_id = %llu", letter), 2);
}

/* The loop of RULES.md section 5 as the demo of scripts/run-local tells it: a closed complaint
   is called back; the customer is busy and names a time; the next attempt finds them not
   satisfied, so the case is reopened through intake, back with its department with the
   clocks that start on a reopening running; it is closed again and the second callback, by
   phone now, finds them satisfied; a supervisor reviews the first record; repairs are drawn
   in their share, and one is not called back; an anonymous case gets a reply letter. */
static void test_the_demo_story_closes_the_loop(void **state)
{
    (void)state;
    uint64_t cb;
    int64_t day;
    uint64_t id = s_called("site-a", 3030, &cb, &day);
    int64_t named = day + DAY + 15 * 3600 * US;
    cl_env_t *r = s_attempt(cb, OUT(BUSY), 0, named);
    assert_int_equal(r->attempt_callback_reply->callback->slot_start_us, named);
    cl_codec_free(r);
    r = s_attempt(cb, OUT(REACHED), MODE(VISIT), 0);
    assert_int_equal(r->attempt_callback_reply->callback->state, CASELOOP__V1__CALLBACK_STATE__CALLBACK_STATE_REACHED);
    cl_codec_free(r);
    Caseloop__V1__CallbackRecord rec;
    Caseloop__V1__AspectScore sc[3], *sp[3];
    s_record_init(&rec, sc, sp);
    rec.satisfied = 0;
    sc[0].score = 2, sc[0].reason = "still loud after 1 am";
    rec.customer_words = "the pump is still loud at night";
    r = s_record(cb, &rec);
    assert_true(r->record_callback_reply->has_respond_by_us);
    cl_codec_free(r);
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS, "SELECT count(*) FROM cases WHERE id = %llu AND state = 6", (unsigned long long)id);
    /* Back with the department: the clock that starts on a reopening runs (R1 in the tests' policy). */
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS, "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'R1' AND state = 1",
                        (unsigned long long)id);
    cl_trio_command(id, A(ACKNOWLEDGE), NULL);
    cl_trio_command(id, A(FIRST_CONTACT), "we replace the pump tomorrow night");
    cl_trio_command(id, A(RESOLVE), "the pump was replaced");
    cl_codec_free(cl_test_command(cl_trio.in, id, A(REPORT_RESULT), "cs1", "quiet at last", 1));
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS, "SELECT count(*) FROM callbacks WHERE case_id = %llu AND number = 2",
                        (unsigned long long)id);
    uint64_t cb2 = s_callback_of(id, 2);
    r = s_attempt(cb2, OUT(REACHED), MODE(PHONE), 0); /* the second may be a phone call */
    assert_int_equal(r->attempt_callback_reply->callback->state, CASELOOP__V1__CALLBACK_STATE__CALLBACK_STATE_REACHED);
    cl_codec_free(r);
    s_record_init(&rec, sc, sp);
    rec.mode = MODE(PHONE);
    r = s_record(cb2, &rec);
    assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_RECORD_CALLBACK_REPLY);
    assert_false(r->record_callback_reply->has_respond_by_us);
    cl_codec_free(r);
    r = s_review(cb, "cs-sup", "reworked in time");
    assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_REVIEW_CALLBACK_REPLY);
    cl_codec_free(r);
    assert_int_equal(s_scalar("SELECT count(*) FROM events WHERE case_id = %llu AND type = 'CallbackRecorded'", id), 2);
    assert_int_equal(s_scalar("SELECT count(*) FROM cases WHERE id = %llu AND state = 15", id), 1);
    /* Repairs are drawn in their share: closing them one by one, one is soon not called back. */
    s_case_t repair = {.kind = CASELOOP__V1__KIND__KIND_REPAIR};
    bool skipped = false;
    for (long n = 0; n < 6 && !skipped; n++) {
        uint64_t rid = s_closed("site-b", 3040 + n, &repair);
        cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                            "SELECT count(*) FROM events WHERE case_id = %llu AND type IN ('CallbackScheduled', 'CallbackSkipped')",
                            (unsigned long long)rid);
        skipped = s_scalar("SELECT count(*) FROM events WHERE case_id = %llu AND type = 'CallbackSkipped'", rid) == 1;
    }
    assert_true(skipped);
    /* An anonymous case: no callback, a reply letter. */
    s_case_t anon = {.kind = CASELOOP__V1__KIND__KIND_SAFETY, .anonymous = true};
    uint64_t a = s_closed("site-a", 3050, &anon);
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS, "SELECT count(*) FROM events WHERE case_id = %llu AND type = 'CallbackSkipped'",
                        (unsigned long long)a);
    r = s_reply_letter(a, "site-a", "the railing was replaced this week");
    assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_ATTACH_REPLY_LETTER_REPLY);
    cl_codec_free(r);
}

/* Closes case id again after a reopening, the customer satisfied. */
static void s_close_again(uint64_t id)
{
    cl_trio_command(id, A(ACKNOWLEDGE), NULL);
    cl_trio_command(id, A(FIRST_CONTACT), "we come again");
    cl_trio_command(id, A(RESOLVE), "done again");
    cl_codec_free(cl_test_command(cl_trio.in, id, A(REPORT_RESULT), "cs1", "fine now", 1));
}

/* Reaches callback cb (a visit for the first, a phone call after) and files its record:
   satisfied or not (then the customer's words), with `raised` new problems. */
static void s_outcome(uint64_t cb, bool first, bool satisfied, size_t raised, long n)
{
    cl_codec_free(s_attempt(cb, OUT(REACHED), first ? MODE(VISIT) : MODE(PHONE), 0));
    Caseloop__V1__CallbackRecord rec;
    Caseloop__V1__AspectScore sc[3], *sp[3];
    s_record_init(&rec, sc, sp);
    rec.mode = first ? MODE(VISIT) : MODE(PHONE);
    rec.satisfied = satisfied;
    rec.customer_words = satisfied ? NULL : "it is not fixed";
    Caseloop__V1__RaisedProblem p = CASELOOP__V1__RAISED_PROBLEM__INIT, *pp = &p;
    char what[80];
    snprintf(what, sizeof what, "a new problem number %ld raised in a callback", n);
    p.description = what;
    rec.raised = raised ? &pp : NULL, rec.n_raised = raised;
    cl_env_t *r = s_record(cb, &rec);
    if (r->body_case != CASELOOP__V1__ENVELOPE__BODY_RECORD_CALLBACK_REPLY)
        fail_msg("record of callback %llu refused: %s", (unsigned long long)cb,
                 r->body_case == CASELOOP__V1__ENVELOPE__BODY_ERROR ? r->error->message : "?");
    cl_codec_free(r);
}

/* The first column of the query fmt makes of a range of case ids (two %llu). */
static long long s_range(const char *fmt, unsigned long long lo, unsigned long long hi)
{
    char sql[600];
    snprintf(sql, sizeof sql, fmt, lo, hi);
    return cl_test_scalar(sql);
}

enum { MIXED = 500 };

/* 500 closed complaints over two sites with mixed outcomes: satisfied, reviewed; not satisfied
   (reopened through intake, closed again, called back again: a second and for some a third
   callback); new problems raised (each a linked case with C7); unreachable; answered by an
   open letter; anonymous ones answered by a reply letter. Halfway, with intake stopped, 20
   records are filed and the scheduler is killed before it could send them; started again,
   with intake going on, each decision is applied once. At the end every callback has ended,
   and each reopening and new case exists exactly once per decision. */
static void test_five_hundred_closings_with_mixed_outcomes_each_decided_once(void **state)
{
    (void)state;
    static uint64_t ids[MIXED], cbs[MIXED];
    long long before = cl_test_scalar("SELECT count(*) FROM events WHERE type IN ('CallbackScheduled', 'CallbackSkipped')");
    for (long n = 0; n < MIXED; n++) {
        s_case_t spec = {.kind = CASELOOP__V1__KIND__KIND_COMPLAINT, .anonymous = n % 25 == 24};
        ids[n] = s_closed(n % 2 ? "site-b" : "site-a", 4000 + n, &spec);
    }
    cl_test_wait_scalar(MIXED + before, 60000,
                        "SELECT count(*) FROM events WHERE type IN ('CallbackScheduled', 'CallbackSkipped')");
    long unsatisfied = 0, raised = 0, reviewed = 0, unreachable = 0, lettered = 0, replied = 0, thirds = 0;
    for (long n = 0; n < MIXED; n++) {
        if (n % 25 == 24) { /* anonymous: a reply letter */
            cl_codec_free(s_reply_letter(ids[n], n % 2 ? "site-b" : "site-a", "answered by letter"));
            replied++;
            continue;
        }
        cbs[n] = s_callback_of(ids[n], 1);
        assert_true(cbs[n] > 0);
        if (n == MIXED / 2) /* intake stops taking requests: what is decided now waits in the outbox */
            assert_int_equal(kill(cl_trio.intake.pid, SIGSTOP), 0);
        switch (n % 5) {
        case 0: s_outcome(cbs[n], true, true, 0, n); break;
        case 1: s_outcome(cbs[n], true, false, 0, n), unsatisfied++; break;
        case 2: s_outcome(cbs[n], true, true, 1, n), raised++; break;
        case 3:
            for (int k = 0; k < 3; k++)
                cl_codec_free(s_attempt(cbs[n], OUT(UNREACHABLE), 0, 0));
            unreachable++;
            break;
        default: break; /* answered by an open letter below */
        }
        if (n == MIXED / 2 + 20) { /* 20 decided, none sent: the scheduler dies; intake goes on */
            assert_true(cl_test_scalar("SELECT count(*) FROM callback_outbox WHERE sent_at IS NULL") > 0);
            assert_int_equal(cl_svc_stop(&s_cb, SIGKILL, 0), 128 + SIGKILL);
            assert_int_equal(kill(cl_trio.intake.pid, SIGCONT), 0);
            assert_int_equal(s_start(&s_cb), 0);
            cl_test_close(&s_cbd);
            s_cbd = cl_test_dealer(s_cb.router);
            s_cli_env();
        }
    }
    /* The reopened ones come back closed and get their second callback; one in ten is not
       satisfied again and gets a third. */
    cl_test_wait_scalar(0, 60000, "SELECT count(*) FROM callback_outbox WHERE sent_at IS NULL");
    for (int round = 2; round <= 3; round++) {
        for (long n = 1; n < MIXED; n += 5) {
            if (n % 25 == 24 || (round == 3 && n % 10 != 1))
                continue;
            cl_test_wait_scalar(1, CL_TRIO_WAIT_MS, "SELECT count(*) FROM cases WHERE id = %llu AND state = 6",
                                (unsigned long long)ids[n]);
            s_close_again(ids[n]);
        }
        for (long n = 1; n < MIXED; n += 5) {
            if (n % 25 == 24 || (round == 3 && n % 10 != 1))
                continue;
            cl_test_wait_scalar(1, CL_TRIO_WAIT_MS, "SELECT count(*) FROM callbacks WHERE case_id = %llu AND number = %d",
                                (unsigned long long)ids[n], round);
            bool again = round == 2 && n % 10 == 1;
            s_outcome(s_callback_of(ids[n], round), false, !again, 0, n);
            if (again)
                unsatisfied++, thirds++;
        }
        cl_test_wait_scalar(0, 60000, "SELECT count(*) FROM callback_outbox WHERE sent_at IS NULL");
    }
    /* One open letter per site answers the rest. */
    for (int site = 0; site < 2; site++) {
        static uint64_t group[MIXED];
        size_t g = 0;
        for (long n = 4; n < MIXED; n += 5)
            if (n % 2 == site && n % 25 != 24)
                group[g++] = ids[n];
        cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
        Caseloop__V1__SendOpenLetter q = CASELOOP__V1__SEND_OPEN_LETTER__INIT;
        q.site = site ? "site-b" : "site-a";
        q.by = "cs-sup";
        q.text = "to every customer who wrote about it";
        q.case_ids = group, q.n_case_ids = g;
        env.body_case = CASELOOP__V1__ENVELOPE__BODY_SEND_OPEN_LETTER;
        env.send_open_letter = &q;
        cl_env_t *r = s_call(&env);
        if (r->body_case != CASELOOP__V1__ENVELOPE__BODY_SEND_OPEN_LETTER_REPLY)
            fail_msg("open letter refused: %s", r->body_case == CASELOOP__V1__ENVELOPE__BODY_ERROR ? r->error->message : "?");
        assert_int_equal(r->send_open_letter_reply->callbacks_ended, g);
        cl_codec_free(r);
        lettered += (long)g;
    }
    for (long n = 0; n < MIXED; n += 10)
        if (n % 25 != 24) {
            cl_codec_free(s_review(cbs[n], "cs-sup", "checked"));
            reviewed++;
        }
    /* Every callback of these cases has ended; each decision was applied once. */
    unsigned long long lo = ids[0], hi = ids[MIXED - 1];
    /* every reopened case closed again, none reopened twice; every callback ended */
    assert_int_equal(s_range("SELECT count(*) FROM cases WHERE id BETWEEN %llu AND %llu AND state <> 15", lo, hi), 0);
    assert_int_equal(s_range("SELECT count(*) FROM callbacks WHERE case_id BETWEEN %llu AND %llu AND state IN (1, 2)", lo, hi),
                     0);
    assert_int_equal(s_range("SELECT count(*) FROM callbacks WHERE case_id BETWEEN %llu AND %llu AND state = 5", lo, hi),
                     lettered);
    assert_int_equal(s_range("SELECT count(*) FROM callbacks WHERE case_id BETWEEN %llu AND %llu AND state = 4", lo, hi),
                     unreachable);
    assert_int_equal(s_range("SELECT count(*) FROM command_keys WHERE source = 'callback-scheduler'"
                             " AND case_id BETWEEN %llu AND %llu",
                             lo, hi),
                     unsatisfied);
    assert_int_equal(s_range("SELECT count(*) FROM cases c WHERE c.id BETWEEN %llu AND %llu AND c.state = 15"
                             " AND (SELECT count(*) FROM callbacks b WHERE b.case_id = c.id) = 3",
                             lo, hi),
                     thirds);
    assert_int_equal(s_range("SELECT count(*) FROM cases WHERE raised_in_callback_of BETWEEN %llu AND %llu", lo, hi), raised);
    cl_test_wait_scalar(raised, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE code = 'C7' AND case_id IN"
                        " (SELECT id FROM cases WHERE raised_in_callback_of BETWEEN %llu AND %llu)",
                        lo, hi);
    assert_int_equal(s_range("SELECT count(*) FROM events WHERE type = 'CallbackReviewed' AND case_id BETWEEN %llu AND %llu",
                             lo, hi),
                     reviewed);
    assert_int_equal(s_range("SELECT count(*) FROM events WHERE type = 'ReplyLetterAttached'"
                             " AND case_id BETWEEN %llu AND %llu",
                             lo, hi),
                     replied);
}

/* Intake killed as it takes the outbox's requests (it is let go and killed at once, so the
   first request may be applied, or not, and its answer lost), then started again on its
   endpoints: each reopening decided is applied exactly once. */
static void test_intake_killed_while_receiving_applies_each_reopening_once(void **state)
{
    (void)state;
    enum { N = 10 };
    uint64_t ids[N], cbs[N];
    for (long n = 0; n < N; n++)
        cbs[n] = s_reached(3100 + n, &ids[n]);
    assert_int_equal(kill(cl_trio.intake.pid, SIGSTOP), 0);
    for (long n = 0; n < N; n++) {
        Caseloop__V1__CallbackRecord rec;
        Caseloop__V1__AspectScore sc[3], *sp[3];
        s_record_init(&rec, sc, sp);
        rec.satisfied = 0;
        rec.customer_words = "still broken";
        cl_codec_free(s_record(cbs[n], &rec));
    }
    assert_int_equal(kill(cl_trio.intake.pid, SIGCONT), 0);
    assert_int_equal(cl_svc_stop(&cl_trio.intake, SIGKILL, 1), 128 + SIGKILL);
    assert_int_equal(cl_svc_restart(&cl_trio.intake, "caseloop-intake", NULL), 0);
    char sql[300];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM callback_outbox WHERE callback_id BETWEEN %llu AND %llu AND sent_at IS NOT NULL",
             (unsigned long long)cbs[0], (unsigned long long)cbs[N - 1]);
    cl_test_wait_scalar(N, 30000, "%s", sql);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM cases WHERE id BETWEEN %llu AND %llu AND state = 6",
             (unsigned long long)ids[0], (unsigned long long)ids[N - 1]);
    assert_int_equal(cl_test_scalar(sql), N);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM command_keys WHERE source = 'callback-scheduler' AND case_id BETWEEN %llu AND %llu",
             (unsigned long long)ids[0], (unsigned long long)ids[N - 1]);
    assert_int_equal(cl_test_scalar(sql), N);
    /* One CaseUpdated (the reopening) after each callback was made, no more. */
    for (long n = 0; n < N; n++)
        assert_int_equal(s_scalar("SELECT count(*) FROM events e WHERE case_id = %llu AND type = 'CaseUpdated'"
                                  " AND position > (SELECT max(position) FROM events WHERE case_id = e.case_id"
                                  " AND type = 'CallbackMade')",
                                  ids[n]),
                         1);
}

/* Deadlines are timers: on the business clock, a slot that passes with nothing done, and then
   the deadline with the callback still open, each tell the customer-service supervisor once. */
static void test_a_passed_slot_and_a_passed_deadline_tell_the_supervisor_once(void **state)
{
    (void)state;
    s_case_t spec = {.kind = CASELOOP__V1__KIND__KIND_COMPLAINT};
    uint64_t id = s_closed("site-c", 41, &spec); /* a site with no callbacks yet: a slot before the deadline */
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS, "SELECT count(*) FROM callbacks WHERE case_id = %llu AND NOT late",
                        (unsigned long long)id);
    uint64_t cb = s_callback_of(id, 1);
    int64_t slot_end = s_scalar("SELECT cl_ts_to_us(slot_end) FROM callbacks WHERE id = %llu", cb);
    cl_test_clock_shift(slot_end - cl_test_clock_now() + US);
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS, "SELECT count(*) FROM callbacks WHERE id = %llu AND slot_missed AND NOT overdue",
                        (unsigned long long)cb);
    int64_t deadline = s_scalar("SELECT cl_ts_to_us(deadline) FROM callbacks WHERE id = %llu", cb);
    cl_test_clock_shift(deadline - cl_test_clock_now() + US);
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM callbacks WHERE id = %llu AND overdue AND next_fire_at IS NULL",
                        (unsigned long long)cb);
    assert_int_equal(s_scalar("SELECT count(*) FROM events WHERE case_id = %llu AND type = 'CallbackOverdue'", id), 2);
}

/* The customer changes their wishes after submission: refused on the field at fault when
   wrong, kept with the case (CasePreferencesChanged) and followed by the next placement. */
static void test_preferences_changed_later_are_followed_by_the_next_slot(void **state)
{
    (void)state;
    s_case_t spec = {.kind = CASELOOP__V1__KIND__KIND_COMPLAINT};
    uint64_t id = s_closed("site-a", 51, &spec);
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS, "SELECT count(*) FROM callbacks WHERE case_id = %llu", (unsigned long long)id);
    uint64_t cb = s_callback_of(id, 1);
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__SetPreferences q = CASELOOP__V1__SET_PREFERENCES__INIT;
    Caseloop__V1__CustomerPreferences p = CASELOOP__V1__CUSTOMER_PREFERENCES__INIT;
    char *bad[1] = {"16:00-15:00"};
    p.windows = bad, p.n_windows = 1;
    q.has_case_id = 1, q.case_id = id;
    q.actor = "cs1";
    q.preferences = &p;
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_SET_PREFERENCES;
    env.set_preferences = &q;
    s_refused(cl_test_call(cl_trio.in, &env, CL_TRIO_REPLY_MS), CL_INVALID_ARGUMENT, "preferences.windows[0]");
    char *good[1] = {"15:00-16:00"};
    p.windows = good;
    q.case_id = 987654321;
    s_refused(cl_test_call(cl_trio.in, &env, CL_TRIO_REPLY_MS), CL_NOT_FOUND, "case_id");
    assert_int_equal(s_scalar("SELECT count(*) FROM cases WHERE id = %llu AND preferences IS NULL", id), 1);
    char args[128], out[2048];
    snprintf(args, sizeof args, "preferences %llu --actor cs1 --window 15:00-16:00 --mode phone", (unsigned long long)id);
    assert_int_equal(cl_test_cli(args, out, sizeof out), 0);
    assert_int_equal(s_scalar("SELECT count(*) FROM events WHERE case_id = %llu AND type = 'CasePreferencesChanged'", id), 1);
    /* The performer sees them with the callback; the next slot keeps to them. */
    cl_env_t le = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__ListCallbacks lq = CASELOOP__V1__LIST_CALLBACKS__INIT;
    lq.has_case_id = 1, lq.case_id = id;
    le.body_case = CASELOOP__V1__ENVELOPE__BODY_LIST_CALLBACKS;
    le.list_callbacks = &lq;
    cl_env_t *r = s_call(&le);
    assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_LIST_CALLBACKS_REPLY);
    assert_int_equal(r->list_callbacks_reply->n_callbacks, 1);
    assert_non_null(r->list_callbacks_reply->callbacks[0]->preferences);
    assert_string_equal(r->list_callbacks_reply->callbacks[0]->preferences->windows[0], "15:00-16:00");
    cl_codec_free(r);
    cl_codec_free(s_attempt(cb, OUT(UNREACHABLE), 0, 0));
    assert_int_equal(s_scalar("SELECT count(*) FROM callbacks WHERE id = %llu AND state = 1 AND attempts = 1"
                              " AND (slot_start AT TIME ZONE 'Asia/Shanghai')::time >= '15:00'"
                              " AND (slot_end AT TIME ZONE 'Asia/Shanghai')::time <= '16:00'",
                              cb),
                     1);
}

/* 1,000 closings of mixed kinds over two sites, the scheduler killed halfway and a second one
   running beside the first: each closing is decided exactly once (one task or one skip), the
   shares hold, and nothing is decided twice. */
static void test_a_thousand_closings_each_decided_once_through_a_kill_and_two_instances(void **state)
{
    (void)state;
    const Caseloop__V1__Kind kinds[] = {CASELOOP__V1__KIND__KIND_COMPLAINT, CASELOOP__V1__KIND__KIND_REPAIR,
                                        CASELOOP__V1__KIND__KIND_INQUIRY, CASELOOP__V1__KIND__KIND_SUGGESTION};
    long long before = cl_test_scalar("SELECT count(*) FROM events WHERE type IN ('CallbackScheduled', 'CallbackSkipped')");
    uint64_t first = 0;
    for (long n = 0; n < 1000; n++) {
        s_case_t spec = {.kind = kinds[n % 4], .major = n % 10 == 9, .anonymous = n % 50 == 7,
                         .window = n % 5 == 0 ? "14:00-16:00" : NULL};
        uint64_t id = s_closed(n % 2 ? "site-b" : "site-a", 1000 + n, &spec);
        if (!first)
            first = id;
        if (n == 400)
            assert_int_equal(cl_svc_stop(&s_cb, SIGKILL, 0), 128 + SIGKILL);
        if (n == 450) {
            assert_int_equal(s_start(&s_cb), 0);
            cl_test_close(&s_cbd);
            s_cbd = cl_test_dealer(s_cb.router);
            s_cli_env();
        }
        if (n == 600)
            assert_int_equal(s_start(&s_cb2), 0);
    }
    cl_test_wait_scalar(1000 + before, 60000,
                        "SELECT count(*) FROM events WHERE type IN ('CallbackScheduled', 'CallbackSkipped')");
    char sql[400];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM (SELECT case_id FROM events WHERE case_id >= %llu"
             " AND type IN ('CallbackScheduled', 'CallbackSkipped') GROUP BY case_id HAVING count(*) <> 1) x",
             (unsigned long long)first);
    assert_int_equal(cl_test_scalar(sql), 0);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM callbacks WHERE case_id >= %llu", (unsigned long long)first);
    long long tasks = cl_test_scalar(sql);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM events WHERE case_id >= %llu AND type = 'CallbackScheduled'", (unsigned long long)first);
    assert_int_equal(cl_test_scalar(sql), tasks);
    /* Every complaint not anonymous is called back; repairs near 30%, the rest near 10%. */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM cases c WHERE c.id >= %llu AND c.kind = 1 AND NOT c.anonymous"
             " AND NOT EXISTS (SELECT 1 FROM callbacks b WHERE b.case_id = c.id)",
             (unsigned long long)first);
    assert_int_equal(cl_test_scalar(sql), 0);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM callbacks b JOIN cases c ON c.id = b.case_id WHERE c.id >= %llu AND c.kind = 2",
             (unsigned long long)first);
    long long repairs = cl_test_scalar(sql);
    assert_true(repairs >= 66 && repairs <= 84); /* 30% of about 245 not anonymous, within its band */
    /* Callbacks with preferences stay inside them (14:00-16:00 customer time = site time). */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM callbacks b JOIN cases c ON c.id = b.case_id WHERE c.id >= %llu"
             " AND c.preferences IS NOT NULL AND b.slot_start IS NOT NULL"
             " AND ((b.slot_start AT TIME ZONE 'Asia/Shanghai')::time < '14:00'"
             " OR (b.slot_end AT TIME ZONE 'Asia/Shanghai')::time > '16:00')",
             (unsigned long long)first);
    assert_int_equal(cl_test_scalar(sql), 0);
    /* No performer over the window's capacity (4). */
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM (SELECT 1 FROM callbacks WHERE performer IS NOT NULL"
                                    " GROUP BY site, performer, window_start HAVING count(*) > 4) x"),
                     0);
    /* The performers' loads, counted as the callbacks of every test so far were placed,
       attempted, made and recorded, are what the callbacks themselves say. */
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM (SELECT site, performer, coalesce(window_start, '-infinity') AS w,"
                                    " count(*) AS placed, count(*) FILTER (WHERE state = 1) AS open FROM callbacks"
                                    " WHERE performer IS NOT NULL GROUP BY 1, 2, 3) a"
                                    " FULL JOIN (SELECT * FROM callback_loads WHERE placed <> 0 OR open <> 0) l"
                                    " ON (a.site, a.performer, a.w) = (l.site, l.performer, l.window_start)"
                                    " WHERE a.placed IS DISTINCT FROM l.placed OR a.open IS DISTINCT FROM l.open"),
                     0);
    assert_true(cl_test_scalar("SELECT count(*) FROM callback_loads") > 0);
    assert_int_equal(cl_svc_stop(&s_cb2, SIGTERM, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_closed_complaint_is_called_back_in_a_window_by_an_assistant),
        cmocka_unit_test(test_no_callback_by_rule_is_said_once_with_the_rule),
        cmocka_unit_test(test_attempts_move_the_callback_and_the_last_ends_it_unreachable),
        cmocka_unit_test(test_a_reached_callback_is_recorded_and_its_record_meets_its_c6),
        cmocka_unit_test(test_preferences_changed_later_are_followed_by_the_next_slot),
        cmocka_unit_test(test_a_supervisor_reviews_a_record_once_and_what_is_not_ended_is_listed),
        cmocka_unit_test(test_letters_answer_cases_without_a_callback_and_end_the_callbacks_they_answer),
        cmocka_unit_test(test_the_demo_story_closes_the_loop),
        cmocka_unit_test(test_a_thousand_closings_each_decided_once_through_a_kill_and_two_instances),
        cmocka_unit_test(test_an_unsatisfied_customer_reopens_the_case_and_new_problems_become_cases),
        cmocka_unit_test(test_a_reopening_waits_for_intake_and_outlives_a_killed_scheduler),
        cmocka_unit_test(test_five_hundred_closings_with_mixed_outcomes_each_decided_once),
        cmocka_unit_test(test_intake_killed_while_receiving_applies_each_reopening_once),
        cmocka_unit_test(test_a_passed_slot_and_a_passed_deadline_tell_the_supervisor_once),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
