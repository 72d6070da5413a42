/* validate.c - checks on a submitted case. */
#include "validate.h"
#include "cl_calendar.h"
#include "cl_text.h"
#include "cl_tz.h"
#include <stdio.h>
#include <string.h>
#include <inttypes.h>

int cl_validate_enum(const ProtobufCEnumDescriptor *desc, int value)
{
    return protobuf_c_enum_descriptor_get_value(desc, value) != NULL;
}

/* An optional enum may be absent; when present it must be a known value
   (unspecified_ok: whether 0 is accepted). */
static int s_enum(const ProtobufCEnumDescriptor *desc, protobuf_c_boolean has, int value, const char *field,
                  int unspecified_ok, cl_err_t *err)
{
    if (!has)
        return 0;
    if (!cl_validate_enum(desc, value) || (value == 0 && !unspecified_ok))
        return cl_err_set(err, CL_INVALID_ARGUMENT, field, "%s %d is not a known %s value", field, value,
                          desc->short_name);
    return 0;
}

int cl_validate_case(const Caseloop__V1__Case *c, cl_err_t *err)
{
    if (!c)
        return cl_err_set(err, CL_INVALID_ARGUMENT, "details", "details is required");
    if (cl_text_check(c->site, "details.site", 1, CL_SITE_MAX, err) < 0)
        return -1;
    /* No kind is allowed: the dispatcher classifies the case from its description. */
    if (s_enum(&caseloop__v1__kind__descriptor, c->has_kind, (int)c->kind, "details.kind", 1, err) < 0 ||
        s_enum(&caseloop__v1__channel__descriptor, c->has_channel, (int)c->channel, "details.channel", 1, err) < 0 ||
        s_enum(&caseloop__v1__severity__descriptor, c->has_severity, (int)c->severity, "details.severity", 1, err) < 0)
        return -1;
    if (cl_text_check(c->description, "details.description", 1, CL_DESCRIPTION_MAX, err) < 0 ||
        cl_text_check(c->customer_name, "details.customer_name", 0, CL_NAME_MAX, err) < 0 ||
        cl_text_check(c->customer_contact, "details.customer_contact", 0, CL_CONTACT_MAX, err) < 0 ||
        cl_text_check(c->location, "details.location", 0, CL_LOCATION_MAX, err) < 0 ||
        cl_text_check(c->first_receiver, "details.first_receiver", 0, CL_RECEIVER_MAX, err) < 0 ||
        cl_text_check(c->external_source, "details.external_source", 1, CL_SOURCE_MAX, err) < 0 ||
        cl_text_check(c->external_id, "details.external_id", 1, CL_EXTERNAL_ID_MAX, err) < 0)
        return -1;
    if (!c->anonymous && !*(c->customer_name ? c->customer_name : "") &&
        !*(c->customer_contact ? c->customer_contact : ""))
        return cl_err_set(err, CL_INVALID_ARGUMENT, "details.customer_contact",
                          "a customer name or contact is required unless the case is anonymous");
    if (c->has_occurred_at_us && c->occurred_at_us < 0)
        return cl_err_set(err, CL_INVALID_ARGUMENT, "details.occurred_at_us", "details.occurred_at_us is before 1970");
    if (c->has_raised_in_callback_of && (c->raised_in_callback_of == 0 || c->raised_in_callback_of > INT64_MAX))
        return cl_err_set(err, CL_INVALID_ARGUMENT, "details.raised_in_callback_of",
                          "details.raised_in_callback_of is not a case number");
    return 0;
}

int cl_validate_occurred(const Caseloop__V1__Case *c, int64_t now_us, int64_t skew_us, cl_err_t *err)
{
    if (c->has_occurred_at_us && c->occurred_at_us > now_us + skew_us)
        return cl_err_set(err, CL_INVALID_ARGUMENT, "details.occurred_at_us",
                          "details.occurred_at_us is %" PRId64 " s in the future (the site allows %" PRId64 " s)",
                          (c->occurred_at_us - now_us) / 1000000, skew_us / 1000000);
    return 0;
}

int cl_validate_preferences(const Caseloop__V1__CustomerPreferences *p, const char *path, const char *tz_dir, cl_err_t *err)
{
    char f[96];
    if (!p)
        return 0;
    if (p->n_windows > CL_PREFERENCE_WINDOWS_MAX)
        return cl_err_set(err, CL_INVALID_ARGUMENT, (snprintf(f, sizeof f, "%s.windows", path), f),
                          "%zu windows; at most %d are taken", p->n_windows, CL_PREFERENCE_WINDOWS_MAX);
    int last_to = -1;
    for (size_t i = 0; i < p->n_windows; i++) {
        char field[128];
        snprintf(field, sizeof field, "%s.windows[%zu]", path, i);
        cl_calendar_interval_t iv;
        if (cl_calendar_interval_parse(p->windows[i], &iv) < 0)
            return cl_err_set(err, CL_INVALID_ARGUMENT, field, "a window is \"HH:MM-HH:MM\" with its end after its start");
        if (iv.from_min < last_to)
            return cl_err_set(err, CL_INVALID_ARGUMENT, field, "windows are in order of the day and do not overlap");
        last_to = iv.to_min;
    }
    snprintf(f, sizeof f, "%s.mode", path);
    if (s_enum(&caseloop__v1__callback_mode__descriptor, p->has_mode, p->mode, f, 1, err) < 0)
        return -1;
    snprintf(f, sizeof f, "%s.time_zone", path);
    if (p->time_zone && *p->time_zone &&
        (cl_text_check(p->time_zone, f, 1, 64, err) < 0 ||
         (!cl_tz_exists(tz_dir, p->time_zone) &&
          cl_err_set(err, CL_INVALID_ARGUMENT, f,
                     "\"%s\" is not a known time zone; an IANA name such as \"Europe/London\"", p->time_zone) < 0)))
        return -1;
    return 0;
}
