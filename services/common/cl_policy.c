/* cl_policy.c - reads and checks a policy document (deploy/policy/README.md) into plain structs. */
#include "cl_policy.h"
#include "cl_tz.h"
#include "caseloop/v1/lifecycle.pb-c.h"
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "caseloop/v1/callback.pb-c.h"
#include "caseloop/v1/common.pb-c.h"

/* Limits in bytes of UTF-8 text; a case's site and first receiver have the same (case.proto). */
#define S_CODE_MAX 64        /* site and department codes */
#define S_ID_MAX 100         /* staff ids */
#define S_NAME_MAX 200       /* display names */
#define S_TZ_MAX 100         /* time zone names */
#define S_WORD_MAX 100       /* one keyword */
#define S_ITEMS_MAX 4096     /* elements of any one list */
#define S_QUOTE_MAX 48       /* bytes of a value quoted in a message */
#define S_DEFAULT_TZ_DIR "/usr/share/zoneinfo"

#define S_KIND_PREFIX "KIND_"
#define S_SEVERITY_PREFIX "SEVERITY_"

static const char *const S_ROLE_NAMES[CL_ROLE_COUNT] = {
    "assistant", "specialist", "supervisor", "project_head", "manager", "leadership",
};

/* The state of one parse: where we are in the document, and where errors go. */
typedef struct {
    cl_err_t *err;
    const char *tz_dir;
    char path[192];          /* "sites[0].staff[3]" */
    size_t len;
} s_ctx_t;

/* --------------------------------------------------------------------------------------------
 * Paths, quoting and refusals
 */

/* Appends to the path; returns the length to give back to s_pop. */
static size_t s_push(s_ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t s_push(s_ctx_t *c, const char *fmt, ...)
{
    size_t saved = c->len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(c->path + c->len, sizeof c->path - c->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        c->len += (size_t)n;
    if (c->len >= sizeof c->path)
        c->len = sizeof c->path - 1;
    return saved;
}

/* Appends member key to the path. */
static size_t s_push_key(s_ctx_t *c, const char *key)
{
    return c->len ? s_push(c, ".%s", key) : s_push(c, "%s", key);
}

static void s_pop(s_ctx_t *c, size_t saved)
{
    c->len = saved;
    c->path[saved] = '\0';
}

/* Copies s into out for a message: at most S_QUOTE_MAX bytes cut at a character
   boundary ("..." marks the cut), control characters and quotes as '?'. */
static const char *s_quote(const char *s, char out[S_QUOTE_MAX + 4])
{
    size_t n = strlen(s), i = 0;
    if (n > S_QUOTE_MAX) {
        n = S_QUOTE_MAX;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    for (; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[i] = (ch < 0x20 || ch == 0x7f || ch == '"' || ch == '\\') ? '?' : (char)ch;
    }
    if (n < strlen(s)) {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
    return out;
}

/* Cuts a character that a length limit left incomplete at the end of s. */
static void s_trim_utf8(char *s)
{
    size_t n = strlen(s), lead = n;
    while (lead > 0 && ((unsigned char)s[lead - 1] & 0xC0) == 0x80)
        lead--;
    if (lead == 0)
        return;
    unsigned char ch = (unsigned char)s[lead - 1];
    size_t want = ch < 0x80 ? 1 : ch >= 0xF0 ? 4 : ch >= 0xE0 ? 3 : ch >= 0xC0 ? 2 : 1;
    if (n - (lead - 1) < want)
        s[lead - 1] = '\0';
}

/* Refuses with INVALID_ARGUMENT at the current path. Returns -1. */
static int s_fail(s_ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int s_fail(s_ctx_t *c, const char *fmt, ...)
{
    char msg[sizeof c->err->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    s_trim_utf8(msg);
    return cl_err_set(c->err, CL_INVALID_ARGUMENT, c->path, "%s", msg);
}

static int s_no_memory(s_ctx_t *c)
{
    return cl_err_set(c->err, CL_INTERNAL, "", "could not allocate memory for the policy");
}

/* calloc that refuses through c; n == 0 gives NULL and succeeds. */
static int s_alloc(s_ctx_t *c, size_t n, size_t size, void **out)
{
    *out = NULL;
    if (n == 0)
        return 0;
    *out = calloc(n, size);
    return *out ? 0 : s_no_memory(c);
}

static int s_strdup(s_ctx_t *c, const char *s, char **out)
{
    *out = strdup(s);
    return *out ? 0 : s_no_memory(c);
}

static const char *s_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "a list";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "a value";
}

/* --------------------------------------------------------------------------------------------
 * Enum names, from the generated descriptors: "KIND_SPECIAL_SERVICE" reads "special_service"
 */

/* True when upper (an enum name's tail) lowercased equals text. */
static bool s_lower_eq(const char *upper, const char *text)
{
    for (; *upper && *text; upper++, text++) {
        char u = (*upper >= 'A' && *upper <= 'Z') ? (char)(*upper - 'A' + 'a') : *upper;
        if (u != *text)
            return false;
    }
    return *upper == '\0' && *text == '\0';
}

/* The value named text (lowercase, without prefix), never the 0 value; -1 if none. */
static int s_enum_parse(const ProtobufCEnumDescriptor *d, const char *prefix, const char *text)
{
    size_t pl = strlen(prefix);
    for (unsigned i = 0; i < d->n_values; i++) {
        const ProtobufCEnumValue *v = &d->values[i];
        if (v->value != 0 && strncmp(v->name, prefix, pl) == 0 && s_lower_eq(v->name + pl, text))
            return v->value;
    }
    return -1;
}

/* Writes value's document name into out ("special_service"). */
static const char *s_enum_name(const ProtobufCEnumDescriptor *d, const char *prefix, int value,
                               char *out, size_t size)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(d, value);
    const char *name = v ? v->name : "?";
    size_t pl = strlen(prefix), i = 0;
    if (strncmp(name, prefix, pl) == 0)
        name += pl;
    for (; name[i] && i + 1 < size; i++)
        out[i] = (name[i] >= 'A' && name[i] <= 'Z') ? (char)(name[i] - 'A' + 'a') : name[i];
    out[i] = '\0';
    return out;
}

/* Writes "complaint, repair, ..." (all values but 0) into out. */
static const char *s_enum_list(const ProtobufCEnumDescriptor *d, const char *prefix, char *out, size_t size)
{
    size_t len = 0;
    out[0] = '\0';
    for (unsigned i = 0; i < d->n_values; i++) {
        char name[64];
        if (d->values[i].value == 0)
            continue;
        s_enum_name(d, prefix, d->values[i].value, name, sizeof name);
        int n = snprintf(out + len, size - len, "%s%s", len ? ", " : "", name);
        if (n < 0 || (size_t)n >= size - len)
            break;
        len += (size_t)n;
    }
    return out;
}

/* --------------------------------------------------------------------------------------------
 * Members of objects
 */

/* Refuses a member of obj not named in allowed (NULL-terminated). */
static int s_check_members(s_ctx_t *c, json_t *obj, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        bool known = false;
        for (const char *const *a = allowed; *a && !known; a++)
            known = strcmp(*a, key) == 0;
        if (known)
            continue;
        char list[256], q[S_QUOTE_MAX + 4];
        size_t len = 0;
        list[0] = '\0';
        for (const char *const *a = allowed; *a; a++) {
            int n = snprintf(list + len, sizeof list - len, "%s%s", len ? ", " : "", *a);
            if (n < 0 || (size_t)n >= sizeof list - len)
                break;
            len += (size_t)n;
        }
        s_quote(key, q);
        size_t saved = s_push_key(c, q);
        s_fail(c, "member \"%s\" is not one of %s", q, list);
        s_pop(c, saved);
        return -1;
    }
    return 0;
}

/* Checks that v (at the current path, named what in messages) is an object with only allowed members. */
static int s_check_object(s_ctx_t *c, json_t *v, const char *what, const char *const *allowed)
{
    if (!json_is_object(v))
        return s_fail(c, "%s is %s; expected an object", what, s_type_name(v));
    return s_check_members(c, v, allowed);
}

/* The member key of obj in *out, checked to be of type (JSON_TRUE for a boolean).
   Absent: refused when required, else *out = NULL. */
static int s_member(s_ctx_t *c, json_t *obj, const char *key, json_type type, bool required, json_t **out)
{
    static const char *const expected[] = {
        [JSON_OBJECT] = "an object", [JSON_ARRAY] = "a list", [JSON_STRING] = "a string",
        [JSON_INTEGER] = "a number", [JSON_REAL] = "a number", [JSON_TRUE] = "true or false",
        [JSON_FALSE] = "true or false", [JSON_NULL] = "null",
    };
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v) {
        if (!required)
            return 0;
        size_t saved = s_push_key(c, key);
        s_fail(c, "member \"%s\" is missing; expected %s", key, expected[type]);
        s_pop(c, saved);
        return -1;
    }
    bool ok = type == JSON_TRUE ? json_is_boolean(v) : json_typeof(v) == type;
    if (!ok) {
        size_t saved = s_push_key(c, key);
        s_fail(c, "%s is %s; expected %s", key, s_type_name(v), expected[type]);
        s_pop(c, saved);
        return -1;
    }
    *out = v;
    return 0;
}

/* A text member: *out borrowed from the document, 1..max bytes; NULL when absent and optional. */
static int s_text(s_ctx_t *c, json_t *obj, const char *key, bool required, size_t max, const char **out)
{
    json_t *v;
    *out = NULL;
    if (s_member(c, obj, key, JSON_STRING, required, &v) < 0)
        return -1;
    if (!v)
        return 0;
    size_t len = json_string_length(v);
    if (len == 0 || len > max) {
        size_t saved = s_push_key(c, key);
        if (len == 0)
            s_fail(c, "%s is empty; expected text of 1 to %zu bytes", key, max);
        else
            s_fail(c, "%s is %zu bytes long; expected at most %zu", key, len, max);
        s_pop(c, saved);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

/* Like s_text, with the value copied into *out (owned). */
static int s_text_dup(s_ctx_t *c, json_t *obj, const char *key, bool required, size_t max, char **out)
{
    const char *s;
    *out = NULL;
    if (s_text(c, obj, key, required, max, &s) < 0)
        return -1;
    return s ? s_strdup(c, s, out) : 0;
}

/* A list member with min_items..S_ITEMS_MAX elements; NULL when absent and optional. */
static int s_list(s_ctx_t *c, json_t *obj, const char *key, bool required, size_t min_items,
                  const char *item, json_t **out)
{
    if (s_member(c, obj, key, JSON_ARRAY, required, out) < 0)
        return -1;
    if (!*out)
        return 0;
    size_t n = json_array_size(*out);
    if (n >= min_items && n <= S_ITEMS_MAX)
        return 0;
    size_t saved = s_push_key(c, key);
    if (n < min_items)
        s_fail(c, "%s is empty; expected at least one %s", key, item);
    else
        s_fail(c, "%s has %zu items; expected at most %d", key, n, S_ITEMS_MAX);
    s_pop(c, saved);
    return -1;
}

/* --------------------------------------------------------------------------------------------
 * Values: kinds, severities, roles, days, times, time zones
 */

/* v (at the current path, named what) as a kind. */
static int s_kind_value(s_ctx_t *c, json_t *v, const char *what, int *out)
{
    char list[160], q[S_QUOTE_MAX + 4];
    if (!json_is_string(v))
        return s_fail(c, "%s is %s; expected a kind", what, s_type_name(v));
    *out = s_enum_parse(&caseloop__v1__kind__descriptor, S_KIND_PREFIX, json_string_value(v));
    if (*out > 0)
        return 0;
    return s_fail(c, "%s \"%s\" is not one of %s", what, s_quote(json_string_value(v), q),
                  s_enum_list(&caseloop__v1__kind__descriptor, S_KIND_PREFIX, list, sizeof list));
}

/* The member key of obj (a list of kinds, optional) into *kinds / *n. */
static int s_kind_list(s_ctx_t *c, json_t *obj, const char *key, int **kinds, size_t *n)
{
    json_t *arr, *v;
    size_t i;
    if (s_list(c, obj, key, false, 0, "kind", &arr) < 0)
        return -1;
    if (!arr)
        return 0;
    if (s_alloc(c, json_array_size(arr), sizeof **kinds, (void **)kinds) < 0)
        return -1;
    *n = json_array_size(arr);
    json_array_foreach(arr, i, v) {
        size_t saved = s_push(c, ".%s[%zu]", key, i);
        int rc = s_kind_value(c, v, "kind", &(*kinds)[i]);
        s_pop(c, saved);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Days a shift starts on, as cl_shift_t.days bits; -1 if s names none. */
static int s_day_bits(const char *s)
{
    static const char *const days[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
    for (int i = 0; i < 7; i++)
        if (strcmp(s, days[i]) == 0)
            return 1 << i;
    if (strcmp(s, "daily") == 0)
        return 0x7f;
    if (strcmp(s, "weekdays") == 0)
        return 0x1f;
    if (strcmp(s, "weekends") == 0)
        return 0x60;
    return -1;
}

#define S_DAYS_EXPECTED "mon, tue, wed, thu, fri, sat, sun, daily, weekdays or weekends"

/* The shift's "days": one name or a non-empty list of names. */
static int s_days(s_ctx_t *c, json_t *shift, uint8_t *out)
{
    char q[S_QUOTE_MAX + 4];
    json_t *v = json_object_get(shift, "days"), *d;
    size_t i, saved;
    int rc = 0, bits;
    *out = 0;
    if (!v) {
        saved = s_push_key(c, "days");
        s_fail(c, "member \"days\" is missing; expected a day name or a list of them");
        s_pop(c, saved);
        return -1;
    }
    saved = s_push_key(c, "days");
    if (json_is_string(v)) {
        if ((bits = s_day_bits(json_string_value(v))) < 0)
            rc = s_fail(c, "days \"%s\" is not one of " S_DAYS_EXPECTED, s_quote(json_string_value(v), q));
        else
            *out = (uint8_t)bits;
    } else if (json_is_array(v) && json_array_size(v) > 0 && json_array_size(v) <= 7) {
        json_array_foreach(v, i, d) {
            size_t at = s_push(c, "[%zu]", i);
            if (!json_is_string(d))
                rc = s_fail(c, "days is %s; expected a day name", s_type_name(d));
            else if ((bits = s_day_bits(json_string_value(d))) < 0)
                rc = s_fail(c, "days \"%s\" is not one of " S_DAYS_EXPECTED, s_quote(json_string_value(d), q));
            else
                *out |= (uint8_t)bits;
            s_pop(c, at);
            if (rc < 0)
                break;
        }
    } else {
        rc = s_fail(c, "days is %s; expected a day name or a list of 1 to 7 of them",
                    json_is_array(v) && json_array_size(v) == 0 ? "an empty list" : s_type_name(v));
    }
    s_pop(c, saved);
    return rc;
}

/* The shift's member key ("from" or "to") in minutes, at most last. */
static int s_time(s_ctx_t *c, json_t *shift, const char *key, int last, int *out)
{
    char q[S_QUOTE_MAX + 4];
    const char *s;
    if (s_text(c, shift, key, true, 5, &s) < 0) {
        /* a string too long is not a time: say so in the same words */
        json_t *v = json_object_get(shift, key);
        if (!v || !json_is_string(v))
            return -1;
        s = json_string_value(v);
    }
    *out = cl_calendar_hhmm(s);
    if (*out >= 0 && *out <= last)
        return 0;
    size_t saved = s_push_key(c, key);
    s_fail(c, "%s \"%s\" is not a time of day; expected HH:MM from 00:00 to %s", key, s_quote(s, q),
           last == 24 * 60 ? "24:00" : "23:59");
    s_pop(c, saved);
    return -1;
}

/* --------------------------------------------------------------------------------------------
 * The parts of a site
 */

/* Index of the department with that code, or -1. */
static int s_department_index(const cl_site_policy_t *s, const char *code)
{
    for (size_t i = 0; i < s->ndepartments; i++)
        if (s->departments[i].code && strcmp(s->departments[i].code, code) == 0)
            return (int)i;
    return -1;
}

static int s_staff_index(const cl_site_policy_t *s, const char *id)
{
    for (size_t i = 0; i < s->nstaff; i++)
        if (s->staff[i].id && strcmp(s->staff[i].id, id) == 0)
            return (int)i;
    return -1;
}

/* The member key of obj naming a department of s: its index in *out, -1 when absent and optional. */
static int s_department_ref(s_ctx_t *c, const cl_site_policy_t *s, json_t *obj, const char *key,
                            bool required, int *out)
{
    char q[S_QUOTE_MAX + 4], site[S_QUOTE_MAX + 4];
    const char *code;
    *out = -1;
    if (s_text(c, obj, key, required, S_CODE_MAX, &code) < 0)
        return -1;
    if (!code)
        return 0;
    if ((*out = s_department_index(s, code)) >= 0)
        return 0;
    size_t saved = s_push_key(c, key);
    s_fail(c, "%s \"%s\" is not a department of site \"%s\"", key, s_quote(code, q), s_quote(s->code, site));
    s_pop(c, saved);
    return -1;
}

static int s_department(s_ctx_t *c, json_t *v, cl_site_policy_t *s, size_t i)
{
    static const char *const members[] = {"code", "name", "kinds", NULL};
    cl_department_t *d = &s->departments[i];
    char q[S_QUOTE_MAX + 4];
    if (s_check_object(c, v, "a department", members) < 0 ||
        s_text_dup(c, v, "code", true, S_CODE_MAX, &d->code) < 0 ||
        s_text_dup(c, v, "name", true, S_NAME_MAX, &d->name) < 0 ||
        s_kind_list(c, v, "kinds", &d->kinds, &d->nkinds) < 0)
        return -1;
    for (size_t j = 0; j < i; j++) {
        if (strcmp(s->departments[j].code, d->code) == 0) {
            size_t saved = s_push_key(c, "code");
            s_fail(c, "code \"%s\" is already the code of departments[%zu]; expected codes unique within the site",
                   s_quote(d->code, q), j);
            s_pop(c, saved);
            return -1;
        }
    }
    return 0;
}

static int s_shift(s_ctx_t *c, json_t *v, cl_shift_t *sh)
{
    static const char *const members[] = {"days", "from", "to", NULL};
    if (s_check_object(c, v, "a shift", members) < 0 || s_days(c, v, &sh->days) < 0 ||
        s_time(c, v, "from", 24 * 60 - 1, &sh->from_min) < 0 || s_time(c, v, "to", 24 * 60, &sh->to_min) < 0)
        return -1;
    return 0;
}

/* A staff member, all but reports_to (resolved once every id is known). */
static int s_staff(s_ctx_t *c, json_t *v, cl_site_policy_t *s, size_t i)
{
    static const char *const members[] = {
        "id", "name", "role", "department", "skills", "shifts", "reports_to", NULL};
    cl_staff_t *st = &s->staff[i];
    char q[S_QUOTE_MAX + 4];
    const char *role;
    json_t *shifts, *sh;
    size_t j;
    if (s_check_object(c, v, "a staff member", members) < 0 ||
        s_text_dup(c, v, "id", true, S_ID_MAX, &st->id) < 0)
        return -1;
    for (j = 0; j < i; j++) {
        if (strcmp(s->staff[j].id, st->id) == 0) {
            size_t saved = s_push_key(c, "id");
            s_fail(c, "id \"%s\" is already the id of staff[%zu]; expected ids unique within the site",
                   s_quote(st->id, q), j);
            s_pop(c, saved);
            return -1;
        }
    }
    if (s_text_dup(c, v, "name", true, S_NAME_MAX, &st->name) < 0 || s_text(c, v, "role", true, 32, &role) < 0)
        return -1;
    int r = cl_role_parse(role);
    if (r < 0) {
        size_t saved = s_push_key(c, "role");
        s_fail(c, "role \"%s\" is not one of assistant, specialist, supervisor, project_head, manager, leadership",
               s_quote(role, q));
        s_pop(c, saved);
        return -1;
    }
    st->role = (cl_role_t)r;
    /* the people of a department must name it; project heads and above may */
    bool needs_department = st->role <= CL_ROLE_SUPERVISOR;
    if (s_department_ref(c, s, v, "department", needs_department, &st->department) < 0 ||
        s_kind_list(c, v, "skills", &st->skills, &st->nskills) < 0 ||
        s_list(c, v, "shifts", false, 0, "shift", &shifts) < 0)
        return -1;
    if (!shifts)
        return 0;
    if (s_alloc(c, json_array_size(shifts), sizeof *st->shifts, (void **)&st->shifts) < 0)
        return -1;
    st->nshifts = json_array_size(shifts);
    json_array_foreach(shifts, j, sh) {
        size_t saved = s_push(c, ".shifts[%zu]", j);
        int rc = s_shift(c, sh, &st->shifts[j]);
        s_pop(c, saved);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* The reports_to of every staff member: existing staff of the site, and no cycle. */
static int s_reports_to(s_ctx_t *c, json_t *staff, cl_site_policy_t *s)
{
    char q[S_QUOTE_MAX + 4], site[S_QUOTE_MAX + 4];
    json_t *v;
    size_t i;
    json_array_foreach(staff, i, v) {
        const char *id;
        size_t saved = s_push(c, ".staff[%zu]", i);
        int rc = s_text(c, v, "reports_to", false, S_ID_MAX, &id);
        if (rc == 0 && id && (s->staff[i].reports_to = s_staff_index(s, id)) < 0) {
            size_t at = s_push_key(c, "reports_to");
            rc = s_fail(c, "reports_to \"%s\" is not staff of site \"%s\"", s_quote(id, q), s_quote(s->code, site));
            s_pop(c, at);
        }
        s_pop(c, saved);
        if (rc < 0)
            return -1;
    }
    /* from each person, climbing nstaff steps without reaching the top means a cycle */
    for (i = 0; i < s->nstaff; i++) {
        int j = (int)i;
        for (size_t step = 0; step < s->nstaff && j >= 0; step++)
            j = s->staff[j].reports_to;
        if (j < 0)
            continue;
        int first = j;   /* on the cycle: name its lowest index */
        for (int k = s->staff[j].reports_to; k != j; k = s->staff[k].reports_to)
            if (k < first)
                first = k;
        char next[S_QUOTE_MAX + 4];
        size_t saved = s_push(c, ".staff[%d].reports_to", first);
        s_fail(c, "staff \"%s\" is on a reports_to cycle through \"%s\"; expected a chain that ends with someone "
                  "who reports to nobody",
               s_quote(s->staff[first].id, q), s_quote(s->staff[s->staff[first].reports_to].id, next));
        s_pop(c, saved);
        return -1;
    }
    return 0;
}

static int s_route(s_ctx_t *c, json_t *v, cl_site_policy_t *s, size_t i)
{
    static const char *const members[] = {"kind", "severity", "department", "special", NULL};
    cl_route_t *r = &s->routes[i];
    char q[S_QUOTE_MAX + 4], list[96];
    json_t *kind, *sev, *special;
    if (s_check_object(c, v, "a route", members) < 0 || s_member(c, v, "kind", JSON_STRING, true, &kind) < 0)
        return -1;
    size_t saved = s_push_key(c, "kind");
    int rc = s_kind_value(c, kind, "kind", &r->kind);
    s_pop(c, saved);
    if (rc < 0 || s_member(c, v, "severity", JSON_STRING, false, &sev) < 0)
        return -1;
    if (sev && strcmp(json_string_value(sev), "*") != 0) {
        r->severity = s_enum_parse(&caseloop__v1__severity__descriptor, S_SEVERITY_PREFIX, json_string_value(sev));
        if (r->severity <= 0) {
            saved = s_push_key(c, "severity");
            s_fail(c, "severity \"%s\" is not one of %s, *", s_quote(json_string_value(sev), q),
                   s_enum_list(&caseloop__v1__severity__descriptor, S_SEVERITY_PREFIX, list, sizeof list));
            s_pop(c, saved);
            return -1;
        }
    }
    if (s_department_ref(c, s, v, "department", true, &r->department) < 0 ||
        s_member(c, v, "special", JSON_TRUE, false, &special) < 0)
        return -1;
    r->special = special && json_is_true(special);
    for (size_t j = 0; j < i; j++) {
        if (s->routes[j].kind == r->kind && s->routes[j].severity == r->severity) {
            char kname[64], sname[64];
            s_enum_name(&caseloop__v1__kind__descriptor, S_KIND_PREFIX, r->kind, kname, sizeof kname);
            if (r->severity)
                s_enum_name(&caseloop__v1__severity__descriptor, S_SEVERITY_PREFIX, r->severity, sname, sizeof sname);
            else
                snprintf(sname, sizeof sname, "*");
            return s_fail(c, "route for kind %s, severity %s repeats routing[%zu]; expected one route per kind "
                             "and severity", kname, sname, j);
        }
    }
    return 0;
}

static int s_keyword_rule(s_ctx_t *c, json_t *v, cl_keyword_rule_t *k)
{
    static const char *const members[] = {"kind", "words", NULL};
    json_t *kind, *words, *w;
    size_t i;
    if (s_check_object(c, v, "a keyword rule", members) < 0 || s_member(c, v, "kind", JSON_STRING, true, &kind) < 0)
        return -1;
    size_t saved = s_push_key(c, "kind");
    int rc = s_kind_value(c, kind, "kind", &k->kind);
    s_pop(c, saved);
    if (rc < 0 || s_list(c, v, "words", true, 1, "word", &words) < 0)
        return -1;
    if (s_alloc(c, json_array_size(words), sizeof *k->words, (void **)&k->words) < 0)
        return -1;
    k->nwords = json_array_size(words);
    json_array_foreach(words, i, w) {
        size_t at = s_push(c, ".words[%zu]", i);
        if (!json_is_string(w))
            rc = s_fail(c, "words is %s; expected a word", s_type_name(w));
        else if (json_string_length(w) == 0 || json_string_length(w) > S_WORD_MAX)
            rc = s_fail(c, "word of %zu bytes; expected 1 to %d bytes", json_string_length(w), S_WORD_MAX);
        else
            rc = s_strdup(c, json_string_value(w), &k->words[i]);
        s_pop(c, at);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Reads the list member key of site with one reader per element into a calloc'd array. */
typedef int (*s_item_fn)(s_ctx_t *c, json_t *v, cl_site_policy_t *s, size_t i);

static int s_items(s_ctx_t *c, json_t *site, const char *key, bool required, size_t min_items,
                   const char *item, size_t size, void **array, size_t *n, cl_site_policy_t *s, s_item_fn fn,
                   json_t **list_out)
{
    json_t *arr, *v;
    size_t i;
    if (list_out)
        *list_out = NULL;
    if (s_list(c, site, key, required, min_items, item, &arr) < 0)
        return -1;
    if (!arr)
        return 0;
    if (s_alloc(c, json_array_size(arr), size, array) < 0)
        return -1;
    *n = json_array_size(arr);
    json_array_foreach(arr, i, v) {
        size_t saved = s_push(c, ".%s[%zu]", key, i);
        int rc = fn(c, v, s, i);
        s_pop(c, saved);
        if (rc < 0)
            return -1;
    }
    if (list_out)
        *list_out = arr;
    return 0;
}

/* Adapters from s_items' element reader to the per-type readers. */
static int s_staff_item(s_ctx_t *c, json_t *v, cl_site_policy_t *s, size_t i)
{
    s->staff[i].department = -1;
    s->staff[i].reports_to = -1;
    return s_staff(c, v, s, i);
}

static int s_keyword_item(s_ctx_t *c, json_t *v, cl_site_policy_t *s, size_t i)
{
    return s_keyword_rule(c, v, &s->keywords[i]);
}

/* Refuses the first kind (in enum order) that no department lists and no any-severity route takes. */
static int s_check_gaps(s_ctx_t *c, const cl_site_policy_t *s)
{
    const ProtobufCEnumDescriptor *d = &caseloop__v1__kind__descriptor;
    for (unsigned v = 0; v < d->n_values; v++) {
        int kind = d->values[v].value;
        bool covered = kind == 0;
        for (size_t i = 0; i < s->ndepartments && !covered; i++)
            for (size_t j = 0; j < s->departments[i].nkinds && !covered; j++)
                covered = s->departments[i].kinds[j] == kind;
        for (size_t i = 0; i < s->nroutes && !covered; i++)
            covered = s->routes[i].kind == kind && s->routes[i].severity == 0;
        if (covered)
            continue;
        char name[64];
        size_t saved = s_push_key(c, "departments");
        s_fail(c, "kind \"%s\" goes to no department; expected a department listing it in kinds or a route "
                  "for it with any severity",
               s_enum_name(d, S_KIND_PREFIX, kind, name, sizeof name));
        s_pop(c, saved);
        return -1;
    }
    return 0;
}

/* --------------------------------------------------------------------------------------------
 * Calendar, quiet hours and clocks
 */

/* A day's hours: a list of "HH:MM-HH:MM". */
static int s_hours(s_ctx_t *c, json_t *v, cl_calendar_hours_t *h)
{
    char q[S_QUOTE_MAX + 4];
    json_t *item;
    size_t i;
    h->n = 0;
    if (!json_is_array(v) || json_array_size(v) > CL_CALENDAR_MAX_INTERVALS)
        return s_fail(c, "hours are %s; expected a list of up to %d \"HH:MM-HH:MM\"", s_type_name(v),
                      CL_CALENDAR_MAX_INTERVALS);
    json_array_foreach(v, i, item) {
        if (!json_is_string(item) || cl_calendar_interval_parse(json_string_value(item), &h->iv[h->n]) < 0) {
            size_t saved = s_push(c, "[%zu]", i);
            s_fail(c, "%s is not an interval; expected \"HH:MM-HH:MM\" with the end after the start",
                   json_is_string(item) ? s_quote(json_string_value(item), q) : s_type_name(item));
            s_pop(c, saved);
            return -1;
        }
        h->n++;
    }
    return 0;
}

/* "YYYY-MM-DD" into a date, or -1 (the calendar checks the day exists). */
static int s_date(const char *text, cl_calendar_date_t *d)
{
    char tail;
    return sscanf(text, "%4d-%2d-%2d%c", &d->year, &d->month, &d->day, &tail) == 3 && strlen(text) == 10 ? 0 : -1;
}

/* The site's working calendar (R-CL-3) from its "calendar" member, in its time
   zone: working hours per weekday, holidays, extra working days; Monday to
   Friday 09:00-18:00 when not given. Returns 0, or -1 with the failure set on c. */
static int s_calendar(s_ctx_t *c, json_t *site, cl_site_policy_t *s)
{
    static const char *const members[] = {"working_hours", "holidays", "extra_working_days", NULL};
    static const char *const days[7] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
    cl_calendar_spec_t spec;
    memset(&spec, 0, sizeof spec);
    spec.tz = s->time_zone;
    cl_calendar_date_t *holidays = NULL;
    cl_calendar_extra_t *extras = NULL;
    json_t *cal = json_object_get(site, "calendar"), *v;
    int rc = -1;
    size_t saved = s_push_key(c, "calendar");
    if (!cal) {
        for (int d = 1; d <= 5; d++)
            spec.week[d] = (cl_calendar_hours_t){1, {{9 * 60, 18 * 60}}};
    } else {
        if (s_check_object(c, cal, "a calendar", members) < 0)
            goto out;
        json_t *wh = json_object_get(cal, "working_hours");
        if (!wh || !json_is_object(wh)) {
            s_fail(c, "working_hours is %s; expected an object of day names (mon..sun) to hour lists",
                   wh ? s_type_name(wh) : "missing");
            goto out;
        }
        const char *key;
        json_object_foreach(wh, key, v) {
            int d = -1;
            for (int k = 0; k < 7; k++)
                if (strcmp(key, days[k]) == 0)
                    d = k;
            size_t at = s_push(c, ".working_hours.%s", key);
            int r = d < 0 ? s_fail(c, "\"%s\" is not a day; expected mon, tue, wed, thu, fri, sat or sun", key)
                          : s_hours(c, v, &spec.week[d]);
            s_pop(c, at);
            if (r < 0)
                goto out;
        }
        json_t *list = json_object_get(cal, "holidays");
        size_t i, n = list && json_is_array(list) ? json_array_size(list) : 0;
        if (list && !json_is_array(list)) {
            s_fail(c, "holidays is %s; expected a list of \"YYYY-MM-DD\"", s_type_name(list));
            goto out;
        }
        holidays = calloc(n + 1, sizeof *holidays);
        if (!holidays) {
            s_no_memory(c);
            goto out;
        }
        json_array_foreach(list, i, v) {
            if (!json_is_string(v) || s_date(json_string_value(v), &holidays[i]) < 0) {
                size_t at = s_push(c, ".holidays[%zu]", i);
                s_fail(c, "a holiday is not a date; expected \"YYYY-MM-DD\"");
                s_pop(c, at);
                goto out;
            }
        }
        spec.holidays = holidays, spec.n_holidays = n;
        list = json_object_get(cal, "extra_working_days");
        if (list && !json_is_array(list)) {
            s_fail(c, "extra_working_days is %s; expected a list of \"YYYY-MM-DD\"", s_type_name(list));
            goto out;
        }
        n = list ? json_array_size(list) : 0;
        extras = calloc(n + 1, sizeof *extras);
        if (!extras) {
            s_no_memory(c);
            goto out;
        }
        spec.extra_hours = (cl_calendar_hours_t){1, {{9 * 60, 18 * 60}}};
        json_array_foreach(list, i, v) {
            extras[i].hours_of = 1; /* the hours of a Monday */
            if (!json_is_string(v) || s_date(json_string_value(v), &extras[i].date) < 0) {
                size_t at = s_push(c, ".extra_working_days[%zu]", i);
                s_fail(c, "an extra working day is not a date; expected \"YYYY-MM-DD\" (it works a Monday's hours)");
                s_pop(c, at);
                goto out;
            }
        }
        spec.extra_days = extras, spec.n_extra_days = n;
    }
    cl_err_t cerr;
    s->calendar = cl_calendar_new(&spec, &cerr);
    if (!s->calendar) {
        s_fail(c, "%s", cerr.message);
        goto out;
    }
    rc = 0;
out:
    s_pop(c, saved);
    free(holidays);
    free(extras);
    return rc;
}

/* "90s", "5m", "1h", "3d" or a number of seconds, into seconds; -1 when neither. */
#define S_DURATION_MAX (366LL * 86400) /* a year: clock durations and ladder levels */

static int64_t s_duration(json_t *v)
{
    long long n, unit = 1;
    if (json_is_integer(v)) {
        n = json_integer_value(v);
    } else if (json_is_string(v)) {
        const char *t = json_string_value(v);
        char *end;
        n = strtoll(t, &end, 10);
        if (end == t || strlen(end) != 1)
            return -1;
        switch (*end) {
        case 's': unit = 1; break;
        case 'm': unit = 60; break;
        case 'h': unit = 3600; break;
        case 'd': unit = 86400; break;
        default: return -1;
        }
    } else {
        return -1;
    }
    /* Positive and at most a year, checked before multiplying so that nothing overflows. */
    if (n <= 0 || n > S_DURATION_MAX / unit)
        return -1;
    return n * unit;
}

/* A ladder: a list of {"role": ROLE, "for": DURATION}; the last level's "for" may be left out. */
static int s_ladder(s_ctx_t *c, json_t *clock, const char *key, cl_role_t *roles, int64_t *secs, size_t *n)
{
    static const char *const members[] = {"role", "for", NULL};
    json_t *list = json_object_get(clock, key), *v;
    size_t i;
    if (!list)
        return 0;
    size_t saved = s_push_key(c, key);
    int rc = 0;
    if (!json_is_array(list) || json_array_size(list) == 0 || json_array_size(list) > CL_CLOCK_MAX_LADDER) {
        rc = s_fail(c, "%s is %s; expected a list of 1 to %d levels", key, s_type_name(list), CL_CLOCK_MAX_LADDER);
        goto out;
    }
    *n = 0;
    json_array_foreach(list, i, v) {
        size_t at = s_push(c, "[%zu]", i);
        const char *role;
        json_t *f;
        if (s_check_object(c, v, "a ladder level", members) < 0 || s_text(c, v, "role", true, 32, &role) < 0)
            rc = -1;
        else if (cl_role_parse(role) < 0)
            rc = s_fail(c, "role \"%s\" is not one of assistant, specialist, supervisor, project_head, manager, "
                           "leadership", role);
        else {
            roles[i] = (cl_role_t)cl_role_parse(role);
            f = json_object_get(v, "for");
            secs[i] = f ? s_duration(f) : 3600;
            if (secs[i] < 0)
                rc = s_fail(c, "for is not a duration; expected seconds or \"90s\", \"5m\", \"1h\", \"3d\", up to a year");
        }
        s_pop(c, at);
        if (rc < 0)
            goto out;
        (*n)++;
    }
out:
    s_pop(c, saved);
    return rc;
}

static int s_action_bit(const char *name)
{
    static const char *const names[] = {"", "acknowledge", "first_contact", "progress", "resolve", "report_result",
                                        "reopen", "close", "wait_for_customer", "resume", "answer"};
    for (int i = 1; i < 11; i++)
        if (strcmp(name, names[i]) == 0)
            return 1 << i;
    if (strcmp(name, "callback_recorded") == 0)
        return (int)CL_CLOCK_MEET_CALLBACK_RECORDED;
    return -1;
}

/* The defaults of a clock that the policy does not set: warnings at 50% and
   80% of its time, when customer service urges the department (R-CL-1); once
   missed, supervisor, project head and leadership an hour apart, a major case
   from the manager (R-CL-2). */
static void s_default_ladders(cl_clock_def_t *d)
{
    d->nwarn = 2, d->warn_pct[0] = 50, d->warn_pct[1] = 80;
    d->nladder = 3;
    d->ladder[0] = CL_ROLE_SUPERVISOR, d->ladder[1] = CL_ROLE_PROJECT_HEAD, d->ladder[2] = CL_ROLE_LEADERSHIP;
    d->ladder_s[0] = d->ladder_s[1] = d->ladder_s[2] = 3600;
    d->nmajor_ladder = 2;
    d->major_ladder[0] = CL_ROLE_MANAGER, d->major_ladder[1] = CL_ROLE_LEADERSHIP;
    d->major_ladder_s[0] = d->major_ladder_s[1] = 3600;
    d->active = true;
}

/* A list of action names into their bits. */
static int s_actions(s_ctx_t *c, json_t *v, const char *key, bool required, uint32_t *bits)
{
    json_t *x, *item;
    size_t k;
    if (s_list(c, v, key, required, 1, "action", &x) < 0)
        return -1;
    /* A callback's record can meet a clock; only case actions pause and resume one. */
    bool meets = strcmp(key, "met_by") == 0;
    json_array_foreach(x, k, item) {
        int bit = json_is_string(item) ? s_action_bit(json_string_value(item)) : -1;
        if (bit < 0 || (!meets && bit == (int)CL_CLOCK_MEET_CALLBACK_RECORDED)) {
            size_t at = s_push(c, ".%s[%zu]", key, k);
            s_fail(c, "an action is not one of acknowledge, first_contact, progress, resolve, report_result, reopen, "
                      "close, wait_for_customer, resume, answer%s",
                   meets ? ", callback_recorded" : "");
            s_pop(c, at);
            return -1;
        }
        *bits |= (uint32_t)bit;
    }
    return 0;
}

/* Adds the event `name` names to *starts (CL_CLOCK_STARTS); false, failing at
   the current path, when it names none. */
static bool s_start(s_ctx_t *c, const char *name, uint32_t *starts)
{
    static const struct {
        const char *name;
        cl_clock_start_t on;
    } events[] = {
        {"received", CL_CLOCK_ON_RECEIVED},       {"dispatched", CL_CLOCK_ON_DISPATCHED},
        {"reopened", CL_CLOCK_ON_REOPENED},       {"returned", CL_CLOCK_ON_RETURNED},
        {"transferred", CL_CLOCK_ON_TRANSFERRED}, {"callback_made", CL_CLOCK_ON_CALLBACK_MADE},
        {"raised_in_callback", CL_CLOCK_ON_RAISED_IN_CALLBACK},
    };
    for (size_t i = 0; i < sizeof events / sizeof *events; i++)
        if (strcmp(name, events[i].name) == 0) {
            *starts |= CL_CLOCK_STARTS(events[i].on);
            return true;
        }
    s_fail(c, "starts_on \"%s\" is not received, dispatched, reopened, returned, transferred, callback_made or "
              "raised_in_callback", name);
    return false;
}

static int s_clock(s_ctx_t *c, json_t *v, cl_site_policy_t *s, size_t i)
{
    static const char *const members[] = {"code", "name", "starts_on", "met_by", "pauses_on", "resumes_on", "duration",
                                          "working_time", "warn_at", "ladder", "major_ladder", "on_policy_change",
                                          "active", NULL};
    cl_clock_def_t *d = &s->clocks[i];
    s_default_ladders(d);
    const char *change;
    json_t *x, *item;
    size_t k;
    if (s_check_object(c, v, "a clock", members) < 0 || s_text_dup(c, v, "code", true, 16, &d->code) < 0 ||
        s_text_dup(c, v, "name", true, S_NAME_MAX, &d->name) < 0)
        return -1;
    for (size_t j = 0; j < i; j++)
        if (strcmp(s->clocks[j].code, d->code) == 0) {
            size_t at = s_push_key(c, "code");
            s_fail(c, "code \"%s\" is already the code of clocks[%zu]; expected codes unique within the site", d->code, j);
            s_pop(c, at);
            return -1;
        }
    size_t at = s_push_key(c, "starts_on");
    json_t *so = json_object_get(v, "starts_on");
    d->starts = 0;
    if (json_is_string(so)) {
        s_start(c, json_string_value(so), &d->starts);
    } else if (json_is_array(so) && json_array_size(so) >= 1 && json_array_size(so) <= 8) {
        json_array_foreach(so, k, item) {
            size_t at2 = s_push(c, "[%zu]", k);
            if (!json_is_string(item) || !s_start(c, json_string_value(item), &d->starts)) {
                if (!json_is_string(item))
                    s_fail(c, "expected the name of an event");
                s_pop(c, at2);
                d->starts = 0;
                break;
            }
            s_pop(c, at2);
        }
    } else {
        s_fail(c, "expected an event or a list of 1 to 8 events");
    }
    s_pop(c, at);
    if (!d->starts)
        return -1;
    if (s_actions(c, v, "met_by", true, &d->met_by) < 0 || s_actions(c, v, "pauses_on", false, &d->pauses_on) < 0 ||
        s_actions(c, v, "resumes_on", false, &d->resumes_on) < 0)
        return -1;
    at = s_push_key(c, "duration");
    x = json_object_get(v, "duration");
    d->duration_s = x ? s_duration(x) : -1;
    if (d->duration_s < 0)
        s_fail(c, "duration is %s; expected seconds or \"90s\", \"5m\", \"1h\", \"3d\", up to a year",
               x ? "not a duration" : "missing");
    s_pop(c, at);
    if (d->duration_s < 0)
        return -1;
    if ((x = json_object_get(v, "working_time")) && !json_is_boolean(x))
        return s_push_key(c, "working_time"), s_fail(c, "working_time is %s; expected true or false", s_type_name(x));
    d->working_time = x && json_is_true(x);
    if ((x = json_object_get(v, "warn_at"))) {
        at = s_push_key(c, "warn_at");
        int last = 0;
        d->nwarn = 0;
        if (!json_is_array(x) || json_array_size(x) > CL_CLOCK_MAX_WARNINGS) {
            s_fail(c, "warn_at is %s; expected a list of up to %d percents", s_type_name(x), CL_CLOCK_MAX_WARNINGS);
            s_pop(c, at);
            return -1;
        }
        json_array_foreach(x, k, item) {
            int pct = json_is_integer(item) ? (int)json_integer_value(item) : -1;
            if (pct <= last || pct >= 100) {
                s_fail(c, "warn_at[%zu] is not a percent above the one before it and below 100", k);
                s_pop(c, at);
                return -1;
            }
            d->warn_pct[d->nwarn++] = last = pct;
        }
        s_pop(c, at);
    }
    if (s_ladder(c, v, "ladder", d->ladder, d->ladder_s, &d->nladder) < 0 ||
        s_ladder(c, v, "major_ladder", d->major_ladder, d->major_ladder_s, &d->nmajor_ladder) < 0 ||
        s_text(c, v, "on_policy_change", false, 16, &change) < 0)
        return -1;
    if (change && strcmp(change, "retime") != 0 && strcmp(change, "keep") != 0) {
        at = s_push_key(c, "on_policy_change");
        s_fail(c, "on_policy_change \"%s\" is not retime or keep", change);
        s_pop(c, at);
        return -1;
    }
    d->retime = change && strcmp(change, "retime") == 0;
    if ((x = json_object_get(v, "active")) && !json_is_boolean(x))
        return s_push_key(c, "active"), s_fail(c, "active is %s; expected true or false", s_type_name(x));
    d->active = !x || json_is_true(x);
    return 0;
}

/* The site's quiet hours and response clocks: those the policy lists, else the
   defaults (docs/rules.md): C1 reception answers within 5 minutes
   (R-IN-5), C2 the feedback form reaches the department within 1 hour, C3 the
   department contacts the customer within 24 hours of dispatch, C4 the
   department head decides on a returned case within 1 hour, C5 another
   department takes a transferred case within 1 hour (then leadership), C6 a
   callback's record within 24 hours, C7 a problem raised in a callback
   answered within 3 days. Returns 0, or -1 with the failure set on c. */
static int s_clocks(s_ctx_t *c, json_t *site, cl_site_policy_t *s)
{
    json_t *q = json_object_get(site, "quiet_hours");
    s->quiet_major_exempt = true;
    if (q) {
        static const char *const members[] = {"major_exempt", NULL};
        size_t at = s_push_key(c, "quiet_hours");
        json_t *m;
        int rc = s_check_object(c, q, "quiet hours", members);
        if (rc == 0 && (m = json_object_get(q, "major_exempt"))) {
            if (!json_is_boolean(m))
                rc = s_fail(c, "major_exempt is %s; expected true or false", s_type_name(m));
            else
                s->quiet_major_exempt = json_is_true(m);
        }
        s_pop(c, at);
        if (rc < 0)
            return -1;
    }
    if (json_object_get(site, "clocks"))
        return s_items(c, site, "clocks", false, 0, "clock", sizeof *s->clocks, (void **)&s->clocks, &s->nclocks, s,
                       s_clock, NULL);
    /* docs/rules.md: C1-C7. */
    static const struct {
        const char *code, *name;
        uint32_t starts;
        int64_t duration_s;
        uint32_t met_by, pauses_on, resumes_on;
        cl_role_t top;           /* a one-level ladder (C4, C5), or 0 for the default ladders */
    } defaults[] = {
#define A(x) (1u << CASELOOP__V1__CASE_ACTION__CASE_ACTION_##x)
#define ON(x) CL_CLOCK_STARTS(CL_CLOCK_ON_##x)
        {"C1", "reception answers the customer", ON(RECEIVED), 300, A(ANSWER) | A(ACKNOWLEDGE) | A(FIRST_CONTACT),
         0, 0, 0},
        {"C2", "feedback form reaches the responsible department", ON(RECEIVED) | ON(REOPENED), 3600,
         A(ACKNOWLEDGE) | A(FIRST_CONTACT), 0, 0, 0},
        {"C3", "the department contacts the customer with a plan", ON(DISPATCHED) | ON(REOPENED), 86400, A(FIRST_CONTACT),
         A(WAIT_FOR_CUSTOMER), A(RESUME), 0},
        {"C4", "the department head decides on a returned case", ON(RETURNED), 3600,
         A(PROGRESS) | A(RESOLVE), 0, 0, CL_ROLE_PROJECT_HEAD},
        {"C5", "the other department takes a transferred case", ON(TRANSFERRED), 3600,
         A(FIRST_CONTACT) | A(PROGRESS) | A(RESOLVE), 0, 0, CL_ROLE_LEADERSHIP},
        {"C6", "the callback record is filled in", ON(CALLBACK_MADE), 86400, CL_CLOCK_MEET_CALLBACK_RECORDED, 0, 0,
         0},
        {"C7", "a problem raised in a callback is investigated and answered", ON(RAISED_IN_CALLBACK),
         3 * 86400, A(RESOLVE), 0, 0, 0},
#undef ON
#undef A
    };
    size_t n = sizeof defaults / sizeof *defaults;
    if (s_alloc(c, n, sizeof *s->clocks, (void **)&s->clocks) < 0)
        return -1;
    s->nclocks = n;
    for (size_t i = 0; i < n; i++) {
        cl_clock_def_t *d = &s->clocks[i];
        s_default_ladders(d);
        if (s_strdup(c, defaults[i].code, &d->code) < 0 || s_strdup(c, defaults[i].name, &d->name) < 0)
            return -1;
        d->starts = defaults[i].starts;
        d->duration_s = defaults[i].duration_s;
        d->met_by = defaults[i].met_by;
        d->pauses_on = defaults[i].pauses_on;
        d->resumes_on = defaults[i].resumes_on;
        if (defaults[i].top) {
            /* C4 goes to the project head, C5 to senior leadership (docs/rules.md) */
            d->nladder = d->nmajor_ladder = 1;
            d->ladder[0] = d->major_ladder[0] = defaults[i].top;
        }
    }
    return 0;
}

/* A span that may be zero: 0, or a duration as s_duration reads it; -1 when neither. */
static int64_t s_span(json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) == 0 ? 0 : s_duration(v);
}

/* Member "intake" of a site (after its clocks): the promise clock, and how
   one problem is told from another. */
static int s_intake(s_ctx_t *c, json_t *site, cl_site_policy_t *s)
{
    static const char *const members[] = {"promise_clock", "dedupe_window", "dedupe_similarity", "future_skew", NULL};
    const cl_clock_def_t *c3 = cl_policy_clock(s, "C3");
    s->promise_clock = c3 ? (int)(c3 - s->clocks) : -1;
    s->dedupe_window_s = CL_POLICY_DEDUPE_WINDOW_S;
    s->dedupe_similarity = CL_POLICY_DEDUPE_SIMILARITY;
    s->future_skew_s = CL_POLICY_FUTURE_SKEW_S;
    json_t *in = json_object_get(site, "intake"), *x;
    if (!in)
        return 0;
    size_t at = s_push_key(c, "intake");
    int rc = s_check_object(c, in, "intake", members);
    const char *code;
    if (rc == 0 && json_object_get(in, "promise_clock") && (rc = s_text(c, in, "promise_clock", true, 16, &code)) == 0) {
        const cl_clock_def_t *d = cl_policy_clock(s, code);
        if (d) {
            s->promise_clock = (int)(d - s->clocks);
        } else {
            size_t k = s_push_key(c, "promise_clock");
            char q[S_QUOTE_MAX + 4];
            rc = s_fail(c, "promise_clock \"%s\" is not a clock of site \"%s\"; expected the code of one of its clocks",
                        s_quote(code, q), s->code);
            s_pop(c, k);
        }
    }
    static const struct {
        const char *key;
        size_t off;
        int64_t max_s;
        const char *most;
    } spans[] = {{"dedupe_window", offsetof(cl_site_policy_t, dedupe_window_s), S_DURATION_MAX, "a year"},
                 {"future_skew", offsetof(cl_site_policy_t, future_skew_s), 86400, "a day"}};
    for (size_t k = 0; rc == 0 && k < sizeof spans / sizeof *spans; k++) {
        if (!(x = json_object_get(in, spans[k].key)))
            continue;
        int64_t v = s_span(x);
        if (v > spans[k].max_s)
            v = -1;
        if (v < 0) {
            size_t saved = s_push_key(c, spans[k].key);
            rc = s_fail(c, "%s is not a duration; expected seconds or \"90s\", \"5m\", \"1h\", \"3d\", 0 up to %s",
                        spans[k].key, spans[k].most);
            s_pop(c, saved);
        } else {
            *(int64_t *)((char *)s + spans[k].off) = v;
        }
    }
    if (rc == 0 && (x = json_object_get(in, "dedupe_similarity"))) {
        if (!json_is_number(x) || json_number_value(x) < 0 || json_number_value(x) > 1) {
            size_t saved = s_push_key(c, "dedupe_similarity");
            rc = s_fail(c, "dedupe_similarity is %s; expected a number from 0 to 1",
                        json_is_number(x) ? "out of range" : s_type_name(x));
            s_pop(c, saved);
        } else {
            s->dedupe_similarity = json_number_value(x);
        }
    }
    s_pop(c, at);
    return rc;
}

/* --------------------------------------------------------------------------------------------
 * Callbacks
 */

/* The member key of obj: a list of names of d's values (without prefix), as
   bits 1 << value into *bits; the member absent leaves *bits alone. */
static int s_enum_bits(s_ctx_t *c, json_t *obj, const char *key, const ProtobufCEnumDescriptor *d,
                       const char *prefix, const char *what, uint8_t *bits)
{
    char list[160], q[S_QUOTE_MAX + 4];
    json_t *arr, *v;
    size_t i;
    if (s_list(c, obj, key, false, 1, what, &arr) < 0)
        return -1;
    if (!arr)
        return 0;
    *bits = 0;
    json_array_foreach(arr, i, v) {
        int x = json_is_string(v) ? s_enum_parse(d, prefix, json_string_value(v)) : -1;
        if (x > 0 && x < 8) {
            *bits |= (uint8_t)(1u << x);
            continue;
        }
        size_t saved = s_push(c, ".%s[%zu]", key, i);
        s_fail(c, "%s %s is not one of %s", what,
               json_is_string(v) ? s_quote(json_string_value(v), q) : s_type_name(v),
               s_enum_list(d, prefix, list, sizeof list));
        s_pop(c, saved);
        return -1;
    }
    return 0;
}

/* A whole number member from lo to hi into *out; absent leaves *out alone. */
static int s_count(s_ctx_t *c, json_t *obj, const char *key, int lo, int hi, int *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi) {
        *out = (int)json_integer_value(v);
        return 0;
    }
    size_t saved = s_push_key(c, key);
    s_fail(c, "%s is %s; expected a whole number from %d to %d", key,
           json_is_integer(v) ? "out of range" : s_type_name(v), lo, hi);
    s_pop(c, saved);
    return -1;
}

/* A boolean member into *out; absent leaves *out alone. */
static int s_flag(s_ctx_t *c, json_t *obj, const char *key, bool *out)
{
    json_t *v;
    if (s_member(c, obj, key, JSON_TRUE, false, &v) < 0)
        return -1;
    if (v)
        *out = json_is_true(v);
    return 0;
}

/* A mode rule {"from": N, "severities": [...], "modes": [...]}. */
static int s_mode_rule(s_ctx_t *c, json_t *v, cl_cb_mode_rule_t *r)
{
    static const char *const members[] = {"from", "severities", "modes", NULL};
    r->from_callback = 1;
    r->severities = 0x0e; /* general, important, major */
    r->modes = 0;
    if (s_check_object(c, v, "a mode rule", members) < 0 || s_count(c, v, "from", 1, 100, &r->from_callback) < 0 ||
        s_enum_bits(c, v, "severities", &caseloop__v1__severity__descriptor, S_SEVERITY_PREFIX, "severity",
                    &r->severities) < 0)
        return -1;
    json_t *m;
    if (s_member(c, v, "modes", JSON_ARRAY, true, &m) < 0 ||
        s_enum_bits(c, v, "modes", &caseloop__v1__callback_mode__descriptor, "CALLBACK_MODE_", "mode", &r->modes) < 0)
        return -1;
    return 0;
}

/* The policy of one kind (member of "kinds"), over its defaults. */
static int s_cb_kind(s_ctx_t *c, json_t *v, const cl_site_policy_t *s, cl_cb_kind_t *k)
{
    static const char *const members[] = {"within", "working_time", "share", "performer", "department",
                                          "days_off", "modes", NULL};
    json_t *x;
    if (s_check_object(c, v, "a kind's callback policy", members) < 0)
        return -1;
    if ((x = json_object_get(v, "within"))) {
        int64_t d = s_duration(x);
        if (d < 0) {
            size_t saved = s_push_key(c, "within");
            s_fail(c, "within is not a duration; expected seconds or \"90s\", \"5m\", \"1h\", \"3d\", up to a year");
            s_pop(c, saved);
            return -1;
        }
        k->within_s = d;
    }
    if (s_flag(c, v, "working_time", &k->working_time) < 0 || s_flag(c, v, "days_off", &k->days_off) < 0)
        return -1;
    if ((x = json_object_get(v, "share"))) {
        if (!json_is_number(x) || json_number_value(x) < 0 || json_number_value(x) > 1) {
            size_t saved = s_push_key(c, "share");
            s_fail(c, "share is %s; expected a number from 0 to 1", json_is_number(x) ? "out of range" : s_type_name(x));
            s_pop(c, saved);
            return -1;
        }
        k->share = json_number_value(x);
    }
    if ((x = json_object_get(v, "performer"))) {
        static const char *const sev[] = {"general", "important", "major", NULL};
        size_t at = s_push_key(c, "performer");
        int rc = s_check_object(c, x, "performer", sev);
        for (int i = 0; rc == 0 && sev[i]; i++) {
            const char *name;
            if ((rc = s_text(c, x, sev[i], false, 32, &name)) < 0 || !name)
                continue;
            int role = cl_role_parse(name);
            if (role < 0) {
                char q[S_QUOTE_MAX + 4];
                size_t saved = s_push_key(c, sev[i]);
                rc = s_fail(c, "%s \"%s\" is not a role; expected assistant, specialist, supervisor, project_head, "
                               "manager or leadership", sev[i], s_quote(name, q));
                s_pop(c, saved);
            } else {
                k->performer[i + 1] = (cl_role_t)role;
            }
        }
        s_pop(c, at);
        if (rc < 0)
            return -1;
    }
    if (json_object_get(v, "department") && s_department_ref(c, s, v, "department", true, &k->department) < 0)
        return -1;
    if ((x = json_object_get(v, "modes"))) {
        json_t *arr, *r;
        size_t i;
        if (s_list(c, v, "modes", true, 1, "mode rule", &arr) < 0)
            return -1;
        if (json_array_size(arr) > CL_CB_MAX_MODE_RULES) {
            size_t saved = s_push_key(c, "modes");
            s_fail(c, "modes has %zu rules; expected at most %d", json_array_size(arr), CL_CB_MAX_MODE_RULES);
            s_pop(c, saved);
            return -1;
        }
        k->nmodes = 0;
        json_array_foreach(arr, i, r) {
            size_t saved = s_push(c, ".modes[%zu]", i);
            int rc = s_mode_rule(c, r, &k->modes[k->nmodes++]);
            s_pop(c, saved);
            if (rc < 0)
                return -1;
        }
    }
    return 0;
}

/* The working time, in seconds, between minutes a and b of a plain week
   (minute 0 is Monday 00:00; b may pass the week's end once). */
static int64_t s_week_working_s(const cl_site_policy_t *s, int64_t a, int64_t b)
{
    int64_t total = 0;
    for (int64_t d = a / 1440; d <= b / 1440; d++) {
        const cl_calendar_hours_t *h = cl_calendar_week(s->calendar, (int)((d + 1) % 7));
        for (int i = 0; i < h->n; i++) {
            int64_t lo = d * 1440 + h->iv[i].from_min, hi = d * 1440 + h->iv[i].to_min;
            lo = lo > a ? lo : a, hi = hi < b ? hi : b;
            total += hi > lo ? (hi - lo) * 60 : 0;
        }
    }
    return total;
}

/* The longest a closed case can wait for the next callback window that k
   allows, in seconds of a plain week (no holidays), counted as k's deadline
   counts (wall or working time): from the end of one window to the start of
   the next on a day it may call; -1 when k may call on no day of the week. */
static int64_t s_cb_longest_wait(const cl_site_policy_t *s, const cl_cb_kind_t *k, int *from_day, int *from_min)
{
    const cl_cb_policy_t *p = &s->callbacks;
    int64_t longest = -1, last_end = -1, first_start = -1;
    for (int d = 0; d < 7; d++) {
        /* d counts from Monday; the calendar's weekday counts from Sunday */
        bool open = k->days_off || cl_calendar_week(s->calendar, (d + 1) % 7)->n > 0;
        for (size_t w = 0; open && w < p->nwindows; w++) {
            int64_t start = (int64_t)d * 1440 + p->windows[w].from_min;
            if (first_start < 0)
                first_start = start;
            int64_t gap = last_end < 0 ? -1 : k->working_time ? s_week_working_s(s, last_end, start) : (start - last_end) * 60;
            if (gap > longest) {
                longest = gap;
                *from_day = (int)(last_end / 1440), *from_min = (int)(last_end % 1440);
            }
            last_end = (int64_t)d * 1440 + p->windows[w].to_min;
        }
    }
    if (first_start < 0)
        return -1;
    int64_t wrap = k->working_time ? s_week_working_s(s, last_end, first_start + 7 * 1440)
                                   : (first_start + 7 * 1440 - last_end) * 60; /* over the week's end */
    if (wrap > longest) {
        longest = wrap;
        *from_day = (int)(last_end / 1440), *from_min = (int)(last_end % 1440);
    }
    return longest;
}

/* Member "callbacks" of a site (after its calendar and departments): when,
   how and by whom closed cases are called back (R-CB-1's table and windows); the
   defaults are those of docs/rules.md. When the member is given, a kind whose
   deadline a closed case could miss in a plain week for want of a window is
   refused. */
static int s_callbacks(s_ctx_t *c, json_t *site, cl_site_policy_t *s)
{
    static const char *const members[] = {"windows", "per_window", "max_attempts", "aspects", "kinds", NULL};
    static const char *const aspects[] = {"result", "service", "staff"};
    cl_cb_policy_t *p = &s->callbacks;
    p->windows[0] = (cl_calendar_interval_t){9 * 60 + 30, 10 * 60 + 30};
    p->windows[1] = (cl_calendar_interval_t){14 * 60 + 30, 16 * 60 + 30};
    p->nwindows = 2;
    p->per_window = 4;
    p->max_attempts = 3;
    for (int i = 1; i < CL_CB_KINDS; i++) {
        cl_cb_kind_t *k = &p->kinds[i];
        bool complaint = i == CASELOOP__V1__KIND__KIND_COMPLAINT, repair = i == CASELOOP__V1__KIND__KIND_REPAIR;
        k->within_s = complaint ? 3 * 86400 : 30 * 86400;
        k->share = complaint ? 1.0 : repair ? 0.3 : 0.1;
        k->department = s->customer_service;
        for (int v = 0; v < CL_CB_SEVERITIES; v++)
            k->performer[v] = CL_ROLE_ASSISTANT;
        if (complaint) {
            k->performer[CASELOOP__V1__SEVERITY__SEVERITY_IMPORTANT] = CL_ROLE_SUPERVISOR;
            k->performer[CASELOOP__V1__SEVERITY__SEVERITY_MAJOR] = CL_ROLE_MANAGER;
            /* R-CB-5: a visit first; from the second callback on, phone too unless major */
            k->modes[0] = (cl_cb_mode_rule_t){1, 0x0e, 1u << CASELOOP__V1__CALLBACK_MODE__CALLBACK_MODE_VISIT};
            k->modes[1] = (cl_cb_mode_rule_t){2, 0x06,
                                              (1u << CASELOOP__V1__CALLBACK_MODE__CALLBACK_MODE_VISIT) |
                                                  (1u << CASELOOP__V1__CALLBACK_MODE__CALLBACK_MODE_PHONE)};
            k->nmodes = 2;
        } else {
            k->modes[0] = (cl_cb_mode_rule_t){1, 0x0e, 0x1e};
            k->nmodes = 1;
        }
    }
    json_t *cb = json_object_get(site, "callbacks"), *x;
    size_t at = s_push_key(c, "callbacks");
    int rc = cb ? s_check_object(c, cb, "callbacks", members) : 0;
    if (rc == 0 && cb && (x = json_object_get(cb, "windows"))) {
        cl_calendar_hours_t h;
        size_t saved = s_push_key(c, "windows");
        rc = json_is_array(x) && json_array_size(x) == 0
                 ? s_fail(c, "windows is empty; expected at least one \"HH:MM-HH:MM\"")
                 : s_hours(c, x, &h);
        for (int i = 1; rc == 0 && i < h.n; i++)
            if (h.iv[i].from_min < h.iv[i - 1].to_min) {
                size_t k = s_push(c, "[%d]", i);
                rc = s_fail(c, "window %d starts before the one before it ends; expected windows in order, apart", i);
                s_pop(c, k);
            }
        s_pop(c, saved);
        for (int i = 0; rc == 0 && i < h.n; i++)
            p->windows[i] = h.iv[i];
        if (rc == 0)
            p->nwindows = (size_t)h.n;
    }
    if (rc == 0 && cb)
        rc = s_count(c, cb, "per_window", 1, 1000, &p->per_window) < 0 ||
                     s_count(c, cb, "max_attempts", 1, 20, &p->max_attempts) < 0
                 ? -1
                 : 0;
    json_t *list = NULL, *v;
    size_t i;
    if (rc == 0 && cb && (rc = s_list(c, cb, "aspects", false, 1, "aspect", &list)) == 0 && list &&
        json_array_size(list) > CL_CB_MAX_ASPECTS) {
        size_t saved = s_push_key(c, "aspects");
        rc = s_fail(c, "aspects has %zu items; expected at most %d", json_array_size(list), CL_CB_MAX_ASPECTS);
        s_pop(c, saved);
    }
    if (rc == 0 && list) {
        json_array_foreach(list, i, v) {
            size_t saved = s_push(c, ".aspects[%zu]", i);
            if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 64)
                rc = s_fail(c, "aspect is %s; expected text of 1 to 64 bytes",
                            json_is_string(v) ? "empty or too long" : s_type_name(v));
            for (size_t j = 0; rc == 0 && j < i; j++)
                if (strcmp(p->aspects[j], json_string_value(v)) == 0)
                    rc = s_fail(c, "aspect \"%s\" is listed twice", json_string_value(v));
            if (rc == 0)
                rc = s_strdup(c, json_string_value(v), &p->aspects[p->naspects++]);
            s_pop(c, saved);
            if (rc < 0)
                break;
        }
    } else if (rc == 0) {
        for (size_t a = 0; rc == 0 && a < sizeof aspects / sizeof *aspects; a++)
            rc = s_strdup(c, aspects[a], &p->aspects[p->naspects++]);
    }
    json_t *kinds = cb && rc == 0 ? json_object_get(cb, "kinds") : NULL;
    if (kinds) {
        const char *key;
        size_t saved = s_push_key(c, "kinds");
        if (!json_is_object(kinds))
            rc = s_fail(c, "kinds is %s; expected an object whose members are kinds", s_type_name(kinds));
        json_object_foreach(kinds, key, v) {
            if (rc < 0)
                break;
            char q[S_QUOTE_MAX + 4];
            size_t k = s_push_key(c, s_quote(key, q));
            json_t *name = json_string(key);
            int kind;
            if (!name)
                rc = s_no_memory(c);
            else if ((rc = s_kind_value(c, name, "kind", &kind)) == 0)
                rc = s_cb_kind(c, v, s, &p->kinds[kind]);
            json_decref(name);
            s_pop(c, k);
        }
        s_pop(c, saved);
    }
    /* A site that says nothing of callbacks takes the defaults as they come (a slot after a
       deadline is flagged late); one that does is told when its windows cannot hold them. */
    for (int k = 1; cb && rc == 0 && k < CL_CB_KINDS; k++) {
        int day = 0, min = 0;
        int64_t wait = s_cb_longest_wait(s, &p->kinds[k], &day, &min);
        if (wait >= 0 && wait < p->kinds[k].within_s)
            continue;
        static const char *const days[] = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
                                           "Sunday"};
        char name[64];
        s_enum_name(&caseloop__v1__kind__descriptor, S_KIND_PREFIX, k, name, sizeof name);
        size_t saved = s_push(c, ".kinds.%s.within", name);
        if (wait < 0)
            rc = s_fail(c, "%s cases may be called back on no day: the calendar works on none and days_off is false",
                        name);
        else
            rc = s_fail(c, "within (%" PRId64 "s) cannot hold: a %s case closed on %s at %02d:%02d waits %" PRId64
                           "s for the next callback window; expected a longer deadline, more windows or days_off",
                        p->kinds[k].within_s, name, days[day % 7], min / 60, min % 60, wait);
        s_pop(c, saved);
    }
    s_pop(c, at);
    return rc;
}

static int s_site(s_ctx_t *c, json_t *v, cl_policy_t *p, size_t i)
{
    static const char *const members[] = {
        "code", "name", "time_zone", "customer_service", "departments", "staff", "routing", "keywords",
        "calendar", "quiet_hours", "clocks", "intake", "callbacks", NULL};
    cl_site_policy_t *s = &p->sites[i];
    char q[S_QUOTE_MAX + 4];
    json_t *staff;
    s->customer_service = -1;
    if (s_check_object(c, v, "a site", members) < 0 || s_text_dup(c, v, "code", true, S_CODE_MAX, &s->code) < 0)
        return -1;
    for (size_t j = 0; j < i; j++) {
        if (strcmp(p->sites[j].code, s->code) == 0) {
            size_t saved = s_push_key(c, "code");
            s_fail(c, "code \"%s\" is already the code of sites[%zu]; expected codes unique within the document",
                   s_quote(s->code, q), j);
            s_pop(c, saved);
            return -1;
        }
    }
    if (s_text_dup(c, v, "name", true, S_NAME_MAX, &s->name) < 0 ||
        s_text_dup(c, v, "time_zone", true, S_TZ_MAX, &s->time_zone) < 0)
        return -1;
    if (!cl_tz_exists(c->tz_dir, s->time_zone)) {
        size_t saved = s_push_key(c, "time_zone");
        s_fail(c, "time_zone \"%s\" is not a known time zone; expected an IANA name such as \"Asia/Shanghai\"",
               s_quote(s->time_zone, q));
        s_pop(c, saved);
        return -1;
    }
    if (s_items(c, v, "departments", true, 1, "department", sizeof *s->departments, (void **)&s->departments,
                &s->ndepartments, s, s_department, NULL) < 0 ||
        s_department_ref(c, s, v, "customer_service", true, &s->customer_service) < 0 ||
        s_items(c, v, "staff", true, 0, "staff member", sizeof *s->staff, (void **)&s->staff, &s->nstaff, s,
                s_staff_item, &staff) < 0 ||
        (staff && s_reports_to(c, staff, s) < 0) ||
        s_items(c, v, "routing", false, 0, "route", sizeof *s->routes, (void **)&s->routes, &s->nroutes, s,
                s_route, NULL) < 0 ||
        s_items(c, v, "keywords", false, 0, "keyword rule", sizeof *s->keywords, (void **)&s->keywords,
                &s->nkeywords, s, s_keyword_item, NULL) < 0 ||
        s_check_gaps(c, s) < 0 || s_calendar(c, v, s) < 0 || s_clocks(c, v, s) < 0 ||
        s_intake(c, v, s) < 0 || s_callbacks(c, v, s) < 0)
        return -1;
    s->document = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    return s->document ? 0 : s_no_memory(c);
}

/* --------------------------------------------------------------------------------------------
 * Public
 */

cl_policy_t *cl_policy_parse(const char *json, size_t len, const char *tz_dir, cl_err_t *err)
{
    static const char *const members[] = {"sites", NULL};
    s_ctx_t c = {.err = err, .tz_dir = tz_dir ? tz_dir : S_DEFAULT_TZ_DIR};
    cl_policy_t *p = NULL;
    json_t *sites, *site;
    json_error_t jerr;
    size_t i;

    json_t *doc = json_loadb(json ? json : "", json ? len : 0, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        int line = jerr.line > 0 ? jerr.line : 1;
        /* jansson's option is not the reader's to turn on: leave it out of the sentence */
        const char *option = " without JSON_ALLOW_NUL";
        char *at = strstr(jerr.text, option);
        if (at)
            memmove(at, at + strlen(option), strlen(at + strlen(option)) + 1);
        snprintf(c.path, sizeof c.path, "line %d", line);
        s_fail(&c, "malformed json at line %d, column %d: %s", line, jerr.column > 0 ? jerr.column : 1, jerr.text);
        return NULL;
    }
    if (!json_is_object(doc)) {
        s_fail(&c, "the document is %s; expected an object with member sites", s_type_name(doc));
        goto err;
    }
    if (s_check_members(&c, doc, members) < 0 || s_list(&c, doc, "sites", true, 1, "site", &sites) < 0)
        goto err;
    p = calloc(1, sizeof *p);
    if (!p || s_alloc(&c, json_array_size(sites), sizeof *p->sites, (void **)&p->sites) < 0) {
        s_no_memory(&c);
        goto err;
    }
    p->nsites = json_array_size(sites);
    json_array_foreach(sites, i, site) {
        size_t saved = s_push(&c, "sites[%zu]", i);
        int rc = s_site(&c, site, p, i);
        s_pop(&c, saved);
        if (rc < 0)
            goto err;
    }
    json_decref(doc);
    if (err)
        cl_err_clear(err);
    return p;
err:
    json_decref(doc);
    cl_policy_destroy(&p);
    return NULL;
}

static void s_site_free(cl_site_policy_t *s)
{
    free(s->code);
    free(s->name);
    free(s->time_zone);
    free(s->document);
    for (size_t i = 0; i < s->ndepartments; i++) {
        free(s->departments[i].code);
        free(s->departments[i].name);
        free(s->departments[i].kinds);
    }
    free(s->departments);
    for (size_t i = 0; i < s->nstaff; i++) {
        free(s->staff[i].id);
        free(s->staff[i].name);
        free(s->staff[i].skills);
        free(s->staff[i].shifts);
    }
    free(s->staff);
    free(s->routes);
    for (size_t i = 0; i < s->nkeywords; i++) {
        for (size_t j = 0; j < s->keywords[i].nwords; j++)
            free(s->keywords[i].words[j]);
        free(s->keywords[i].words);
    }
    free(s->keywords);
    cl_calendar_destroy(&s->calendar);
    for (size_t i = 0; i < s->nclocks; i++) {
        free(s->clocks[i].code);
        free(s->clocks[i].name);
    }
    free(s->clocks);
    for (size_t i = 0; i < s->callbacks.naspects; i++)
        free(s->callbacks.aspects[i]);
}

void cl_policy_destroy(cl_policy_t **p_p)
{
    if (!p_p || !*p_p)
        return;
    cl_policy_t *p = *p_p;
    for (size_t i = 0; i < p->nsites; i++)
        s_site_free(&p->sites[i]);
    free(p->sites);
    free(p);
    *p_p = NULL;
}

const cl_site_policy_t *cl_policy_site(const cl_policy_t *p, const char *code)
{
    if (!p || !code)
        return NULL;
    for (size_t i = 0; i < p->nsites; i++)
        if (strcmp(p->sites[i].code, code) == 0)
            return &p->sites[i];
    return NULL;
}

int cl_policy_route(const cl_site_policy_t *s, int kind, int severity, bool *special)
{
    bool major = severity == CASELOOP__V1__SEVERITY__SEVERITY_MAJOR;
    if (special)
        *special = false;
    if (!s || kind <= 0)
        return -1;
    if (severity <= 0)
        severity = CASELOOP__V1__SEVERITY__SEVERITY_GENERAL;
    /* exact severity first, then any severity */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < s->nroutes; i++) {
            const cl_route_t *r = &s->routes[i];
            if (r->kind == kind && r->severity == (pass == 0 ? severity : 0)) {
                if (special)
                    *special = r->special || major;
                return r->department;
            }
        }
    }
    for (size_t i = 0; i < s->ndepartments; i++) {
        for (size_t j = 0; j < s->departments[i].nkinds; j++) {
            if (s->departments[i].kinds[j] == kind) {
                if (special)
                    *special = major;
                return (int)i;
            }
        }
    }
    return -1;
}

const char *cl_role_name(cl_role_t role)
{
    return (int)role >= 0 && role < CL_ROLE_COUNT ? S_ROLE_NAMES[role] : "unknown";
}

int cl_role_parse(const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i < CL_ROLE_COUNT; i++)
        if (strcmp(S_ROLE_NAMES[i], name) == 0)
            return i;
    return -1;
}

/* Bit of a day in cl_shift_t.days (bit 0 Monday) from tm_wday (0 Sunday). */
static uint8_t s_day_bit(int wday)
{
    return (uint8_t)(1u << ((wday + 6) % 7));
}

/* True when shift sh covers minute `min` of the day whose bit is `today`,
   `yesterday` being the bit of the day before. */
static bool s_shift_covers(const cl_shift_t *sh, uint8_t today, uint8_t yesterday, int min)
{
    if (sh->from_min < 0 || sh->from_min >= CL_CALENDAR_MINUTES_PER_DAY || sh->to_min < 0 || sh->to_min > CL_CALENDAR_MINUTES_PER_DAY)
        return false;
    if (sh->to_min > sh->from_min)
        return (sh->days & today) && min >= sh->from_min && min < sh->to_min;
    /* past midnight: the evening of a start day, or the morning after one */
    return ((sh->days & today) && min >= sh->from_min) || ((sh->days & yesterday) && min < sh->to_min);
}

bool cl_on_shift(const cl_staff_t *st, const struct tm *local)
{
    if (!st || !local || local->tm_wday < 0 || local->tm_wday > 6 || local->tm_hour < 0 || local->tm_hour > 23 ||
        local->tm_min < 0 || local->tm_min > 59)
        return false;
    int min = local->tm_hour * 60 + local->tm_min;
    uint8_t today = s_day_bit(local->tm_wday);
    uint8_t yesterday = s_day_bit((local->tm_wday + 6) % 7);
    for (size_t i = 0; i < st->nshifts; i++)
        if (s_shift_covers(&st->shifts[i], today, yesterday, min))
            return true;
    return false;
}

const cl_clock_def_t *cl_policy_clock(const cl_site_policy_t *s, const char *code)
{
    for (size_t i = 0; i < s->nclocks; i++)
        if (strcmp(s->clocks[i].code, code) == 0)
            return &s->clocks[i];
    return NULL;
}

int cl_clock_after(const cl_clock_def_t *d, const cl_calendar_t *cal, int64_t from_us, int64_t span_us, int64_t *at_us)
{
    if (!d->working_time || !cal) {
        *at_us = from_us + span_us;
        return 0;
    }
    return cl_calendar_add(cal, from_us, span_us, at_us);
}

int cl_policy_promise(const cl_site_policy_t *s, int64_t receipt_us, int64_t *by_us)
{
    if (s->promise_clock < 0 || (size_t)s->promise_clock >= s->nclocks || !s->clocks[s->promise_clock].active)
        return 0;
    const cl_clock_def_t *d = &s->clocks[s->promise_clock];
    return cl_clock_after(d, s->calendar, receipt_us, d->duration_s * 1000000LL, by_us) < 0 ? -1 : 1;
}
