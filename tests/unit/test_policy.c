/* test_policy.c - the policy document: the default routes as docs/rules.md says, and what a wrong one is refused for. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>
#include "cl.h"
#include "cl_policy.h"
#include "caseloop/v1/callback.pb-c.h"

#define KIND(k) CASELOOP__V1__KIND__KIND_##k
#define SEVERITY(s) CASELOOP__V1__SEVERITY__SEVERITY_##s

static char s_tz_dir[64];          /* a zoneinfo folder holding Asia/Shanghai and UTC */
static char *s_default;            /* deploy/policy/default.json */
static size_t s_default_len;

/* --------------------------------------------------------------------------------------------
 * Fixture: a private zoneinfo folder, and the default policy's text
 */

/* The source tree: $CL_SOURCE_DIR, else the folder __FILE__ is in, two levels up. */
static void s_source_path(const char *rel, char *out, size_t size)
{
    const char *dir = getenv("CL_SOURCE_DIR");
    if (dir && *dir) {
        snprintf(out, size, "%s/%s", dir, rel);
        return;
    }
    const char *self = __FILE__, *suffix = "tests/unit/test_policy.c";
    size_t n = strlen(self), sn = strlen(suffix);
    int keep = n >= sn && strcmp(self + n - sn, suffix) == 0 ? (int)(n - sn) : 0;
    snprintf(out, size, "%.*s%s", keep, self, rel);
}

static char *s_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n + 1)) != NULL) {
        *len = fread(buf, 1, (size_t)n, f);
        buf[*len] = '\0';
    }
    fclose(f);
    return buf;
}

static int s_touch(const char *rel)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", s_tz_dir, rel);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs("TZif", f);
    return fclose(f);
}

static int s_group_setup(void **state)
{
    (void)state;
    char path[1024], asia[96];
    snprintf(s_tz_dir, sizeof s_tz_dir, "/tmp/cl-policy-tz-XXXXXX");
    if (!mkdtemp(s_tz_dir))
        return -1;
    snprintf(asia, sizeof asia, "%s/Asia", s_tz_dir);
    if (mkdir(asia, 0700) < 0 || s_touch("Asia/Shanghai") < 0 || s_touch("UTC") < 0)
        return -1;
    s_source_path("deploy/policy/default.json", path, sizeof path);
    s_default = s_read_file(path, &s_default_len);
    if (!s_default)
        fprintf(stderr, "cannot read %s (set CL_SOURCE_DIR to the source tree)\n", path);
    return s_default ? 0 : -1;
}

static int s_group_teardown(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/Asia/Shanghai", s_tz_dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/UTC", s_tz_dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/Asia", s_tz_dir);
    rmdir(path);
    rmdir(s_tz_dir);
    free(s_default);
    return 0;
}

/* --------------------------------------------------------------------------------------------
 * Helpers
 */

static cl_policy_t *s_parse_text(const char *text, cl_err_t *err)
{
    cl_err_clear(err);
    return cl_policy_parse(text, strlen(text), s_tz_dir, err);
}

static cl_policy_t *s_parse_default(void)
{
    cl_err_t err;
    cl_err_clear(&err);
    cl_policy_t *p = cl_policy_parse(s_default, s_default_len, s_tz_dir, &err);
    if (!p)
        fail_msg("default policy refused: %s: %s", err.field, err.message);
    return p;
}

/* A small valid policy, written with ' for ". Every kind has a department. */
static const char SMALL[] =
    "{'sites': [{'code': 'site-a', 'name': 'Site A', 'time_zone': 'Asia/Shanghai', 'customer_service': 'cs',"
    " 'departments': ["
    "  {'code': 'cs', 'name': 'Customer service', 'kinds': ['complaint', 'suggestion', 'inquiry', 'praise', 'other']},"
    "  {'code': 'eng', 'name': 'Engineering', 'kinds': ['repair']},"
    "  {'code': 'sec', 'name': 'Security', 'kinds': ['safety', 'special_service']}],"
    " 'staff': ["
    "  {'id': 'head', 'name': 'Head', 'role': 'project_head'},"
    "  {'id': 'sup', 'name': 'Supervisor', 'role': 'supervisor', 'department': 'cs', 'reports_to': 'head'},"
    "  {'id': 'asst', 'name': 'Assistant', 'role': 'assistant', 'department': 'cs', 'reports_to': 'sup',"
    "   'skills': ['complaint'], 'shifts': [{'days': 'weekdays', 'from': '08:00', 'to': '17:00'}]}],"
    " 'routing': [{'kind': 'repair', 'severity': 'major', 'department': 'eng', 'special': true}],"
    " 'keywords': [{'kind': 'repair', 'words': ['leak', '漏水']}]}]}";

/* SMALL as a JSON tree to change before parsing. */
static json_t *s_small(void)
{
    char text[sizeof SMALL];
    for (size_t i = 0; i < sizeof SMALL; i++)
        text[i] = SMALL[i] == '\'' ? '"' : SMALL[i];
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    if (!doc)
        fail_msg("SMALL is not JSON: line %d: %s", jerr.line, jerr.text);
    return doc;
}

static json_t *s_site(json_t *doc)
{
    return json_array_get(json_object_get(doc, "sites"), 0);
}

/* Element i of the site's list (departments, staff, routing, keywords). */
static json_t *s_item(json_t *doc, const char *list, size_t i)
{
    return json_array_get(json_object_get(s_site(doc), list), i);
}

/* Parses doc (then freed); the policy, or NULL with *err filled. */
static cl_policy_t *s_parse_doc(json_t *doc, cl_err_t *err)
{
    char *text = json_dumps(doc, JSON_INDENT(2));
    json_decref(doc);
    assert_non_null(text);
    cl_policy_t *p = s_parse_text(text, err);
    free(text);
    return p;
}

/* Asserts that doc (then freed) is refused with INVALID_ARGUMENT naming field, the message containing word. */
static void s_refused(json_t *doc, const char *field, const char *word)
{
    cl_err_t err;
    cl_policy_t *p = s_parse_doc(doc, &err);
    if (p) {
        cl_policy_destroy(&p);
        fail_msg("accepted; expected a refusal at %s", field);
    }
    assert_int_equal(err.code, CL_INVALID_ARGUMENT);
    assert_string_equal(err.field, field);
    if (!strstr(err.message, word))
        fail_msg("message \"%s\" does not say \"%s\"", err.message, word);
}

static void s_refused_text(const char *text, const char *field, const char *word)
{
    cl_err_t err;
    cl_policy_t *p = s_parse_text(text, &err);
    assert_null(p);
    assert_int_equal(err.code, CL_INVALID_ARGUMENT);
    assert_string_equal(err.field, field);
    if (!strstr(err.message, word))
        fail_msg("message \"%s\" does not say \"%s\"", err.message, word);
}

static int s_department(const cl_site_policy_t *s, const char *code)
{
    for (size_t i = 0; i < s->ndepartments; i++)
        if (strcmp(s->departments[i].code, code) == 0)
            return (int)i;
    return -1;
}

static const cl_staff_t *s_staff(const cl_site_policy_t *s, const char *id)
{
    for (size_t i = 0; i < s->nstaff; i++)
        if (strcmp(s->staff[i].id, id) == 0)
            return &s->staff[i];
    return NULL;
}

/* --------------------------------------------------------------------------------------------
 * The default policy
 */

static void test_default_policy_parses_into_site_a_with_four_departments(void **state)
{
    (void)state;
    cl_policy_t *p = s_parse_default();
    assert_int_equal(p->nsites, 1);
    const cl_site_policy_t *s = cl_policy_site(p, "site-a");
    assert_non_null(s);
    assert_string_equal(s->time_zone, "Asia/Shanghai");
    assert_int_equal(s->ndepartments, 4);
    assert_true(s_department(s, "customer-service") >= 0);
    assert_true(s_department(s, "engineering") >= 0);
    assert_true(s_department(s, "security") >= 0);
    assert_true(s_department(s, "services") >= 0);
    assert_int_equal(s->customer_service, s_department(s, "customer-service"));
    cl_policy_destroy(&p);
}

/* docs/rules.md (R-RT-1): the department each kind goes to. */
static const struct {
    int kind;
    const char *department;
} DEFAULT_ROUTES[] = {
    {KIND(COMPLAINT), "customer-service"},  {KIND(SUGGESTION), "customer-service"},
    {KIND(INQUIRY), "customer-service"},    {KIND(PRAISE), "customer-service"},
    {KIND(OTHER), "customer-service"},      {KIND(REPAIR), "engineering"},
    {KIND(SAFETY), "security"},             {KIND(SPECIAL_SERVICE), "services"},
};

static void test_default_policy_routes_every_kind_and_severity_to_its_department(void **state)
{
    (void)state;
    const int severities[] = {SEVERITY(UNSPECIFIED), SEVERITY(GENERAL), SEVERITY(IMPORTANT), SEVERITY(MAJOR)};
    cl_policy_t *p = s_parse_default();
    const cl_site_policy_t *s = cl_policy_site(p, "site-a");
    /* the table covers every kind of the contract */
    assert_int_equal(sizeof DEFAULT_ROUTES / sizeof DEFAULT_ROUTES[0], caseloop__v1__kind__descriptor.n_values - 1);
    for (size_t k = 0; k < sizeof DEFAULT_ROUTES / sizeof DEFAULT_ROUTES[0]; k++) {
        for (size_t v = 0; v < sizeof severities / sizeof severities[0]; v++) {
            bool special = true;
            int d = cl_policy_route(s, DEFAULT_ROUTES[k].kind, severities[v], &special);
            if (d < 0 || strcmp(s->departments[d].code, DEFAULT_ROUTES[k].department) != 0)
                fail_msg("kind %d severity %d went to %s; expected %s", DEFAULT_ROUTES[k].kind, severities[v],
                         d < 0 ? "nowhere" : s->departments[d].code, DEFAULT_ROUTES[k].department);
            assert_int_equal(special, severities[v] == SEVERITY(MAJOR));
        }
    }
    cl_policy_destroy(&p);
}

static void test_default_policy_routes_major_cases_through_special_routes(void **state)
{
    (void)state;
    cl_policy_t *p = s_parse_default();
    const cl_site_policy_t *s = &p->sites[0];
    /* one explicit major route per kind, each special */
    for (size_t k = 0; k < sizeof DEFAULT_ROUTES / sizeof DEFAULT_ROUTES[0]; k++) {
        size_t found = 0;
        for (size_t i = 0; i < s->nroutes; i++) {
            if (s->routes[i].kind != DEFAULT_ROUTES[k].kind)
                continue;
            found++;
            assert_int_equal(s->routes[i].severity, SEVERITY(MAJOR));
            assert_true(s->routes[i].special);
            assert_string_equal(s->departments[s->routes[i].department].code, DEFAULT_ROUTES[k].department);
        }
        assert_int_equal(found, 1);
    }
    cl_policy_destroy(&p);
}

static void test_default_policy_ladder_climbs_from_assistant_to_leadership(void **state)
{
    (void)state;
    cl_policy_t *p = s_parse_default();
    const cl_site_policy_t *s = &p->sites[0];
    size_t tops = 0, assistants = 0;
    for (size_t i = 0; i < s->nstaff; i++) {
        const cl_staff_t *st = &s->staff[i];
        if (st->reports_to < 0) {
            assert_int_equal(st->role, CL_ROLE_LEADERSHIP);
            tops++;
            continue;
        }
        const cl_staff_t *up = &s->staff[st->reports_to];
        /* one rung up: specialists and assistants to their own department's supervisor */
        if (st->role <= CL_ROLE_SPECIALIST) {
            assert_int_equal(up->role, CL_ROLE_SUPERVISOR);
            assert_int_equal(up->department, st->department);
        } else {
            assert_int_equal(up->role, st->role + 1);
        }
        if (st->role == CL_ROLE_ASSISTANT) {
            const cl_role_t ladder[] = {CL_ROLE_SUPERVISOR, CL_ROLE_PROJECT_HEAD, CL_ROLE_MANAGER, CL_ROLE_LEADERSHIP};
            int j = st->reports_to;
            for (size_t r = 0; r < 4; r++, j = s->staff[j].reports_to) {
                assert_true(j >= 0);
                assert_int_equal(s->staff[j].role, ladder[r]);
            }
            assert_int_equal(j, -1);
            assistants++;
        }
    }
    assert_int_equal(tops, 1);
    assert_true(assistants >= 1);
    cl_policy_destroy(&p);
}

static void test_default_policy_staffs_every_department_by_day_with_a_supervisor(void **state)
{
    (void)state;
    cl_policy_t *p = s_parse_default();
    const cl_site_policy_t *s = &p->sites[0];
    for (size_t d = 0; d < s->ndepartments; d++) {
        size_t supervisors = 0, day_staff = 0;
        for (size_t i = 0; i < s->nstaff; i++) {
            const cl_staff_t *st = &s->staff[i];
            if (st->department != (int)d)
                continue;
            supervisors += st->role == CL_ROLE_SUPERVISOR;
            for (size_t j = 0; j < st->nshifts; j++)
                day_staff += st->role < CL_ROLE_SUPERVISOR && st->shifts[j].from_min >= 6 * 60 &&
                             st->shifts[j].from_min < 12 * 60;
        }
        if (supervisors != 1 || day_staff == 0)
            fail_msg("department %s has %zu supervisors and %zu day shifts", s->departments[d].code, supervisors,
                     day_staff);
    }
    /* a project head, a manager and leadership, outside the departments */
    const char *heads[] = {"chen.jie", "liu.yang", "huang.min"};
    const cl_role_t roles[] = {CL_ROLE_PROJECT_HEAD, CL_ROLE_MANAGER, CL_ROLE_LEADERSHIP};
    for (size_t i = 0; i < 3; i++) {
        const cl_staff_t *st = s_staff(s, heads[i]);
        assert_non_null(st);
        assert_int_equal(st->role, roles[i]);
        assert_int_equal(st->department, -1);
    }
    cl_policy_destroy(&p);
}

static void test_default_policy_guards_security_every_night(void **state)
{
    (void)state;
    cl_policy_t *p = s_parse_default();
    const cl_site_policy_t *s = &p->sites[0];
    int security = s_department(s, "security");
    bool night = false;
    for (size_t i = 0; i < s->nstaff; i++)
        for (size_t j = 0; j < s->staff[i].nshifts; j++) {
            const cl_shift_t *sh = &s->staff[i].shifts[j];
            night |= s->staff[i].department == security && sh->days == 0x7f && sh->to_min <= sh->from_min &&
                     sh->from_min <= 22 * 60 && sh->to_min >= 6 * 60;
        }
    assert_true(night);
    cl_policy_destroy(&p);
}

static void test_default_policy_has_chinese_and_english_keywords_for_every_kind(void **state)
{
    (void)state;
    cl_policy_t *p = s_parse_default();
    const cl_site_policy_t *s = &p->sites[0];
    for (size_t k = 0; k < sizeof DEFAULT_ROUTES / sizeof DEFAULT_ROUTES[0]; k++) {
        bool chinese = false, english = false;
        for (size_t i = 0; i < s->nkeywords; i++) {
            if (s->keywords[i].kind != DEFAULT_ROUTES[k].kind)
                continue;
            for (size_t j = 0; j < s->keywords[i].nwords; j++) {
                const unsigned char *w = (const unsigned char *)s->keywords[i].words[j];
                if (w[0] >= 0x80)
                    chinese = true;
                else if ((w[0] | 0x20) >= 'a' && (w[0] | 0x20) <= 'z')
                    english = true;
            }
        }
        if (!chinese || !english)
            fail_msg("kind %d lacks %s keywords", DEFAULT_ROUTES[k].kind, chinese ? "english" : "chinese");
    }
    /* safety words come first, so "gas leak" is not taken for a repair */
    assert_int_equal(s->keywords[0].kind, KIND(SAFETY));
    cl_policy_destroy(&p);
}

static void test_default_policy_keeps_each_site_as_compact_sorted_json(void **state)
{
    (void)state;
    cl_policy_t *p = s_parse_default();
    const char *doc = p->sites[0].document;
    assert_non_null(doc);
    assert_null(strchr(doc, '\n'));
    assert_null(strstr(doc, "\": "));
    /* keys sorted: "calendar" first, then "clocks", "code", "customer_service", "departments" */
    assert_int_equal(strncmp(doc, "{\"calendar\":", 12), 0);
    assert_non_null(strstr(doc, ",\"code\":\"site-a\",\"customer_service\":\"customer-service\",\"departments\":"));
    json_t *j = json_loads(doc, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "time_zone")), "Asia/Shanghai");
    json_decref(j);
    cl_policy_destroy(&p);
}

/* Whether SMALL with time_zone zone parses given no zoneinfo folder (the default); a
   refusal must be the time_zone check's (the calendar reads the system's zones itself). */
static bool s_zone_known_by_default(const char *zone)
{
    json_t *doc = s_small();
    json_object_set_new(s_site(doc), "time_zone", json_string(zone));
    char *text = json_dumps(doc, 0);
    json_decref(doc);
    assert_non_null(text);
    cl_err_t err;
    cl_err_clear(&err);
    cl_policy_t *p = cl_policy_parse(text, strlen(text), NULL, &err);
    free(text);
    if (!p && strcmp(err.field, "sites[0].time_zone") != 0)
        fail_msg("time zone %s: refused for something else: %s: %s", zone, err.field, err.message);
    bool ok = p != NULL;
    cl_policy_destroy(&p);
    return ok;
}

static void test_default_time_zone_dir_is_the_system_zoneinfo(void **state)
{
    (void)state;
    struct stat st;
    if (stat("/usr/share/zoneinfo/Asia/Shanghai", &st) != 0)
        skip();
    /* Given no folder, a zone is known exactly when /usr/share/zoneinfo has its file: not
       a folder beside it (posix/, right/), nor one that knows every name or none. */
    static const char *const zones[] = {"Asia/Shanghai", "America/New_York", "Europe/London", "UTC",
                                        "posix/Asia/Shanghai", "right/UTC", "Atlantis/Nowhere", "Asia/Nowhere"};
    for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", zones[i]);
        bool there = stat(path, &st) == 0 && S_ISREG(st.st_mode);
        if (s_zone_known_by_default(zones[i]) != there)
            fail_msg("time zone %s: %s by default, but /usr/share/zoneinfo %s it", zones[i],
                     there ? "refused" : "accepted", there ? "has" : "does not have");
    }
    /* The default policy's sites are known there, and a zone from there is read for
       real: Shanghai keeps UTC+8 all year (2026-07-01 00:00 UTC is 08:00 there). */
    cl_err_t err;
    cl_err_clear(&err);
    cl_policy_t *p = cl_policy_parse(s_default, s_default_len, NULL, &err);
    if (!p)
        fail_msg("default policy refused with the system zoneinfo: %s: %s", err.field, err.message);
    cl_policy_destroy(&p);
    struct tm tm;
    assert_int_equal(cl_tz_localtime("Asia/Shanghai", INT64_C(1782864000) * CL_US_PER_S, &tm), 0);
    assert_int_equal(tm.tm_hour, 8);
    assert_int_equal(tm.tm_gmtoff, 8 * 3600);
}

static void test_readme_example_parses(void **state)
{
    (void)state;
    char path[1024];
    size_t len;
    s_source_path("deploy/policy/README.md", path, sizeof path);
    char *readme = s_read_file(path, &len);
    assert_non_null(readme);
    char *start = strstr(readme, "## Example");
    assert_non_null(start);
    start = strstr(start, "```json\n");
    assert_non_null(start);
    start += strlen("```json\n");
    char *end = strstr(start, "```");
    assert_non_null(end);
    cl_err_t err;
    cl_err_clear(&err);
    cl_policy_t *p = cl_policy_parse(start, (size_t)(end - start), s_tz_dir, &err);
    if (!p)
        fail_msg("README example refused: %s: %s", err.field, err.message);
    assert_non_null(cl_policy_site(p, "site-b"));
    cl_policy_destroy(&p);
    free(readme);
}

/* --------------------------------------------------------------------------------------------
 * What is read
 */

static void test_small_policy_reads_staff_departments_and_shifts(void **state)
{
    (void)state;
    cl_err_t err;
    cl_policy_t *p = s_parse_doc(s_small(), &err);
    assert_non_null(p);
    const cl_site_policy_t *s = &p->sites[0];
    assert_int_equal(s->nstaff, 3);
    assert_int_equal(s->staff[0].role, CL_ROLE_PROJECT_HEAD);
    assert_int_equal(s->staff[0].department, -1);
    assert_int_equal(s->staff[0].reports_to, -1);
    assert_int_equal(s->staff[0].nshifts, 0);
    assert_int_equal(s->staff[2].department, 0);
    assert_int_equal(s->staff[2].reports_to, 1);
    assert_int_equal(s->staff[2].nskills, 1);
    assert_int_equal(s->staff[2].skills[0], KIND(COMPLAINT));
    assert_int_equal(s->staff[2].nshifts, 1);
    assert_int_equal(s->staff[2].shifts[0].days, 0x1f);
    assert_int_equal(s->staff[2].shifts[0].from_min, 8 * 60);
    assert_int_equal(s->staff[2].shifts[0].to_min, 17 * 60);
    assert_int_equal(s->nkeywords, 1);
    assert_int_equal(s->keywords[0].nwords, 2);
    assert_string_equal(s->keywords[0].words[1], "漏水");
    assert_int_equal(s->routes[0].severity, SEVERITY(MAJOR));
    assert_true(s->routes[0].special);
    cl_policy_destroy(&p);
}

static void test_shift_days_and_times_read_as_bits_and_minutes(void **state)
{
    (void)state;
    static const struct {
        const char *days;      /* JSON */
        const char *from, *to;
        uint8_t bits;
        int from_min, to_min;
    } cases[] = {
        {"\"mon\"", "00:00", "24:00", 0x01, 0, 1440},
        {"\"sun\"", "23:59", "00:30", 0x40, 1439, 30},
        {"\"daily\"", "20:00", "08:00", 0x7f, 1200, 480},
        {"\"weekends\"", "09:30", "17:45", 0x60, 570, 1065},
        {"[\"mon\", \"wed\", \"fri\"]", "08:00", "08:00", 0x15, 480, 480},
        {"[\"sat\", \"weekdays\"]", "12:00", "13:00", 0x3f, 720, 780},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *doc = s_small();
        json_t *shift = json_array_get(json_object_get(s_item(doc, "staff", 2), "shifts"), 0);
        json_object_set_new(shift, "days", json_loads(cases[i].days, JSON_DECODE_ANY, NULL));
        json_object_set_new(shift, "from", json_string(cases[i].from));
        json_object_set_new(shift, "to", json_string(cases[i].to));
        cl_err_t err;
        cl_policy_t *p = s_parse_doc(doc, &err);
        if (!p)
            fail_msg("case %zu refused: %s: %s", i, err.field, err.message);
        const cl_shift_t *sh = &p->sites[0].staff[2].shifts[0];
        assert_int_equal(sh->days, cases[i].bits);
        assert_int_equal(sh->from_min, cases[i].from_min);
        assert_int_equal(sh->to_min, cases[i].to_min);
        cl_policy_destroy(&p);
    }
}

static void test_route_takes_exact_severity_then_any_severity_then_the_department(void **state)
{
    (void)state;
    json_t *doc = s_small();
    json_t *routing = json_object_get(s_site(doc), "routing");
    json_array_append_new(routing, json_pack("{s:s, s:s, s:s}", "kind", "repair", "severity", "important",
                                             "department", "sec"));
    json_array_append_new(routing, json_pack("{s:s, s:s, s:s}", "kind", "repair", "severity", "*",
                                             "department", "cs"));
    cl_err_t err;
    cl_policy_t *p = s_parse_doc(doc, &err);
    assert_non_null(p);
    const cl_site_policy_t *s = &p->sites[0];
    bool special = false;
    assert_int_equal(cl_policy_route(s, KIND(REPAIR), SEVERITY(MAJOR), &special), s_department(s, "eng"));
    assert_true(special);
    assert_int_equal(cl_policy_route(s, KIND(REPAIR), SEVERITY(IMPORTANT), &special), s_department(s, "sec"));
    assert_false(special);
    assert_int_equal(cl_policy_route(s, KIND(REPAIR), SEVERITY(GENERAL), &special), s_department(s, "cs"));
    assert_false(special);
    /* no route: the department listing the kind; major is special all the same */
    assert_int_equal(cl_policy_route(s, KIND(SAFETY), SEVERITY(MAJOR), &special), s_department(s, "sec"));
    assert_true(special);
    assert_int_equal(cl_policy_route(s, KIND(COMPLAINT), SEVERITY(GENERAL), NULL), s_department(s, "cs"));
    /* no kind, or one the contract does not have */
    assert_int_equal(cl_policy_route(s, KIND(UNSPECIFIED), SEVERITY(GENERAL), &special), -1);
    assert_int_equal(cl_policy_route(s, 99, SEVERITY(GENERAL), &special), -1);
    assert_int_equal(cl_policy_route(NULL, KIND(REPAIR), SEVERITY(GENERAL), &special), -1);
    cl_policy_destroy(&p);
}

static void test_any_severity_route_closes_a_routing_gap(void **state)
{
    (void)state;
    json_t *doc = s_small();
    json_array_remove(json_object_get(s_item(doc, "departments", 0), "kinds"), 3);   /* praise */
    json_array_append_new(json_object_get(s_site(doc), "routing"),
                          json_pack("{s:s, s:s}", "kind", "praise", "department", "cs"));
    cl_err_t err;
    cl_policy_t *p = s_parse_doc(doc, &err);
    assert_non_null(p);
    assert_int_equal(cl_policy_route(&p->sites[0], KIND(PRAISE), SEVERITY(GENERAL), NULL), 0);
    cl_policy_destroy(&p);
}

static void test_site_is_found_by_its_code(void **state)
{
    (void)state;
    json_t *doc = s_small();
    json_t *second = json_deep_copy(s_site(doc));
    json_object_set_new(second, "code", json_string("site-b"));
    json_array_append_new(json_object_get(doc, "sites"), second);
    cl_err_t err;
    cl_policy_t *p = s_parse_doc(doc, &err);
    assert_non_null(p);
    assert_ptr_equal(cl_policy_site(p, "site-b"), &p->sites[1]);
    assert_ptr_equal(cl_policy_site(p, "site-a"), &p->sites[0]);
    assert_null(cl_policy_site(p, "site-c"));
    assert_null(cl_policy_site(NULL, "site-a"));
    cl_policy_destroy(&p);
}

/* --------------------------------------------------------------------------------------------
 * Refusals
 */

static void test_malformed_json_is_refused_with_its_line(void **state)
{
    (void)state;
    s_refused_text("{\n  \"sites\": [\n    {\"code\": \"site-a\",,\n  ]\n}\n", "line 3", "malformed");
    s_refused_text("{\n  \"sites\": [\n\n", "line 4", "malformed");
    s_refused_text("", "line 1", "malformed");
    cl_err_t err;
    assert_null(cl_policy_parse(NULL, 0, s_tz_dir, &err));
    assert_string_equal(err.field, "line 1");
}

static void test_repeated_json_member_is_refused_with_its_line(void **state)
{
    (void)state;
    s_refused_text("{\"sites\": [\n {\"code\": \"a\",\n  \"code\": \"b\"}]}", "line 3", "duplicate");
}

static void test_document_that_is_not_an_object_is_refused(void **state)
{
    (void)state;
    s_refused_text("[1, 2]", "", "expected an object");
}

static void test_unknown_member_is_refused_wherever_it_is(void **state)
{
    (void)state;
    static const struct {
        const char *list;      /* NULL: the document; "": the site */
        size_t index;
        const char *member;
        const char *field;
    } cases[] = {
        {NULL, 0, "site", "site"},
        {"", 0, "staf", "sites[0].staf"},
        {"departments", 1, "kind", "sites[0].departments[1].kind"},
        {"staff", 1, "deparment", "sites[0].staff[1].deparment"},
        {"routing", 0, "severity_", "sites[0].routing[0].severity_"},
        {"keywords", 0, "word", "sites[0].keywords[0].word"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *doc = s_small();
        json_t *obj = !cases[i].list ? doc : !*cases[i].list ? s_site(doc) : s_item(doc, cases[i].list, cases[i].index);
        json_object_set_new(obj, cases[i].member, json_string("x"));
        s_refused(doc, cases[i].field, "is not one of");
    }
    json_t *doc = s_small();
    json_t *shift = json_array_get(json_object_get(s_item(doc, "staff", 2), "shifts"), 0);
    json_object_set_new(shift, "day", json_string("mon"));
    s_refused(doc, "sites[0].staff[2].shifts[0].day", "member \"day\" is not one of days, from, to");
}

static void test_missing_member_is_refused(void **state)
{
    (void)state;
    static const struct {
        const char *list;
        size_t index;
        const char *member;
        const char *field;
    } cases[] = {
        {"", 0, "time_zone", "sites[0].time_zone"},
        {"", 0, "customer_service", "sites[0].customer_service"},
        {"", 0, "departments", "sites[0].departments"},
        {"staff", 2, "department", "sites[0].staff[2].department"},
        {"staff", 1, "role", "sites[0].staff[1].role"},
        {"routing", 0, "department", "sites[0].routing[0].department"},
        {"keywords", 0, "words", "sites[0].keywords[0].words"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *doc = s_small();
        json_t *obj = !*cases[i].list ? s_site(doc) : s_item(doc, cases[i].list, cases[i].index);
        json_object_del(obj, cases[i].member);
        s_refused(doc, cases[i].field, "missing");
    }
}

static void test_member_of_the_wrong_type_is_refused(void **state)
{
    (void)state;
    json_t *doc = s_small();
    json_object_set_new(s_item(doc, "routing", 0), "special", json_string("yes"));
    s_refused(doc, "sites[0].routing[0].special", "special is a string; expected true or false");
    doc = s_small();
    json_object_set_new(s_site(doc), "staff", json_object());
    s_refused(doc, "sites[0].staff", "expected a list");
    doc = s_small();
    json_object_set_new(s_item(doc, "staff", 0), "name", json_string(""));
    s_refused(doc, "sites[0].staff[0].name", "empty");
}

static void test_unknown_kind_is_refused_naming_the_kinds(void **state)
{
    (void)state;
    json_t *doc = s_small();
    json_array_set_new(json_object_get(s_item(doc, "departments", 1), "kinds"), 0, json_string("repairs"));
    cl_err_t err;
    assert_null(s_parse_doc(doc, &err));
    assert_string_equal(err.field, "sites[0].departments[1].kinds[0]");
    assert_string_equal(err.message, "kind \"repairs\" is not one of complaint, repair, inquiry, suggestion, "
                                     "praise, special_service, safety, other");
    /* the zero value and other spellings are no kinds either */
    doc = s_small();
    json_object_set_new(s_item(doc, "routing", 0), "kind", json_string("unspecified"));
    s_refused(doc, "sites[0].routing[0].kind", "kind \"unspecified\" is not one of complaint");
    doc = s_small();
    json_object_set_new(s_item(doc, "keywords", 0), "kind", json_string("Repair"));
    s_refused(doc, "sites[0].keywords[0].kind", "\"Repair\"");
    doc = s_small();
    json_array_append_new(json_object_get(s_item(doc, "staff", 2), "skills"), json_string("plumbing"));
    s_refused(doc, "sites[0].staff[2].skills[1]", "\"plumbing\"");
}

static void test_unknown_severity_is_refused(void **state)
{
    (void)state;
    json_t *doc = s_small();
    json_object_set_new(s_item(doc, "routing", 0), "severity", json_string("urgent"));
    s_refused(doc, "sites[0].routing[0].severity", "severity \"urgent\" is not one of general, important, major, *");
}

static void test_unknown_role_is_refused(void **state)
{
    (void)state;
    json_t *doc = s_small();
    json_object_set_new(s_item(doc, "staff", 1), "role", json_string("boss"));
    s_refused(doc, "sites[0].staff[1].role", "role \"boss\" is not one of assistant");
}

static void test_unknown_time_zone_is_refused(void **state)
{
    (void)state;
    const char *zones[] = {"Mars/Olympus_Mons", "Asia", "../Asia/Shanghai", "Asia/../UTC", "/etc/passwd",
                           "Asia/Shanghai "};
    for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++) {
        json_t *doc = s_small();
        json_object_set_new(s_site(doc), "time_zone", json_string(zones[i]));
        s_refused(doc, "sites[0].time_zone", "is not a known time zone");
    }
    json_t *doc = s_small();
    json_object_set_new(s_site(doc), "time_zone", json_string("UTC"));
    cl_err_t err;
    cl_policy_t *p = s_parse_doc(doc, &err);
    assert_non_null(p);
    cl_policy_destroy(&p);
}

static void test_duplicate_staff_id_is_refused(void **state)
{
    (void)state;
    json_t *doc = s_small();
    json_object_set_new(s_item(doc, "staff", 2), "id", json_string("sup"));
    s_refused(doc, "sites[0].staff[2].id", "id \"sup\" is already the id of staff[1]");
}

static void test_duplicate_department_and_site_codes_are_refused(void **state)
{
    (void)state;
    json_t *doc = s_small();
    json_object_set_new(s_item(doc, "departments", 2), "code", json_string("cs"));
    s_refused(doc, "sites[0].departments[2].code", "already");
    doc = s_small();
    json_array_append_new(json_object_get(doc, "sites"), json_deep_copy(s_site(doc)));
    s_refused(doc, "sites[1].code", "code \"site-a\" is already the code of sites[0]");
}

static void test_routing_gap_is_refused_naming_the_kind(void **state)
{
    (void)state;
    json_t *doc = s_small();
    json_array_remove(json_object_get(s_item(doc, "departments", 0), "kinds"), 3);   /* praise */
    s_refused(doc, "sites[0].departments", "kind \"praise\" goes to no department");
    /* a route for major cases only leaves general ones without a department */
    doc = s_small();
    json_object_del(s_item(doc, "departments", 1), "kinds");                          /* repair */
    s_refused(doc, "sites[0].departments", "kind \"repair\"");
}

static void test_reports_to_cycle_is_refused_naming_a_staff_member(void **state)
{
    (void)state;
    /* head -> asst -> sup -> head */
    json_t *doc = s_small();
    json_object_set_new(s_item(doc, "staff", 0), "reports_to", json_string("asst"));
    s_refused(doc, "sites[0].staff[0].reports_to", "staff \"head\" is on a reports_to cycle");
    /* someone reporting to themselves */
    doc = s_small();
    json_object_set_new(s_item(doc, "staff", 2), "reports_to", json_string("asst"));
    s_refused(doc, "sites[0].staff[2].reports_to", "\"asst\"");
    /* a cycle reached from outside it: asst -> sup <-> head */
    doc = s_small();
    json_object_set_new(s_item(doc, "staff", 0), "reports_to", json_string("sup"));
    s_refused(doc, "sites[0].staff[0].reports_to", "cycle");
}

static void test_reports_to_someone_not_on_the_staff_is_refused(void **state)
{
    (void)state;
    json_t *doc = s_small();
    json_object_set_new(s_item(doc, "staff", 2), "reports_to", json_string("nobody"));
    s_refused(doc, "sites[0].staff[2].reports_to", "reports_to \"nobody\" is not staff of site \"site-a\"");
}

static void test_bad_shift_time_is_refused(void **state)
{
    (void)state;
    static const struct {
        const char *member, *value;
    } cases[] = {
        {"from", "8:00"},  {"from", "24:00"}, {"from", "08:00:00"}, {"from", "ab:cd"}, {"from", ""},
        {"to", "24:01"},   {"to", "12:60"},   {"to", "25:00"},      {"to", "12.30"},   {"to", "-1:00"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char field[64], word[64];
        json_t *doc = s_small();
        json_t *shift = json_array_get(json_object_get(s_item(doc, "staff", 2), "shifts"), 0);
        json_object_set_new(shift, cases[i].member, json_string(cases[i].value));
        snprintf(field, sizeof field, "sites[0].staff[2].shifts[0].%s", cases[i].member);
        snprintf(word, sizeof word, "%s \"%s\" is not a time of day; expected HH:MM", cases[i].member, cases[i].value);
        s_refused(doc, field, word);
    }
}

static void test_bad_shift_days_are_refused(void **state)
{
    (void)state;
    static const struct {
        const char *days, *field, *word;
    } cases[] = {
        {"\"someday\"", "sites[0].staff[2].shifts[0].days", "\"someday\""},
        {"[]", "sites[0].staff[2].shifts[0].days", "an empty list"},
        {"[\"mon\", \"fri\", \"Sat\"]", "sites[0].staff[2].shifts[0].days[2]", "\"Sat\""},
        {"5", "sites[0].staff[2].shifts[0].days", "a number"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *doc = s_small();
        json_t *shift = json_array_get(json_object_get(s_item(doc, "staff", 2), "shifts"), 0);
        json_object_set_new(shift, "days", json_loads(cases[i].days, JSON_DECODE_ANY, NULL));
        s_refused(doc, cases[i].field, cases[i].word);
    }
}

static void test_unknown_department_in_a_route_is_refused(void **state)
{
    (void)state;
    json_t *doc = s_small();
    json_object_set_new(s_item(doc, "routing", 0), "department", json_string("plumbing"));
    cl_err_t err;
    assert_null(s_parse_doc(doc, &err));
    assert_int_equal(err.code, CL_INVALID_ARGUMENT);
    assert_string_equal(err.field, "sites[0].routing[0].department");
    assert_string_equal(err.message, "department \"plumbing\" is not a department of site \"site-a\"");
    /* and of a staff member */
    doc = s_small();
    json_object_set_new(s_item(doc, "staff", 1), "department", json_string("eng2"));
    s_refused(doc, "sites[0].staff[1].department", "\"eng2\" is not a department");
}

static void test_customer_service_must_name_a_department(void **state)
{
    (void)state;
    json_t *doc = s_small();
    json_object_set_new(s_site(doc), "customer_service", json_string("front-desk"));
    s_refused(doc, "sites[0].customer_service", "customer_service \"front-desk\" is not a department");
}

static void test_empty_lists_that_need_items_are_refused(void **state)
{
    (void)state;
    json_t *doc = s_small();
    json_object_set_new(s_site(doc), "departments", json_array());
    s_refused(doc, "sites[0].departments", "at least one department");
    doc = s_small();
    json_object_set_new(doc, "sites", json_array());
    s_refused(doc, "sites", "at least one site");
    doc = s_small();
    json_object_set_new(s_item(doc, "keywords", 0), "words", json_array());
    s_refused(doc, "sites[0].keywords[0].words", "at least one word");
    doc = s_small();
    json_array_append_new(json_object_get(s_item(doc, "keywords", 0), "words"), json_string(""));
    s_refused(doc, "sites[0].keywords[0].words[2]", "expected 1 to");
}

static void test_second_route_for_the_same_kind_and_severity_is_refused(void **state)
{
    (void)state;
    json_t *doc = s_small();
    json_array_append_new(json_object_get(s_site(doc), "routing"),
                          json_pack("{s:s, s:s, s:s}", "kind", "repair", "severity", "major", "department", "cs"));
    s_refused(doc, "sites[0].routing[1]", "repeats routing[0]");
}

/* LSan reports at exit what a refusal left behind: these fail after most of the document was read. */
static void test_refusal_late_in_a_document_frees_what_was_read(void **state)
{
    (void)state;
    json_error_t jerr;
    json_t *doc = json_loadb(s_default, s_default_len, 0, &jerr);
    assert_non_null(doc);
    json_t *second = json_deep_copy(s_site(doc));
    json_object_set_new(second, "code", json_string("site-b"));
    json_t *words = json_object_get(json_array_get(json_object_get(second, "keywords"), 7), "words");
    json_array_append_new(words, json_integer(7));
    json_array_append_new(json_object_get(doc, "sites"), second);
    s_refused(doc, "sites[1].keywords[7].words[3]", "expected a word");

    doc = json_loadb(s_default, s_default_len, 0, &jerr);
    json_object_set_new(s_item(doc, "staff", 0), "reports_to", json_string("li.na"));
    s_refused(doc, "sites[0].staff[0].reports_to", "cycle");

    assert_null(cl_policy_parse("{\"sites\": 1}", 12, s_tz_dir, NULL));   /* no error wanted */
}

static void test_destroy_accepts_null_and_clears_the_pointer(void **state)
{
    (void)state;
    cl_policy_destroy(NULL);
    cl_policy_t *p = NULL;
    cl_policy_destroy(&p);
    p = s_parse_default();
    cl_policy_destroy(&p);
    assert_null(p);
    cl_policy_destroy(&p);
}

static void test_role_names_round_trip(void **state)
{
    (void)state;
    const char *names[CL_ROLE_COUNT] = {"assistant", "specialist", "supervisor", "project_head", "manager",
                                        "leadership"};
    for (int r = 0; r < CL_ROLE_COUNT; r++) {
        assert_string_equal(cl_role_name((cl_role_t)r), names[r]);
        assert_int_equal(cl_role_parse(cl_role_name((cl_role_t)r)), r);
    }
    assert_int_equal(cl_role_parse("Assistant"), -1);
    assert_int_equal(cl_role_parse("boss"), -1);
    assert_int_equal(cl_role_parse(""), -1);
    assert_int_equal(cl_role_parse(NULL), -1);
    assert_string_equal(cl_role_name(CL_ROLE_COUNT), "unknown");
}

/* --- calendar and clocks ------------------------------------------------------------ */

/* SMALL with member `member` of its site set to the JSON text value. */
static json_t *s_with_member(const char *member, const char *value)
{
    json_t *doc = s_small();
    json_error_t jerr;
    json_t *v = json_loads(value, JSON_DECODE_ANY, &jerr);
    if (!v)
        fail_msg("%s JSON: %s", member, jerr.text);
    json_object_set_new(s_site(doc), member, v);
    return doc;
}

static json_t *s_with_clock(const char *clock_json)
{
    return s_with_member("clocks", clock_json);
}

static void test_clocks_default_to_c1_to_c7_of_the_rules(void **state)
{
    (void)state;
    cl_err_t err;
    cl_policy_t *p = s_parse_doc(s_small(), &err);
    assert_non_null(p);
    const cl_site_policy_t *s = &p->sites[0];
    assert_non_null(s->calendar);
    assert_true(s->quiet_major_exempt);
    assert_int_equal(s->nclocks, 7);
    const cl_clock_def_t *c1 = cl_policy_clock(s, "C1"), *c4 = cl_policy_clock(s, "C4"), *c5 = cl_policy_clock(s, "C5");
    assert_non_null(c1);
    assert_int_equal(c1->duration_s, 300);
    assert_non_null(c4);
    assert_int_equal(c4->starts, CL_CLOCK_STARTS(CL_CLOCK_ON_RETURNED));
    assert_int_equal(c4->duration_s, 3600);
    assert_int_equal(c4->ladder[0], CL_ROLE_PROJECT_HEAD);
    assert_non_null(c5);
    assert_int_equal(c5->starts, CL_CLOCK_STARTS(CL_CLOCK_ON_TRANSFERRED));
    assert_int_equal(c5->ladder[0], CL_ROLE_LEADERSHIP); /* on failure, senior leadership */
    assert_int_equal(c5->nladder, 1);
    const cl_clock_def_t *c2 = cl_policy_clock(s, "C2"), *c3 = cl_policy_clock(s, "C3");
    assert_non_null(c2);
    assert_non_null(c3);
    assert_int_equal(c2->duration_s, 3600);
    assert_int_equal(c2->starts, CL_CLOCK_STARTS(CL_CLOCK_ON_RECEIVED) | CL_CLOCK_STARTS(CL_CLOCK_ON_REOPENED));
    assert_int_equal(c3->duration_s, 86400);
    assert_int_equal(c3->starts, CL_CLOCK_STARTS(CL_CLOCK_ON_DISPATCHED) | CL_CLOCK_STARTS(CL_CLOCK_ON_REOPENED));
    assert_int_equal(c2->nwarn, 2);
    assert_int_equal(c2->ladder[0], CL_ROLE_SUPERVISOR);
    assert_int_equal(c2->major_ladder[0], CL_ROLE_MANAGER);
    /* C6: from the callback until its record is filled in, 24 h; C7: a problem raised in a
       callback is investigated and answered within 3 days */
    const cl_clock_def_t *c6 = cl_policy_clock(s, "C6"), *c7 = cl_policy_clock(s, "C7");
    assert_non_null(c6);
    assert_int_equal(c6->starts, CL_CLOCK_STARTS(CL_CLOCK_ON_CALLBACK_MADE));
    assert_int_equal(c6->duration_s, 86400);
    assert_int_equal(c6->met_by, CL_CLOCK_MEET_CALLBACK_RECORDED);
    assert_non_null(c7);
    assert_int_equal(c7->starts, CL_CLOCK_STARTS(CL_CLOCK_ON_RAISED_IN_CALLBACK));
    assert_int_equal(c7->duration_s, 3 * 86400);
    assert_int_equal(c7->met_by, 1u << CASELOOP__V1__CASE_ACTION__CASE_ACTION_RESOLVE);
    assert_int_equal(c7->ladder[0], CL_ROLE_SUPERVISOR);
    cl_policy_destroy(&p);
}

static void test_a_calendar_reads_its_holidays_and_extra_working_days(void **state)
{
    (void)state;
    json_t *doc = s_small();
    json_error_t jerr;
    json_t *cal = json_loads("{\"working_hours\": {\"mon\": [\"09:00-18:00\"], \"tue\": [\"09:00-18:00\"],"
                             " \"wed\": [\"09:00-18:00\"], \"thu\": [\"09:00-18:00\"], \"fri\": [\"09:00-18:00\"]},"
                             " \"holidays\": [\"2026-10-01\"], \"extra_working_days\": [\"2026-10-10\"]}",
                             0, &jerr);
    assert_non_null(cal);
    json_object_set_new(s_site(doc), "calendar", cal);
    cl_err_t err;
    cl_policy_t *p = s_parse_doc(doc, &err);
    if (!p)
        fail_msg("%s: %s", err.field, err.message);
    const cl_calendar_t *c = p->sites[0].calendar;
    const int64_t S = 1000000;
    /* 10:00 in Shanghai: Thursday 1 October a holiday, Saturday 10 October worked, Sunday 11 not */
    assert_false(cl_calendar_is_working(c, 1790820000 * S));
    assert_true(cl_calendar_is_working(c, 1791597600 * S));
    assert_false(cl_calendar_is_working(c, 1791684000 * S));
    /* a site is found by its code, and no code finds none */
    assert_ptr_equal(cl_policy_site(p, "site-a"), &p->sites[0]);
    assert_null(cl_policy_site(p, "site-b"));
    assert_null(cl_policy_site(p, NULL));
    cl_policy_destroy(&p);
}

static void test_callback_clocks_read_their_start_and_record(void **state)
{
    (void)state;
    cl_err_t err;
    cl_policy_t *p = s_parse_doc(s_with_clock("[{\"code\": \"C6\", \"name\": \"record\", \"starts_on\": \"callback_made\","
                                              " \"met_by\": [\"callback_recorded\"], \"duration\": \"1h\"},"
                                              " {\"code\": \"C7\", \"name\": \"answered\", \"starts_on\": \"raised_in_callback\","
                                              " \"met_by\": [\"resolve\", \"close\"], \"duration\": \"2d\"}]"),
                                 &err);
    if (!p)
        fail_msg("%s: %s", err.field, err.message);
    const cl_clock_def_t *c6 = cl_policy_clock(&p->sites[0], "C6"), *c7 = cl_policy_clock(&p->sites[0], "C7");
    assert_int_equal(c6->starts, CL_CLOCK_STARTS(CL_CLOCK_ON_CALLBACK_MADE));
    assert_int_equal(c6->met_by, CL_CLOCK_MEET_CALLBACK_RECORDED);
    assert_int_equal(c6->duration_s, 3600);
    assert_int_equal(c7->starts, CL_CLOCK_STARTS(CL_CLOCK_ON_RAISED_IN_CALLBACK));
    assert_int_equal(c7->met_by, (1u << CASELOOP__V1__CASE_ACTION__CASE_ACTION_RESOLVE) |
                                     (1u << CASELOOP__V1__CASE_ACTION__CASE_ACTION_CLOSE));
    cl_policy_destroy(&p);
}

static void test_a_clock_reads_its_times_warnings_and_ladder(void **state)
{
    (void)state;
    cl_err_t err;
    cl_policy_t *p = s_parse_doc(s_with_clock("[{\"code\": \"C7\", \"name\": \"callback complaint answered\","
                                              " \"starts_on\": \"dispatched\", \"met_by\": [\"resolve\"],"
                                              " \"duration\": \"3d\", \"working_time\": true, \"warn_at\": [25, 75],"
                                              " \"ladder\": [{\"role\": \"supervisor\", \"for\": \"2h\"},"
                                              " {\"role\": \"manager\"}], \"on_policy_change\": \"retime\"}]"),
                                 &err);
    if (!p)
        fail_msg("%s: %s", err.field, err.message);
    const cl_clock_def_t *c = cl_policy_clock(&p->sites[0], "C7");
    assert_non_null(c);
    assert_int_equal(c->duration_s, 3 * 86400);
    assert_true(c->working_time);
    assert_int_equal(c->warn_pct[1], 75);
    assert_int_equal(c->nladder, 2);
    assert_int_equal(c->ladder_s[0], 7200);
    assert_int_equal(c->ladder[1], CL_ROLE_MANAGER);
    assert_true(c->retime);
    assert_true(c->active);
    assert_int_equal(c->met_by, 1u << 4);
    cl_policy_destroy(&p);
}

static void test_bad_clocks_and_calendars_are_refused_by_path(void **state)
{
    (void)state;
    s_refused(s_with_clock("[{\"code\": \"C2\", \"name\": \"x\", \"starts_on\": \"lunch\", \"met_by\": [\"resolve\"],"
                           " \"duration\": 60}]"),
              "sites[0].clocks[0].starts_on", "lunch");
    s_refused(s_with_clock("[{\"code\": \"C2\", \"name\": \"x\", \"starts_on\": \"received\", \"met_by\": [\"resolve\"],"
                           " \"duration\": \"soon\"}]"),
              "sites[0].clocks[0].duration", "duration");
    s_refused(s_with_clock("[{\"code\": \"C2\", \"name\": \"x\", \"starts_on\": \"received\", \"met_by\": [\"resolve\"],"
                           " \"duration\": 60, \"warn_at\": [80, 50]}]"),
              "sites[0].clocks[0].warn_at", "percent");
    s_refused(s_with_clock("[{\"code\": \"C2\", \"name\": \"x\", \"starts_on\": \"received\", \"met_by\": [\"resolve\"],"
                           " \"duration\": 60, \"ladder\": [{\"role\": \"boss\"}]}]"),
              "sites[0].clocks[0].ladder[0]", "boss");
    s_refused(s_with_clock("[{\"code\": \"C2\", \"name\": \"x\", \"starts_on\": \"received\", \"met_by\": [\"sleep\"],"
                           " \"duration\": 60}]"),
              "sites[0].clocks[0].met_by[0]", "action");
    s_refused(s_with_clock("[{\"code\": \"C6\", \"name\": \"x\", \"starts_on\": \"callback_made\", \"met_by\": [\"close\"],"
                           " \"pauses_on\": [\"callback_recorded\"], \"duration\": 60}]"),
              "sites[0].clocks[0].pauses_on[0]", "action");
    s_refused(s_with_clock("[{\"code\": \"C2\", \"name\": \"x\", \"starts_on\": \"received\", \"met_by\": [\"resolve\"],"
                           " \"duration\": \"200000000000000d\"}]"),
              "sites[0].clocks[0].duration", "year");
    s_refused(s_with_clock("[{\"code\": \"C2\", \"name\": \"x\", \"starts_on\": \"received\", \"met_by\": [\"resolve\"],"
                           " \"duration\": 60, \"ladder\": [{\"role\": \"supervisor\", \"for\": 9300000000000}]}]"),
              "sites[0].clocks[0].ladder[0]", "year");
    json_t *doc = s_small();
    json_error_t jerr;
    json_object_set_new(s_site(doc), "calendar",
                        json_loads("{\"working_hours\": {\"mon\": [\"18:00-09:00\"]}}", 0, &jerr));
    s_refused(doc, "sites[0].calendar.working_hours.mon[0]", "interval");
}

/* --- what intake promises and how it tells problems apart ---------------------------------- */

/* SMALL with member "intake" of the site set to intake_json. */
static json_t *s_with_intake(const char *intake_json)
{
    return s_with_member("intake", intake_json);
}

static void test_intake_terms_default_to_c3_a_week_half_alike_and_five_minutes(void **state)
{
    (void)state;
    cl_err_t err;
    cl_policy_t *p = s_parse_doc(s_small(), &err);
    assert_non_null(p);
    const cl_site_policy_t *s = &p->sites[0];
    assert_true(s->promise_clock >= 0);
    assert_string_equal(s->clocks[s->promise_clock].code, "C3");
    assert_int_equal(s->dedupe_window_s, 7 * 86400);
    assert_true(s->dedupe_similarity == 0.5);
    assert_int_equal(s->future_skew_s, 300);
    cl_policy_destroy(&p);
    /* Clocks of its own without a C3: nothing is promised unless it names one. */
    p = s_parse_doc(s_with_clock("[{\"code\": \"K1\", \"name\": \"x\", \"starts_on\": \"received\","
                                 " \"met_by\": [\"resolve\"], \"duration\": 60}]"),
                    &err);
    assert_non_null(p);
    assert_int_equal(p->sites[0].promise_clock, -1);
    cl_policy_destroy(&p);
}

static void test_intake_terms_are_read_and_refused_by_path(void **state)
{
    (void)state;
    cl_err_t err;
    cl_policy_t *p = s_parse_doc(s_with_intake("{\"promise_clock\": \"C2\", \"dedupe_window\": \"2h\","
                                               " \"dedupe_similarity\": 0.8, \"future_skew\": 0}"),
                                 &err);
    if (!p)
        fail_msg("refused: %s: %s", err.field, err.message);
    const cl_site_policy_t *s = &p->sites[0];
    assert_string_equal(s->clocks[s->promise_clock].code, "C2");
    assert_int_equal(s->dedupe_window_s, 7200);
    assert_true(s->dedupe_similarity == 0.8);
    assert_int_equal(s->future_skew_s, 0);
    cl_policy_destroy(&p);
    s_refused(s_with_intake("{\"promise_clock\": \"C9\"}"), "sites[0].intake.promise_clock", "not a clock");
    s_refused(s_with_intake("{\"dedupe_similarity\": 1.5}"), "sites[0].intake.dedupe_similarity", "0 to 1");
    s_refused(s_with_intake("{\"dedupe_similarity\": \"high\"}"), "sites[0].intake.dedupe_similarity", "string");
    s_refused(s_with_intake("{\"dedupe_window\": \"soon\"}"), "sites[0].intake.dedupe_window", "duration");
    s_refused(s_with_intake("{\"future_skew\": -5}"), "sites[0].intake.future_skew", "duration");
    s_refused(s_with_intake("{\"promise\": \"C3\"}"), "sites[0].intake.promise", "promise_clock");
    s_refused(s_with_intake("[]"), "sites[0].intake", "object");
}


/* --- callbacks ------------------------------------------------------------------------------- */

#define K(x) CASELOOP__V1__KIND__KIND_##x
#define MODE(x) (1u << CASELOOP__V1__CALLBACK_MODE__CALLBACK_MODE_##x)

static void test_callbacks_default_to_the_rules_for_every_kind(void **state)
{
    (void)state;
    cl_err_t err;
    cl_policy_t *p = s_parse_doc(s_small(), &err);
    if (!p)
        fail_msg("refused: %s: %s", err.field, err.message);
    const cl_cb_policy_t *cb = &p->sites[0].callbacks;
    assert_int_equal(cb->nwindows, 2);
    assert_int_equal(cb->windows[0].from_min, 570);
    assert_int_equal(cb->windows[0].to_min, 630);
    assert_int_equal(cb->windows[1].from_min, 870);
    assert_int_equal(cb->windows[1].to_min, 990);
    assert_int_equal(cb->per_window, 4);
    assert_int_equal(cb->max_attempts, 3);
    assert_int_equal(cb->naspects, 3);
    assert_string_equal(cb->aspects[0], "result");
    const cl_cb_kind_t *c = &cb->kinds[K(COMPLAINT)], *r = &cb->kinds[K(REPAIR)];
    assert_int_equal(c->within_s, 3 * 86400);
    assert_true(c->share == 1.0);
    assert_int_equal(c->performer[CASELOOP__V1__SEVERITY__SEVERITY_GENERAL], CL_ROLE_ASSISTANT);
    assert_int_equal(c->performer[CASELOOP__V1__SEVERITY__SEVERITY_IMPORTANT], CL_ROLE_SUPERVISOR);
    assert_int_equal(c->performer[CASELOOP__V1__SEVERITY__SEVERITY_MAJOR], CL_ROLE_MANAGER);
    assert_int_equal(c->department, s_department(&p->sites[0], "cs"));
    assert_int_equal(c->nmodes, 2);
    assert_int_equal(c->modes[0].modes, MODE(VISIT));
    assert_int_equal(c->modes[1].from_callback, 2);
    assert_int_equal(c->modes[1].modes, MODE(VISIT) | MODE(PHONE));
    assert_int_equal(r->within_s, 30 * 86400);
    assert_true(r->share == 0.3);
    assert_int_equal(r->performer[CASELOOP__V1__SEVERITY__SEVERITY_MAJOR], CL_ROLE_ASSISTANT);
    for (int k = K(INQUIRY); k <= K(OTHER); k++) {
        assert_true(cb->kinds[k].share == 0.1);
        assert_false(cb->kinds[k].days_off);
        assert_false(cb->kinds[k].working_time);
    }
    cl_policy_destroy(&p);
    /* default.json spells the same out */
    p = s_parse_default();
    const cl_cb_policy_t *d = &p->sites[0].callbacks;
    for (int k = 1; k < CL_CB_KINDS; k++) {
        char why[32];
        snprintf(why, sizeof why, "kind %d", k);
        if (d->kinds[k].share != (k == K(COMPLAINT) ? 1.0 : k == K(REPAIR) ? 0.3 : 0.1))
            fail_msg("default.json: share of %s", why);
        assert_int_equal(d->kinds[k].within_s, k == K(COMPLAINT) ? 3 * 86400 : 30 * 86400);
    }
    cl_policy_destroy(&p);
}

static void test_callbacks_are_read_over_their_defaults(void **state)
{
    (void)state;
    cl_err_t err;
    cl_policy_t *p = s_parse_doc(
        s_with_member("callbacks",
                      "{\"windows\": [\"10:00-11:00\"], \"per_window\": 2, \"max_attempts\": 5,"
                      " \"aspects\": [\"speed\"], \"kinds\": {\"repair\": {\"within\": \"5d\", \"share\": 0.5,"
                      " \"working_time\": true, \"days_off\": true, \"department\": \"eng\","
                      " \"performer\": {\"major\": \"supervisor\"},"
                      " \"modes\": [{\"from\": 1, \"modes\": [\"sms\"]}, {\"from\": 3, \"severities\": [\"major\"],"
                      " \"modes\": [\"visit\", \"email\"]}]}}}"),
        &err);
    if (!p)
        fail_msg("refused: %s: %s", err.field, err.message);
    const cl_cb_policy_t *cb = &p->sites[0].callbacks;
    assert_int_equal(cb->nwindows, 1);
    assert_int_equal(cb->windows[0].from_min, 600);
    assert_int_equal(cb->per_window, 2);
    assert_int_equal(cb->max_attempts, 5);
    assert_int_equal(cb->naspects, 1);
    assert_string_equal(cb->aspects[0], "speed");
    const cl_cb_kind_t *r = &cb->kinds[K(REPAIR)];
    assert_int_equal(r->within_s, 5 * 86400);
    assert_true(r->share == 0.5);
    assert_true(r->working_time);
    assert_true(r->days_off);
    assert_int_equal(r->department, s_department(&p->sites[0], "eng"));
    assert_int_equal(r->performer[CASELOOP__V1__SEVERITY__SEVERITY_MAJOR], CL_ROLE_SUPERVISOR);
    assert_int_equal(r->performer[CASELOOP__V1__SEVERITY__SEVERITY_GENERAL], CL_ROLE_ASSISTANT);
    assert_int_equal(r->nmodes, 2);
    assert_int_equal(r->modes[0].modes, MODE(SMS));
    assert_int_equal(r->modes[1].from_callback, 3);
    assert_int_equal(r->modes[1].severities, 1u << CASELOOP__V1__SEVERITY__SEVERITY_MAJOR);
    assert_int_equal(r->modes[1].modes, MODE(VISIT) | MODE(EMAIL));
    /* the other kinds keep theirs */
    assert_int_equal(cb->kinds[K(COMPLAINT)].within_s, 3 * 86400);
    cl_policy_destroy(&p);
}

static void test_bad_callback_policies_are_refused_by_path(void **state)
{
    (void)state;
#define CB(json) s_with_member("callbacks", json)
    s_refused(CB("{\"windows\": [\"11:00-10:00\"]}"), "sites[0].callbacks.windows[0]", "interval");
    s_refused(CB("{\"windows\": [\"10:00-11:00\", \"10:30-12:00\"]}"), "sites[0].callbacks.windows[1]", "in order");
    s_refused(CB("{\"windows\": []}"), "sites[0].callbacks.windows", "empty");
    s_refused(CB("{\"per_window\": 0}"), "sites[0].callbacks.per_window", "1 to 1000");
    s_refused(CB("{\"max_attempts\": \"3\"}"), "sites[0].callbacks.max_attempts", "string");
    s_refused(CB("{\"aspects\": [\"a\", \"a\"]}"), "sites[0].callbacks.aspects[1]", "twice");
    s_refused(CB("{\"kinds\": {\"gossip\": {}}}"), "sites[0].callbacks.kinds.gossip", "not one of");
    s_refused(CB("{\"kinds\": {\"repair\": {\"share\": 1.5}}}"), "sites[0].callbacks.kinds.repair.share", "0 to 1");
    s_refused(CB("{\"kinds\": {\"repair\": {\"within\": \"soon\"}}}"), "sites[0].callbacks.kinds.repair.within",
              "duration");
    s_refused(CB("{\"kinds\": {\"repair\": {\"performer\": {\"general\": \"boss\"}}}}"),
              "sites[0].callbacks.kinds.repair.performer.general", "not a role");
    s_refused(CB("{\"kinds\": {\"repair\": {\"department\": \"nope\"}}}"),
              "sites[0].callbacks.kinds.repair.department", "nope");
    s_refused(CB("{\"kinds\": {\"repair\": {\"modes\": [{\"modes\": [\"fax\"]}]}}}"),
              "sites[0].callbacks.kinds.repair.modes[0].modes[0]", "phone");
    s_refused(CB("{\"kinds\": {\"repair\": {\"modes\": [{\"from\": 2}]}}}"),
              "sites[0].callbacks.kinds.repair.modes[0].modes", "missing");
    s_refused(CB("{\"kinds\": {\"repair\": {\"color\": 1}}}"), "sites[0].callbacks.kinds.repair.color", "within");
    /* Windows that cannot hold a deadline: one a day on the working days of the default
       calendar (Monday to Friday), a complaint due a day after closing: closed on Friday after
       the window, it would wait until Monday. */
    s_refused(CB("{\"windows\": [\"10:00-11:00\"], \"kinds\": {\"complaint\": {\"within\": \"1d\"}}}"),
              "sites[0].callbacks.kinds.complaint.within", "Friday at 11:00");
    /* The same day counted in working time (9 hours a day) holds: from Friday 11:00 to
       Monday 10:00 is 8 working hours. */
    cl_err_t err;
    cl_policy_t *p = s_parse_doc(
        CB("{\"windows\": [\"10:00-11:00\"], \"kinds\": {\"complaint\": {\"within\": \"9h\", \"working_time\": true}}}"),
        &err);
    if (!p)
        fail_msg("refused: %s: %s", err.field, err.message);
    cl_policy_destroy(&p);
    /* ... and with days off callable, a day holds in wall time too. */
    p = s_parse_doc(CB("{\"windows\": [\"10:00-11:00\"], \"kinds\": {\"complaint\": {\"within\": \"1d\","
                       " \"days_off\": true}}}"),
                    &err);
    if (!p)
        fail_msg("refused: %s: %s", err.field, err.message);
    cl_policy_destroy(&p);
    /* A site that says nothing of callbacks is not refused for the defaults: a calendar that
       works one day a week cannot hold a complaint's 3 days, and its callbacks come late. */
    json_t *doc = s_with_member("calendar", "{\"working_hours\": {\"wed\": [\"09:00-18:00\"]}}");
    p = s_parse_doc(doc, &err);
    if (!p)
        fail_msg("refused: %s: %s", err.field, err.message);
    cl_policy_destroy(&p);
    doc = s_with_member("calendar", "{\"working_hours\": {\"wed\": [\"09:00-18:00\"]}}");
    json_object_set_new(s_site(doc), "callbacks", json_object());
    s_refused(doc, "sites[0].callbacks.kinds.complaint.within", "Wednesday at 16:30");
#undef CB
}

/* 2026-12-04 is a Friday. */
#define FRI_1730_SHANGHAI (INT64_C(1796376600) * 1000000) /* 2026-12-04 17:30 +08:00 */

static void test_the_promise_is_the_promise_clock_from_receipt_on_the_calendar(void **state)
{
    (void)state;
    cl_err_t err;
    /* C3 counts 24 hours of working time on the default calendar (Monday to Friday 09:00-18:00):
       from Friday 17:30, half an hour that day, nine on Monday and on Tuesday, five and a half on
       Wednesday: Wednesday 14:30. */
    cl_policy_t *p = s_parse_doc(s_with_clock("[{\"code\": \"C3\", \"name\": \"x\", \"starts_on\": \"dispatched\","
                                              " \"met_by\": [\"first_contact\"], \"duration\": \"24h\","
                                              " \"working_time\": true}, {\"code\": \"W\", \"name\": \"y\","
                                              " \"starts_on\": \"received\", \"met_by\": [\"answer\"],"
                                              " \"duration\": \"1h\"}, {\"code\": \"Z\", \"name\": \"z\","
                                              " \"starts_on\": \"received\", \"met_by\": [\"answer\"],"
                                              " \"duration\": 60, \"active\": false}]"),
                                 &err);
    if (!p)
        fail_msg("refused: %s: %s", err.field, err.message);
    cl_site_policy_t *s = &p->sites[0];
    int64_t by = 0;
    assert_int_equal(cl_policy_promise(s, FRI_1730_SHANGHAI, &by), 1);
    assert_int_equal(by, INT64_C(1796797800) * 1000000); /* 2026-12-09 14:30 +08:00 */
    /* A wall-time clock: its duration after receipt. */
    s->promise_clock = 1;
    assert_int_equal(cl_policy_promise(s, FRI_1730_SHANGHAI, &by), 1);
    assert_int_equal(by, FRI_1730_SHANGHAI + INT64_C(3600) * 1000000);
    /* An inactive clock, or none: nothing is promised. */
    s->promise_clock = 2;
    assert_int_equal(cl_policy_promise(s, FRI_1730_SHANGHAI, &by), 0);
    s->promise_clock = -1;
    assert_int_equal(cl_policy_promise(s, FRI_1730_SHANGHAI, &by), 0);
    cl_policy_destroy(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clocks_default_to_c1_to_c7_of_the_rules),
        cmocka_unit_test(test_callback_clocks_read_their_start_and_record),
        cmocka_unit_test(test_a_clock_reads_its_times_warnings_and_ladder),
        cmocka_unit_test(test_bad_clocks_and_calendars_are_refused_by_path),
        cmocka_unit_test(test_a_calendar_reads_its_holidays_and_extra_working_days),
        cmocka_unit_test(test_default_policy_parses_into_site_a_with_four_departments),
        cmocka_unit_test(test_default_policy_routes_every_kind_and_severity_to_its_department),
        cmocka_unit_test(test_default_policy_routes_major_cases_through_special_routes),
        cmocka_unit_test(test_default_policy_ladder_climbs_from_assistant_to_leadership),
        cmocka_unit_test(test_default_policy_staffs_every_department_by_day_with_a_supervisor),
        cmocka_unit_test(test_default_policy_guards_security_every_night),
        cmocka_unit_test(test_default_policy_has_chinese_and_english_keywords_for_every_kind),
        cmocka_unit_test(test_default_policy_keeps_each_site_as_compact_sorted_json),
        cmocka_unit_test(test_default_time_zone_dir_is_the_system_zoneinfo),
        cmocka_unit_test(test_readme_example_parses),
        cmocka_unit_test(test_small_policy_reads_staff_departments_and_shifts),
        cmocka_unit_test(test_shift_days_and_times_read_as_bits_and_minutes),
        cmocka_unit_test(test_route_takes_exact_severity_then_any_severity_then_the_department),
        cmocka_unit_test(test_any_severity_route_closes_a_routing_gap),
        cmocka_unit_test(test_site_is_found_by_its_code),
        cmocka_unit_test(test_malformed_json_is_refused_with_its_line),
        cmocka_unit_test(test_repeated_json_member_is_refused_with_its_line),
        cmocka_unit_test(test_document_that_is_not_an_object_is_refused),
        cmocka_unit_test(test_unknown_member_is_refused_wherever_it_is),
        cmocka_unit_test(test_missing_member_is_refused),
        cmocka_unit_test(test_member_of_the_wrong_type_is_refused),
        cmocka_unit_test(test_unknown_kind_is_refused_naming_the_kinds),
        cmocka_unit_test(test_unknown_severity_is_refused),
        cmocka_unit_test(test_unknown_role_is_refused),
        cmocka_unit_test(test_unknown_time_zone_is_refused),
        cmocka_unit_test(test_duplicate_staff_id_is_refused),
        cmocka_unit_test(test_duplicate_department_and_site_codes_are_refused),
        cmocka_unit_test(test_routing_gap_is_refused_naming_the_kind),
        cmocka_unit_test(test_reports_to_cycle_is_refused_naming_a_staff_member),
        cmocka_unit_test(test_reports_to_someone_not_on_the_staff_is_refused),
        cmocka_unit_test(test_bad_shift_time_is_refused),
        cmocka_unit_test(test_bad_shift_days_are_refused),
        cmocka_unit_test(test_unknown_department_in_a_route_is_refused),
        cmocka_unit_test(test_customer_service_must_name_a_department),
        cmocka_unit_test(test_empty_lists_that_need_items_are_refused),
        cmocka_unit_test(test_second_route_for_the_same_kind_and_severity_is_refused),
        cmocka_unit_test(test_refusal_late_in_a_document_frees_what_was_read),
        cmocka_unit_test(test_destroy_accepts_null_and_clears_the_pointer),
        cmocka_unit_test(test_role_names_round_trip),
        cmocka_unit_test(test_intake_terms_default_to_c3_a_week_half_alike_and_five_minutes),
        cmocka_unit_test(test_intake_terms_are_read_and_refused_by_path),
        cmocka_unit_test(test_callbacks_default_to_the_rules_for_every_kind),
        cmocka_unit_test(test_callbacks_are_read_over_their_defaults),
        cmocka_unit_test(test_bad_callback_policies_are_refused_by_path),
        cmocka_unit_test(test_the_promise_is_the_promise_clock_from_receipt_on_the_calendar),
    };
    return cmocka_run_group_tests(tests, s_group_setup, s_group_teardown);
}
