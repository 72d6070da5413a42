/* test_config.c - the configuration table: defaults, the environment, refusals, the command line. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "cl.h"
#include "intake.h"

typedef struct {
    const char *name;
    int64_t count;
    double ratio;
} demo_config_t;

static const cl_cfg_option_t DEMO_OPTIONS[] = {
    CL_CFG_STR("CLTEST_NAME", demo_config_t, name, "caseloop", "a name"),
    CL_CFG_INT("CLTEST_COUNT", demo_config_t, count, "16", 1, 100, "how many"),
    CL_CFG_DBL("CLTEST_RATIO", demo_config_t, ratio, "0.5", 0, 1, "how much"),
    {0},
};

static const char *const DEMO_VARS[] = {"CLTEST_NAME", "CLTEST_COUNT", "CLTEST_RATIO"};

static int s_clear_env(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof DEMO_VARS / sizeof DEMO_VARS[0]; i++)
        unsetenv(DEMO_VARS[i]);
    for (const cl_cfg_option_t *o = cl_intake_options; o->name; o++)
        unsetenv(o->name);
    return 0;
}

/* Loads DEMO_OPTIONS expecting a refusal naming var. */
static void s_refused(const char *var, const char *value)
{
    demo_config_t cfg;
    cl_err_t err;
    cl_err_clear(&err);
    setenv(var, value, 1);
    assert_int_equal(cl_config_load(DEMO_OPTIONS, &cfg, &err), -1);
    assert_int_equal(err.code, CL_INVALID_ARGUMENT);
    assert_string_equal(err.field, var);
    assert_non_null(strstr(err.message, var));
    unsetenv(var);
}

static void test_defaults_apply_when_unset(void **state)
{
    (void)state;
    demo_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cl_err_t err;
    cl_err_clear(&err);
    assert_int_equal(cl_config_load(DEMO_OPTIONS, &cfg, &err), 0);
    assert_string_equal(cfg.name, "caseloop");
    assert_int_equal(cfg.count, 16);
    assert_float_equal(cfg.ratio, 0.5, 1e-12);
}

static void test_empty_variable_counts_as_unset(void **state)
{
    (void)state;
    setenv("CLTEST_COUNT", "", 1);
    demo_config_t cfg;
    cl_err_t err;
    cl_err_clear(&err);
    assert_int_equal(cl_config_load(DEMO_OPTIONS, &cfg, &err), 0);
    assert_int_equal(cfg.count, 16);
}

static void test_environment_overrides_defaults(void **state)
{
    (void)state;
    setenv("CLTEST_NAME", "site-a", 1);
    setenv("CLTEST_COUNT", "100", 1);
    setenv("CLTEST_RATIO", "0.75", 1);
    demo_config_t cfg;
    cl_err_t err;
    cl_err_clear(&err);
    assert_int_equal(cl_config_load(DEMO_OPTIONS, &cfg, &err), 0);
    assert_string_equal(cfg.name, "site-a");
    assert_int_equal(cfg.count, 100);
    assert_float_equal(cfg.ratio, 0.75, 1e-12);

    setenv("CLTEST_COUNT", "1", 1);
    setenv("CLTEST_RATIO", "0", 1);
    assert_int_equal(cl_config_load(DEMO_OPTIONS, &cfg, &err), 0);
    assert_int_equal(cfg.count, 1);
    assert_float_equal(cfg.ratio, 0.0, 1e-12);
}

static void test_values_that_are_not_numbers_are_refused(void **state)
{
    (void)state;
    s_refused("CLTEST_COUNT", "many");
    s_refused("CLTEST_COUNT", "12abc");
    s_refused("CLTEST_COUNT", "1.5");
    s_refused("CLTEST_COUNT", "99999999999999999999999");
    s_refused("CLTEST_RATIO", "half");
    s_refused("CLTEST_RATIO", "0.5x");
    s_refused("CLTEST_RATIO", "nan");
    s_refused("CLTEST_RATIO", "1e999");
}

static void test_numbers_out_of_range_are_refused(void **state)
{
    (void)state;
    s_refused("CLTEST_COUNT", "0");
    s_refused("CLTEST_COUNT", "101");
    s_refused("CLTEST_COUNT", "-5");
    s_refused("CLTEST_RATIO", "1.01");
    s_refused("CLTEST_RATIO", "-0.1");
}

static void test_help_returns_one(void **state)
{
    (void)state;
    char prog[] = "caseloop-test", help[] = "--help";
    char *argv[] = {prog, help, NULL};
    demo_config_t cfg;
    assert_int_equal(cl_config_main(2, argv, "a test program", DEMO_OPTIONS, &cfg), 1);
}

static void test_unknown_argument_is_refused(void **state)
{
    (void)state;
    char prog[] = "caseloop-test", arg[] = "--port=7";
    char *argv[] = {prog, arg, NULL};
    demo_config_t cfg;
    assert_int_equal(cl_config_main(2, argv, "a test program", DEMO_OPTIONS, &cfg), -1);
}

static void test_main_loads_and_refuses_a_bad_value(void **state)
{
    (void)state;
    char prog[] = "caseloop-test";
    char *argv[] = {prog, NULL};
    demo_config_t cfg;
    assert_int_equal(cl_config_main(1, argv, "a test program", DEMO_OPTIONS, &cfg), 0);
    assert_int_equal(cfg.count, 16);
    setenv("CLTEST_COUNT", "lots", 1);
    assert_int_equal(cl_config_main(1, argv, "a test program", DEMO_OPTIONS, &cfg), -1);
}

static void test_intake_options_load_with_their_defaults(void **state)
{
    (void)state;
    cl_intake_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cl_err_t err;
    cl_err_clear(&err);
    assert_int_equal(cl_config_load(cl_intake_options, &cfg, &err), 0);
    assert_non_null(cfg.base.db);
    assert_non_null(cfg.base.router);
    assert_non_null(cfg.base.pub);
    assert_non_null(cfg.base.migrations);
    assert_string_equal(cfg.base.log_level, "info");
    assert_int_equal(cfg.base.notify_fd, -1);
    assert_int_equal(cfg.base.max_frame, 65536);
    assert_int_equal(cfg.base.batch_max, 256);
    assert_int_equal(cfg.store_workers, 2);
    assert_string_equal(cfg.base.tz_dir, "/usr/share/zoneinfo");
    assert_string_equal(cfg.base.router, "tcp://127.0.0.1:7101");
    assert_string_equal(cfg.base.pub, "tcp://127.0.0.1:7102");
    assert_int_equal(cfg.base.shutdown_s, 8);
    assert_int_equal(cfg.base.queue_max, 1024);
}

static void test_intake_refuses_batch_max_zero(void **state)
{
    (void)state;
    cl_intake_config_t cfg;
    cl_err_t err;
    cl_err_clear(&err);
    setenv("CL_BATCH_MAX", "0", 1);
    assert_int_equal(cl_config_load(cl_intake_options, &cfg, &err), -1);
    assert_int_equal(err.code, CL_INVALID_ARGUMENT);
    assert_string_equal(err.field, "CL_BATCH_MAX");
}

#define T(name) cmocka_unit_test_setup_teardown(name, s_clear_env, s_clear_env)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_defaults_apply_when_unset),
        T(test_empty_variable_counts_as_unset),
        T(test_environment_overrides_defaults),
        T(test_values_that_are_not_numbers_are_refused),
        T(test_numbers_out_of_range_are_refused),
        T(test_help_returns_one),
        T(test_unknown_argument_is_refused),
        T(test_main_loads_and_refuses_a_bad_value),
        T(test_intake_options_load_with_their_defaults),
        T(test_intake_refuses_batch_max_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
