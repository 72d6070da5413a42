/* clockplan.c - a response clock's schedule. */
#include "clockplan.h"
#include <stddef.h>

static const char *const s_normal[] = {"supervisor", "project_head", "leadership"};
static const char *const s_major[] = {"manager", "leadership"};

const char *cl_clock_ladder_role(bool major, int level)
{
    int n = major ? 2 : 3;
    if (level < 1 || level > n)
        return NULL;
    return major ? s_major[level - 1] : s_normal[level - 1];
}

cl_fire_t cl_clock_stage(const cl_clock_plan_t *p, int stage, int *arg)
{
    if (stage == 0 || stage == 1) {
        *arg = stage == 0 ? 50 : 80;
        return CL_FIRE_WARNING;
    }
    if (stage == 2) {
        *arg = 1;
        return CL_FIRE_BREACH;
    }
    int level = stage - 1;
    if (stage > 2 && cl_clock_ladder_role(p->major, level)) {
        *arg = level;
        return CL_FIRE_ESCALATION;
    }
    *arg = 0;
    return CL_FIRE_NONE;
}

int64_t cl_clock_stage_at(const cl_clock_plan_t *p, int stage)
{
    int64_t d = p->due_us - p->armed_us;
    switch (stage) {
    case 0:
        return p->armed_us + d / 2;
    case 1:
        return p->armed_us + d * 4 / 5;
    case 2:
        return p->due_us;
    default: {
        int arg;
        if (cl_clock_stage(p, stage, &arg) != CL_FIRE_ESCALATION)
            return -1;
        return p->due_us + (int64_t)(stage - 2) * p->step_us;
    }
    }
}
