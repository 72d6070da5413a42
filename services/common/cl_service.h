/* cl_service.h - the request side every service shares: decoding, refusals, replies, counters, GetStats, READY. */
#ifndef CL_SERVICE_H
#define CL_SERVICE_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include "cl_bus.h"
#include "cl_clock.h"
#include "cl_codec.h"
#include "cl_config.h"
#include "cl_db.h"

typedef struct cl_service cl_service_t;

/* The options every service has, for its configuration table; its config
   struct has members db, migrations, log_level, notify_fd, shutdown_s and queue_max, and
   the file defines CL_MIGRATIONS_DEFAULT. */
#define CL_SERVICE_OPTIONS(st)                                                                                     \
    CL_CFG_STR("CL_DB", st, db, "dbname=caseloop", "PostgreSQL connection (libpq conninfo or URI)"),              \
        CL_CFG_STR("CL_MIGRATIONS", st, migrations, CL_MIGRATIONS_DEFAULT, "folder of SQL migrations applied at start"), \
        CL_CFG_STR("CL_LOG_LEVEL", st, log_level, "info", "debug, info, warn or error"),                          \
        CL_CFG_INT("CL_NOTIFY_FD", st, notify_fd, "-1", -1, 65535,                                               \
                   "file descriptor that gets \"READY\\n\" once serving; -1 for none"),                               \
        CL_CFG_INT("CL_SHUTDOWN_S", st, shutdown_s, "8", 1, 300,                                                 \
                   "seconds from SIGTERM to the end of the process, whatever is left to do"),                    \
        CL_CFG_INT("CL_QUEUE_MAX", st, queue_max, "1024", 1, 1000000,                                            \
                   "requests waiting to be served at most; past it a request is answered UNAVAILABLE at once")

/* Connects db, waiting up to 30 s for a database that is still starting, and
   applies the migrations of dir. Returns 0, or -1 with err. */
int cl_service_open_db(cl_db_t *db, const char *dir, cl_err_t *err) CL_WARN_UNUSED;

/* A service named name ("intake") answering on router (which it does not
   own): request frames of at most max_frame bytes, at most queue_max
   requests waiting (cl_service_take). NULL on no memory. */
cl_service_t *cl_service_new(const char *name, void *router, cl_clock_t *clock, size_t max_frame, size_t queue_max);
void cl_service_destroy(cl_service_t **self_p);

/* Adds n to the counter name (made at 0 when new). */
void cl_service_count(cl_service_t *self, const char *name, uint64_t n);

/* Decodes req's frame (at most max_frame bytes) and checks its body's text.
   On refusal answers req itself and returns NULL; else the envelope (free
   with cl_codec_free). */
cl_env_t *cl_service_decode(cl_service_t *self, cl_request_t *req, size_t max_frame);

/* Starts a reply to request env: new id (in id), correlation, site, sender, time. */
void cl_service_reply_init(cl_service_t *self, cl_env_t *reply, char id[CL_ID_MAX + 1], const cl_env_t *env);

/* Sends reply to req. */
void cl_service_reply(cl_service_t *self, cl_request_t *req, const cl_env_t *reply);

/* Answers req with err: counted as rejected.<CODE> and rejected_field.<field>, and logged.
   UNAVAILABLE and INTERNAL are answered with a fixed sentence naming the service: their
   detail (addresses, paths, database messages) goes to the log only. env is the request
   when it could be read, else NULL. */
void cl_service_refuse(cl_service_t *self, cl_request_t *req, const cl_env_t *env, const cl_err_t *err);

/* Answers a GetStats: the counters, whether db answers, the log's head. */
void cl_service_stats(cl_service_t *self, cl_request_t *req, const cl_env_t *env, cl_db_t *db);

/* A service process's start after its configuration is read: names the
   log and sets its level (prints why and returns NULL when the level is
   not one), and turns SIGINT and SIGTERM into the returned stop flag
   (SIGPIPE ignored). The service then stops taking work, finishes and
   commits what is in flight, publishes it and returns; should that take more
   than shutdown_s seconds, the process ends there, exit status 70 (what was
   not committed rolls back; nothing acknowledged is lost). */
volatile sig_atomic_t *cl_service_start(const char *prog, const char *name, const char *log_level, int64_t shutdown_s);

/* Starts a worker thread of a service running fn(arg). It takes no SIGTERM or
   SIGINT, so that they reach the main thread (which stops its workers) and a
   worker's blocking call is never cut short by them. Returns 0, or -1 when
   the thread could not start. */
int cl_service_thread(pthread_t *thread, void *(*fn)(void *), void *arg);

/* A request handler: self is the service's own state. */
typedef void (*cl_handler_fn)(void *self, cl_request_t *req, const cl_env_t *env);

/* Whether the sender of env may make this request: 0, or -1 with err (the
   refusal answered, e.g. PERMISSION_DENIED naming the site). */
typedef int (*cl_authorize_fn)(void *self, const cl_env_t *env, cl_err_t *err);

typedef struct {
    int body;                /* CASELOOP__V1__ENVELOPE__BODY_... */
    cl_handler_fn fn;        /* NULL: the caller of cl_service_route handles it (a batched body) */
    cl_authorize_fn authorize; /* NULL: every sender may */
} cl_handler_t;

/* Routes a decoded request: the entry of table (ending with {0}) for env's
   body once its authorization hook let it through; NULL when the request is
   answered already: GetStats (unless the table has it; db tells whether the
   database is up), a body the table lacks (UNIMPLEMENTED), or a refusal of
   the hook. */
const cl_handler_t *cl_service_route(cl_service_t *svc, const cl_handler_t *table, void *self, cl_db_t *db,
                                     cl_request_t *req, const cl_env_t *env);

/* Reads the requests waiting on the router into the service's queue, where
   they wait to be served; past queue_max a request is answered at once with
   UNAVAILABLE ("at capacity: retry later with the same request"), counted as
   overloaded, instead of waiting in ZeroMQ's buffers. Returns how many are
   queued. */
size_t cl_service_take(cl_service_t *svc);

/* Moves the oldest queued request into *req. Returns 0, or -1 when none. */
int cl_service_next(cl_service_t *svc, cl_request_t *req);

/* Answers the requests on the router, through the queue: each decoded and
   checked, then routed (cl_service_route) to its handler. */
void cl_service_serve(cl_service_t *svc, const cl_handler_t *table, void *self, cl_db_t *db);

/* The most work a service does between two looks at its requests and signals. */
#define CL_SERVICE_PASS_MS 100

/* One batch of a consumer of the event log, in its own transaction: returns
   how many events it applied (or looked past), 0 at the log's end, -1 with err. */
typedef int (*cl_batch_fn)(void *self, cl_err_t *err);

/* One pass over the event log: batches until the log's end, a stop (*stop),
   a failure, or budget_ms of work, so that a service under steady load still
   answers requests, signals and timers between passes. Adds to *applied what
   the batches applied. Returns 1 when there is more to apply (pass again once
   the rest is served), 0 at the end of the log, -1 when a batch failed (err). */
int cl_service_apply(cl_batch_fn batch, void *self, volatile sig_atomic_t *stop, int64_t budget_ms, int *applied,
                     cl_err_t *err);

/* Writes "READY\n" to fd (and closes it) when fd >= 0: the service serves. */
void cl_service_ready(int64_t fd);

#endif
