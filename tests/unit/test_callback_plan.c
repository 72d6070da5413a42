/* test_callback_plan.c - the callback-scheduler's decisions: skips, sampling, deadlines, modes, performers, slots. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "cl.h"
#include "cl_calendar.h"
#include "cl_policy.h"
#include "cl_tz.h"
#include "plan.h"
#include "caseloop/v1/callback.pb-c.h"
#include "caseloop/v1/common.pb-c.h"

#define US 1000000LL
#define COMPLAINT CASELOOP__V1__KIND__KIND_COMPLAINT
#define REPAIR CASELOOP__V1__KIND__KIND_REPAIR
#define GENERAL CASELOOP__V1__SEVERITY__SEVERITY_GENERAL
#define IMPORTANT CASELOOP__V1__SEVERITY__SEVERITY_IMPORTANT
#define MAJOR CASELOOP__V1__SEVERITY__SEVERITY_MAJOR
#define MODE(x) (1u << CASELOOP__V1__CALLBACK_MODE__CALLBACK_MODE_##x)

/* 2026-12-07 is a Monday: 00:00 in Shanghai (+08:00). */
#define MON_SHANGHAI (INT64_C(1796572800) * US)

static const uint8_t SEED[CL_CB_SEED_BYTES] = {7, 1, 4, 2, 8, 5, 7, 1, 4, 2, 8, 5, 7, 1, 4, 2};

/* A site: customer service (cs) with two assistants and a supervisor on weekday day
   shifts, engineering (eng) with one assistant, a manager; `callbacks` is the member's
   JSON (or NULL for the defaults). */
static cl_policy_t *s_policy(const char *tz, const char *calendar, const char *callbacks)
{
    char doc[8192];
    snprintf(doc, sizeof doc,
             "{\"sites\": [{\"code\": \"s\", \"name\": \"S\", \"time_zone\": \"%s\", \"customer_service\": \"cs\","
             " \"departments\": [{\"code\": \"cs\", \"name\": \"CS\", \"kinds\": [\"complaint\", \"suggestion\","
             " \"inquiry\", \"praise\", \"other\", \"safety\", \"special_service\"]},"
             " {\"code\": \"eng\", \"name\": \"Eng\", \"kinds\": [\"repair\"]}],"
             " \"staff\": ["
             "  {\"id\": \"a1\", \"name\": \"A1\", \"role\": \"assistant\", \"department\": \"cs\","
             "   \"shifts\": [{\"days\": \"weekdays\", \"from\": \"08:00\", \"to\": \"17:00\"}]},"
             "  {\"id\": \"a2\", \"name\": \"A2\", \"role\": \"assistant\", \"department\": \"cs\","
             "   \"shifts\": [{\"days\": \"daily\", \"from\": \"12:00\", \"to\": \"20:00\"}]},"
             "  {\"id\": \"sup\", \"name\": \"Sup\", \"role\": \"supervisor\", \"department\": \"cs\","
             "   \"shifts\": [{\"days\": \"weekdays\", \"from\": \"08:00\", \"to\": \"17:00\"}]},"
             "  {\"id\": \"e1\", \"name\": \"E1\", \"role\": \"assistant\", \"department\": \"eng\","
             "   \"shifts\": [{\"days\": \"daily\", \"from\": \"00:00\", \"to\": \"24:00\"}]},"
             "  {\"id\": \"mgr\", \"name\": \"Mgr\", \"role\": \"manager\","
             "   \"shifts\": [{\"days\": \"weekdays\", \"from\": \"09:00\", \"to\": \"18:00\"}]}]"
             "%s%s%s%s}]}",
             tz, calendar ? ", \"calendar\": " : "", calendar ? calendar : "", callbacks ? ", \"callbacks\": " : "",
             callbacks ? callbacks : "");
    cl_err_t err;
    cl_err_clear(&err);
    cl_policy_t *p = cl_policy_parse(doc, strlen(doc), NULL, &err);
    if (!p)
        fail_msg("policy refused: %s: %s", err.field, err.message);
    return p;
}

/* Loads per staff and window instance, as a small table. */
#define S_MAX_LOADS 4096
typedef struct {
    int staff[S_MAX_LOADS];
    int64_t window[S_MAX_LOADS];
    uint32_t n[S_MAX_LOADS];
    size_t count;
} s_loads_t;

static uint32_t s_load(void *arg, int staff, int64_t window_us)
{
    s_loads_t *l = arg;
    for (size_t i = 0; i < l->count; i++)
        if (l->staff[i] == staff && l->window[i] == window_us)
            return l->n[i];
    return 0;
}

static void s_add_load(s_loads_t *l, int staff, int64_t window_us)
{
    for (size_t i = 0; i < l->count; i++)
        if (l->staff[i] == staff && l->window[i] == window_us) {
            l->n[i]++;
            return;
        }
    assert_true(l->count < S_MAX_LOADS);
    l->staff[l->count] = staff, l->window[l->count] = window_us, l->n[l->count++] = 1;
}

/* A calendar in zone tz, for a customer's zone (its hours do not matter). */
static cl_calendar_t *s_zone(const char *tz)
{
    cl_calendar_spec_t spec = {.tz = tz};
    spec.week[1].n = 1, spec.week[1].iv[0] = (cl_calendar_interval_t){540, 1080};
    cl_err_t err;
    cl_calendar_t *c = cl_calendar_new(&spec, &err);
    if (!c)
        fail_msg("zone %s: %s", tz, err.message);
    return c;
}

/* --- rules ----------------------------------------------------------------------------- */

static void test_anonymous_reply_letter_and_do_not_call_cases_are_skipped_naming_the_rule(void **state)
{
    (void)state;
    assert_int_equal(cl_cb_skip(false, false, false), CL_CB_CALL);
    assert_int_equal(cl_cb_skip(true, false, false), CL_CB_SKIP_ANONYMOUS);
    assert_int_equal(cl_cb_skip(false, true, false), CL_CB_SKIP_REPLY_LETTER);
    assert_int_equal(cl_cb_skip(false, false, true), CL_CB_SKIP_DO_NOT_CALL);
    assert_int_equal(cl_cb_skip(true, true, true), CL_CB_SKIP_ANONYMOUS);
    assert_int_equal(cl_cb_skip(false, true, true), CL_CB_SKIP_REPLY_LETTER);
    assert_string_equal(cl_cb_skip_rule(CL_CB_SKIP_ANONYMOUS), "R-CB-7");
    assert_string_equal(cl_cb_skip_rule(CL_CB_SKIP_REPLY_LETTER), "R-CB-7");
    assert_string_equal(cl_cb_skip_rule(CL_CB_SKIP_DO_NOT_CALL), "do-not-call");
    assert_string_equal(cl_cb_skip_rule(CL_CB_CALL), "");
}

/* --- sampling -------------------------------------------------------------------------- */

static void test_sampling_stays_on_target_at_every_closure_for_every_share(void **state)
{
    (void)state;
    static const double shares[] = {0.0, 0.01, 0.1, 0.3, 0.5, 0.77, 1.0};
    for (size_t k = 0; k < sizeof shares / sizeof *shares; k++) {
        cl_cb_tally_t t = {0, 0};
        uint32_t overruled = 0, drawn = 0;
        for (uint64_t id = 1; id <= 100000; id++) {
            cl_cb_tally_t free_draw = {0, 0};
            bool call = cl_cb_sampled(SEED, id * 7919, shares[k], &t);
            /* the draw alone, with no history to correct */
            drawn += cl_cb_sampled(SEED, id * 7919, shares[k], &free_draw);
            overruled += call != (bool)free_draw.called;
            double target = shares[k] * (double)t.counted, band = 0.01 * target > 1 ? 0.01 * target : 1;
            if ((double)t.called < target - band || (double)t.called > target + band)
                fail_msg("share %.2f: %u called of %u counted, outside %.1f +- %.1f", shares[k], t.called, t.counted,
                         target, band);
        }
        assert_int_equal(t.counted, 100000);
        /* The draw decides; the correction overrules it rarely (it keeps the count in its band). */
        if (shares[k] > 0 && shares[k] < 1 && overruled > 100000 / 20)
            fail_msg("share %.2f: %u of 100000 draws overruled", shares[k], overruled);
        (void)drawn;
    }
}

static void test_sampling_is_the_same_on_replay_and_unpredictable_without_the_seed(void **state)
{
    (void)state;
    enum { N = 20000 };
    static bool a[N], b[N], c[N];
    cl_cb_tally_t ta = {0, 0}, tb = {0, 0}, tc = {0, 0};
    uint8_t other[CL_CB_SEED_BYTES];
    memcpy(other, SEED, sizeof other);
    other[0] ^= 1;
    for (int i = 0; i < N; i++) {
        a[i] = cl_cb_sampled(SEED, (uint64_t)i + 1, 0.3, &ta);
        b[i] = cl_cb_sampled(SEED, (uint64_t)i + 1, 0.3, &tb);
        c[i] = cl_cb_sampled(other, (uint64_t)i + 1, 0.3, &tc);
    }
    assert_memory_equal(a, b, sizeof a);
    /* Another seed, another choice of cases (about 0.3 x 0.7 x 2 of them differ). */
    int differ = 0;
    for (int i = 0; i < N; i++)
        differ += a[i] != c[i];
    assert_true(differ > N / 4);
    /* No period: no shift p up to 2,000 repeats the sequence of choices. */
    for (int p = 1; p <= 2000; p++) {
        int same = 0;
        for (int i = 0; i + p < N; i++)
            same += a[i] == a[i + p];
        if (same == N - p)
            fail_msg("the choices repeat with period %d", p);
        /* and no shift matches far better than chance (0.3^2 + 0.7^2 = 58%) */
        if ((double)same / (N - p) > 0.65)
            fail_msg("shift %d matches %.1f%% of choices", p, 100.0 * same / (N - p));
    }
    /* Consecutive case numbers are not called in a fixed rhythm: runs of misses vary in length. */
    int longest = 0, run = 0;
    for (int i = 0; i < N; i++) {
        run = a[i] ? 0 : run + 1;
        longest = run > longest ? run : longest;
    }
    assert_true(longest >= 8);
}

/* --- deadlines and modes ------------------------------------------------------------------ */

static void test_the_deadline_is_the_kinds_within_in_wall_or_working_time(void **state)
{
    (void)state;
    cl_policy_t *p = s_policy("Asia/Shanghai", NULL,
                              "{\"kinds\": {\"repair\": {\"within\": \"9h\", \"working_time\": true}}}");
    const cl_site_policy_t *s = &p->sites[0];
    int64_t due = 0, fri_1700 = MON_SHANGHAI + (4 * 24 + 17) * 3600 * US;
    assert_int_equal(cl_cb_deadline(s, COMPLAINT, fri_1700, &due), 0);
    assert_int_equal(due, fri_1700 + 3 * 86400 * US);
    /* Friday 17:00 + 9 working hours (09:00-18:00): one on Friday, eight on Monday: Monday 17:00. */
    assert_int_equal(cl_cb_deadline(s, REPAIR, fri_1700, &due), 0);
    assert_int_equal(due, MON_SHANGHAI + (7 * 24 + 17) * 3600 * US);
    cl_policy_destroy(&p);
}

static void test_a_complaint_is_visited_first_and_phoned_from_the_second_callback_unless_major(void **state)
{
    (void)state;
    cl_policy_t *p = s_policy("Asia/Shanghai", NULL, NULL);
    const cl_site_policy_t *s = &p->sites[0];
    assert_int_equal(cl_cb_modes(s, COMPLAINT, GENERAL, 1), MODE(VISIT));
    assert_int_equal(cl_cb_modes(s, COMPLAINT, MAJOR, 1), MODE(VISIT));
    assert_int_equal(cl_cb_modes(s, COMPLAINT, GENERAL, 2), MODE(VISIT) | MODE(PHONE));
    assert_int_equal(cl_cb_modes(s, COMPLAINT, IMPORTANT, 3), MODE(VISIT) | MODE(PHONE));
    assert_int_equal(cl_cb_modes(s, COMPLAINT, 0, 2), MODE(VISIT) | MODE(PHONE)); /* not given: general */
    assert_int_equal(cl_cb_modes(s, COMPLAINT, MAJOR, 2), MODE(VISIT));
    assert_int_equal(cl_cb_modes(s, REPAIR, MAJOR, 1), MODE(PHONE) | MODE(VISIT) | MODE(SMS) | MODE(EMAIL));
    cl_policy_destroy(&p);
}

/* --- performers -------------------------------------------------------------------------- */

static struct tm s_local(int wday, int hour, int min)
{
    struct tm t = {0};
    t.tm_wday = wday, t.tm_hour = hour, t.tm_min = min;
    return t;
}

static void test_the_performer_has_the_role_is_on_shift_has_room_and_the_fewest_open_callbacks(void **state)
{
    (void)state;
    cl_policy_t *p = s_policy("Asia/Shanghai", NULL, "{\"per_window\": 2}");
    const cl_site_policy_t *s = &p->sites[0];
    s_loads_t loads = {0};
    uint32_t open[5] = {0};
    struct tm mon_10 = s_local(1, 10, 0), mon_13 = s_local(1, 13, 0), sat_13 = s_local(6, 13, 0);
    /* General complaint: a customer-service assistant; a1 (lower index) on a tie. */
    assert_int_equal(cl_cb_performer(s, COMPLAINT, GENERAL, &mon_13, open, s_load, &loads, 1), 0);
    open[0] = 3, open[1] = 1;
    assert_int_equal(cl_cb_performer(s, COMPLAINT, GENERAL, &mon_13, open, s_load, &loads, 1), 1);
    /* a2 works from 12:00: at 10:00 only a1 is on shift, however busy. */
    assert_int_equal(cl_cb_performer(s, COMPLAINT, GENERAL, &mon_10, open, s_load, &loads, 1), 0);
    /* a1 does not work on Saturdays. */
    assert_int_equal(cl_cb_performer(s, COMPLAINT, GENERAL, &sat_13, open, s_load, &loads, 1), 1);
    /* A full window: a2 has 2 in window 1, so a1 takes it; with both full, nobody. */
    s_add_load(&loads, 1, 1), s_add_load(&loads, 1, 1);
    assert_int_equal(cl_cb_performer(s, COMPLAINT, GENERAL, &mon_13, open, s_load, &loads, 1), 0);
    assert_int_equal(cl_cb_performer(s, COMPLAINT, GENERAL, &mon_13, open, s_load, &loads, 2), 1);
    s_add_load(&loads, 0, 1), s_add_load(&loads, 0, 1);
    assert_int_equal(cl_cb_performer(s, COMPLAINT, GENERAL, &mon_13, open, s_load, &loads, 1), -1);
    /* Important: the supervisor; major: the manager (no department); repair: the
       customer-service assistants by default, not engineering's. */
    assert_int_equal(cl_cb_performer(s, COMPLAINT, IMPORTANT, &mon_10, open, s_load, &loads, 3), 2);
    assert_int_equal(cl_cb_performer(s, COMPLAINT, MAJOR, &mon_10, open, s_load, &loads, 3), 4);
    assert_int_equal(cl_cb_performer(s, REPAIR, MAJOR, &sat_13, open, s_load, &loads, 3), 1);
    cl_policy_destroy(&p);
    /* A kind's own department: engineering's assistant, on shift every day. */
    p = s_policy("Asia/Shanghai", NULL, "{\"kinds\": {\"repair\": {\"department\": \"eng\"}}}");
    assert_int_equal(cl_cb_performer(&p->sites[0], REPAIR, GENERAL, &sat_13, open, s_load, &loads, 3), 3);
    cl_policy_destroy(&p);
}

/* --- slots ------------------------------------------------------------------------------- */

static void test_a_callback_takes_the_first_window_with_room_before_the_deadline(void **state)
{
    (void)state;
    cl_policy_t *p = s_policy("Asia/Shanghai", NULL, "{\"per_window\": 1}");
    const cl_site_policy_t *s = &p->sites[0];
    s_loads_t loads = {0};
    uint32_t open[5] = {0};
    cl_cb_slot_t slot;
    int64_t mon_1100 = MON_SHANGHAI + 11 * 3600 * US, h = 3600 * US;
    /* Closed Monday 11:00: the 14:30-16:30 window that day, by a1 (a2 ties, higher index). */
    assert_int_equal(cl_cb_place(s, COMPLAINT, GENERAL, NULL, mon_1100, mon_1100 + 72 * h, open, s_load, &loads, &slot), 0);
    assert_int_equal(slot.start_us, MON_SHANGHAI + 14 * h + h / 2);
    assert_int_equal(slot.end_us, MON_SHANGHAI + 16 * h + h / 2);
    assert_int_equal(slot.performer, 0);
    assert_false(slot.late);
    s_add_load(&loads, slot.performer, slot.window_us);
    /* The next goes to a2 in the same window; the third to Tuesday 09:30 (a1; a2 starts at 12:00). */
    assert_int_equal(cl_cb_place(s, COMPLAINT, GENERAL, NULL, mon_1100, mon_1100 + 72 * h, open, s_load, &loads, &slot), 0);
    assert_int_equal(slot.performer, 1);
    s_add_load(&loads, slot.performer, slot.window_us);
    assert_int_equal(cl_cb_place(s, COMPLAINT, GENERAL, NULL, mon_1100, mon_1100 + 72 * h, open, s_load, &loads, &slot), 0);
    assert_int_equal(slot.start_us, MON_SHANGHAI + 24 * h + 9 * h + h / 2);
    assert_int_equal(slot.performer, 0);
    /* Inside a window already: from that moment to its end. */
    int64_t mon_1500 = MON_SHANGHAI + 15 * h;
    s_loads_t none = {0};
    assert_int_equal(cl_cb_place(s, COMPLAINT, GENERAL, NULL, mon_1500, mon_1500 + 72 * h, open, s_load, &none, &slot), 0);
    assert_int_equal(slot.start_us, mon_1500);
    /* A deadline before any slot: the earliest slot, flagged late. */
    assert_int_equal(cl_cb_place(s, COMPLAINT, GENERAL, NULL, mon_1100, mon_1100 + h, open, s_load, &none, &slot), 0);
    assert_int_equal(slot.start_us, MON_SHANGHAI + 14 * h + h / 2);
    assert_true(slot.late);
    cl_policy_destroy(&p);
}

static void test_a_callback_keeps_to_the_customers_windows_in_their_own_zone(void **state)
{
    (void)state;
    cl_policy_t *p = s_policy("Asia/Shanghai", NULL, NULL);
    const cl_site_policy_t *s = &p->sites[0];
    s_loads_t none = {0};
    uint32_t open[5] = {0};
    cl_cb_slot_t slot;
    int64_t h = 3600 * US, mon_0800 = MON_SHANGHAI + 8 * h;
    /* 16:00-17:00 of the site's zone: the last half hour of the afternoon window. */
    cl_calendar_interval_t late_afternoon = {16 * 60, 17 * 60};
    cl_cb_prefs_t prefs = {&late_afternoon, 1, NULL};
    assert_int_equal(cl_cb_place(s, COMPLAINT, GENERAL, &prefs, mon_0800, mon_0800 + 72 * h, open, s_load, &none, &slot), 0);
    assert_int_equal(slot.start_us, MON_SHANGHAI + 16 * h);
    assert_int_equal(slot.end_us, MON_SHANGHAI + 16 * h + h / 2);
    /* The same hours in London (UTC+0 in December, 8 hours behind): 16:00 London is 00:00 in
       Shanghai, in no window; 02:00-03:30 London is 10:00-11:30 Shanghai: the morning window's
       last half hour. */
    cl_calendar_interval_t london_night = {2 * 60, 3 * 60 + 30};
    cl_calendar_t *london = s_zone("Europe/London");
    cl_cb_prefs_t abroad = {&london_night, 1, london};
    assert_int_equal(cl_cb_place(s, COMPLAINT, GENERAL, &abroad, mon_0800, mon_0800 + 72 * h, open, s_load, &none, &slot), 0);
    assert_int_equal(slot.start_us, MON_SHANGHAI + 10 * h);
    assert_int_equal(slot.end_us, MON_SHANGHAI + 10 * h + h / 2);
    cl_cb_prefs_t never = {&late_afternoon, 1, london};
    assert_int_equal(cl_cb_place(s, COMPLAINT, GENERAL, &never, mon_0800, mon_0800 + 72 * h, open, s_load, &none, &slot), -1);
    cl_calendar_destroy(&london);
    cl_policy_destroy(&p);
}

/* A random generator the tests own (xorshift64*), so that a failure repeats. */
static uint64_t s_rng = 88172645463325252ULL;
static uint64_t s_rand(void)
{
    s_rng ^= s_rng >> 12, s_rng ^= s_rng << 25, s_rng ^= s_rng >> 27;
    return s_rng * 2685821657736338717ULL;
}
static int s_between(int lo, int hi)
{
    return lo + (int)(s_rand() % (uint64_t)(hi - lo + 1));
}

/* A slot's checks, done the slow way: minute of day in the zone. */
static int s_minute(const char *tz, int64_t at_us, struct tm *t)
{
    assert_int_equal(cl_tz_localtime(tz, at_us, t), 0);
    return t->tm_hour * 60 + t->tm_min;
}

static bool s_in_some(const cl_calendar_interval_t *w, size_t n, int minute, bool end)
{
    for (size_t i = 0; i < n; i++)
        if (end ? minute > w[i].from_min && minute <= w[i].to_min : minute >= w[i].from_min && minute < w[i].to_min)
            return true;
    return false;
}

/* Whether a callback could be made at t: inside a window on a day
   the kind may call, inside the customer's windows, someone free. Slow and plain. */
static bool s_could_call_at(const cl_site_policy_t *s, int kind, const cl_cb_prefs_t *prefs, int64_t t,
                            const uint32_t *open, s_loads_t *loads)
{
    const cl_cb_policy_t *cb = &s->callbacks;
    struct tm lt, ct;
    cl_calendar_localtime(s->calendar, t, &lt);
    int m = lt.tm_hour * 60 + lt.tm_min;
    int64_t day = cl_calendar_day(s->calendar, t);
    if (!cb->kinds[kind].days_off && !cl_calendar_works_on(s->calendar, day))
        return false;
    for (size_t w = 0; w < cb->nwindows; w++) {
        if (m < cb->windows[w].from_min || m >= cb->windows[w].to_min)
            continue;
        if (prefs->n && !s_in_some(prefs->windows, prefs->n, s_minute(cl_calendar_tz(prefs->zone), t, &ct), false))
            return false;
        int64_t ws = cl_calendar_local(s->calendar, day, cb->windows[w].from_min);
        return cl_cb_performer(s, kind, GENERAL, &lt, open, s_load, loads, ws) >= 0;
    }
    return false;
}

static void test_generated_calendars_never_place_a_callback_outside_the_rules(void **state)
{
    (void)state;
    static const char *const zones[] = {"Asia/Shanghai", "America/New_York", "Europe/London", "Australia/Sydney"};
    static const char *const days[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
    int placed = 0, late = 0;
    cl_calendar_t *customer[4];
    for (int i = 0; i < 4; i++)
        customer[i] = s_zone(zones[i]);
    for (int round = 0; round < 60; round++) {
        /* Working hours on some weekdays, two holidays, 1-3 windows, a per-window capacity,
           wall or working time, days off or not. */
        char cal[512], cb[512];
        size_t len = (size_t)snprintf(cal, sizeof cal, "{\"working_hours\": {");
        int ndays = 0;
        for (int d = 0; d < 7; d++)
            if (s_between(0, 9) < 7 || (d == 6 && ndays == 0))
                len += (size_t)snprintf(cal + len, sizeof cal - len, "%s\"%s\": [\"%02d:00-%02d:00\"]",
                                        ndays++ ? ", " : "", days[d], s_between(6, 10), s_between(16, 20));
        snprintf(cal + len, sizeof cal - len, "}, \"holidays\": [\"2026-12-%02d\", \"2026-12-%02d\"]}",
                 s_between(7, 13), s_between(14, 31));
        int nw = s_between(1, 3), from = s_between(7, 9) * 60;
        len = (size_t)snprintf(cb, sizeof cb, "{\"per_window\": %d, \"windows\": [", s_between(1, 3));
        for (int w = 0; w < nw; w++) {
            int to = from + s_between(1, 4) * 30;
            len += (size_t)snprintf(cb + len, sizeof cb - len, "%s\"%02d:%02d-%02d:%02d\"", w ? ", " : "", from / 60,
                                    from % 60, to / 60, to % 60);
            from = to + s_between(1, 6) * 30;
        }
        bool days_off = s_between(0, 1);
        snprintf(cb + len, sizeof cb - len,
                 "], \"kinds\": {\"repair\": {\"within\": \"20d\", \"days_off\": %s, \"working_time\": %s},"
                 " \"complaint\": {\"days_off\": true}}}",
                 days_off ? "true" : "false", s_between(0, 1) ? "true" : "false");
        const char *tz = zones[s_between(0, 3)];
        cl_policy_t *p = s_policy(tz, cal, cb);
        const cl_site_policy_t *s = &p->sites[0];
        /* The customer: no preference, or one or two windows in the site's or another zone. */
        cl_calendar_interval_t pw[2];
        cl_cb_prefs_t prefs = {pw, (size_t)s_between(0, 2), customer[s_between(0, 3)]};
        for (size_t i = 0; i < prefs.n; i++) {
            int a = s_between(0, 40) * 30;
            pw[i] = (cl_calendar_interval_t){a, a + s_between(1, 8) * 30};
            if (pw[i].to_min > 1440)
                pw[i].to_min = 1440;
        }
        s_loads_t *loads = calloc(1, sizeof *loads);
        assert_non_null(loads);
        uint32_t open[5] = {0};
        int64_t start = MON_SHANGHAI + (int64_t)s_between(0, 7 * 24 * 60) * 60 * US;
        for (int n = 0; n < 40; n++) {
            int64_t not_before = start + (int64_t)n * 1800 * US, deadline = not_before + s_between(1, 96) * 3600 * US;
            cl_cb_slot_t slot;
            if (cl_cb_place(s, REPAIR, GENERAL, &prefs, not_before, deadline, open, s_load, loads, &slot) < 0)
                continue;
            placed++;
            struct tm lt, ct;
            int me = s_minute(tz, slot.end_us, &lt), m = s_minute(tz, slot.start_us, &lt);
            /* inside a window, from not_before on, on an allowed day */
            assert_true(slot.start_us >= not_before && slot.end_us > slot.start_us);
            if (!s_in_some(s->callbacks.windows, s->callbacks.nwindows, m, false) ||
                !s_in_some(s->callbacks.windows, s->callbacks.nwindows, me, true))
                fail_msg("round %d: slot %02d:%02d-%02d:%02d is outside the windows (%s)", round, m / 60, m % 60,
                         me / 60, me % 60, cb);
            if (!days_off && !cl_calendar_works_on(s->calendar, cl_calendar_day(s->calendar, slot.start_us)))
                fail_msg("round %d: a slot on a day off", round);
            /* inside the customer's windows, in their zone */
            const char *ctz = cl_calendar_tz(prefs.zone);
            if (prefs.n && (!s_in_some(pw, prefs.n, s_minute(ctz, slot.start_us, &ct), false) ||
                            !s_in_some(pw, prefs.n, s_minute(ctz, slot.end_us, &ct), true)))
                fail_msg("round %d: slot outside the customer's windows", round);
            /* room in the window, and on shift */
            assert_true(s_load(loads, slot.performer, slot.window_us) < (uint32_t)s->callbacks.per_window);
            assert_true(cl_on_shift(&s->staff[slot.performer], &lt));
            assert_int_equal(slot.late, slot.start_us >= deadline);
            /* Late only when no moment before the deadline would have done, else no earlier
               moment would have: checked at not_before and every half hour after it (windows,
               shifts and the customer's windows start on half hours of zones a whole number
               of hours from UTC). */
            int64_t upto = slot.late ? deadline : slot.start_us;
            for (int64_t t = not_before; t < upto; t = (t / (1800 * US) + 1) * 1800 * US)
                if (s_could_call_at(s, REPAIR, &prefs, t, open, loads))
                    fail_msg("round %d: %s, yet a callback fits %lld min after not_before", round,
                             slot.late ? "flagged late" : "placed later", (long long)((t - not_before) / 60 / US));
            late += slot.late;
            s_add_load(loads, slot.performer, slot.window_us);
            open[slot.performer]++;
        }
        free(loads);
        cl_policy_destroy(&p);
    }
    for (int i = 0; i < 4; i++)
        cl_calendar_destroy(&customer[i]);
    /* The generator reaches both outcomes. */
    assert_true(placed > 1000);
    assert_true(late > 10);
}

/* --- timers, attempts, records -------------------------------------------------------- */

/* A callback's timer: the slot's passing is told once, the deadline's once (instead of the
   slot's when both passed at once), nothing once it is made; it fires next at the first
   moment still ahead. */
static void test_the_timer_tells_a_missed_slot_and_a_passed_deadline_once_each(void **state)
{
    (void)state;
    const int64_t slot = 1000, deadline = 5000;
    cl_cb_timer_t t = {true, slot, deadline, false, false};
    cl_cb_fire_t f;
    cl_cb_fire_decide(&t, 10, &f);
    assert_false(f.tell_slot || f.tell_deadline);
    assert_int_equal(f.next_us, slot);
    cl_cb_fire_decide(&t, slot, &f);
    assert_true(f.tell_slot);
    assert_false(f.tell_deadline);
    assert_int_equal(f.next_us, deadline);
    t.slot_missed = true;
    cl_cb_fire_decide(&t, slot + 1, &f);
    assert_false(f.tell_slot || f.tell_deadline);
    assert_int_equal(f.next_us, deadline);
    cl_cb_fire_decide(&t, deadline, &f);
    assert_true(f.tell_deadline);
    assert_false(f.tell_slot);
    assert_int_equal(f.next_us, -1);
    t.overdue = true;
    cl_cb_fire_decide(&t, deadline + 1, &f);
    assert_false(f.tell_slot || f.tell_deadline);
    assert_int_equal(f.next_us, -1);
    /* Both passed while nobody looked: the deadline is told, not the slot. */
    cl_cb_timer_t both = {true, slot, deadline, false, false};
    cl_cb_fire_decide(&both, deadline + 10, &f);
    assert_true(f.tell_deadline);
    assert_false(f.tell_slot);
    /* No slot: only the deadline. Made (not open): nothing at all. */
    cl_cb_timer_t none = {true, -1, deadline, false, false};
    cl_cb_fire_decide(&none, 10, &f);
    assert_int_equal(f.next_us, deadline);
    cl_cb_timer_t made = {false, slot, deadline, false, false};
    cl_cb_fire_decide(&made, deadline + 10, &f);
    assert_false(f.tell_slot || f.tell_deadline);
    assert_int_equal(f.next_us, -1);
}

/* R-CB-2: reached is made; busy and unreachable try again until the policy's attempts are used. */
static void test_an_attempt_reaches_or_tries_again_until_the_last_allowed(void **state)
{
    (void)state;
    const int reached = CASELOOP__V1__ATTEMPT_OUTCOME__ATTEMPT_OUTCOME_REACHED,
              busy = CASELOOP__V1__ATTEMPT_OUTCOME__ATTEMPT_OUTCOME_BUSY,
              unreachable = CASELOOP__V1__ATTEMPT_OUTCOME__ATTEMPT_OUTCOME_UNREACHABLE;
    assert_int_equal(cl_cb_after_attempt(reached, 3, 3), CASELOOP__V1__CALLBACK_STATE__CALLBACK_STATE_REACHED);
    assert_int_equal(cl_cb_after_attempt(busy, 1, 3), CASELOOP__V1__CALLBACK_STATE__CALLBACK_STATE_SCHEDULED);
    assert_int_equal(cl_cb_after_attempt(unreachable, 2, 3), CASELOOP__V1__CALLBACK_STATE__CALLBACK_STATE_SCHEDULED);
    assert_int_equal(cl_cb_after_attempt(unreachable, 3, 3), CASELOOP__V1__CALLBACK_STATE__CALLBACK_STATE_UNREACHABLE);
    assert_int_equal(cl_cb_after_attempt(busy, 3, 3), CASELOOP__V1__CALLBACK_STATE__CALLBACK_STATE_UNREACHABLE);
    assert_int_equal(cl_cb_after_attempt(busy, 1, 1), CASELOOP__V1__CALLBACK_STATE__CALLBACK_STATE_UNREACHABLE);
}

/* Checks record r against the default policy, for a callback that may use modes; returns the
   field refused ("" when accepted). */
static const char *s_check(uint8_t modes, const Caseloop__V1__CallbackRecord *r, char *field, size_t len)
{
    cl_policy_t *p = s_policy("Asia/Shanghai", NULL, NULL);
    cl_err_t err;
    cl_err_clear(&err);
    int rc = cl_cb_record_check(&p->sites[0], modes, r, &err);
    snprintf(field, len, "%s", rc == 0 ? "" : err.field);
    if (rc < 0)
        assert_int_equal(err.code, CL_INVALID_ARGUMENT);
    cl_policy_destroy(&p);
    return field;
}

/* r: a satisfied record in mode scoring the default policy's three aspects `score` each
   (sc and sp its scores, with room for a fourth). */
static void s_scored(Caseloop__V1__CallbackRecord *r, Caseloop__V1__AspectScore sc[4], Caseloop__V1__AspectScore *sp[4],
                     uint32_t score, Caseloop__V1__CallbackMode mode)
{
    static const char *const aspects[] = {"result", "service", "staff", "staff"};
    caseloop__v1__callback_record__init(r);
    for (int i = 0; i < 4; i++) {
        caseloop__v1__aspect_score__init(&sc[i]);
        sc[i].aspect = (char *)aspects[i];
        sc[i].has_score = 1, sc[i].score = score;
        sp[i] = &sc[i];
    }
    r->scores = sp, r->n_scores = 3;
    r->has_mode = 1, r->mode = mode;
    r->has_satisfied = 1, r->satisfied = 1;
}

/* R-CB-3, R-CB-4: a record is refused on the field at fault. */
static void test_a_record_is_refused_on_the_field_at_fault(void **state)
{
    (void)state;
    const uint8_t visit = 1u << CASELOOP__V1__CALLBACK_MODE__CALLBACK_MODE_VISIT,
                  phone = 1u << CASELOOP__V1__CALLBACK_MODE__CALLBACK_MODE_PHONE;
    Caseloop__V1__CallbackRecord r;
    Caseloop__V1__AspectScore sc[4], *sp[4];
    s_scored(&r, sc, sp, 5, CASELOOP__V1__CALLBACK_MODE__CALLBACK_MODE_VISIT);
    r.signature_ref = "sig-1";
    r.has_satisfied = 1, r.satisfied = 1;
    char f[64];
    assert_string_equal(s_check(visit, &r, f, sizeof f), "");
    assert_string_equal(s_check(phone, &r, f, sizeof f), "record.mode");
    assert_string_equal(s_check(visit, NULL, f, sizeof f), "record");
    r.signature_ref = "";
    assert_string_equal(s_check(visit, &r, f, sizeof f), "record.signature_ref");
    r.mode = CASELOOP__V1__CALLBACK_MODE__CALLBACK_MODE_PHONE; /* a phone callback needs no signature */
    assert_string_equal(s_check(visit | phone, &r, f, sizeof f), "");
    sc[2].score = 0;
    assert_string_equal(s_check(phone, &r, f, sizeof f), "record.scores[2].score");
    sc[2].score = 6;
    assert_string_equal(s_check(phone, &r, f, sizeof f), "record.scores[2].score");
    sc[2].score = 1;
    assert_string_equal(s_check(phone, &r, f, sizeof f), "record.scores[2].reason");
    sc[2].score = 2;
    assert_string_equal(s_check(phone, &r, f, sizeof f), "record.scores[2].reason");
    sc[2].reason = "nobody came";
    assert_string_equal(s_check(phone, &r, f, sizeof f), "");
    sc[2].score = 3;
    r.n_scores = 4; /* staff twice */
    assert_string_equal(s_check(phone, &r, f, sizeof f), "record.scores[3].aspect");
    sc[3].aspect = "food";
    assert_string_equal(s_check(phone, &r, f, sizeof f), "record.scores[3].aspect");
    r.n_scores = 2; /* staff not scored */
    assert_string_equal(s_check(phone, &r, f, sizeof f), "record.scores");
    r.n_scores = 3;
    r.has_satisfied = 0;
    assert_string_equal(s_check(phone, &r, f, sizeof f), "record.satisfied");
    r.has_satisfied = 1;
    r.has_recommend = 1, r.recommend = 10;
    assert_string_equal(s_check(phone, &r, f, sizeof f), "");
    r.recommend = 11;
    assert_string_equal(s_check(phone, &r, f, sizeof f), "record.recommend");
}

/* R-CB-5, R-CB-6: what a record leads to, and the checks of its outcome: a customer not
   satisfied reopens the case with their words, unless the problem was fixed during the
   callback (then it counts as satisfied, and the notes say how); every problem raised makes a
   case, each described, at most CL_CB_MAX_RAISED. */
static void test_a_record_not_satisfied_reopens_and_each_raised_problem_makes_a_case(void **state)
{
    (void)state;
    const uint8_t phone = 1u << CASELOOP__V1__CALLBACK_MODE__CALLBACK_MODE_PHONE;
    Caseloop__V1__CallbackRecord r;
    Caseloop__V1__AspectScore sc[4], *sp[4];
    s_scored(&r, sc, sp, 4, CASELOOP__V1__CALLBACK_MODE__CALLBACK_MODE_PHONE);
    char f[64];
    cl_cb_outcome_t o;
    cl_cb_outcome(&r, &o);
    assert_true(o.satisfied && !o.reopen && o.raised == 0);
    r.satisfied = 0;
    assert_string_equal(s_check(phone, &r, f, sizeof f), "record.customer_words");
    r.customer_words = "it leaks again";
    assert_string_equal(s_check(phone, &r, f, sizeof f), "");
    cl_cb_outcome(&r, &o);
    assert_true(!o.satisfied && o.reopen);
    /* Fixed during the callback: satisfied, nothing reopened; only for a customer not satisfied, with notes. */
    r.has_fixed_during_callback = 1, r.fixed_during_callback = 1;
    assert_string_equal(s_check(phone, &r, f, sizeof f), "record.notes");
    r.notes = "reset the breaker";
    r.customer_words = NULL;
    assert_string_equal(s_check(phone, &r, f, sizeof f), "");
    cl_cb_outcome(&r, &o);
    assert_true(o.satisfied && !o.reopen);
    r.satisfied = 1;
    assert_string_equal(s_check(phone, &r, f, sizeof f), "record.fixed_during_callback");
    r.fixed_during_callback = 0;
    /* Raised problems. */
    Caseloop__V1__RaisedProblem p[CL_CB_MAX_RAISED + 1], *pp[CL_CB_MAX_RAISED + 1];
    for (int i = 0; i <= CL_CB_MAX_RAISED; i++) {
        caseloop__v1__raised_problem__init(&p[i]);
        p[i].description = "the lift squeaks";
        pp[i] = &p[i];
    }
    r.raised = pp, r.n_raised = 2;
    p[1].has_kind = 1, p[1].kind = (Caseloop__V1__Kind)99;
    assert_string_equal(s_check(phone, &r, f, sizeof f), "record.raised[1].kind");
    p[1].kind = CASELOOP__V1__KIND__KIND_REPAIR;
    p[1].description = "";
    assert_string_equal(s_check(phone, &r, f, sizeof f), "record.raised[1].description");
    p[1].description = "the lift squeaks";
    assert_string_equal(s_check(phone, &r, f, sizeof f), "");
    cl_cb_outcome(&r, &o);
    assert_true(o.satisfied && !o.reopen && o.raised == 2);
    r.n_raised = CL_CB_MAX_RAISED + 1;
    assert_string_equal(s_check(phone, &r, f, sizeof f), "record.raised");
}

/* Who hears of an overdue callback: customer service's supervisor. */
static void test_the_supervisor_told_is_customer_services(void **state)
{
    (void)state;
    cl_policy_t *p = s_policy("Asia/Shanghai", NULL, NULL);
    assert_string_equal(cl_cb_supervisor(&p->sites[0]), "sup");
    cl_policy_destroy(&p);
}

/* The field a letter's check refuses ("" when it passes). */
static const char *s_letter(bool open, const char *text, const uint64_t *ids, const cl_letter_case_t *c, size_t n)
{
    static char field[64];
    cl_err_t err;
    cl_err_clear(&err);
    int rc = cl_cb_letter_check("A", open, text, NULL, ids, c, n, &err);
    snprintf(field, sizeof field, "%s", rc == 0 ? "" : err.field);
    return field;
}

/* R-CB-7: a reply letter answers one case of the site that gets no callback by rule; an
   open letter answers distinct cases of the site and of one problem; a letter has words. */
static void test_a_letter_answers_the_cases_it_may(void **state)
{
    (void)state;
    const uint64_t ids[3] = {11, 12, 13};
    cl_letter_case_t c[3] = {{true, "A", 1, true, false}, {true, "A", 1, false, false}, {true, "A", 1, false, true}};
    assert_string_equal(s_letter(false, "sorry", ids, c, 1), "");
    assert_string_equal(s_letter(false, "sorry", &ids[2], &c[2], 1), ""); /* reply letter only */
    assert_string_equal(s_letter(false, "sorry", &ids[1], &c[1], 1), "case_id"); /* called back */
    assert_string_equal(s_letter(false, "", ids, c, 1), "text");
    c[0].found = false;
    assert_string_equal(s_letter(false, "sorry", ids, c, 1), "case_id");
    c[0].found = true;
    snprintf(c[0].site, sizeof c[0].site, "B");
    assert_string_equal(s_letter(false, "sorry", ids, c, 1), "case_id");
    snprintf(c[0].site, sizeof c[0].site, "A");
    assert_string_equal(s_letter(true, "to all", ids, c, 3), "");
    c[2].kind = 2;
    assert_string_equal(s_letter(true, "to all", ids, c, 3), "case_ids[2]");
    c[2].kind = 1;
    const uint64_t twice[2] = {11, 11};
    assert_string_equal(s_letter(true, "to all", twice, c, 2), "case_ids[1]");
    assert_string_equal(s_letter(true, "to all", ids, c, 0), "case_ids");
}

/* R-CB-8: a record is reviewed by a supervisor or above of the site, nobody else. */
static void test_a_review_is_by_a_supervisor_or_above_of_the_site(void **state)
{
    (void)state;
    cl_policy_t *p = s_policy("Asia/Shanghai", NULL, NULL);
    const cl_site_policy_t *s = &p->sites[0];
    assert_true(cl_cb_may_review(s, "sup"));
    assert_true(cl_cb_may_review(s, "mgr"));
    assert_false(cl_cb_may_review(s, "a1"));
    assert_false(cl_cb_may_review(s, "e1"));
    assert_false(cl_cb_may_review(s, "someone"));
    assert_false(cl_cb_may_review(s, NULL));
    cl_policy_destroy(&p);
}

int main(void)
{
    cl_tz_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_anonymous_reply_letter_and_do_not_call_cases_are_skipped_naming_the_rule),
        cmocka_unit_test(test_sampling_stays_on_target_at_every_closure_for_every_share),
        cmocka_unit_test(test_sampling_is_the_same_on_replay_and_unpredictable_without_the_seed),
        cmocka_unit_test(test_the_deadline_is_the_kinds_within_in_wall_or_working_time),
        cmocka_unit_test(test_a_complaint_is_visited_first_and_phoned_from_the_second_callback_unless_major),
        cmocka_unit_test(test_the_performer_has_the_role_is_on_shift_has_room_and_the_fewest_open_callbacks),
        cmocka_unit_test(test_a_callback_takes_the_first_window_with_room_before_the_deadline),
        cmocka_unit_test(test_a_callback_keeps_to_the_customers_windows_in_their_own_zone),
        cmocka_unit_test(test_generated_calendars_never_place_a_callback_outside_the_rules),
        cmocka_unit_test(test_the_timer_tells_a_missed_slot_and_a_passed_deadline_once_each),
        cmocka_unit_test(test_an_attempt_reaches_or_tries_again_until_the_last_allowed),
        cmocka_unit_test(test_a_record_is_refused_on_the_field_at_fault),
        cmocka_unit_test(test_a_record_not_satisfied_reopens_and_each_raised_problem_makes_a_case),
        cmocka_unit_test(test_the_supervisor_told_is_customer_services),
        cmocka_unit_test(test_a_review_is_by_a_supervisor_or_above_of_the_site),
        cmocka_unit_test(test_a_letter_answers_the_cases_it_may),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
