/* test_dedupe.c - is a report the same problem as an open case (R-IN-3)? */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "cl.h"
#include "dedupe.h"
#include "terms.h"
#include <string.h>

#define DAY_US (86400 * CL_US_PER_S)
#define T0 (INT64_C(1700000000) * CL_US_PER_S)

static const cl_dedupe_policy_t POLICY = {7 * DAY_US, 0.5};

/* A candidate like the probe below: same site, kind, contact, location. */
static cl_dedupe_item_t s_item(const char *description, int64_t received_at_us)
{
    cl_dedupe_item_t it = {"site-a", 2, "13800000000", "3-2-101", description, received_at_us};
    return it;
}

static const cl_dedupe_item_t *s_probe(void)
{
    static cl_dedupe_item_t probe;
    probe = s_item("water pump is very noisy at night", T0);
    return &probe;
}

/* --- cl_similarity ------------------------------------------------------- */

static void test_identical_text_is_fully_similar(void **state)
{
    (void)state;
    assert_float_equal(cl_similarity("水泵晚上噪音很大", "水泵晚上噪音很大"), 1.0, 1e-9);
    assert_float_equal(cl_similarity("water pump noisy", "water pump noisy"), 1.0, 1e-9);
    assert_float_equal(cl_similarity("a", "a"), 1.0, 1e-9);
}

static void test_chinese_near_duplicates_are_similar(void **state)
{
    (void)state;
    double s = cl_similarity("水泵晚上噪音很大", "晚上水泵噪音太大了");
    if (s <= 0.5)
        fail_msg("similarity of two reports of the same noisy pump is %.3f, not above 0.5", s);
    assert_true(cl_similarity("电梯坏了，困人", "电梯坏了困人了！") > 0.5);
}

static void test_unrelated_chinese_is_not_similar(void **state)
{
    (void)state;
    assert_true(cl_similarity("水泵晚上噪音很大", "楼道灯不亮") < 0.3);
    assert_true(cl_similarity("电梯坏了", "物业费怎么交") < 0.3);
}

static void test_english_near_duplicates_are_similar(void **state)
{
    (void)state;
    assert_true(cl_similarity("The water pump is very noisy at night", "water pump very noisy at night!") > 0.5);
    assert_true(cl_similarity("elevator stuck between floors 3 and 4", "Elevator stuck between floor 3 and 4") > 0.5);
}

static void test_unrelated_english_is_not_similar(void **state)
{
    (void)state;
    assert_true(cl_similarity("water pump is very noisy at night", "corridor light is broken") < 0.3);
    assert_true(cl_similarity("elevator stuck", "how do I pay the fee") < 0.3);
}

static void test_case_spaces_and_punctuation_are_ignored(void **state)
{
    (void)state;
    assert_float_equal(cl_similarity("Water Pump, NOISY!", "water pump noisy"), 1.0, 1e-9);
    assert_float_equal(cl_similarity("水泵，噪音很大。", "水泵 噪音很大"), 1.0, 1e-9);
    assert_float_equal(cl_similarity("水泵「噪音」很大！", "水泵噪音很大"), 1.0, 1e-9);
}

static void test_empty_text(void **state)
{
    (void)state;
    assert_float_equal(cl_similarity("", ""), 1.0, 1e-9);
    assert_float_equal(cl_similarity("", "water pump"), 0.0, 1e-9);
    assert_float_equal(cl_similarity("水泵", ""), 0.0, 1e-9);
}

/* --- cl_dedupe_pick ------------------------------------------------------ */

static void test_same_site_kind_contact_and_similar_text_is_picked(void **state)
{
    (void)state;
    cl_dedupe_item_t c[] = {s_item("the water pump is very noisy at night", T0 - DAY_US)};
    c[0].location = "";
    assert_int_equal(cl_dedupe_pick(s_probe(), c, 1, &POLICY), 0);
}

static void test_same_location_instead_of_contact_is_picked(void **state)
{
    (void)state;
    cl_dedupe_item_t c[] = {s_item("the water pump is very noisy at night", T0 - DAY_US)};
    c[0].contact = "13900000000";
    assert_int_equal(cl_dedupe_pick(s_probe(), c, 1, &POLICY), 0);
    c[0].contact = "";
    assert_int_equal(cl_dedupe_pick(s_probe(), c, 1, &POLICY), 0);
}

static void test_different_site_or_kind_is_not_picked(void **state)
{
    (void)state;
    cl_dedupe_item_t c[] = {s_item("water pump is very noisy at night", T0 - DAY_US)};
    c[0].site = "site-b";
    assert_int_equal(cl_dedupe_pick(s_probe(), c, 1, &POLICY), -1);
    c[0].site = "site-a";
    c[0].kind = 1;
    assert_int_equal(cl_dedupe_pick(s_probe(), c, 1, &POLICY), -1);
}

static void test_different_contact_and_location_is_not_picked(void **state)
{
    (void)state;
    cl_dedupe_item_t c[] = {s_item("water pump is very noisy at night", T0 - DAY_US)};
    c[0].contact = "13900000000";
    c[0].location = "5-1-202";
    assert_int_equal(cl_dedupe_pick(s_probe(), c, 1, &POLICY), -1);
}

static void test_empty_contact_never_matches_on_contact(void **state)
{
    (void)state;
    cl_dedupe_item_t probe = *s_probe();
    probe.contact = "";
    probe.location = "";
    cl_dedupe_item_t c[] = {s_item("water pump is very noisy at night", T0 - DAY_US)};
    c[0].contact = "";
    c[0].location = "";
    assert_int_equal(cl_dedupe_pick(&probe, c, 1, &POLICY), -1);
    probe.location = "3-2-101";
    c[0].location = "5-1-202";
    assert_int_equal(cl_dedupe_pick(&probe, c, 1, &POLICY), -1);
}

static void test_case_outside_the_window_is_not_picked(void **state)
{
    (void)state;
    cl_dedupe_item_t c[] = {s_item("water pump is very noisy at night", T0 - POLICY.window_us - 1)};
    assert_int_equal(cl_dedupe_pick(s_probe(), c, 1, &POLICY), -1);
    c[0].received_at_us = T0 - POLICY.window_us;
    assert_int_equal(cl_dedupe_pick(s_probe(), c, 1, &POLICY), 0);
}

static void test_dissimilar_description_is_not_picked(void **state)
{
    (void)state;
    cl_dedupe_item_t c[] = {s_item("corridor light is broken", T0 - DAY_US)};
    assert_int_equal(cl_dedupe_pick(s_probe(), c, 1, &POLICY), -1);
    assert_int_equal(cl_dedupe_pick(s_probe(), c, 0, &POLICY), -1);
}

static void test_digits_are_part_of_words(void **state)
{
    (void)state;
    /* flat 19 and flat 18 share one word of two on each side; 0 and 9 count like 1 and 8 */
    assert_float_equal(cl_similarity("flat 19", "flat 18"), 0.5, 1e-9);
    assert_float_equal(cl_similarity("flat 9", "flat 0"), 0.5, 1e-9);
    assert_float_equal(cl_similarity("room 9z", "room 9z"), 1.0, 1e-9);
}

static void test_similarity_exactly_at_the_threshold_is_picked(void **state)
{
    (void)state;
    /* "at least min_similarity": two of four words in common on each side is
       a Dice coefficient of exactly 4/8; one character and its pair beside
       another, exactly 2/4 */
    static const char *const pairs[][2] = {
        {"water pump noisy night", "water pump broken today"},
        {"灯", "灯坏"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        double sim = cl_similarity(pairs[i][0], pairs[i][1]);
        if (sim != 0.5)
            fail_msg("similarity of \"%s\" and \"%s\" is %.17g, not exactly 0.5", pairs[i][0], pairs[i][1], sim);
        cl_dedupe_item_t probe = s_item(pairs[i][0], T0);
        cl_dedupe_item_t c[] = {s_item(pairs[i][1], T0 - DAY_US)};
        assert_int_equal(cl_dedupe_pick(&probe, c, 1, &POLICY), 0);
        /* a threshold a hair above it is not met */
        cl_dedupe_policy_t stricter = POLICY;
        stricter.min_similarity = 0.5000001;
        assert_int_equal(cl_dedupe_pick(&probe, c, 1, &stricter), -1);
    }
}

static void test_most_similar_candidate_wins(void **state)
{
    (void)state;
    cl_dedupe_item_t c[] = {
        s_item("pump noisy at night, very", T0 - 3 * DAY_US),
        s_item("water pump is very noisy at night", T0 - 2 * DAY_US),
        s_item("the water pump is noisy", T0 - 1 * DAY_US),
    };
    double s0 = cl_similarity(c[0].description, s_probe()->description);
    double s2 = cl_similarity(c[2].description, s_probe()->description);
    assert_true(s0 >= POLICY.min_similarity && s0 < 1.0);
    assert_true(s2 >= POLICY.min_similarity && s2 < 1.0);
    assert_int_equal(cl_dedupe_pick(s_probe(), c, 3, &POLICY), 1);
}

static void test_on_a_tie_the_earliest_case_wins(void **state)
{
    (void)state;
    cl_dedupe_item_t c[] = {
        s_item("water pump is very noisy at night", T0 - 1 * DAY_US),
        s_item("Water pump is very noisy at night!", T0 - 3 * DAY_US),
        s_item("water pump is very noisy at night", T0 - 2 * DAY_US),
    };
    assert_int_equal(cl_dedupe_pick(s_probe(), c, 3, &POLICY), 1);
}

/* A window of 0 takes no report as the same problem, not even one received at the
   same moment (two reports in one batch). */
static void test_no_window_picks_nothing_even_at_the_same_moment(void **state)
{
    (void)state;
    cl_dedupe_item_t probe = {"A", 1, "138", "", "the lift is stuck", T0};
    cl_dedupe_item_t cands[1] = {{"A", 1, "138", "", "the lift is stuck", T0}};
    cl_dedupe_policy_t none = {0, 0.5};
    assert_int_equal(cl_dedupe_pick(&probe, cands, 1, &POLICY), 0);
    assert_int_equal(cl_dedupe_pick(&probe, cands, 1, &none), -1);
}

/* A site's terms are its policy's numbers; a site with no policy is promised nothing (R-IN-2)
   and deduplicated by the policy defaults (R-IN-3). */
static void test_terms_come_from_the_site_policy_and_without_one_nothing_is_promised(void **state)
{
    (void)state;
    cl_terms_t t;
    memset(&t, 0xff, sizeof t);
    assert_int_equal(cl_terms_of(NULL, T0, &t), 0);
    assert_int_equal(t.respond_by_us, 0);
    assert_int_equal(t.dedupe.window_us, 7 * DAY_US);
    assert_true(t.dedupe.min_similarity == 0.5);
    assert_int_equal(t.future_skew_us, 300 * CL_US_PER_S);

    cl_clock_def_t clocks[1];
    memset(clocks, 0, sizeof clocks);
    clocks[0].duration_s = 40;
    clocks[0].active = true;
    cl_site_policy_t site;
    memset(&site, 0, sizeof site);
    site.clocks = clocks;
    site.nclocks = 1;
    site.promise_clock = 0;
    site.dedupe_window_s = 3600;
    site.dedupe_similarity = 0.9;
    site.future_skew_s = 60;
    cl_terms_of(&site, T0, &t);
    assert_int_equal(t.respond_by_us, T0 + 40 * CL_US_PER_S);
    assert_int_equal(t.dedupe.window_us, 3600 * CL_US_PER_S);
    assert_true(t.dedupe.min_similarity == 0.9);
    assert_int_equal(t.future_skew_us, 60 * CL_US_PER_S);
    clocks[0].active = false;
    cl_terms_of(&site, T0, &t);
    assert_int_equal(t.respond_by_us, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identical_text_is_fully_similar),
        cmocka_unit_test(test_chinese_near_duplicates_are_similar),
        cmocka_unit_test(test_unrelated_chinese_is_not_similar),
        cmocka_unit_test(test_english_near_duplicates_are_similar),
        cmocka_unit_test(test_unrelated_english_is_not_similar),
        cmocka_unit_test(test_case_spaces_and_punctuation_are_ignored),
        cmocka_unit_test(test_empty_text),
        cmocka_unit_test(test_same_site_kind_contact_and_similar_text_is_picked),
        cmocka_unit_test(test_same_location_instead_of_contact_is_picked),
        cmocka_unit_test(test_different_site_or_kind_is_not_picked),
        cmocka_unit_test(test_different_contact_and_location_is_not_picked),
        cmocka_unit_test(test_empty_contact_never_matches_on_contact),
        cmocka_unit_test(test_case_outside_the_window_is_not_picked),
        cmocka_unit_test(test_dissimilar_description_is_not_picked),
        cmocka_unit_test(test_similarity_exactly_at_the_threshold_is_picked),
        cmocka_unit_test(test_digits_are_part_of_words),
        cmocka_unit_test(test_most_similar_candidate_wins),
        cmocka_unit_test(test_on_a_tie_the_earliest_case_wins),
        cmocka_unit_test(test_terms_come_from_the_site_policy_and_without_one_nothing_is_promised),
        cmocka_unit_test(test_no_window_picks_nothing_even_at_the_same_moment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
