/* test_clock_events.c - what the case's events do to its clocks: waiting on the customer
   pauses them, reopening, a return and a transfer start them, callbacks arm and meet the
   record clock (C6) and a problem raised in a callback has its own (C7). */
#include "trio.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define A(x) CASELOOP__V1__CASE_ACTION__CASE_ACTION_##x
#define FULL "A W50 W80 B R1:supervisor R2:project_head R3:leadership"

static void test_a_clock_waits_while_the_case_waits_on_the_customer(void **state)
{
    (void)state;
    uint64_t id = cl_trio_case("site-a", 800, false), late = cl_trio_case("site-a", 801, false),
             probe = cl_trio_case("site-a", 802, false);
    char sql[300];
    cl_test_wait_scalar(2, CL_TRIO_WAIT_MS, "SELECT count(*) FROM clocks WHERE case_id = %llu", (unsigned long long)id);
    cl_trio_command(id, A(ACKNOWLEDGE), NULL);
    cl_trio_command(id, A(WAIT_FOR_CUSTOMER), "waiting for the owner to be home");
    /* A clock already breached stays breached, but its ladder stops climbing while the case waits. */
    cl_trio_command(late, A(ACKNOWLEDGE), NULL);
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C3' AND level >= 1",
                        (unsigned long long)late);
    cl_trio_command(late, A(WAIT_FOR_CUSTOMER), "owner away");
    int64_t late_paused = cl_clock_now(cl_clock_real()); /* no earlier than the pause */
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C3' AND state = 3"
                        " AND paused_at IS NOT NULL AND next_fire_at IS NULL",
                        (unsigned long long)late);
    char levels[300];
    snprintf(levels, sizeof levels, "SELECT count(*) FROM events WHERE case_id = %llu AND type = 'EscalationRaised'",
             (unsigned long long)late);
    long long told = cl_test_scalar(levels);
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C3' AND state = 6",
                        (unsigned long long)id);
    /* Past the time it would have been due: it does not breach while paused. The probe, armed
       after both, has been told every level: the service has fired past their moments. */
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C3' AND level = 3",
                        (unsigned long long)probe);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM events WHERE case_id = %llu AND type = 'ClockBreached'",
             (unsigned long long)id);
    assert_int_equal(cl_test_scalar(sql), 0);
    assert_int_equal(cl_test_scalar(levels), told); /* past every level's time: nobody more was told */
    /* Told again after two seconds that the case waits: the pause still runs from the first time. */
    cl_trio_pass_until(late_paused + 2000000);
    cl_trio_command(late, A(WAIT_FOR_CUSTOMER), "still away");
    cl_trio_command(late, A(RESUME), NULL);
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C3' AND level = 3"
                        " AND state = 3 AND paused_at IS NULL AND paused_us >= 2000000",
                        (unsigned long long)late);
    cl_trio_command(id, A(RESUME), NULL);
    /* It counts again from where it stopped: later than it was, and then it runs out. */
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C3' AND state = 3"
                        " AND due_at > armed_at + interval '8 seconds'",
                        (unsigned long long)id);
}

static void test_a_reopened_case_arms_the_clocks_that_start_on_reopening(void **state)
{
    (void)state;
    uint64_t id = cl_trio_case("site-a", 900, false);
    cl_test_wait_scalar(2, CL_TRIO_WAIT_MS, "SELECT count(*) FROM clocks WHERE case_id = %llu", (unsigned long long)id);
    cl_trio_command(id, A(FIRST_CONTACT), "the plan");
    cl_trio_command(id, A(RESOLVE), "done");
    cl_trio_command(id, A(REOPEN), "it is back");
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'R1' AND state = 1",
                        (unsigned long long)id);
    cl_trio_command(id, A(PROGRESS), "on it again");
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'R1' AND state = 2",
                        (unsigned long long)id);
}

static void test_a_returned_case_and_a_transferred_case_get_their_clocks(void **state)
{
    (void)state;
    uint64_t id = cl_trio_case("site-a", 1000, false);
    char sql[300];
    cl_test_wait_scalar(2, CL_TRIO_WAIT_MS, "SELECT count(*) FROM clocks WHERE case_id = %llu", (unsigned long long)id);
    cl_trio_command(id, A(FIRST_CONTACT), "the plan");
    cl_trio_command(id, A(RESOLVE), "done");
    cl_env_t *r = cl_test_command(cl_trio.in, id, A(REPORT_RESULT), "cs1", NULL, 0);
    cl_codec_free(r);
    /* Not satisfied: back to the department head, whose decision has its clock (C4). */
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C4' AND state = 1",
                        (unsigned long long)id);
    /* Passed to another department: its taking the case has its clock (C5), to leadership when missed. */
    void *dp = cl_test_dealer(cl_trio.disp.router);
    cl_env_t te = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__TransferCase t = CASELOOP__V1__TRANSFER_CASE__INIT;
    t.has_case_id = 1, t.case_id = id;
    t.department = "security";
    t.actor = "cs-sup";
    te.body_case = CASELOOP__V1__ENVELOPE__BODY_TRANSFER_CASE;
    te.transfer_case = &t;
    r = cl_test_call(dp, &te, CL_TRIO_REPLY_MS);
    assert_non_null(r);
    assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_TRANSFER_CASE_REPLY);
    cl_codec_free(r);
    cl_test_close(&dp);
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C5' AND level = 1"
                        " AND responsible = 'lead'",
                        (unsigned long long)id);
    cl_trio_command(id, A(PROGRESS), "security is on it");
    cl_test_wait_scalar(2, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code IN ('C4', 'C5')"
                        " AND state IN (2, 5)",
                        (unsigned long long)id);
    /* Returned a second time: the head's decision has its clock again. */
    cl_trio_command(id, A(RESOLVE), "done again");
    cl_codec_free(cl_test_command(cl_trio.in, id, A(REPORT_RESULT), "cs1", NULL, 0));
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C4' AND state = 1"
                        " AND level = 0",
                        (unsigned long long)id);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM events WHERE case_id = %llu AND type = 'ClockArmed'",
             (unsigned long long)id);
    assert_int_equal(cl_test_scalar(sql), 5); /* C2, C3, C4, C5, and C4 again */
}

static void test_a_callback_arms_the_record_clock_that_its_record_meets(void **state)
{
    (void)state;
    uint64_t done = cl_trio_case("site-a", 1100, false), late = cl_trio_case("site-a", 1101, true);
    /* A callback about a case that does not exist (another system's mistake) arms nothing
       and holds up nothing after it. */
    cl_trio_callback_event("site-a", 987654321, 70, false);
    cl_trio_callback_event("site-a", done, 71, false);
    cl_trio_callback_event("site-a", late, 72, false);
    cl_test_wait_scalar(2, CL_TRIO_WAIT_MS, "SELECT count(*) FROM clocks WHERE case_id IN (%llu, %llu) AND code = 'C6'",
                        (unsigned long long)done, (unsigned long long)late);
    cl_trio_callback_event("site-a", done, 71, true);
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C6' AND state = 2",
                        (unsigned long long)done);
    /* The record of a major case's callback that is never filled in climbs the major ladder:
       the case's severity holds for clocks that start after its receipt. */
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C6' AND level = 2",
                        (unsigned long long)late);
    char story[256];
    int64_t lateness;
    cl_trio_story(done, "C6", story, sizeof story, &lateness);
    assert_string_equal(story, "A M");
    cl_trio_story(late, "C6", story, sizeof story, &lateness);
    assert_string_equal(story, "A W50 W80 B R1:manager R2:leadership");
    assert_true(lateness < 1000000);
}

static void test_a_problem_raised_in_a_callback_is_a_linked_case_with_its_clock(void **state)
{
    (void)state;
    uint64_t called = cl_trio_case("site-a", 1200, false);
    cl_env_t *r = cl_trio_submit("site-a", 1201, false, called);
    assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE_REPLY);
    uint64_t answered = r->submit_case_reply->case_id;
    cl_codec_free(r);
    r = cl_trio_submit("site-a", 1202, false, called);
    assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE_REPLY);
    uint64_t missed = r->submit_case_reply->case_id;
    cl_codec_free(r);
    /* The same problem as the case called back (same contact, kind and words) is still a case of
       its own, not a further report of it. */
    Caseloop__V1__Case same;
    char xid[32], contact[32];
    cl_test_case(&same, "site-a", "esc-callback", xid, sizeof xid, 1200);
    snprintf(contact, sizeof contact, "1360000%05d", 1200);
    same.customer_contact = contact;
    same.kind = CASELOOP__V1__KIND__KIND_COMPLAINT;
    same.has_raised_in_callback_of = 1, same.raised_in_callback_of = called;
    r = cl_test_submit(cl_trio.in, &same, CL_TRIO_REPLY_MS);
    assert_non_null(r);
    assert_int_equal(r->submit_case_reply->outcome, CASELOOP__V1__SUBMIT_OUTCOME__SUBMIT_OUTCOME_CREATED);
    uint64_t again = r->submit_case_reply->case_id;
    assert_true(again != called);
    cl_codec_free(r);
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS, "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C7'",
                        (unsigned long long)again);
    /* The case called back must exist, at the same site. */
    r = cl_trio_submit("site-a", 1203, false, 987654321);
    assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_ERROR);
    assert_int_equal(r->error->code, CASELOOP__V1__ERROR_CODE__NOT_FOUND);
    assert_string_equal(r->error->field, "details.raised_in_callback_of");
    cl_codec_free(r);
    r = cl_trio_submit("site-b", 1204, false, called);
    assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_ERROR);
    assert_int_equal(r->error->code, CASELOOP__V1__ERROR_CODE__INVALID_ARGUMENT);
    assert_string_equal(r->error->field, "details.raised_in_callback_of");
    cl_codec_free(r);
    char sql[300];
    cl_test_wait_scalar(2, CL_TRIO_WAIT_MS, "SELECT count(*) FROM clocks WHERE case_id IN (%llu, %llu) AND code = 'C7'",
                        (unsigned long long)answered, (unsigned long long)missed);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C7'",
             (unsigned long long)called);
    assert_int_equal(cl_test_scalar(sql), 0);
    cl_trio_command(answered, A(FIRST_CONTACT), "we look into it");
    cl_trio_command(answered, A(RESOLVE), "the answer");
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C7' AND level = 3",
                        (unsigned long long)missed);
    char story[256];
    int64_t late;
    cl_trio_story(answered, "C7", story, sizeof story, &late);
    assert_string_equal(story, "A M");
    cl_trio_story(missed, "C7", story, sizeof story, &late);
    assert_string_equal(story, FULL);
    /* The link shows on the case. */
    char out[8192], args[64];
    snprintf(args, sizeof args, "case show %llu", (unsigned long long)answered);
    setenv("CL_INTAKE_ROUTER", cl_trio.intake.router, 1);
    assert_int_equal(cl_test_cli(args, out, sizeof out), 0);
    snprintf(args, sizeof args, "raised in the callback of case %llu", (unsigned long long)called);
    assert_non_null(strstr(out, args));
}

static void test_a_clock_met_while_paused_past_its_due_time_is_met_in_time(void **state)
{
    (void)state;
    uint64_t id = cl_trio_case("site-a", 1300, false);
    char sql[300];
    cl_test_wait_scalar(2, CL_TRIO_WAIT_MS, "SELECT count(*) FROM clocks WHERE case_id = %llu", (unsigned long long)id);
    cl_trio_command(id, A(ACKNOWLEDGE), NULL);
    cl_trio_command(id, A(WAIT_FOR_CUSTOMER), "the owner calls back next week");
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C3' AND state = 6",
                        (unsigned long long)id);
    snprintf(sql, sizeof sql, "SELECT cl_ts_to_us(due_at) FROM clocks WHERE case_id = %llu AND code = 'C3'",
             (unsigned long long)id);
    long long due = cl_test_scalar(sql);
    assert_true(due > 0 && due < cl_clock_now(cl_clock_real()) + 10000000); /* a 4 s clock */
    cl_trio_pass_until(due + 1000000);
    /* The department reaches the customer while the clock stands still, after its old due time. */
    cl_trio_command(id, A(FIRST_CONTACT), "the owner called back");
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C3' AND state IN (2, 5)",
                        (unsigned long long)id);
    snprintf(sql, sizeof sql, "SELECT state FROM clocks WHERE case_id = %llu AND code = 'C3'", (unsigned long long)id);
    assert_int_equal(cl_test_scalar(sql), 2); /* met in time, not late */
    char story[256];
    int64_t late;
    cl_trio_story(id, "C3", story, sizeof story, &late);
    assert_null(strstr(story, "B"));
    size_t n = strlen(story);
    assert_true(n >= 2 && strcmp(story + n - 2, " M") == 0);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM events WHERE case_id = %llu AND type = 'ClockBreached'",
             (unsigned long long)id);
    assert_int_equal(cl_test_scalar(sql), 0);
}

static void test_paused_time_adds_up_over_pauses_and_a_retime_keeps_it(void **state)
{
    (void)state;
    static const char *const sites[] = {"site-p", NULL};
    assert_int_equal(cl_test_load_policy_with(cl_trio.disp.router, sites, cl_test_clocks(60, false)), 0);
    uint64_t id = cl_trio_case("site-p", 1700, false);
    char sql[300];
    cl_test_wait_scalar(2, CL_TRIO_WAIT_MS, "SELECT count(*) FROM clocks WHERE case_id = %llu", (unsigned long long)id);
    cl_trio_command(id, A(ACKNOWLEDGE), NULL);
    /* A pause of two seconds (told twice: the second changes nothing), then a short one:
       the second adds to the first. */
    cl_trio_command(id, A(WAIT_FOR_CUSTOMER), "owner away");
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C3' AND state = 6",
                        (unsigned long long)id);
    cl_trio_pass(2);
    cl_trio_command(id, A(WAIT_FOR_CUSTOMER), "still away");
    cl_trio_command(id, A(RESUME), NULL);
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C3' AND state = 1"
                        " AND paused_us >= 2000000",
                        (unsigned long long)id);
    snprintf(sql, sizeof sql, "SELECT paused_us FROM clocks WHERE case_id = %llu AND code = 'C3'",
             (unsigned long long)id);
    long long first = cl_test_scalar(sql);
    cl_trio_command(id, A(WAIT_FOR_CUSTOMER), "owner away again");
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C3' AND state = 6",
                        (unsigned long long)id);
    cl_trio_command(id, A(RESUME), NULL);
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C3' AND state = 1"
                        " AND paused_us > %lld",
                        (unsigned long long)id, first);
    /* Both count: the minute runs from the arming plus the two pauses. */
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C3'"
                        " AND due_at - armed_at = interval '60 seconds' + paused_us * interval '1 microsecond'",
                        (unsigned long long)id);
    snprintf(sql, sizeof sql, "SELECT paused_us FROM clocks WHERE case_id = %llu AND code = 'C3'",
             (unsigned long long)id);
    long long paused = cl_test_scalar(sql);
    /* A new version re-times it to an hour and keeps the sum. */
    static const char hour[] =
        ",\"clocks\":[{\"code\":\"C3\",\"name\":\"first contact\",\"starts_on\":\"dispatched\","
        "\"met_by\":[\"first_contact\"],\"pauses_on\":[\"wait_for_customer\"],\"resumes_on\":[\"resume\"],"
        "\"duration\":\"1h\",\"on_policy_change\":\"retime\"}]";
    assert_int_equal(cl_test_load_policy_with(cl_trio.disp.router, sites, hour), 0);
    cl_test_wait_scalar(
        1, CL_TRIO_WAIT_MS,
        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C3' AND state = 1"
        " AND paused_us = %lld AND due_at - armed_at = interval '1 hour' + %lld * interval '1 microsecond'",
        (unsigned long long)id, paused, paused);
}

/* C6 runs per callback: a case called back twice has two record clocks, each met
   by the record of its own callback and by no other. */
static void test_each_callback_of_a_case_has_its_own_record_clock(void **state)
{
    (void)state;
    static const char *const sites[] = {"site-d", NULL};
    assert_int_equal(cl_test_load_policy_with(cl_trio.disp.router, sites, cl_test_clocks(60, false)), 0);
    uint64_t id = cl_trio_case("site-d", 1800, false);
    unsigned long long cid = (unsigned long long)id;
    cl_trio_callback_event("site-d", id, 81, false);
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C6' AND callback_id = 81"
                        " AND state = 1",
                        cid);
    /* A second callback while the first one's record is still due: a clock of its own, which its
       record meets; the first one's runs on. */
    cl_trio_callback_event("site-d", id, 82, false);
    cl_trio_callback_event("site-d", id, 82, true);
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C6' AND callback_id = 82"
                        " AND state = 2",
                        cid);
    char sql[300];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C6' AND callback_id = 81 AND state = 1"
             " AND closed_at IS NULL",
             cid);
    assert_int_equal(cl_test_scalar(sql), 1);
    /* The first one's record meets the first one's clock. */
    cl_trio_callback_event("site-d", id, 81, true);
    cl_test_wait_scalar(2, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C6' AND state = 2", cid);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C6'", cid);
    assert_int_equal(cl_test_scalar(sql), 2);
    char story[256];
    int64_t late;
    cl_trio_story(id, "C6", story, sizeof story, &late);
    assert_string_equal(story, "A A M M");
}

/* A callback said to take place a little ahead of its sending counts from then while the
   site's future_skew allows it (here an hour), else from its sending (5 minutes by default). */
static void test_an_event_time_ahead_counts_within_the_skew_of_its_site(void **state)
{
    (void)state;
    static const char *const lax[] = {"site-e", NULL}, *const strict[] = {"site-f", NULL};
    char extra[8192];
    snprintf(extra, sizeof extra, "%s,\"intake\":{\"future_skew\":\"1h\"}", cl_test_clocks(60, false));
    assert_int_equal(cl_test_load_policy_with(cl_trio.disp.router, lax, extra), 0);
    assert_int_equal(cl_test_load_policy_with(cl_trio.disp.router, strict, cl_test_clocks(60, false)), 0);
    uint64_t e = cl_trio_case("site-e", 1801, false), f = cl_trio_case("site-f", 1802, false);
    long long ahead = cl_clock_now(cl_clock_real()) + 1800LL * 1000000;
    cl_trio_callback_event_at("site-e", e, 91, false, ahead);
    cl_trio_callback_event_at("site-f", f, 92, false, ahead);
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C6' AND cl_ts_to_us(armed_at) = %lld",
                        (unsigned long long)e, ahead);
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C6' AND cl_ts_to_us(armed_at) < %lld",
                        (unsigned long long)f, ahead - 1500LL * 1000000);
}

/* On the business clock a test moves, a day passes at once: a C3 of one day runs
   through it and breaches once the services' time is 25 hours on. */
static void test_a_day_passes_on_the_business_clock(void **state)
{
    (void)state;
    static const char *const sites[] = {"site-h", NULL};
    assert_int_equal(cl_test_load_policy_with(cl_trio.disp.router, sites, cl_test_clocks(86400, false)), 0);
    uint64_t id = cl_trio_case("site-h", 1900, false);
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C3' AND state = 1"
                        " AND due_at - armed_at = interval '1 day'",
                        (unsigned long long)id);
    int64_t before = cl_test_clock_now();
    cl_test_clock_shift(INT64_C(25) * 3600 * 1000000);
    assert_true(cl_test_clock_now() - before >= INT64_C(25) * 3600 * 1000000);
    cl_test_wait_scalar(1, CL_TRIO_WAIT_MS,
                        "SELECT count(*) FROM clocks WHERE case_id = %llu AND code = 'C3' AND state = 3",
                        (unsigned long long)id);
    char story[256];
    int64_t late;
    cl_trio_story(id, "C3", story, sizeof story, &late);
    assert_non_null(strstr(story, "B")); /* told breached, on the business clock's day */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_a_clock_waits_while_the_case_waits_on_the_customer, cl_trio_up),
        cmocka_unit_test_setup(test_a_reopened_case_arms_the_clocks_that_start_on_reopening, cl_trio_up),
        cmocka_unit_test_setup(test_a_returned_case_and_a_transferred_case_get_their_clocks, cl_trio_up),
        cmocka_unit_test_setup(test_a_callback_arms_the_record_clock_that_its_record_meets, cl_trio_up),
        cmocka_unit_test_setup(test_an_event_time_ahead_counts_within_the_skew_of_its_site, cl_trio_up),
        cmocka_unit_test_setup(test_a_problem_raised_in_a_callback_is_a_linked_case_with_its_clock, cl_trio_up),
        cmocka_unit_test_setup(test_a_clock_met_while_paused_past_its_due_time_is_met_in_time, cl_trio_up),
        cmocka_unit_test_setup(test_paused_time_adds_up_over_pauses_and_a_retime_keeps_it, cl_trio_up),
        cmocka_unit_test_setup(test_each_callback_of_a_case_has_its_own_record_clock, cl_trio_up),
        cmocka_unit_test_setup(test_a_day_passes_on_the_business_clock, cl_trio_up), /* last: time moved on */
    };
    return cmocka_run_group_tests(tests, cl_trio_setup, cl_trio_teardown);
}
