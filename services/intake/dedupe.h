/* dedupe.h - is this report the same problem as an open case? Pure functions (R-IN-3). */
#ifndef CL_INTAKE_DEDUPE_H
#define CL_INTAKE_DEDUPE_H

#include <stddef.h>
#include <stdint.h>

/* A case, or a new report, as far as de-duplication cares. */
typedef struct {
    const char *site;
    int kind;
    const char *contact;      /* "" when not given */
    const char *location;     /* "" when not given */
    const char *description;
    int64_t received_at_us;
} cl_dedupe_item_t;

typedef struct {
    int64_t window_us;        /* how far back an open case still counts */
    double min_similarity;    /* 0..1, of the descriptions (cl_similarity) */
} cl_dedupe_policy_t;

/* Similarity of two descriptions in 0..1: the Dice coefficient of their
   token sets, where a token is an ASCII word (case folded), or a Chinese (any
   non-ASCII) character, or a pair of adjacent such characters; spaces and
   punctuation separate tokens. 1 for equal text, 0 for nothing in common. */
double cl_similarity(const char *a, const char *b);

/* The same problem: same site and kind, the same non-empty contact or the same
   non-empty location, received within the window before probe, and a
   description at least min_similarity alike. Returns the index of the most
   alike candidate (the earliest on a tie), or -1 for none (always, when the
   window is 0). R-IN-3: a later
   report of the same problem attaches to that case. */
int cl_dedupe_pick(const cl_dedupe_item_t *probe, const cl_dedupe_item_t *cands, size_t n,
                   const cl_dedupe_policy_t *policy);

#endif
