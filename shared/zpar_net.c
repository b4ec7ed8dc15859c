/*  zpar_net.c - socket set-up shared by the daemons and the client.     */

#include "zpar_net.h"
#include "zpar_proto.h"
#include "zpar_util.h"

#include <limits.h>

static zpar_curve_t s_curve;
static bool s_curve_set;

int
zpar_curve_new_cluster (zpar_curve_t *curve)
{
    memset (curve, 0, sizeof *curve);
    if (zmq_curve_keypair (curve->server_public, curve->server_secret) != 0)
        return -1;
    return zpar_curve_for_peer (curve->server_public, curve);
}

int
zpar_curve_for_peer (const char *server_public, zpar_curve_t *curve)
{
    uint8_t binary [32];
    if (!server_public || strlen (server_public) != 40 || !zmq_z85_decode (binary, server_public))
        return -1;
    if (curve->server_public != server_public)
        snprintf (curve->server_public, sizeof curve->server_public, "%s", server_public);
    return zmq_curve_keypair (curve->public, curve->secret) == 0? 0: -1;
}

void
zpar_net_set_curve (const zpar_curve_t *curve)
{
    s_curve_set = curve != NULL;
    if (curve)
        s_curve = *curve;
}

const zpar_curve_t *
zpar_net_curve (void)
{
    return s_curve_set? &s_curve: NULL;
}

static void
s_limit (zsock_t *sock, int64_t max_size)
{
    //  ZMQ_MAXMSGSIZE is an int64 in libzmq but CZMQ's setter takes int.
    if (max_size > 0)
        zmq_setsockopt (zsock_resolve (sock), ZMQ_MAXMSGSIZE, &max_size, sizeof max_size);
    zsock_set_linger (sock, 0);
}

zsock_t *
zpar_bind (int type, const char *ip, int64_t max_size, char **endpoint)
{
    return zpar_bind_at (type, ip, 0, max_size, endpoint);
}

zsock_t *
zpar_bind_at (int type, const char *ip, int port, int64_t max_size, char **endpoint)
{
    zsock_t *sock = zsock_new (type);
    if (!sock)
        return NULL;
    s_limit (sock, max_size);
    if (type == ZMQ_ROUTER) {
        //  A reply to a peer that is gone fails at once (EHOSTUNREACH)
        //  instead of vanishing, and a peer slow to read never blocks the
        //  daemon nor loses a reply: no send high-water mark.
        zsock_set_router_mandatory (sock, 1);
        zsock_set_sndhwm (sock, 0);
    }
    if (type == ZMQ_SUB)
        zsock_set_subscribe (sock, "");
    if (s_curve_set && *s_curve.server_secret) {
        zsock_set_curve_server (sock, 1);
        zsock_set_curve_secretkey (sock, s_curve.server_secret);
    }
    //  libzmq's own wildcard: the kernel picks a port at random. (CZMQ's
    //  takes the first free one from 49152 up, which is the port a daemon
    //  just killed had, before one started again can take it up.)
    char wanted [300], bound [300];
    snprintf (wanted, sizeof wanted, port > 0? "tcp://%s:%d": "tcp://%s:*", ip, port);
    size_t size = sizeof bound;
    if (zmq_bind (zsock_resolve (sock), wanted) != 0
    ||  zmq_getsockopt (zsock_resolve (sock), ZMQ_LAST_ENDPOINT, bound, &size) != 0
    ||  !(port = zpar_endpoint_port (bound))) {
        zsock_destroy (&sock);
        return NULL;
    }
    if (endpoint) {
        //  Say the address a peer must dial: a wildcard bind is reached
        //  through the loopback address on this host.
        const char *host = strcmp (ip, "*") == 0 || strcmp (ip, "0.0.0.0") == 0? "127.0.0.1": ip;
        if (asprintf (endpoint, "tcp://%s:%d", host, port) < 0)
            *endpoint = NULL;
    }
    return sock;
}

zsock_t *
zpar_connect (int type, const char *endpoint, const char *identity, int64_t max_size)
{
    return zpar_connect_curve (type, endpoint, identity, max_size, zpar_net_curve ());
}

zsock_t *
zpar_connect_curve (int type, const char *endpoint, const char *identity, int64_t max_size,
                    const zpar_curve_t *curve)
{
    zsock_t *sock = zsock_new (type);
    if (!sock)
        return NULL;
    s_limit (sock, max_size);
    if (curve) {
        zsock_set_curve_serverkey (sock, curve->server_public);
        zsock_set_curve_publickey (sock, curve->public);
        zsock_set_curve_secretkey (sock, curve->secret);
    }
    if (identity)
        zsock_set_identity (sock, identity);
    //  A DEALER whose peer is gone queues up to its high-water mark and then
    //  blocks: bound the wait so that no daemon or client hangs on it.
    if (type == ZMQ_DEALER)
        zsock_set_sndtimeo (sock, ZPAR_SEND_TIMEOUT_MS);
    if (type == ZMQ_SUB)
        zsock_set_subscribe (sock, "");
    if (zsock_connect (sock, "%s", endpoint) != 0) {
        zsock_destroy (&sock);
        return NULL;
    }
    return sock;
}

int
zpar_endpoint_port (const char *endpoint)
{
    const char *colon = endpoint && strncmp (endpoint, "tcp://", 6) == 0? strrchr (endpoint, ':'): NULL;
    long port;
    return colon && zpar_parse_long (colon + 1, 1, 65535, &port) == 0? (int) port: 0;
}
