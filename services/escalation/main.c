/* main.c - caseloop-escalation: wiring only. */
#include "escalation.h"

int main(int argc, char **argv)
{
    cl_escalation_config_t cfg;
    switch (cl_config_main(argc, argv,
                           "caseloop escalation: arms each case's response clocks of its site policy from the\n"
                           "event log (by default C2 from receipt, C3 from dispatch), meets, pauses and resumes\n"
                           "them as the case moves, and fires warnings, breaches and the escalation ladder on\n"
                           "time; answers GetClocks, ListBreaches and GetStats.",
                           cl_escalation_options, &cfg)) {
    case 1:
        return 0;
    case -1:
        return 2;
    }
    volatile sig_atomic_t *stop = cl_service_start(argv[0], "escalation", cfg.log_level, cfg.shutdown_s);
    if (!stop)
        return 2;
    cl_clock_t *clock = cl_clock_process();
    if (!clock)
        return 2;
    cl_err_t err;
    cl_err_clear(&err);
    cl_escalation_t *e = cl_escalation_new(&cfg, clock, &err);
    if (!e) {
        cl_log(CL_LOG_ERROR, NULL, "cannot start: %s", err.message);
        return 1;
    }
    int rc = cl_escalation_run(e, stop);
    cl_escalation_destroy(&e);
    return rc < 0 ? 1 : 0;
}
