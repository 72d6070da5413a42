/* cl_eventlog.h - the event log in PostgreSQL: append in the caller's transaction, read by position, publish. */
#ifndef CL_EVENTLOG_H
#define CL_EVENTLOG_H

#include <stddef.h>
#include <stdint.h>
#include "cl_buf.h"
#include "cl_codec.h"
#include "cl_db.h"

typedef struct {
    cl_env_t *env;     /* the event, body set; append sets env->position */
    int64_t case_id;   /* the case it concerns, 0 for none */
    cl_buf_t packed;   /* set by append: the envelope as stored, to publish after commit */
} cl_event_t;

/* Appends n events inside the caller's open transaction: takes the next n
   positions (holding the log's head lock until the caller commits or rolls
   back), packs and inserts them. Returns 0, or -1 with err. */
int cl_eventlog_append(cl_db_t *db, cl_event_t *evs, size_t n, int64_t now_us, cl_err_t *err) CL_WARN_UNUSED;

/* (Events are published after commit through cl_publisher: cl_publish.h.) */

/* Releases the packed buffers of evs (not the envelopes). */
void cl_eventlog_release(cl_event_t *evs, size_t n);

/* Calls fn for each event after position `after`, oldest first, at most max.
   Returns how many, or -1 with err (also when fn returns -1). */
typedef int (*cl_eventlog_row_fn)(void *arg, uint64_t position, const void *envelope, size_t len);
int cl_eventlog_read(cl_db_t *db, uint64_t after, uint32_t max, cl_eventlog_row_fn fn, void *arg,
                     cl_err_t *err) CL_WARN_UNUSED;

/* The events after position `after` whose type is one of `types` (body names,
   NULL-terminated; NULL for every event), at most max, decoded into out (room
   for max; free each with cl_codec_free); *head gets the last committed
   position as of the read, *upto the one the reader has seen through: the
   last event read when max were read, else *head (at least `after`). Returns
   how many, or -1 with err (also when a stored event does not decode, which
   is logged). */
int cl_eventlog_read_envs(cl_db_t *db, uint64_t after, const char *const *types, uint32_t max, cl_env_t **out,
                          uint64_t *head, uint64_t *upto, cl_err_t *err) CL_WARN_UNUSED;

/* A consumer that applies the log in transactions of its own effects:
   begins one, holding the consumer's position row (made at 0 the first
   time) so that another instance of it waits, and reads into out (room for
   max) the events after that position whose type is one of `types` (body
   names, NULL-terminated; NULL for every event). *from gets the position it
   started after, *upto the one it has seen through: the last event read
   when max were read, else the head of the log as of the read (the events
   in between are of other types). Returns how many, or -1 with err (the
   transaction rolled back). */
int cl_eventlog_consume(cl_db_t *db, const char *consumer, const char *const *types, uint32_t max, cl_env_t **out,
                        uint64_t *from, uint64_t *upto, cl_err_t *err) CL_WARN_UNUSED;

/* Frees the n events of events (as read by cl_eventlog_consume or
   cl_eventlog_read_envs) and the array itself. */
void cl_eventlog_free_envs(cl_env_t **events, int n);

/* In that transaction: moves the consumer's position to `to` and commits. Returns 0 or -1 with err. */
int cl_eventlog_consumed(cl_db_t *db, const char *consumer, uint64_t to, cl_err_t *err) CL_WARN_UNUSED;

/* The last committed position. Returns 0 or -1 with err. */
int cl_eventlog_head(cl_db_t *db, uint64_t *head, cl_err_t *err) CL_WARN_UNUSED;

#endif
