/*  zpar_connfile.h - connection files: what a client or an engine needs to
    find and trust a cluster. Written by the hub into the profile's
    security/ folder, mode 0600, since the key they hold signs every
    message. Only the registration endpoint and the key are needed: every
    other endpoint comes from the hub's replies.                         */

#ifndef ZPAR_CONNFILE_H_INCLUDED
#define ZPAR_CONNFILE_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "zpar_net.h"

#define ZPAR_CONNFILE_CLIENT "zpar-client.json"
#define ZPAR_CONNFILE_ENGINE "zpar-engine.json"
//  Beside them, the scheduler's ports (for one started again).
#define ZPAR_SCHEDULER_PORTS "zpar-scheduler.json"
//  And the cluster's CurveZMQ keypair, for the daemons that bind: the hub
//  and the scheduler (mode 0600, never sent anywhere).
#define ZPAR_CURVE_KEYS "zpar-curve.json"

typedef struct {
    char *registration;         //  hub registration endpoint, tcp://ip:port
    char *key;                  //  hex key that signs messages
    char *signature_scheme;     //  "hmac-sha256"
    char *location;             //  address the cluster binds on
    int64_t max_message_size;   //  bytes, 0 = ZPAR_MAX_MESSAGE_SIZE
    int64_t hub_pid;
    //  The hub's other ports, so that a hub started again on the same
    //  profile binds them again and every peer's socket reconnects by
    //  itself (0: not known).
    int ping_port, pong_port, notification_port, monitor_port;
    //  The cluster's CurveZMQ public key (Z85, 40 characters): every
    //  socket a peer connects speaks CurveZMQ to it. NULL: plain TCP.
    char *curve_serverkey;
} zpar_connfile_t;

//  Parses connection-file text. On error returns NULL and, when error is
//  not NULL, a sentence saying what is wrong (caller frees).
zpar_connfile_t *zpar_connfile_parse (const char *text, size_t size, char **error);

//  Reads and parses a file. Errors as above, naming the path.
zpar_connfile_t *zpar_connfile_load (const char *path, char **error);

//  Writes atomically with mode 0600 (temporary file, fsync, rename).
//  Returns 0, or -1 with errno set.
int zpar_connfile_save (const zpar_connfile_t *self, const char *path);

void zpar_connfile_destroy (zpar_connfile_t **self_p);

//  The cluster's CurveZMQ keypair (ZPAR_CURVE_KEYS): saved by the hub
//  (mode 0600), read by the scheduler and by a hub taking over. load
//  also makes the process a keypair of its own. 0, or -1 (with *error).
int zpar_curve_save (const zpar_curve_t *curve, const char *path);
int zpar_curve_load (const char *path, zpar_curve_t *curve, char **error);

//  Writes any JSON document as zpar_connfile_save does: mode 0600, a
//  temporary file, fsync, rename. Returns 0, or -1 with errno set.
int zpar_json_save (json_t *root, const char *path);

//  The engine connection file of a profile (NULL: the default), or the
//  file at path when path is not NULL, waiting up to timeout_ms for it to
//  appear: a hub started at the same moment writes it a little later.
//  NULL on error or timeout, with a sentence in *error (caller frees).
zpar_connfile_t *zpar_connfile_await (const char *profile, const char *path,
                                      int timeout_ms, char **error);

#endif
