/* test_sql_split.c - migrations are cut into statements at top-level semicolons only. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "cl.h"

#define MAX_STMTS 16

/* The statements handed to the callback, trimmed of surrounding space. */
typedef struct {
    char *stmt[MAX_STMTS];
    int n;
    int stop_after; /* the callback fails on this call (1-based); 0 never */
} collected_t;

static int s_collect(void *arg, const char *stmt)
{
    collected_t *c = arg;
    if (c->stop_after && c->n + 1 == c->stop_after)
        return -1;
    if (c->n == MAX_STMTS)
        return -1;
    while (isspace((unsigned char)*stmt))
        stmt++;
    size_t len = strlen(stmt);
    while (len && isspace((unsigned char)stmt[len - 1]))
        len--;
    c->stmt[c->n] = strndup(stmt, len);
    if (!c->stmt[c->n])
        return -1;
    c->n++;
    return 0;
}

static int s_setup(void **state)
{
    collected_t *c = calloc(1, sizeof *c);
    if (!c)
        return -1;
    *state = c;
    return 0;
}

static int s_teardown(void **state)
{
    collected_t *c = *state;
    for (int i = 0; i < c->n; i++)
        free(c->stmt[i]);
    free(c);
    return 0;
}

static void test_the_first_migration_head_is_two_statements(void **state)
{
    collected_t *c = *state;
    /* the opening of deploy/sql/001_cases_and_events.sql */
    static const char sql[] =
        "-- 001: cases, their further reports, and the event log.\n"
        "-- Times are timestamptz; services exchange them as microseconds since the\n"
        "-- Unix epoch, converted by the two functions below.\n"
        "\n"
        "CREATE FUNCTION cl_us_to_ts(us bigint) RETURNS timestamptz\n"
        "  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE\n"
        "  AS $$ SELECT timestamptz 'epoch' + us * interval '1 microsecond' $$;\n"
        "\n"
        "CREATE FUNCTION cl_ts_to_us(ts timestamptz) RETURNS bigint\n"
        "  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE\n"
        "  AS $$ SELECT (extract(epoch FROM ts) * 1000000)::bigint $$;\n";
    assert_int_equal(cl_sql_split(sql, s_collect, c), 2);
    assert_int_equal(c->n, 2);
    assert_non_null(strstr(c->stmt[0], "CREATE FUNCTION cl_us_to_ts"));
    assert_non_null(strstr(c->stmt[0], "'1 microsecond' $$"));
    assert_true(strncmp(c->stmt[1], "CREATE FUNCTION cl_ts_to_us", 27) == 0);
    assert_non_null(strstr(c->stmt[1], "::bigint $$"));
}

static void test_semicolons_in_strings_do_not_split(void **state)
{
    collected_t *c = *state;
    assert_int_equal(cl_sql_split("SELECT 'a;b', 'it''s; fine'; SELECT 2;", s_collect, c), 2);
    assert_string_equal(c->stmt[0], "SELECT 'a;b', 'it''s; fine'");
    assert_string_equal(c->stmt[1], "SELECT 2");
}

static void test_semicolons_in_escape_strings_do_not_split(void **state)
{
    collected_t *c = *state;
    /* in E'...' a backslash escapes the quote: E'a\';b' is the one string a';b */
    assert_int_equal(cl_sql_split("SELECT E'a\\';b'; SELECT 2", s_collect, c), 2);
    assert_string_equal(c->stmt[0], "SELECT E'a\\';b'");
    assert_string_equal(c->stmt[1], "SELECT 2");
}

static void test_semicolons_in_quoted_identifiers_do_not_split(void **state)
{
    collected_t *c = *state;
    assert_int_equal(cl_sql_split("CREATE TABLE \"odd;name\" (\"x\"\";y\" int); SELECT 1", s_collect, c), 2);
    assert_string_equal(c->stmt[0], "CREATE TABLE \"odd;name\" (\"x\"\";y\" int)");
    assert_string_equal(c->stmt[1], "SELECT 1");
}

static void test_semicolons_in_comments_do_not_split(void **state)
{
    collected_t *c = *state;
    static const char sql[] = "SELECT 1 -- not here; nor here\n"
                              "+ 1; /* block; comment; */ SELECT /* nested /* deeper; */ still; */ 2;";
    assert_int_equal(cl_sql_split(sql, s_collect, c), 2);
    assert_string_equal(c->stmt[0], "SELECT 1 -- not here; nor here\n+ 1");
    assert_string_equal(c->stmt[1], "/* block; comment; */ SELECT /* nested /* deeper; */ still; */ 2");
}

static void test_semicolons_in_dollar_quoted_bodies_do_not_split(void **state)
{
    collected_t *c = *state;
    static const char sql[] = "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; SELECT 2; $$;\n"
                              "CREATE FUNCTION g() RETURNS void LANGUAGE plpgsql AS $body$\n"
                              "BEGIN PERFORM 1; RAISE NOTICE '$$;'; END;\n"
                              "$body$;\n"
                              "SELECT $1::int;";
    assert_int_equal(cl_sql_split(sql, s_collect, c), 3);
    assert_string_equal(c->stmt[0], "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; SELECT 2; $$");
    assert_string_equal(c->stmt[1], "CREATE FUNCTION g() RETURNS void LANGUAGE plpgsql AS $body$\n"
                                    "BEGIN PERFORM 1; RAISE NOTICE '$$;'; END;\n"
                                    "$body$");
    assert_string_equal(c->stmt[2], "SELECT $1::int");
}

static void test_trailing_text_without_semicolon_is_a_statement(void **state)
{
    collected_t *c = *state;
    assert_int_equal(cl_sql_split("SELECT 1; SELECT 2\n", s_collect, c), 2);
    assert_string_equal(c->stmt[1], "SELECT 2");
}

static void test_blank_and_comment_only_pieces_are_skipped(void **state)
{
    collected_t *c = *state;
    static const char sql[] = "  ;\n;\n-- only a comment\n;\n/* only; a block */ ;\nSELECT 1;\n\n-- the end\n";
    assert_int_equal(cl_sql_split(sql, s_collect, c), 1);
    assert_int_equal(c->n, 1);
    assert_string_equal(c->stmt[0], "SELECT 1");
    assert_int_equal(cl_sql_split("", s_collect, c), 0);
    assert_int_equal(cl_sql_split("  \n -- nothing\n", s_collect, c), 0);
    assert_int_equal(c->n, 1);
}

static void test_callback_failure_stops_the_split(void **state)
{
    collected_t *c = *state;
    c->stop_after = 2;
    assert_int_equal(cl_sql_split("SELECT 1; SELECT 2; SELECT 3;", s_collect, c), -1);
    assert_int_equal(c->n, 1);
    assert_string_equal(c->stmt[0], "SELECT 1");
}

#define T(name) cmocka_unit_test_setup_teardown(name, s_setup, s_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_the_first_migration_head_is_two_statements),
        T(test_semicolons_in_strings_do_not_split),
        T(test_semicolons_in_escape_strings_do_not_split),
        T(test_semicolons_in_quoted_identifiers_do_not_split),
        T(test_semicolons_in_comments_do_not_split),
        T(test_semicolons_in_dollar_quoted_bodies_do_not_split),
        T(test_trailing_text_without_semicolon_is_a_statement),
        T(test_blank_and_comment_only_pieces_are_skipped),
        T(test_callback_failure_stops_the_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
