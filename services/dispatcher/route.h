/* route.h - where a case goes and who takes it: classification, routing, assignment. Pure: no I/O. */
#ifndef CL_DISPATCHER_ROUTE_H
#define CL_DISPATCHER_ROUTE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include "cl_policy.h"

/* The kind of a case sent without one: the kind of the first keyword rule
   with a word found in description (ASCII case folded; Chinese as is), or
   KIND_OTHER when none matches (R-RT-1). */
int cl_classify(const cl_site_policy_t *s, const char *description);

/* The normal rule within department dept (index): its staff below
   supervisor on shift with the fewest open cases (a skill for kind breaking
   ties, then the lower index), else its supervisors on shift; -1 (queued)
   when nobody is. The workload balance with regard to skill of R-RT-2. */
int cl_assign_in(const cl_site_policy_t *s, int dept, int kind, const struct tm *local, const uint32_t *open);

typedef struct {
    int department;          /* index, -1 when no department takes the kind (cannot happen with a checked policy) */
    bool special;            /* major/special path */
    int assignee;            /* staff index, -1 when queued */
    int notify;              /* staff index told at once (customer-service supervisor), -1 for none */
} cl_dispatch_t;

/* Decides department and assignee for a case of kind and severity at local
   time `local`, given open[i] = open cases staff i carries now.
   - Normal cases: among the department's staff on shift (not supervisors
     unless nobody else is), the fewest open cases; ties go to a matching
     skill, then to the lower index. Nobody on shift: queued (assignee -1).
   - Special cases: the site's project head (on shift first, else any), and
     notify the customer-service department's supervisor (on shift first,
     else any); the department is still the routed one.
   Returns 0, or -1 when the kind has no department. The routing table of
   R-RT-1 in docs/rules.md (normal cases balanced as R-RT-2 says). */
int cl_dispatch_decide(const cl_site_policy_t *s, int kind, int severity, const struct tm *local,
                       const uint32_t *open, cl_dispatch_t *out);

#endif
