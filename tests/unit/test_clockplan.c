/* test_clockplan.c - a response clock's steps: warnings, the breach, the ladder, in wall and working time. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include "clockplan.h"

#define S 1000000LL

static cl_clock_def_t s_def(int64_t duration_s)
{
    cl_clock_def_t d;
    memset(&d, 0, sizeof d);
    d.code = "C2";
    d.name = "test";
    d.starts = CL_CLOCK_STARTS(CL_CLOCK_ON_RECEIVED);
    d.duration_s = duration_s;
    d.nwarn = 2, d.warn_pct[0] = 50, d.warn_pct[1] = 80;
    d.nladder = 3;
    d.ladder[0] = CL_ROLE_SUPERVISOR, d.ladder[1] = CL_ROLE_PROJECT_HEAD, d.ladder[2] = CL_ROLE_LEADERSHIP;
    d.ladder_s[0] = 10, d.ladder_s[1] = 20, d.ladder_s[2] = 30;
    d.nmajor_ladder = 2;
    d.major_ladder[0] = CL_ROLE_MANAGER, d.major_ladder[1] = CL_ROLE_LEADERSHIP;
    d.major_ladder_s[0] = d.major_ladder_s[1] = 10;
    d.active = true;
    return d;
}

/* Mon-Fri 09:00-18:00 in Shanghai. */
static cl_calendar_t *s_office_calendar(void)
{
    cl_calendar_spec_t spec;
    memset(&spec, 0, sizeof spec);
    spec.tz = "Asia/Shanghai";
    for (int wd = 1; wd <= 5; wd++)
        spec.week[wd] = (cl_calendar_hours_t){1, {{9 * 60, 18 * 60}}};
    cl_err_t err;
    cl_calendar_t *cal = cl_calendar_new(&spec, &err);
    assert_non_null(cal);
    return cal;
}

static void test_a_clock_warns_breaches_and_climbs_the_ladder_in_order(void **state)
{
    (void)state;
    cl_clock_def_t d = s_def(100);
    cl_clock_step_t st[CL_CLOCK_MAX_STEPS];
    int64_t due;
    int n = cl_clock_schedule(&d, NULL, false, 1000 * S, &due, st);
    assert_int_equal(n, 6);
    assert_int_equal(due, 1100 * S);
    char text[48];
    const char *want[] = {"W50", "W80", "B", "L1:supervisor", "L2:project_head", "L3:leadership"};
    const int64_t at[] = {1050, 1080, 1100, 1100, 1110, 1130};
    for (int i = 0; i < n; i++) {
        cl_clock_step_encode(&st[i], text, sizeof text);
        assert_string_equal(text, want[i]);
        assert_int_equal(st[i].at_us, at[i] * S);
        cl_clock_step_t back;
        assert_int_equal(cl_clock_step_decode(text, &back), 0);
        assert_int_equal(back.kind, st[i].kind);
        assert_int_equal(back.arg, st[i].arg);
        assert_int_equal(back.role, st[i].role);
    }
}

static void test_a_major_case_climbs_the_major_ladder_at_its_own_pace(void **state)
{
    (void)state;
    cl_clock_def_t d = s_def(60);
    d.major_ladder_s[0] = 15, d.major_ladder_s[1] = 25; /* unlike the normal ladder's 10, 20, 30 */
    cl_clock_step_t st[CL_CLOCK_MAX_STEPS];
    int64_t due;
    int n = cl_clock_schedule(&d, NULL, true, 1000 * S, &due, st);
    assert_int_equal(n, 5);
    assert_int_equal(due, 1060 * S);
    const char *want[] = {"W50", "W80", "B", "L1:manager", "L2:leadership"};
    const int64_t at[] = {1030, 1048, 1060, 1060, 1075};
    char text[48];
    for (int i = 0; i < n; i++) {
        cl_clock_step_encode(&st[i], text, sizeof text);
        assert_string_equal(text, want[i]);
        assert_int_equal(st[i].at_us, at[i] * S);
    }
    /* The same clock of a normal case keeps the normal ladder's pace. */
    assert_int_equal(cl_clock_schedule(&d, NULL, false, 1000 * S, &due, st), 6);
    assert_int_equal(st[4].at_us, 1070 * S);
    assert_int_equal(st[5].at_us, 1090 * S);
}

static void test_working_time_clocks_follow_the_calendar(void **state)
{
    (void)state;
    /* Mon-Fri 09:00-18:00 in Shanghai; armed Friday 2026-11-20 17:30 local (09:30 UTC). */
    cl_calendar_t *cal = s_office_calendar();
    cl_clock_def_t d = s_def(3600);
    d.working_time = true;
    int64_t armed = 1795167000LL * S; /* 2026-11-20T09:30:00Z */
    cl_clock_step_t st[CL_CLOCK_MAX_STEPS];
    int64_t due;
    assert_int_equal(cl_clock_schedule(&d, cal, false, armed, &due, st), 6);
    /* Friday 17:30-18:00 counts 30 min; Monday from 09:00 counts the rest (Monday 09:00 is armed + 2 d 15.5 h). */
    int64_t monday = armed + (2 * 86400LL + 15 * 3600 + 1800) * S;
    assert_int_equal(st[0].at_us, armed + 1800 * S);    /* 50%: Friday 18:00 */
    assert_int_equal(st[1].at_us, monday + 1080 * S);   /* 80%: Monday 09:18 */
    assert_int_equal(due, monday + 1800 * S);           /* Monday 09:30 */
    assert_int_equal(st[2].at_us, due);
    cl_calendar_destroy(&cal);
}

static void test_a_retimed_clock_keeps_its_paused_time_and_tells_no_warning_twice(void **state)
{
    (void)state;
    cl_clock_def_t d = s_def(100);
    cl_clock_step_t st[CL_CLOCK_MAX_STEPS];
    int64_t due;
    int stage;
    /* Armed at 1000, paused 30 s; re-timed at 1040 to 100 s: due at 1130; 50% (1080) still ahead. */
    assert_int_equal(cl_clock_paused_span(&d, NULL, 1010 * S, 1040 * S), 30 * S);
    assert_int_equal(cl_clock_paused_span(&d, NULL, 1040 * S, 1010 * S), 0);
    assert_int_equal(cl_clock_retime(&d, NULL, false, 1000 * S, 30 * S, 1040 * S, 0, &due, st, &stage), 6);
    assert_int_equal(due, 1130 * S);
    assert_int_equal(st[0].at_us, 1080 * S);
    assert_int_equal(stage, 0);
    /* Its 50% warning was told under the old version: not again. */
    assert_int_equal(cl_clock_retime(&d, NULL, false, 1000 * S, 30 * S, 1040 * S, 50, &due, st, &stage), 6);
    assert_int_equal(stage, 1);
    /* Warnings past by then are passed over, never the breach. */
    assert_int_equal(cl_clock_retime(&d, NULL, false, 1000 * S, 0, 5000 * S, 0, &due, st, &stage), 6);
    assert_int_equal(stage, 2);
    assert_int_equal(st[stage].kind, CL_STEP_BREACH);
}

static void test_a_working_time_pause_counts_working_time(void **state)
{
    (void)state;
    cl_calendar_t *cal = s_office_calendar();
    cl_clock_def_t d = s_def(3600);
    d.working_time = true;
    int64_t friday = 1795167000LL * S; /* 2026-11-20T09:30:00Z, Friday 17:30 in Shanghai */
    int64_t monday = friday + (2 * 86400LL + 15 * 3600 + 1800) * S; /* Monday 09:00 */
    /* Paused from Friday 17:30 to Monday 09:10: 40 working minutes held back. */
    int64_t span = cl_clock_paused_span(&d, cal, friday, monday + 600 * S);
    assert_int_equal(span, 2400 * S);
    cl_clock_step_t st[CL_CLOCK_MAX_STEPS];
    int64_t due;
    int stage;
    /* Armed Friday 17:30 for a working hour and paused at once: the hour counts from Monday 09:10. */
    assert_int_equal(cl_clock_retime(&d, cal, false, friday, span, friday, 0, &due, st, &stage), 6);
    assert_int_equal(due, monday + 4200 * S);
    cl_calendar_destroy(&cal);
}

static void test_a_resumed_clock_moves_its_steps_ahead_by_the_pause(void **state)
{
    (void)state;
    /* W50 W80 B L1 L2 L3 of a 100 s clock armed at 1000, paused from 1060 to 1160. */
    int64_t at[] = {1050 * S, 1080 * S, 1100 * S, 1100 * S, 1110 * S, 1130 * S}, due = 1100 * S;
    cl_clock_resume(NULL, 1060 * S, 1160 * S, &due, at, 6, 1);
    assert_int_equal(due, 1200 * S);
    const int64_t want[] = {1050, 1180, 1200, 1200, 1210, 1230};
    for (int i = 0; i < 6; i++)
        assert_int_equal(at[i], want[i] * S);
}

static void test_a_resumed_working_time_clock_keeps_its_ladder_apart(void **state)
{
    (void)state;
    cl_calendar_t *cal = s_office_calendar();
    int64_t friday = 1795167000LL * S;                               /* Friday 17:30 in Shanghai */
    int64_t monday = friday + (2 * 86400LL + 15 * 3600 + 1800) * S;  /* Monday 09:00 */
    /* Due Friday 17:45, its levels 17:45, 18:45 and 19:45 (wall time); paused at 17:30
       until Monday 09:00: due Monday 09:15 (15 working minutes were left), the levels an hour apart. */
    int64_t due = friday + 900 * S;
    int64_t at[] = {due, due, due + 3600 * S, due + 7200 * S};
    cl_clock_resume(cal, friday, monday, &due, at, 4, 0);
    assert_int_equal(due, monday + 900 * S);
    assert_int_equal(at[0], due);
    assert_int_equal(at[1], due);
    assert_int_equal(at[2], due + 3600 * S);
    assert_int_equal(at[3], due + 7200 * S);
    /* Breached at 17:00 and level 1 told; levels 2 and 3 at 18:00 and 19:00; paused at 17:30:
       they keep their remaining wall time after Monday 09:00, not both at 09:00. */
    int64_t breached = friday - 1800 * S, d2 = breached;
    int64_t ladder[] = {breached, breached, breached + 3600 * S, breached + 7200 * S};
    cl_clock_resume(cal, friday, monday, &d2, ladder, 4, 2);
    assert_int_equal(d2, breached);
    assert_int_equal(ladder[2], monday + 1800 * S);
    assert_int_equal(ladder[3], monday + 5400 * S);
    cl_calendar_destroy(&cal);
}

static void test_malformed_steps_are_refused(void **state)
{
    (void)state;
    cl_clock_step_t st;
    assert_int_equal(cl_clock_step_decode("X", &st), -1);
    assert_int_equal(cl_clock_step_decode("W", &st), -1);
    assert_int_equal(cl_clock_step_decode("L2:boss", &st), -1);
    assert_int_equal(cl_clock_step_decode("L2", &st), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_clock_warns_breaches_and_climbs_the_ladder_in_order),
        cmocka_unit_test(test_a_major_case_climbs_the_major_ladder_at_its_own_pace),
        cmocka_unit_test(test_working_time_clocks_follow_the_calendar),
        cmocka_unit_test(test_a_retimed_clock_keeps_its_paused_time_and_tells_no_warning_twice),
        cmocka_unit_test(test_a_working_time_pause_counts_working_time),
        cmocka_unit_test(test_a_resumed_clock_moves_its_steps_ahead_by_the_pause),
        cmocka_unit_test(test_a_resumed_working_time_clock_keeps_its_ladder_apart),
        cmocka_unit_test(test_malformed_steps_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
