/* main.c - caseloop-dispatcher: wiring only. */
#include "dispatcher.h"

CL_SERVICE_MAIN(dispatcher, "dispatcher",
                 "caseloop dispatcher: sends every received case to its department and a person on\n"
                 "shift (or the department queue), per site policy; answers LoadPolicy, GetPolicy,\n"
                 "TransferCase, HandOver, ListHandovers and GetStats; publishes CaseDispatched,\n"
                 "CaseAssigned, CaseTransferred and ShiftHandedOver.")
