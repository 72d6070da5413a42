/* test_dispatcher.c - cases reach the right department and person, exactly once and by exact workloads, across a crash and two instances. */
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
    if (s_second.pid > 0) /* a failed test may have left them frozen (SIGSTOP) */
        kill(s_second.pid, SIGCONT);
    if (s_disp.pid > 0)
        kill(s_disp.pid, SIGCONT);
    int second = s_second.pid > 0 ? cl_svc_stop(&s_second, SIGTERM, 0) : 0; /* left by a failed test */
    int a = cl_svc_stop(&s_disp, SIGTERM, 0), b = cl_svc_stop(&s_intake, SIGTERM, 0);
    return a == 0 && b == 0 && second == 0 ? 0 : -1;
}

/* Before each test: the dispatcher runs (a failed test may have left it stopped or killed). */
static int s_dispatcher_up(void **state)
{
    (void)state;
    if (s_disp.pid > 0) /* a failed test may have left it frozen (SIGSTOP) */
        kill(s_disp.pid, SIGCONT);
    if (s_second.pid > 0 && cl_svc_stop(&s_second, SIGKILL, 0) < 0)
        return -1;
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

/* --- workloads: kept in memory, exact across closes, transfers, restarts and instances (R-RT-2) --- */

#define A(x) CASELOOP__V1__CASE_ACTION__CASE_ACTION_##x
#define SECOND_APP "caseloop-dispatcher-2" /* the second instance's connection, as pg_stat_activity names it */

/* Starts the second instance under its own connection name; with idle_ms
   "60000" and deaf, it hears no new case and reads the log only as it
   starts (it serves requests, applies nothing). */
static int s_start_second(const char *idle_ms, bool deaf)
{
    static char db_env[600], pub_env[300], idle_env[40];
    snprintf(db_env, sizeof db_env, "CL_DB=%s application_name=%s", cl_test_db(), SECOND_APP);
    snprintf(pub_env, sizeof pub_env, "CL_INTAKE_PUB=%s", deaf ? "ipc:///tmp/cl-test-nobody-publishes-here" : s_intake_pub);
    snprintf(idle_env, sizeof idle_env, "CL_IDLE_MS=%s", idle_ms);
    const char *env[] = {db_env, pub_env, idle_env, NULL};
    return cl_svc_start(&s_second, "caseloop-dispatcher", env);
}

/* Loads the test policy for one fresh site only: its staff carry nothing yet. */
static void s_fresh_site(const char *site)
{
    const char *const sites[] = {site, NULL};
    assert_int_equal(cl_test_load_policy_for(s_disp.router, sites), 0);
}

/* Submits an inquiry to site (customer service takes it: cs1 and cs2, ties
   to cs1), waits until it is dispatched and checks that it went to `want`.
   Returns its case number. */
static uint64_t s_inquiry_goes_to(const char *site, const char *want)
{
    static long n = 0;
    void *dealer = cl_test_dealer(s_intake.router);
    Caseloop__V1__Case c;
    char id[32], contact[32], descr[64];
    cl_test_case(&c, site, "workload", id, sizeof id, n);
    c.kind = CASELOOP__V1__KIND__KIND_INQUIRY;
    snprintf(contact, sizeof contact, "1390000%05ld", n);
    c.customer_contact = contact;
    snprintf(descr, sizeof descr, "when is the pool open, question %ld", n);
    c.description = descr;
    n++;
    cl_env_t *reply = cl_test_submit(dealer, &c, TIMEOUT_MS);
    cl_test_close(&dealer);
    assert_non_null(reply);
    assert_int_equal(reply->body_case, CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE_REPLY);
    uint64_t case_id = reply->submit_case_reply->case_id;
    cl_codec_free(reply);
    cl_test_wait_scalar(1, TIMEOUT_MS, "SELECT count(*) FROM dispatches WHERE case_id = %llu AND department <> ''",
                        (unsigned long long)case_id);
    PGconn *conn = PQconnectdb(cl_test_db());
    char cid[24], got[128];
    snprintf(cid, sizeof cid, "%llu", (unsigned long long)case_id);
    const char *p[] = {cid};
    PGresult *res = PQexecParams(conn, "SELECT coalesce(assignee, '(the queue)') FROM dispatches WHERE case_id = $1::bigint",
                                 1, NULL, p, NULL, NULL, 0);
    snprintf(got, sizeof got, "%s",
             PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : PQerrorMessage(conn));
    PQclear(res);
    PQfinish(conn);
    if (strcmp(got, want) != 0)
        fail_msg("case %llu of %s went to %s, not to %s who carried fewer open cases", (unsigned long long)case_id, site,
                 got, want);
    return case_id;
}

/* Sends a lifecycle command to intake; it must be taken. */
static void s_command(uint64_t case_id, Caseloop__V1__CaseAction action, const char *text)
{
    void *dealer = cl_test_dealer(s_intake.router);
    cl_env_t *r = cl_test_command(dealer, case_id, action, "cs-sup", text, -1);
    cl_test_close(&dealer);
    if (r->body_case != CASELOOP__V1__ENVELOPE__BODY_CASE_COMMAND_REPLY)
        fail_msg("command %d on case %llu refused: %s", (int)action, (unsigned long long)case_id,
                 r->body_case == CASELOOP__V1__ENVELOPE__BODY_ERROR ? r->error->message : "?");
    cl_codec_free(r);
}

/* Takes a received case through to CLOSED. */
static void s_close(uint64_t case_id)
{
    s_command(case_id, A(ACKNOWLEDGE), NULL);
    s_command(case_id, A(FIRST_CONTACT), "we call back at 3 pm");
    s_command(case_id, A(RESOLVE), "answered");
    s_command(case_id, A(CLOSE), NULL);
}

/* Transfers case_id, through the dispatcher at router, to department or person. */
static void s_transfer(const char *router, uint64_t case_id, const char *dept, const char *who)
{
    void *dealer = cl_test_dealer(router);
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__TransferCase t = CASELOOP__V1__TRANSFER_CASE__INIT;
    t.has_case_id = 1, t.case_id = case_id;
    t.department = (char *)dept;
    t.assignee = (char *)who;
    t.actor = "cs-sup";
    t.reason = "not theirs";
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_TRANSFER_CASE;
    env.transfer_case = &t;
    cl_env_t *r = cl_test_call(dealer, &env, TIMEOUT_MS);
    cl_test_close(&dealer);
    assert_non_null(r);
    if (r->body_case != CASELOOP__V1__ENVELOPE__BODY_TRANSFER_CASE_REPLY)
        fail_msg("transfer of case %llu refused: %s", (unsigned long long)case_id,
                 r->body_case == CASELOOP__V1__ENVELOPE__BODY_ERROR ? r->error->message : "?");
    cl_codec_free(r);
}

/* Waits until the dispatchers' position has reached the end of the log (an
   instance reads it at least every CL_IDLE_MS): what is in the log is applied. */
static void s_wait_log_applied(void)
{
    cl_test_wait_scalar(1, TIMEOUT_MS,
                        "SELECT (position >= (SELECT max(position) FROM events))::int FROM consumer_positions"
                        " WHERE consumer = 'dispatcher'");
}

typedef struct {
    pid_t pid;
    const char *app;
} s_pause_t;

/* Stops p->pid (SIGSTOP) if its connection has no statement running and no
   transaction open then; otherwise lets it go on, to try again. */
static bool s_stopped_outside_a_transaction(void *arg)
{
    s_pause_t *p = arg;
    kill(p->pid, SIGSTOP);
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_stat_activity WHERE application_name = '%s' AND state <> 'idle'",
             p->app);
    /* twice: a statement sent just before the stop shows once the server has it */
    if (cl_test_scalar(sql) == 0 && cl_test_scalar(sql) == 0)
        return true;
    kill(p->pid, SIGCONT);
    return false;
}

/* Freezes a dispatcher instance (connection named app) between two
   transactions, so that the other one applies the log meanwhile. */
static void s_pause(cl_svc_t *svc, const char *app)
{
    s_pause_t p = {svc->pid, app};
    if (!cl_test_poll(s_stopped_outside_a_transaction, &p, TIMEOUT_MS))
        fail_msg("dispatcher %d was always inside a transaction", (int)svc->pid);
}

static void s_resume(cl_svc_t *svc)
{
    kill(svc->pid, SIGCONT);
}

/* The dispatcher's counter of workload reads (one site's open cases per staff, from the database). */
static long long s_workload_reads(void)
{
    void *dealer = cl_test_dealer(s_disp.router);
    long long n = cl_test_counter(dealer, "workloads_read");
    cl_test_close(&dealer);
    assert_true(n >= 0);
    return n;
}

static void test_a_site_workloads_are_read_once_then_again_only_after_a_change(void **state)
{
    (void)state;
    s_fresh_site("site-i");
    long long before = s_workload_reads();
    s_inquiry_goes_to("site-i", "cs1");
    assert_int_equal(s_workload_reads(), before + 1);
    /* the next cases, each its own batch: the workloads are in memory */
    uint64_t second = s_inquiry_goes_to("site-i", "cs2");
    uint64_t third = s_inquiry_goes_to("site-i", "cs1");
    s_inquiry_goes_to("site-i", "cs2");
    assert_int_equal(s_workload_reads(), before + 1);
    /* a case taken in hand stays open: its assignee carries it still */
    s_command(second, A(ACKNOWLEDGE), NULL);
    s_command(second, A(FIRST_CONTACT), "we call back at 3 pm");
    s_wait_log_applied();
    s_inquiry_goes_to("site-i", "cs1"); /* cs1 2, cs2 2 */
    assert_int_equal(s_workload_reads(), before + 1);
    /* a case closed changes them: read once more */
    s_close(third);
    s_inquiry_goes_to("site-i", "cs1"); /* cs1 2, cs2 2 */
    s_inquiry_goes_to("site-i", "cs2"); /* cs1 3, cs2 2 */
    assert_int_equal(s_workload_reads(), before + 2);
}

static void test_closing_a_case_lightens_the_load_of_its_assignee_and_reopening_it_weighs_again(void **state)
{
    (void)state;
    s_fresh_site("site-e");
    s_inquiry_goes_to("site-e", "cs1");
    uint64_t second = s_inquiry_goes_to("site-e", "cs2");
    /* cs2's case closed through intake, and read by the dispatcher before the next case comes */
    s_close(second);
    s_wait_log_applied();
    s_inquiry_goes_to("site-e", "cs2"); /* cs1 1, cs2 0 */
    s_inquiry_goes_to("site-e", "cs1"); /* cs1 1, cs2 1: the tie goes to cs1 */
    s_command(second, A(REOPEN), "the customer asks again");
    s_inquiry_goes_to("site-e", "cs1"); /* cs1 2, cs2 2 with the reopened case */
}

static void test_a_transferred_case_moves_its_weight_to_the_new_assignee(void **state)
{
    (void)state;
    s_fresh_site("site-f");
    s_inquiry_goes_to("site-f", "cs1");
    uint64_t second = s_inquiry_goes_to("site-f", "cs2");
    s_transfer(s_disp.router, second, "security", NULL); /* through the dispatcher that dispatches */
    uint64_t third = s_inquiry_goes_to("site-f", "cs2"); /* cs1 1, cs2 0 */
    /* Through another instance that applies nothing: the transfer is only in the log. */
    s_wait_log_applied();
    assert_int_equal(s_start_second("60000", true), 0);
    s_transfer(s_second.router, third, NULL, "cs1");
    s_inquiry_goes_to("site-f", "cs2"); /* cs1 2, cs2 0 */
    assert_int_equal(cl_svc_stop(&s_second, SIGTERM, 0), 0);
}

static void test_a_restarted_dispatcher_counts_the_cases_given_out_before(void **state)
{
    (void)state;
    s_fresh_site("site-g");
    s_inquiry_goes_to("site-g", "cs1");
    s_inquiry_goes_to("site-g", "cs2");
    s_inquiry_goes_to("site-g", "cs1");
    assert_int_equal(cl_svc_stop(&s_disp, SIGTERM, 0), 0);
    assert_int_equal(s_start_dispatcher(&s_disp), 0);
    s_inquiry_goes_to("site-g", "cs2"); /* cs1 2, cs2 1 */
    s_inquiry_goes_to("site-g", "cs1");
}

static void test_two_dispatchers_taking_turns_count_each_others_cases(void **state)
{
    (void)state;
    s_fresh_site("site-h");
    assert_int_equal(s_start_second("200", false), 0);
    s_pause(&s_second, SECOND_APP);
    s_inquiry_goes_to("site-h", "cs1"); /* the first instance */
    s_inquiry_goes_to("site-h", "cs2");
    s_pause(&s_disp, "caseloop-dispatcher");
    s_resume(&s_second);
    s_inquiry_goes_to("site-h", "cs1"); /* the second: cs1 1, cs2 1 */
    s_wait_log_applied();               /* past its own events */
    s_pause(&s_second, SECOND_APP);
    s_resume(&s_disp);
    s_inquiry_goes_to("site-h", "cs2"); /* the first again: cs1 2, cs2 1 */
    s_wait_log_applied();
    s_pause(&s_disp, "caseloop-dispatcher");
    s_resume(&s_second);
    s_inquiry_goes_to("site-h", "cs1"); /* the second again: cs1 2, cs2 2 */
    s_resume(&s_disp);
    assert_int_equal(cl_svc_stop(&s_second, SIGTERM, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_cases_over_three_sites_reach_the_right_departments, s_dispatcher_up),
        cmocka_unit_test_setup(test_a_killed_dispatcher_restarts_and_dispatches_each_case_once, s_dispatcher_up),
        cmocka_unit_test_setup(test_two_dispatchers_never_dispatch_a_case_twice, s_dispatcher_up),
        cmocka_unit_test_setup(test_a_bad_policy_is_refused_and_changes_nothing, s_dispatcher_up),
        cmocka_unit_test_setup(test_cases_that_came_before_their_policy_are_dispatched_when_it_comes, s_dispatcher_up),
        cmocka_unit_test_setup(test_a_site_workloads_are_read_once_then_again_only_after_a_change, s_dispatcher_up),
        cmocka_unit_test_setup(test_closing_a_case_lightens_the_load_of_its_assignee_and_reopening_it_weighs_again,
                               s_dispatcher_up),
        cmocka_unit_test_setup(test_a_transferred_case_moves_its_weight_to_the_new_assignee, s_dispatcher_up),
        cmocka_unit_test_setup(test_a_restarted_dispatcher_counts_the_cases_given_out_before, s_dispatcher_up),
        cmocka_unit_test_setup(test_two_dispatchers_taking_turns_count_each_others_cases, s_dispatcher_up),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
