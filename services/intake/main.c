/* main.c - caseloop-intake: wiring only. */
#include "intake.h"

CL_SERVICE_MAIN(intake, "intake",
                 "caseloop intake: registers cases (SubmitCase), answers GetCase, ReadEvents and GetStats,\n"
                 "and publishes CaseReceived / CaseReportAttached events.")
