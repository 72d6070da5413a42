/* test_outage.c - the database stops and restarts mid-run: UNAVAILABLE meanwhile, recovery by itself, no acknowledged case lost. */
#include "harness.h"
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define CASES 300

static cl_svc_t s_svc;
static pthread_mutex_t s_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s_cv = PTHREAD_COND_INITIALIZER;
static int s_acked;
static int s_unavailable;
static uint64_t s_ids[CASES];

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
    cl_test_pgctl("start");
    return cl_svc_stop(&s_svc, SIGTERM, 0) == 0 ? 0 : -1;
}

/* A client that does what the contract tells publishers to do: on
   UNAVAILABLE (or no answer), send the same submission again, pacing retries. */
static void *s_client(void *arg)
{
    (void)arg;
    void *dealer = cl_test_dealer(s_svc.router);
    char id[32];
    for (int i = 0; i < CASES; i++) {
        for (;;) {
            Caseloop__V1__Case c;
            cl_test_case(&c, "A", "outage", id, sizeof id, i);
            cl_env_t *reply = cl_test_submit(dealer, &c, 2000);
            bool acked = reply && reply->body_case == CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE_REPLY;
            bool down = reply && reply->body_case == CASELOOP__V1__ENVELOPE__BODY_ERROR &&
                        reply->error->code == CL_UNAVAILABLE;
            if (reply && !acked && !down)
                fail_msg("unexpected refusal: %s", reply->error->message);
            pthread_mutex_lock(&s_mu);
            if (acked) {
                s_ids[i] = reply->submit_case_reply->case_id;
                s_acked++;
            } else {
                s_unavailable++;
            }
            pthread_cond_broadcast(&s_cv);
            pthread_mutex_unlock(&s_mu);
            cl_codec_free(reply);
            if (acked)
                break;
            struct timespec pause = {0, 20 * 1000 * 1000}; /* a client's retry pacing */
            nanosleep(&pause, NULL);
        }
    }
    cl_test_close(&dealer);
    return NULL;
}

static void s_wait_for(int *counter, int at_least)
{
    pthread_mutex_lock(&s_mu);
    while (*counter < at_least)
        pthread_cond_wait(&s_cv, &s_mu);
    pthread_mutex_unlock(&s_mu);
}

static void test_database_outage_answers_unavailable_and_loses_no_acknowledged_case(void **state)
{
    (void)state;
    pthread_t th;
    pthread_create(&th, NULL, s_client, NULL);
    s_wait_for(&s_acked, 100);
    assert_int_equal(cl_test_pgctl("stop"), 0);
    s_wait_for(&s_unavailable, 5);

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
    pthread_join(th, NULL);

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_database_outage_answers_unavailable_and_loses_no_acknowledged_case),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
