/*  zpar_engine.h - an engine: registers with the hub, connects to the
    schedulers, runs requested functions one at a time and replies.      */

#ifndef ZPAR_ENGINE_H_INCLUDED
#define ZPAR_ENGINE_H_INCLUDED

#include <stdint.h>

typedef struct {
    const char *profile;        //  profile whose zpar-engine.json to read (NULL: default)
    const char *connfile;       //  or this connection file's path
    const char **plugins;       //  NULL-terminated list of .so paths
    int registration_timeout_s; //  give up when the hub does not answer
    int wanted_id;              //  id to ask for (-1: any)
    int restarts;               //  times its supervisor restarted this slot
    const char *uuid;           //  its uuid, given by its supervisor (NULL: a new one)
    int ready_fd;               //  write "ready" here once registered (-1: none)
} zpar_engine_options_t;

//  Runs an engine until it is told to stop (SIGTERM, SIGINT or a
//  shutdown_request). Returns the process exit code.
int zpar_engine_run (const zpar_engine_options_t *options);

#endif
