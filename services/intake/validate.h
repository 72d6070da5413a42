/* validate.h - what intake accepts as a case: pure checks, no I/O. */
#ifndef CL_INTAKE_VALIDATE_H
#define CL_INTAKE_VALIDATE_H

#include <stdint.h>
#include "caseloop/v1/case.pb-c.h"
#include "cl_err.h"

/* Limits in bytes of UTF-8 text; the contract (case.proto) states the same. */
#define CL_SITE_MAX 64
#define CL_NAME_MAX 200
#define CL_CONTACT_MAX 200
#define CL_LOCATION_MAX 500
#define CL_DESCRIPTION_MAX 8000
#define CL_RECEIVER_MAX 100
#define CL_SOURCE_MAX 100
#define CL_EXTERNAL_ID_MAX 200

/* Checks a submitted case, all but what its site's policy decides
   (cl_validate_occurred). Returns 0, or -1 with err (INVALID_ARGUMENT and the
   field as "details.<name>"). Does not change c. A case from any channel
   names its site and problem, and a customer name or contact unless it is
   anonymous (R-IN-1, R-IN-4); a case raised in a callback names the case
   called back by its number (R-CB-6); occurred_at is not before 1970. */
int cl_validate_case(const Caseloop__V1__Case *c, cl_err_t *err) CL_WARN_UNUSED;

/* Checks that a case received at now_us did not occur more than skew_us
   after (its site's future_skew). Returns 0, or -1 with err INVALID_ARGUMENT
   on details.occurred_at_us. */
int cl_validate_occurred(const Caseloop__V1__Case *c, int64_t now_us, int64_t skew_us, cl_err_t *err) CL_WARN_UNUSED;

/* True when value is one of enum desc's values. */
int cl_validate_enum(const ProtobufCEnumDescriptor *desc, int value);

/* The customer's callback preferences of a submission (p may be NULL): up to
   CL_PREFERENCE_WINDOWS_MAX windows "HH:MM-HH:MM", in order and apart; a known
   mode (or none); a time zone of the zoneinfo folder tz_dir (or none).
   Returns 0, or -1 with err INVALID_ARGUMENT naming the field under path
   ("details.preferences" gives "details.preferences.windows[1]"). */
#define CL_PREFERENCE_WINDOWS_MAX 4
int cl_validate_preferences(const Caseloop__V1__CustomerPreferences *p, const char *path, const char *tz_dir,
                            cl_err_t *err) CL_WARN_UNUSED;

#endif
