/* terms.h - what a site's policy says of a submission: the promise to the customer and how one problem is told from another. Pure. */
#ifndef CL_INTAKE_TERMS_H
#define CL_INTAKE_TERMS_H

#include <stdint.h>
#include "cl_policy.h"
#include "dedupe.h"

typedef struct {
    int64_t respond_by_us;       /* when the customer hears back; 0: nothing is promised */
    cl_dedupe_policy_t dedupe;
    int64_t future_skew_us;      /* how far occurred_at may lie after the receipt */
} cl_terms_t;

/* The terms of a submission to site s (NULL: the site has no policy yet)
   received at receipt_us. The promise (R-IN-2) is the due time of the site's
   promise clock armed at receipt, on the site's calendar (cl_policy_promise);
   a site with no policy, or whose promise clock is inactive, promises
   nothing. The dedupe window and similarity (R-IN-3) and the skew are the
   site's, or the policy defaults for a site with no policy. Returns 0, or -1
   when the site's calendar cannot place the promise (nothing is promised). */
int cl_terms_of(const cl_site_policy_t *s, int64_t receipt_us, cl_terms_t *out);

#endif
