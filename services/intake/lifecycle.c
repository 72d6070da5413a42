/* lifecycle.c - the case state machine: which command fits which state, and where it leads. */
#include "lifecycle.h"
#include <stdio.h>

#define S(name) CASELOOP__V1__CASE_STATE__CASE_STATE_##name

/* No state: the action does not fit. */
#define S_NONE (-1)

static const char NOT_DISPATCHED[] = "the case has not reached a department yet";

const char *cl_action_name(cl_action_t action)
{
    switch (action) {
    case CL_ACT_ACKNOWLEDGE:
        return "acknowledge";
    case CL_ACT_FIRST_CONTACT:
        return "first contact";
    case CL_ACT_PROGRESS:
        return "progress";
    case CL_ACT_RESOLVE:
        return "resolve";
    case CL_ACT_REPORT_RESULT:
        return "report the result of";
    case CL_ACT_REOPEN:
        return "reopen";
    case CL_ACT_CLOSE:
        return "close";
    case CL_ACT_WAIT_FOR_CUSTOMER:
        return "wait for the customer on";
    case CL_ACT_RESUME:
        return "resume";
    case CL_ACT_ANSWER:
        return "answer the customer of";
    }
    return "unknown";
}

const char *cl_state_name(Caseloop__V1__CaseState state)
{
    switch (state) {
    case S(RECEIVED):
        return "received";
    case S(ACKNOWLEDGED):
        return "acknowledged";
    case S(IN_PROGRESS):
        return "in progress";
    case S(RESOLVED):
        return "resolved";
    case S(RETURNED):
        return "returned";
    case S(REOPENED):
        return "reopened";
    case S(CLOSED):
        return "closed";
    default:
        return "unknown";
    }
}

bool cl_state_open(Caseloop__V1__CaseState state)
{
    switch (state) {
    case S(RECEIVED):
    case S(ACKNOWLEDGED):
    case S(IN_PROGRESS):
    case S(RESOLVED):
    case S(RETURNED):
    case S(REOPENED):
        return true;
    default:
        return false;
    }
}

/* True for the states of the enum, other than UNSPECIFIED. */
static bool s_state_known(Caseloop__V1__CaseState state)
{
    return cl_state_open(state) || state == S(CLOSED);
}

/* True for the actions of the enum. */
static bool s_action_known(cl_action_t action)
{
    return (int)action >= (int)CL_ACT_ACKNOWLEDGE && (int)action <= (int)CL_ACT_ANSWER;
}

/* The transition table. Returns the next state, or S_NONE when the action
   does not fit `from`; *why is then set when there is more to say than the
   state. States and actions outside the enums match no row. Reception may
   answer the customer whenever the case is open (R-IN-5); the customer's
   opinion closes the case or returns it to the department head (R-CL-5). */
static int s_next(Caseloop__V1__CaseState from, cl_action_t action, bool dispatched, bool satisfied,
                  const char **why)
{
    switch (action) {
    case CL_ACT_ACKNOWLEDGE:
        /* A reopened case is back with its department (R-CB-5), which takes it again (C2). */
        if (from == S(REOPENED))
            return S(ACKNOWLEDGED);
        if (from != S(RECEIVED))
            return S_NONE;
        if (!dispatched) {
            *why = NOT_DISPATCHED;
            return S_NONE;
        }
        return S(ACKNOWLEDGED);
    case CL_ACT_FIRST_CONTACT:
        /* The department may call the customer before acknowledging the form, and
           contacts them again with a plan about a reopened case (C3). */
        if (from == S(ACKNOWLEDGED) || from == S(REOPENED))
            return S(IN_PROGRESS);
        if (from != S(RECEIVED))
            return S_NONE;
        if (!dispatched) {
            *why = NOT_DISPATCHED;
            return S_NONE;
        }
        return S(IN_PROGRESS);
    case CL_ACT_PROGRESS:
        if (from == S(ACKNOWLEDGED) || from == S(IN_PROGRESS) || from == S(RETURNED) || from == S(REOPENED))
            return (int)from;
        return S_NONE;
    case CL_ACT_RESOLVE:
        if (from == S(IN_PROGRESS) || from == S(RETURNED) || from == S(REOPENED))
            return S(RESOLVED);
        return S_NONE;
    case CL_ACT_REPORT_RESULT:
        /* R-CL-5: not satisfied goes back to the department head. */
        if (from != S(RESOLVED))
            return S_NONE;
        return satisfied ? S(CLOSED) : S(RETURNED);
    case CL_ACT_REOPEN:
        if (from == S(RESOLVED) || from == S(CLOSED))
            return S(REOPENED);
        return S_NONE;
    case CL_ACT_CLOSE:
        if (from == S(RESOLVED))
            return S(CLOSED);
        return S_NONE;
    case CL_ACT_ANSWER:
        /* reception answers whenever the case is open */
        return cl_state_open(from) ? (int)from : S_NONE;
    case CL_ACT_WAIT_FOR_CUSTOMER:
    case CL_ACT_RESUME:
        /* while the department works on it */
        if (from == S(ACKNOWLEDGED) || from == S(IN_PROGRESS) || from == S(RETURNED) || from == S(REOPENED))
            return (int)from;
        return S_NONE;
    }
    return S_NONE;
}

/* Sets err to CONFLICT on field "action" with a sentence naming the action
   and the state; returns -1. */
static int s_refuse(Caseloop__V1__CaseState from, cl_action_t action, const char *why, cl_err_t *err)
{
    char what[64];
    if (s_state_known(from))
        snprintf(what, sizeof what, "a case that is %s", cl_state_name(from));
    else
        snprintf(what, sizeof what, "a case whose state is %s (%d)", cl_state_name(from), (int)from);

    if (!s_action_known(action))
        return cl_err_set(err, CL_CONFLICT, "action", "cannot apply unknown action %d to %s", (int)action, what);
    if (why)
        return cl_err_set(err, CL_CONFLICT, "action", "cannot %s %s: %s", cl_action_name(action), what, why);
    return cl_err_set(err, CL_CONFLICT, "action", "cannot %s %s", cl_action_name(action), what);
}

int cl_lifecycle_next(Caseloop__V1__CaseState from, cl_action_t action, bool dispatched, bool satisfied,
                      Caseloop__V1__CaseState *to, cl_err_t *err)
{
    const char *why = NULL;
    int next = s_next(from, action, dispatched, satisfied, &why);
    if (next == S_NONE)
        return s_refuse(from, action, why, err);
    if (to)
        *to = (Caseloop__V1__CaseState)next;
    return 0;
}
