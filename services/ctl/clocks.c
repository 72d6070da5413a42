/* clocks.c - caseloop's commands on response clocks (escalation's): clocks, breaches. */
#include "ctl.h"
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static void s_print_clock(const Caseloop__V1__Clock *c)
{
    char a[64], d[64], p[64], st[32];
    printf("case %-7" PRIu64 " %-3s %-10s armed %s  due %s  level %" PRIu32 "%s%s%s%s  %s\n", c->case_id, c->code,
           cl_codec_enum_name(&caseloop__v1__clock_state__descriptor, c->state, st, sizeof st),
           ctl_time(c->armed_at_us, a, sizeof a), ctl_time(c->due_at_us, d, sizeof d), c->level,
           c->responsible && *c->responsible ? ", now " : "", c->responsible ? c->responsible : "",
           c->has_paused_at_us ? ", waiting on the customer since " : "",
           c->has_paused_at_us ? ctl_time(c->paused_at_us, p, sizeof p) : "", c->name);
}

/* The clocks of a GetClocks or ListBreaches reply, or a line saying there are none. */
static int s_print_clocks(const cl_env_t *reply, void *arg)
{
    (void)arg;
    bool breaches = reply->body_case == CASELOOP__V1__ENVELOPE__BODY_LIST_BREACHES_REPLY;
    size_t n = breaches ? reply->list_breaches_reply->n_clocks : reply->get_clocks_reply->n_clocks;
    Caseloop__V1__Clock **clocks = breaches ? reply->list_breaches_reply->clocks : reply->get_clocks_reply->clocks;
    for (size_t i = 0; i < n; i++)
        s_print_clock(clocks[i]);
    if (!n)
        printf(breaches ? "no breaches\n" : "no clocks\n");
    return 0;
}

static int s_clocks(ctl_t *ctl, int argc, char **argv)
{
    bool breaches = strcmp(argv[0], "breaches") == 0;
    static const struct option opts[] = {{"case", 1, 0, 'c'}, {"site", 1, 0, 's'}, {"open", 0, 0, 'o'},
                                         {"limit", 1, 0, 'l'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *usage = breaches ? "usage: caseloop breaches --site S [--open] [--limit N]\n"
                                   "list a site's breached clocks, newest first; --open: only those still breached\n"
                                 : "usage: caseloop clocks --case N\nlist the response clocks of case N\n";
    uint64_t case_id = 0;
    const char *site = NULL;
    bool open_only = false;
    uint32_t limit = 50;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            if (ctl_case_number(optarg, &case_id) < 0)
                return 2;
            break;
        case 's': site = optarg; break;
        case 'o': open_only = true; break;
        case 'l': limit = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind < argc || (breaches ? !site : !case_id)) {
        fputs(usage, stderr);
        return 2;
    }
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__GetClocks g = CASELOOP__V1__GET_CLOCKS__INIT;
    Caseloop__V1__ListBreaches b = CASELOOP__V1__LIST_BREACHES__INIT;
    if (breaches) {
        b.site = (char *)site;
        b.has_open_only = 1, b.open_only = open_only;
        b.has_limit = 1, b.limit = limit;
        env.body_case = CASELOOP__V1__ENVELOPE__BODY_LIST_BREACHES;
        env.list_breaches = &b;
    } else {
        g.has_case_id = 1, g.case_id = case_id;
        env.body_case = CASELOOP__V1__ENVELOPE__BODY_GET_CLOCKS;
        env.get_clocks = &g;
    }
    return ctl_request(ctl, CTL_ESCALATION, &env,
                       breaches ? CASELOOP__V1__ENVELOPE__BODY_LIST_BREACHES_REPLY
                                : CASELOOP__V1__ENVELOPE__BODY_GET_CLOCKS_REPLY,
                       s_print_clocks, NULL);
}

const ctl_command_t ctl_clocks_commands[] = {
    {"clocks", "  clocks --case N         the response clocks of case N\n", s_clocks},
    {"breaches", "  breaches --site S       a site's breached clocks (--open: still breached)\n", s_clocks},
    {0},
};
