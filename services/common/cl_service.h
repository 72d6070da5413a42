/* cl_service.h - the request side every service shares: decoding, refusals, replies, counters, GetStats, READY. */
#ifndef CL_SERVICE_H
#define CL_SERVICE_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include "cl_actor.h"
#include "cl_bus.h"
#include "cl_clock.h"
#include "cl_codec.h"
#include "cl_config.h"
#include "cl_db.h"
#include "cl_publish.h"

typedef struct cl_service cl_service_t;

/* What every service's configuration holds: the first member, `base`, of
   each service's config struct (cl_service_main reads it there). */
typedef struct {
    const char *db;
    const char *migrations;
    const char *log_level;
    int64_t notify_fd;
    int64_t shutdown_s;
    int64_t queue_max;
    const char *router;      /* endpoint bound for requests (ROUTER) */
    const char *pub;         /* endpoint bound for events (PUB) */
    int64_t max_frame;
    int64_t batch_max;
    int64_t idle_ms;         /* a consumer of the log: how often it reads the log unwoken */
    const char *tz_dir;
} cl_service_config_t;

/* The options every service has, for the configuration table of config
   struct st (its member base a cl_service_config_t); the file defines
   CL_MIGRATIONS_DEFAULT. */
#define CL_SERVICE_OPTIONS(st)                                                                                     \
    CL_CFG_STR("CL_DB", st, base.db, "dbname=caseloop", "PostgreSQL connection (libpq conninfo or URI)"),         \
        CL_CFG_STR("CL_MIGRATIONS", st, base.migrations, CL_MIGRATIONS_DEFAULT,                                  \
                   "folder of SQL migrations applied at start"),                                                 \
        CL_CFG_STR("CL_LOG_LEVEL", st, base.log_level, "info", "debug, info, warn or error"),                     \
        CL_CFG_INT("CL_NOTIFY_FD", st, base.notify_fd, "-1", -1, 65535,                                          \
                   "file descriptor that gets \"READY\\n\" once serving; -1 for none"),                            \
        CL_CFG_INT("CL_SHUTDOWN_S", st, base.shutdown_s, "8", 1, 300,                                            \
                   "seconds from SIGTERM to the end of the process, whatever is left to do"),                    \
        CL_CFG_INT("CL_QUEUE_MAX", st, base.queue_max, "1024", 1, 1000000,                                       \
                   "requests waiting to be served at most; past it a request is answered UNAVAILABLE at once"),  \
        CL_CFG_STR("CL_TZ_DIR", st, base.tz_dir, "/usr/share/zoneinfo",                                           \
                   "where the time zone files are (site calendars, shifts and promises)")

/* Its endpoints: CL_<NAME>_ROUTER and CL_<NAME>_PUB (NAME a string literal, "INTAKE"). */
#define CL_SERVICE_ENDPOINTS(st, NAME, router_default, pub_default)                                              \
    CL_CFG_STR("CL_" NAME "_ROUTER", st, base.router, router_default, "ZeroMQ endpoint bound for requests (ROUTER)"), \
        CL_CFG_STR("CL_" NAME "_PUB", st, base.pub, pub_default, "ZeroMQ endpoint bound for events (PUB)")

/* Its limits: the largest request frame (CL_MAX_FRAME, default frame_default
   bytes) and the most items one transaction takes (CL_BATCH_MAX, default
   batch_default, at most batch_most), each with what it means there. */
#define CL_SERVICE_LIMITS(st, frame_default, frame_help, batch_default, batch_most, batch_help)                      \
    CL_CFG_INT("CL_MAX_FRAME", st, base.max_frame, frame_default, 1024, 16777216, frame_help),                      \
        CL_CFG_INT("CL_BATCH_MAX", st, base.batch_max, batch_default, 1, batch_most, batch_help)

/* A consumer of the event log's option: how often it reads the log when no event wakes it. */
#define CL_SERVICE_IDLE_OPTION(st)                                                                                 \
    CL_CFG_INT("CL_IDLE_MS", st, base.idle_ms, "1000", 10, 60000, "how often the event log is read when no event is heard of")

/* A service process: its name ("intake"), the summary --help prints, its
   options, the size of its config struct, and its life. */
typedef struct {
    const char *name;
    const char *summary;
    const cl_cfg_option_t *options;
    size_t config_size;
    void *(*open)(const void *cfg, cl_clock_t *clock, cl_err_t *err);
    int (*run)(void *service, volatile sig_atomic_t *stop);
    void (*close)(void *service);
} cl_service_def_t;

/* A service's main: reads its configuration (--help prints it), starts the
   log and the signals (cl_service_start), the business clock, opens the
   service, runs it until SIGTERM or SIGINT, closes it. Returns the exit
   status: 0, 1 when it could not start, 2 for a bad configuration. */
int cl_service_main(int argc, char **argv, const cl_service_def_t *def);

/* The main of service svc (cl_<svc>_new, _run, _destroy and
   cl_<svc>_config_t, cl_<svc>_options), named name, with summary. */
#define CL_SERVICE_MAIN(svc, name, summary)                                                                        \
    static void *s_open(const void *cfg, cl_clock_t *clock, cl_err_t *err)                                        \
    {                                                                                                              \
        return cl_##svc##_new(cfg, clock, err);                                                                    \
    }                                                                                                              \
    static int s_run(void *service, volatile sig_atomic_t *stop)                                                   \
    {                                                                                                              \
        return cl_##svc##_run(service, stop);                                                                      \
    }                                                                                                              \
    static void s_close(void *service)                                                                             \
    {                                                                                                              \
        cl_##svc##_t *s = service;                                                                                 \
        cl_##svc##_destroy(&s);                                                                                    \
    }                                                                                                              \
    int main(int argc, char **argv)                                                                                \
    {                                                                                                              \
        static const cl_service_def_t def = {name, summary, cl_##svc##_options, sizeof(cl_##svc##_config_t),      \
                                             s_open, s_run, s_close};                                              \
        return cl_service_main(argc, argv, &def);                                                                  \
    }

/* What every service opens at start and closes at its end: its context, its
   main thread's database connection, its ROUTER, its PUB with the publisher
   that publishes on it in log order, and its request side. */
typedef struct {
    const cl_service_config_t *cfg;
    cl_clock_t *clock;       /* the process's business clock */
    void *zctx;
    cl_db_t *db;
    void *router;
    void *pub;
    cl_publisher_t *publisher;
    cl_service_t *svc;
    void *sub;               /* the wake-up subscription (cl_runtime_listen), or NULL */
} cl_runtime_t;

/* Opens rt for service name ("intake"): connects the database (application
   name caseloop-<name>) and migrates it (cl_service_open_db), binds cfg's
   ROUTER (messages over four times max_frame, or 1 MiB, cut off) and PUB.
   Returns 0, or -1 with err; cl_runtime_close closes what was opened. */
int cl_runtime_open(cl_runtime_t *rt, const char *name, const cl_service_config_t *cfg, cl_clock_t *clock,
                    cl_err_t *err) CL_WARN_UNUSED;

/* Subscribes rt to the events published at endpoints (comma-separated; the
   configuration option that gives them, for errors): a wake-up only, the
   event log being the queue (cl_bus_wakeup). "" subscribes to nothing.
   Returns 0, or -1 with err. */
int cl_runtime_listen(cl_runtime_t *rt, const char *endpoints, const char *option, cl_err_t *err) CL_WARN_UNUSED;

/* Closes what cl_runtime_open and cl_runtime_listen opened. The service
   stops its actors before: ending the context waits for their sockets. */
void cl_runtime_close(cl_runtime_t *rt);

/* A service's state: size bytes zeroed, or NULL with err INTERNAL (no memory). */
void *cl_service_alloc(size_t size, cl_err_t *err);

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

/* What a service's loop (cl_runtime_run) does besides answering requests;
   every member but self may be 0. */
typedef struct {
    void *self;
    const cl_handler_t *handlers; /* the request table (cl_service_serve) */
    void (*take)(void *self);     /* instead of handlers: requests wait on the router (batched by the service) */
    cl_batch_fn apply;            /* one batch of the service's consumer of the event log */
    void (*applied)(void *self);  /* after each pass over the log */
    /* At the top of each turn (outside: the last wait ended by a request, an
       event or the time, not only by the workers): the service's own work;
       returns the longest it may wait in ms, or -1 for no bound. */
    int64_t (*turn)(void *self, bool outside);
    cl_actor_t *const *actors;    /* workers whose hand-backs are collected (cl_actor_collect) */
    size_t nactors;
    bool (*busy)(void *self);     /* at the stop: whether workers still hold work (waited for, a second at a time) */
} cl_loop_t;

/* A service's loop, until *stop: says READY (CL_NOTIFY_FD), then turn after
   turn: the service's turn hook; a pass over the event log (cl_service_apply,
   at most CL_SERVICE_PASS_MS) when an event was heard of, the last pass had
   more, or idle_ms went by (an event heard of: on rt's subscription); then waits for a request, a worker's hand-back,
   an event or the next read, and serves what came. Requests, signals and
   workers are thus served between two passes, whatever the backlog. At the
   stop it waits while the service is busy, so that what is in flight is
   committed and answered. Returns 0. */
int cl_runtime_run(cl_runtime_t *rt, const cl_loop_t *loop, volatile sig_atomic_t *stop);

#endif
