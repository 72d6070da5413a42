/* test_calendar.c - working-time clocks: nights, weekends, holidays, extra days, DST, long spans. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include "cl.h"
#include "cl_calendar.h"

#define MIN_US (60 * CL_US_PER_S)
#define HOUR_US (60 * MIN_US)
#define DAY_US (24 * HOUR_US)

/* Offsets of the zones under test, in minutes east of UTC. */
#define CST8 480 /* Asia/Shanghai */
#define EST (-300)
#define EDT (-240)
#define CET 60
#define CEST 120

/* The instant of a local wall time whose UTC offset the test knows. */
static int64_t at(int y, int mo, int d, int h, int mi, int off_min)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};
    return ((int64_t)timegm(&tm) - (int64_t)off_min * 60) * CL_US_PER_S;
}

static cl_calendar_hours_t hours1(int from_h, int from_m, int to_h, int to_m)
{
    return (cl_calendar_hours_t){1, {{from_h * 60 + from_m, to_h * 60 + to_m}}};
}

/* Monday to Friday 09:00-18:00, or 09:00-12:00 and 13:00-18:00 with lunch. */
static cl_calendar_spec_t office(const char *tz, bool lunch)
{
    cl_calendar_spec_t spec = {.tz = tz};
    for (int w = 1; w <= 5; w++)
        spec.week[w] = lunch ? (cl_calendar_hours_t){2, {{540, 720}, {780, 1080}}} : hours1(9, 0, 18, 0);
    return spec;
}

static cl_calendar_t *make(const cl_calendar_spec_t *spec)
{
    cl_err_t err;
    cl_calendar_t *cal = cl_calendar_new(spec, &err);
    if (!cal)
        fail_msg("calendar refused: %s: %s", err.field, err.message);
    return cal;
}

/* The calendar under test lives in the fixture, so a failed assertion frees it too. */
typedef struct {
    cl_calendar_t *cal;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    cl_calendar_destroy(&f->cal);
    free(f);
    return 0;
}

/* Replaces the fixture's calendar by one built from spec. */
static cl_calendar_t *use(void **state, const cl_calendar_spec_t *spec)
{
    fixture_t *f = *state;
    cl_calendar_destroy(&f->cal);
    f->cal = make(spec);
    return f->cal;
}

static int64_t add(const cl_calendar_t *cal, int64_t start, int64_t dur)
{
    int64_t due = 0;
    assert_int_equal(cl_calendar_add(cal, start, dur, &due), 0);
    return due;
}

static int64_t next_working(const cl_calendar_t *cal, int64_t t)
{
    int64_t next = 0;
    assert_int_equal(cl_calendar_next_working(cal, t, &next), 0);
    return next;
}

/* --- the basics --- */

static void test_one_hour_from_friday_1730_ends_monday_0930(void **state)
{
    cl_calendar_spec_t spec = office("Asia/Shanghai", false);
    cl_calendar_t *cal = use(state, &spec);
    assert_int_equal(add(cal, at(2026, 6, 5, 17, 30, CST8), HOUR_US), at(2026, 6, 8, 9, 30, CST8));
}

static void test_lunch_break_is_skipped(void **state)
{
    cl_calendar_spec_t spec = office("Asia/Shanghai", true);
    cl_calendar_t *cal = use(state, &spec);
    assert_int_equal(add(cal, at(2026, 6, 1, 11, 0, CST8), 2 * HOUR_US), at(2026, 6, 1, 14, 0, CST8));
    /* a clock started during lunch starts at 13:00 */
    assert_int_equal(add(cal, at(2026, 6, 1, 12, 15, CST8), HOUR_US), at(2026, 6, 1, 14, 0, CST8));
    /* a due time at the start of lunch stays there */
    assert_int_equal(add(cal, at(2026, 6, 1, 11, 30, CST8), 30 * MIN_US), at(2026, 6, 1, 12, 0, CST8));
    assert_int_equal(cl_calendar_elapsed(cal, at(2026, 6, 1, 0, 0, CST8), at(2026, 6, 2, 0, 0, CST8)),
                     8 * HOUR_US);
}

static void test_a_day_of_four_intervals_counts_each_once(void **state)
{
    /* Monday 01-02, 03-04, 05-06 and 07-08; Tuesday 20:00-21:00 (2026-06-01 is a Monday) */
    cl_calendar_spec_t spec = {.tz = "Asia/Shanghai"};
    spec.week[1] = (cl_calendar_hours_t){4, {{60, 120}, {180, 240}, {300, 360}, {420, 480}}};
    spec.week[2] = hours1(20, 0, 21, 0);
    cl_calendar_t *cal = use(state, &spec);
    assert_int_equal(cl_calendar_elapsed(cal, at(2026, 6, 1, 0, 0, CST8), at(2026, 6, 2, 0, 0, CST8)), 4 * HOUR_US);
    assert_int_equal(add(cal, at(2026, 6, 1, 0, 0, CST8), 4 * HOUR_US), at(2026, 6, 1, 8, 0, CST8));
    assert_int_equal(add(cal, at(2026, 6, 1, 0, 0, CST8), 5 * HOUR_US), at(2026, 6, 2, 21, 0, CST8));
    assert_int_equal(add(cal, at(2026, 6, 1, 7, 30, CST8), HOUR_US), at(2026, 6, 2, 20, 30, CST8));
}

static void test_holiday_monday_pushes_to_tuesday(void **state)
{
    cl_calendar_spec_t spec = office("Asia/Shanghai", false);
    cl_calendar_date_t holidays[] = {{2026, 6, 8}};
    spec.holidays = holidays;
    spec.n_holidays = 1;
    cl_calendar_t *cal = use(state, &spec);
    assert_int_equal(add(cal, at(2026, 6, 5, 17, 30, CST8), HOUR_US), at(2026, 6, 9, 9, 30, CST8));
    assert_false(cl_calendar_is_working(cal, at(2026, 6, 8, 10, 0, CST8)));
    assert_int_equal(cl_calendar_elapsed(cal, at(2026, 6, 8, 0, 0, CST8), at(2026, 6, 9, 0, 0, CST8)), 0);
}

static void test_extra_working_saturday_counts(void **state)
{
    cl_calendar_spec_t spec = office("Asia/Shanghai", false);
    cl_calendar_extra_t like_monday[] = {{{2026, 6, 6}, 1}};
    spec.extra_days = like_monday;
    spec.n_extra_days = 1;
    cl_calendar_t *cal = use(state, &spec);
    assert_int_equal(add(cal, at(2026, 6, 5, 17, 30, CST8), HOUR_US), at(2026, 6, 6, 9, 30, CST8));
    assert_true(cl_calendar_is_working(cal, at(2026, 6, 6, 9, 0, CST8)));
    assert_false(cl_calendar_is_working(cal, at(2026, 6, 13, 9, 0, CST8))); /* the next Saturday rests */

    /* an extra day with the default hours 10:00-14:00 */
    cl_calendar_extra_t short_day[] = {{{2026, 6, 6}, -1}};
    spec.extra_days = short_day;
    spec.extra_hours = hours1(10, 0, 14, 0);
    cal = use(state, &spec);
    assert_int_equal(add(cal, at(2026, 6, 5, 17, 30, CST8), HOUR_US), at(2026, 6, 6, 10, 30, CST8));
    assert_int_equal(add(cal, at(2026, 6, 5, 17, 30, CST8), 5 * HOUR_US), at(2026, 6, 8, 9, 30, CST8));
}

static void test_clock_armed_at_night_starts_counting_in_the_morning(void **state)
{
    cl_calendar_spec_t spec = office("Asia/Shanghai", false);
    cl_calendar_t *cal = use(state, &spec);
    assert_int_equal(add(cal, at(2026, 6, 2, 2, 0, CST8), 2 * HOUR_US), at(2026, 6, 2, 11, 0, CST8));
    assert_int_equal(add(cal, at(2026, 6, 1, 23, 59, CST8), 2 * HOUR_US), at(2026, 6, 2, 11, 0, CST8));
    assert_int_equal(add(cal, at(2026, 6, 6, 3, 0, CST8), HOUR_US), at(2026, 6, 8, 10, 0, CST8));
}

static void test_zero_duration_is_due_at_the_next_working_moment(void **state)
{
    cl_calendar_spec_t spec = office("Asia/Shanghai", false);
    cl_calendar_t *cal = use(state, &spec);
    int64_t inside = at(2026, 6, 2, 10, 17, CST8) + 123;
    assert_int_equal(add(cal, inside, 0), inside);
    assert_int_equal(add(cal, at(2026, 6, 2, 3, 0, CST8), 0), at(2026, 6, 2, 9, 0, CST8));
    assert_int_equal(add(cal, at(2026, 6, 2, 18, 0, CST8), 0), at(2026, 6, 3, 9, 0, CST8));
}

static void test_start_exactly_at_an_interval_boundary(void **state)
{
    cl_calendar_spec_t spec = office("Asia/Shanghai", true);
    cl_calendar_t *cal = use(state, &spec);
    /* a full day from its opening ends at its closing, not the next morning */
    assert_int_equal(add(cal, at(2026, 6, 2, 9, 0, CST8), 8 * HOUR_US), at(2026, 6, 2, 18, 0, CST8));
    /* started at closing time: counts from the next opening */
    assert_int_equal(add(cal, at(2026, 6, 2, 18, 0, CST8), HOUR_US), at(2026, 6, 3, 10, 0, CST8));
    /* started at the start of lunch: counts from 13:00 */
    assert_int_equal(add(cal, at(2026, 6, 2, 12, 0, CST8), HOUR_US), at(2026, 6, 2, 14, 0, CST8));
    /* started at the end of lunch */
    assert_int_equal(add(cal, at(2026, 6, 2, 13, 0, CST8), HOUR_US), at(2026, 6, 2, 14, 0, CST8));
    /* one microsecond before closing */
    assert_int_equal(add(cal, at(2026, 6, 2, 18, 0, CST8) - 1, 2), at(2026, 6, 3, 9, 0, CST8) + 1);
}

static void test_working_day_starting_mid_clock_is_counted_from_its_opening(void **state)
{
    cl_calendar_spec_t spec = office("Asia/Shanghai", false);
    cl_calendar_t *cal = use(state, &spec);
    /* Thu 1 h, Fri 9 h, Mon 2 h */
    assert_int_equal(add(cal, at(2026, 6, 4, 17, 0, CST8), 12 * HOUR_US), at(2026, 6, 8, 11, 0, CST8));

    /* an extra Sunday afternoon opens while the clock runs */
    cl_calendar_extra_t sunday[] = {{{2026, 6, 7}, -1}};
    spec.extra_days = sunday;
    spec.n_extra_days = 1;
    spec.extra_hours = hours1(13, 0, 17, 0);
    cal = use(state, &spec);
    assert_int_equal(add(cal, at(2026, 6, 4, 17, 0, CST8), 12 * HOUR_US), at(2026, 6, 7, 15, 0, CST8));
}

/* --- time zones --- */

static void test_dst_spring_forward_week_in_new_york(void **state)
{
    cl_calendar_spec_t spec = office("America/New_York", false);
    cl_calendar_t *cal = use(state, &spec);
    /* 24 working hours from Fri 10:00 EST: Fri 8, Mon 9, Tue 7, Tue 16:00 EDT */
    assert_int_equal(add(cal, at(2026, 3, 6, 10, 0, EST), 24 * HOUR_US), at(2026, 3, 10, 16, 0, EDT));
    assert_int_equal(cl_calendar_elapsed(cal, at(2026, 3, 6, 18, 0, EST), at(2026, 3, 9, 9, 0, EDT)), 0);
    assert_true(cl_calendar_is_working(cal, at(2026, 3, 9, 9, 0, EDT)));
    assert_false(cl_calendar_is_working(cal, at(2026, 3, 9, 9, 0, EDT) - 1));
    assert_int_equal(next_working(cal, at(2026, 3, 7, 12, 0, EST)), at(2026, 3, 9, 9, 0, EDT));

    /* round the clock: 24 working hours are 24 real hours, 13:00 on the wall */
    cl_calendar_spec_t always = {.tz = "America/New_York"};
    for (int w = 0; w < 7; w++)
        always.week[w] = hours1(0, 0, 24, 0);
    cal = use(state, &always);
    assert_int_equal(add(cal, at(2026, 3, 7, 12, 0, EST), 24 * HOUR_US), at(2026, 3, 8, 13, 0, EDT));
    assert_int_equal(cl_calendar_elapsed(cal, at(2026, 3, 8, 0, 0, EST), at(2026, 3, 9, 0, 0, EDT)),
                     23 * HOUR_US);

    /* a Sunday night shift 00:00-06:00 holds 5 real hours that night */
    cl_calendar_spec_t night = office("America/New_York", false);
    night.week[0] = hours1(0, 0, 6, 0);
    cal = use(state, &night);
    assert_int_equal(cl_calendar_elapsed(cal, at(2026, 3, 8, 0, 0, EST), at(2026, 3, 8, 12, 0, EDT)),
                     5 * HOUR_US);
    assert_int_equal(add(cal, at(2026, 3, 8, 0, 0, EST), HOUR_US), at(2026, 3, 8, 1, 0, EST));
    assert_int_equal(add(cal, at(2026, 3, 8, 0, 0, EST), 2 * HOUR_US), at(2026, 3, 8, 3, 0, EDT));
    assert_int_equal(add(cal, at(2026, 3, 7, 12, 0, EST), 5 * HOUR_US), at(2026, 3, 8, 6, 0, EDT));
}

static void test_wall_times_in_the_spring_gap_move_to_its_end(void **state)
{
    /* Sunday 02:00-03:00 does not exist on 2026-03-08: no work that day */
    cl_calendar_spec_t spec = office("America/New_York", false);
    spec.week[0] = hours1(2, 0, 3, 0);
    cl_calendar_t *cal = use(state, &spec);
    assert_int_equal(cl_calendar_elapsed(cal, at(2026, 3, 7, 0, 0, EST), at(2026, 3, 9, 0, 0, EDT)), 0);
    assert_int_equal(cl_calendar_elapsed(cal, at(2026, 3, 14, 0, 0, EDT), at(2026, 3, 16, 0, 0, EDT)),
                     HOUR_US);
    assert_false(cl_calendar_is_working(cal, at(2026, 3, 8, 3, 0, EDT)));

    /* Sunday 02:30-04:00 starts when the gap ends, 03:00 EDT */
    spec.week[0] = hours1(2, 30, 4, 0);
    cal = use(state, &spec);
    assert_int_equal(next_working(cal, at(2026, 3, 8, 0, 0, EST)), at(2026, 3, 8, 3, 0, EDT));
    assert_int_equal(cl_calendar_elapsed(cal, at(2026, 3, 8, 0, 0, EST), at(2026, 3, 9, 0, 0, EDT)), HOUR_US);
}

static void test_dst_fall_back_week_in_new_york(void **state)
{
    cl_calendar_spec_t spec = office("America/New_York", false);
    cl_calendar_t *cal = use(state, &spec);
    assert_int_equal(add(cal, at(2026, 10, 30, 10, 0, EDT), 24 * HOUR_US), at(2026, 11, 3, 16, 0, EST));
    assert_int_equal(next_working(cal, at(2026, 10, 31, 12, 0, EDT)), at(2026, 11, 2, 9, 0, EST));

    cl_calendar_spec_t always = {.tz = "America/New_York"};
    for (int w = 0; w < 7; w++)
        always.week[w] = hours1(0, 0, 24, 0);
    cal = use(state, &always);
    assert_int_equal(add(cal, at(2026, 10, 31, 12, 0, EDT), 24 * HOUR_US), at(2026, 11, 1, 11, 0, EST));
    assert_int_equal(cl_calendar_elapsed(cal, at(2026, 11, 1, 0, 0, EDT), at(2026, 11, 2, 0, 0, EST)),
                     25 * HOUR_US);
}

static void test_wall_times_in_the_fall_overlap_take_the_earlier_instant(void **state)
{
    cl_calendar_spec_t spec = office("America/New_York", false);
    spec.week[0] = hours1(0, 0, 3, 0); /* 00:00 EDT to 03:00 EST: 4 real hours */
    cl_calendar_t *cal = use(state, &spec);
    assert_int_equal(cl_calendar_elapsed(cal, at(2026, 11, 1, 0, 0, EDT), at(2026, 11, 2, 0, 0, EST)),
                     4 * HOUR_US);

    spec.week[0] = hours1(0, 0, 1, 30); /* ends at the first 01:30 */
    cal = use(state, &spec);
    assert_true(cl_calendar_is_working(cal, at(2026, 11, 1, 1, 15, EDT)));
    assert_false(cl_calendar_is_working(cal, at(2026, 11, 1, 1, 15, EST)));
    assert_int_equal(add(cal, at(2026, 11, 1, 0, 0, EDT), 90 * MIN_US), at(2026, 11, 1, 1, 30, EDT));

    spec.week[0] = hours1(1, 30, 3, 0); /* from the first 01:30 */
    cal = use(state, &spec);
    assert_int_equal(next_working(cal, at(2026, 11, 1, 0, 0, EDT)), at(2026, 11, 1, 1, 30, EDT));
    assert_int_equal(cl_calendar_elapsed(cal, at(2026, 11, 1, 0, 0, EDT), at(2026, 11, 2, 0, 0, EST)),
                     150 * MIN_US);
}

static void test_dst_weeks_in_berlin(void **state)
{
    cl_calendar_spec_t spec = office("Europe/Berlin", false);
    cl_calendar_t *cal = use(state, &spec);
    assert_int_equal(add(cal, at(2026, 3, 27, 10, 0, CET), 24 * HOUR_US), at(2026, 3, 31, 16, 0, CEST));
    assert_int_equal(add(cal, at(2026, 10, 23, 10, 0, CEST), 24 * HOUR_US), at(2026, 10, 27, 16, 0, CET));
    assert_int_equal(cl_calendar_elapsed(cal, at(2026, 3, 23, 0, 0, CET), at(2026, 3, 30, 0, 0, CEST)),
                     45 * HOUR_US);

    cl_calendar_spec_t always = {.tz = "Europe/Berlin"};
    for (int w = 0; w < 7; w++)
        always.week[w] = hours1(0, 0, 24, 0);
    cal = use(state, &always);
    assert_int_equal(add(cal, at(2026, 3, 28, 12, 0, CET), 24 * HOUR_US), at(2026, 3, 29, 13, 0, CEST));
    assert_int_equal(add(cal, at(2026, 10, 24, 12, 0, CEST), 24 * HOUR_US), at(2026, 10, 25, 11, 0, CET));
}

static void test_shanghai_keeps_one_offset_all_year(void **state)
{
    cl_calendar_spec_t spec = office("Asia/Shanghai", false);
    cl_calendar_t *cal = use(state, &spec);
    assert_string_equal(cl_calendar_tz(cal), "Asia/Shanghai");
    assert_int_equal(add(cal, at(2026, 1, 14, 17, 0, CST8), 2 * HOUR_US), at(2026, 1, 15, 10, 0, CST8));
    assert_int_equal(add(cal, at(2026, 7, 15, 17, 0, CST8), 2 * HOUR_US), at(2026, 7, 16, 10, 0, CST8));
    assert_int_equal(cl_calendar_elapsed(cal, at(2026, 3, 2, 0, 0, CST8), at(2026, 3, 9, 0, 0, CST8)),
                     45 * HOUR_US);
}

/* --- working days (R-CL-3) and long spans --- */

static void test_two_three_and_fifteen_working_days(void **state)
{
    cl_calendar_spec_t spec = office("Asia/Shanghai", false);
    cl_calendar_t *cal = use(state, &spec);
    int64_t wd = 9 * HOUR_US, mon = at(2026, 6, 1, 9, 0, CST8);
    assert_int_equal(add(cal, mon, 2 * wd), at(2026, 6, 2, 18, 0, CST8));
    assert_int_equal(add(cal, mon, 3 * wd), at(2026, 6, 3, 18, 0, CST8));
    assert_int_equal(add(cal, mon, 15 * wd), at(2026, 6, 19, 18, 0, CST8));
    int64_t wed = at(2026, 6, 3, 14, 0, CST8);
    assert_int_equal(add(cal, wed, 2 * wd), at(2026, 6, 5, 14, 0, CST8));
    assert_int_equal(add(cal, wed, 3 * wd), at(2026, 6, 8, 14, 0, CST8));

    /* the Dragon Boat holiday on Friday 2026-06-19 */
    cl_calendar_date_t holidays[] = {{2026, 6, 19}};
    spec.holidays = holidays;
    spec.n_holidays = 1;
    cal = use(state, &spec);
    assert_int_equal(add(cal, mon, 15 * wd), at(2026, 6, 22, 18, 0, CST8));
    assert_int_equal(cl_calendar_elapsed(cal, mon, at(2026, 6, 22, 18, 0, CST8)), 15 * wd);
}

static void test_durations_longer_than_a_week_cross_dst_and_holidays(void **state)
{
    cl_calendar_spec_t spec = office("America/New_York", false);
    cl_calendar_t *cal = use(state, &spec);
    int64_t wd = 9 * HOUR_US, start = at(2026, 1, 5, 9, 0, EST);
    assert_int_equal(add(cal, start, 7 * wd), at(2026, 1, 13, 18, 0, EST));
    /* 100 working days: 20 weeks, across spring forward */
    assert_int_equal(add(cal, start, 100 * wd), at(2026, 5, 22, 18, 0, EDT));
    /* 250 working days: 50 weeks, across both changes */
    assert_int_equal(add(cal, start, 250 * wd), at(2026, 12, 18, 18, 0, EST));
    assert_int_equal(cl_calendar_elapsed(cal, start, at(2026, 12, 18, 18, 0, EST)), 250 * wd);

    cl_calendar_date_t holidays[] = {{2026, 1, 19}, {2026, 2, 16}, {2026, 5, 25}, {2026, 6, 19}, {2026, 7, 3},
                                     {2026, 9, 7},  {2026, 10, 12}, {2026, 11, 11}, {2026, 11, 26}, {2026, 11, 27},
                                     {2026, 11, 27}}; /* listed twice, counts once */
    spec.holidays = holidays;
    spec.n_holidays = sizeof holidays / sizeof holidays[0];
    cal = use(state, &spec);
    assert_int_equal(add(cal, start, 250 * wd), at(2027, 1, 1, 18, 0, EST));
    assert_int_equal(cl_calendar_elapsed(cal, start, at(2027, 1, 1, 18, 0, EST)), 250 * wd);
}

/* --- properties --- */

static uint64_t s_rng = 0x2545F4914F6CDD1DULL;

static uint64_t rnd(uint64_t n)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return s_rng % n;
}

/* New York, lunch break, a few holidays and extra days over two years. */
static cl_calendar_t *busy_calendar(void **state)
{
    static const cl_calendar_date_t holidays[] = {{2025, 12, 25}, {2026, 1, 1}, {2026, 3, 9},
                                                  {2026, 7, 3},   {2026, 11, 2}, {2026, 12, 25}};
    static const cl_calendar_extra_t extras[] = {{{2026, 3, 7}, 1}, {{2026, 3, 8}, -1}, {{2026, 10, 31}, 5},
                                                 {{2026, 11, 1}, -1}};
    cl_calendar_spec_t spec = office("America/New_York", true);
    spec.week[6] = hours1(10, 0, 14, 0);
    spec.holidays = holidays;
    spec.n_holidays = sizeof holidays / sizeof holidays[0];
    spec.extra_days = extras;
    spec.n_extra_days = sizeof extras / sizeof extras[0];
    spec.extra_hours = (cl_calendar_hours_t){2, {{60, 150}, {600, 1440}}}; /* 01:00-02:30, 10:00-24:00 */
    return use(state, &spec);
}

static int64_t random_instant(void)
{
    int64_t from = at(2025, 12, 1, 0, 0, 0), to = at(2027, 2, 1, 0, 0, 0);
    int64_t t = from + (int64_t)rnd((uint64_t)(to - from));
    return rnd(2) ? t : t - t % MIN_US; /* half of them on whole minutes */
}

static int64_t random_duration(void)
{
    switch (rnd(4)) {
    case 0: return 0;
    case 1: return (int64_t)rnd(600) * MIN_US;
    case 2: return (int64_t)rnd((uint64_t)(3 * DAY_US));
    default: return (int64_t)rnd((uint64_t)(60 * DAY_US));
    }
}


static void test_local_days_minutes_and_times_agree_with_the_zone(void **state)
{
    cl_calendar_t *cal = busy_calendar(state);
    /* Local day, weekday and days that work. 2026-03-09 (a Monday) is a holiday, 2026-03-07
       (a Saturday) an extra day, 2026-03-08 (a Sunday) an extra day with the extra hours. */
    int64_t mon = cl_calendar_day(cal, at(2026, 3, 9, 0, 30, EDT));
    assert_int_equal(cl_calendar_day(cal, at(2026, 3, 9, 23, 59, EDT)), mon);
    assert_int_equal(cl_calendar_day(cal, at(2026, 3, 10, 0, 0, EDT)), mon + 1);
    assert_int_equal(cl_calendar_weekday(mon), 1);
    assert_false(cl_calendar_works_on(cal, mon));
    assert_true(cl_calendar_works_on(cal, mon + 1));
    assert_true(cl_calendar_works_on(cal, mon - 2));
    assert_true(cl_calendar_works_on(cal, mon - 1));
    assert_false(cl_calendar_works_on(cal, mon + 6)); /* 2026-03-15, a plain Sunday */
    assert_true(cl_calendar_works_on(cal, mon + 5));  /* a Saturday: the week's hours 10:00-14:00 */
    /* Minutes of a day: the spring-forward Sunday (2026-03-08) has no 02:30, which moves to 03:00. */
    assert_int_equal(cl_calendar_local(cal, mon, 9 * 60), at(2026, 3, 9, 9, 0, EDT));
    assert_int_equal(cl_calendar_local(cal, mon - 1, 60), at(2026, 3, 8, 1, 0, EST));
    assert_int_equal(cl_calendar_local(cal, mon - 1, 150), at(2026, 3, 8, 3, 0, EDT));
    assert_int_equal(cl_calendar_local(cal, mon - 1, 1440), at(2026, 3, 9, 0, 0, EDT));
    assert_int_equal(cl_calendar_week(cal, 6)->n, 1);
    assert_int_equal(cl_calendar_week(cal, 6)->iv[0].from_min, 600);
    assert_int_equal(cl_calendar_week(cal, 0)->n, 0);
    /* The wall-clock time agrees with the C library's over random instants of two years. */
    for (int i = 0; i < 3000; i++) {
        int64_t t = random_instant();
        struct tm want, got;
        assert_int_equal(cl_tz_localtime("America/New_York", t, &want), 0);
        cl_calendar_localtime(cal, t, &got);
        if (got.tm_wday != want.tm_wday || got.tm_hour != want.tm_hour || got.tm_min != want.tm_min ||
            got.tm_sec != want.tm_sec)
            fail_msg("at %lld: %d %02d:%02d:%02d, expected %d %02d:%02d:%02d", (long long)t, got.tm_wday, got.tm_hour,
                     got.tm_min, got.tm_sec, want.tm_wday, want.tm_hour, want.tm_min, want.tm_sec);
        assert_int_equal(cl_calendar_day(cal, t), cl_calendar_day(cal, cl_calendar_local(cal, cl_calendar_day(cal, t),
                                                                                            got.tm_hour * 60 + got.tm_min)));
    }
}

static void test_elapsed_is_the_inverse_of_add(void **state)
{
    cl_calendar_t *cal = busy_calendar(state);
    for (int i = 0; i < 3000; i++) {
        int64_t start = random_instant(), dur = random_duration();
        int64_t due = add(cal, start, dur);
        assert_true(due >= start);
        assert_int_equal(cl_calendar_elapsed(cal, start, due), dur);
        if (dur > 0) /* and not a moment earlier */
            assert_int_equal(cl_calendar_elapsed(cal, start, due - 1), dur - 1);

        int64_t t = start + (int64_t)rnd((uint64_t)(40 * DAY_US));
        int64_t e = cl_calendar_elapsed(cal, start, t);
        if (e == 0) /* nothing worked: add() would wait for the next working moment */
            continue;
        int64_t back = add(cal, start, e);
        assert_true(back <= t);
        assert_int_equal(cl_calendar_elapsed(cal, back, t), 0);
    }
}

static void test_elapsed_over_two_running_spans_adds_up(void **state)
{
    cl_calendar_spec_t spec = office("Asia/Shanghai", true);
    cl_calendar_t *cal = use(state, &spec);
    int64_t start = at(2026, 6, 1, 10, 0, CST8), dur = 24 * HOUR_US;
    assert_int_equal(add(cal, start, dur), at(2026, 6, 4, 10, 0, CST8)); /* never paused */

    int64_t paused = at(2026, 6, 2, 11, 0, CST8), resumed = at(2026, 6, 4, 15, 0, CST8);
    int64_t ran = cl_calendar_elapsed(cal, start, paused);
    assert_int_equal(ran, 9 * HOUR_US);
    int64_t due = add(cal, resumed, dur - ran);
    assert_int_equal(due, at(2026, 6, 8, 14, 0, CST8)); /* Thu 3 h, Fri 8 h, Mon 4 h */
    assert_int_equal(ran + cl_calendar_elapsed(cal, resumed, due), dur);

    /* and on random instants: elapsed(a, c) = elapsed(a, b) + elapsed(b, c) */
    cal = busy_calendar(state);
    for (int i = 0; i < 2000; i++) {
        int64_t a = random_instant();
        int64_t b = a + (int64_t)rnd((uint64_t)(20 * DAY_US)), c = b + (int64_t)rnd((uint64_t)(20 * DAY_US));
        assert_int_equal(cl_calendar_elapsed(cal, a, c),
                         cl_calendar_elapsed(cal, a, b) + cl_calendar_elapsed(cal, b, c));
    }
}

/* Whether the wall time at t falls in the calendar's hours, read the plain way. */
static bool naive_is_working(int64_t t, const cl_calendar_date_t *hol, size_t nh)
{
    struct tm tm;
    assert_int_equal(cl_tz_localtime("America/New_York", t, &tm), 0);
    for (size_t i = 0; i < nh; i++)
        if (hol[i].year == tm.tm_year + 1900 && hol[i].month == tm.tm_mon + 1 && hol[i].day == tm.tm_mday)
            return false;
    int m = tm.tm_hour * 60 + tm.tm_min;
    if (tm.tm_wday >= 1 && tm.tm_wday <= 5)
        return (m >= 540 && m < 720) || (m >= 780 && m < 1080);
    return tm.tm_wday == 6 && m >= 600 && m < 840;
}

static void test_is_working_agrees_with_the_wall_clock_away_from_dst_changes(void **state)
{
    static const cl_calendar_date_t holidays[] = {{2026, 1, 1}, {2026, 7, 3}, {2026, 12, 25}};
    cl_calendar_spec_t spec = office("America/New_York", true);
    spec.week[6] = hours1(10, 0, 14, 0);
    spec.holidays = holidays;
    spec.n_holidays = 3;
    cl_calendar_t *cal = use(state, &spec);
    int checked = 0;
    for (int i = 0; i < 2000; i++) {
        int64_t t = random_instant();
        struct tm before, after;
        assert_int_equal(cl_tz_localtime("America/New_York", t - DAY_US, &before), 0);
        assert_int_equal(cl_tz_localtime("America/New_York", t + DAY_US, &after), 0);
        if (before.tm_gmtoff != after.tm_gmtoff)
            continue;
        assert_int_equal(cl_calendar_is_working(cal, t), naive_is_working(t, holidays, 3));
        checked++;
    }
    assert_true(checked > 1800);
}

/* --- boundaries and refusals --- */

static void test_is_working_and_next_working_at_boundaries(void **state)
{
    cl_calendar_spec_t spec = office("Europe/Berlin", true);
    cl_calendar_t *cal = use(state, &spec);
    int64_t open = at(2026, 6, 2, 9, 0, CEST), close = at(2026, 6, 2, 18, 0, CEST);
    int64_t lunch = at(2026, 6, 2, 12, 0, CEST), back = at(2026, 6, 2, 13, 0, CEST);
    assert_true(cl_calendar_is_working(cal, open));
    assert_false(cl_calendar_is_working(cal, open - 1));
    assert_int_equal(next_working(cal, open - 1), open);
    assert_int_equal(next_working(cal, open), open);
    assert_true(cl_calendar_is_working(cal, lunch - 1));
    assert_false(cl_calendar_is_working(cal, lunch));
    assert_int_equal(next_working(cal, lunch), back);
    assert_true(cl_calendar_is_working(cal, back));
    assert_true(cl_calendar_is_working(cal, close - 1));
    assert_false(cl_calendar_is_working(cal, close));
    assert_int_equal(next_working(cal, close), at(2026, 6, 3, 9, 0, CEST));
    assert_int_equal(next_working(cal, at(2026, 6, 5, 18, 0, CEST)), at(2026, 6, 8, 9, 0, CEST));
}

static void test_elapsed_of_an_empty_or_reversed_span_is_zero(void **state)
{
    cl_calendar_spec_t spec = office("Europe/Berlin", false);
    cl_calendar_t *cal = use(state, &spec);
    int64_t t = at(2026, 6, 2, 10, 0, CEST);
    assert_int_equal(cl_calendar_elapsed(cal, t, t), 0);
    assert_int_equal(cl_calendar_elapsed(cal, t, t - HOUR_US), 0);
    assert_int_equal(cl_calendar_elapsed(cal, t, t + HOUR_US), HOUR_US);
}

static void test_add_refuses_negative_durations_and_unsupported_instants(void **state)
{
    cl_calendar_spec_t spec = office("Europe/Berlin", false);
    cl_calendar_t *cal = use(state, &spec);
    int64_t due = 42;
    assert_int_equal(cl_calendar_add(cal, at(2026, 6, 2, 10, 0, CEST), -1, &due), -1);
    assert_int_equal(cl_calendar_add(cal, at(1800, 1, 1, 0, 0, 0), HOUR_US, &due), -1);
    assert_int_equal(cl_calendar_add(cal, at(2400, 1, 1, 0, 0, 0), HOUR_US, &due), -1);
    assert_int_equal(cl_calendar_add(cal, at(2298, 12, 31, 17, 0, CET), DAY_US, &due), -1);
    assert_int_equal(due, 42);
    assert_false(cl_calendar_is_working(cal, at(2400, 1, 3, 10, 0, CET)));
}

static void test_bad_calendars_are_refused_with_the_field_at_fault(void **state)
{
    cl_err_t err;
    cl_calendar_spec_t spec = office("Mars/Olympus_Mons", false);
    assert_null(cl_calendar_new(&spec, &err));
    assert_int_equal(err.code, CL_INVALID_ARGUMENT);
    assert_string_equal(err.field, "tz");
    spec.tz = "../../etc/passwd";
    assert_null(cl_calendar_new(&spec, &err));
    assert_string_equal(err.field, "tz");

    spec = office("Asia/Shanghai", false);
    spec.week[2] = (cl_calendar_hours_t){2, {{540, 780}, {720, 1080}}}; /* overlapping */
    assert_null(cl_calendar_new(&spec, &err));
    assert_string_equal(err.field, "week[2]");
    spec.week[2] = hours1(18, 0, 9, 0); /* backwards */
    assert_null(cl_calendar_new(&spec, &err));
    spec.week[2] = hours1(9, 0, 24, 1); /* past midnight */
    assert_null(cl_calendar_new(&spec, &err));
    spec.week[2].n = 5;
    assert_null(cl_calendar_new(&spec, &err));

    cl_calendar_spec_t idle = {.tz = "Asia/Shanghai"};
    assert_null(cl_calendar_new(&idle, &err));
    assert_string_equal(err.field, "week");

    spec = office("Asia/Shanghai", false);
    cl_calendar_date_t feb30[] = {{2026, 2, 30}};
    spec.holidays = feb30;
    spec.n_holidays = 1;
    assert_null(cl_calendar_new(&spec, &err));
    assert_string_equal(err.field, "holidays[0]");

    cl_calendar_date_t day[] = {{2026, 6, 6}};
    cl_calendar_extra_t same[] = {{{2026, 6, 6}, 1}};
    spec.holidays = day;
    spec.extra_days = same;
    spec.n_extra_days = 1;
    assert_null(cl_calendar_new(&spec, &err));
    assert_string_equal(err.field, "extra_days[0]");

    spec.n_holidays = 0;
    cl_calendar_extra_t restless[] = {{{2026, 6, 6}, 0}}; /* Sunday's hours: none */
    spec.extra_days = restless;
    assert_null(cl_calendar_new(&spec, &err));
    cl_calendar_extra_t no_day[] = {{{2026, 6, 6}, 7}};
    spec.extra_days = no_day;
    assert_null(cl_calendar_new(&spec, &err));
    assert_null(cl_calendar_new(&spec, NULL));

    /* destroy is safe twice and on NULL */
    fixture_t *f = *state;
    spec = office("Asia/Shanghai", false);
    f->cal = cl_calendar_new(&spec, &err);
    assert_non_null(f->cal);
    cl_calendar_destroy(&f->cal);
    assert_null(f->cal);
    cl_calendar_destroy(&f->cal);
    cl_calendar_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_one_hour_from_friday_1730_ends_monday_0930, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lunch_break_is_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_day_of_four_intervals_counts_each_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_holiday_monday_pushes_to_tuesday, setup, teardown),
        cmocka_unit_test_setup_teardown(test_extra_working_saturday_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clock_armed_at_night_starts_counting_in_the_morning, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_duration_is_due_at_the_next_working_moment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_exactly_at_an_interval_boundary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_working_day_starting_mid_clock_is_counted_from_its_opening, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dst_spring_forward_week_in_new_york, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wall_times_in_the_spring_gap_move_to_its_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dst_fall_back_week_in_new_york, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wall_times_in_the_fall_overlap_take_the_earlier_instant, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dst_weeks_in_berlin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shanghai_keeps_one_offset_all_year, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_three_and_fifteen_working_days, setup, teardown),
        cmocka_unit_test_setup_teardown(test_durations_longer_than_a_week_cross_dst_and_holidays, setup, teardown),
        cmocka_unit_test_setup_teardown(test_elapsed_is_the_inverse_of_add, setup, teardown),
        cmocka_unit_test_setup_teardown(test_local_days_minutes_and_times_agree_with_the_zone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_elapsed_over_two_running_spans_adds_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_is_working_agrees_with_the_wall_clock_away_from_dst_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_is_working_and_next_working_at_boundaries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_elapsed_of_an_empty_or_reversed_span_is_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_refuses_negative_durations_and_unsupported_instants, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_calendars_are_refused_with_the_field_at_fault, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
