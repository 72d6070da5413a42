/* test_dispatcher.c - cases reach the right department and person, exactly once, across a crash and two instances. */
#include "harness.h"
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TIMEOUT_MS 10000
#define DISPATCH_MS 40000 /* for thousands of cases to be dispatched (ctest gives the program 90 s) */

static cl_svc_t s_intake, s_disp, s_second;
static char s_intake_pub[256];

static int s_start_dispatcher(cl_svc_t *svc)
{
    static char intake_pub_env[300];
    snprintf(intake_pub_env, sizeof intake_pub_env, "CL_INTAKE_PUB=%s", s_intake_pub);
    const char *env[] = {intake_pub_env, "CL_IDLE_MS=200", NULL};
    return cl_svc_start(svc, "caseloop-dispatcher", env);
}

static int s_setup(void **state)
{
    (void)state;
    if (cl_test_reset_db() < 0 || cl_svc_start(&s_intake, "caseloop-intake", NULL) < 0)
        return -1;
    snprintf(s_intake_pub, sizeof s_intake_pub, "%s", s_intake.pub);
    if (s_start_dispatcher(&s_disp) < 0)
        return -1;
    return cl_test_load_policy(s_disp.router);
}

static int s_teardown(void **state)
{
    (void)state;
    int second = s_second.pid > 0 ? cl_svc_stop(&s_second, SIGTERM, 0) : 0; /* left by a failed test */
    int a = cl_svc_stop(&s_disp, SIGTERM, 0), b = cl_svc_stop(&s_intake, SIGTERM, 0);
    return a == 0 && b == 0 && second == 0 ? 0 : -1;
}

/* Before each test: the dispatcher runs (a failed test may have left it stopped or killed). */
static int s_dispatcher_up(void **state)
{
    (void)state;
    return s_disp.pid > 0 ? 0 : s_start_dispatcher(&s_disp);
}

/* --- load --------------------------------------------------------------------------- */

static const int s_kinds[] = {0, CASELOOP__V1__KIND__KIND_COMPLAINT, CASELOOP__V1__KIND__KIND_REPAIR,
                              CASELOOP__V1__KIND__KIND_INQUIRY, CASELOOP__V1__KIND__KIND_SUGGESTION,
                              CASELOOP__V1__KIND__KIND_PRAISE, CASELOOP__V1__KIND__KIND_SPECIAL_SERVICE,
                              CASELOOP__V1__KIND__KIND_SAFETY, CASELOOP__V1__KIND__KIND_OTHER};
static const char *s_sites[] = {"site-a", "site-b", "site-c"};

typedef struct {
    long from, to;
    long unacked;      /* cases with no SubmitCaseReply (the main thread asserts none) */
    long first_unacked;
} s_range_t;

/* Submits cases [from, to): kinds in turn (a tenth major), sites in turn; no kind
   for every ninth, whose description the keyword rules classify. Runs on a
   helper thread: records what went wrong in *arg, asserts nothing. */
static void *s_submitter(void *arg)
{
    s_range_t *r = arg;
    void *dealer = cl_test_dealer(s_intake.router);
    for (long i = r->from; i < r->to; i++) {
        Caseloop__V1__Case c;
        char id[32], contact[32], descr[96];
        cl_test_case(&c, s_sites[i % 3], "disp", id, sizeof id, i);
        int k = s_kinds[i % 9];
        c.has_kind = k != 0;
        c.kind = (Caseloop__V1__Kind)k;
        if (i % 10 == 3)
            c.has_severity = 1, c.severity = CASELOOP__V1__SEVERITY__SEVERITY_MAJOR;
        snprintf(contact, sizeof contact, "1380000%05ld", i);
        c.customer_contact = contact;
        snprintf(descr, sizeof descr, "%s, case %ld",
                 k ? "something to see to" : (i % 2 ? "water leak in the kitchen" : "smell of fire in the hall"), i);
        c.description = descr;
        cl_env_t *reply = cl_test_submit(dealer, &c, TIMEOUT_MS);
        if ((!reply || reply->body_case != CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE_REPLY) && r->unacked++ == 0)
            r->first_unacked = i;
        cl_codec_free(reply);
    }
    cl_test_close(&dealer);
    return NULL;
}

/* Submits cases [from, to) from four clients at once; each must be acknowledged. */
static void s_submit(long from, long to)
{
    pthread_t th[4];
    s_range_t r[4];
    long step = (to - from) / 4;
    for (int t = 0; t < 4; t++) {
        r[t] = (s_range_t){from + t * step, t == 3 ? to : from + (t + 1) * step, 0, 0};
        assert_int_equal(pthread_create(&th[t], NULL, s_submitter, &r[t]), 0);
    }
    for (int t = 0; t < 4; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < 4; t++)
        if (r[t].unacked)
            fail_msg("%ld of cases %ld-%ld were not acknowledged, the first case %ld", r[t].unacked, r[t].from,
                     r[t].to - 1, r[t].first_unacked);
}

/* Waits (checking the database, up to DISPATCH_MS) until n cases are dispatched. */
static void s_wait_dispatched(long long n)
{
    cl_test_wait_scalar(n, DISPATCH_MS, "SELECT count(*) FROM dispatches");
}

/* Every case has one dispatch and exactly one CaseDispatched and one CaseAssigned event. */
static void s_assert_exactly_once(long long n)
{
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM cases"), n);
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM dispatches"), n);
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM (SELECT case_id FROM events WHERE type = 'CaseDispatched'"
                                    " GROUP BY case_id HAVING count(*) = 1) x"),
                     n);
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM events WHERE type = 'CaseDispatched'"), n);
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM events WHERE type = 'CaseAssigned'"), n);
}

static void test_cases_over_three_sites_reach_the_right_departments(void **state)
{
    (void)state;
    s_submit(0, 2000);
    s_wait_dispatched(2000);
    s_assert_exactly_once(2000);
    /* Routing per docs/rules.md, classification of the cases sent without a kind. */
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM dispatches WHERE department <> CASE kind"
                                    " WHEN 2 THEN 'engineering' WHEN 7 THEN 'security' WHEN 6 THEN 'services'"
                                    " ELSE 'customer-service' END"),
                     0);
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM dispatches d JOIN cases c ON c.id = d.case_id"
                                    " WHERE c.kind = 0 AND (NOT d.classified OR d.kind <> CASE WHEN c.description"
                                    " LIKE 'water leak%' THEN 2 ELSE 7 END)"),
                     0);
    /* Major cases: the project head has them and the customer-service supervisor is told. */
    assert_true(cl_test_scalar("SELECT count(*) FROM dispatches WHERE severity = 3") > 100);
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM dispatches WHERE severity = 3 AND NOT (special AND"
                                    " assignee = 'head' AND notified = ARRAY['cs-sup'])"),
                     0);
    /* Nobody staffs site-c's engineering now: its repairs wait on the queue, visibly. */
    assert_true(cl_test_scalar("SELECT count(*) FROM dispatches WHERE site = 'site-c' AND department = 'engineering'"
                               " AND NOT special AND assignee IS NULL") > 0);
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM dispatches WHERE assignee IS NULL AND NOT (site = 'site-c'"
                                    " AND department = 'engineering')"),
                     0);
    /* Balance: within a department, assistants and specialists carry within one case of each other. */
    assert_true(cl_test_scalar("SELECT max(spread) FROM (SELECT max(n) - min(n) AS spread FROM (SELECT site,"
                               " department, assignee, count(*) n FROM dispatches WHERE NOT special AND assignee"
                               " NOT IN ('cs-sup', 'eng-sup') GROUP BY 1, 2, 3) x GROUP BY site, department) y") <= 1);
    /* Each dispatch records the policy version it was made under. */
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM dispatches WHERE policy_version IS DISTINCT FROM 1"), 0);
}

static void test_a_killed_dispatcher_restarts_and_dispatches_each_case_once(void **state)
{
    (void)state;
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM dispatches"), 2000);
    /* The cases come while no dispatcher runs, so that there is work in hand when it is killed. */
    assert_int_equal(cl_svc_stop(&s_disp, SIGTERM, 0), 0);
    s_submit(2000, 4000);
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM dispatches"), 2000);
    assert_int_equal(s_start_dispatcher(&s_disp), 0);
    /* Kill it while it works through them: once it has dispatched some and not all. */
    cl_test_wait_scalar(1, DISPATCH_MS, "SELECT (count(*) >= 2050)::int FROM dispatches");
    assert_int_equal(cl_svc_stop(&s_disp, SIGKILL, 0), 128 + SIGKILL);
    long long at_kill = cl_test_scalar("SELECT count(*) FROM dispatches"); /* only grows: this many or fewer then */
    if (at_kill >= 4000)
        fail_msg("all 2000 cases were dispatched before the kill: the restart has nothing to do");
    /* Restarted, it dispatches the rest, and none twice. */
    assert_int_equal(s_start_dispatcher(&s_disp), 0);
    s_wait_dispatched(4000);
    s_assert_exactly_once(4000);
}

static void test_two_dispatchers_never_dispatch_a_case_twice(void **state)
{
    (void)state;
    assert_int_equal(s_start_dispatcher(&s_second), 0);
    s_submit(4000, 5000);
    s_wait_dispatched(5000);
    s_assert_exactly_once(5000);
    assert_int_equal(cl_svc_stop(&s_second, SIGTERM, 0), 0);
}

static void test_a_bad_policy_is_refused_and_changes_nothing(void **state)
{
    (void)state;
    void *dealer = cl_test_dealer(s_disp.router);
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__LoadPolicy body = CASELOOP__V1__LOAD_POLICY__INIT;
    body.document = "{\"sites\": [\n  {\"code\": \"site-a\",\n   \"time_zone\": \"Mars/Olympus\"";
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_LOAD_POLICY;
    env.load_policy = &body;
    cl_env_t *reply = cl_test_call(dealer, &env, TIMEOUT_MS);
    assert_non_null(reply);
    assert_int_equal(reply->body_case, CASELOOP__V1__ENVELOPE__BODY_ERROR);
    assert_int_equal(reply->error->code, CL_INVALID_ARGUMENT);
    assert_non_null(strstr(reply->error->field, "line"));
    cl_codec_free(reply);
    assert_int_equal(cl_test_scalar("SELECT max(version) FROM policies"), 1);
    /* The policy in force is still the one loaded. */
    cl_env_t get = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__GetPolicy q = CASELOOP__V1__GET_POLICY__INIT;
    q.site = "site-b";
    get.body_case = CASELOOP__V1__ENVELOPE__BODY_GET_POLICY;
    get.get_policy = &q;
    reply = cl_test_call(dealer, &get, TIMEOUT_MS);
    assert_non_null(reply);
    assert_int_equal(reply->body_case, CASELOOP__V1__ENVELOPE__BODY_GET_POLICY_REPLY);
    assert_int_equal(reply->get_policy_reply->version, 1);
    assert_non_null(strstr(reply->get_policy_reply->document, "site-b"));
    cl_codec_free(reply);
    q.site = "nowhere";
    reply = cl_test_call(dealer, &get, TIMEOUT_MS);
    assert_non_null(reply);
    assert_int_equal(reply->body_case, CASELOOP__V1__ENVELOPE__BODY_ERROR);
    assert_int_equal(reply->error->code, CL_NOT_FOUND);
    cl_codec_free(reply);
    cl_test_close(&dealer);
}

static void test_cases_that_came_before_their_policy_are_dispatched_when_it_comes(void **state)
{
    (void)state;
    long long before = cl_test_scalar("SELECT count(*) FROM dispatches");
    void *dealer = cl_test_dealer(s_intake.router);
    for (long i = 0; i < 3; i++) {
        Caseloop__V1__Case c;
        char id[32], contact[32];
        cl_test_case(&c, "site-d", "early", id, sizeof id, i);
        snprintf(contact, sizeof contact, "1370000%05ld", i);
        c.customer_contact = contact;
        c.kind = CASELOOP__V1__KIND__KIND_COMPLAINT;
        cl_env_t *reply = cl_test_submit(dealer, &c, TIMEOUT_MS);
        assert_non_null(reply);
        cl_codec_free(reply);
    }
    cl_test_close(&dealer);
    s_wait_dispatched(before + 3);
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM dispatches WHERE site = 'site-d' AND department = ''"), 3);
    static const char *const sites[] = {"site-a", "site-b", "site-c", "site-d", NULL};
    assert_int_equal(cl_test_load_policy_for(s_disp.router, sites), 0);
    cl_test_wait_scalar(0, 30000, "SELECT count(*) FROM dispatches WHERE site = 'site-d' AND department = ''");
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM dispatches WHERE site = 'site-d'"
                                    " AND department = 'customer-service' AND assignee IN ('cs1', 'cs2')"
                                    " AND policy_version = 2"),
                     3);
    /* Each got its one CaseDispatched when it reached its department, none while it waited. */
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM events e JOIN cases c ON c.id = e.case_id"
                                    " WHERE c.site = 'site-d' AND e.type = 'CaseDispatched'"),
                     3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_cases_over_three_sites_reach_the_right_departments, s_dispatcher_up),
        cmocka_unit_test_setup(test_a_killed_dispatcher_restarts_and_dispatches_each_case_once, s_dispatcher_up),
        cmocka_unit_test_setup(test_two_dispatchers_never_dispatch_a_case_twice, s_dispatcher_up),
        cmocka_unit_test_setup(test_a_bad_policy_is_refused_and_changes_nothing, s_dispatcher_up),
        cmocka_unit_test_setup(test_cases_that_came_before_their_policy_are_dispatched_when_it_comes, s_dispatcher_up),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
