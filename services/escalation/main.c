/* main.c - caseloop-escalation: wiring only. */
#include "escalation.h"

CL_SERVICE_MAIN(escalation, "escalation",
                 "caseloop escalation: arms each case's response clocks of its site policy from the\n"
                 "event log (by default C2 from receipt, C3 from dispatch), meets, pauses and resumes\n"
                 "them as the case moves, and fires warnings, breaches and the escalation ladder on\n"
                 "time; answers GetClocks, ListBreaches and GetStats.")
