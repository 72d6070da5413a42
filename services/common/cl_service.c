/* cl_service.c - the request side every service shares. */
#include "cl_service.h"
#include "cl_eventlog.h"
#include "cl_log.h"
#include "cl_migrate.h"
#include "cl_tz.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char name[80];
    uint64_t value;
} s_counter_t;

struct cl_service {
    const char *name;
    void *router;
    cl_clock_t *clock;
    int64_t started_at_us;
    s_counter_t *counters;
    size_t ncounters;
    cl_buf_t out;
    size_t max_frame;
    cl_request_t *queue;        /* a ring of queue_max requests */
    size_t queue_max, head, len;
};

cl_service_t *cl_service_new(const char *name, void *router, cl_clock_t *clock, size_t max_frame, size_t queue_max)
{
    cl_service_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->name = name;
    self->router = router;
    self->clock = clock;
    self->started_at_us = cl_clock_now(clock);
    self->max_frame = max_frame;
    self->queue_max = queue_max ? queue_max : 1;
    self->queue = calloc(self->queue_max, sizeof *self->queue);
    if (!self->queue) {
        free(self);
        return NULL;
    }
    return self;
}

/* Answers req at once: the queue is full. */
static void s_overloaded(cl_service_t *svc, cl_request_t *req)
{
    cl_service_count(svc, "requests", 1);
    cl_env_t *env = cl_service_decode(svc, req, svc->max_frame);
    if (!env)
        return; /* refused for what it is */
    cl_service_count(svc, "overloaded", 1);
    cl_service_count(svc, "rejected.UNAVAILABLE", 1);
    cl_err_t told;
    cl_err_set(&told, CL_UNAVAILABLE, "", "%s is at capacity (%zu requests waiting): retry later with the same request",
               svc->name, svc->queue_max);
    cl_codec_error_reply(env->message_id, svc->name, cl_clock_now(svc->clock), &told, &svc->out);
    cl_bus_reply(svc->router, req, svc->out.data, svc->out.len);
    cl_codec_free(env);
}

size_t cl_service_take(cl_service_t *svc)
{
    /* Bounded, so that a flood does not hold the service in this loop. */
    for (size_t reads = 0; reads < svc->queue_max + 1024; reads++) {
        if (svc->len < svc->queue_max) {
            cl_request_t *slot = &svc->queue[(svc->head + svc->len) % svc->queue_max];
            if (cl_bus_recv_request(svc->router, slot, ZMQ_DONTWAIT) < 0)
                break;
            svc->len++;
        } else {
            cl_request_t req;
            if (cl_bus_recv_request(svc->router, &req, ZMQ_DONTWAIT) < 0)
                break;
            s_overloaded(svc, &req);
        }
    }
    return svc->len;
}

int cl_service_next(cl_service_t *svc, cl_request_t *req)
{
    if (svc->len == 0)
        return -1;
    cl_bus_request_move(req, &svc->queue[svc->head]);
    svc->head = (svc->head + 1) % svc->queue_max;
    svc->len--;
    return 0;
}

void cl_service_destroy(cl_service_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cl_request_t req;
    while (cl_service_next(*self_p, &req) == 0) /* never started: their clients retry */
        cl_bus_request_close(&req);
    free((*self_p)->queue);
    free((*self_p)->counters);
    cl_buf_free(&(*self_p)->out);
    free(*self_p);
    *self_p = NULL;
}

void cl_service_count(cl_service_t *self, const char *name, uint64_t n)
{
    for (size_t i = 0; i < self->ncounters; i++) {
        if (strcmp(self->counters[i].name, name) == 0) {
            self->counters[i].value += n;
            return;
        }
    }
    s_counter_t *grown = realloc(self->counters, sizeof *grown * (self->ncounters + 1));
    if (!grown)
        abort();
    self->counters = grown;
    snprintf(self->counters[self->ncounters].name, sizeof grown->name, "%s", name);
    self->counters[self->ncounters++].value = n;
}

void cl_service_reply_init(cl_service_t *self, cl_env_t *reply, char id[CL_ID_MAX + 1], const cl_env_t *env)
{
    cl_codec_init(reply, id, self->name, cl_clock_now(self->clock));
    reply->correlation_id = env->message_id;
    reply->site = env->site;
}

void cl_service_reply(cl_service_t *self, cl_request_t *req, const cl_env_t *reply)
{
    cl_codec_encode(reply, &self->out);
    cl_bus_reply(self->router, req, self->out.data, self->out.len);
}

void cl_service_refuse(cl_service_t *self, cl_request_t *req, const cl_env_t *env, const cl_err_t *err)
{
    char name[96];
    snprintf(name, sizeof name, "rejected.%s", cl_err_code_name(err->code));
    cl_service_count(self, name, 1);
    if (*err->field) {
        snprintf(name, sizeof name, "rejected_field.%s", err->field);
        cl_service_count(self, name, 1);
    }
    cl_log_ctx_t ctx = {0, env && env->site ? env->site : NULL, cl_err_code_name(err->code),
                        *err->field ? err->field : NULL};
    cl_log(err->code == CL_INTERNAL ? CL_LOG_ERROR : err->code == CL_UNAVAILABLE ? CL_LOG_WARN : CL_LOG_INFO, &ctx,
           "request refused: %s", err->message);
    /* An outage or a fault of ours is told in a fixed sentence: its detail (server
       addresses, socket paths, database messages) stays in the log. */
    cl_err_t told = *err;
    if (err->code == CL_UNAVAILABLE)
        snprintf(told.message, sizeof told.message, "%s cannot do this now: a service it depends on is down;"
                 " retry later with the same request", self->name);
    else if (err->code == CL_INTERNAL)
        snprintf(told.message, sizeof told.message, "%s failed on its side; it is logged", self->name);
    cl_codec_error_reply(env ? env->message_id : NULL, self->name, cl_clock_now(self->clock), &told, &self->out);
    cl_bus_reply(self->router, req, self->out.data, self->out.len);
}

cl_env_t *cl_service_decode(cl_service_t *self, cl_request_t *req, size_t max_frame)
{
    cl_err_t err;
    cl_err_clear(&err);
    if (req->malformed) {
        cl_err_set(&err, CL_INVALID_ARGUMENT, "frame", "request has more frames than an envelope and its route");
        cl_service_refuse(self, req, NULL, &err);
        return NULL;
    }
    cl_env_t *env = cl_codec_decode(zmq_msg_data(&req->body), zmq_msg_size(&req->body), max_frame, &err);
    if (!env) {
        cl_service_refuse(self, req, NULL, &err);
        return NULL;
    }
    if (cl_codec_check_body_text(zmq_msg_data(&req->body), zmq_msg_size(&req->body), &err) < 0) {
        cl_service_refuse(self, req, env, &err);
        cl_codec_free(env);
        return NULL;
    }
    return env;
}

void cl_service_stats(cl_service_t *self, cl_request_t *req, const cl_env_t *env, cl_db_t *db)
{
    cl_err_t err;
    uint64_t head = 0;
    bool up = cl_db_connect(db, &err) == 0 && cl_eventlog_head(db, &head, &err) == 0;
    cl_env_t reply;
    char id[CL_ID_MAX + 1];
    cl_service_reply_init(self, &reply, id, env);
    Caseloop__V1__StatsReply body = CASELOOP__V1__STATS_REPLY__INIT;
    body.service = (char *)self->name;
    body.has_started_at_us = 1, body.started_at_us = self->started_at_us;
    body.has_database_up = 1, body.database_up = up;
    body.has_head_position = up, body.head_position = head;
    Caseloop__V1__Counter *cs = calloc(self->ncounters + 1, sizeof *cs);
    Caseloop__V1__Counter **cp = calloc(self->ncounters + 1, sizeof *cp);
    if (!cs || !cp)
        abort();
    for (size_t i = 0; i < self->ncounters; i++) {
        caseloop__v1__counter__init(&cs[i]);
        cs[i].name = self->counters[i].name;
        cs[i].has_value = 1, cs[i].value = self->counters[i].value;
        cp[i] = &cs[i];
    }
    body.counters = cp;
    body.n_counters = self->ncounters;
    reply.body_case = CASELOOP__V1__ENVELOPE__BODY_STATS_REPLY;
    reply.stats_reply = &body;
    cl_service_reply(self, req, &reply);
    free(cs);
    free(cp);
}

const cl_handler_t *cl_service_route(cl_service_t *svc, const cl_handler_t *table, void *self, cl_db_t *db,
                                     cl_request_t *req, const cl_env_t *env)
{
    const cl_handler_t *h = table;
    while (h->body && h->body != (int)env->body_case)
        h++;
    cl_err_t err;
    cl_err_clear(&err);
    if (!h->body) {
        if (env->body_case == CASELOOP__V1__ENVELOPE__BODY_GET_STATS) {
            cl_service_stats(svc, req, env, db);
            return NULL;
        }
        cl_err_set(&err, CL_UNIMPLEMENTED, "body", "%s is not served by %s", cl_codec_body_name(env), svc->name);
        cl_service_refuse(svc, req, env, &err);
        return NULL;
    }
    if (h->authorize && h->authorize(self, env, &err) < 0) {
        cl_service_refuse(svc, req, env, &err);
        return NULL;
    }
    return h;
}

void cl_service_serve(cl_service_t *svc, const cl_handler_t *table, void *self, cl_db_t *db)
{
    cl_request_t req;
    cl_service_take(svc);
    while (cl_service_next(svc, &req) == 0) {
        cl_service_count(svc, "requests", 1);
        cl_env_t *env = cl_service_decode(svc, &req, svc->max_frame);
        if (!env)
            continue;
        const cl_handler_t *h = cl_service_route(svc, table, self, db, &req, env);
        if (h && h->fn)
            h->fn(self, &req, env);
        cl_codec_free(env);
    }
}

int cl_service_open_db(cl_db_t *db, const char *dir, cl_err_t *err)
{
    int64_t give_up = cl_mono_us() + 30 * CL_US_PER_S;
    while (cl_db_connect(db, err) < 0) {
        if (cl_mono_us() > give_up)
            return -1;
        usleep(100 * 1000);
    }
    return cl_migrate(db, dir, err) < 0 ? -1 : 0;
}

void cl_service_ready(int64_t fd)
{
    if (fd < 0)
        return;
    ssize_t rc = write((int)fd, "READY\n", 6);
    (void)rc;
    close((int)fd);
}

static volatile sig_atomic_t s_stop;
static unsigned s_shutdown_s;

static void s_on_signal(int sig)
{
    (void)sig;
    if (!s_stop)
        alarm(s_shutdown_s);
    s_stop = 1;
}

/* The stop took longer than CL_SHUTDOWN_S. */
static void s_on_deadline(int sig)
{
    (void)sig;
    static const char msg[] = "{\"level\":\"error\",\"msg\":\"not stopped within CL_SHUTDOWN_S: ending now\"}\n";
    ssize_t rc = write(2, msg, sizeof msg - 1);
    (void)rc;
    _exit(70);
}

volatile sig_atomic_t *cl_service_start(const char *prog, const char *name, const char *log_level, int64_t shutdown_s)
{
    s_shutdown_s = (unsigned)shutdown_s;
    if (cl_log_init(name, log_level) < 0) {
        fprintf(stderr, "%s: cannot start: CL_LOG_LEVEL=\"%s\" is not debug, info, warn or error\n", prog, log_level);
        return NULL;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = s_on_deadline;
    sigaction(SIGALRM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    cl_tz_init(); /* before any thread: see cl_tz.c */
    return &s_stop;
}

int cl_service_thread(pthread_t *thread, void *(*fn)(void *), void *arg)
{
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, &old); /* the new thread inherits the mask */
    int rc = pthread_create(thread, NULL, fn, arg) == 0 ? 0 : -1;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

int cl_service_apply(cl_batch_fn batch, void *self, volatile sig_atomic_t *stop, int64_t budget_ms, int *applied,
                     cl_err_t *err)
{
    int64_t until = cl_mono_us() + budget_ms * 1000;
    for (;;) {
        int n = batch(self, err);
        if (n <= 0)
            return n;
        *applied += n;
        if (*stop || cl_mono_us() >= until)
            return 1;
    }
}

int cl_service_main(int argc, char **argv, const cl_service_def_t *def)
{
    void *cfg = calloc(1, def->config_size);
    if (!cfg)
        return 1;
    int status = 0;
    switch (cl_config_main(argc, argv, def->summary, def->options, cfg)) {
    case 1:
        goto out;
    case -1:
        status = 2;
        goto out;
    }
    const cl_service_config_t *base = cfg; /* the first member of every service's config */
    volatile sig_atomic_t *stop = cl_service_start(argv[0], def->name, base->log_level, base->shutdown_s);
    cl_clock_t *clock = stop ? cl_clock_process() : NULL;
    if (!clock) {
        status = 2;
        goto out;
    }
    cl_err_t err;
    cl_err_clear(&err);
    void *service = def->open(cfg, clock, &err);
    if (!service) {
        cl_log(CL_LOG_ERROR, NULL, "cannot start: %s", err.message);
        status = 1;
        goto out;
    }
    def->run(service, stop);
    def->close(service);
out:
    free(cfg);
    return status;
}

void *cl_service_alloc(size_t size, cl_err_t *err)
{
    void *p = calloc(1, size);
    if (!p)
        cl_err_set(err, CL_INTERNAL, "", "out of memory");
    return p;
}

int cl_runtime_open(cl_runtime_t *rt, const char *name, const cl_service_config_t *cfg, cl_clock_t *clock,
                    cl_err_t *err)
{
    char app[64];
    snprintf(app, sizeof app, "caseloop-%s", name);
    memset(rt, 0, sizeof *rt);
    rt->cfg = cfg;
    rt->clock = clock;
    rt->db = cl_db_new(cfg->db, app);
    rt->zctx = cl_bus_context();
    if (!rt->db || !rt->zctx)
        return cl_err_set(err, CL_INTERNAL, "", "out of memory");
    if (cl_service_open_db(rt->db, cfg->migrations, err) < 0 ||
        !(rt->router = cl_bus_open(rt->zctx, ZMQ_ROUTER, cfg->router, true, err)))
        return -1;
    /* Frames a little over the limit are read and answered RESOURCE_EXHAUSTED;
       a peer sending far more is cut off by ZeroMQ before it fills memory. */
    cl_bus_max_message(rt->router, cfg->max_frame * 4 > 1048576 ? cfg->max_frame * 4 : 1048576);
    if (!(rt->pub = cl_bus_open(rt->zctx, ZMQ_PUB, cfg->pub, true, err)))
        return -1;
    rt->publisher = cl_publisher_new(rt->pub);
    rt->svc = cl_service_new(name, rt->router, clock, (size_t)cfg->max_frame, (size_t)cfg->queue_max);
    if (!rt->svc)
        return cl_err_set(err, CL_INTERNAL, "", "out of memory");
    return 0;
}

int cl_runtime_listen(cl_runtime_t *rt, const char *endpoints, const char *option, cl_err_t *err)
{
    if (!*endpoints)
        return 0;
    rt->sub = cl_bus_wakeup(rt->zctx, endpoints, option, err);
    return rt->sub ? 0 : -1;
}

void cl_runtime_close(cl_runtime_t *rt)
{
    cl_bus_close(&rt->sub);
    cl_bus_close(&rt->router);
    cl_publisher_destroy(&rt->publisher);
    cl_bus_close(&rt->pub);
    cl_bus_context_end(&rt->zctx);
    cl_db_destroy(&rt->db);
    cl_service_destroy(&rt->svc);
}

int cl_runtime_run(cl_runtime_t *rt, const cl_loop_t *loop, volatile sig_atomic_t *stop)
{
    cl_service_ready(rt->cfg->notify_fd);
    cl_log(CL_LOG_INFO, NULL, "serving requests on %s, events on %s", rt->cfg->router, rt->cfg->pub);
    bool *ready;
    size_t nsocks = loop->nactors + 2; /* the router, each actor, the subscription (when any) */
    void **socks = cl_actor_poll_set(rt->router, loop->actors, loop->nactors, rt->sub, &ready);
    if (!socks) {
        cl_log(CL_LOG_ERROR, NULL, "out of memory");
        return -1;
    }
    int64_t idle_us = rt->cfg->idle_ms * 1000, last_read = 0;
    bool more = false, outside = true;
    while (!*stop) {
        int64_t wait_ms = loop->turn ? loop->turn(loop->self, outside) : -1;
        /* The log is read when an event was heard of, when the last pass had
           more, and at least every idle period (a missed message is caught). */
        if (loop->apply) {
            bool heard = cl_bus_drain(rt->sub); /* drained every turn, or it would wake the poll for ever */
            if (heard || more || cl_mono_us() - last_read >= idle_us) {
                cl_err_t err;
                int applied = 0;
                int rc = cl_service_apply(loop->apply, loop->self, stop, CL_SERVICE_PASS_MS, &applied, &err);
                if (rc < 0)
                    cl_log(CL_LOG_WARN, NULL, "could not apply the event log: %s", err.message);
                more = rc > 0;
                last_read = cl_mono_us();
                if (loop->applied)
                    loop->applied(loop->self);
            }
            int64_t next = more ? 0 : (last_read + idle_us - cl_mono_us()) / 1000 + 1;
            if (next < 0)
                next = 0;
            if (wait_ms < 0 || next < wait_ms)
                wait_ms = next;
        }
        if (wait_ms < 0)
            wait_ms = 1000;
        int rc = cl_bus_poll(socks, nsocks, wait_ms, ready);
        outside = rc <= 0 || ready[0] || ready[nsocks - 1];
        if (rc <= 0)
            continue;
        for (size_t i = 0; i < loop->nactors; i++)
            if (ready[1 + i])
                cl_actor_collect(loop->actors[i]);
        if (ready[0]) {
            if (loop->take)
                loop->take(loop->self);
            else
                cl_service_serve(rt->svc, loop->handlers, loop->self, rt->db);
        }
    }
    /* What the workers hold is committed and answered before the end. */
    while (loop->busy && loop->busy(loop->self) && cl_bus_poll(socks, nsocks, 1000, ready) >= 0)
        for (size_t i = 0; i < loop->nactors; i++)
            if (ready[1 + i])
                cl_actor_collect(loop->actors[i]);
    free(socks);
    free(ready);
    cl_log(CL_LOG_INFO, NULL, "stopping");
    return 0;
}
