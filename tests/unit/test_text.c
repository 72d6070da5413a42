/* test_text.c - text from outside: well-formed UTF-8, and length limits with the field named. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "cl.h"

static bool s_valid(const char *s)
{
    return cl_utf8_valid(s, strlen(s));
}

static void test_ascii_is_valid(void **state)
{
    (void)state;
    assert_true(s_valid(""));
    assert_true(s_valid("water pump, 3-2-101; '\"\\"));
    assert_true(s_valid("\x01\x7f"));
}

static void test_multibyte_sequences_are_valid(void **state)
{
    (void)state;
    assert_true(s_valid("\xc2\x80"));         /* U+0080, smallest 2-byte */
    assert_true(s_valid("caf\xc3\xa9"));      /* é */
    assert_true(s_valid("\xdf\xbf"));         /* U+07FF */
    assert_true(s_valid("\xe0\xa0\x80"));     /* U+0800, smallest 3-byte */
    assert_true(s_valid("\xed\x9f\xbf"));     /* U+D7FF, just below the surrogates */
    assert_true(s_valid("\xee\x80\x80"));     /* U+E000, just above them */
    assert_true(s_valid("\xef\xbf\xbf"));     /* U+FFFF */
    assert_true(s_valid("\xf0\x90\x80\x80")); /* U+10000, smallest 4-byte */
    assert_true(s_valid("\xf0\x9f\x98\x80")); /* an emoji */
    assert_true(s_valid("\xf4\x8f\xbf\xbf")); /* U+10FFFF, the last code point */
}

static void test_chinese_text_is_valid(void **state)
{
    (void)state;
    assert_true(s_valid("水泵晚上噪音很大，请尽快处理。"));
    assert_true(s_valid("3栋2单元 water pump 噪音"));
}

static void test_only_the_given_length_is_checked(void **state)
{
    (void)state;
    /* a 3-byte character cut by the length given is refused */
    assert_false(cl_utf8_valid("水", 2));
    assert_true(cl_utf8_valid("水", 3));
    assert_true(cl_utf8_valid("ab\xff", 2));
}

static void test_overlong_encodings_are_refused(void **state)
{
    (void)state;
    assert_false(s_valid("\xc0\x80"));         /* NUL in 2 bytes */
    assert_false(s_valid("\xc1\xbf"));         /* U+007F in 2 bytes */
    assert_false(s_valid("\xe0\x80\x80"));     /* NUL in 3 bytes */
    assert_false(s_valid("\xe0\x9f\xbf"));     /* U+07FF in 3 bytes */
    assert_false(s_valid("\xf0\x80\x80\x80")); /* NUL in 4 bytes */
    assert_false(s_valid("\xf0\x8f\xbf\xbf")); /* U+FFFF in 4 bytes */
}

static void test_surrogates_are_refused(void **state)
{
    (void)state;
    assert_false(s_valid("\xed\xa0\x80")); /* U+D800 */
    assert_false(s_valid("\xed\xbf\xbf")); /* U+DFFF */
    assert_false(s_valid("ok\xed\xb0\x80ok"));
}

static void test_code_points_past_u10ffff_are_refused(void **state)
{
    (void)state;
    assert_false(s_valid("\xf4\x90\x80\x80")); /* U+110000 */
    assert_false(s_valid("\xf7\xbf\xbf\xbf"));
    assert_false(s_valid("\xf8\x88\x80\x80\x80")); /* 5-byte form */
    assert_false(s_valid("\xfe"));
    assert_false(s_valid("\xff"));
}

static void test_truncated_sequences_are_refused(void **state)
{
    (void)state;
    assert_false(s_valid("abc\xc3"));
    assert_false(s_valid("abc\xe6\xb0"));     /* first two bytes of 水 */
    assert_false(s_valid("abc\xf0\x9f\x98")); /* three of four */
    assert_false(s_valid("\xe6\xb0" "a"));    /* cut short by an ASCII byte */
}

static void test_stray_continuation_bytes_are_refused(void **state)
{
    (void)state;
    assert_false(s_valid("\x80"));
    assert_false(s_valid("a\xbf" "b"));
    assert_false(s_valid("水\x80"));
}

static void test_text_check_accepts_text_within_limits(void **state)
{
    (void)state;
    cl_err_t err;
    cl_err_clear(&err);
    assert_int_equal(cl_text_check("site-a", "details.site", 1, 64, &err), 0);
    assert_int_equal(cl_text_check("abc", "f", 3, 3, &err), 0);
    assert_int_equal(cl_text_check(NULL, "details.location", 0, 500, &err), 0);
    assert_int_equal(err.code, CL_OK);
}

static void test_text_check_names_a_missing_field(void **state)
{
    (void)state;
    cl_err_t err;
    cl_err_clear(&err);
    assert_int_equal(cl_text_check(NULL, "details.site", 1, 64, &err), -1);
    assert_int_equal(err.code, CL_INVALID_ARGUMENT);
    assert_string_equal(err.field, "details.site");
    assert_string_equal(err.message, "details.site is required");
    cl_err_clear(&err);
    assert_int_equal(cl_text_check("", "details.site", 1, 64, &err), -1);
    assert_string_equal(err.message, "details.site is required");
}

static void test_text_check_names_a_short_field(void **state)
{
    (void)state;
    cl_err_t err;
    cl_err_clear(&err);
    assert_int_equal(cl_text_check("ab", "code", 3, 10, &err), -1);
    assert_int_equal(err.code, CL_INVALID_ARGUMENT);
    assert_string_equal(err.field, "code");
    assert_string_equal(err.message, "code is shorter than 3 bytes");
}

static void test_text_check_names_a_long_field(void **state)
{
    (void)state;
    cl_err_t err;
    cl_err_clear(&err);
    assert_int_equal(cl_text_check("水泵", "details.site", 1, 5, &err), -1);
    assert_int_equal(err.code, CL_INVALID_ARGUMENT);
    assert_string_equal(err.field, "details.site");
    assert_string_equal(err.message, "details.site is 6 bytes, over the limit of 5");
}

static void test_text_check_names_a_field_not_utf8(void **state)
{
    (void)state;
    cl_err_t err;
    cl_err_clear(&err);
    assert_int_equal(cl_text_check("ab\xc0\x80", "details.description", 1, 8000, &err), -1);
    assert_int_equal(err.code, CL_INVALID_ARGUMENT);
    assert_string_equal(err.field, "details.description");
    assert_string_equal(err.message, "details.description is not valid UTF-8");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ascii_is_valid),
        cmocka_unit_test(test_multibyte_sequences_are_valid),
        cmocka_unit_test(test_chinese_text_is_valid),
        cmocka_unit_test(test_only_the_given_length_is_checked),
        cmocka_unit_test(test_overlong_encodings_are_refused),
        cmocka_unit_test(test_surrogates_are_refused),
        cmocka_unit_test(test_code_points_past_u10ffff_are_refused),
        cmocka_unit_test(test_truncated_sequences_are_refused),
        cmocka_unit_test(test_stray_continuation_bytes_are_refused),
        cmocka_unit_test(test_text_check_accepts_text_within_limits),
        cmocka_unit_test(test_text_check_names_a_missing_field),
        cmocka_unit_test(test_text_check_names_a_short_field),
        cmocka_unit_test(test_text_check_names_a_long_field),
        cmocka_unit_test(test_text_check_names_a_field_not_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
