/* main.c - caseloop-intake: wiring only. */
#include "intake.h"

int main(int argc, char **argv)
{
    cl_intake_config_t cfg;
    switch (cl_config_main(argc, argv,
                           "caseloop intake: registers cases (SubmitCase), answers GetCase, ReadEvents and GetStats,\n"
                           "and publishes CaseReceived / CaseReportAttached events.",
                           cl_intake_options, &cfg)) {
    case 1:
        return 0;
    case -1:
        return 2;
    }
    volatile sig_atomic_t *stop = cl_service_start(argv[0], "intake", cfg.log_level, cfg.shutdown_s);
    if (!stop)
        return 2;
    cl_clock_t *clock = cl_clock_process();
    if (!clock)
        return 2;
    cl_err_t err;
    cl_err_clear(&err);
    cl_intake_t *intake = cl_intake_new(&cfg, clock, &err);
    if (!intake) {
        cl_log(CL_LOG_ERROR, NULL, "cannot start: %s", err.message);
        return 1;
    }
    cl_intake_run(intake, stop);
    cl_intake_destroy(&intake);
    return 0;
}
