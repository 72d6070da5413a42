/* test_consumer.c - events are applied in position order, once each, with gaps filled from the log through ReadEvents. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "cl.h"
#include "cl_consumer.h"
#include "fake_service.h"

#define N_EVENTS 8
#define PAGE 3 /* the fake service hands out at most this many per read, as the real one pages */

/* The event log, served by a fake service (positions 1..head of N_EVENTS),
   and what was applied. */
typedef struct {
    cl_env_t log[N_EVENTS + 1];
    char ids[N_EVENTS + 1][CL_ID_MAX + 1];
    Caseloop__V1__CaseUpdated bodies[N_EVENTS + 1];
    atomic_uint_fast64_t head;  /* the last position committed, as the service says */
    atomic_bool refuse;         /* the service answers UNAVAILABLE */
    atomic_bool no_head;        /* the service's replies leave the head out */
    uint64_t applied[4 * N_EVENTS];
    size_t n_applied;
    uint64_t fail_at;   /* apply returns -1 for this position; 0 never */
    void *ctx;
    cl_fake_t *fake;
    cl_client_t *client;
    cl_consumer_t *c;
    cl_consumer_t *c2;  /* a second consumer of the same client, when a test makes one */
} fixture_t;

static int s_apply(void *arg, const cl_env_t *event)
{
    fixture_t *f = arg;
    if (event->position == f->fail_at)
        return -1;
    if (f->n_applied == sizeof f->applied / sizeof f->applied[0])
        return -1;
    f->applied[f->n_applied++] = event->position;
    return 0;
}

/* The fake service's ReadEvents: at most PAGE events after the position asked, up to the head. */
static void s_read_events(void *arg, cl_fake_t *fake, cl_request_t *req, const cl_env_t *env, int seq)
{
    (void)seq;
    fixture_t *f = arg;
    if (env->body_case != CASELOOP__V1__ENVELOPE__BODY_READ_EVENTS) {
        cl_fake_refuse(fake, req, env->message_id, CL_UNIMPLEMENTED);
        return;
    }
    if (atomic_load(&f->refuse)) {
        cl_fake_refuse(fake, req, env->message_id, CL_UNAVAILABLE);
        return;
    }
    uint64_t head = atomic_load(&f->head);
    cl_env_t *events[PAGE];
    size_t n = 0;
    for (uint64_t p = env->read_events->after_position + 1; p <= head && n < PAGE; p++)
        events[n++] = &f->log[p];
    cl_env_t reply = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__ReadEventsReply body = CASELOOP__V1__READ_EVENTS_REPLY__INIT;
    body.n_events = n;
    body.events = events;
    body.has_head_position = !atomic_load(&f->no_head), body.head_position = head;
    reply.body_case = CASELOOP__V1__ENVELOPE__BODY_READ_EVENTS_REPLY;
    reply.read_events_reply = &body;
    cl_fake_reply(fake, req, env->message_id, &reply);
}

static int s_setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    *state = f;
    for (uint64_t p = 1; p <= N_EVENTS; p++) {
        cl_codec_init(&f->log[p], f->ids[p], "test", 0);
        caseloop__v1__case_updated__init(&f->bodies[p]);
        f->bodies[p].has_case_id = 1, f->bodies[p].case_id = p;
        f->log[p].body_case = CASELOOP__V1__ENVELOPE__BODY_CASE_UPDATED;
        f->log[p].case_updated = &f->bodies[p];
        f->log[p].has_position = 1;
        f->log[p].position = p;
    }
    atomic_store(&f->head, N_EVENTS);
    cl_err_t err;
    f->ctx = zmq_ctx_new();
    f->fake = f->ctx ? cl_fake_new(f->ctx, "intake", s_read_events, f) : NULL;
    f->client = f->fake ? cl_client_new(f->ctx, cl_fake_router(f->fake), "test", &err) : NULL;
    f->c = f->client ? cl_consumer_new(f->client, cl_fake_pub(f->fake), 0, 5000, s_apply, f, &err) : NULL;
    return f->c ? 0 : -1;
}

static int s_teardown(void **state)
{
    fixture_t *f = *state;
    /* consumers before their client, and every SUB closed before zmq_ctx_term, which waits for them */
    cl_consumer_destroy(&f->c2);
    cl_consumer_destroy(&f->c);
    assert_null(f->c);
    cl_consumer_destroy(&f->c); /* safe twice */
    cl_client_destroy(&f->client);
    cl_fake_destroy(&f->fake);
    if (f->ctx)
        zmq_ctx_term(f->ctx);
    free(f);
    return 0;
}

static void s_assert_applied(const fixture_t *f, uint64_t first, uint64_t last)
{
    assert_int_equal(f->n_applied, last - first + 1);
    for (size_t i = 0; i < f->n_applied; i++)
        assert_int_equal(f->applied[i], first + i);
}

static void test_events_in_order_are_applied_in_order(void **state)
{
    fixture_t *f = *state;
    for (uint64_t p = 1; p <= 3; p++)
        assert_int_equal(cl_consumer_offer(f->c, &f->log[p]), 0);
    s_assert_applied(f, 1, 3);
    assert_int_equal(cl_consumer_position(f->c), 3);
}

static void test_event_past_a_gap_is_not_applied(void **state)
{
    fixture_t *f = *state;
    for (uint64_t p = 1; p <= 3; p++)
        assert_int_equal(cl_consumer_offer(f->c, &f->log[p]), 0);
    assert_int_equal(cl_consumer_offer(f->c, &f->log[5]), 1);
    s_assert_applied(f, 1, 3);
    assert_int_equal(cl_consumer_position(f->c), 3);
}

static void test_catch_up_applies_the_rest_once_in_order(void **state)
{
    fixture_t *f = *state;
    cl_err_t err;
    for (uint64_t p = 1; p <= 3; p++)
        assert_int_equal(cl_consumer_offer(f->c, &f->log[p]), 0);
    assert_int_equal(cl_consumer_offer(f->c, &f->log[5]), 1);
    assert_int_equal(cl_consumer_catch_up(f->c, &err), 0);
    s_assert_applied(f, 1, N_EVENTS);
    assert_int_equal(cl_consumer_position(f->c), N_EVENTS);
    /* the live event that showed the gap, offered again, changes nothing */
    assert_int_equal(cl_consumer_offer(f->c, &f->log[5]), 0);
    /* nor does catching up again */
    assert_int_equal(cl_consumer_catch_up(f->c, &err), 0);
    s_assert_applied(f, 1, N_EVENTS);
}

static void test_catch_up_from_the_start_reads_the_whole_log(void **state)
{
    fixture_t *f = *state;
    cl_err_t err;
    assert_int_equal(cl_consumer_catch_up(f->c, &err), 0);
    s_assert_applied(f, 1, N_EVENTS);
    /* a page at a time, and no read past the head the service named */
    assert_int_equal(cl_fake_requests(f->fake), (N_EVENTS + PAGE - 1) / PAGE);
}

static void test_consumer_resumes_after_its_stored_position(void **state)
{
    fixture_t *f = *state;
    cl_err_t err;
    cl_consumer_t *c = f->c2 = cl_consumer_new(f->client, cl_fake_pub(f->fake), 5, 5000, s_apply, f, &err);
    assert_non_null(c);
    assert_int_equal(cl_consumer_position(c), 5);
    assert_int_equal(cl_consumer_offer(c, &f->log[3]), 0);
    assert_int_equal(f->n_applied, 0);
    assert_int_equal(cl_consumer_catch_up(c, &err), 0);
    s_assert_applied(f, 6, N_EVENTS);
}

static void test_duplicates_are_ignored(void **state)
{
    fixture_t *f = *state;
    for (uint64_t p = 1; p <= 3; p++)
        assert_int_equal(cl_consumer_offer(f->c, &f->log[p]), 0);
    assert_int_equal(cl_consumer_offer(f->c, &f->log[2]), 0);
    assert_int_equal(cl_consumer_offer(f->c, &f->log[3]), 0);
    assert_int_equal(cl_consumer_offer(f->c, &f->log[1]), 0);
    s_assert_applied(f, 1, 3);
    assert_int_equal(cl_consumer_position(f->c), 3);
}

static void test_failed_apply_stops_without_advancing(void **state)
{
    fixture_t *f = *state;
    f->fail_at = 2;
    assert_int_equal(cl_consumer_offer(f->c, &f->log[1]), 0);
    assert_int_equal(cl_consumer_offer(f->c, &f->log[2]), -1);
    assert_int_equal(cl_consumer_position(f->c), 1);
    assert_int_equal(cl_consumer_offer(f->c, &f->log[3]), 1);
    s_assert_applied(f, 1, 1);

    /* once apply works again, the same event is applied */
    f->fail_at = 0;
    assert_int_equal(cl_consumer_offer(f->c, &f->log[2]), 0);
    s_assert_applied(f, 1, 2);
}

static void test_failed_apply_stops_catch_up(void **state)
{
    fixture_t *f = *state;
    cl_err_t err;
    f->fail_at = 4;
    assert_int_equal(cl_consumer_catch_up(f->c, &err), -1);
    assert_int_equal(err.code, CL_INTERNAL);
    assert_non_null(strstr(err.message, "position 4"));
    assert_int_equal(cl_consumer_position(f->c), 3);
    s_assert_applied(f, 1, 3);

    f->fail_at = 0;
    assert_int_equal(cl_consumer_catch_up(f->c, &err), 0);
    s_assert_applied(f, 1, N_EVENTS);
}

static void test_a_refused_read_stops_catch_up_with_the_services_answer(void **state)
{
    fixture_t *f = *state;
    cl_err_t err;
    atomic_store(&f->refuse, true);
    assert_int_equal(cl_consumer_catch_up(f->c, &err), -1);
    assert_int_equal(err.code, CL_UNAVAILABLE);
    assert_non_null(strstr(err.message, "the fake says"));
    assert_int_equal(cl_consumer_position(f->c), 0);

    atomic_store(&f->refuse, false);
    assert_int_equal(cl_consumer_catch_up(f->c, &err), 0);
    s_assert_applied(f, 1, N_EVENTS);
}

/* Publishes event p and polls until a copy has come live (the subscription
   is joined once one has), then takes any other copy still on its way. */
static void s_join(fixture_t *f, uint64_t p)
{
    cl_err_t err;
    for (int tries = 0; cl_consumer_heard(f->c) == 0 && tries < 500; tries++) {
        cl_fake_publish(f->fake, &f->log[p]);
        assert_true(cl_consumer_poll(f->c, 10, &err) >= 0);
    }
    assert_true(cl_consumer_heard(f->c) > 0);
    /* an earlier copy may come after the one heard: take them all */
    for (uint64_t heard = 0; heard != cl_consumer_heard(f->c);) {
        heard = cl_consumer_heard(f->c);
        assert_true(cl_consumer_poll(f->c, 20, &err) >= 0);
    }
}

static void test_live_events_are_applied_and_a_gap_is_read_from_the_log(void **state)
{
    fixture_t *f = *state;
    cl_err_t err;
    atomic_store(&f->head, 1);
    s_join(f, 1);
    s_assert_applied(f, 1, 1);

    /* 2-4 are committed but never published: 5, live, shows the gap */
    atomic_store(&f->head, 5);
    cl_fake_publish(f->fake, &f->log[5]);
    assert_int_equal(cl_consumer_poll(f->c, 5000, &err), 1);
    s_assert_applied(f, 1, 5);
    assert_int_equal(cl_consumer_gaps(f->c), 1);

    /* positions already applied, heard again, are skipped */
    uint64_t heard = cl_consumer_heard(f->c);
    cl_fake_publish(f->fake, &f->log[5]);
    cl_fake_publish(f->fake, &f->log[3]);
    assert_int_equal(cl_consumer_poll(f->c, 5000, &err), 0);
    assert_int_equal(cl_consumer_poll(f->c, 5000, &err), 0);
    assert_int_equal(cl_consumer_heard(f->c), heard + 2);
    s_assert_applied(f, 1, 5);

    /* the next one in order is applied as it comes, without a read */
    int reads = cl_fake_requests(f->fake);
    atomic_store(&f->head, 6);
    cl_fake_publish(f->fake, &f->log[6]);
    assert_int_equal(cl_consumer_poll(f->c, 5000, &err), 1);
    s_assert_applied(f, 1, 6);
    assert_int_equal(cl_fake_requests(f->fake), reads);

    /* the last ones dropped: a quiet moment reads them from the log */
    atomic_store(&f->head, N_EVENTS);
    assert_int_equal(cl_consumer_poll(f->c, 50, &err), 1);
    s_assert_applied(f, 1, N_EVENTS);
    assert_int_equal(cl_consumer_gaps(f->c), 1);
}

static void test_a_consumer_from_the_head_applies_only_what_comes_after(void **state)
{
    fixture_t *f = *state;
    cl_err_t err;
    atomic_store(&f->head, 4);
    cl_consumer_t *c = f->c2 = cl_consumer_new(f->client, cl_fake_pub(f->fake), CL_CONSUMER_FROM_HEAD, 5000,
                                               s_apply, f, &err);
    assert_non_null(c);
    assert_int_equal(cl_consumer_position(c), 4);
    assert_int_equal(cl_consumer_catch_up(c, &err), 0);
    assert_int_equal(f->n_applied, 0);
    atomic_store(&f->head, 6);
    assert_int_equal(cl_consumer_catch_up(c, &err), 0);
    s_assert_applied(f, 5, 6);
}

static void test_a_consumer_from_the_head_needs_the_head(void **state)
{
    fixture_t *f = *state;
    cl_err_t err;
    atomic_store(&f->no_head, true);
    f->c2 = cl_consumer_new(f->client, cl_fake_pub(f->fake), CL_CONSUMER_FROM_HEAD, 5000, s_apply, f, &err);
    /* not a replay of the whole log from position 0 */
    assert_null(f->c2);
    assert_int_equal(err.code, CL_INTERNAL);
    assert_non_null(strstr(err.message, "where the log ends"));
    assert_int_equal(f->n_applied, 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, s_setup, s_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_events_in_order_are_applied_in_order),
        T(test_event_past_a_gap_is_not_applied),
        T(test_catch_up_applies_the_rest_once_in_order),
        T(test_catch_up_from_the_start_reads_the_whole_log),
        T(test_consumer_resumes_after_its_stored_position),
        T(test_duplicates_are_ignored),
        T(test_failed_apply_stops_without_advancing),
        T(test_failed_apply_stops_catch_up),
        T(test_a_refused_read_stops_catch_up_with_the_services_answer),
        T(test_live_events_are_applied_and_a_gap_is_read_from_the_log),
        T(test_a_consumer_from_the_head_applies_only_what_comes_after),
        T(test_a_consumer_from_the_head_needs_the_head),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
