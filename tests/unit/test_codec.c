/* test_codec.c - the envelope codec: round trip, and every refusal with its code and field. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "cl.h"

#define MAX_FRAME 65536
#define NOW_US INT64_C(1700000000000000)

/* A request as a submitter sends it: envelope, SubmitCase, details. */
typedef struct {
    cl_env_t env;
    char id[CL_ID_MAX + 1];
    Caseloop__V1__SubmitCase submit;
    Caseloop__V1__Case details;
    cl_buf_t packed;
    cl_err_t err;
} fixture_t;

static int s_setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    cl_codec_init(&f->env, f->id, "site-a-web", NOW_US);
    f->env.site = "site-a";
    caseloop__v1__submit_case__init(&f->submit);
    caseloop__v1__case__init(&f->details);
    f->details.site = "site-a";
    f->details.has_kind = 1;
    f->details.kind = CASELOOP__V1__KIND__KIND_REPAIR;
    f->details.description = "水泵晚上噪音很大";
    f->details.customer_contact = "13800000000";
    f->details.external_source = "site-a-web";
    f->details.external_id = "form-42";
    f->submit.details = &f->details;
    f->env.body_case = CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE;
    f->env.submit_case = &f->submit;
    cl_err_clear(&f->err);
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    fixture_t *f = *state;
    cl_buf_free(&f->packed);
    free(f);
    return 0;
}

/* Decodes bytes expecting a refusal with code and field. */
static void s_refused(const void *data, size_t len, cl_code_t code, const char *field)
{
    cl_err_t err;
    cl_err_clear(&err);
    cl_env_t *env = cl_codec_decode(data, len, MAX_FRAME, &err);
    if (env) {
        char id[CL_ID_MAX + 1];
        snprintf(id, sizeof id, "%s", env->message_id ? env->message_id : "");
        cl_codec_free(env);
        fail_msg("frame was accepted (message_id \"%s\"), expected %s on \"%s\"", id, cl_err_code_name(code), field);
    }
    assert_string_equal(cl_err_code_name(err.code), cl_err_code_name(code));
    assert_string_equal(err.field, field);
    assert_true(err.message[0] != '\0');
}

static void test_submit_case_survives_a_round_trip(void **state)
{
    fixture_t *f = *state;
    cl_codec_encode(&f->env, &f->packed);
    cl_env_t *got = cl_codec_decode(f->packed.data, f->packed.len, MAX_FRAME, &f->err);
    assert_non_null(got);
    assert_string_equal(got->message_id, f->id);
    assert_string_equal(got->sender, "site-a-web");
    assert_string_equal(got->site, "site-a");
    assert_true(got->has_schema_version);
    assert_int_equal(got->schema_version, CL_SCHEMA_VERSION);
    assert_true(got->has_sent_at_us);
    assert_int_equal(got->sent_at_us, NOW_US);
    assert_int_equal(got->body_case, CASELOOP__V1__ENVELOPE__BODY_SUBMIT_CASE);
    assert_non_null(got->submit_case);
    const Caseloop__V1__Case *d = got->submit_case->details;
    assert_non_null(d);
    assert_string_equal(d->site, "site-a");
    assert_true(d->has_kind);
    assert_int_equal(d->kind, CASELOOP__V1__KIND__KIND_REPAIR);
    assert_string_equal(d->description, "水泵晚上噪音很大");
    assert_string_equal(d->customer_contact, "13800000000");
    assert_string_equal(d->external_source, "site-a-web");
    assert_string_equal(d->external_id, "form-42");
    assert_string_equal(cl_codec_body_name(got), "SubmitCase");
    cl_codec_free(got);
}

static void test_frame_over_the_limit_is_resource_exhausted(void **state)
{
    fixture_t *f = *state;
    cl_codec_encode(&f->env, &f->packed);
    cl_env_t *got = cl_codec_decode(f->packed.data, f->packed.len, f->packed.len - 1, &f->err);
    assert_null(got);
    assert_int_equal(f->err.code, CL_RESOURCE_EXHAUSTED);
    assert_string_equal(f->err.field, "frame");

    /* exactly at the limit is fine */
    got = cl_codec_decode(f->packed.data, f->packed.len, f->packed.len, &f->err);
    assert_non_null(got);
    cl_codec_free(got);
}

static void test_bytes_that_are_not_protobuf_are_invalid_frame(void **state)
{
    (void)state;
    static const char junk[] = "\xff\xff\xff\xff hello";
    s_refused(junk, sizeof junk - 1, CL_INVALID_ARGUMENT, "frame");
}

static void test_truncated_envelope_is_invalid_frame(void **state)
{
    fixture_t *f = *state;
    cl_codec_encode(&f->env, &f->packed);
    /* fields are packed in number order: the body (11) is last, so dropping
       its last bytes leaves a length-delimited field shorter than it says */
    s_refused(f->packed.data, f->packed.len - 3, CL_INVALID_ARGUMENT, "frame");
    /* a cut inside message_id (tag, length, then only 3 of its bytes) */
    assert_int_equal((unsigned char)f->packed.data[0], 0x0a);
    s_refused(f->packed.data, 5, CL_INVALID_ARGUMENT, "frame");
}

static void test_cut_at_the_body_boundary_is_missing_body(void **state)
{
    fixture_t *f = *state;
    cl_codec_encode(&f->env, &f->packed);
    /* the same envelope without a body packs to the prefix before the body field */
    cl_env_t head = f->env;
    head.body_case = CASELOOP__V1__ENVELOPE__BODY__NOT_SET;
    head.submit_case = NULL;
    cl_buf_t prefix = {0};
    cl_codec_encode(&head, &prefix);
    assert_true(prefix.len < f->packed.len);
    assert_memory_equal(prefix.data, f->packed.data, prefix.len);
    s_refused(f->packed.data, prefix.len, CL_INVALID_ARGUMENT, "body");
    cl_buf_free(&prefix);
}

static void test_missing_message_id_is_refused(void **state)
{
    fixture_t *f = *state;
    f->env.message_id = NULL;
    cl_codec_encode(&f->env, &f->packed);
    s_refused(f->packed.data, f->packed.len, CL_INVALID_ARGUMENT, "envelope.message_id");
}

static void test_message_id_over_the_limit_is_refused(void **state)
{
    fixture_t *f = *state;
    char id[CL_ID_MAX + 2];
    memset(id, 'a', CL_ID_MAX + 1);
    id[CL_ID_MAX + 1] = '\0';
    f->env.message_id = id;
    cl_codec_encode(&f->env, &f->packed);
    s_refused(f->packed.data, f->packed.len, CL_INVALID_ARGUMENT, "envelope.message_id");
}

static void test_message_id_not_utf8_is_refused(void **state)
{
    fixture_t *f = *state;
    f->env.message_id = "id-\xc3\x28";
    cl_codec_encode(&f->env, &f->packed);
    s_refused(f->packed.data, f->packed.len, CL_INVALID_ARGUMENT, "envelope.message_id");
}

static void test_text_with_a_nul_inside_is_refused_not_cut(void **state)
{
    (void)state;
    /* message_id "ab\0cd" (field 1, 5 bytes), schema_version 1, an empty SubmitCase (field 11) */
    static const unsigned char frame[] = {0x0a, 5, 'a', 'b', 0, 'c', 'd', 0x30, 1, 0x5a, 0};
    s_refused(frame, sizeof frame, CL_INVALID_ARGUMENT, "envelope.message_id");
}

static void test_text_ending_in_a_nul_is_refused(void **state)
{
    (void)state;
    /* the last byte of the text is the NUL: "abc\0" as message_id, "A\0" and "\0" as site */
    static const unsigned char id[] = {0x0a, 4, 'a', 'b', 'c', 0, 0x30, 1, 0x5a, 0};
    s_refused(id, sizeof id, CL_INVALID_ARGUMENT, "envelope.message_id");
    static const unsigned char site[] = {0x0a, 1, 'm', 0x1a, 2, 'A', 0, 0x30, 1, 0x5a, 0};
    s_refused(site, sizeof site, CL_INVALID_ARGUMENT, "envelope.site");
    static const unsigned char only_nul[] = {0x0a, 1, 'm', 0x1a, 1, 0, 0x30, 1, 0x5a, 0};
    s_refused(only_nul, sizeof only_nul, CL_INVALID_ARGUMENT, "envelope.site");
    /* after fields of a newer contract, 4 and 8 bytes wide (fixed32 field 1000, fixed64 field 1001) */
    static const unsigned char after[] = {0xc5, 0x3e, 1, 2, 3, 4, 0xc9, 0x3e, 1, 2, 3, 4, 5, 6, 7, 8,
                                          0x0a, 4, 'a', 'b', 'c', 0, 0x30, 1, 0x5a, 0};
    s_refused(after, sizeof after, CL_INVALID_ARGUMENT, "envelope.message_id");
    /* in the body: Envelope{message_id "m", schema_version 1, submit_case{details{site "A\0"}}} */
    static const unsigned char body[] = {0x0a, 1, 'm', 0x30, 1, 0x5a, 6, 0x0a, 4, 0x12, 2, 'A', 0};
    cl_err_t err;
    cl_err_clear(&err);
    cl_env_t *env = cl_codec_decode(body, sizeof body, MAX_FRAME, &err);
    assert_non_null(env);
    cl_codec_free(env);
    assert_int_equal(cl_codec_check_body_text(body, sizeof body, &err), -1);
    assert_string_equal(cl_err_code_name(err.code), cl_err_code_name(CL_INVALID_ARGUMENT));
    assert_string_equal(err.field, "details.site");
}

static void test_envelope_text_at_its_limit_passes_and_one_byte_over_is_refused(void **state)
{
    fixture_t *f = *state;
    static const struct {
        size_t offset;
        size_t max;
        const char *field;
    } fields[] = {
        {offsetof(cl_env_t, site), 64, "envelope.site"},
        {offsetof(cl_env_t, sender), 100, "envelope.sender"},
        {offsetof(cl_env_t, correlation_id), CL_ID_MAX, "envelope.correlation_id"},
    };
    char text[128];
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        char **slot = (char **)((char *)&f->env + fields[i].offset);
        char *keep = *slot;
        memset(text, 'x', fields[i].max + 1);
        text[fields[i].max] = '\0';
        *slot = text;
        cl_codec_encode(&f->env, &f->packed);
        cl_env_t *got = cl_codec_decode(f->packed.data, f->packed.len, MAX_FRAME, &f->err);
        if (!got)
            fail_msg("%s of %zu bytes was refused: %s", fields[i].field, fields[i].max, f->err.message);
        cl_codec_free(got);
        text[fields[i].max] = 'x';
        text[fields[i].max + 1] = '\0';
        cl_codec_encode(&f->env, &f->packed);
        s_refused(f->packed.data, f->packed.len, CL_INVALID_ARGUMENT, fields[i].field);
        *slot = keep;
    }
}

static void test_body_text_with_a_nul_or_bad_utf8_is_refused_by_its_path(void **state)
{
    (void)state;
    /* Envelope{message_id "m", schema_version 1, submit_case{details{site "A\0B"}}} */
    static const unsigned char nul[] = {0x0a, 1, 'm', 0x30, 1, 0x5a, 7, 0x0a, 5, 0x12, 3, 'A', 0, 'B'};
    cl_err_t err;
    cl_err_clear(&err);
    cl_env_t *env = cl_codec_decode(nul, sizeof nul, 1024, &err);
    assert_non_null(env); /* the envelope itself is sound: the refusal can answer message_id "m" */
    assert_string_equal(env->message_id, "m");
    cl_codec_free(env);
    assert_int_equal(cl_codec_check_body_text(nul, sizeof nul, &err), -1);
    assert_int_equal(err.code, CL_INVALID_ARGUMENT);
    assert_string_equal(err.field, "details.site");
    static const unsigned char bad[] = {0x0a, 1, 'm', 0x30, 1, 0x5a, 7, 0x0a, 5, 0x4a, 3, 'A', 0xc3, 0x28};
    assert_int_equal(cl_codec_check_body_text(bad, sizeof bad, &err), -1);
    assert_string_equal(err.field, "details.description");
    static const unsigned char good[] = {0x0a, 1, 'm', 0x30, 1, 0x5a, 7, 0x0a, 5, 0x12, 3, 'A', 'b', 'c'};
    assert_int_equal(cl_codec_check_body_text(good, sizeof good, &err), 0);
}

/* Wraps inner as Envelope{read_events_reply{events: [inner]}}. */
static void s_wrap(cl_buf_t *inner)
{
    cl_buf_t rep = {0}, env = {0};
    unsigned char hdr[12];
    size_t k = 0;
    hdr[k++] = 0x0a; /* ReadEventsReply.events, length-delimited */
    for (size_t v = inner->len; ; v >>= 7) {
        hdr[k++] = (unsigned char)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
        if (v < 0x80)
            break;
    }
    cl_buf_append(&rep, hdr, k);
    cl_buf_append(&rep, inner->data, inner->len);
    /* Envelope: message_id "m", schema_version 1, read_events_reply (field 16) */
    const unsigned char head[] = {0x0a, 1, 'm', 0x30, 1, 0x82, 0x01};
    cl_buf_append(&env, head, sizeof head);
    k = 0;
    for (size_t v = rep.len; ; v >>= 7) {
        hdr[k++] = (unsigned char)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
        if (v < 0x80)
            break;
    }
    cl_buf_append(&env, hdr, k);
    cl_buf_append(&env, rep.data, rep.len);
    cl_buf_free(&rep);
    cl_buf_free(inner);
    *inner = env;
}

static void test_deeply_nested_frame_is_refused_not_a_crash(void **state)
{
    (void)state;
    const unsigned char leaf[] = {0x0a, 1, 'm', 0x30, 1, 0x5a, 0};
    cl_buf_t b = {0};
    cl_buf_append(&b, leaf, sizeof leaf);
    for (int i = 0; i < 3; i++)
        s_wrap(&b);
    cl_err_t err;
    cl_err_clear(&err);
    cl_env_t *env = cl_codec_decode(b.data, b.len, 65536, &err);
    assert_non_null(env); /* a few levels are fine */
    cl_codec_free(env);
    for (int i = 0; i < 5000 && b.len < 60000; i++)
        s_wrap(&b);
    env = cl_codec_decode(b.data, b.len, 65536, &err);
    assert_null(env);
    assert_int_equal(err.code, CL_INVALID_ARGUMENT);
    assert_string_equal(err.field, "frame");
    cl_buf_free(&b);
}

static void test_missing_schema_version_is_refused(void **state)
{
    fixture_t *f = *state;
    f->env.has_schema_version = 0;
    cl_codec_encode(&f->env, &f->packed);
    s_refused(f->packed.data, f->packed.len, CL_INVALID_ARGUMENT, "envelope.schema_version");
}

static void test_schema_version_2_is_refused(void **state)
{
    fixture_t *f = *state;
    f->env.schema_version = 2;
    cl_codec_encode(&f->env, &f->packed);
    s_refused(f->packed.data, f->packed.len, CL_INVALID_ARGUMENT, "envelope.schema_version");
}

static void test_envelope_without_body_is_a_missing_field(void **state)
{
    fixture_t *f = *state;
    f->env.body_case = CASELOOP__V1__ENVELOPE__BODY__NOT_SET;
    f->env.submit_case = NULL;
    cl_codec_encode(&f->env, &f->packed);
    s_refused(f->packed.data, f->packed.len, CL_INVALID_ARGUMENT, "body");
}

static void test_body_unknown_to_this_version_is_unimplemented(void **state)
{
    fixture_t *f = *state;
    f->env.body_case = CASELOOP__V1__ENVELOPE__BODY__NOT_SET;
    f->env.submit_case = NULL;
    cl_codec_encode(&f->env, &f->packed);
    /* field 999, wire type 2: tag (999 << 3) | 2 = 7994 = varint ba 3e; length 3 */
    static const unsigned char unknown[] = {0xba, 0x3e, 0x03, 'a', 'b', 'c'};
    cl_buf_append(&f->packed, unknown, sizeof unknown);
    cl_err_t err;
    cl_err_clear(&err);
    assert_null(cl_codec_decode(f->packed.data, f->packed.len, MAX_FRAME, &err));
    assert_int_equal(err.code, CL_UNIMPLEMENTED);
    assert_string_equal(err.field, "body");
    assert_non_null(strstr(err.message, "not known"));
}

static void test_body_name_is_the_message_type(void **state)
{
    fixture_t *f = *state;
    assert_string_equal(cl_codec_body_name(&f->env), "SubmitCase");

    Caseloop__V1__CaseReceived received = CASELOOP__V1__CASE_RECEIVED__INIT;
    received.details = &f->details;
    f->env.body_case = CASELOOP__V1__ENVELOPE__BODY_CASE_RECEIVED;
    f->env.case_received = &received;
    assert_string_equal(cl_codec_body_name(&f->env), "CaseReceived");

    f->env.body_case = CASELOOP__V1__ENVELOPE__BODY__NOT_SET;
    assert_string_equal(cl_codec_body_name(&f->env), "");
}

static void test_error_reply_carries_code_field_and_message(void **state)
{
    fixture_t *f = *state;
    cl_err_set(&f->err, CL_INVALID_ARGUMENT, "details.site", "details.site is required");
    cl_codec_error_reply("req-1", "intake", NOW_US, &f->err, &f->packed);
    cl_err_t err;
    cl_err_clear(&err);
    cl_env_t *got = cl_codec_decode(f->packed.data, f->packed.len, MAX_FRAME, &err);
    assert_non_null(got);
    assert_string_equal(got->correlation_id, "req-1");
    assert_string_equal(got->sender, "intake");
    assert_true(got->message_id && *got->message_id);
    assert_string_not_equal(got->message_id, "req-1");
    assert_int_equal(got->body_case, CASELOOP__V1__ENVELOPE__BODY_ERROR);
    assert_string_equal(cl_codec_body_name(got), "Error");
    assert_true(got->error->has_code);
    assert_int_equal(got->error->code, CL_INVALID_ARGUMENT);
    assert_string_equal(got->error->field, "details.site");
    assert_string_equal(got->error->message, "details.site is required");
    cl_codec_free(got);
}

static void test_error_reply_to_an_unreadable_request_has_empty_correlation(void **state)
{
    fixture_t *f = *state;
    cl_err_set(&f->err, CL_INVALID_ARGUMENT, "frame", "frame is not a caseloop.v1.Envelope");
    cl_codec_error_reply(NULL, "intake", NOW_US, &f->err, &f->packed);
    cl_err_t err;
    cl_err_clear(&err);
    cl_env_t *got = cl_codec_decode(f->packed.data, f->packed.len, MAX_FRAME, &err);
    assert_non_null(got);
    assert_string_equal(got->correlation_id ? got->correlation_id : "", "");
    assert_string_equal(got->error->field, "frame");
    cl_codec_free(got);
}

static int s_strcmp(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static void test_new_ids_are_distinct_and_fit(void **state)
{
    (void)state;
    enum { N = 10000 };
    char (*ids)[CL_ID_MAX + 1] = calloc(N, sizeof *ids);
    assert_non_null(ids);
    for (int i = 0; i < N; i++) {
        cl_codec_new_id(ids[i]);
        assert_true(strlen(ids[i]) >= 1);
        assert_true(strlen(ids[i]) <= CL_ID_MAX);
    }
    qsort(ids, N, sizeof *ids, s_strcmp);
    for (int i = 1; i < N; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
    free(ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_submit_case_survives_a_round_trip, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_frame_over_the_limit_is_resource_exhausted, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_bytes_that_are_not_protobuf_are_invalid_frame, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_truncated_envelope_is_invalid_frame, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_cut_at_the_body_boundary_is_missing_body, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_missing_message_id_is_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_message_id_over_the_limit_is_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_message_id_not_utf8_is_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_text_with_a_nul_inside_is_refused_not_cut, s_setup, s_teardown),
        cmocka_unit_test(test_text_ending_in_a_nul_is_refused),
        cmocka_unit_test_setup_teardown(test_envelope_text_at_its_limit_passes_and_one_byte_over_is_refused, s_setup,
                                        s_teardown),
        cmocka_unit_test(test_body_text_with_a_nul_or_bad_utf8_is_refused_by_its_path),
        cmocka_unit_test(test_deeply_nested_frame_is_refused_not_a_crash),
        cmocka_unit_test_setup_teardown(test_missing_schema_version_is_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_schema_version_2_is_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_envelope_without_body_is_a_missing_field, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_body_unknown_to_this_version_is_unimplemented, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_body_name_is_the_message_type, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_error_reply_carries_code_field_and_message, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_error_reply_to_an_unreadable_request_has_empty_correlation, s_setup,
                                        s_teardown),
        cmocka_unit_test(test_new_ids_are_distinct_and_fit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
