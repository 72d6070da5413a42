/* cl_text.c - UTF-8 and length checks. */
#include "cl_text.h"
#include <inttypes.h>
#include <string.h>

bool cl_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p;
        if (c < 0x80) {
            p++;
            continue;
        }
        size_t n;
        unsigned cp, min;
        if ((c & 0xE0) == 0xC0) {
            n = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if ((size_t)(end - p) <= n)
            return false;
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        p += n + 1;
    }
    return true;
}

int cl_text_check(const char *s, const char *field, size_t min_len, size_t max_len, cl_err_t *err)
{
    size_t len = s ? strlen(s) : 0;
    if (len < min_len)
        return cl_err_set(err, CL_INVALID_ARGUMENT, field,
                          len == 0 ? "%s is required" : "%s is shorter than %zu bytes", field, min_len);
    if (len > max_len)
        return cl_err_set(err, CL_INVALID_ARGUMENT, field, "%s is %zu bytes, over the limit of %zu", field,
                          len, max_len);
    if (!cl_utf8_valid(s ? s : "", len))
        return cl_err_set(err, CL_INVALID_ARGUMENT, field, "%s is not valid UTF-8", field);
    return 0;
}

int cl_text_limit(bool has, uint32_t v, uint32_t def, uint32_t max, uint32_t *out, cl_err_t *err)
{
    *out = has ? v : def;
    if (*out < 1 || *out > max)
        return cl_err_set(err, CL_INVALID_ARGUMENT, "limit", "limit is outside 1..%" PRIu32, max);
    return 0;
}
