/* plan.c - the callback-scheduler's decisions: whether a closed case is called back, by whom, when and how. */
#include "plan.h"
#include "caseloop/v1/callback.pb-c.h"
#include "caseloop/v1/common.pb-c.h"
#include "cl_text.h"
#include <inttypes.h>
#include <stdio.h>
#include "cl_calendar.h"
#include <sodium.h>
#include <string.h>

#define S_US 1000000LL

cl_cb_skip_t cl_cb_skip(bool anonymous, bool reply_letter_only, bool do_not_call)
{
    return anonymous           ? CL_CB_SKIP_ANONYMOUS
           : reply_letter_only ? CL_CB_SKIP_REPLY_LETTER
           : do_not_call       ? CL_CB_SKIP_DO_NOT_CALL
                               : CL_CB_CALL;
}

const char *cl_cb_skip_rule(cl_cb_skip_t why)
{
    switch (why) {
    case CL_CB_SKIP_ANONYMOUS:
    case CL_CB_SKIP_REPLY_LETTER: return "R-CB-7";
    case CL_CB_SKIP_DO_NOT_CALL: return "do-not-call";
    default: return "";
    }
}

/* A uniform draw in [0, 1) of case_id under seed: SipHash-2-4 (keyed, so
   that nobody without the seed can tell which cases will be called). */
static double s_draw(const uint8_t seed[CL_CB_SEED_BYTES], uint64_t case_id)
{
    unsigned char in[8], h[crypto_shorthash_BYTES];
    for (int i = 0; i < 8; i++)
        in[i] = (unsigned char)(case_id >> (8 * i));
    crypto_shorthash(h, in, sizeof in, seed);
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x |= (uint64_t)h[i] << (8 * i);
    return (double)(x >> 11) * 0x1.0p-53;
}

bool cl_cb_sampled(const uint8_t seed[CL_CB_SEED_BYTES], uint64_t case_id, double share, cl_cb_tally_t *t)
{
    bool call = s_draw(seed, case_id) < share;
    double target = share * (double)(t->counted + 1), band = 0.01 * target > 1 ? 0.01 * target : 1;
    if ((double)t->called + 1 > target + band)
        call = false;
    else if ((double)t->called < target - band)
        call = true;
    t->counted++;
    t->called += call;
    return call;
}

/* Severity 0 (not given) counts as general. */
static int s_severity(int severity)
{
    return severity > 0 && severity < CL_CB_SEVERITIES ? severity : CASELOOP__V1__SEVERITY__SEVERITY_GENERAL;
}

static const cl_cb_kind_t *s_kind(const cl_site_policy_t *s, int kind)
{
    return &s->callbacks.kinds[kind > 0 && kind < CL_CB_KINDS ? kind : CASELOOP__V1__KIND__KIND_OTHER];
}

const cl_cb_kind_t *cl_cb_kind(const cl_site_policy_t *s, int kind)
{
    return s_kind(s, kind);
}

int cl_cb_deadline(const cl_site_policy_t *s, int kind, int64_t closed_us, int64_t *due_us)
{
    const cl_cb_kind_t *k = s_kind(s, kind);
    if (!k->working_time) {
        *due_us = closed_us + k->within_s * S_US;
        return 0;
    }
    return cl_calendar_add(s->calendar, closed_us, k->within_s * S_US, due_us);
}

uint8_t cl_cb_modes(const cl_site_policy_t *s, int kind, int severity, int number)
{
    const cl_cb_kind_t *k = s_kind(s, kind);
    uint8_t modes = 0;
    for (size_t i = 0; i < k->nmodes; i++)
        if (number >= k->modes[i].from_callback && (k->modes[i].severities & (1u << s_severity(severity))))
            modes = k->modes[i].modes;
    return modes;
}

int cl_cb_performer(const cl_site_policy_t *s, int kind, int severity, const struct tm *local, const uint32_t *open,
                    cl_cb_load_fn load, void *arg, int64_t window_us)
{
    const cl_cb_kind_t *k = s_kind(s, kind);
    cl_role_t role = k->performer[s_severity(severity)];
    int best = -1;
    for (size_t i = 0; i < s->nstaff; i++) {
        const cl_staff_t *st = &s->staff[i];
        if (st->role != role || (st->department >= 0 && st->department != k->department) || !cl_on_shift(st, local))
            continue;
        if (load(arg, (int)i, window_us) >= (uint32_t)s->callbacks.per_window)
            continue;
        if (best < 0 || open[i] < open[best])
            best = (int)i;
    }
    return best;
}

/* The customer's local midnight before instant c (an offset change inside
   that day is not followed). */
static int64_t s_customer_midnight(const cl_cb_prefs_t *prefs, const cl_calendar_t *site, int64_t c)
{
    struct tm lt;
    cl_calendar_localtime(prefs->zone ? prefs->zone : site, c, &lt);
    int64_t sub = ((c % S_US) + S_US) % S_US;
    return c - sub - ((int64_t)lt.tm_hour * 3600 + lt.tm_min * 60 + lt.tm_sec) * S_US;
}

/* Whether instant c lies in one of the customer's windows; *end is then where
   that window ends (the latest, when two hold c). *next is the next start of
   one of their windows after c (INT64_MAX for none within a day). */
static bool s_preferred(const cl_cb_prefs_t *prefs, const cl_calendar_t *site, int64_t c, int64_t *end, int64_t *next)
{
    int64_t midnight = s_customer_midnight(prefs, site, c);
    bool in = false;
    *next = INT64_MAX;
    for (int day = 0; day <= 1; day++) {
        for (size_t i = 0; i < prefs->n; i++) {
            int64_t pa = midnight + ((int64_t)day * 1440 + prefs->windows[i].from_min) * 60 * S_US;
            int64_t pb = midnight + ((int64_t)day * 1440 + prefs->windows[i].to_min) * 60 * S_US;
            if (pa <= c && c < pb && (!in || pb > *end))
                *end = pb, in = true;
            if (pa > c && pa < *next)
                *next = pa;
        }
    }
    return in;
}

/* The next moment after c, before `before`, at which a callback that could
   not be placed at c might be: a shift of the kind's performers starting, or
   one of the customer's windows (local day `day` of the site). */
static int64_t s_next_moment(const cl_site_policy_t *s, cl_role_t role, const cl_cb_prefs_t *prefs, int64_t day,
                             int64_t c, int64_t before)
{
    int64_t next = before, pref_next, end;
    if (prefs && prefs->n && (s_preferred(prefs, s->calendar, c, &end, &pref_next), pref_next < next))
        next = pref_next;
    for (size_t i = 0; i < s->nstaff; i++) {
        if (s->staff[i].role != role)
            continue;
        for (size_t j = 0; j < s->staff[i].nshifts; j++) {
            int64_t t = cl_calendar_local(s->calendar, day, s->staff[i].shifts[j].from_min);
            if (t > c && t < next)
                next = t;
        }
    }
    return next;
}

/* Whether anybody could ever perform a callback of kind k by role: someone of that role
   (and department, when the role has one) with a shift. */
static bool s_anybody(const cl_site_policy_t *s, const cl_cb_kind_t *k, cl_role_t role)
{
    for (size_t i = 0; i < s->nstaff; i++) {
        const cl_staff_t *st = &s->staff[i];
        if (st->role == role && (st->department < 0 || st->department == k->department) && st->nshifts > 0)
            return true;
    }
    return false;
}

int cl_cb_place(const cl_site_policy_t *s, int kind, int severity, const cl_cb_prefs_t *prefs, int64_t not_before_us,
                int64_t deadline_us, const uint32_t *open, cl_cb_load_fn load, void *arg, cl_cb_slot_t *out)
{
    const cl_cb_kind_t *k = s_kind(s, kind);
    const cl_cb_policy_t *p = &s->callbacks;
    cl_role_t role = k->performer[s_severity(severity)];
    if (!s_anybody(s, k, role))
        return -1; /* nobody works in that role: no day would do */
    bool prefer = prefs && prefs->n;
    int64_t first = cl_calendar_day(s->calendar, not_before_us);
    int64_t last = cl_calendar_day(s->calendar, deadline_us > not_before_us ? deadline_us : not_before_us) +
                   CL_CB_HORIZON_DAYS;
    for (int64_t d = first; d <= last; d++) {
        if (!k->days_off && !cl_calendar_works_on(s->calendar, d))
            continue;
        for (size_t w = 0; w < p->nwindows; w++) {
            int64_t ws = cl_calendar_local(s->calendar, d, p->windows[w].from_min);
            int64_t we = cl_calendar_local(s->calendar, d, p->windows[w].to_min);
            /* From the window's first usable moment, each moment something changes. */
            for (int64_t c = ws > not_before_us ? ws : not_before_us; c < we;
                 c = s_next_moment(s, role, prefs, d, c, we)) {
                int64_t end = we, pref_end = we, unused;
                if (prefer) {
                    if (!s_preferred(prefs, s->calendar, c, &pref_end, &unused))
                        continue;
                    end = pref_end < we ? pref_end : we;
                }
                struct tm local;
                cl_calendar_localtime(s->calendar, c, &local);
                int who = cl_cb_performer(s, kind, severity, &local, open, load, arg, ws);
                if (who < 0)
                    continue;
                *out = (cl_cb_slot_t){c, end, ws, who, c >= deadline_us};
                return 0;
            }
        }
    }
    return -1;
}

int cl_cb_letter_check(const char *site, bool open, const char *text, const char *document_ref, const uint64_t *ids,
                       const cl_letter_case_t *cases, size_t n, cl_err_t *err)
{
    if (cl_text_check(text, "text", 0, 20000, err) < 0 || cl_text_check(document_ref, "document_ref", 0, 200, err) < 0)
        return -1;
    if (!(text && *text) && !(document_ref && *document_ref))
        return cl_err_set(err, CL_INVALID_ARGUMENT, "text", "a letter is a text or a document_ref");
    if (open && (n < 1 || n > CL_CB_MAX_LETTER_CASES))
        return cl_err_set(err, CL_INVALID_ARGUMENT, "case_ids", "an open letter answers 1 to %d cases",
                          CL_CB_MAX_LETTER_CASES);
    if (!open && n != 1)
        return cl_err_set(err, CL_INVALID_ARGUMENT, "case_id", "case_id is required");
    for (size_t i = 0; i < n; i++) {
        char field[32];
        if (open)
            snprintf(field, sizeof field, "case_ids[%zu]", i);
        else
            snprintf(field, sizeof field, "case_id");
        const cl_letter_case_t *c = &cases[i];
        if (ids[i] == 0 || !c->found)
            return cl_err_set(err, CL_NOT_FOUND, field, "case %" PRIu64 " does not exist", ids[i]);
        if (strcmp(c->site, site) != 0)
            return cl_err_set(err, CL_INVALID_ARGUMENT, field, "case %" PRIu64 " is of site %s, not %s", ids[i], c->site,
                              site);
        if (!open && !c->anonymous && !c->reply_letter_only)
            return cl_err_set(err, CL_CONFLICT, field,
                              "case %" PRIu64 " is called back: a reply letter answers an anonymous or reply-letter-only"
                              " case",
                              ids[i]);
        for (size_t j = 0; open && j < i; j++) {
            if (ids[j] == ids[i])
                return cl_err_set(err, CL_INVALID_ARGUMENT, field, "case %" PRIu64 " is named twice", ids[i]);
        }
        if (open && c->kind != cases[0].kind)
            return cl_err_set(err, CL_INVALID_ARGUMENT, field,
                              "case %" PRIu64 " is of another problem (kind %d) than case %" PRIu64 " (kind %d)", ids[i],
                              c->kind, ids[0], cases[0].kind);
    }
    return 0;
}

bool cl_cb_may_review(const cl_site_policy_t *s, const char *who)
{
    for (size_t i = 0; who && i < s->nstaff; i++)
        if (strcmp(s->staff[i].id, who) == 0)
            return s->staff[i].role >= CL_ROLE_SUPERVISOR;
    return false;
}

const char *cl_cb_supervisor(const cl_site_policy_t *s)
{
    const char *any = NULL;
    for (size_t i = 0; i < s->nstaff; i++) {
        if (s->staff[i].role != CL_ROLE_SUPERVISOR)
            continue;
        if (s->staff[i].department == s->customer_service)
            return s->staff[i].id;
        if (!any)
            any = s->staff[i].id;
    }
    return any;
}

void cl_cb_fire_decide(const cl_cb_timer_t *t, int64_t now_us, cl_cb_fire_t *out)
{
    memset(out, 0, sizeof *out);
    out->next_us = -1;
    if (!t->open)
        return;
    out->tell_deadline = !t->overdue && now_us >= t->deadline_us;
    bool slot_due = t->slot_end_us >= 0 && !t->slot_missed;
    out->tell_slot = slot_due && now_us >= t->slot_end_us && !out->tell_deadline;
    int64_t next = -1;
    if (slot_due && now_us < t->slot_end_us)
        next = t->slot_end_us;
    if (!t->overdue && now_us < t->deadline_us && (next < 0 || t->deadline_us < next))
        next = t->deadline_us;
    out->next_us = next;
}

int cl_cb_after_attempt(int outcome, uint32_t attempts, int max_attempts)
{
    if (outcome == CASELOOP__V1__ATTEMPT_OUTCOME__ATTEMPT_OUTCOME_REACHED)
        return CASELOOP__V1__CALLBACK_STATE__CALLBACK_STATE_REACHED;
    return (int64_t)attempts >= max_attempts ? CASELOOP__V1__CALLBACK_STATE__CALLBACK_STATE_UNREACHABLE
                                             : CASELOOP__V1__CALLBACK_STATE__CALLBACK_STATE_SCHEDULED;
}

int cl_cb_record_check(const cl_site_policy_t *s, uint8_t modes, const Caseloop__V1__CallbackRecord *r, cl_err_t *err)
{
    if (!r)
        return cl_err_set(err, CL_INVALID_ARGUMENT, "record", "record is required");
    if (!r->has_mode || r->mode <= 0 || r->mode > 7 || !(modes & (1u << r->mode)))
        return cl_err_set(err, CL_INVALID_ARGUMENT, "record.mode", "this callback may not be made in mode %d",
                          r->has_mode ? (int)r->mode : 0);
    if (r->mode == CASELOOP__V1__CALLBACK_MODE__CALLBACK_MODE_VISIT && (!r->signature_ref || !*r->signature_ref))
        return cl_err_set(err, CL_INVALID_ARGUMENT, "record.signature_ref",
                          "a visit is recorded with the customer's signature reference");
    if (cl_text_check(r->signature_ref, "record.signature_ref", 0, 200, err) < 0 ||
        cl_text_check(r->suggestions, "record.suggestions", 0, 4000, err) < 0 ||
        cl_text_check(r->heard_of_us, "record.heard_of_us", 0, 200, err) < 0 ||
        cl_text_check(r->notes, "record.notes", 0, 4000, err) < 0)
        return -1;
    const cl_cb_policy_t *cb = &s->callbacks;
    bool seen[CL_CB_MAX_ASPECTS] = {false};
    for (size_t i = 0; i < r->n_scores; i++) {
        const Caseloop__V1__AspectScore *a = r->scores[i];
        char field[64];
        size_t k = 0;
        while (k < cb->naspects && !(a->aspect && strcmp(a->aspect, cb->aspects[k]) == 0))
            k++;
        snprintf(field, sizeof field, "record.scores[%zu].aspect", i);
        if (k == cb->naspects)
            return cl_err_set(err, CL_INVALID_ARGUMENT, field, "\"%s\" is not an aspect this site scores",
                              a->aspect ? a->aspect : "");
        if (seen[k])
            return cl_err_set(err, CL_INVALID_ARGUMENT, field, "aspect \"%s\" is scored twice", a->aspect);
        seen[k] = true;
        snprintf(field, sizeof field, "record.scores[%zu].score", i);
        if (!a->has_score || a->score < 1 || a->score > 5)
            return cl_err_set(err, CL_INVALID_ARGUMENT, field, "a score is 1 to 5");
        snprintf(field, sizeof field, "record.scores[%zu].reason", i);
        if (a->score <= 2 && (!a->reason || !*a->reason))
            return cl_err_set(err, CL_INVALID_ARGUMENT, field, "a score of %u asks why", a->score);
        if (cl_text_check(a->reason, field, 0, 2000, err) < 0)
            return -1;
    }
    for (size_t k = 0; k < cb->naspects; k++)
        if (!seen[k])
            return cl_err_set(err, CL_INVALID_ARGUMENT, "record.scores", "aspect \"%s\" is not scored", cb->aspects[k]);
    if (!r->has_satisfied)
        return cl_err_set(err, CL_INVALID_ARGUMENT, "record.satisfied", "say whether the customer is satisfied");
    if (r->has_recommend && r->recommend > 10)
        return cl_err_set(err, CL_INVALID_ARGUMENT, "record.recommend", "willingness to recommend is 0 to 10");
    if (r->fixed_during_callback && r->satisfied)
        return cl_err_set(err, CL_INVALID_ARGUMENT, "record.fixed_during_callback",
                          "fixed during the callback is said of a customer not satisfied at first");
    if (r->fixed_during_callback && (!r->notes || !*r->notes))
        return cl_err_set(err, CL_INVALID_ARGUMENT, "record.notes", "say in the notes how the problem was fixed");
    if (!r->satisfied && !r->fixed_during_callback &&
        cl_text_check(r->customer_words, "record.customer_words", 1, 4000, err) < 0)
        return -1;
    if (cl_text_check(r->customer_words, "record.customer_words", 0, 4000, err) < 0)
        return -1;
    if (r->n_raised > CL_CB_MAX_RAISED)
        return cl_err_set(err, CL_INVALID_ARGUMENT, "record.raised", "at most %d new problems a callback",
                          CL_CB_MAX_RAISED);
    for (size_t i = 0; i < r->n_raised; i++) {
        const Caseloop__V1__RaisedProblem *p = r->raised[i];
        char field[64];
        snprintf(field, sizeof field, "record.raised[%zu].description", i);
        if (cl_text_check(p->description, field, 1, 4000, err) < 0)
            return -1;
        snprintf(field, sizeof field, "record.raised[%zu].location", i);
        if (cl_text_check(p->location, field, 0, 200, err) < 0)
            return -1;
        snprintf(field, sizeof field, "record.raised[%zu].kind", i);
        if (p->has_kind && !protobuf_c_enum_descriptor_get_value(&caseloop__v1__kind__descriptor, (int)p->kind))
            return cl_err_set(err, CL_INVALID_ARGUMENT, field, "kind %d is not a known Kind", (int)p->kind);
    }
    return 0;
}

void cl_cb_outcome(const Caseloop__V1__CallbackRecord *r, cl_cb_outcome_t *out)
{
    out->satisfied = r->satisfied || r->fixed_during_callback;
    out->reopen = !out->satisfied;
    out->raised = r->n_raised;
}
