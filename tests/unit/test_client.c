/* test_client.c - the client library against a fake service in this process: timeouts, retries, what is never retried. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <cmocka.h>
#include "cl.h"
#include "cl_client.h"
#include "fake_service.h"

/* Slack for a wait measured on two busy cores under the sanitizers. */
#define SLACK_MS 1500

/* What the fake answers: `unavailable` UNAVAILABLE replies first, then a
   StatsReply of service "fresh"; with hold_first, it keeps the first request
   unanswered and, when the second comes, answers the first ("late") and then
   the second. */
typedef struct {
    int unavailable;
    bool hold_first;
    bool silent;      /* answers nothing at all */
    bool unreadable;  /* answers each request RESOURCE_EXHAUSTED without a correlation_id,
                         as a service answers a frame over its size limit */
} s_script_t;

typedef struct {
    void *ctx;
    s_script_t script;
    cl_fake_t *fake;
    cl_client_t *client;
    cl_env_t env;                   /* the test's request, its body empty (enough for the fake) */
    Caseloop__V1__GetStats stats;
    Caseloop__V1__CaseCommand cmd;
    int64_t took_ms;                /* how long the last s_call took */
} s_fix_t;

static void s_stats_reply(cl_fake_t *fake, cl_request_t *req, const char *correlation_id, const char *service)
{
    cl_env_t reply = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__StatsReply body = CASELOOP__V1__STATS_REPLY__INIT;
    body.service = (char *)service;
    reply.body_case = CASELOOP__V1__ENVELOPE__BODY_STATS_REPLY;
    reply.stats_reply = &body;
    cl_fake_reply(fake, req, correlation_id, &reply);
}

static void s_answer(void *arg, cl_fake_t *fake, cl_request_t *req, const cl_env_t *env, int seq)
{
    const s_script_t *script = arg;
    if (script->silent)
        return;
    if (script->unreadable) {
        cl_fake_refuse(fake, req, NULL, CL_RESOURCE_EXHAUSTED);
        return;
    }
    if (script->hold_first && seq == 1) {
        cl_fake_hold(fake, req, env);
        return;
    }
    const char *late_id;
    cl_request_t *late = cl_fake_held(fake, &late_id);
    if (late)
        s_stats_reply(fake, late, late_id, "late");
    if (seq <= script->unavailable)
        cl_fake_refuse(fake, req, env->message_id, CL_UNAVAILABLE);
    else
        s_stats_reply(fake, req, env->message_id, "fresh");
}

static int s_setup(void **state)
{
    s_fix_t *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    *state = f;
    f->ctx = zmq_ctx_new();
    return f->ctx ? 0 : -1;
}

/* A timer's signal (SIGALRM every 20 ms, as Ctrl-C would come): each one
   counted in s_ticks, and the stop flag set at tick s_stop_at (0: never). */
static volatile sig_atomic_t s_stop, s_ticks, s_stop_at;

static void s_on_tick(int sig)
{
    (void)sig;
    s_ticks++;
    if (s_stop_at && s_ticks >= s_stop_at)
        s_stop = 1;
}

/* Starts the ticks, the stop flag cleared; the handler does not ask for restarts. */
static void s_ticks_start(int stop_at)
{
    s_stop = 0, s_ticks = 0, s_stop_at = stop_at;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_tick;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval every = {{0, 20000}, {0, 20000}};
    setitimer(ITIMER_REAL, &every, NULL);
}

static void s_ticks_stop(void)
{
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
}

static int s_teardown(void **state)
{
    s_fix_t *f = *state;
    s_ticks_stop();
    cl_client_destroy(&f->client);
    cl_client_destroy(&f->client); /* safe twice */
    cl_fake_destroy(&f->fake);
    zmq_ctx_term(f->ctx);
    free(f);
    return 0;
}

/* Starts the fake with the fixture's script and a client of it, and makes the
   fixture's request of type body_case (GetStats or CaseCommand). */
static void s_start(s_fix_t *f, int body_case)
{
    f->fake = cl_fake_new(f->ctx, "client-test", s_answer, &f->script);
    assert_non_null(f->fake);
    cl_err_t err;
    f->client = cl_client_new(f->ctx, cl_fake_router(f->fake), "test-client", &err);
    assert_non_null(f->client);
    caseloop__v1__envelope__init(&f->env);
    caseloop__v1__get_stats__init(&f->stats);
    caseloop__v1__case_command__init(&f->cmd);
    f->env.body_case = (Caseloop__V1__Envelope__BodyCase)body_case;
    if (body_case == CASELOOP__V1__ENVELOPE__BODY_GET_STATS)
        f->env.get_stats = &f->stats;
    else
        f->env.case_command = &f->cmd;
}

/* cl_client_call_retry of the fixture's request, or cl_client_call when deadline_ms is 0; times it. */
static cl_env_t *s_call(s_fix_t *f, int timeout_ms, int deadline_ms, cl_err_t *err)
{
    cl_err_clear(err);
    int64_t t0 = cl_mono_us();
    cl_env_t *reply = deadline_ms ? cl_client_call_retry(f->client, &f->env, timeout_ms, deadline_ms, err)
                                  : cl_client_call(f->client, &f->env, timeout_ms, err);
    f->took_ms = (cl_mono_us() - t0) / 1000;
    return reply;
}

static void s_assert_service(const cl_env_t *reply, const char *service)
{
    assert_non_null(reply);
    assert_int_equal(reply->body_case, CASELOOP__V1__ENVELOPE__BODY_STATS_REPLY);
    assert_string_equal(reply->stats_reply->service, service);
}

static void test_a_call_gets_its_reply_with_the_envelope_filled_in(void **state)
{
    s_fix_t *f = *state;
    s_start(f, CASELOOP__V1__ENVELOPE__BODY_GET_STATS);
    cl_err_t err;
    cl_env_t *reply = s_call(f, 5000, 0, &err);
    s_assert_service(reply, "fresh");
    assert_string_equal(reply->correlation_id, cl_fake_message_id(f->fake, 1));
    assert_true(strlen(cl_fake_message_id(f->fake, 1)) > 0);
    assert_null(f->env.message_id); /* filled in on the frame, not in the caller's envelope */
    cl_codec_free(reply);
    reply = cl_client_stats(f->client, 5000, &err);
    s_assert_service(reply, "fresh");
    assert_string_not_equal(cl_fake_message_id(f->fake, 2), cl_fake_message_id(f->fake, 1));
    cl_codec_free(reply);
}

static void test_a_service_that_never_answers_is_unavailable_within_the_timeout(void **state)
{
    s_fix_t *f = *state;
    f->script.silent = true;
    s_start(f, CASELOOP__V1__ENVELOPE__BODY_GET_STATS);
    cl_err_t err;
    cl_env_t *reply = s_call(f, 300, 0, &err);
    assert_null(reply);
    assert_int_equal(err.code, CL_UNAVAILABLE);
    assert_non_null(strstr(err.message, "300 ms"));
    assert_true(f->took_ms >= 300);
    assert_true(f->took_ms < 300 + SLACK_MS);
    assert_int_equal(cl_fake_requests(f->fake), 1);
}

static void test_a_read_is_retried_after_unavailable_until_it_gets_through(void **state)
{
    s_fix_t *f = *state;
    f->script.unavailable = 2;
    s_start(f, CASELOOP__V1__ENVELOPE__BODY_GET_STATS);
    cl_err_t err;
    cl_env_t *reply = s_call(f, 2000, 10000, &err);
    s_assert_service(reply, "fresh");
    assert_int_equal(cl_fake_requests(f->fake), 3);
    /* one request, sent three times: the same message_id, on the same DEALER */
    assert_string_equal(cl_fake_message_id(f->fake, 2), cl_fake_message_id(f->fake, 1));
    assert_string_equal(cl_fake_message_id(f->fake, 3), cl_fake_message_id(f->fake, 1));
    assert_string_equal(cl_fake_peer(f->fake, 3), cl_fake_peer(f->fake, 1));
    cl_codec_free(reply);
}

static void test_a_command_is_never_sent_twice(void **state)
{
    s_fix_t *f = *state;
    f->script.unavailable = 2;
    s_start(f, CASELOOP__V1__ENVELOPE__BODY_CASE_COMMAND);
    assert_false(cl_client_idempotent(CASELOOP__V1__ENVELOPE__BODY_CASE_COMMAND));
    assert_false(cl_client_idempotent(CASELOOP__V1__ENVELOPE__BODY_LOAD_POLICY));
    assert_true(cl_client_idempotent(CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE));
    cl_err_t err;
    cl_env_t *reply = s_call(f, 2000, 10000, &err);
    assert_non_null(reply);
    assert_int_equal(reply->body_case, CASELOOP__V1__ENVELOPE__BODY_ERROR);
    assert_int_equal(reply->error->code, CL_UNAVAILABLE);
    assert_int_equal(cl_client_expect(reply, CASELOOP__V1__ENVELOPE__BODY_CASE_COMMAND_REPLY, &err), -1);
    assert_int_equal(err.code, CL_UNAVAILABLE);
    assert_int_equal(cl_fake_requests(f->fake), 1);
    cl_codec_free(reply);
}

static void test_a_command_without_a_reply_waits_no_longer_than_the_deadline(void **state)
{
    s_fix_t *f = *state;
    f->script.silent = true;
    s_start(f, CASELOOP__V1__ENVELOPE__BODY_CASE_COMMAND);
    cl_err_t err;
    cl_env_t *reply = s_call(f, 10000, 300, &err);
    assert_null(reply);
    assert_int_equal(err.code, CL_UNAVAILABLE);
    assert_non_null(strstr(err.message, "300 ms"));
    assert_true(f->took_ms >= 300);
    assert_true(f->took_ms < 300 + SLACK_MS);
    assert_int_equal(cl_fake_requests(f->fake), 1);
}

static void test_an_error_without_correlation_is_the_answer_at_once(void **state)
{
    s_fix_t *f = *state;
    f->script.unreadable = true;
    s_start(f, CASELOOP__V1__ENVELOPE__BODY_GET_STATS);
    cl_err_t err;
    cl_env_t *reply = s_call(f, 10000, 0, &err);
    assert_non_null(reply);
    assert_true(f->took_ms < SLACK_MS);
    assert_int_equal(cl_client_expect(reply, CASELOOP__V1__ENVELOPE__BODY_STATS_REPLY, &err), -1);
    assert_int_equal(err.code, CL_RESOURCE_EXHAUSTED);
    cl_codec_free(reply);
    /* nor is a read that is safe to repeat sent again */
    reply = s_call(f, 10000, 30000, &err);
    assert_non_null(reply);
    assert_true(f->took_ms < SLACK_MS);
    assert_int_equal(reply->body_case, CASELOOP__V1__ENVELOPE__BODY_ERROR);
    assert_int_equal(reply->error->code, CL_RESOURCE_EXHAUSTED);
    assert_int_equal(cl_fake_requests(f->fake), 2);
    cl_codec_free(reply);
}

static void test_a_retry_after_no_reply_never_takes_the_late_reply(void **state)
{
    s_fix_t *f = *state;
    f->script.hold_first = true;
    s_start(f, CASELOOP__V1__ENVELOPE__BODY_GET_STATS);
    cl_err_t err;
    cl_env_t *reply = s_call(f, 200, 10000, &err);
    /* The first request's reply, sent late with the same correlation, went to
       the DEALER that gave up on it; the retry came on a fresh one. */
    s_assert_service(reply, "fresh");
    assert_int_equal(cl_fake_requests(f->fake), 2);
    assert_string_equal(cl_fake_message_id(f->fake, 2), cl_fake_message_id(f->fake, 1));
    assert_string_not_equal(cl_fake_peer(f->fake, 2), cl_fake_peer(f->fake, 1));
    cl_codec_free(reply);
}

static void test_retries_end_at_the_deadline_with_the_last_answer(void **state)
{
    s_fix_t *f = *state;
    f->script.unavailable = 1000;
    s_start(f, CASELOOP__V1__ENVELOPE__BODY_GET_STATS);
    cl_err_t err;
    cl_env_t *reply = s_call(f, 2000, 600, &err);
    assert_non_null(reply);
    assert_int_equal(reply->body_case, CASELOOP__V1__ENVELOPE__BODY_ERROR);
    assert_int_equal(reply->error->code, CL_UNAVAILABLE);
    assert_true(f->took_ms < 600 + SLACK_MS);
    /* backoff: 50, 100, 200 ms less up to half: at least 3 attempts, few more */
    assert_in_range(cl_fake_requests(f->fake), 3, 8);
    cl_codec_free(reply);
}

static void test_retries_without_any_reply_end_unavailable_at_the_deadline(void **state)
{
    s_fix_t *f = *state;
    f->script.silent = true;
    s_start(f, CASELOOP__V1__ENVELOPE__BODY_GET_STATS);
    cl_err_t err;
    cl_env_t *reply = s_call(f, 200, 700, &err);
    assert_null(reply);
    assert_int_equal(err.code, CL_UNAVAILABLE);
    assert_true(f->took_ms >= 400);
    assert_true(f->took_ms < 700 + SLACK_MS);
    assert_true(cl_fake_requests(f->fake) >= 2);
    assert_string_not_equal(cl_fake_peer(f->fake, 2), cl_fake_peer(f->fake, 1));
}

static void test_a_stopped_call_ends_at_once_cancelled(void **state)
{
    s_fix_t *f = *state;
    f->script.silent = true;
    s_start(f, CASELOOP__V1__ENVELOPE__BODY_GET_STATS);
    cl_client_stop_on(f->client, &s_stop);
    s_ticks_start(3);
    cl_err_t err;
    cl_env_t *reply = s_call(f, 10000, 0, &err);
    assert_null(reply);
    assert_int_equal(err.code, CL_CANCELLED);
    assert_string_equal(cl_err_code_name(err.code), "CANCELLED");
    assert_true(s_ticks >= 3);
    assert_true(f->took_ms < SLACK_MS);
    /* once stopped, a call is not even sent */
    reply = s_call(f, 10000, 0, &err);
    assert_null(reply);
    assert_int_equal(err.code, CL_CANCELLED);
    assert_non_null(strstr(err.message, "before the request was sent"));
}

static void test_a_stopped_retry_is_not_tried_again(void **state)
{
    s_fix_t *f = *state;
    f->script.unavailable = 1000;
    s_start(f, CASELOOP__V1__ENVELOPE__BODY_GET_STATS);
    cl_client_stop_on(f->client, &s_stop);
    s_ticks_start(3);
    cl_err_t err;
    cl_env_t *reply = s_call(f, 2000, 30000, &err);
    assert_null(reply);
    assert_int_equal(err.code, CL_CANCELLED);
    assert_true(f->took_ms < SLACK_MS);
}

static void test_signals_do_not_end_a_call_that_is_not_stopped(void **state)
{
    s_fix_t *f = *state;
    f->script.silent = true;
    s_start(f, CASELOOP__V1__ENVELOPE__BODY_GET_STATS);
    cl_err_t err;
    /* no stop flag: the call waits through the signals, as before there was one */
    s_ticks_start(0);
    cl_env_t *reply = s_call(f, 300, 0, &err);
    assert_null(reply);
    assert_int_equal(err.code, CL_UNAVAILABLE);
    assert_true(f->took_ms >= 300);
    assert_true(s_ticks >= 5);
    /* a stop flag never set: the same */
    cl_client_stop_on(f->client, &s_stop);
    s_ticks_start(0);
    reply = s_call(f, 300, 0, &err);
    assert_null(reply);
    assert_int_equal(err.code, CL_UNAVAILABLE);
    assert_true(f->took_ms >= 300);
    assert_true(f->took_ms < 300 + SLACK_MS);
    assert_true(s_ticks >= 5);
}

#define T(name) cmocka_unit_test_setup_teardown(name, s_setup, s_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_a_call_gets_its_reply_with_the_envelope_filled_in),
        T(test_a_service_that_never_answers_is_unavailable_within_the_timeout),
        T(test_a_read_is_retried_after_unavailable_until_it_gets_through),
        T(test_a_command_is_never_sent_twice),
        T(test_a_command_without_a_reply_waits_no_longer_than_the_deadline),
        T(test_an_error_without_correlation_is_the_answer_at_once),
        T(test_a_retry_after_no_reply_never_takes_the_late_reply),
        T(test_retries_end_at_the_deadline_with_the_last_answer),
        T(test_retries_without_any_reply_end_unavailable_at_the_deadline),
        T(test_a_stopped_call_ends_at_once_cancelled),
        T(test_a_stopped_retry_is_not_tried_again),
        T(test_signals_do_not_end_a_call_that_is_not_stopped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
