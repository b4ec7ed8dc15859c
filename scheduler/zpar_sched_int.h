/*  zpar_sched_int.h - what the scheduler's modules share: one role's state
    and the helpers that send for it. Not installed.                     */

#ifndef ZPAR_SCHED_INT_H_INCLUDED
#define ZPAR_SCHED_INT_H_INCLUDED

#include "zpar_sched.h"
#include "zpar_scheme.h"

#include "zpar_drops.h"
#include "zpar_msg.h"
#include "zpar_poller.h"

typedef struct _zpar_task_t zpar_task_t;

typedef enum { ZPAR_ROLE_KIND_DIRECT, ZPAR_ROLE_KIND_TASK, ZPAR_ROLE_KIND_IOPUB } zpar_role_kind_t;

typedef struct {
    zsock_t *pipe;
    zpar_sched_config_t config;
    zpar_role_kind_t kind;
    bool monitored;             //  copies to the hub (mux and task)
    zpar_sign_t *signer;
    char *session;
    zsock_t *front, *back;      //  client-facing, engine-facing
    char *front_ep, *back_ep;
    zsock_t *notification, *monitor;
    zpar_poller_t *poller;
    zpar_drops_t drops;
    uint64_t drops_reported;
    size_t unassigned_reported; //  task role: tasks not handed to an engine, as last told
    int64_t stats_at;
    uint8_t *batch;             //  monitor copies not sent yet (see zpar_proto.h)
    size_t batch_size, batch_capacity;
    size_t batched;             //  entries in it
    int64_t batch_due;
    int64_t idle_at;            //  when the role counts as idle
    zhashx_t *greeted;          //  mux, control: uuids of engines that said hello
    zpar_task_t *task;          //  task: the balancing
    bool terminated;
} zpar_role_t;

//  Adds a monitor copy of msg to the batch (see zpar_sched.c). Returns a
//  mark for zpar_role_send, or SIZE_MAX when no copy was added.
size_t zpar_role_monitor (zpar_role_t *self, const char *topic, const char *engine,
                          zmq_msg_t *client, zpar_msg_t *msg);

//  Sends msg on sock; takes the copy at mark back when it could not leave.
int zpar_role_send (zpar_role_t *self, zpar_msg_t **msg_p, zsock_t *sock, size_t mark);

//  Same, as zpar_msg_send_or_keep: -1 when the message could not leave
//  and is still the caller's.
int zpar_role_send_or_keep (zpar_role_t *self, zpar_msg_t **msg_p, zsock_t *sock, size_t mark);

//  Tells the hub (on monitor) a role's counters: messages dropped, tasks
//  not handed to an engine.
void zpar_sched_report (zsock_t *monitor, zpar_sign_t *signer, const char *session, const char *role,
                        const zpar_drops_t *drops, size_t unassigned);

//  A hub notification, decoded (takes raw): NULL, counted in drops, when
//  it is not a signed message; else the message, with the engine it names
//  in *uuid and *id (NULL when it names none; borrowed from the message).
zpar_msg_t *zpar_sched_notification (zmsg_t *raw, zpar_sign_t *signer, int64_t max_size, zpar_drops_t *drops,
                                     const char **uuid, json_t **id);

//  Answers a request with an error, routed [client] [engine_uuid].
void zpar_role_fail (zpar_role_t *self, json_t *header, zmq_msg_t *client,
                     const char *engine_uuid, int engine_id,
                     const char *ename, const char *evalue);

//  -- the task role's balancing (zpar_task.c) ----------------------------

zpar_task_t *zpar_task_new (zpar_role_t *role);
void zpar_task_destroy (zpar_task_t **self_p);

//  A request from a client, routed [client]; takes it.
void zpar_task_submit (zpar_task_t *self, zpar_msg_t **msg_p);

//  What becomes of a reply from an engine.
typedef enum {
    ZPAR_TASK_FORWARD,          //  to its client
    ZPAR_TASK_RETRY,            //  held back: the task runs again
    ZPAR_TASK_LATE              //  its task was already answered: dropped
} zpar_task_verdict_t;

//  A reply from engine (routes already taken off).
zpar_task_verdict_t zpar_task_reply (zpar_task_t *self, zpar_msg_t *reply, const char *engine);

//  An engine the hub announced (registered) or that said hello (connected).
void zpar_task_engine_up (zpar_task_t *self, const char *uuid, int id, bool registered, bool connected);

//  An engine left: its tasks are retried or fail with EngineError.
void zpar_task_engine_down (zpar_task_t *self, const char *uuid, const char *why);

//  Fails waiting tasks whose timeout passed. Returns the next deadline
//  (monotonic ms), or INT64_MAX.
int64_t zpar_task_tick (zpar_task_t *self, int64_t now);

//  Tasks known and not handed to an engine: waiting for dependencies, a
//  free engine, or their targets.
size_t zpar_task_unassigned (zpar_task_t *self);

#endif
