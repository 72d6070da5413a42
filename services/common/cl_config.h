/* cl_config.h - one declarative configuration table per service, read from the environment. */
#ifndef CL_CONFIG_H
#define CL_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "cl_err.h"

typedef enum { CL_CFG_STRING, CL_CFG_INT, CL_CFG_DOUBLE } cl_cfg_type_t;

/* One option: the environment variable, its type, where it goes in the
   service's config struct (const char *, int64_t or double), its default,
   its bounds (numbers only) and one line of help. Tables end with {0}. */
typedef struct {
    const char *name;
    cl_cfg_type_t type;
    size_t offset;
    const char *def;
    double min, max;
    const char *help;
} cl_cfg_option_t;

#define CL_CFG_STR(name, st, member, def, help) \
    {name, CL_CFG_STRING, offsetof(st, member), def, 0, 0, help}
#define CL_CFG_INT(name, st, member, def, min, max, help) \
    {name, CL_CFG_INT, offsetof(st, member), def, min, max, help}
#define CL_CFG_DBL(name, st, member, def, min, max, help) \
    {name, CL_CFG_DOUBLE, offsetof(st, member), def, min, max, help}

/* Fills cfg from the environment, defaults where a variable is unset.
   Strings point into the environment or the table and are not freed.
   Returns 0, or -1 with err naming the variable that is malformed or out of range. */
int cl_config_load(const cl_cfg_option_t *opts, void *cfg, cl_err_t *err) CL_WARN_UNUSED;

/* Prints usage: the summary, then each variable with its default and help. */
void cl_config_usage(FILE *out, const char *prog, const char *summary, const cl_cfg_option_t *opts);

/* A service's start: --help prints usage and returns 1; an unknown argument or a
   bad value prints why on stderr and returns -1; else loads cfg and returns 0. */
int cl_config_main(int argc, char **argv, const char *summary, const cl_cfg_option_t *opts,
                   void *cfg) CL_WARN_UNUSED;

#endif
