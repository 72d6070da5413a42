/* route.c - where a case goes and who takes it: classification and assignment. */
#include "route.h"
#include "caseloop/v1/common.pb-c.h"
#include <string.h>

/* ASCII letters folded to lower case; every other byte (UTF-8 included) as is. */
static unsigned char s_fold(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

/* True when needle occurs in hay, ASCII letters compared case-insensitively.
   An empty needle matches nothing: a rule cannot claim every case by mistake. */
static bool s_contains(const char *hay, const char *needle)
{
    if (!needle || !*needle)
        return false;
    for (const unsigned char *h = (const unsigned char *)hay; *h; h++) {
        const unsigned char *a = h;
        const unsigned char *b = (const unsigned char *)needle;
        while (*a && *b && s_fold(*a) == s_fold(*b))
            a++, b++;
        if (!*b)
            return true;
        if (!*a)
            return false;   /* the rest of hay is shorter than needle */
    }
    return false;
}

int cl_classify(const cl_site_policy_t *s, const char *description)
{
    if (!s || !description)
        return CASELOOP__V1__KIND__KIND_OTHER;
    for (size_t r = 0; r < s->nkeywords; r++) {
        const cl_keyword_rule_t *rule = &s->keywords[r];
        for (size_t w = 0; w < rule->nwords; w++)
            if (s_contains(description, rule->words[w]))
                return rule->kind;
    }
    return CASELOOP__V1__KIND__KIND_OTHER;
}

static bool s_has_skill(const cl_staff_t *st, int kind)
{
    for (size_t i = 0; i < st->nskills; i++)
        if (st->skills[i] == kind)
            return true;
    return false;
}

/* Who a pick considers: staff of one department within a band of roles, or
   everyone of one role; on shift or not. */
typedef struct {
    int department;      /* -1: any department */
    cl_role_t role_min;
    cl_role_t role_max;  /* inclusive */
    bool on_shift;       /* only those on shift at local */
    bool by_skill;       /* a matching skill breaks a tie in open cases */
} s_pick_t;

/* The index of the staff member matching p with the fewest open cases, ties
   to a skill in kind (when p->by_skill), then to the lower index; -1 if none (R-RT-2). */
static int s_pick(const cl_site_policy_t *s, const s_pick_t *p, int kind, const struct tm *local,
                  const uint32_t *open)
{
    int best = -1;
    uint32_t best_open = 0;
    bool best_skill = false;
    for (size_t i = 0; i < s->nstaff; i++) {
        const cl_staff_t *st = &s->staff[i];
        if (st->role < p->role_min || st->role > p->role_max)
            continue;
        if (p->department >= 0 && st->department != p->department)
            continue;
        if (p->on_shift && !cl_on_shift(st, local))
            continue;
        uint32_t n = open ? open[i] : 0;
        bool skill = p->by_skill && s_has_skill(st, kind);
        if (best < 0 || n < best_open || (n == best_open && skill && !best_skill)) {
            best = (int)i;
            best_open = n;
            best_skill = skill;
        }
    }
    return best;
}

int cl_assign_in(const cl_site_policy_t *s, int dept, int kind, const struct tm *local, const uint32_t *open)
{
    s_pick_t staff = {dept, CL_ROLE_ASSISTANT, CL_ROLE_SUPERVISOR - 1, true, true};
    int who = s_pick(s, &staff, kind, local, open);
    if (who >= 0)
        return who;
    s_pick_t supervisors = {dept, CL_ROLE_SUPERVISOR, CL_ROLE_SUPERVISOR, true, true};
    return s_pick(s, &supervisors, kind, local, open);
}

/* The site's project head on shift with the fewest open cases, else any; -1 if the site has none. */
static int s_project_head(const cl_site_policy_t *s, const struct tm *local, const uint32_t *open)
{
    s_pick_t heads = {-1, CL_ROLE_PROJECT_HEAD, CL_ROLE_PROJECT_HEAD, true, false};
    int who = s_pick(s, &heads, 0, local, open);
    if (who >= 0)
        return who;
    heads.on_shift = false;
    return s_pick(s, &heads, 0, local, open);
}

/* The first supervisor of the customer-service department on shift, else the
   first one at all; -1 if it has none or the site names no such department. */
static int s_cs_supervisor(const cl_site_policy_t *s, const struct tm *local)
{
    int cs = s->customer_service;
    if (cs < 0 || (size_t)cs >= s->ndepartments)
        return -1;
    int any = -1;
    for (size_t i = 0; i < s->nstaff; i++) {
        const cl_staff_t *st = &s->staff[i];
        if (st->role != CL_ROLE_SUPERVISOR || st->department != cs)
            continue;
        if (cl_on_shift(st, local))
            return (int)i;
        if (any < 0)
            any = (int)i;
    }
    return any;
}

int cl_dispatch_decide(const cl_site_policy_t *s, int kind, int severity, const struct tm *local,
                       const uint32_t *open, cl_dispatch_t *out)
{
    if (!out)
        return -1;
    *out = (cl_dispatch_t){.department = -1, .special = false, .assignee = -1, .notify = -1};
    if (!s)
        return -1;
    bool special = false;
    int dept = cl_policy_route(s, kind, severity, &special);
    if (dept < 0 || (size_t)dept >= s->ndepartments)
        return -1;
    out->department = dept;
    out->special = special;
    if (special) {
        out->assignee = s_project_head(s, local, open);
        out->notify = s_cs_supervisor(s, local);
    }
    if (out->assignee < 0)
        out->assignee = cl_assign_in(s, dept, kind, local, open);
    return 0;
}
