/* test_outage.c - the database stops and restarts mid-run: UNAVAILABLE meanwhile, recovery by itself, no acknowledged case lost. */
#include "harness.h"
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#define CASES 300
#define WAIT_MS 20000 /* for each step of the outage (ctest gives the program 60 s) */

static cl_svc_t s_svc;

/* What the client thread saw; it asserts nothing (cmocka asserts on the main thread only). */
static pthread_mutex_t s_mu = PTHREAD_MUTEX_INITIALIZER;
static int s_acked;
static int s_unavailable;
static int s_refused;          /* answers neither a reply nor UNAVAILABLE */
static char s_refusal[256];    /* the first of them */
static bool s_client_done;
static uint64_t s_ids[CASES];
static volatile int s_stop;    /* the main thread gives up: the client returns */
static pthread_t s_client_th;
static bool s_client_running;

static int s_setup(void **state)
{
    (void)state;
    if (cl_test_reset_db() < 0)
        return -1;
    return cl_svc_start(&s_svc, "caseloop-intake", NULL);
}

static int s_teardown(void **state)
{
    (void)state;
    if (s_client_running) { /* a failed test left it: stop it before its service goes */
        __atomic_store_n(&s_stop, 1, __ATOMIC_SEQ_CST);
        pthread_join(s_client_th, NULL);
        s_client_running = false;
    }
    cl_test_pgctl("start");
    return cl_svc_stop(&s_svc, SIGTERM, 0) == 0 ? 0 : -1;
}

/* A client that does what the contract tells publishers to do: on
   UNAVAILABLE (or no answer), send the same submission again, pacing retries.
   Records what it got under s_mu; returns when every case is acknowledged,
   at a refusal, or when told to stop. */
static void *s_client(void *arg)
{
    (void)arg;
    void *dealer = cl_test_dealer(s_svc.router);
    char id[32];
    bool refused = false;
    for (int i = 0; i < CASES && !refused; i++) {
        for (;;) {
            if (__atomic_load_n(&s_stop, __ATOMIC_SEQ_CST))
                goto out;
            Caseloop__V1__Case c;
            cl_test_case(&c, "A", "outage", id, sizeof id, i);
            cl_env_t *reply = cl_test_submit(dealer, &c, 2000);
            bool acked = reply && reply->body_case == CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE_REPLY;
            bool down = reply && reply->body_case == CASELOOP__V1__ENVELOPE__BODY_ERROR &&
                        reply->error->code == CL_UNAVAILABLE;
            refused = reply && !acked && !down;
            pthread_mutex_lock(&s_mu);
            if (acked) {
                s_ids[i] = reply->submit_case_reply->case_id;
                s_acked++;
            } else if (refused) {
                if (s_refused++ == 0)
                    snprintf(s_refusal, sizeof s_refusal, "case %d: %s", i,
                             reply->body_case == CASELOOP__V1__ENVELOPE__BODY_ERROR ? reply->error->message
                                                                                    : "an answer of another kind");
            } else {
                s_unavailable++;
            }
            pthread_mutex_unlock(&s_mu);
            cl_codec_free(reply);
            if (acked || refused)
                break;
            cl_test_pass_until(cl_clock_now(cl_clock_real()) + 20 * 1000); /* a client's retry pacing */
        }
    }
out:
    cl_test_close(&dealer);
    pthread_mutex_lock(&s_mu);
    s_client_done = true;
    pthread_mutex_unlock(&s_mu);
    return NULL;
}

typedef struct {
    const int *counter;
    int at_least;
} s_count_wait_t;

/* Whether the client has counted at least so many (or has ended: nothing more will come). */
static bool s_counted(void *arg)
{
    s_count_wait_t *w = arg;
    pthread_mutex_lock(&s_mu);
    bool ok = *w->counter >= w->at_least || s_client_done;
    pthread_mutex_unlock(&s_mu);
    return ok;
}

/* Waits up to WAIT_MS for the client to count at_least in *counter; fails the test, saying what, if it did not. */
static void s_wait_for(const int *counter, int at_least, const char *what)
{
    s_count_wait_t w = {counter, at_least};
    bool in_time = cl_test_poll(s_counted, &w, WAIT_MS);
    pthread_mutex_lock(&s_mu);
    int got = *counter, refused = s_refused;
    char refusal[sizeof s_refusal];
    snprintf(refusal, sizeof refusal, "%s", s_refusal);
    pthread_mutex_unlock(&s_mu);
    if (refused)
        fail_msg("unexpected refusal: %s", refusal);
    if (got < at_least)
        fail_msg("%s: %d, not %d, %s", what, got, at_least, in_time ? "and the client ended" : "after the deadline");
}

static void test_database_outage_answers_unavailable_and_loses_no_acknowledged_case(void **state)
{
    (void)state;
    assert_int_equal(pthread_create(&s_client_th, NULL, s_client, NULL), 0);
    s_client_running = true;
    s_wait_for(&s_acked, 100, "cases acknowledged before the outage");
    assert_int_equal(cl_test_pgctl("stop"), 0);
    s_wait_for(&s_unavailable, 5, "UNAVAILABLE answers while the database is down");

    /* While the database is down, intake still answers, and says so. */
    void *dealer = cl_test_dealer(s_svc.router);
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__GetStats body = CASELOOP__V1__GET_STATS__INIT;
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_GET_STATS;
    env.get_stats = &body;
    cl_env_t *stats = cl_test_call(dealer, &env, 5000);
    assert_non_null(stats);
    assert_false(stats->stats_reply->database_up);
    cl_codec_free(stats);

    assert_int_equal(cl_test_pgctl("start"), 0);
    s_wait_for(&s_acked, CASES, "cases acknowledged in all");
    pthread_join(s_client_th, NULL);
    s_client_running = false;
    assert_int_equal(s_refused, 0);
    assert_int_equal(s_acked, CASES);
    assert_true(cl_test_counter(dealer, "rejected.UNAVAILABLE") >= 5);
    cl_test_close(&dealer);
    /* Every acknowledged case is stored, once. */
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM cases WHERE external_source = 'outage'"), CASES);
    char sql[128];
    for (int i = 0; i < CASES; i++) {
        snprintf(sql, sizeof sql, "SELECT count(*) FROM cases WHERE id = %llu AND external_id = '%d'",
                 (unsigned long long)s_ids[i], i);
        assert_int_equal(cl_test_scalar(sql), 1);
    }
    /* And the log holds an event for each, positions without a gap. */
    assert_int_equal(cl_test_scalar("SELECT count(*) FROM events WHERE type = 'CaseReceived'"), CASES);
    assert_int_equal(cl_test_scalar("SELECT max(position) - count(*) FROM events"), 0);
}

/* What an answer during an outage must be: UNAVAILABLE, with a sentence that names no
   server path or socket (the log keeps those). Returns a description of what is wrong, or NULL. */
static const char *s_outage_answer_wrong(const cl_env_t *reply, char *why, size_t len)
{
    if (!reply)
        return snprintf(why, len, "no answer"), why;
    if (reply->body_case != CASELOOP__V1__ENVELOPE__BODY_ERROR)
        return snprintf(why, len, "a %s, not an error", cl_codec_body_name(reply)), why;
    if (reply->error->code != CL_UNAVAILABLE)
        return snprintf(why, len, "error %d (%s), not UNAVAILABLE", (int)reply->error->code, reply->error->message), why;
    if (strchr(reply->error->message, '/') || strstr(reply->error->message, "socket") ||
        strstr(reply->error->message, "PGSQL"))
        return snprintf(why, len, "the sentence shows the server's insides: %s", reply->error->message), why;
    return NULL;
}

/* Submits a few cases and reads one back, so that each connection intake uses for them is
   open and idle, then takes the database away with stop (a cl_test_pgctl action), and fails
   the test unless every GetCase and SubmitCase that follows, from the first, is UNAVAILABLE. */
static void s_every_request_unavailable_from_the_first(const char *stop, const char *source)
{
    void *dealer = cl_test_dealer(s_svc.router);
    Caseloop__V1__Case c;
    char id[32];
    uint64_t known = 0;
    for (int i = 0; i < 4; i++) {
        cl_test_case(&c, "site-a", source, id, sizeof id, i);
        cl_env_t *r = cl_test_submit(dealer, &c, 10000);
        assert_non_null(r);
        assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE_REPLY);
        known = r->submit_case_reply->case_id;
        cl_codec_free(r);
    }
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__GetCase get = CASELOOP__V1__GET_CASE__INIT;
    get.has_case_id = 1, get.case_id = known;
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_GET_CASE;
    env.get_case = &get;
    cl_env_t *r = cl_test_call(dealer, &env, 10000);
    assert_non_null(r);
    assert_int_equal(r->body_case, CASELOOP__V1__ENVELOPE__BODY_GET_CASE_REPLY);
    cl_codec_free(r);

    assert_int_equal(cl_test_pgctl(stop), 0);
    char why[512];
    for (int i = 0; i < 4; i++) {
        r = cl_test_call(dealer, &env, 10000);
        const char *wrong = s_outage_answer_wrong(r, why, sizeof why);
        cl_codec_free(r);
        if (wrong)
            fail_msg("GetCase %d after \"%s\": %s", i + 1, stop, wrong);
        cl_test_case(&c, "site-a", source, id, sizeof id, 100 + i);
        r = cl_test_submit(dealer, &c, 10000);
        wrong = s_outage_answer_wrong(r, why, sizeof why);
        cl_codec_free(r);
        if (wrong)
            fail_msg("SubmitCase %d after \"%s\": %s", i + 1, stop, wrong);
    }
    assert_int_equal(cl_test_pgctl("start"), 0);
    cl_test_close(&dealer);
}

static void test_every_request_during_an_outage_is_unavailable_from_the_first(void **state)
{
    (void)state;
    s_every_request_unavailable_from_the_first("stop", "outage-first");
}

/* An immediate stop (or a crash of another server process) first sends each idle backend's
   client a WARNING, then drops the connection. Over a Unix socket libpq then fails the next
   statement with no SQLSTATE while PQstatus still says CONNECTION_OK: that is an outage too. */
static void test_every_request_after_the_database_crashed_is_unavailable_from_the_first(void **state)
{
    (void)state;
    s_every_request_unavailable_from_the_first("stop immediate", "outage-crash");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_database_outage_answers_unavailable_and_loses_no_acknowledged_case),
        cmocka_unit_test(test_every_request_during_an_outage_is_unavailable_from_the_first),
        cmocka_unit_test(test_every_request_after_the_database_crashed_is_unavailable_from_the_first),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
