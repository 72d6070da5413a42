/* test_validate.c - what intake accepts as a case, and the field it names when it does not. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "cl.h"
#include "validate.h"

#define SKEW_US (300 * CL_US_PER_S)

typedef struct {
    cl_clock_t clock;
    Caseloop__V1__Case c;
    cl_err_t err;
} fixture_t;

static int s_setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    cl_clock_fake_init(&f->clock, INT64_C(1700000000) * CL_US_PER_S);
    caseloop__v1__case__init(&f->c);
    f->c.site = "site-a";
    f->c.has_kind = 1;
    f->c.kind = CASELOOP__V1__KIND__KIND_REPAIR;
    f->c.has_channel = 1;
    f->c.channel = CASELOOP__V1__CHANNEL__CHANNEL_PHONE;
    f->c.has_severity = 1;
    f->c.severity = CASELOOP__V1__SEVERITY__SEVERITY_GENERAL;
    f->c.customer_name = "王先生";
    f->c.customer_contact = "13800000000";
    f->c.location = "3栋2单元";
    f->c.description = "水泵晚上噪音很大";
    f->c.first_receiver = "front-desk";
    f->c.external_source = "site-a-web";
    f->c.external_id = "form-42";
    cl_err_clear(&f->err);
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    free(*state);
    return 0;
}

static int s_check(fixture_t *f)
{
    cl_err_clear(&f->err);
    return cl_validate_case(&f->c, &f->err) < 0 ? -1
                                                : cl_validate_occurred(&f->c, cl_clock_now(&f->clock), SKEW_US, &f->err);
}

/* Asserts that the case in f is refused with INVALID_ARGUMENT naming field. */
static void s_refused(fixture_t *f, const char *field)
{
    assert_int_equal(s_check(f), -1);
    assert_int_equal(f->err.code, CL_INVALID_ARGUMENT);
    assert_string_equal(f->err.field, field);
    assert_true(f->err.message[0] != '\0');
}

/* The text fields of a case, with their limits and names. */
typedef struct {
    size_t offset;
    size_t max;
    const char *field;
} text_field_t;

static const text_field_t TEXT_FIELDS[] = {
    {offsetof(Caseloop__V1__Case, site), CL_SITE_MAX, "details.site"},
    {offsetof(Caseloop__V1__Case, customer_name), CL_NAME_MAX, "details.customer_name"},
    {offsetof(Caseloop__V1__Case, customer_contact), CL_CONTACT_MAX, "details.customer_contact"},
    {offsetof(Caseloop__V1__Case, location), CL_LOCATION_MAX, "details.location"},
    {offsetof(Caseloop__V1__Case, description), CL_DESCRIPTION_MAX, "details.description"},
    {offsetof(Caseloop__V1__Case, first_receiver), CL_RECEIVER_MAX, "details.first_receiver"},
    {offsetof(Caseloop__V1__Case, external_source), CL_SOURCE_MAX, "details.external_source"},
    {offsetof(Caseloop__V1__Case, external_id), CL_EXTERNAL_ID_MAX, "details.external_id"},
};
#define N_TEXT_FIELDS (sizeof TEXT_FIELDS / sizeof TEXT_FIELDS[0])

static char **s_slot(fixture_t *f, const text_field_t *t)
{
    return (char **)((char *)&f->c + t->offset);
}

static void test_good_case_passes(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(s_check(f), 0);
    assert_int_equal(f->err.code, CL_OK);
}

static void test_anonymous_case_without_name_or_contact_passes(void **state)
{
    fixture_t *f = *state;
    f->c.anonymous = 1;
    f->c.has_anonymous = 1;
    f->c.customer_name = NULL;
    f->c.customer_contact = NULL;
    assert_int_equal(s_check(f), 0);
    f->c.customer_name = "";
    f->c.customer_contact = "";
    assert_int_equal(s_check(f), 0);
}

static void test_case_with_neither_name_nor_contact_is_refused(void **state)
{
    fixture_t *f = *state;
    f->c.customer_name = NULL;
    f->c.customer_contact = "";
    s_refused(f, "details.customer_contact");
}

static void test_name_alone_or_contact_alone_is_enough(void **state)
{
    fixture_t *f = *state;
    f->c.customer_contact = NULL;
    assert_int_equal(s_check(f), 0);
    f->c.customer_name = NULL;
    f->c.customer_contact = "13800000000";
    assert_int_equal(s_check(f), 0);
}

static void test_missing_details_is_refused(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(cl_validate_case(NULL, &f->err), -1);
    assert_int_equal(f->err.code, CL_INVALID_ARGUMENT);
    assert_string_equal(f->err.field, "details");
}

static void test_missing_required_fields_are_named(void **state)
{
    fixture_t *f = *state;
    f->c.site = NULL;
    s_refused(f, "details.site");
    f->c.site = "";
    s_refused(f, "details.site");
    f->c.site = "site-a";

    f->c.description = NULL;
    s_refused(f, "details.description");
    f->c.description = "";
    s_refused(f, "details.description");
    f->c.description = "leak";

    f->c.external_source = NULL;
    s_refused(f, "details.external_source");
    f->c.external_source = "site-a-web";

    f->c.external_id = "";
    s_refused(f, "details.external_id");
}

static void test_missing_or_unspecified_kind_is_left_to_the_dispatcher(void **state)
{
    fixture_t *f = *state;
    f->c.has_kind = 0;
    assert_int_equal(cl_validate_case(&f->c, &f->err), 0);
    f->c.has_kind = 1;
    f->c.kind = CASELOOP__V1__KIND__KIND_UNSPECIFIED;
    assert_int_equal(cl_validate_case(&f->c, &f->err), 0);
}

static void test_unknown_enum_values_are_refused(void **state)
{
    fixture_t *f = *state;
    f->c.kind = (Caseloop__V1__Kind)99;
    s_refused(f, "details.kind");
    f->c.kind = CASELOOP__V1__KIND__KIND_REPAIR;

    f->c.channel = (Caseloop__V1__Channel)99;
    s_refused(f, "details.channel");
    f->c.channel = CASELOOP__V1__CHANNEL__CHANNEL_PHONE;

    f->c.severity = (Caseloop__V1__Severity)99;
    s_refused(f, "details.severity");
    f->c.severity = (Caseloop__V1__Severity)-1;
    s_refused(f, "details.severity");
}

static void test_absent_channel_and_severity_pass(void **state)
{
    fixture_t *f = *state;
    f->c.has_channel = 0;
    f->c.has_severity = 0;
    assert_int_equal(s_check(f), 0);
}

static void test_explicit_unspecified_channel_and_severity_pass(void **state)
{
    fixture_t *f = *state;
    /* a sender that sets the field to 0 means "not given": intake stores the
       documented defaults (CHANNEL_SYSTEM, SEVERITY_GENERAL) */
    f->c.has_channel = 1;
    f->c.channel = CASELOOP__V1__CHANNEL__CHANNEL_UNSPECIFIED;
    if (s_check(f) != 0)
        fail_msg("explicit CHANNEL_UNSPECIFIED was refused: %s %s", f->err.field, f->err.message);
    f->c.has_severity = 1;
    f->c.severity = CASELOOP__V1__SEVERITY__SEVERITY_UNSPECIFIED;
    if (s_check(f) != 0)
        fail_msg("explicit SEVERITY_UNSPECIFIED was refused: %s %s", f->err.field, f->err.message);
}

static void test_unknown_kind_sent_on_the_wire_is_refused(void **state)
{
    fixture_t *f = *state;
    cl_env_t env;
    char id[CL_ID_MAX + 1];
    cl_codec_init(&env, id, "site-a-web", cl_clock_now(&f->clock));
    Caseloop__V1__SubmitCase submit = CASELOOP__V1__SUBMIT_CASE__INIT;
    f->c.kind = (Caseloop__V1__Kind)99;
    submit.details = &f->c;
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE;
    env.submit_case = &submit;
    cl_buf_t packed = {0};
    cl_codec_encode(&env, &packed);

    cl_err_t err;
    cl_err_clear(&err);
    cl_env_t *got = cl_codec_decode(packed.data, packed.len, 65536, &err);
    cl_buf_free(&packed);
    if (!got) {
        /* the decoder refused it: still a clear answer, not a crash */
        assert_int_equal(err.code, CL_INVALID_ARGUMENT);
        assert_true(err.field[0] != '\0');
        return;
    }
    /* the decoder let it through: validation must catch it */
    assert_non_null(got->submit_case);
    assert_non_null(got->submit_case->details);
    assert_int_equal(cl_validate_case(got->submit_case->details, &err), -1);
    assert_int_equal(err.code, CL_INVALID_ARGUMENT);
    assert_string_equal(err.field, "details.kind");
    cl_codec_free(got);
}

static void test_text_not_utf8_is_refused_in_every_field(void **state)
{
    fixture_t *f = *state;
    for (size_t i = 0; i < N_TEXT_FIELDS; i++) {
        char **slot = s_slot(f, &TEXT_FIELDS[i]);
        char *keep = *slot;
        *slot = "ab\xc3\x28";
        s_refused(f, TEXT_FIELDS[i].field);
        *slot = "\xed\xa0\x80"; /* a surrogate */
        s_refused(f, TEXT_FIELDS[i].field);
        *slot = keep;
        assert_int_equal(s_check(f), 0);
    }
}

static void test_text_at_its_limit_passes_and_one_byte_over_is_refused(void **state)
{
    fixture_t *f = *state;
    char *text = malloc(CL_DESCRIPTION_MAX + 2);
    assert_non_null(text);
    for (size_t i = 0; i < N_TEXT_FIELDS; i++) {
        const text_field_t *t = &TEXT_FIELDS[i];
        char **slot = s_slot(f, t);
        char *keep = *slot;
        memset(text, 'x', t->max + 1);
        text[t->max] = '\0';
        *slot = text;
        if (s_check(f) != 0)
            fail_msg("%s of %zu bytes was refused: %s", t->field, t->max, f->err.message);
        text[t->max] = 'x';
        text[t->max + 1] = '\0';
        s_refused(f, t->field);
        *slot = keep;
    }
    free(text);
}

static void test_limits_count_bytes_not_characters(void **state)
{
    fixture_t *f = *state;
    /* "水" is 3 bytes: 66 of them are 198 bytes (fits 200), 67 are 201 */
    char name[3 * 67 + 1] = "";
    for (int i = 0; i < 66; i++)
        strcat(name, "水");
    f->c.customer_name = name;
    assert_int_equal(s_check(f), 0);
    strcat(name, "水");
    s_refused(f, "details.customer_name");
}

static void test_occurred_in_the_future_beyond_the_skew_is_refused(void **state)
{
    fixture_t *f = *state;
    int64_t now = cl_clock_now(&f->clock);
    f->c.has_occurred_at_us = 1;

    f->c.occurred_at_us = now - 3600 * CL_US_PER_S;
    assert_int_equal(s_check(f), 0);
    f->c.occurred_at_us = now + SKEW_US;
    assert_int_equal(s_check(f), 0);
    f->c.occurred_at_us = now + SKEW_US + 1;
    s_refused(f, "details.occurred_at_us");

    /* the same time passes once the clock has caught up */
    cl_clock_advance(&f->clock, 1);
    assert_int_equal(s_check(f), 0);
}

static void test_occurred_before_1970_is_refused(void **state)
{
    fixture_t *f = *state;
    f->c.has_occurred_at_us = 1;
    f->c.occurred_at_us = -1;
    s_refused(f, "details.occurred_at_us");
    f->c.occurred_at_us = 0;
    assert_int_equal(s_check(f), 0);
}

static void test_the_case_called_back_must_be_a_case_number(void **state)
{
    fixture_t *f = *state;
    f->c.has_raised_in_callback_of = 1;
    f->c.raised_in_callback_of = 0;
    s_refused(f, "details.raised_in_callback_of");
    f->c.raised_in_callback_of = (uint64_t)INT64_MAX + 1;
    s_refused(f, "details.raised_in_callback_of");
    f->c.raised_in_callback_of = 17;
    assert_int_equal(s_check(f), 0);
}

static void test_sql_looking_text_passes_unchanged(void **state)
{
    fixture_t *f = *state;
    static const char sql[] = "'; DROP TABLE cases; --";
    char description[sizeof sql], name[sizeof sql];
    memcpy(description, sql, sizeof sql);
    memcpy(name, sql, sizeof sql);
    f->c.description = description;
    f->c.customer_name = name;
    assert_int_equal(s_check(f), 0);
    assert_ptr_equal(f->c.description, description);
    assert_string_equal(f->c.description, sql);
    assert_string_equal(f->c.customer_name, sql);
}

#define T(name) cmocka_unit_test_setup_teardown(name, s_setup, s_teardown)


/* Preferences: refused naming the field, or accepted. */
static void s_prefs(Caseloop__V1__CustomerPreferences *p, const char *field)
{
    cl_err_t err;
    cl_err_clear(&err);
    int rc = cl_validate_preferences(p, "details.preferences", "/usr/share/zoneinfo", &err);
    if (!field) {
        if (rc != 0)
            fail_msg("refused on %s: %s", err.field, err.message);
        return;
    }
    assert_int_equal(rc, -1);
    assert_int_equal(err.code, CL_INVALID_ARGUMENT);
    assert_string_equal(err.field, field);
}

static void test_customer_preferences_are_checked_field_by_field(void **state)
{
    (void)state;
    Caseloop__V1__CustomerPreferences p = CASELOOP__V1__CUSTOMER_PREFERENCES__INIT;
    s_prefs(NULL, NULL);
    s_prefs(&p, NULL); /* an empty message asks for nothing */
    char *good[] = {"09:00-10:30", "18:00-24:00"};
    p.windows = good, p.n_windows = 2;
    p.has_mode = 1, p.mode = CASELOOP__V1__CALLBACK_MODE__CALLBACK_MODE_PHONE;
    p.time_zone = "Europe/London";
    s_prefs(&p, NULL);
    char *bad_format[] = {"09:00-10:30", "9-10"};
    p.windows = bad_format;
    s_prefs(&p, "details.preferences.windows[1]");
    char *backwards[] = {"10:30-09:00"};
    p.windows = backwards, p.n_windows = 1;
    s_prefs(&p, "details.preferences.windows[0]");
    char *overlap[] = {"09:00-11:00", "10:30-12:00"};
    p.windows = overlap, p.n_windows = 2;
    s_prefs(&p, "details.preferences.windows[1]");
    char *many[] = {"01:00-02:00", "03:00-04:00", "05:00-06:00", "07:00-08:00", "09:00-10:00"};
    p.windows = many, p.n_windows = 5;
    s_prefs(&p, "details.preferences.windows");
    p.n_windows = 4;
    s_prefs(&p, NULL);
    p.mode = (Caseloop__V1__CallbackMode)9;
    s_prefs(&p, "details.preferences.mode");
    p.mode = CASELOOP__V1__CALLBACK_MODE__CALLBACK_MODE_UNSPECIFIED;
    s_prefs(&p, NULL);
    p.time_zone = "Mars/Olympus";
    s_prefs(&p, "details.preferences.time_zone");
    p.time_zone = "../../etc/passwd";
    s_prefs(&p, "details.preferences.time_zone");
    p.time_zone = "";
    s_prefs(&p, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_good_case_passes),
        cmocka_unit_test(test_customer_preferences_are_checked_field_by_field),
        T(test_anonymous_case_without_name_or_contact_passes),
        T(test_case_with_neither_name_nor_contact_is_refused),
        T(test_name_alone_or_contact_alone_is_enough),
        T(test_missing_details_is_refused),
        T(test_missing_required_fields_are_named),
        T(test_missing_or_unspecified_kind_is_left_to_the_dispatcher),
        T(test_unknown_enum_values_are_refused),
        T(test_absent_channel_and_severity_pass),
        T(test_explicit_unspecified_channel_and_severity_pass),
        T(test_unknown_kind_sent_on_the_wire_is_refused),
        T(test_text_not_utf8_is_refused_in_every_field),
        T(test_text_at_its_limit_passes_and_one_byte_over_is_refused),
        T(test_limits_count_bytes_not_characters),
        T(test_occurred_in_the_future_beyond_the_skew_is_refused),
        T(test_occurred_before_1970_is_refused),
        T(test_the_case_called_back_must_be_a_case_number),
        T(test_sql_looking_text_passes_unchanged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
