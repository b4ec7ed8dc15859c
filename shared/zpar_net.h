/*  zpar_net.h - sockets as every zpar daemon sets them up: a size limit
    on everything bound, no linger on close, ephemeral ports.            */

#ifndef ZPAR_NET_H_INCLUDED
#define ZPAR_NET_H_INCLUDED

#include <czmq.h>
#include <stdint.h>

//  Creates a socket of type and binds it on tcp://ip:* (an ephemeral
//  port). max_size limits each inbound frame (ZMQ_MAXMSGSIZE, 0 = none).
//  Stores the bound endpoint (caller frees) in *endpoint. NULL on error.
zsock_t *zpar_bind (int type, const char *ip, int64_t max_size, char **endpoint);

//  The same on a given port (0: an ephemeral one), for a daemon started
//  again that takes up the ports its peers still dial.
zsock_t *zpar_bind_at (int type, const char *ip, int port, int64_t max_size, char **endpoint);

//  The port of a tcp:// endpoint, or 0.
int zpar_endpoint_port (const char *endpoint);

//  Creates a socket of type connected to endpoint; identity may be NULL.
zsock_t *zpar_connect (int type, const char *endpoint, const char *identity,
                       int64_t max_size);

#endif
