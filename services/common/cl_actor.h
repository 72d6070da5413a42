/* cl_actor.h - a worker thread that gets its work in messages and hands back what it did: the one way a service runs work off its main thread. */
#ifndef CL_ACTOR_H
#define CL_ACTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "cl_err.h"

/* An actor is a thread of its own with a pipe to the main thread. The main
   thread sends it work (bytes copied into the message: a pointer whose
   ownership passes with it, say) and wake-ups; the actor hands back messages
   of parts, which the main thread takes with cl_actor_collect. Neither side
   touches what the other owns: what is sent is the sender's no more. */
typedef struct cl_actor cl_actor_t;

/* The actor's body, on its own thread (SIGTERM and SIGINT reach the main
   thread, never it). It returns once cl_actor_wait says to stop, or sooner;
   its end is then handed back by itself. */
typedef void (*cl_actor_fn)(cl_actor_t *a, void *arg);

/* Main thread: a message actor a handed back, as n parts (valid during the call). */
typedef void (*cl_actor_take_fn)(void *arg, cl_actor_t *a, size_t n, const void *const *data, const size_t *len);

/* Starts actor `index` named name ("intake-store") in ZeroMQ context ctx,
   running fn(a, fn_arg); take(take_arg, ...) gets what it hands back. Returns
   NULL with err when the pipe or the thread cannot be made. */
cl_actor_t *cl_actor_start(void *ctx, const char *name, size_t index, cl_actor_fn fn, void *fn_arg,
                           cl_actor_take_fn take, void *take_arg, cl_err_t *err);

/* Main thread: sends work, len bytes (at most CL_ACTOR_WORK_MAX) copied into
   the message. Returns 0, or -1 when the actor has ended. */
#define CL_ACTOR_WORK_MAX 256
int cl_actor_send(cl_actor_t *a, const void *data, size_t len);

/* Main thread: wakes the actor; never waits (wake-ups not yet taken count once). */
void cl_actor_wake(cl_actor_t *a);

/* Main thread: what it polls to learn that the actor handed something back
   (cl_bus_poll), and takes with cl_actor_collect. */
void *cl_actor_socket(cl_actor_t *a);

/* Main thread: the sockets a loop polls (cl_bus_poll): first (the ROUTER),
   the n actors', then last (a wake-up subscription; NULL for none): n + 2 of
   them, and *ready as many flags. Free both. */
void **cl_actor_poll_set(void *first, cl_actor_t *const *as, size_t n, void *last, bool **ready);

/* Main thread: takes every message the actor has handed back, without
   waiting, calling take for each. Returns how many. */
size_t cl_actor_collect(cl_actor_t *a);

/* Main thread: whether the actor's body has returned and its last message was taken. */
bool cl_actor_ended(const cl_actor_t *a);

/* Main thread: asks each of the n actors to stop (each may be NULL), takes
   what they hand back until each has ended, joins their threads and frees
   them; sets each to NULL. */
void cl_actor_stop_all(cl_actor_t **as, size_t n);

/* Actor: waits up to timeout_ms (-1: for ever) for a message. Returns 1 for
   work (copied into buf, which holds size bytes; *len its length), 0 for a
   wake-up or when the time is up, -1 when it is to stop. */
int cl_actor_wait(cl_actor_t *a, int64_t timeout_ms, void *buf, size_t size, size_t *len);

/* Actor: waits up to timeout_ms (-1: for ever) until a message waits, taking
   none. Returns 0, or -1 when it is to stop. */
int cl_actor_sleep(cl_actor_t *a, int64_t timeout_ms);

/* Actor: takes the wake-ups waiting, without waiting. Returns true when there
   was one (or work, which it leaves for cl_actor_wait). */
bool cl_actor_drain(cl_actor_t *a);

/* Actor: whether a message waits, without taking it. */
bool cl_actor_woken(cl_actor_t *a);

/* Actor: whether the main thread asked it to stop. */
bool cl_actor_stopping(cl_actor_t *a);

/* Actor: hands back a message of n parts (n >= 1). */
void cl_actor_put(cl_actor_t *a, size_t n, const void *const *data, const size_t *len);

/* Its index, as given to cl_actor_start. */
size_t cl_actor_index(const cl_actor_t *a);

#endif
