/*  zpar_registry.h - the engine's table of callable functions and the
    call object a function receives (the engine side of zpar/plugin.h).  */

#ifndef ZPAR_REGISTRY_H_INCLUDED
#define ZPAR_REGISTRY_H_INCLUDED

#include <zpar/plugin.h>

#include <czmq.h>
#include <stdbool.h>

zpar_registry_t *zpar_registry_new (void);
void zpar_registry_destroy (zpar_registry_t **self_p);

//  Loads a plugin .so and runs its zpar_plugin_init. Returns 0, or -1 with
//  a sentence in *error (caller frees).
int zpar_registry_load (zpar_registry_t *self, const char *path, char **error);

//  Registered names, sorted: a JSON array (caller owns).
json_t *zpar_registry_names (zpar_registry_t *self);

//  The function registered under name, or NULL.
zpar_fn_t *zpar_registry_lookup (zpar_registry_t *self, const char *name);

//  Adds echo, sleep, busy_wait, primes, hostname, engine_info, push, pull.
void zpar_builtins_register (zpar_registry_t *registry);

//  Where a call's printed output goes: name is "stdout" or "stderr".
typedef void (zpar_print_fn) (void *context, const char *name, const char *text);

//  What engine_info reports, filled by the engine.
typedef struct {
    int id;
    const char *uuid;
    const char *host;
    int pid;
    zpar_registry_t *registry;
    json_t *namespace;          //  engine-wide, owned by the engine
    zhashx_t *bytes;            //  its binary values: name -> zchunk_t, owned by the engine
    zpar_print_fn *print;
    void *print_context;
} zpar_engine_info_t;

//  One call. args (array) and kwargs (object) are borrowed; either may be
//  NULL. Add the request's buffers with zpar_call_add_buffer (borrowed:
//  they must outlive the call).
zpar_call_t *zpar_call_new (zpar_engine_info_t *engine, json_t *args, json_t *kwargs);
void zpar_call_destroy (zpar_call_t **self_p);
void zpar_call_add_buffer (zpar_call_t *self, const void *data, size_t size);

//  Runs fn; afterwards, zpar_call_result or zpar_call_error tells the outcome.
//  Returns the function's return code.
int zpar_call_run (zpar_call_t *self, const char *name, zpar_fn_t *fn);

//  The return value (borrowed; json null when none was set).
json_t *zpar_call_result (zpar_call_t *self);

//  NULL on success, else {ename, evalue} (borrowed).
json_t *zpar_call_error (zpar_call_t *self);

//  The engine a call runs on (for built-ins such as engine_info).
zpar_engine_info_t *zpar_call_engine_info (zpar_call_t *call);

//  Buffers the function returned, handed over one at a time: the bytes,
//  how to free them (free_fn (data, hint)), or for one of the request's
//  own buffers sent back, its index in input (>= 0) and free_fn NULL. The
//  call frees nothing it handed over.
size_t zpar_call_out_buffers (zpar_call_t *self);
void zpar_call_take_out_buffer (zpar_call_t *self, size_t index, void **data, size_t *size,
                                zpar_free_fn **free_fn, void **hint, int *input);

#endif
