/* test_buf.c - PostgreSQL array literals for text[], bigint[], bool[] and bytea[] parameters; files read whole. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "cl.h"

static int s_setup(void **state)
{
    cl_buf_t *b = calloc(1, sizeof *b);
    if (!b)
        return -1;
    *state = b;
    return 0;
}

static int s_teardown(void **state)
{
    cl_buf_t *b = *state;
    cl_buf_free(b);
    free(b);
    return 0;
}

static void test_empty_array(void **state)
{
    cl_buf_t *b = *state;
    cl_pgarr_begin(b);
    cl_pgarr_end(b);
    assert_string_equal(b->data, "{}");
    assert_int_equal(b->len, 2);
}

static void test_text_elements_are_quoted(void **state)
{
    cl_buf_t *b = *state;
    cl_pgarr_begin(b);
    cl_pgarr_text(b, "site-a");
    cl_pgarr_text(b, "水泵, 噪音 {很大}");
    cl_pgarr_text(b, "");
    cl_pgarr_end(b);
    assert_string_equal(b->data, "{\"site-a\",\"水泵, 噪音 {很大}\",\"\"}");
}

static void test_quotes_and_backslashes_are_escaped(void **state)
{
    cl_buf_t *b = *state;
    cl_pgarr_begin(b);
    cl_pgarr_text(b, "a\"b");     /* a"b  -> "a\"b"  */
    cl_pgarr_text(b, "c\\d");     /* c\d  -> "c\\d"  */
    cl_pgarr_text(b, "\\\"");     /* \"   -> "\\\""  */
    cl_pgarr_text(b, "'; DROP TABLE cases; --");
    cl_pgarr_end(b);
    assert_string_equal(b->data, "{\"a\\\"b\",\"c\\\\d\",\"\\\\\\\"\",\"'; DROP TABLE cases; --\"}");
}

static void test_null_element_is_sql_null_not_the_word(void **state)
{
    cl_buf_t *b = *state;
    cl_pgarr_begin(b);
    cl_pgarr_text(b, NULL);
    cl_pgarr_text(b, "NULL");
    cl_pgarr_end(b);
    assert_string_equal(b->data, "{NULL,\"NULL\"}");
}

static void test_i64_elements(void **state)
{
    cl_buf_t *b = *state;
    cl_pgarr_begin(b);
    cl_pgarr_i64(b, 0);
    cl_pgarr_i64(b, -1);
    cl_pgarr_i64(b, INT64_MAX);
    cl_pgarr_i64(b, INT64_MIN);
    cl_pgarr_end(b);
    assert_string_equal(b->data, "{0,-1,9223372036854775807,-9223372036854775808}");
}

static void test_bool_elements(void **state)
{
    cl_buf_t *b = *state;
    cl_pgarr_begin(b);
    cl_pgarr_bool(b, true);
    cl_pgarr_bool(b, false);
    cl_pgarr_end(b);
    assert_string_equal(b->data, "{t,f}");
}

static void test_bytea_elements_are_hex(void **state)
{
    cl_buf_t *b = *state;
    static const unsigned char bytes[] = {0x0a, 0xff};
    cl_pgarr_begin(b);
    cl_pgarr_bytea(b, bytes, sizeof bytes);
    cl_pgarr_bytea(b, "", 0);
    cl_pgarr_end(b);
    /* the literal {"\\x0aff","\\x"} */
    assert_string_equal(b->data, "{\"\\\\x0aff\",\"\\\\x\"}");
}

static void test_begin_starts_a_fresh_literal(void **state)
{
    cl_buf_t *b = *state;
    cl_pgarr_begin(b);
    cl_pgarr_i64(b, 1);
    cl_pgarr_i64(b, 2);
    cl_pgarr_end(b);
    cl_pgarr_begin(b);
    cl_pgarr_i64(b, 3);
    cl_pgarr_end(b);
    assert_string_equal(b->data, "{3}");
}

static void test_large_array_grows_the_buffer(void **state)
{
    cl_buf_t *b = *state;
    cl_pgarr_begin(b);
    for (int i = 0; i < 1000; i++)
        cl_pgarr_i64(b, 7);
    cl_pgarr_end(b);
    assert_int_equal(b->len, 2 + 1000 + 999);
    assert_int_equal(b->data[0], '{');
    assert_int_equal(b->data[b->len - 1], '}');
    assert_int_equal(b->data[b->len], '\0');
}

static void test_a_file_is_read_whole_and_ends_in_nul(void **state)
{
    cl_buf_t *b = *state;
    char path[] = "/tmp/cl-test-buf-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    char big[20000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 26);
    assert_int_equal(write(fd, big, sizeof big), (ssize_t)sizeof big);
    close(fd);
    assert_int_equal(cl_buf_read_file(b, path), 0);
    assert_int_equal(b->len, sizeof big);
    assert_memory_equal(b->data, big, sizeof big);
    assert_int_equal(b->data[b->len], '\0');

    /* empty: "" */
    cl_buf_free(b);
    assert_int_equal(truncate(path, 0), 0);
    assert_int_equal(cl_buf_read_file(b, path), 0);
    assert_non_null(b->data);
    assert_string_equal(b->data, "");
    unlink(path);

    /* gone: -1, and errno says why */
    assert_int_equal(cl_buf_read_file(b, path), -1);
    assert_int_equal(errno, ENOENT);

    /* a folder opens but cannot be read: errno says so ("policy load DIR") */
    char dir[] = "/tmp/cl-test-buf-dir-XXXXXX";
    assert_non_null(mkdtemp(dir));
    int rc = cl_buf_read_file(b, dir);
    int read_errno = errno;
    rmdir(dir);
    assert_int_equal(rc, -1);
    assert_int_equal(read_errno, EISDIR);
}

#define T(name) cmocka_unit_test_setup_teardown(name, s_setup, s_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_empty_array),
        T(test_text_elements_are_quoted),
        T(test_quotes_and_backslashes_are_escaped),
        T(test_null_element_is_sql_null_not_the_word),
        T(test_i64_elements),
        T(test_bool_elements),
        T(test_bytea_elements_are_hex),
        T(test_begin_starts_a_fresh_literal),
        T(test_large_array_grows_the_buffer),
        T(test_a_file_is_read_whole_and_ends_in_nul),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
