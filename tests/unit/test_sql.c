/* test_sql.c - statement parameters by type, result columns by name. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "cl.h"
#include "cl_sql.h"

static void test_parameters_are_formatted_by_type_in_order(void **state)
{
    (void)state;
    cl_sql_params_t p;
    cl_sql_params_init(&p);
    cl_sql_int(&p, -42);
    cl_sql_uint(&p, UINT64_MAX);
    cl_sql_int(&p, INT64_MIN);
    cl_sql_bool(&p, true);
    cl_sql_bool(&p, false);
    cl_sql_text(&p, "site-a");
    cl_sql_text(&p, NULL);
    cl_sql_opt_int(&p, true, 5);
    cl_sql_opt_int(&p, false, 5);
    assert_int_equal(p.n, 9);
    assert_string_equal(p.values[7], "5");
    assert_null(p.values[8]);
    assert_string_equal(p.values[0], "-42");
    assert_string_equal(p.values[1], "18446744073709551615");
    assert_string_equal(p.values[2], "-9223372036854775808");
    assert_string_equal(p.values[3], "t");
    assert_string_equal(p.values[4], "f");
    assert_string_equal(p.values[5], "site-a");
    assert_null(p.values[6]);
    /* each number has its own room: the first is still itself */
    assert_string_equal(p.values[0], "-42");
    cl_sql_params_init(&p);
    assert_int_equal(p.n, 0);
}

static void test_columns_are_read_by_name_whatever_their_order(void **state)
{
    (void)state;
    PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    assert_non_null(res);
    PGresAttDesc attrs[4];
    memset(attrs, 0, sizeof attrs);
    attrs[0].name = "name", attrs[1].name = "id", attrs[2].name = "open", attrs[3].name = "closed_at_us";
    assert_true(PQsetResultAttrs(res, 4, attrs));
    assert_true(PQsetvalue(res, 0, 0, "C2", 2));
    assert_true(PQsetvalue(res, 0, 1, "18446744073709551615", 20));
    assert_true(PQsetvalue(res, 0, 2, "t", 1));
    assert_true(PQsetvalue(res, 0, 3, NULL, -1));
    assert_true(PQsetvalue(res, 1, 0, "C3", 2));
    assert_true(PQsetvalue(res, 1, 1, "-7", 2));
    assert_true(PQsetvalue(res, 1, 2, "f", 1));
    assert_true(PQsetvalue(res, 1, 3, "1700000000000000", 16));
    assert_string_equal(cl_row_text(res, 0, "name"), "C2");
    assert_int_equal(cl_row_uint(res, 0, "id"), UINT64_MAX);
    assert_true(cl_row_bool(res, 0, "open"));
    assert_true(cl_row_null(res, 0, "closed_at_us"));
    assert_int_equal(cl_row_int(res, 0, "closed_at_us"), 0);
    assert_string_equal(cl_row_text(res, 1, "name"), "C3");
    assert_int_equal(cl_row_int(res, 1, "id"), -7);
    assert_false(cl_row_bool(res, 1, "open"));
    assert_false(cl_row_null(res, 1, "closed_at_us"));
    assert_int_equal(cl_row_int(res, 1, "closed_at_us"), INT64_C(1700000000000000));
    PQclear(res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parameters_are_formatted_by_type_in_order),
        cmocka_unit_test(test_columns_are_read_by_name_whatever_their_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
