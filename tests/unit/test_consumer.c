/* test_consumer.c - events are applied in position order, once each, with gaps filled from the log. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include "cl.h"

#define N_EVENTS 8
#define PAGE 3 /* the fake log hands out at most this many per read, as the real one pages */

/* The event log in memory (positions 1..N_EVENTS) and what was applied. */
typedef struct {
    cl_env_t log[N_EVENTS + 1];
    uint64_t applied[4 * N_EVENTS];
    size_t n_applied;
    uint64_t fail_at;   /* apply returns -1 for this position; 0 never */
    int backfills;
    cl_consumer_t *c;
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

static int s_backfill(void *arg, cl_consumer_t *c, uint64_t after)
{
    fixture_t *f = arg;
    f->backfills++;
    int n = 0;
    for (uint64_t p = after + 1; p <= N_EVENTS && n < PAGE; p++, n++)
        if (cl_consumer_offer(c, &f->log[p]) < 0)
            return -1;
    return n;
}

static int s_setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    for (uint64_t p = 1; p <= N_EVENTS; p++) {
        caseloop__v1__envelope__init(&f->log[p]);
        f->log[p].has_position = 1;
        f->log[p].position = p;
    }
    f->c = cl_consumer_new(NULL, 0, s_apply, s_backfill, f);
    if (!f->c) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    fixture_t *f = *state;
    cl_consumer_destroy(&f->c);
    assert_null(f->c);
    cl_consumer_destroy(&f->c); /* safe twice */
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
    for (uint64_t p = 1; p <= 3; p++)
        assert_int_equal(cl_consumer_offer(f->c, &f->log[p]), 0);
    assert_int_equal(cl_consumer_offer(f->c, &f->log[5]), 1);
    assert_int_equal(cl_consumer_catch_up(f->c), 0);
    s_assert_applied(f, 1, N_EVENTS);
    assert_int_equal(cl_consumer_position(f->c), N_EVENTS);
    /* the live event that showed the gap, offered again, changes nothing */
    assert_int_equal(cl_consumer_offer(f->c, &f->log[5]), 0);
    /* nor does catching up again */
    assert_int_equal(cl_consumer_catch_up(f->c), 0);
    s_assert_applied(f, 1, N_EVENTS);
}

static void test_catch_up_from_the_start_reads_the_whole_log(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(cl_consumer_catch_up(f->c), 0);
    s_assert_applied(f, 1, N_EVENTS);
    assert_true(f->backfills >= (N_EVENTS + PAGE - 1) / PAGE);
}

static void test_consumer_resumes_after_its_stored_position(void **state)
{
    fixture_t *f = *state;
    cl_consumer_t *c = cl_consumer_new(NULL, 5, s_apply, s_backfill, f);
    assert_non_null(c);
    assert_int_equal(cl_consumer_position(c), 5);
    assert_int_equal(cl_consumer_offer(c, &f->log[3]), 0);
    assert_int_equal(f->n_applied, 0);
    assert_int_equal(cl_consumer_catch_up(c), 0);
    s_assert_applied(f, 6, N_EVENTS);
    cl_consumer_destroy(&c);
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
    f->fail_at = 4;
    assert_int_equal(cl_consumer_catch_up(f->c), -1);
    assert_int_equal(cl_consumer_position(f->c), 3);
    s_assert_applied(f, 1, 3);

    f->fail_at = 0;
    assert_int_equal(cl_consumer_catch_up(f->c), 0);
    s_assert_applied(f, 1, N_EVENTS);
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
