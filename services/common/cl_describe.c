/* cl_describe.c - one line for people about an event, for histories and event tails. */
#include "cl_describe.h"
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* UTC "2026-11-22 14:30" of us. */
static const char *cl_describe_time(int64_t us, char *buf, size_t len)
{
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M UTC", &tm);
    return buf;
}

const char *cl_event_describe(const cl_env_t *ev, char *buf, size_t len, const char **actor)
{
    char a[48], b[48];
    *actor = ev->sender ? ev->sender : "";
    switch (ev->body_case) {
    case CASELOOP__V1__ENVELOPE__BODY_CASE_RECEIVED: {
        const Caseloop__V1__Case *c = ev->case_received->details;
        if (c && c->first_receiver && *c->first_receiver)
            *actor = c->first_receiver;
        int n = snprintf(buf, len, "received via %s: %s",
                         cl_codec_enum_name(&caseloop__v1__channel__descriptor, c ? (int)c->channel : 0, a, sizeof a),
                         c && c->description ? c->description : "");
        if (c && c->has_raised_in_callback_of && n > 0 && (size_t)n < len)
            snprintf(buf + n, len - (size_t)n, " (raised in the callback of case %" PRIu64 ")", c->raised_in_callback_of);
        break;
    }
    case CASELOOP__V1__ENVELOPE__BODY_CASE_REPORT_ATTACHED: {
        const Caseloop__V1__Report *r = ev->case_report_attached->report;
        if (r && r->first_receiver && *r->first_receiver)
            *actor = r->first_receiver;
        snprintf(buf, len, "report %" PRIu32 " of the same problem from %s: %s", ev->case_report_attached->report_count,
                 r && r->customer_name && *r->customer_name ? r->customer_name : "another customer",
                 r && r->description ? r->description : "");
        break;
    }
    case CASELOOP__V1__ENVELOPE__BODY_CASE_DISPATCHED: {
        const Caseloop__V1__CaseDispatched *d = ev->case_dispatched;
        if (!*(d->department ? d->department : ""))
            snprintf(buf, len, "waits undispatched: the site has no policy");
        else
            snprintf(buf, len, "dispatched to %s%s%s%s%s (policy %" PRIu32 ")", d->department,
                     d->classified ? ", classified as " : "",
                     d->classified ? cl_codec_enum_name(&caseloop__v1__kind__descriptor, (int)d->kind, a, sizeof a) : "",
                     d->special ? ", major: project head and customer-service supervisor" : "", "", d->policy_version);
        break;
    }
    case CASELOOP__V1__ENVELOPE__BODY_CASE_ASSIGNED: {
        const Caseloop__V1__CaseAssigned *x = ev->case_assigned;
        int n = x->queued ? snprintf(buf, len, "waits on the %s queue: nobody on shift", x->department)
                          : snprintf(buf, len, "assigned to %s", x->assignee);
        for (size_t i = 0; i < x->n_notified && n > 0 && (size_t)n < len; i++)
            n += snprintf(buf + n, len - (size_t)n, "%s%s", i ? ", " : "; told ", x->notified[i]);
        break;
    }
    case CASELOOP__V1__ENVELOPE__BODY_CASE_UPDATED: {
        const Caseloop__V1__CaseUpdated *u = ev->case_updated;
        *actor = u->actor ? u->actor : "";
        const char *what = cl_codec_enum_name(&caseloop__v1__case_action__descriptor, (int)u->action, a, sizeof a);
        if (u->action == CASELOOP__V1__CASE_ACTION__CASE_ACTION_REPORT_RESULT)
            what = u->satisfied ? "customer satisfied" : "customer not satisfied";
        snprintf(buf, len, "%s%s%s (now %s)", what, u->text && *u->text ? ": " : "", u->text ? u->text : "",
                 cl_codec_enum_name(&caseloop__v1__case_state__descriptor, (int)u->state_after, b, sizeof b));
        for (char *p = buf; *p && p < buf + strlen(what); p++)
            if (*p == '_')
                *p = ' ';
        break;
    }
    case CASELOOP__V1__ENVELOPE__BODY_CASE_TRANSFERRED: {
        const Caseloop__V1__CaseTransferred *t = ev->case_transferred;
        *actor = t->actor ? t->actor : "";
        snprintf(buf, len, "transferred from %s%s%s to %s%s%s%s%s", t->from_department,
                 *(t->from_assignee ? t->from_assignee : "") ? "/" : "", t->from_assignee ? t->from_assignee : "",
                 t->to_department, *(t->to_assignee ? t->to_assignee : "") ? "/" : " (queued)",
                 t->to_assignee ? t->to_assignee : "", t->reason && *t->reason ? ": " : "", t->reason ? t->reason : "");
        break;
    }
    case CASELOOP__V1__ENVELOPE__BODY_SHIFT_HANDED_OVER: {
        const Caseloop__V1__Handover *h = ev->shift_handed_over->handover;
        *actor = h && h->outgoing ? h->outgoing : "";
        snprintf(buf, len, "handed over at the end of a shift from %s to %s", h ? h->outgoing : "", h ? h->incoming : "");
        break;
    }
    case CASELOOP__V1__ENVELOPE__BODY_CLOCK_ARMED: {
        const Caseloop__V1__Clock *c = ev->clock_armed->clock;
        snprintf(buf, len, "clock %s armed: %s", c ? c->code : "", c ? c->name : "");
        break;
    }
    case CASELOOP__V1__ENVELOPE__BODY_CLOCK_WARNING: {
        const Caseloop__V1__Clock *c = ev->clock_warning->clock;
        snprintf(buf, len, "clock %s at %" PRIu32 "%%: customer service urges the department", c ? c->code : "",
                 ev->clock_warning->percent);
        break;
    }
    case CASELOOP__V1__ENVELOPE__BODY_CLOCK_MET: {
        const Caseloop__V1__Clock *c = ev->clock_met->clock;
        snprintf(buf, len, "clock %s met%s", c ? c->code : "", ev->clock_met->in_time ? " in time" : " late");
        break;
    }
    case CASELOOP__V1__ENVELOPE__BODY_CLOCK_BREACHED: {
        const Caseloop__V1__Clock *c = ev->clock_breached->clock;
        snprintf(buf, len, "clock %s missed: %s", c ? c->code : "", c ? c->name : "");
        break;
    }
    case CASELOOP__V1__ENVELOPE__BODY_ESCALATION_RAISED: {
        const Caseloop__V1__EscalationRaised *r = ev->escalation_raised;
        snprintf(buf, len, "clock %s escalated to level %" PRIu32 ": %s (%s)", r->clock ? r->clock->code : "", r->level,
                 r->responsible ? r->responsible : "", r->role ? r->role : "");
        break;
    }
    case CASELOOP__V1__ENVELOPE__BODY_CALLBACK_MADE: {
        const Caseloop__V1__CallbackMade *m = ev->callback_made;
        *actor = m->by ? m->by : "";
        snprintf(buf, len, "callback %" PRIu64 " made by %s",
                 m->callback_id, cl_codec_enum_name(&caseloop__v1__callback_mode__descriptor, (int)m->mode, a, sizeof a));
        break;
    }
    case CASELOOP__V1__ENVELOPE__BODY_CALLBACK_RECORDED: {
        const Caseloop__V1__CallbackRecorded *r = ev->callback_recorded;
        *actor = r->by ? r->by : "";
        snprintf(buf, len, "callback %" PRIu64 " recorded: customer %s", r->callback_id,
                 r->satisfied ? "satisfied" : "not satisfied");
        break;
    }
    case CASELOOP__V1__ENVELOPE__BODY_CALLBACK_REVIEWED: {
        const Caseloop__V1__CallbackReviewed *r = ev->callback_reviewed;
        *actor = r->by ? r->by : "";
        snprintf(buf, len, "callback %" PRIu64 " reviewed: %s", r->callback_id, r->opinion ? r->opinion : "");
        break;
    }
    case CASELOOP__V1__ENVELOPE__BODY_REPLY_LETTER_ATTACHED: {
        const Caseloop__V1__ReplyLetterAttached *a = ev->reply_letter_attached;
        *actor = a->by ? a->by : "";
        snprintf(buf, len, "reply letter %" PRIu64 " attached: %s", a->letter_id,
                 a->text && *a->text ? a->text : a->document_ref ? a->document_ref : "");
        break;
    }
    case CASELOOP__V1__ENVELOPE__BODY_OPEN_LETTER_SENT: {
        const Caseloop__V1__OpenLetterSent *o = ev->open_letter_sent;
        *actor = o->by ? o->by : "";
        snprintf(buf, len, "open letter %" PRIu64 " answers it%s: %s", o->letter_id,
                 o->has_callback_id ? " (its callback ends)" : "",
                 o->text && *o->text ? o->text : o->document_ref ? o->document_ref : "");
        break;
    }
    case CASELOOP__V1__ENVELOPE__BODY_CASE_PREFERENCES_CHANGED: {
        const Caseloop__V1__CasePreferencesChanged *c = ev->case_preferences_changed;
        const Caseloop__V1__CustomerPreferences *p = c->preferences;
        *actor = c->actor ? c->actor : "";
        int n = snprintf(buf, len, "callback preferences changed:%s", p && p->do_not_call ? " do not call" : "");
        for (size_t i = 0; p && i < p->n_windows && n > 0 && (size_t)n < len; i++)
            n += snprintf(buf + n, len - (size_t)n, " %s", p->windows[i]);
        if (p && p->time_zone && *p->time_zone && n > 0 && (size_t)n < len)
            n += snprintf(buf + n, len - (size_t)n, " (%s)", p->time_zone);
        if (p && p->has_mode && n > 0 && (size_t)n < len)
            snprintf(buf + n, len - (size_t)n, " by %s",
                     cl_codec_enum_name(&caseloop__v1__callback_mode__descriptor, (int)p->mode, a, sizeof a));
        break;
    }
    case CASELOOP__V1__ENVELOPE__BODY_CALLBACK_SCHEDULED: {
        const Caseloop__V1__Callback *c = ev->callback_scheduled->callback;
        char t[48];
        snprintf(buf, len, "callback %" PRIu64 " (#%" PRIu32 ") to be made by %s from %s%s", c ? c->callback_id : 0,
                 c ? c->number : 0, c && c->performer && *c->performer ? c->performer : "(nobody found yet)",
                 c && c->has_slot_start_us ? cl_describe_time(c->slot_start_us, t, sizeof t) : "(no slot yet)",
                 c && c->late ? ", after its deadline" : "");
        break;
    }
    case CASELOOP__V1__ENVELOPE__BODY_CALLBACK_SKIPPED: {
        const Caseloop__V1__CallbackSkipped *k = ev->callback_skipped;
        snprintf(buf, len, "no callback: %s (%s)",
                 cl_codec_enum_name(&caseloop__v1__skip_reason__descriptor, (int)k->reason, a, sizeof a),
                 k->rule ? k->rule : "");
        break;
    }
    case CASELOOP__V1__ENVELOPE__BODY_CALLBACK_ATTEMPTED: {
        const Caseloop__V1__CallbackAttempted *t = ev->callback_attempted;
        *actor = t->by ? t->by : "";
        snprintf(buf, len, "callback %" PRIu64 " attempt %" PRIu32 ": %s", t->callback_id, t->attempt,
                 cl_codec_enum_name(&caseloop__v1__attempt_outcome__descriptor, (int)t->outcome, a, sizeof a));
        break;
    }
    case CASELOOP__V1__ENVELOPE__BODY_CALLBACK_UNREACHABLE:
        snprintf(buf, len, "callback %" PRIu64 " ends: customer unreachable after %" PRIu32 " attempts",
                 ev->callback_unreachable->callback_id, ev->callback_unreachable->attempts);
        break;
    case CASELOOP__V1__ENVELOPE__BODY_CALLBACK_OVERDUE: {
        const Caseloop__V1__CallbackOverdue *o = ev->callback_overdue;
        snprintf(buf, len, "callback %" PRIu64 " %s; told %s", o->callback_id,
                 o->deadline_passed ? "still open at its deadline" : "not made in its slot",
                 o->tell && *o->tell ? o->tell : "(nobody: the site has no supervisor)");
        break;
    }
    default:
        snprintf(buf, len, "%s", cl_codec_body_name(ev));
        break;
    }
    return buf;
}

