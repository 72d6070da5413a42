/* stats.c - caseloop's command on a service's counters: stats [intake|dispatcher|escalation|callback]. */
#include "ctl.h"
#include <inttypes.h>
#include <string.h>

/* The counters, one a line; 1 when the service cannot reach its database. */
static int s_print_stats(const cl_env_t *reply, void *arg)
{
    (void)arg;
    const Caseloop__V1__StatsReply *r = reply->stats_reply;
    char t[64];
    printf("service\t%s\nstarted\t%s\ndatabase\t%s\nhead_position\t%" PRIu64 "\n", r->service,
           ctl_time(r->started_at_us, t, sizeof t), r->database_up ? "up" : "DOWN", r->head_position);
    for (size_t i = 0; i < r->n_counters; i++)
        printf("%s\t%" PRIu64 "\n", r->counters[i]->name, r->counters[i]->value);
    return r->database_up ? 0 : 1;
}

static int s_stats(ctl_t *ctl, int argc, char **argv)
{
    static const char *const names[CTL_N_SERVICES] = {"intake", "dispatcher", "escalation", "callback"};
    int service = argc == 1 ? CTL_INTAKE : -1;
    for (int i = 0; argc == 2 && i < CTL_N_SERVICES; i++)
        if (strcmp(argv[1], names[i]) == 0)
            service = i;
    if (service < 0) {
        bool help = argc > 1 && strcmp(argv[1], "--help") == 0;
        fprintf(help ? stdout : stderr, "usage: caseloop stats [intake|dispatcher|escalation|callback]\n"
                                        "print a service's counters (intake by default); exits 1 when it\n"
                                        "cannot reach its database\n");
        return help ? 0 : 2;
    }
    cl_env_t env = CASELOOP__V1__ENVELOPE__INIT;
    Caseloop__V1__GetStats body = CASELOOP__V1__GET_STATS__INIT;
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_GET_STATS;
    env.get_stats = &body;
    return ctl_request(ctl, (ctl_service_t)service, &env, CASELOOP__V1__ENVELOPE__BODY_STATS_REPLY, s_print_stats,
                       NULL);
}

const ctl_command_t ctl_stats_commands[] = {
    {"stats",
     "  stats [SERVICE]         intake's (or the dispatcher's, escalation's) counters; exits 1 when its database is down\n",
     s_stats},
    {0},
};
