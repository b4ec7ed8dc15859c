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

//  One call: one request to one engine (or to the task scheduler).
typedef struct {
    char *msg_id;
    bool direct;                //  sent through mux to engine_uuid
    char *engine_uuid;
    int engine_id;
    bool done;
    json_t *value;              //  on success
    json_t *error;              //  {ename, evalue, engine_id} on failure
    json_t *metadata;
    char *out;                  //  what it printed (stdout and stderr), from the reply
} zpar_item_t;

struct _zpar_result_t {
    zpar_client_t *client;      //  NULL once the client is gone
    bool single;                //  get returns the value, not an array
    size_t size, done;
    zpar_item_t *items;
    json_t *values;             //  built by get
    json_t *error;              //  built by error
};

struct _zpar_client_t {
    zpar_connfile_t *conn;
    zpar_sign_t *signer;
    char *session;
    int64_t max_size;
    int timeout_ms;
    zsock_t *hub, *mux, *task, *control, *notification;
    zpar_poller_t *poller;
    zhashx_t *engines;          //  "id" -> uuid
    uint64_t registry_version;
    zhashx_t *calls;            //  msg_id -> zpar_result_t (items pending or done)
    zlistx_t *results;          //  live results, detached on destroy
    zpar_drops_t drops;
    bool shut_down;             //  the hub announced shutdown
};

//  Sets zpar_last_error; returns NULL so callers can `return zpar_fail (...)`.
void *zpar_fail (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

//  Handles what arrived within timeout_ms (-1: block) on the client's
//  sockets, one message at most. Returns 0 when something was handled,
//  -1 on timeout or interruption.
int zpar_client_pump (zpar_client_t *self, int timeout_ms);

//  The uuid of engine id, or NULL.
const char *zpar_client_uuid (zpar_client_t *self, int id);

//  Sends a request and registers item index of result as waiting for it.
//  route is the engine uuid for mux/control, NULL for task.
int zpar_client_send (zpar_client_t *self, zsock_t *sock, const char *route,
                      zpar_msg_t **msg_p, zpar_result_t *result, size_t index);

//  Marks an item answered with a value or an error; counts it done.
void zpar_result_settle (zpar_result_t *result, size_t index, json_t *value,
                         json_t *error, json_t *metadata);

//  A new result of size items; added to the client's live results.
zpar_result_t *zpar_result_new (zpar_client_t *client, size_t size, bool single);

//  {ename, evalue, engine_id} (caller owns).
json_t *zpar_error_new (const char *ename, int engine_id, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

#endif
