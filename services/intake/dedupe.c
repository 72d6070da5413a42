/* dedupe.c - same-problem decision. */
#include "dedupe.h"
#include <stdlib.h>
#include <string.h>

/* Next code point of UTF-8 text (input is validated; a bad byte counts as itself). */
static uint32_t s_next(const unsigned char **p)
{
    const unsigned char *s = *p;
    uint32_t c = *s;
    int n = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : 0;
    if (n)
        c &= 0x3F >> n;
    s++;
    for (int i = 0; i < n && (*s & 0xC0) == 0x80; i++, s++)
        c = (c << 6) | (*s & 0x3F);
    *p = s;
    return c;
}

static int s_skip(uint32_t c)
{
    if (c < 0x80)
        return !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
    return (c >= 0x2000 && c <= 0x206F) ||  /* general punctuation */
           (c >= 0x3000 && c <= 0x303F) ||  /* CJK symbols and punctuation */
           (c >= 0xFF00 && c <= 0xFF0F) || (c >= 0xFF1A && c <= 0xFF20) ||  /* full-width punctuation */
           c == 0x00A0;
}

static int s_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

#define TAG_CHAR (UINT64_C(1) << 62)
#define TAG_PAIR (UINT64_C(2) << 62)
#define TAG_WORD (UINT64_C(3) << 62)

/* Sorted, distinct tokens of s: each ASCII word (letters and digits, folded
   to lower case), and each other character with each pair of adjacent ones,
   the way Chinese text is compared (punctuation between
   them does not part a pair). *n is set. */
static uint64_t *s_tokens(const char *s, size_t *n)
{
    size_t len = strlen(s);
    uint64_t *g = malloc((2 * len + 2) * sizeof *g);
    if (!g) {
        *n = 0;
        return NULL;
    }
    size_t k = 0;
    uint64_t word = 0;       /* FNV-1a of the ASCII word being read */
    int in_word = 0;
    uint32_t prev = 0;       /* previous character of a run of non-ASCII ones, 0 if none */
    const unsigned char *p = (const unsigned char *)s;
    for (;;) {
        uint32_t c = *p ? s_next(&p) : 0;
        int alnum = c && c < 0x80 && !s_skip(c);
        if (in_word && !alnum) {
            g[k++] = TAG_WORD | (word & (TAG_CHAR - 1));
            in_word = 0;
        }
        if (!c)
            break;
        if (alnum) {
            if (!in_word)
                word = UINT64_C(14695981039346656037), in_word = 1;
            word = (word ^ (c >= 'A' && c <= 'Z' ? c + 'a' - 'A' : c)) * UINT64_C(1099511628211);
            prev = 0;
        } else if (c >= 0x80 && !s_skip(c)) {
            g[k++] = TAG_CHAR | c;
            if (prev)
                g[k++] = TAG_PAIR | ((uint64_t)prev << 21) | c;
            prev = c;
        }
        /* spaces and punctuation end a word but not a run of characters */
    }
    qsort(g, k, sizeof *g, s_cmp);
    size_t out = 0;
    for (size_t i = 0; i < k; i++)
        if (out == 0 || g[out - 1] != g[i])
            g[out++] = g[i];
    *n = out;
    return g;
}

double cl_similarity(const char *a, const char *b)
{
    size_t na, nb;
    uint64_t *ga = s_tokens(a, &na), *gb = s_tokens(b, &nb);
    double result;
    if (na + nb == 0) {
        result = strcmp(a, b) == 0 ? 1.0 : 0.0;
    } else {
        size_t i = 0, j = 0, common = 0;
        while (i < na && j < nb) {
            if (ga[i] == gb[j])
                common++, i++, j++;
            else if (ga[i] < gb[j])
                i++;
            else
                j++;
        }
        result = 2.0 * (double)common / (double)(na + nb);
    }
    free(ga);
    free(gb);
    return result;
}

int cl_dedupe_pick(const cl_dedupe_item_t *probe, const cl_dedupe_item_t *cands, size_t n,
                   const cl_dedupe_policy_t *policy)
{
    int best = -1;
    double best_sim = 0;
    if (policy->window_us <= 0)
        return -1; /* no window: every report is a case of its own, also two in one batch */
    for (size_t i = 0; i < n; i++) {
        const cl_dedupe_item_t *c = &cands[i];
        if (strcmp(c->site, probe->site) != 0 || c->kind != probe->kind)
            continue;
        int same_contact = *probe->contact && strcmp(c->contact, probe->contact) == 0;
        int same_place = *probe->location && strcmp(c->location, probe->location) == 0;
        if (!same_contact && !same_place)
            continue;
        if (c->received_at_us < probe->received_at_us - policy->window_us)
            continue;
        double sim = cl_similarity(c->description, probe->description);
        if (sim < policy->min_similarity)
            continue;
        if (best < 0 || sim > best_sim ||
            (sim == best_sim && c->received_at_us < cands[best].received_at_us)) {
            best = (int)i;
            best_sim = sim;
        }
    }
    return best;
}
