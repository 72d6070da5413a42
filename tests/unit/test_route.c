/* test_route.c - classification by keywords, shifts across days and midnight, and who takes a case. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "route.h"
#include "caseloop/v1/common.pb-c.h"

#define COMPLAINT CASELOOP__V1__KIND__KIND_COMPLAINT
#define REPAIR CASELOOP__V1__KIND__KIND_REPAIR
#define SUGGESTION CASELOOP__V1__KIND__KIND_SUGGESTION
#define PRAISE CASELOOP__V1__KIND__KIND_PRAISE
#define SAFETY CASELOOP__V1__KIND__KIND_SAFETY
#define OTHER CASELOOP__V1__KIND__KIND_OTHER
#define GENERAL CASELOOP__V1__SEVERITY__SEVERITY_GENERAL
#define IMPORTANT CASELOOP__V1__SEVERITY__SEVERITY_IMPORTANT
#define MAJOR CASELOOP__V1__SEVERITY__SEVERITY_MAJOR

/* Days of cl_shift_t: bit 0 Monday ... bit 6 Sunday. */
#define MON 0x01
#define TUE 0x02
#define SAT 0x20
#define SUN 0x40
#define WEEKDAYS 0x1f
#define EVERY_DAY 0x7f

/* tm_wday values: 0 is Sunday. */
enum { W_SUN = 0, W_MON, W_TUE, W_WED, W_THU, W_FRI, W_SAT };

#define N(a) (sizeof(a) / sizeof((a)[0]))

static struct tm s_at(int wday, int hour, int min)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_wday = wday;
    tm.tm_hour = hour;
    tm.tm_min = min;
    return tm;
}

/* ---- classification ---- */

static char *s_complaint_words[] = {"投诉", "complain"};
static char *s_repair_words[] = {"漏水", "坏了", "leak", "repair"};
static char *s_safety_words[] = {"火", "fire", "À"};
static cl_keyword_rule_t s_rules[] = {
    {COMPLAINT, s_complaint_words, N(s_complaint_words)},
    {REPAIR, s_repair_words, N(s_repair_words)},
    {SAFETY, s_safety_words, N(s_safety_words)},
};

static cl_site_policy_t s_keyword_site(void)
{
    cl_site_policy_t s;
    memset(&s, 0, sizeof s);
    s.keywords = s_rules;
    s.nkeywords = N(s_rules);
    return s;
}

static void test_classify_finds_chinese_words(void **state)
{
    (void)state;
    cl_site_policy_t s = s_keyword_site();
    assert_int_equal(cl_classify(&s, "3栋2单元厨房漏水，请尽快处理"), REPAIR);
    assert_int_equal(cl_classify(&s, "电梯坏了"), REPAIR);
    assert_int_equal(cl_classify(&s, "地下车库着火"), SAFETY);
    assert_int_equal(cl_classify(&s, "我要投诉保安态度"), COMPLAINT);
}

static void test_classify_ignores_the_case_of_english_words(void **state)
{
    (void)state;
    cl_site_policy_t s = s_keyword_site();
    assert_int_equal(cl_classify(&s, "The pipe is LEAKING"), REPAIR);
    assert_int_equal(cl_classify(&s, "Leak under the sink"), REPAIR);
    assert_int_equal(cl_classify(&s, "please Repair the door"), REPAIR);
    assert_int_equal(cl_classify(&s, "FIRE alarm"), SAFETY);
    assert_int_equal(cl_classify(&s, "I want to Complain"), COMPLAINT);
}

static void test_classify_folds_only_ascii_letters(void **state)
{
    (void)state;
    cl_site_policy_t s = s_keyword_site();
    /* "À" is C3 80 and "à" C3 A0: not the same word; bytes past ASCII are compared exactly */
    assert_int_equal(cl_classify(&s, "voilà"), OTHER);
    assert_int_equal(cl_classify(&s, "À la carte"), SAFETY);
}

static void test_classify_first_rule_wins_not_first_word_in_text(void **state)
{
    (void)state;
    cl_site_policy_t s = s_keyword_site();
    /* repair words come first in the text, the complaint rule comes first in the policy */
    assert_int_equal(cl_classify(&s, "楼上漏水三天没人管，我要投诉"), COMPLAINT);
    assert_int_equal(cl_classify(&s, "fire door needs repair"), REPAIR);
}

static void test_classify_without_a_match_is_other(void **state)
{
    (void)state;
    cl_site_policy_t s = s_keyword_site();
    assert_int_equal(cl_classify(&s, "谢谢物业的帮助"), OTHER);
    assert_int_equal(cl_classify(&s, "thanks for the help"), OTHER);
    assert_int_equal(cl_classify(&s, "lea"), OTHER); /* shorter than every word */
    assert_int_equal(cl_classify(&s, ""), OTHER);
    assert_int_equal(cl_classify(&s, NULL), OTHER);
    cl_site_policy_t none;
    memset(&none, 0, sizeof none);
    assert_int_equal(cl_classify(&none, "厨房漏水"), OTHER);
}

static void test_classify_never_matches_an_empty_word(void **state)
{
    (void)state;
    static char *empty[] = {""};
    static cl_keyword_rule_t rules[] = {{PRAISE, empty, 1}, {REPAIR, s_repair_words, N(s_repair_words)}};
    cl_site_policy_t s;
    memset(&s, 0, sizeof s);
    s.keywords = rules;
    s.nkeywords = N(rules);
    assert_int_equal(cl_classify(&s, "厨房漏水"), REPAIR);
    assert_int_equal(cl_classify(&s, "hello"), OTHER);
}

/* ---- shifts ---- */

typedef struct {
    const char *what;
    cl_shift_t shift;
    int wday, hour, min;
    bool on;
} shift_case_t;

static void s_check_shifts(const shift_case_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cl_shift_t sh = cases[i].shift;
        cl_staff_t st = {.role = CL_ROLE_SPECIALIST, .department = 0, .shifts = &sh, .nshifts = 1,
                         .reports_to = -1};
        struct tm tm = s_at(cases[i].wday, cases[i].hour, cases[i].min);
        if (cl_on_shift(&st, &tm) != cases[i].on)
            fail_msg("%s: expected %s", cases[i].what, cases[i].on ? "on shift" : "off shift");
    }
}

static void test_night_shift_runs_past_midnight_into_the_next_day(void **state)
{
    (void)state;
    const cl_shift_t mon_night = {MON, 22 * 60, 6 * 60};
    const shift_case_t cases[] = {
        {"Monday 21:59, before it starts", mon_night, W_MON, 21, 59, false},
        {"Monday 22:00, its start", mon_night, W_MON, 22, 0, true},
        {"Monday 23:00", mon_night, W_MON, 23, 0, true},
        {"Tuesday 00:00", mon_night, W_TUE, 0, 0, true},
        {"Tuesday 05:59", mon_night, W_TUE, 5, 59, true},
        {"Tuesday 06:00, its end", mon_night, W_TUE, 6, 0, false},
        {"Tuesday 23:00, Tuesday is not a start day", mon_night, W_TUE, 23, 0, false},
        {"Monday 05:00, Sunday is not a start day", mon_night, W_MON, 5, 0, false},
        {"Sunday 23:00", mon_night, W_SUN, 23, 0, false},
    };
    s_check_shifts(cases, N(cases));
}

static void test_sunday_night_shift_wraps_into_monday(void **state)
{
    (void)state;
    const cl_shift_t sun_night = {SUN, 22 * 60, 6 * 60};
    const shift_case_t cases[] = {
        {"Sunday 23:00 (tm_wday 0)", sun_night, W_SUN, 23, 0, true},
        {"Monday 05:59", sun_night, W_MON, 5, 59, true},
        {"Monday 06:00", sun_night, W_MON, 6, 0, false},
        {"Monday 23:00", sun_night, W_MON, 23, 0, false},
        {"Saturday 23:00", sun_night, W_SAT, 23, 0, false},
        {"Sunday 05:00, Saturday is not a start day", sun_night, W_SUN, 5, 0, false},
    };
    s_check_shifts(cases, N(cases));
}

static void test_whole_day_shift_covers_every_minute_of_its_day_only(void **state)
{
    (void)state;
    const cl_shift_t mon_all = {MON, 0, 24 * 60};
    const cl_shift_t sun_all = {SUN, 0, 24 * 60};
    const shift_case_t cases[] = {
        {"Monday 00:00", mon_all, W_MON, 0, 0, true},
        {"Monday 12:00", mon_all, W_MON, 12, 0, true},
        {"Monday 23:59", mon_all, W_MON, 23, 59, true},
        {"Tuesday 00:00", mon_all, W_TUE, 0, 0, false},
        {"Sunday 23:59", mon_all, W_SUN, 23, 59, false},
        {"Sunday 00:00 on a Sunday shift", sun_all, W_SUN, 0, 0, true},
        {"Sunday 23:59 on a Sunday shift", sun_all, W_SUN, 23, 59, true},
        {"Monday 00:00 after a Sunday shift", sun_all, W_MON, 0, 0, false},
        {"Saturday 12:00 on a Sunday shift", sun_all, W_SAT, 12, 0, false},
    };
    s_check_shifts(cases, N(cases));
}

static void test_shift_ending_at_its_start_time_lasts_24_hours(void **state)
{
    (void)state;
    const cl_shift_t mon_8 = {MON, 8 * 60, 8 * 60};
    const shift_case_t cases[] = {
        {"Monday 07:59", mon_8, W_MON, 7, 59, false},
        {"Monday 08:00", mon_8, W_MON, 8, 0, true},
        {"Tuesday 07:59", mon_8, W_TUE, 7, 59, true},
        {"Tuesday 08:00", mon_8, W_TUE, 8, 0, false},
    };
    s_check_shifts(cases, N(cases));
}

static void test_weekend_shift_counts_on_saturday_and_sunday_only(void **state)
{
    (void)state;
    const cl_shift_t weekend = {SAT | SUN, 9 * 60, 18 * 60};
    const cl_shift_t weekdays = {WEEKDAYS, 9 * 60, 18 * 60};
    const shift_case_t cases[] = {
        {"Saturday 09:00", weekend, W_SAT, 9, 0, true},
        {"Sunday 17:59", weekend, W_SUN, 17, 59, true},
        {"Sunday 18:00", weekend, W_SUN, 18, 0, false},
        {"Friday 12:00", weekend, W_FRI, 12, 0, false},
        {"Monday 12:00", weekend, W_MON, 12, 0, false},
        {"weekdays: Monday 09:00", weekdays, W_MON, 9, 0, true},
        {"weekdays: Friday 17:59", weekdays, W_FRI, 17, 59, true},
        {"weekdays: Wednesday 08:59", weekdays, W_WED, 8, 59, false},
        {"weekdays: Saturday 12:00", weekdays, W_SAT, 12, 0, false},
        {"weekdays: Sunday 12:00", weekdays, W_SUN, 12, 0, false},
    };
    s_check_shifts(cases, N(cases));
}

static void test_any_of_several_shifts_puts_staff_on_shift(void **state)
{
    (void)state;
    cl_shift_t split[] = {{WEEKDAYS, 8 * 60, 12 * 60}, {WEEKDAYS, 14 * 60, 18 * 60}};
    cl_staff_t st = {.role = CL_ROLE_SPECIALIST, .shifts = split, .nshifts = N(split), .reports_to = -1};
    struct tm morning = s_at(W_THU, 9, 0), lunch = s_at(W_THU, 13, 0), afternoon = s_at(W_THU, 15, 0);
    assert_true(cl_on_shift(&st, &morning));
    assert_false(cl_on_shift(&st, &lunch));
    assert_true(cl_on_shift(&st, &afternoon));
    cl_staff_t nobody = {.role = CL_ROLE_SPECIALIST, .reports_to = -1};
    assert_false(cl_on_shift(&nobody, &morning));
}

/* ---- assignment ---- */

enum { D_CS = 0, D_ENG = 1, D_SEC = 2 };

static int s_cs_kinds[] = {COMPLAINT, SUGGESTION};
static int s_eng_kinds[] = {REPAIR};
static int s_sec_kinds[] = {SAFETY};
static cl_department_t s_departments[] = {
    {"customer-service", "客户服务部", s_cs_kinds, N(s_cs_kinds)},
    {"engineering", "工程部", s_eng_kinds, N(s_eng_kinds)},
    {"security", "秩序维护部", s_sec_kinds, N(s_sec_kinds)},
};
/* important safety cases take the special path; major ones always do */
static cl_route_t s_routes[] = {{SAFETY, IMPORTANT, D_SEC, true}};

/* Monday 10:00: day staff on, night staff off. */
#define DAY_TIME W_MON, 10, 0
static cl_shift_t s_day[] = {{WEEKDAYS, 8 * 60, 17 * 60}};
static cl_shift_t s_night[] = {{EVERY_DAY, 22 * 60, 6 * 60}};
static int s_repair_skill[] = {REPAIR};

#define STAFF(role_, dept_, shifts_) \
    {.id = #role_, .role = (role_), .department = (dept_), .shifts = (shifts_), .nshifts = 1, .reports_to = -1}
#define SKILLED(role_, dept_, shifts_)                                                                 \
    {.id = #role_, .role = (role_), .department = (dept_), .skills = s_repair_skill, .nskills = 1, \
     .shifts = (shifts_), .nshifts = 1, .reports_to = -1}

static cl_site_policy_t s_site(cl_staff_t *staff, size_t nstaff)
{
    cl_site_policy_t s;
    memset(&s, 0, sizeof s);
    s.code = "site-1";
    s.departments = s_departments;
    s.ndepartments = N(s_departments);
    s.staff = staff;
    s.nstaff = nstaff;
    s.routes = s_routes;
    s.nroutes = N(s_routes);
    s.customer_service = D_CS;
    return s;
}

static cl_dispatch_t s_decide(cl_staff_t *staff, size_t nstaff, const uint32_t *open, int kind, int severity,
                              int wday, int hour, int min)
{
    cl_site_policy_t s = s_site(staff, nstaff);
    struct tm tm = s_at(wday, hour, min);
    cl_dispatch_t d;
    memset(&d, 0x55, sizeof d);
    assert_int_equal(cl_dispatch_decide(&s, kind, severity, &tm, open, &d), 0);
    return d;
}

static void test_fewer_open_cases_takes_the_case(void **state)
{
    (void)state;
    cl_staff_t staff[] = {STAFF(CL_ROLE_SPECIALIST, D_ENG, s_day), STAFF(CL_ROLE_SPECIALIST, D_ENG, s_day),
                          STAFF(CL_ROLE_ASSISTANT, D_ENG, s_day)};
    const struct {
        uint32_t open[3];
        int assignee;
    } cases[] = {
        {{3, 1, 2}, 1},
        {{0, 1, 2}, 0},
        {{5, 4, 3}, 2},
        {{2, 2, 2}, 0}, /* nobody skilled: the lower index */
        {{7, 2, 2}, 1},
    };
    for (size_t i = 0; i < N(cases); i++) {
        cl_dispatch_t d = s_decide(staff, N(staff), cases[i].open, REPAIR, GENERAL, DAY_TIME);
        assert_int_equal(d.department, D_ENG);
        assert_false(d.special);
        assert_int_equal(d.assignee, cases[i].assignee);
        assert_int_equal(d.notify, -1);
    }
}

static void test_skill_breaks_a_tie_but_not_an_imbalance(void **state)
{
    (void)state;
    cl_staff_t staff[] = {STAFF(CL_ROLE_SPECIALIST, D_ENG, s_day), SKILLED(CL_ROLE_SPECIALIST, D_ENG, s_day),
                          SKILLED(CL_ROLE_SPECIALIST, D_ENG, s_day)};
    const uint32_t tie[] = {2, 2, 2}, imbalance[] = {1, 2, 2}, tie_low[] = {3, 4, 3};
    assert_int_equal(s_decide(staff, N(staff), tie, REPAIR, GENERAL, DAY_TIME).assignee, 1);
    assert_int_equal(s_decide(staff, N(staff), imbalance, REPAIR, GENERAL, DAY_TIME).assignee, 0);
    assert_int_equal(s_decide(staff, N(staff), tie_low, REPAIR, GENERAL, DAY_TIME).assignee, 2);
}

static void test_skill_for_another_kind_does_not_break_a_tie(void **state)
{
    (void)state;
    /* both are in customer service; a repair skill does not help with a complaint */
    cl_staff_t staff[] = {STAFF(CL_ROLE_ASSISTANT, D_CS, s_day), SKILLED(CL_ROLE_ASSISTANT, D_CS, s_day)};
    const uint32_t open[] = {1, 1};
    assert_int_equal(s_decide(staff, N(staff), open, COMPLAINT, GENERAL, DAY_TIME).assignee, 0);
}

static void test_off_shift_staff_are_never_chosen(void **state)
{
    (void)state;
    cl_staff_t staff[] = {SKILLED(CL_ROLE_SPECIALIST, D_ENG, s_night), STAFF(CL_ROLE_SPECIALIST, D_ENG, s_day)};
    const uint32_t open[] = {0, 9};
    assert_int_equal(s_decide(staff, N(staff), open, REPAIR, GENERAL, DAY_TIME).assignee, 1);
    /* at night it is the other way round */
    assert_int_equal(s_decide(staff, N(staff), open, REPAIR, GENERAL, W_MON, 23, 0).assignee, 0);
    const uint32_t busy_night[] = {9, 0};
    assert_int_equal(s_decide(staff, N(staff), busy_night, REPAIR, GENERAL, W_TUE, 3, 0).assignee, 0);
}

static void test_other_departments_staff_are_never_chosen(void **state)
{
    (void)state;
    cl_staff_t staff[] = {STAFF(CL_ROLE_ASSISTANT, D_CS, s_day), SKILLED(CL_ROLE_SPECIALIST, D_SEC, s_day),
                          STAFF(CL_ROLE_SPECIALIST, D_ENG, s_day)};
    const uint32_t open[] = {0, 0, 5};
    cl_dispatch_t d = s_decide(staff, N(staff), open, REPAIR, GENERAL, DAY_TIME);
    assert_int_equal(d.department, D_ENG);
    assert_int_equal(d.assignee, 2);
}

static void test_supervisors_take_cases_only_when_nobody_else_is_on_shift(void **state)
{
    (void)state;
    cl_staff_t staff[] = {STAFF(CL_ROLE_SUPERVISOR, D_ENG, s_day), STAFF(CL_ROLE_SPECIALIST, D_ENG, s_day),
                          STAFF(CL_ROLE_SPECIALIST, D_ENG, s_night), STAFF(CL_ROLE_SUPERVISOR, D_ENG, s_day)};
    const uint32_t open[] = {3, 8, 0, 1};
    /* the day specialist is busy, yet still below a supervisor */
    assert_int_equal(s_decide(staff, N(staff), open, REPAIR, GENERAL, DAY_TIME).assignee, 1);
    /* the night specialist is the only one on at night, even with the supervisors idle */
    assert_int_equal(s_decide(staff, N(staff), open, REPAIR, GENERAL, W_WED, 2, 0).assignee, 2);
    /* with no specialist on shift, the supervisor with fewer open cases */
    staff[1].shifts = s_night;
    assert_int_equal(s_decide(staff, N(staff), open, REPAIR, GENERAL, DAY_TIME).assignee, 3);
    const uint32_t even[] = {1, 8, 0, 1};
    assert_int_equal(s_decide(staff, N(staff), even, REPAIR, GENERAL, DAY_TIME).assignee, 0);
}

static void test_nobody_on_shift_queues_the_case(void **state)
{
    (void)state;
    cl_staff_t staff[] = {STAFF(CL_ROLE_SPECIALIST, D_ENG, s_day), STAFF(CL_ROLE_SUPERVISOR, D_ENG, s_day),
                          STAFF(CL_ROLE_SPECIALIST, D_SEC, s_night)};
    const uint32_t open[] = {0, 0, 0};
    cl_dispatch_t d = s_decide(staff, N(staff), open, REPAIR, GENERAL, W_SAT, 10, 0);
    assert_int_equal(d.department, D_ENG);
    assert_false(d.special);
    assert_int_equal(d.assignee, -1);
    assert_int_equal(d.notify, -1);
    /* a department with no staff at all queues too */
    d = s_decide(staff, N(staff), open, COMPLAINT, GENERAL, DAY_TIME);
    assert_int_equal(d.department, D_CS);
    assert_int_equal(d.assignee, -1);
}

static void test_special_case_goes_to_project_head_and_tells_cs_supervisor(void **state)
{
    (void)state;
    cl_staff_t staff[] = {STAFF(CL_ROLE_SPECIALIST, D_SEC, s_day), STAFF(CL_ROLE_ASSISTANT, D_CS, s_day),
                          STAFF(CL_ROLE_SUPERVISOR, D_SEC, s_day), STAFF(CL_ROLE_PROJECT_HEAD, -1, s_day),
                          STAFF(CL_ROLE_SUPERVISOR, D_CS, s_day)};
    const uint32_t open[] = {0, 0, 0, 4, 0};
    /* an important safety report takes the special route to security */
    cl_dispatch_t d = s_decide(staff, N(staff), open, SAFETY, IMPORTANT, DAY_TIME);
    assert_int_equal(d.department, D_SEC);
    assert_true(d.special);
    assert_int_equal(d.assignee, 3);
    assert_int_equal(d.notify, 4);
    /* a major complaint is special with no route saying so */
    d = s_decide(staff, N(staff), open, COMPLAINT, MAJOR, DAY_TIME);
    assert_int_equal(d.department, D_CS);
    assert_true(d.special);
    assert_int_equal(d.assignee, 3);
    assert_int_equal(d.notify, 4);
    /* a general safety report is not */
    d = s_decide(staff, N(staff), open, SAFETY, GENERAL, DAY_TIME);
    assert_int_equal(d.department, D_SEC);
    assert_false(d.special);
    assert_int_equal(d.assignee, 0);
    assert_int_equal(d.notify, -1);
}

static void test_project_head_off_shift_is_chosen_when_no_other_is_on(void **state)
{
    (void)state;
    cl_staff_t staff[] = {STAFF(CL_ROLE_SPECIALIST, D_SEC, s_night), STAFF(CL_ROLE_PROJECT_HEAD, -1, s_day),
                          STAFF(CL_ROLE_SUPERVISOR, D_CS, s_night)};
    const uint32_t open[] = {0, 6, 0};
    /* Saturday night: the head works weekdays, yet the case is theirs */
    cl_dispatch_t d = s_decide(staff, N(staff), open, SAFETY, MAJOR, W_SAT, 23, 0);
    assert_true(d.special);
    assert_int_equal(d.assignee, 1);
    assert_int_equal(d.notify, 2);
}

static void test_project_head_on_shift_comes_before_an_idler_off_shift(void **state)
{
    (void)state;
    cl_staff_t staff[] = {STAFF(CL_ROLE_PROJECT_HEAD, -1, s_night), STAFF(CL_ROLE_PROJECT_HEAD, -1, s_day),
                          STAFF(CL_ROLE_PROJECT_HEAD, -1, s_day), STAFF(CL_ROLE_SUPERVISOR, D_CS, s_day)};
    const uint32_t open[] = {0, 5, 3, 0};
    assert_int_equal(s_decide(staff, N(staff), open, COMPLAINT, MAJOR, DAY_TIME).assignee, 2);
    const uint32_t even[] = {0, 3, 3, 0};
    assert_int_equal(s_decide(staff, N(staff), even, COMPLAINT, MAJOR, DAY_TIME).assignee, 1);
    /* nobody on shift: any head, the fewest open first */
    const uint32_t night[] = {4, 5, 3, 0};
    assert_int_equal(s_decide(staff, N(staff), night, COMPLAINT, MAJOR, W_SUN, 12, 0).assignee, 2);
}

static void test_cs_supervisor_on_shift_is_told_first_else_any(void **state)
{
    (void)state;
    cl_staff_t staff[] = {STAFF(CL_ROLE_PROJECT_HEAD, -1, s_day), STAFF(CL_ROLE_SUPERVISOR, D_CS, s_night),
                          STAFF(CL_ROLE_SUPERVISOR, D_ENG, s_day), STAFF(CL_ROLE_SUPERVISOR, D_CS, s_day)};
    const uint32_t open[] = {0, 0, 0, 0};
    assert_int_equal(s_decide(staff, N(staff), open, COMPLAINT, MAJOR, DAY_TIME).notify, 3);
    assert_int_equal(s_decide(staff, N(staff), open, COMPLAINT, MAJOR, W_MON, 23, 0).notify, 1);
    /* nobody on shift at all: still told */
    assert_int_equal(s_decide(staff, N(staff), open, COMPLAINT, MAJOR, W_SUN, 12, 0).notify, 1);
}

static void test_special_case_without_project_head_follows_the_normal_rule(void **state)
{
    (void)state;
    cl_staff_t staff[] = {STAFF(CL_ROLE_SPECIALIST, D_SEC, s_day), STAFF(CL_ROLE_SPECIALIST, D_SEC, s_day),
                          STAFF(CL_ROLE_MANAGER, -1, s_day), STAFF(CL_ROLE_SUPERVISOR, D_CS, s_night)};
    const uint32_t open[] = {2, 1, 0, 0};
    cl_dispatch_t d = s_decide(staff, N(staff), open, SAFETY, MAJOR, DAY_TIME);
    assert_int_equal(d.department, D_SEC);
    assert_true(d.special);
    assert_int_equal(d.assignee, 1);
    assert_int_equal(d.notify, 3);
    /* and with nobody on shift it is queued, the supervisor still told */
    d = s_decide(staff, N(staff), open, SAFETY, MAJOR, W_SAT, 12, 0);
    assert_int_equal(d.assignee, -1);
    assert_int_equal(d.notify, 3);
}

static void test_special_case_without_cs_supervisor_tells_nobody(void **state)
{
    (void)state;
    cl_staff_t staff[] = {STAFF(CL_ROLE_PROJECT_HEAD, -1, s_day), STAFF(CL_ROLE_ASSISTANT, D_CS, s_day),
                          STAFF(CL_ROLE_SUPERVISOR, D_SEC, s_day)};
    const uint32_t open[] = {0, 0, 0};
    cl_dispatch_t d = s_decide(staff, N(staff), open, COMPLAINT, MAJOR, DAY_TIME);
    assert_int_equal(d.assignee, 0);
    assert_int_equal(d.notify, -1);
}

static void test_major_case_on_a_route_not_marked_special_is_still_special(void **state)
{
    (void)state;
    /* Routes that name the department of a kind without the special path:
       one for major complaints exactly, one for repairs of any severity. */
    static cl_route_t plain[] = {{COMPLAINT, MAJOR, D_CS, false}, {REPAIR, 0, D_ENG, false}};
    cl_staff_t staff[] = {STAFF(CL_ROLE_ASSISTANT, D_CS, s_day), STAFF(CL_ROLE_SPECIALIST, D_ENG, s_day),
                          STAFF(CL_ROLE_PROJECT_HEAD, -1, s_day), STAFF(CL_ROLE_SUPERVISOR, D_CS, s_day)};
    const uint32_t open[] = {0, 0, 3, 0};
    cl_site_policy_t s = s_site(staff, N(staff));
    s.routes = plain;
    s.nroutes = N(plain);
    struct tm tm = s_at(DAY_TIME);
    const struct {
        int kind;
        int department;
    } cases[] = {{COMPLAINT, D_CS}, {REPAIR, D_ENG}};
    for (size_t i = 0; i < N(cases); i++) {
        cl_dispatch_t d;
        assert_int_equal(cl_dispatch_decide(&s, cases[i].kind, MAJOR, &tm, open, &d), 0);
        assert_int_equal(d.department, cases[i].department);
        if (!d.special)
            fail_msg("a major case of kind %d on a route not marked special took the normal path", cases[i].kind);
        assert_int_equal(d.assignee, 2); /* the project head, busier than the idle staff */
        assert_int_equal(d.notify, 3);   /* the customer-service supervisor is told */
        /* the same routes for a general case: the normal path */
        assert_int_equal(cl_dispatch_decide(&s, cases[i].kind, GENERAL, &tm, open, &d), 0);
        assert_int_equal(d.department, cases[i].department);
        assert_false(d.special);
        assert_int_equal(d.assignee, cases[i].department == D_CS ? 0 : 1);
        assert_int_equal(d.notify, -1);
    }
}

static void test_kind_with_no_department_is_refused(void **state)
{
    (void)state;
    cl_staff_t staff[] = {STAFF(CL_ROLE_ASSISTANT, D_CS, s_day), STAFF(CL_ROLE_PROJECT_HEAD, -1, s_day)};
    const uint32_t open[] = {0, 0};
    cl_site_policy_t s = s_site(staff, N(staff));
    struct tm tm = s_at(DAY_TIME);
    cl_dispatch_t d;
    assert_int_equal(cl_dispatch_decide(&s, PRAISE, GENERAL, &tm, open, &d), -1);
    assert_int_equal(d.department, -1);
    assert_int_equal(d.assignee, -1);
    assert_int_equal(d.notify, -1);
    assert_int_equal(cl_dispatch_decide(&s, PRAISE, MAJOR, &tm, open, &d), -1);
    assert_int_equal(d.department, -1);
    assert_int_equal(d.assignee, -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify_finds_chinese_words),
        cmocka_unit_test(test_classify_ignores_the_case_of_english_words),
        cmocka_unit_test(test_classify_folds_only_ascii_letters),
        cmocka_unit_test(test_classify_first_rule_wins_not_first_word_in_text),
        cmocka_unit_test(test_classify_without_a_match_is_other),
        cmocka_unit_test(test_classify_never_matches_an_empty_word),
        cmocka_unit_test(test_night_shift_runs_past_midnight_into_the_next_day),
        cmocka_unit_test(test_sunday_night_shift_wraps_into_monday),
        cmocka_unit_test(test_whole_day_shift_covers_every_minute_of_its_day_only),
        cmocka_unit_test(test_shift_ending_at_its_start_time_lasts_24_hours),
        cmocka_unit_test(test_weekend_shift_counts_on_saturday_and_sunday_only),
        cmocka_unit_test(test_any_of_several_shifts_puts_staff_on_shift),
        cmocka_unit_test(test_fewer_open_cases_takes_the_case),
        cmocka_unit_test(test_skill_breaks_a_tie_but_not_an_imbalance),
        cmocka_unit_test(test_skill_for_another_kind_does_not_break_a_tie),
        cmocka_unit_test(test_off_shift_staff_are_never_chosen),
        cmocka_unit_test(test_other_departments_staff_are_never_chosen),
        cmocka_unit_test(test_supervisors_take_cases_only_when_nobody_else_is_on_shift),
        cmocka_unit_test(test_nobody_on_shift_queues_the_case),
        cmocka_unit_test(test_special_case_goes_to_project_head_and_tells_cs_supervisor),
        cmocka_unit_test(test_project_head_off_shift_is_chosen_when_no_other_is_on),
        cmocka_unit_test(test_project_head_on_shift_comes_before_an_idler_off_shift),
        cmocka_unit_test(test_cs_supervisor_on_shift_is_told_first_else_any),
        cmocka_unit_test(test_special_case_without_project_head_follows_the_normal_rule),
        cmocka_unit_test(test_special_case_without_cs_supervisor_tells_nobody),
        cmocka_unit_test(test_major_case_on_a_route_not_marked_special_is_still_special),
        cmocka_unit_test(test_kind_with_no_department_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
