/* cl_codec.h - the envelope codec: checks size and required fields before anything trusts a message. */
#ifndef CL_CODEC_H
#define CL_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include "caseloop/v1/envelope.pb-c.h"
#include "cl_buf.h"
#include "cl_err.h"

typedef Caseloop__V1__Envelope cl_env_t;

#define CL_SCHEMA_VERSION 1
#define CL_ID_MAX 64  /* bytes of message_id / correlation_id */

/* Decodes one frame. Refuses, with err set and NULL returned: a frame over
   max_len (RESOURCE_EXHAUSTED, field "frame"); bytes that are not a protobuf
   Envelope, truncated included (INVALID_ARGUMENT, "frame"); a missing or bad
   message_id or schema_version, envelope text that is not UTF-8 or holds a
   NUL (INVALID_ARGUMENT, "envelope.<name>"); no body, or a body this version does not know
   (UNIMPLEMENTED, "body"). The result is freed with cl_codec_free. */
cl_env_t *cl_codec_decode(const void *data, size_t len, size_t max_len, cl_err_t *err);

/* Checks the text of every field of the body in a frame that cl_codec_decode
   accepted: no NUL character (it would cut the text short once decoded) and
   valid UTF-8. Returns 0, or -1 with err (INVALID_ARGUMENT, the field as its
   path from the body: "details.description"). Kept apart from decoding so that
   the refusal can still answer the request's message_id. */
int cl_codec_check_body_text(const void *data, size_t len, cl_err_t *err) CL_WARN_UNUSED;

/* Frees a decoded envelope; NULL is fine. */
void cl_codec_free(cl_env_t *env);

/* Packs env into out (replacing its content). */
void cl_codec_encode(const cl_env_t *env, cl_buf_t *out);

/* Starts an envelope for sending: a fresh message_id (written into id_buf,
   which must outlive env), schema version, sent_at from now_us, sender. */
void cl_codec_init(cl_env_t *env, char id_buf[CL_ID_MAX + 1], const char *sender, int64_t now_us);

/* A fresh message id: unique across processes and restarts. */
void cl_codec_new_id(char id_buf[CL_ID_MAX + 1]);

/* The name of env's body message type ("CaseReceived"), used as the PUB topic;
   "" when no body is set. */
const char *cl_codec_body_name(const cl_env_t *env);

/* Packs the Error reply to a request whose message_id was correlation_id
   (NULL when the request could not be read) into out. */
void cl_codec_error_reply(const char *correlation_id, const char *sender, int64_t now_us,
                          const cl_err_t *err, cl_buf_t *out);

/* The name people read for enum value v of d: the value's name without the
   enum's prefix, lowercased (KIND_COMPLAINT -> "complaint"); the number for
   an unknown value. Written into buf, which is returned. */
const char *cl_codec_enum_name(const ProtobufCEnumDescriptor *d, int v, char *buf, size_t len);

#endif
