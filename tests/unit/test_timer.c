/* test_timer.c - the wake-up rule of timer workers: only a due time earlier than what a worker
   sleeps towards wakes it; a busy worker is never woken; one reading the next due time always is. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "cl_timer.h"

#define S 1000000LL

/* wake's argument: which workers were woken. */
typedef struct {
    bool woken[4];
} s_woken_t;

static void s_wake(void *arg, size_t worker)
{
    ((s_woken_t *)arg)->woken[worker] = true;
}

static void test_a_worker_is_woken_only_by_a_due_time_earlier_than_it_sleeps_towards(void **state)
{
    (void)state;
    assert_true(cl_timer_wakes(100 * S, 99 * S));
    assert_false(cl_timer_wakes(100 * S, 100 * S)); /* it wakes then anyway */
    assert_false(cl_timer_wakes(100 * S, 101 * S));
    cl_timer_t *t = cl_timer_new("clocks", "id", "next_fire_at", 3);
    assert_non_null(t);
    cl_timer_sleep(t, 0, 100 * S);
    cl_timer_sleep(t, 1, 500 * S);
    cl_timer_sleep(t, 2, 900 * S);
    /* A clock armed for 300 s wakes the two that would sleep past it. */
    s_woken_t w = {0};
    assert_int_equal(cl_timer_armed(t, 300 * S, s_wake, &w), 2);
    assert_false(w.woken[0]);
    assert_true(w.woken[1]);
    assert_true(w.woken[2]);
    /* One armed after all they sleep towards wakes nobody. */
    memset(&w, 0, sizeof w);
    assert_int_equal(cl_timer_armed(t, 1000 * S, s_wake, &w), 0);
    cl_timer_destroy(&t);
    assert_null(t);
    cl_timer_destroy(&t); /* safe twice */
}

static void test_a_firing_worker_is_left_alone_and_a_looking_one_always_woken(void **state)
{
    (void)state;
    cl_timer_t *t = cl_timer_new("clocks", "id", "next_fire_at", 2);
    assert_non_null(t);
    /* Worker 0 fires: it reads the next due time itself before it sleeps again. */
    cl_timer_busy(t, 0);
    /* Worker 1 reads the next due time (here from a database that is not there): until it
       sleeps, anything armed may be what its reading missed, so anything wakes it. */
    cl_db_t *db = cl_db_new("host=/nonexistent-caseloop-socket-dir dbname=none connect_timeout=1", "test");
    assert_non_null(db);
    cl_err_t err;
    int64_t due = 0;
    assert_int_equal(cl_timer_next_due(t, 1, db, &due, &err), -1);
    s_woken_t w = {0};
    assert_int_equal(cl_timer_armed(t, 5000 * S, s_wake, &w), 1);
    assert_false(w.woken[0]);
    assert_true(w.woken[1]);
    /* Asleep towards 100 s, it is woken only by what comes before. */
    cl_timer_sleep(t, 1, 100 * S);
    memset(&w, 0, sizeof w);
    assert_int_equal(cl_timer_armed(t, 5000 * S, s_wake, &w), 0);
    assert_int_equal(cl_timer_armed(t, 50 * S, s_wake, &w), 1);
    assert_true(w.woken[1]);
    cl_db_destroy(&db);
    cl_timer_destroy(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_worker_is_woken_only_by_a_due_time_earlier_than_it_sleeps_towards),
        cmocka_unit_test(test_a_firing_worker_is_left_alone_and_a_looking_one_always_woken),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
