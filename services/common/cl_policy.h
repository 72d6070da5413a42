/* cl_policy.h - a site policy: departments, staff, routing, keyword rules, calendar and clocks, read from JSON. Pure: no I/O but a stat of the time zone's file. */
#ifndef CL_POLICY_H
#define CL_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "cl_err.h"
#include "cl_calendar.h"

/* Roles of staff, lowest first: the escalation ladder climbs them. */
typedef enum {
    CL_ROLE_ASSISTANT = 0,   /* property / customer-service assistant */
    CL_ROLE_SPECIALIST,      /* engineer, technician, guard, ... */
    CL_ROLE_SUPERVISOR,      /* department supervisor */
    CL_ROLE_PROJECT_HEAD,    /* head of the site (project) */
    CL_ROLE_MANAGER,         /* company manager */
    CL_ROLE_LEADERSHIP,      /* senior leadership */
    CL_ROLE_COUNT
} cl_role_t;

/* One weekly shift in the site's local time. */
typedef struct {
    uint8_t days;            /* bit 0 Monday ... bit 6 Sunday: the days it starts on */
    int from_min;            /* minutes after local midnight it starts, 0..1439 */
    int to_min;              /* minutes after local midnight it ends, 0..1440; <= from_min: the next day */
} cl_shift_t;

typedef struct {
    char *id;                /* unique within the site */
    char *name;
    cl_role_t role;
    int department;          /* index into the site's departments; -1 for none (project head, manager, leadership) */
    int *skills;             /* kinds (caseloop.v1.Kind values) the person is good at */
    size_t nskills;
    cl_shift_t *shifts;
    size_t nshifts;
    int reports_to;          /* index into the site's staff; -1 for the top */
} cl_staff_t;

typedef struct {
    char *code;              /* unique within the site: "customer-service" */
    char *name;
    int *kinds;              /* kinds it handles unless a route says otherwise */
    size_t nkinds;
} cl_department_t;

/* A routing table entry: cases of kind (and severity, 0 for any) go to department. */
typedef struct {
    int kind;
    int severity;            /* caseloop.v1.Severity value, 0 for any */
    int department;          /* index into the site's departments */
    bool special;            /* the major/special path: project head, and the customer-service supervisor told */
} cl_route_t;

/* Words that, found in a description, classify a case sent with no kind. */
typedef struct {
    int kind;
    char **words;            /* matched case-insensitively (ASCII) as substrings */
    size_t nwords;
} cl_keyword_rule_t;

/* What starts a response clock. */
typedef enum {
    CL_CLOCK_ON_RECEIVED = 1,    /* CaseReceived */
    CL_CLOCK_ON_DISPATCHED,      /* CaseDispatched to a department */
    CL_CLOCK_ON_REOPENED,        /* CaseUpdated: reopened */
    CL_CLOCK_ON_RETURNED,        /* CaseUpdated: the customer was not satisfied; back to the department head */
    CL_CLOCK_ON_TRANSFERRED,     /* CaseTransferred: another department is to take it (cross-department coordination) */
    CL_CLOCK_ON_CALLBACK_MADE,   /* CallbackMade: the customer was called back */
    CL_CLOCK_ON_RAISED_IN_CALLBACK, /* CaseReceived of a case raised during a callback (R-CB-6) */
} cl_clock_start_t;

/* The bit of a cl_clock_start_t in a clock's set of starting events. */
#define CL_CLOCK_STARTS(on) (1u << (on))

/* What meets a clock besides the case actions (bits 1 << caseloop.v1.CaseAction):
   the record of a callback of the case is filled in (CallbackRecorded). */
#define CL_CLOCK_MEET_CALLBACK_RECORDED (1u << 20)

#define CL_CLOCK_MAX_WARNINGS 4
#define CL_CLOCK_MAX_LADDER 6

/* One response clock of a site (docs/rules.md): what starts it, what
   meets it, how long it runs (wall or working time), when it warns, and the
   ladder of who is told after it is missed and how long each level has. */
typedef struct {
    char *code;                      /* "C2", unique within the site */
    char *name;
    uint32_t starts;                 /* CL_CLOCK_STARTS of each event that arms it (policy: starts_on) */
    uint32_t met_by;                 /* bit 1 << caseloop.v1.CaseAction for each action that meets it,
                                        and CL_CLOCK_MEET_CALLBACK_RECORDED */
    uint32_t pauses_on;              /* ... each action that stops it counting (the case waits on the customer) */
    uint32_t resumes_on;             /* ... each action after which it counts again */
    int64_t duration_s;
    bool working_time;               /* counted on the site's calendar */
    int warn_pct[CL_CLOCK_MAX_WARNINGS];  /* ascending, 1..99 */
    size_t nwarn;
    cl_role_t ladder[CL_CLOCK_MAX_LADDER];       /* told at the breach, then one level each step */
    int64_t ladder_s[CL_CLOCK_MAX_LADDER];       /* how long each level has before the next is told */
    size_t nladder;
    cl_role_t major_ladder[CL_CLOCK_MAX_LADDER]; /* the same for major cases (default manager, leadership) */
    int64_t major_ladder_s[CL_CLOCK_MAX_LADDER];
    size_t nmajor_ladder;
    bool retime;                     /* a new policy version re-times clocks armed under an older one */
    bool active;                     /* false: arms nothing, and armed clocks stop */
} cl_clock_def_t;

/* Callbacks (member "callbacks" of a site; RULES.md section 5). */
#define CL_CB_MAX_WINDOWS 8
#define CL_CB_MAX_MODE_RULES 8
#define CL_CB_MAX_ASPECTS 16
#define CL_CB_KINDS 9        /* caseloop.v1.Kind values, 0 unused */
#define CL_CB_SEVERITIES 4   /* caseloop.v1.Severity values, 0 read as general */

/* Which modes a callback may use: callbacks numbered from_callback on (1 is
   the first) of the severities in `severities` (bits 1 << caseloop.v1.Severity)
   may use `modes` (bits 1 << caseloop.v1.CallbackMode). */
typedef struct {
    int from_callback;
    uint8_t severities;
    uint8_t modes;
} cl_cb_mode_rule_t;

/* The callback policy of one kind of case. */
typedef struct {
    int64_t within_s;        /* the deadline, after the case is closed (R-CB-1's table) */
    bool working_time;       /* within_s counted on the site's calendar */
    double share;            /* of the cases closed in a month that are called back, 0..1 */
    cl_role_t performer[CL_CB_SEVERITIES]; /* who calls back, by severity ([0] unused) */
    int department;          /* the performers' department (index) when their role has one */
    bool days_off;           /* callbacks also on days the site's calendar does not work */
    cl_cb_mode_rule_t modes[CL_CB_MAX_MODE_RULES]; /* the last rule that matches decides */
    size_t nmodes;
} cl_cb_kind_t;

typedef struct {
    cl_calendar_interval_t windows[CL_CB_MAX_WINDOWS]; /* site local time, ascending, not overlapping */
    size_t nwindows;
    int per_window;          /* callbacks one performer takes in one window */
    int max_attempts;        /* attempts before a callback ends unreachable */
    char *aspects[CL_CB_MAX_ASPECTS]; /* what the customer scores 1-5 */
    size_t naspects;
    cl_cb_kind_t kinds[CL_CB_KINDS];  /* by caseloop.v1.Kind */
} cl_cb_policy_t;

typedef struct {
    char *code;              /* the site code cases carry */
    char *name;
    char *time_zone;         /* IANA name, "Asia/Shanghai" */
    cl_department_t *departments;
    size_t ndepartments;
    cl_staff_t *staff;
    size_t nstaff;
    cl_route_t *routes;
    size_t nroutes;
    cl_keyword_rule_t *keywords;   /* in order: the first rule with a matching word wins */
    size_t nkeywords;
    int customer_service;    /* index of the department whose supervisor hears of special cases */
    char *document;          /* this site's part of the document, as compact JSON */
    cl_calendar_t *calendar; /* working hours and holidays; Mon-Fri 09:00-18:00 when not given */
    bool quiet_major_exempt; /* warnings and escalations of major cases do not wait for working hours */
    cl_clock_def_t *clocks;  /* C1-C7 of docs/rules.md when not given */
    size_t nclocks;
    /* What intake promises and how it tells one problem from another (member "intake"). */
    int promise_clock;       /* index into clocks of the clock whose due time from receipt the customer is
                                promised (R-IN-2); -1 for none (default C3 when the site has it) */
    int64_t dedupe_window_s; /* how long an open case takes further reports of its problem (R-IN-3); 7 days */
    double dedupe_similarity;/* how alike two descriptions are to be one problem, 0..1 (R-IN-3); 0.5 */
    int64_t future_skew_s;   /* how far an event's own time may lie after its receipt (clock skew); 5 minutes */
    cl_cb_policy_t callbacks; /* who calls the customer back, when and how (member "callbacks") */
} cl_site_policy_t;

/* The intake numbers of a site that has no policy yet: no promise is made then. */
#define CL_POLICY_DEDUPE_WINDOW_S (7 * 86400)
#define CL_POLICY_DEDUPE_SIMILARITY 0.5
#define CL_POLICY_FUTURE_SKEW_S 300

typedef struct {
    cl_site_policy_t *sites;
    size_t nsites;
} cl_policy_t;

/* Reads and checks a policy document (deploy/policy/README.md). Refused, with
   err INVALID_ARGUMENT whose field names the place ("line 12",
   "sites[0].staff[3].department") and whose message says what is wrong:
   malformed JSON (with its line and column), a missing or unknown member,
   an unknown kind, severity, role or department, an unknown time zone
   (tz_dir holds the zoneinfo files, NULL for /usr/share/zoneinfo), duplicate
   site, department or staff ids, a kind with no department (a routing gap),
   a reports_to cycle, a shift time that is not HH:MM. Returns NULL then. */
cl_policy_t *cl_policy_parse(const char *json, size_t len, const char *tz_dir, cl_err_t *err);

/* Frees; *p_p may be NULL; sets it to NULL. */
void cl_policy_destroy(cl_policy_t **p_p);

/* The site with that code, or NULL. */
const cl_site_policy_t *cl_policy_site(const cl_policy_t *p, const char *code);

/* The department for a case of kind and severity: the first route matching
   kind and severity exactly, else the first matching kind with severity 0,
   else the first department listing kind; severity 0 counts as general.
   Sets *special (may be NULL) from the route (severity major is always
   special). Returns the index, or -1. The kind-to-department table of
   docs/rules.md (R-RT-1). */
int cl_policy_route(const cl_site_policy_t *s, int kind, int severity, bool *special);

/* Role names as in the document ("assistant", ...; "unknown" out of range),
   and back (-1 if unknown). */
const char *cl_role_name(cl_role_t role);
int cl_role_parse(const char *name);

/* True when staff member st is on one of its shifts at local time tm
   (tm_wday, tm_hour, tm_min of the site's zone). A shift that ends after
   midnight counts on the next day until its end. */
bool cl_on_shift(const cl_staff_t *st, const struct tm *local);

/* The site's clock with that code, or NULL. */
const cl_clock_def_t *cl_policy_clock(const cl_site_policy_t *s, const char *code);

/* span_us after from_us as clock d counts time: wall time, or working time on
   cal (the site's calendar) for a clock that counts working time. Returns 0,
   or -1 when the calendar cannot place it. R-CL-3. */
int cl_clock_after(const cl_clock_def_t *d, const cl_calendar_t *cal, int64_t from_us, int64_t span_us, int64_t *at_us);

/* What the customer is promised at receipt_us (R-IN-2): the due time of the
   site's promise clock armed at the moment of receipt, on the site's
   calendar, as escalation schedules it. Returns 1 with *by_us, 0 when the site
   promises nothing (no promise clock, or it is inactive), -1 when the
   calendar cannot place it. */
int cl_policy_promise(const cl_site_policy_t *s, int64_t receipt_us, int64_t *by_us);

#endif
