/*  zpar_heart.h - the engine's heart: a thread that answers the hub's
    pings, so an engine stays alive in the hub's eyes while its main thread
    computes for minutes.

    Pipe commands: $TERM. The heart sends "LOST" once when no ping came for
    liveness periods (the hub is gone or unreachable), and "FOUND" when pings
    come back after that.

    When a hub that took over from a killed one says it does not know this
    engine ("reregister", signed), the heart registers it again itself,
    with its uuid and id: the main thread may be inside a long call.    */

#ifndef ZPAR_HEART_H_INCLUDED
#define ZPAR_HEART_H_INCLUDED

#include <czmq.h>

typedef struct {
    const char *ping_endpoint;
    const char *pong_endpoint;
    const char *uuid;
    const char *key;
    int period_ms;
    int liveness;
    const char *registration_endpoint;  //  the hub's
    const char *registration;   //  registration_request content, JSON text
    int64_t max_message_size;
} zpar_heart_config_t;

//  zactor_new (zpar_heart_actor, &config); config is copied before it returns.
void zpar_heart_actor (zsock_t *pipe, void *config);

#endif
