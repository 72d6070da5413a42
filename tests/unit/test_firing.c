/* test_firing.c - what a clock's step does when it comes due: quiet hours, a pointless warning,
   the ladder re-spaced after a late level, the major ladder, and the person told. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "firing.h"

#define S 1000000LL
/* 2026-11-20T10:30:00Z: Friday 18:30 in Shanghai, after the office closed. */
#define FRIDAY_EVENING (1795170600LL * S)
/* Monday 2026-11-23 09:00 in Shanghai, when it opens again. */
#define MONDAY_MORNING (FRIDAY_EVENING + (2 * 86400LL + 14 * 3600 + 1800) * S)

static cl_department_t s_departments[] = {{.code = "customer-service"}, {.code = "engineering"}};
static cl_staff_t s_staff[] = {
    {.id = "ma.li", .role = CL_ROLE_SUPERVISOR, .department = 0},
    {.id = "zhou.jun", .role = CL_ROLE_SUPERVISOR, .department = 1},
    {.id = "wang.head", .role = CL_ROLE_PROJECT_HEAD, .department = -1},
    {.id = "chen.mgr", .role = CL_ROLE_MANAGER, .department = -1},
};

/* A site with the staff above and no calendar: nothing waits for working hours. */
static const cl_site_policy_t s_staffed = {
    .code = "site-a", .departments = s_departments, .ndepartments = 2, .staff = s_staff, .nstaff = 4};

/* The same site open Monday to Friday, 09:00-18:00 in Shanghai; major cases exempt
   from quiet hours or not. Its calendar is freed by s_site_free. */
static cl_site_policy_t s_site(bool major_exempt)
{
    cl_calendar_spec_t office = {.tz = "Asia/Shanghai"};
    for (int day = 1; day <= 5; day++)
        office.week[day] = (cl_calendar_hours_t){1, {{9 * 60, 18 * 60}}};
    cl_site_policy_t s = s_staffed;
    s.quiet_major_exempt = major_exempt;
    cl_err_t err;
    s.calendar = cl_calendar_new(&office, &err);
    assert_non_null(s.calendar);
    return s;
}

static void s_site_free(cl_site_policy_t *s)
{
    cl_calendar_destroy(&s->calendar);
}

static const cl_clock_step_t s_warning = {FRIDAY_EVENING - 10 * S, CL_STEP_WARNING, 80, 0};
static const cl_clock_step_t s_breach = {FRIDAY_EVENING - 10 * S, CL_STEP_BREACH, 0, 0};
static const cl_clock_step_t s_level = {FRIDAY_EVENING - 10 * S, CL_STEP_LEVEL, 1, CL_ROLE_SUPERVISOR};

static void test_quiet_hours_hold_what_goes_to_people_until_working_hours_unless_major(void **state)
{
    (void)state;
    cl_site_policy_t site = s_site(true);
    int64_t due = MONDAY_MORNING + 3600 * S, until = 0;
    /* A warning and a ladder level on Friday evening wait for Monday 09:00. */
    assert_true(cl_fire_quiet(&site, &s_warning, false, FRIDAY_EVENING, due, &until));
    assert_int_equal(until, MONDAY_MORNING);
    assert_true(cl_fire_quiet(&site, &s_level, false, FRIDAY_EVENING, FRIDAY_EVENING - 10 * S, &until));
    assert_int_equal(until, MONDAY_MORNING);
    /* A warning waits no later than the clock's due time. */
    assert_true(cl_fire_quiet(&site, &s_warning, false, FRIDAY_EVENING, FRIDAY_EVENING + 60 * S, &until));
    assert_int_equal(until, FRIDAY_EVENING + 60 * S);
    /* The breach keeps its true time; so does all of a major case where the site exempts them. */
    assert_false(cl_fire_quiet(&site, &s_breach, false, FRIDAY_EVENING, FRIDAY_EVENING - 10 * S, &until));
    assert_false(cl_fire_quiet(&site, &s_warning, true, FRIDAY_EVENING, due, &until));
    assert_false(cl_fire_quiet(&site, &s_level, true, FRIDAY_EVENING, due, &until));
    /* In working hours nothing waits; nor without a policy. */
    assert_false(cl_fire_quiet(&site, &s_level, false, MONDAY_MORNING + 60 * S, due, &until));
    assert_false(cl_fire_quiet(NULL, &s_level, false, FRIDAY_EVENING, due, &until));
    /* A site that does not exempt major cases holds theirs too. */
    cl_site_policy_t strict = s_site(false);
    assert_true(cl_fire_quiet(&strict, &s_level, true, FRIDAY_EVENING, due, &until));
    /* As decided: held, the stage unchanged, until Monday. */
    cl_fire_clock_t c = {s_level, FRIDAY_EVENING + 3590 * S, FRIDAY_EVENING - 10 * S, false, "engineering"};
    cl_fire_t f;
    cl_fire_decide(&site, &c, FRIDAY_EVENING, &f);
    assert_int_equal(f.action, CL_FIRE_HOLD);
    assert_int_equal(f.next_us, MONDAY_MORNING);
    assert_null(f.responsible);
    c.major = true;
    cl_fire_decide(&site, &c, FRIDAY_EVENING, &f);
    assert_int_equal(f.action, CL_FIRE_TELL);
    s_site_free(&site);
    s_site_free(&strict);
}

static void test_a_warning_come_due_after_the_breach_is_passed_over(void **state)
{
    (void)state;
    int64_t due = 1000 * S;
    cl_clock_step_t w = {900 * S, CL_STEP_WARNING, 80, 0};
    /* Before the due time a warning still chases the department; at or after it, it is pointless. */
    assert_false(cl_fire_pointless(&w, 999 * S, due));
    assert_true(cl_fire_pointless(&w, due, due));
    assert_true(cl_fire_pointless(&w, 5000 * S, due));
    /* The breach and the ladder are never pointless. */
    assert_false(cl_fire_pointless(&s_breach, 5000 * S, due));
    assert_false(cl_fire_pointless(&s_level, 5000 * S, due));
    /* As decided (a service that was down): passed over, untold, on to the breach at its own moment,
       even outside working hours. */
    cl_site_policy_t site = s_site(true);
    cl_fire_clock_t c = {w, due, due, false, NULL};
    cl_fire_t f;
    cl_fire_decide(&site, &c, FRIDAY_EVENING, &f);
    assert_int_equal(f.action, CL_FIRE_PASS);
    assert_int_equal(f.next_us, due);
    assert_int_equal(f.late_us, 0);
    s_site_free(&site);
}

/* A 100 s clock armed at 1000 s whose ladder gives each level 10, 20 and 30 s; the major
   ladder gives the manager 15 s before leadership. */
static int s_plan(bool major, cl_clock_step_t st[CL_CLOCK_MAX_STEPS], int64_t *due)
{
    cl_clock_def_t d = {.code = "C2", .duration_s = 100, .nwarn = 1, .warn_pct = {50}, .nladder = 3,
                        .ladder = {CL_ROLE_SUPERVISOR, CL_ROLE_PROJECT_HEAD, CL_ROLE_LEADERSHIP},
                        .ladder_s = {10, 20, 30}, .nmajor_ladder = 2,
                        .major_ladder = {CL_ROLE_MANAGER, CL_ROLE_LEADERSHIP}, .major_ladder_s = {15, 15},
                        .active = true};
    return cl_clock_schedule(&d, NULL, major, 1000 * S, due, st);
}

static void test_a_level_told_late_gives_the_next_levels_their_full_time(void **state)
{
    (void)state;
    cl_clock_step_t st[CL_CLOCK_MAX_STEPS];
    int64_t due;
    assert_int_equal(s_plan(false, st, &due), 5); /* W50 B L1 L2 L3 at 1050 1100 1100 1110 1130 */
    /* Level 2 told 30 s late: level 3 comes 20 s after it, not 20 s after its old moment. */
    assert_int_equal(cl_fire_respace(&st[3], 30 * S), 30 * S);
    cl_fire_clock_t c = {st[3], st[4].at_us, due, false, "engineering"};
    cl_fire_t f;
    cl_fire_decide(NULL, &c, 1140 * S, &f);
    assert_int_equal(f.action, CL_FIRE_TELL);
    assert_int_equal(f.late_us, 30 * S);
    assert_int_equal(f.shift_us, 30 * S);
    assert_int_equal(f.next_us, 1160 * S);
    /* On time, nothing moves. */
    cl_fire_decide(NULL, &c, 1110 * S, &f);
    assert_int_equal(f.late_us, 0);
    assert_int_equal(f.shift_us, 0);
    assert_int_equal(f.next_us, 1130 * S);
    /* A breach or a warning told late moves nothing: level 1 keeps the due time. */
    assert_int_equal(cl_fire_respace(&st[1], 30 * S), 0);
    assert_int_equal(cl_fire_respace(&st[0], 30 * S), 0);
    c = (cl_fire_clock_t){st[1], st[2].at_us, due, false, NULL};
    cl_fire_decide(NULL, &c, 1130 * S, &f);
    assert_int_equal(f.action, CL_FIRE_TELL);
    assert_int_equal(f.late_us, 30 * S);
    assert_int_equal(f.next_us, 1100 * S);
}

static void test_a_major_case_is_told_up_the_major_ladder_from_the_manager(void **state)
{
    (void)state;
    cl_clock_step_t st[CL_CLOCK_MAX_STEPS];
    int64_t due;
    assert_int_equal(s_plan(true, st, &due), 4); /* W50 B L1:manager L2:leadership */
    assert_int_equal(st[2].role, CL_ROLE_MANAGER);
    /* Level 1 of a major case tells the company manager, with 15 s before leadership hears. */
    cl_fire_clock_t c = {st[2], st[3].at_us, due, true, "engineering"};
    cl_fire_t f;
    cl_fire_decide(&s_staffed, &c, st[2].at_us, &f);
    assert_int_equal(f.action, CL_FIRE_TELL);
    assert_string_equal(f.responsible, "chen.mgr");
    assert_int_equal(f.next_us, 1115 * S);
    /* The same clock of a normal case starts at the department's supervisor. */
    assert_int_equal(s_plan(false, st, &due), 5);
    c = (cl_fire_clock_t){st[2], st[3].at_us, due, false, "engineering"};
    cl_fire_decide(&s_staffed, &c, st[2].at_us, &f);
    assert_string_equal(f.responsible, "zhou.jun");
    assert_int_equal(f.next_us, 1110 * S);
}

static void test_the_person_told_is_the_role_of_the_case_department_or_else_the_role_itself(void **state)
{
    (void)state;
    const cl_site_policy_t *site = &s_staffed;
    /* Supervisors: the one of the case's department. */
    assert_string_equal(cl_fire_person(site, CL_ROLE_SUPERVISOR, "engineering"), "zhou.jun");
    assert_string_equal(cl_fire_person(site, CL_ROLE_SUPERVISOR, "customer-service"), "ma.li");
    /* A department without one, or a case not yet dispatched: the site's first supervisor. */
    assert_string_equal(cl_fire_person(site, CL_ROLE_SUPERVISOR, "security"), "ma.li");
    assert_string_equal(cl_fire_person(site, CL_ROLE_SUPERVISOR, NULL), "ma.li");
    /* Other roles: the first of them, whatever the department. */
    assert_string_equal(cl_fire_person(site, CL_ROLE_PROJECT_HEAD, "engineering"), "wang.head");
    assert_string_equal(cl_fire_person(site, CL_ROLE_MANAGER, NULL), "chen.mgr");
    /* Nobody of that role, or no policy in force: the role's own name. */
    assert_string_equal(cl_fire_person(site, CL_ROLE_LEADERSHIP, "engineering"), "leadership");
    assert_string_equal(cl_fire_person(NULL, CL_ROLE_SUPERVISOR, "engineering"), "supervisor");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quiet_hours_hold_what_goes_to_people_until_working_hours_unless_major),
        cmocka_unit_test(test_a_warning_come_due_after_the_breach_is_passed_over),
        cmocka_unit_test(test_a_level_told_late_gives_the_next_levels_their_full_time),
        cmocka_unit_test(test_a_major_case_is_told_up_the_major_ladder_from_the_manager),
        cmocka_unit_test(test_the_person_told_is_the_role_of_the_case_department_or_else_the_role_itself),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
