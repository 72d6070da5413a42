/* terms.c - a submission's terms from its site's policy. */
#include "terms.h"
#include "cl.h"

int cl_terms_of(const cl_site_policy_t *s, int64_t receipt_us, cl_terms_t *out)
{
    out->respond_by_us = 0;
    if (!s) {
        out->dedupe.window_us = CL_POLICY_DEDUPE_WINDOW_S * CL_US_PER_S;
        out->dedupe.min_similarity = CL_POLICY_DEDUPE_SIMILARITY;
        out->future_skew_us = CL_POLICY_FUTURE_SKEW_S * CL_US_PER_S;
        return 0;
    }
    out->dedupe.window_us = s->dedupe_window_s * CL_US_PER_S;
    out->dedupe.min_similarity = s->dedupe_similarity;
    out->future_skew_us = s->future_skew_s * CL_US_PER_S;
    int64_t by;
    int rc = cl_policy_promise(s, receipt_us, &by);
    if (rc == 1)
        out->respond_by_us = by;
    return rc < 0 ? -1 : 0;
}
