/* cl_text.h - checks on text that arrives from outside: UTF-8 and length. */
#ifndef CL_TEXT_H
#define CL_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include "cl_err.h"

/* True when s[0..len) is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool cl_utf8_valid(const char *s, size_t len);

/* Checks an optional text field: NULL counts as "". Refuses with INVALID_ARGUMENT
   naming field when it is shorter than min_len or longer than max_len bytes, or
   not UTF-8. Returns 0 or -1. */
int cl_text_check(const char *s, const char *field, size_t min_len, size_t max_len, cl_err_t *err);

/* A request's optional `limit`: *out is v when given (has), else def; refused with
   INVALID_ARGUMENT on field "limit" outside 1..max. Returns 0 or -1. */
int cl_text_limit(bool has, uint32_t v, uint32_t def, uint32_t max, uint32_t *out, cl_err_t *err);

#endif
