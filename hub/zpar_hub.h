/*  zpar_hub.h - the hub as a CZMQ actor.

    The hub is the cluster's directory: it registers schedulers, engines
    and clients, watches engines' heartbeats, publishes arrivals and
    departures, counts what schedulers route, and answers questions about
    all of it. It is never on the data path.

    Pipe commands:
        ENDPOINT    -> registration endpoint, or "" when binding failed
        PORTS       -> ping, pong, notification and monitor ports
        $TERM       -> ends the actor
    The actor sends "SHUTDOWN" on its own when a client asked the cluster
    to shut down, after it has told everyone.                           */

#ifndef ZPAR_HUB_H_INCLUDED
#define ZPAR_HUB_H_INCLUDED

#include <czmq.h>
#include <stdint.h>

typedef struct {
    const char *ip;             //  address to bind, e.g. "127.0.0.1"
    const char *key;            //  hex cluster key
    int hb_period_ms;
    int hb_liveness;
    int64_t max_message_size;
    //  Ports to bind (0: ephemeral): registration, hb_ping, hb_pong,
    //  notification, monitor. A hub started again takes up the ports of
    //  the one before, so that engines, schedulers and clients reconnect.
    int ports [5];
    //  When it does, messages dated before this wall time (µs) are
    //  replays of the earlier hub's traffic and dropped (0: none).
    int64_t not_before_us;
    //  Where task records go (see zpar_hub_db.h); the caller opens it and
    //  destroys it after the actor.
    struct _zpar_hub_db_t *db;
} zpar_hub_config_t;

//  zactor_new (zpar_hub_actor, &config); config is copied before it returns.
void zpar_hub_actor (zsock_t *pipe, void *config);

#endif
