/* cl_codec.c - envelope codec with checks. */
#include "cl_codec.h"
#include "cl_text.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* Reads a varint at *p (before end); returns 0, or -1 when it runs past end. */
static int s_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; *p < end && shift < 64; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80))
            return 0;
    }
    return -1;
}

/* How deep messages may nest in a frame. The contract nests an Envelope in
   ReadEventsReply, so without a bound a small frame could nest thousands of
   levels and exhaust the stack of a recursive decoder. */
#define MAX_DEPTH 8

/* Walks the wire format of a message of type desc in data[0..len) and of
   the messages inside it (into the envelope's body only when into_body):
   refuses nesting deeper than MAX_DEPTH, and, when text is set, text fields
   with a NUL character (it would cut the text short once decoded) or that
   are not valid UTF-8. Fields are named by their path from prefix
   ("envelope." for the envelope's own fields, "" inside the body). Malformed
   bytes are left to the unpacker. Returns 0, or -1 with err. */
static int s_walk(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len, const char *prefix,
                  bool in_envelope, bool into_body, bool text, int depth, cl_err_t *err)
{
    if (depth > MAX_DEPTH)
        return cl_err_set(err, CL_INVALID_ARGUMENT, "frame", "messages are nested more than %d deep", MAX_DEPTH);
    const uint8_t *p = data, *end = data + len;
    while (p < end) {
        uint64_t tag, n = 0;
        if (s_varint(&p, end, &tag) < 0)
            return 0; /* malformed: the unpacker has the last word */
        switch (tag & 7) {
        case 0:
            if (s_varint(&p, end, &n) < 0)
                return 0;
            continue;
        case 1:
        case 5:
            n = (tag & 7) == 1 ? 8 : 4;
            if (n > (uint64_t)(end - p))
                return 0;
            p += n;
            continue;
        case 2:
            break;
        default:
            return 0;
        }
        if (s_varint(&p, end, &n) < 0 || n > (uint64_t)(end - p))
            return 0;
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(desc, (unsigned)(tag >> 3));
        if (f && f->type == PROTOBUF_C_TYPE_STRING && text) {
            bool nul = memchr(p, 0, n) != NULL;
            if (nul || !cl_utf8_valid((const char *)p, n)) {
                char field[sizeof err->field];
                snprintf(field, sizeof field, "%s%s", prefix, f->name);
                return cl_err_set(err, CL_INVALID_ARGUMENT, field, "%s %s", field,
                                  nul ? "contains a NUL character" : "is not valid UTF-8");
            }
        } else if (f && f->type == PROTOBUF_C_TYPE_MESSAGE && (into_body || !in_envelope)) {
            char sub[sizeof err->field];
            /* The body starts the paths afresh: "details.site", not "envelope.submit_case.details.site". */
            snprintf(sub, sizeof sub, "%s", in_envelope ? "" : prefix);
            if (!in_envelope)
                snprintf(sub + strlen(sub), sizeof sub - strlen(sub), "%s.", f->name);
            if (s_walk(f->descriptor, p, (size_t)n, sub, false, true, text, depth + 1, err) < 0)
                return -1;
        }
        p += n;
    }
    return 0;
}

cl_env_t *cl_codec_decode(const void *data, size_t len, size_t max_len, cl_err_t *err)
{
    if (len > max_len) {
        cl_err_set(err, CL_RESOURCE_EXHAUSTED, "frame", "frame of %zu bytes is over the limit of %zu bytes", len,
                   max_len);
        return NULL;
    }
    if (s_walk(&caseloop__v1__envelope__descriptor, data, len, "", true, true, false, 0, err) < 0)
        return NULL;
    cl_env_t *env = caseloop__v1__envelope__unpack(NULL, len, data);
    if (!env) {
        cl_err_set(err, CL_INVALID_ARGUMENT, "frame", "frame is not a caseloop.v1.Envelope (not protobuf, or truncated)");
        return NULL;
    }
    if (s_walk(&caseloop__v1__envelope__descriptor, data, len, "envelope.", true, false, true, 0, err) < 0)
        goto err;
    if (cl_text_check(env->message_id, "envelope.message_id", 1, CL_ID_MAX, err) < 0 ||
        cl_text_check(env->correlation_id, "envelope.correlation_id", 0, CL_ID_MAX, err) < 0 ||
        cl_text_check(env->site, "envelope.site", 0, 64, err) < 0 ||
        cl_text_check(env->sender, "envelope.sender", 0, 100, err) < 0)
        goto err;
    if (!env->has_schema_version) {
        cl_err_set(err, CL_INVALID_ARGUMENT, "envelope.schema_version", "envelope.schema_version is required");
        goto err;
    }
    if (env->schema_version != CL_SCHEMA_VERSION) {
        cl_err_set(err, CL_INVALID_ARGUMENT, "envelope.schema_version", "schema version %" PRIu32 " is not served (this is version %d)",
                   env->schema_version, CL_SCHEMA_VERSION);
        goto err;
    }
    if (env->body_case == CASELOOP__V1__ENVELOPE__BODY__NOT_SET) {
        if (env->base.n_unknown_fields > 0)
            cl_err_set(err, CL_UNIMPLEMENTED, "body", "message type is not known to this version");
        else
            cl_err_set(err, CL_INVALID_ARGUMENT, "body", "envelope has no body: exactly one is required");
        goto err;
    }
    return env;
err:
    caseloop__v1__envelope__free_unpacked(env, NULL);
    return NULL;
}

int cl_codec_check_body_text(const void *data, size_t len, cl_err_t *err)
{
    return s_walk(&caseloop__v1__envelope__descriptor, data, len, "envelope.", true, true, true, 0, err);
}

void cl_codec_free(cl_env_t *env)
{
    if (env)
        caseloop__v1__envelope__free_unpacked(env, NULL);
}

void cl_codec_encode(const cl_env_t *env, cl_buf_t *out)
{
    size_t n = caseloop__v1__envelope__get_packed_size(env);
    cl_buf_reset(out);
    cl_buf_reserve(out, n);
    caseloop__v1__envelope__pack(env, (uint8_t *)out->data);
    out->len = n;
}

void cl_codec_new_id(char id_buf[CL_ID_MAX + 1])
{
    /* A random process prefix and a counter: unique without a syscall per id. */
    static __thread uint64_t prefix[2];
    static __thread uint64_t counter;
    if (!prefix[0] && !prefix[1]) {
        if (getrandom(prefix, sizeof prefix, 0) != (ssize_t)sizeof prefix) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            prefix[0] = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)(uintptr_t)&ts;
            prefix[1] = (uint64_t)(uintptr_t)id_buf;
        }
    }
    snprintf(id_buf, CL_ID_MAX + 1, "%016" PRIx64 "%016" PRIx64 "-%" PRIu64, prefix[0], prefix[1], ++counter);
}

void cl_codec_init(cl_env_t *env, char id_buf[CL_ID_MAX + 1], const char *sender, int64_t now_us)
{
    caseloop__v1__envelope__init(env);
    cl_codec_new_id(id_buf);
    env->message_id = id_buf;
    env->sender = (char *)sender;
    env->has_schema_version = 1;
    env->schema_version = CL_SCHEMA_VERSION;
    env->has_sent_at_us = 1;
    env->sent_at_us = now_us;
}

const char *cl_codec_body_name(const cl_env_t *env)
{
    if (env->body_case == CASELOOP__V1__ENVELOPE__BODY__NOT_SET)
        return "";
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(&caseloop__v1__envelope__descriptor, (unsigned)env->body_case);
    if (!f || f->type != PROTOBUF_C_TYPE_MESSAGE)
        return "";
    return ((const ProtobufCMessageDescriptor *)f->descriptor)->short_name;
}

void cl_codec_error_reply(const char *correlation_id, const char *sender, int64_t now_us, const cl_err_t *err,
                          cl_buf_t *out)
{
    cl_env_t env;
    char id[CL_ID_MAX + 1];
    cl_codec_init(&env, id, sender, now_us);
    env.correlation_id = (char *)(correlation_id ? correlation_id : "");
    Caseloop__V1__Error e = CASELOOP__V1__ERROR__INIT;
    e.has_code = 1;
    e.code = err->code;
    e.field = (char *)err->field;
    e.message = (char *)err->message;
    env.body_case = CASELOOP__V1__ENVELOPE__BODY_ERROR;
    env.error = &e;
    cl_codec_encode(&env, out);
}

const char *cl_codec_enum_name(const ProtobufCEnumDescriptor *d, int v, char *buf, size_t len)
{
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, v);
    if (!ev) {
        snprintf(buf, len, "%d", v);
        return buf;
    }
    /* The prefix is the enum's name in upper snake case: CaseState -> CASE_STATE_. */
    char prefix[64];
    size_t k = 0;
    for (const char *p = d->short_name; *p && k < sizeof prefix - 3; p++) {
        if (*p >= 'A' && *p <= 'Z' && p != d->short_name)
            prefix[k++] = '_';
        prefix[k++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
    }
    prefix[k++] = '_';
    prefix[k] = '\0';
    snprintf(buf, len, "%s", strncmp(ev->name, prefix, k) == 0 ? ev->name + k : ev->name);
    for (char *p = buf; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return buf;
}
