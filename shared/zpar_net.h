/*  zpar_net.h - sockets as every zpar daemon sets them up: a size limit
    on everything bound, no linger on close, ephemeral ports.            */

#ifndef ZPAR_NET_H_INCLUDED
#define ZPAR_NET_H_INCLUDED

#include <czmq.h>
#include <stdint.h>

//  CurveZMQ keys, Z85 text. A cluster has one keypair (server_*), which
//  every socket a daemon binds uses; every process that connects has a
//  keypair of its own (public, secret) and knows server_public.
typedef struct {
    char server_public [41];
    char server_secret [41];    //  "" in a process that binds nothing
    char public [41];
    char secret [41];
} zpar_curve_t;

//  A new keypair for a cluster, and one of this process's own. 0 or -1.
int zpar_curve_new_cluster (zpar_curve_t *curve);

//  Keys to connect to a cluster whose public key is server_public: a
//  keypair of this process's own. -1 when server_public is no Z85 key.
int zpar_curve_for_peer (const char *server_public, zpar_curve_t *curve);

//  From now on, every socket zpar_bind_at and zpar_connect make in this
//  process speaks CurveZMQ with these keys (copied; NULL: plain TCP).
//  A daemon calls it once, before it makes any socket.
void zpar_net_set_curve (const zpar_curve_t *curve);

//  The keys set, or NULL.
const zpar_curve_t *zpar_net_curve (void);

//  Creates a socket of type and binds it on tcp://ip:* (an ephemeral
//  port). max_size limits each inbound frame (ZMQ_MAXMSGSIZE, 0 = none).
//  Stores the bound endpoint (caller frees) in *endpoint. NULL on error.
zsock_t *zpar_bind (int type, const char *ip, int64_t max_size, char **endpoint);

//  The same on a given port (0: an ephemeral one), for a daemon started
//  again that takes up the ports its peers still dial.
zsock_t *zpar_bind_at (int type, const char *ip, int port, int64_t max_size, char **endpoint);

//  The port of a tcp:// endpoint, or 0.
int zpar_endpoint_port (const char *endpoint);

//  The same with keys of its own (a client of several clusters); NULL:
//  plain TCP.
zsock_t *zpar_connect_curve (int type, const char *endpoint, const char *identity,
                             int64_t max_size, const zpar_curve_t *curve);

//  Creates a socket of type connected to endpoint; identity may be NULL.
zsock_t *zpar_connect (int type, const char *endpoint, const char *identity,
                       int64_t max_size);

#endif
