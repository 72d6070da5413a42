/* test_clock.c - business time: the fake clock for tests, the real clock, the monotonic clock. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>
#include "cl.h"

#define T0 (INT64_C(1700000000) * CL_US_PER_S)

static void test_fake_clock_starts_where_set(void **state)
{
    (void)state;
    cl_clock_t clock;
    cl_clock_fake_init(&clock, T0);
    assert_int_equal(cl_clock_now(&clock), T0);
    assert_int_equal(cl_clock_now(&clock), T0); /* and stays there */
}

static void test_fake_clock_advances_exactly(void **state)
{
    (void)state;
    cl_clock_t clock;
    cl_clock_fake_init(&clock, T0);
    cl_clock_advance(&clock, 1);
    assert_int_equal(cl_clock_now(&clock), T0 + 1);
    cl_clock_advance(&clock, 3600 * CL_US_PER_S);
    assert_int_equal(cl_clock_now(&clock), T0 + 1 + 3600 * CL_US_PER_S);
    cl_clock_advance(&clock, -1);
    assert_int_equal(cl_clock_now(&clock), T0 + 3600 * CL_US_PER_S);
}

static void test_fake_clock_is_set_exactly(void **state)
{
    (void)state;
    cl_clock_t clock;
    cl_clock_fake_init(&clock, T0);
    cl_clock_set(&clock, 42);
    assert_int_equal(cl_clock_now(&clock), 42);
    cl_clock_set(&clock, T0 + 7);
    assert_int_equal(cl_clock_now(&clock), T0 + 7);
}

static void test_fake_clocks_are_independent(void **state)
{
    (void)state;
    cl_clock_t a, b;
    cl_clock_fake_init(&a, T0);
    cl_clock_fake_init(&b, 0);
    cl_clock_advance(&a, 5);
    assert_int_equal(cl_clock_now(&a), T0 + 5);
    assert_int_equal(cl_clock_now(&b), 0);
}

static void test_real_clock_tells_the_time(void **state)
{
    (void)state;
    int64_t before = (int64_t)time(NULL) * CL_US_PER_S;
    int64_t now = cl_clock_now(cl_clock_real());
    int64_t after = (int64_t)time(NULL) * CL_US_PER_S;
    assert_true(now >= before - CL_US_PER_S);
    assert_true(now <= after + CL_US_PER_S);
    assert_ptr_equal(cl_clock_real(), cl_clock_real());
}

static void test_monotonic_clock_never_goes_backwards(void **state)
{
    (void)state;
    int64_t prev = cl_mono_us();
    assert_true(prev >= 0);
    for (int i = 0; i < 1000; i++) {
        int64_t t = cl_mono_us();
        assert_true(t >= prev);
        prev = t;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fake_clock_starts_where_set),
        cmocka_unit_test(test_fake_clock_advances_exactly),
        cmocka_unit_test(test_fake_clock_is_set_exactly),
        cmocka_unit_test(test_fake_clocks_are_independent),
        cmocka_unit_test(test_real_clock_tells_the_time),
        cmocka_unit_test(test_monotonic_clock_never_goes_backwards),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
