/* test_lifecycle.c - which command fits which case state, where it leads, and what a refusal says. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include <cmocka.h>
#include "lifecycle.h"

#define S(name) CASELOOP__V1__CASE_STATE__CASE_STATE_##name
#define ANY (-1)
#define CONFLICT (-1)

static const Caseloop__V1__CaseState STATES[] = {
    S(UNSPECIFIED), S(RECEIVED), S(ACKNOWLEDGED), S(IN_PROGRESS), S(RESOLVED),
    S(RETURNED),    S(REOPENED), S(CLOSED),       (Caseloop__V1__CaseState)42,
};

/* The names a person reads in a refusal, written out here rather than taken from the code under test. */
static const char *const STATE_NAMES[] = {
    "unknown", "received", "acknowledged", "in progress", "resolved", "returned", "reopened", "closed", "unknown",
};

static const cl_action_t ACTIONS[] = {
    CL_ACT_ACKNOWLEDGE, CL_ACT_FIRST_CONTACT, CL_ACT_PROGRESS, CL_ACT_REOPEN,
    CL_ACT_RESOLVE,     CL_ACT_REPORT_RESULT, CL_ACT_CLOSE,    CL_ACT_WAIT_FOR_CUSTOMER,
    CL_ACT_RESUME,      CL_ACT_ANSWER,        (cl_action_t)99,
};

static const char *const ACTION_NAMES[] = {
    "acknowledge", "first contact", "progress", "reopen", "resolve", "report the result of", "close",
    "wait for the customer on", "resume", "answer the customer of", NULL,
};

/* Every command that fits; anything not listed is refused. dispatched and
   satisfied are 0, 1 or ANY. */
typedef struct {
    Caseloop__V1__CaseState from;
    cl_action_t action;
    int dispatched;
    int satisfied;
    Caseloop__V1__CaseState to;
} row_t;

static const row_t FITS[] = {
    {S(RECEIVED), CL_ACT_ACKNOWLEDGE, 1, ANY, S(ACKNOWLEDGED)},
    {S(RECEIVED), CL_ACT_FIRST_CONTACT, 1, ANY, S(IN_PROGRESS)},
    {S(ACKNOWLEDGED), CL_ACT_FIRST_CONTACT, ANY, ANY, S(IN_PROGRESS)},
    {S(REOPENED), CL_ACT_ACKNOWLEDGE, ANY, ANY, S(ACKNOWLEDGED)},
    {S(REOPENED), CL_ACT_FIRST_CONTACT, ANY, ANY, S(IN_PROGRESS)},
    {S(ACKNOWLEDGED), CL_ACT_PROGRESS, ANY, ANY, S(ACKNOWLEDGED)},
    {S(IN_PROGRESS), CL_ACT_PROGRESS, ANY, ANY, S(IN_PROGRESS)},
    {S(RETURNED), CL_ACT_PROGRESS, ANY, ANY, S(RETURNED)},
    {S(REOPENED), CL_ACT_PROGRESS, ANY, ANY, S(REOPENED)},
    {S(IN_PROGRESS), CL_ACT_RESOLVE, ANY, ANY, S(RESOLVED)},
    {S(RETURNED), CL_ACT_RESOLVE, ANY, ANY, S(RESOLVED)},
    {S(REOPENED), CL_ACT_RESOLVE, ANY, ANY, S(RESOLVED)},
    {S(RESOLVED), CL_ACT_REPORT_RESULT, ANY, 1, S(CLOSED)},
    {S(RESOLVED), CL_ACT_REPORT_RESULT, ANY, 0, S(RETURNED)},
    {S(RESOLVED), CL_ACT_REOPEN, ANY, ANY, S(REOPENED)},
    {S(CLOSED), CL_ACT_REOPEN, ANY, ANY, S(REOPENED)},
    {S(RESOLVED), CL_ACT_CLOSE, ANY, ANY, S(CLOSED)},
    {S(ACKNOWLEDGED), CL_ACT_WAIT_FOR_CUSTOMER, ANY, ANY, S(ACKNOWLEDGED)},
    {S(IN_PROGRESS), CL_ACT_WAIT_FOR_CUSTOMER, ANY, ANY, S(IN_PROGRESS)},
    {S(RETURNED), CL_ACT_WAIT_FOR_CUSTOMER, ANY, ANY, S(RETURNED)},
    {S(REOPENED), CL_ACT_WAIT_FOR_CUSTOMER, ANY, ANY, S(REOPENED)},
    {S(ACKNOWLEDGED), CL_ACT_RESUME, ANY, ANY, S(ACKNOWLEDGED)},
    {S(IN_PROGRESS), CL_ACT_RESUME, ANY, ANY, S(IN_PROGRESS)},
    {S(RETURNED), CL_ACT_RESUME, ANY, ANY, S(RETURNED)},
    {S(REOPENED), CL_ACT_RESUME, ANY, ANY, S(REOPENED)},
    {S(RECEIVED), CL_ACT_ANSWER, ANY, ANY, S(RECEIVED)},
    {S(ACKNOWLEDGED), CL_ACT_ANSWER, ANY, ANY, S(ACKNOWLEDGED)},
    {S(IN_PROGRESS), CL_ACT_ANSWER, ANY, ANY, S(IN_PROGRESS)},
    {S(RESOLVED), CL_ACT_ANSWER, ANY, ANY, S(RESOLVED)},
    {S(RETURNED), CL_ACT_ANSWER, ANY, ANY, S(RETURNED)},
    {S(REOPENED), CL_ACT_ANSWER, ANY, ANY, S(REOPENED)},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int s_expected(Caseloop__V1__CaseState from, cl_action_t action, bool dispatched, bool satisfied)
{
    for (size_t i = 0; i < COUNT(FITS); i++) {
        const row_t *r = &FITS[i];
        if (r->from == from && r->action == action && (r->dispatched == ANY || r->dispatched == (int)dispatched) &&
            (r->satisfied == ANY || r->satisfied == (int)satisfied))
            return (int)r->to;
    }
    return CONFLICT;
}

/* One combination; prints what went wrong and returns false on a mismatch. */
static bool s_check(size_t si, size_t ai, bool dispatched, bool satisfied)
{
    Caseloop__V1__CaseState from = STATES[si];
    cl_action_t action = ACTIONS[ai];
    int want = s_expected(from, action, dispatched, satisfied);
    Caseloop__V1__CaseState to = (Caseloop__V1__CaseState)-7;
    cl_err_t err;
    cl_err_clear(&err);
    int rc = cl_lifecycle_next(from, action, dispatched, satisfied, &to, &err);

    bool ok;
    if (want == CONFLICT)
        ok = rc == -1 && err.code == CL_CONFLICT && strcmp(err.field, "action") == 0 &&
             strstr(err.message, STATE_NAMES[si]) != NULL &&
             (ACTION_NAMES[ai] == NULL || strstr(err.message, ACTION_NAMES[ai]) != NULL);
    else
        ok = rc == 0 && (int)to == want;
    if (!ok)
        print_error("state %d action %d dispatched %d satisfied %d: want %d, got rc %d to %d code %d field \"%s\" "
                    "message \"%s\"\n",
                    (int)from, (int)action, dispatched, satisfied, want, rc, (int)to, (int)err.code, err.field,
                    err.message);
    return ok;
}

static void test_every_state_and_action_goes_where_the_table_says(void **state)
{
    (void)state;
    int failures = 0, fits = 0;
    for (size_t si = 0; si < COUNT(STATES); si++)
        for (size_t ai = 0; ai < COUNT(ACTIONS); ai++)
            for (int d = 0; d < 2; d++)
                for (int s = 0; s < 2; s++) {
                    if (!s_check(si, ai, d, s))
                        failures++;
                    if (s_expected(STATES[si], ACTIONS[ai], d, s) != CONFLICT)
                        fits++;
                }
    assert_int_equal(failures, 0);
    /* Of the 396 combinations, 116 fit: 2 rows need dispatch (x2 satisfied), 2 fix satisfied
       (x2 dispatched), 27 take any (x4). Guards against the loop or the table going empty. */
    assert_int_equal(fits, 2 * 2 + 2 * 2 + 27 * 4);
}

/* Applies action and asserts where the case lands. */
static void s_step(Caseloop__V1__CaseState *at, cl_action_t action, bool dispatched, bool satisfied,
                   Caseloop__V1__CaseState want)
{
    cl_err_t err;
    cl_err_clear(&err);
    assert_int_equal(cl_lifecycle_next(*at, action, dispatched, satisfied, at, &err), 0);
    assert_int_equal(*at, want);
    assert_int_equal(err.code, CL_OK);
}

/* Asserts that action is refused in state at with exactly message. */
static void s_refused(Caseloop__V1__CaseState at, cl_action_t action, bool dispatched, const char *message)
{
    Caseloop__V1__CaseState to = at;
    cl_err_t err;
    cl_err_clear(&err);
    assert_int_equal(cl_lifecycle_next(at, action, dispatched, true, &to, &err), -1);
    assert_int_equal(err.code, CL_CONFLICT);
    assert_string_equal(err.field, "action");
    assert_string_equal(err.message, message);
    assert_int_equal(to, at);
}

static void test_happy_path_from_received_to_closed(void **state)
{
    (void)state;
    Caseloop__V1__CaseState at = S(RECEIVED);
    s_step(&at, CL_ACT_ACKNOWLEDGE, true, false, S(ACKNOWLEDGED));
    assert_true(cl_state_open(at));
    s_step(&at, CL_ACT_FIRST_CONTACT, true, false, S(IN_PROGRESS));
    s_step(&at, CL_ACT_PROGRESS, true, false, S(IN_PROGRESS));
    s_step(&at, CL_ACT_RESOLVE, true, false, S(RESOLVED));
    assert_true(cl_state_open(at));
    s_step(&at, CL_ACT_REPORT_RESULT, true, true, S(CLOSED));
    assert_false(cl_state_open(at));
}

static void test_department_may_call_the_customer_before_acknowledging(void **state)
{
    (void)state;
    Caseloop__V1__CaseState at = S(RECEIVED);
    s_step(&at, CL_ACT_FIRST_CONTACT, true, false, S(IN_PROGRESS));
}

static void test_a_case_not_yet_dispatched_cannot_be_acknowledged_or_contacted(void **state)
{
    (void)state;
    s_refused(S(RECEIVED), CL_ACT_ACKNOWLEDGE, false,
              "cannot acknowledge a case that is received: the case has not reached a department yet");
    s_refused(S(RECEIVED), CL_ACT_FIRST_CONTACT, false,
              "cannot first contact a case that is received: the case has not reached a department yet");
}

static void test_not_satisfied_returns_the_case_until_the_customer_is(void **state)
{
    (void)state;
    Caseloop__V1__CaseState at = S(RESOLVED);
    s_step(&at, CL_ACT_REPORT_RESULT, true, false, S(RETURNED));
    assert_true(cl_state_open(at));
    s_step(&at, CL_ACT_PROGRESS, true, false, S(RETURNED));
    s_step(&at, CL_ACT_RESOLVE, true, false, S(RESOLVED));
    s_step(&at, CL_ACT_REPORT_RESULT, true, false, S(RETURNED));
    s_step(&at, CL_ACT_RESOLVE, true, false, S(RESOLVED));
    s_step(&at, CL_ACT_REPORT_RESULT, true, true, S(CLOSED));
    assert_false(cl_state_open(at));
}

static void test_a_closed_case_can_be_reopened_and_resolved_again(void **state)
{
    (void)state;
    Caseloop__V1__CaseState at = S(CLOSED);
    s_step(&at, CL_ACT_REOPEN, true, false, S(REOPENED));
    assert_true(cl_state_open(at));
    s_step(&at, CL_ACT_PROGRESS, true, false, S(REOPENED));
    s_step(&at, CL_ACT_RESOLVE, true, false, S(RESOLVED));
    s_step(&at, CL_ACT_CLOSE, true, false, S(CLOSED));
    assert_false(cl_state_open(at));
}

static void test_a_resolved_case_can_be_reopened_before_the_customer_is_asked(void **state)
{
    (void)state;
    Caseloop__V1__CaseState at = S(RESOLVED);
    s_step(&at, CL_ACT_REOPEN, true, false, S(REOPENED));
}

static void test_refusals_name_the_action_and_the_state(void **state)
{
    (void)state;
    s_refused(S(RECEIVED), CL_ACT_RESOLVE, true, "cannot resolve a case that is received");
    s_refused(S(IN_PROGRESS), CL_ACT_REPORT_RESULT, true, "cannot report the result of a case that is in progress");
    s_refused(S(CLOSED), CL_ACT_PROGRESS, true, "cannot progress a case that is closed");
    s_refused(S(CLOSED), CL_ACT_CLOSE, true, "cannot close a case that is closed");
    s_refused(S(IN_PROGRESS), CL_ACT_REOPEN, true, "cannot reopen a case that is in progress");
    s_refused(S(RESOLVED), CL_ACT_FIRST_CONTACT, true, "cannot first contact a case that is resolved");
    s_refused(S(UNSPECIFIED), CL_ACT_RESOLVE, true, "cannot resolve a case whose state is unknown (0)");
    s_refused((Caseloop__V1__CaseState)42, CL_ACT_CLOSE, true, "cannot close a case whose state is unknown (42)");
    s_refused(S(RESOLVED), (cl_action_t)99, true, "cannot apply unknown action 99 to a case that is resolved");
    s_refused(S(RESOLVED), (cl_action_t)0, true, "cannot apply unknown action 0 to a case that is resolved");
}

static void test_a_refusal_without_an_error_to_fill_still_refuses(void **state)
{
    (void)state;
    Caseloop__V1__CaseState to = S(CLOSED);
    assert_int_equal(cl_lifecycle_next(S(CLOSED), CL_ACT_RESOLVE, true, true, &to, NULL), -1);
    assert_int_equal(to, S(CLOSED));
    assert_int_equal(cl_lifecycle_next(S(RESOLVED), CL_ACT_CLOSE, true, true, NULL, NULL), 0);
}

static void test_names(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(STATES); i++)
        assert_string_equal(cl_state_name(STATES[i]), STATE_NAMES[i]);
    assert_string_equal(cl_state_name((Caseloop__V1__CaseState)-1), "unknown");
    for (size_t i = 0; i < COUNT(ACTIONS); i++)
        assert_string_equal(cl_action_name(ACTIONS[i]), ACTION_NAMES[i] ? ACTION_NAMES[i] : "unknown");
    assert_string_equal(cl_action_name((cl_action_t)0), "unknown");
}

static void test_only_closed_and_unknown_states_are_not_open(void **state)
{
    (void)state;
    assert_false(cl_state_open(S(UNSPECIFIED)));
    assert_true(cl_state_open(S(RECEIVED)));
    assert_true(cl_state_open(S(ACKNOWLEDGED)));
    assert_true(cl_state_open(S(IN_PROGRESS)));
    assert_true(cl_state_open(S(RESOLVED)));
    assert_true(cl_state_open(S(RETURNED)));
    assert_true(cl_state_open(S(REOPENED)));
    assert_false(cl_state_open(S(CLOSED)));
    assert_false(cl_state_open((Caseloop__V1__CaseState)42));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_state_and_action_goes_where_the_table_says),
        cmocka_unit_test(test_happy_path_from_received_to_closed),
        cmocka_unit_test(test_department_may_call_the_customer_before_acknowledging),
        cmocka_unit_test(test_a_case_not_yet_dispatched_cannot_be_acknowledged_or_contacted),
        cmocka_unit_test(test_not_satisfied_returns_the_case_until_the_customer_is),
        cmocka_unit_test(test_a_closed_case_can_be_reopened_and_resolved_again),
        cmocka_unit_test(test_a_resolved_case_can_be_reopened_before_the_customer_is_asked),
        cmocka_unit_test(test_refusals_name_the_action_and_the_state),
        cmocka_unit_test(test_a_refusal_without_an_error_to_fill_still_refuses),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_only_closed_and_unknown_states_are_not_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
