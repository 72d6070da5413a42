/* cl_config.c - configuration table from the environment. */
#include "cl_config.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int s_load_one(const cl_cfg_option_t *o, void *cfg, cl_err_t *err)
{
    const char *raw = getenv(o->name);
    if (!raw || !*raw)
        raw = o->def;
    char *slot = (char *)cfg + o->offset;
    if (o->type == CL_CFG_STRING) {
        *(const char **)slot = raw;
        return 0;
    }
    char *end = NULL;
    errno = 0;
    if (o->type == CL_CFG_INT) {
        long long v = strtoll(raw, &end, 10);
        if (errno || end == raw || *end)
            return cl_err_set(err, CL_INVALID_ARGUMENT, o->name, "%s=\"%s\" is not a whole number", o->name, raw);
        if ((double)v < o->min || (double)v > o->max)
            return cl_err_set(err, CL_INVALID_ARGUMENT, o->name, "%s=%lld is outside %.0f..%.0f", o->name, v, o->min, o->max);
        *(int64_t *)slot = v;
    } else {
        double v = strtod(raw, &end);
        if (errno || end == raw || *end || !isfinite(v))
            return cl_err_set(err, CL_INVALID_ARGUMENT, o->name, "%s=\"%s\" is not a number", o->name, raw);
        if (v < o->min || v > o->max)
            return cl_err_set(err, CL_INVALID_ARGUMENT, o->name, "%s=%g is outside %g..%g", o->name, v, o->min, o->max);
        *(double *)slot = v;
    }
    return 0;
}

int cl_config_load(const cl_cfg_option_t *opts, void *cfg, cl_err_t *err)
{
    for (const cl_cfg_option_t *o = opts; o->name; o++)
        if (s_load_one(o, cfg, err) < 0)
            return -1;
    return 0;
}

void cl_config_usage(FILE *out, const char *prog, const char *summary, const cl_cfg_option_t *opts)
{
    fprintf(out, "usage: %s [--help]\n%s\n\nconfiguration, from the environment:\n", prog, summary);
    for (const cl_cfg_option_t *o = opts; o->name; o++)
        fprintf(out, "  %-22s %s (default: %s)\n", o->name, o->help, *o->def ? o->def : "\"\"");
}

int cl_config_main(int argc, char **argv, const char *summary, const cl_cfg_option_t *opts, void *cfg)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            cl_config_usage(stdout, argv[0], summary, opts);
            return 1;
        }
        fprintf(stderr, "%s: unknown argument \"%s\" (configuration comes from the environment; see --help)\n",
                argv[0], argv[i]);
        return -1;
    }
    cl_err_t err;
    cl_err_clear(&err);
    if (cl_config_load(opts, cfg, &err) < 0) {
        fprintf(stderr, "%s: cannot start: %s\n", argv[0], err.message);
        return -1;
    }
    return 0;
}
