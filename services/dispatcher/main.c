/* main.c - caseloop-dispatcher: wiring only. */
#include "dispatcher.h"
#include <signal.h>
#include <stdio.h>
#include <string.h>

static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

int main(int argc, char **argv)
{
    cl_dispatcher_config_t cfg;
    switch (cl_config_main(argc, argv,
                           "caseloop dispatcher: sends every received case to its department and a person on\n"
                           "shift (or the department queue), per site policy; answers LoadPolicy and GetPolicy;\n"
                           "publishes CaseDispatched / CaseAssigned.",
                           cl_dispatcher_options, &cfg)) {
    case 1:
        return 0;
    case -1:
        return 2;
    }
    if (cl_log_init("dispatcher", cfg.log_level) < 0) {
        fprintf(stderr, "%s: cannot start: CL_LOG_LEVEL=\"%s\" is not debug, info, warn or error\n", argv[0],
                cfg.log_level);
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    cl_err_t err;
    cl_err_clear(&err);
    cl_dispatcher_t *d = cl_dispatcher_new(&cfg, cl_clock_real(), &err);
    if (!d) {
        cl_log(CL_LOG_ERROR, NULL, "cannot start: %s", err.message);
        return 1;
    }
    cl_dispatcher_run(d, &s_stop);
    cl_dispatcher_destroy(&d);
    return 0;
}
