/*  zpar_client_int.h - what the client library's modules share: the
    client's sockets and tables, and the result items replies land in.
    Not installed.                                                       */

#ifndef ZPAR_CLIENT_INT_H_INCLUDED
#define ZPAR_CLIENT_INT_H_INCLUDED

#include <zpar/zpar.h>

#include "zpar_connfile.h"
#include "zpar_drops.h"
#include "zpar_msg.h"
#include "zpar_poller.h"
#include "zpar_request.h"
#include "zpar_table.h"

//  One value a result waits for: one call, or one input of a map.
typedef struct {
    bool done;
    json_t *value;              //  on success
    json_t *error;              //  {ename, evalue, engine_id} on failure
    size_t part;                //  the message that carries it
} zpar_item_t;

//  One message of a result: a request to an engine (or to the task
//  scheduler) answering items first .. first + count - 1. A chunk carries
//  several inputs of a map and answers with a list.
typedef struct {
    zpar_result_t *result;
    char *msg_id;
    bool direct;                //  sent through mux to engine_uuid (or broadcast)
    bool broadcast;             //  one of a broadcast's parts, all under one msg_id
    bool chunk;
    char *engine_uuid;
    int engine_id;
    size_t first, count;
    bool done;
    char *content;              //  its request's content as sent, to send again (resubmit)
    size_t content_size;
    json_t *flags;              //  balanced, with retries: its metadata, to send again
                                //  when its scheduler is lost
    char *metadata_text;        //  the reply's metadata as it came, until asked for
    size_t metadata_size;
    json_t *metadata;           //  parsed when first asked for, with "submitted" added
    char *out;                  //  what it printed (stdout and stderr), from the metadata
    char submitted [40];        //  the request's date
    zpar_parts_t buffers;       //  binary buffers of the reply
    json_t *buffer_counts;      //  a chunk's: how many of them each input has
    bool sent_buffers;          //  the request had some: not kept, so never sent again
} zpar_part_t;

struct _zpar_result_t {
    zpar_client_t *client;      //  NULL once the client is gone
    bool single;                //  get returns the value, not an array
    size_t size, done;          //  items
    zpar_item_t *items;
    size_t nparts;
    zpar_part_t *parts;
    void *handle;               //  in the client's list of live results
    json_t *values;             //  built by get
    json_t *error;              //  built by error
};

struct _zpar_client_t {
    zpar_connfile_t *conn;
    zpar_curve_t *curve;        //  CurveZMQ keys of this client, or NULL
    zpar_sign_t *signer;
    char *session;
    int64_t max_size;
    int timeout_ms;
    zsock_t *hub, *mux, *task, *control, *broadcast, *notification;
    zsock_t *hub_watch;         //  handshake failures with the hub (PAIR)
    zpar_poller_t *poller;
    zpar_parts_t received;      //  the message being handled (room kept)
    zhashx_t *engines;          //  "id" -> uuid
    uint64_t registry_version;
    char *hub_session;          //  the hub's; another one took over when it changes
    int hb_period_ms;           //  the hub's heartbeat period
    int64_t refresh_at;         //  ask for the engine table then (monotonic ms), 0: no
    int64_t lost_scheduler;     //  pid of the scheduler whose loss was handled
    zsock_t *stalled;           //  the socket whose last send timed out, if any
    zpar_table_t *calls;        //  msg_id (the part's own) -> zpar_part_t of a live result
    zlistx_t *results;          //  live results, detached on destroy
    zpar_drops_t drops;
    bool shut_down;             //  the hub announced shutdown
};

//  Connects to the schedulers that had not registered when the client
//  connected, if they have now.
void zpar_client_find_schedulers (zpar_client_t *self);

//  Connects to the broadcast scheduler if that was not done yet and it has
//  registered by now.
void zpar_client_find_broadcast (zpar_client_t *self);

//  Sets zpar_last_error; returns NULL so callers can `return zpar_fail (...)`.
void *zpar_fail (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

//  Handles what arrived within timeout_ms (-1: block) on the client's
//  sockets, one message at most. Returns 0 when something was handled,
//  -1 on timeout or interruption.
int zpar_client_pump (zpar_client_t *self, int timeout_ms);

//  The uuid of engine id, or NULL.
const char *zpar_client_uuid (zpar_client_t *self, int id);

//  Sends part index of result as its request. route is the engine uuid for
//  mux/control, NULL for task. When it cannot be sent, the part is failed.
int zpar_client_send (zpar_client_t *self, zsock_t *sock, const char *route,
                      zpar_msg_t **msg_p, zpar_result_t *result, size_t index);

//  Sends msg once, through the broadcast scheduler, for every part of
//  result: part i to engine ids [i]. Takes msg.
int zpar_client_send_broadcast (zpar_client_t *self, zpar_msg_t **msg_p, zpar_result_t *result,
                                json_t *ids);

//  Answers part index: with a value, or for a chunk a list of values and
//  errors {"i": error} for the inputs that failed; or error for all its
//  items. Takes value, error and errors; metadata is the reply's frame
//  (copied, and parsed only if someone asks for it), or NULL.
void zpar_result_settle (zpar_result_t *result, size_t index, json_t *value,
                         json_t *error, json_t *errors, zmq_msg_t *metadata);

//  Fails every item of part index not answered yet; takes error.
void zpar_result_fail (zpar_result_t *result, size_t index, json_t *error);

//  A new result of size items in nparts messages; added to the client's
//  live results. Parts answer one item each until set otherwise.
zpar_result_t *zpar_result_new (zpar_client_t *client, size_t size, size_t nparts, bool single);

//  {ename, evalue, engine_id} (caller owns).
json_t *zpar_error_new (const char *ename, int engine_id, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

#endif
