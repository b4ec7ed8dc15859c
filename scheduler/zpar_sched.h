/*  zpar_sched.h - one scheduler role as a CZMQ actor.

    mux and control forward between a client-facing ROUTER and an
    engine-facing ROUTER, swapping the first two routing ids; task picks
    the engine itself (by its scheme, see zpar_task.c); iopub forwards engine output from a
    SUB to a PUB. Frames travel as they came: a role checks signatures
    and reads headers, and never re-encodes what it forwards.

    Pipe commands:
        ENDPOINTS                         -> client endpoint, engine endpoint
                                             ("" "" when binding failed)
        CONNECT notification monitor engines_json
                                          -> (nothing) start following the hub
        $TERM                                                            */

#ifndef ZPAR_SCHED_H_INCLUDED
#define ZPAR_SCHED_H_INCLUDED

#include <czmq.h>
#include <stdint.h>

#include "zpar_proto.h"

typedef struct {
    const char *role;           //  "mux", "task", "control" or "iopub"
    const char *ip;
    const char *key;
    int64_t max_message_size;
    int hwm;                    //  task: outstanding tasks per engine, 0 = no limit
    int poison_limit;           //  task: deaths of engines running a task before it
                                //  is sent to no other, 0 = no limit
    int scheme;                 //  task: a zpar_scheme_t (see zpar_scheme.h)
    //  Ports to bind (0: ephemeral). A scheduler started again takes up
    //  those of the one before, which engines and clients still dial; when
    //  one is taken, it binds an ephemeral port instead.
    int client_port, engine_port;
    //  broadcast: levels of nodes below the root (0: the root is the only
    //  leaf), and the port each leaf binds (0: ephemeral).
    int depth;
    int leaf_ports [1 << ZPAR_BCAST_DEPTH_MAX];
} zpar_sched_config_t;

//  zactor_new (zpar_sched_actor, &config); config is copied before it returns.
void zpar_sched_actor (zsock_t *pipe, void *config);

//  The broadcast role (zpar_bcast.c): the same pipe commands; its engine
//  endpoint is the list of its leaves' (see ZPAR_ROLE_BROADCAST).
void zpar_bcast_actor (zsock_t *pipe, void *config);

#endif
