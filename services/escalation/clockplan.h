/* clockplan.h - when a response clock warns, breaches and climbs the ladder. Pure. */
#ifndef CL_ESCALATION_CLOCKPLAN_H
#define CL_ESCALATION_CLOCKPLAN_H

#include <stdbool.h>
#include <stdint.h>

/* A clock's moments. Stages fire in order: 0 and 1 are the warnings (50% and
   80% of the duration), 2 is the breach (and level 1 of the ladder is told at
   once), 3, 4, ... tell the next levels, one step apart. */
typedef struct {
    int64_t armed_us;
    int64_t due_us;
    int64_t step_us;   /* how long each ladder level has before the next is told */
    bool major;        /* major cases start higher on the ladder (R-CL-2) */
} cl_clock_plan_t;

typedef enum { CL_FIRE_NONE = 0, CL_FIRE_WARNING, CL_FIRE_BREACH, CL_FIRE_ESCALATION } cl_fire_t;

/* What stage does: a warning (*arg = percent), the breach (*arg = 1, the level
   told), an escalation (*arg = level), or CL_FIRE_NONE past the top. */
cl_fire_t cl_clock_stage(const cl_clock_plan_t *p, int stage, int *arg);

/* When stage fires; -1 when it never does. */
int64_t cl_clock_stage_at(const cl_clock_plan_t *p, int stage);

/* The ladder role told at level (1 = first above the person who has the
   case): supervisor, project_head, leadership; for major cases manager,
   leadership. NULL past the top. */
const char *cl_clock_ladder_role(bool major, int level);

#endif
