/* test_clockplan.c - when a response clock warns, breaches and climbs the ladder. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "clockplan.h"

#define S 1000000LL

static void test_a_clock_warns_at_half_and_four_fifths_then_breaches_at_due(void **state)
{
    (void)state;
    cl_clock_plan_t p = {100 * S, 200 * S, 30 * S, false};
    int arg;
    assert_int_equal(cl_clock_stage(&p, 0, &arg), CL_FIRE_WARNING);
    assert_int_equal(arg, 50);
    assert_int_equal(cl_clock_stage_at(&p, 0), 150 * S);
    assert_int_equal(cl_clock_stage(&p, 1, &arg), CL_FIRE_WARNING);
    assert_int_equal(arg, 80);
    assert_int_equal(cl_clock_stage_at(&p, 1), 180 * S);
    assert_int_equal(cl_clock_stage(&p, 2, &arg), CL_FIRE_BREACH);
    assert_int_equal(arg, 1);
    assert_int_equal(cl_clock_stage_at(&p, 2), 200 * S);
}

static void test_the_ladder_climbs_one_level_a_step_up_to_leadership(void **state)
{
    (void)state;
    cl_clock_plan_t p = {0, 60 * S, 10 * S, false};
    int arg;
    assert_string_equal(cl_clock_ladder_role(false, 1), "supervisor");
    assert_int_equal(cl_clock_stage(&p, 3, &arg), CL_FIRE_ESCALATION);
    assert_int_equal(arg, 2);
    assert_string_equal(cl_clock_ladder_role(false, 2), "project_head");
    assert_int_equal(cl_clock_stage_at(&p, 3), 70 * S);
    assert_int_equal(cl_clock_stage(&p, 4, &arg), CL_FIRE_ESCALATION);
    assert_int_equal(arg, 3);
    assert_string_equal(cl_clock_ladder_role(false, 3), "leadership");
    assert_int_equal(cl_clock_stage_at(&p, 4), 80 * S);
    assert_int_equal(cl_clock_stage(&p, 5, &arg), CL_FIRE_NONE);
    assert_int_equal(cl_clock_stage_at(&p, 5), -1);
    assert_null(cl_clock_ladder_role(false, 4));
}

static void test_a_major_case_starts_at_the_manager(void **state)
{
    (void)state;
    cl_clock_plan_t p = {0, 60 * S, 10 * S, true};
    int arg;
    assert_string_equal(cl_clock_ladder_role(true, 1), "manager");
    assert_string_equal(cl_clock_ladder_role(true, 2), "leadership");
    assert_int_equal(cl_clock_stage(&p, 3, &arg), CL_FIRE_ESCALATION);
    assert_int_equal(arg, 2);
    assert_int_equal(cl_clock_stage(&p, 4, &arg), CL_FIRE_NONE);
    assert_int_equal(cl_clock_stage_at(&p, 4), -1);
}

static void test_stages_come_in_order(void **state)
{
    (void)state;
    for (int major = 0; major < 2; major++) {
        cl_clock_plan_t p = {5 * S, 17 * S, 3 * S, major};
        for (int s = 1; cl_clock_stage_at(&p, s) >= 0; s++)
            assert_true(cl_clock_stage_at(&p, s) > cl_clock_stage_at(&p, s - 1));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_clock_warns_at_half_and_four_fifths_then_breaches_at_due),
        cmocka_unit_test(test_the_ladder_climbs_one_level_a_step_up_to_leadership),
        cmocka_unit_test(test_a_major_case_starts_at_the_manager),
        cmocka_unit_test(test_stages_come_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
