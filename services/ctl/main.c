/* main.c - caseloop: the command-line tool for operators and scripts: its commands by area, and the options all share. */
#include "ctl.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Every area's commands, in the order caseloop --help lists them. A new
   area (a new service's commands) is one file and one line here. */
static const ctl_command_t *const s_areas[] = {
    ctl_cases_commands, ctl_handover_commands, ctl_events_commands,
    ctl_policy_commands, ctl_clocks_commands,  ctl_callbacks_commands, ctl_stats_commands,
};

static const cl_cfg_option_t s_options[] = {
    CL_CFG_STR("CL_INTAKE_ROUTER", ctl_config_t, router[CTL_INTAKE], "tcp://127.0.0.1:7101", "intake's request endpoint"),
    CL_CFG_STR("CL_INTAKE_PUB", ctl_config_t, intake_pub, "tcp://127.0.0.1:7102", "intake's event endpoint"),
    CL_CFG_STR("CL_DISPATCHER_ROUTER", ctl_config_t, router[CTL_DISPATCHER], "tcp://127.0.0.1:7111", "the dispatcher's request endpoint"),
    CL_CFG_STR("CL_ESCALATION_ROUTER", ctl_config_t, router[CTL_ESCALATION], "tcp://127.0.0.1:7121", "the escalation service's request endpoint"),
    CL_CFG_STR("CL_CALLBACK_ROUTER", ctl_config_t, router[CTL_CALLBACK], "tcp://127.0.0.1:7131", "the callback-scheduler's request endpoint"),
    CL_CFG_INT("CL_TIMEOUT_MS", ctl_config_t, timeout_ms, "5000", 1, 600000, "how long to wait for a reply"),
    {0},
};

static void s_usage(FILE *out)
{
    fputs("usage: caseloop COMMAND [options]\n\ncommands:\n", out);
    for (size_t a = 0; a < sizeof s_areas / sizeof *s_areas; a++)
        for (const ctl_command_t *c = s_areas[a]; c->name; c++)
            fputs(c->help, out);
    fputs("\nconfiguration, from the environment:\n", out);
    for (const cl_cfg_option_t *o = s_options; o->name; o++)
        fprintf(out, "  %-22s %s (default: %s)\n", o->name, o->help, o->def);
}

static const ctl_command_t *s_command(const char *name)
{
    for (size_t a = 0; a < sizeof s_areas / sizeof *s_areas; a++)
        for (const ctl_command_t *c = s_areas[a]; c->name; c++)
            if (strcmp(c->name, name) == 0)
                return c;
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        s_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    static ctl_config_t cfg;
    cl_err_t err;
    cl_err_clear(&err);
    if (cl_config_load(s_options, &cfg, &err) < 0) {
        fprintf(stderr, "caseloop: %s\n", err.message);
        return 2;
    }
    const ctl_command_t *cmd = s_command(argv[1]);
    if (!cmd) {
        fprintf(stderr, "caseloop: unknown command \"%s\"; see caseloop --help\n", argv[1]);
        return 2;
    }
    ctl_t *ctl = ctl_new(&cfg);
    if (!ctl) {
        fprintf(stderr, "caseloop: no memory\n");
        return 1;
    }
    int rc = cmd->run(ctl, argc - 1, argv + 1);
    ctl_destroy(&ctl);
    return rc;
}

/* --- reading options -------------------------------------------------------------- */

int ctl_case_number(const char *text, uint64_t *id)
{
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    if (!*text || *end || v == 0) {
        fprintf(stderr, "caseloop: \"%s\" is not a case number\n", text);
        return -1;
    }
    *id = v;
    return 0;
}

int ctl_parse_time(const char *text, int64_t *us)
{
    static const char *formats[] = {"%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M",
                                    "%Y-%m-%d"};
    for (size_t i = 0; i < sizeof formats / sizeof *formats; i++) {
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        const char *end = strptime(text, formats[i], &tm);
        if (end && *end == '\0') {
            tm.tm_isdst = -1;
            time_t t = mktime(&tm);
            if (t == (time_t)-1)
                return -1;
            *us = (int64_t)t * CL_US_PER_S;
            return 0;
        }
    }
    char *end;
    long long secs = strtoll(text, &end, 10);
    if (!*text || *end || secs < 0)
        return -1;
    *us = secs * CL_US_PER_S;
    return 0;
}

int ctl_enum_option(const char *cmd, const ProtobufCEnumDescriptor *d, const char *name, const char *text)
{
    char buf[64];
    for (unsigned i = 0; i < d->n_values; i++)
        if (strcmp(cl_codec_enum_name(d, d->values[i].value, buf, sizeof buf), name) == 0 && d->values[i].value != 0)
            return d->values[i].value;
    fprintf(stderr, "caseloop %s: \"%s\" is not one of ", cmd, text);
    ctl_enum_list(stderr, d);
    fprintf(stderr, "\n");
    return -1;
}

void ctl_enum_list(FILE *out, const ProtobufCEnumDescriptor *d)
{
    char buf[64];
    for (unsigned i = 1; i < d->n_values; i++)
        fprintf(out, "%s%s", i > 1 ? "|" : "", cl_codec_enum_name(d, d->values[i].value, buf, sizeof buf));
}
