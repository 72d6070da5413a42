/* main.c - caseloop-callback: wiring only. */
#include "callback.h"

CL_SERVICE_MAIN(callback, "callback-scheduler",
                "caseloop callback-scheduler: decides for every closed case whether, when, how and by whom\n"
                "the customer is called back (site policy `callbacks`); answers ListCallbacks,\n"
                "AttemptCallback, RecordCallback and GetStats; publishes CallbackScheduled, CallbackSkipped,\n"
                "CallbackAttempted, CallbackMade, CallbackUnreachable, CallbackRecorded and CallbackOverdue.")
