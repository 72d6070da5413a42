/* main.c - caseloop-dispatcher: wiring only. */
#include "dispatcher.h"

int main(int argc, char **argv)
{
    cl_dispatcher_config_t cfg;
    switch (cl_config_main(argc, argv,
                           "caseloop dispatcher: sends every received case to its department and a person on\n"
                           "shift (or the department queue), per site policy; answers LoadPolicy, GetPolicy,\n"
                           "TransferCase, HandOver, ListHandovers and GetStats; publishes CaseDispatched,\n"
                           "CaseAssigned, CaseTransferred and ShiftHandedOver.",
                           cl_dispatcher_options, &cfg)) {
    case 1:
        return 0;
    case -1:
        return 2;
    }
    volatile sig_atomic_t *stop = cl_service_start(argv[0], "dispatcher", cfg.log_level, cfg.shutdown_s);
    if (!stop)
        return 2;
    cl_clock_t *clock = cl_clock_process();
    if (!clock)
        return 2;
    cl_err_t err;
    cl_err_clear(&err);
    cl_dispatcher_t *d = cl_dispatcher_new(&cfg, clock, &err);
    if (!d) {
        cl_log(CL_LOG_ERROR, NULL, "cannot start: %s", err.message);
        return 1;
    }
    cl_dispatcher_run(d, stop);
    cl_dispatcher_destroy(&d);
    return 0;
}
