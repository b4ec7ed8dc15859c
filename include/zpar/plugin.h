/*  zpar/plugin.h - writing functions that zpar engines run.

    A plugin is a shared object loaded with `zpar-engine --load lib.so` (or
    `ipcluster start --load lib.so`). It names one entry point with
    ZPAR_PLUGIN, which registers its functions:

        #include <zpar/plugin.h>

        static int
        square (zpar_call_t *call)
        {
            long long n;
            if (zpar_call_arg_int (call, 0, &n) != 0)
                return -1;                          //  ValueError already set
            zpar_call_return (call, json_integer (n * n));
            return 0;
        }

        ZPAR_PLUGIN (zpar_registry_t *registry)
        {
            zpar_registry_add (registry, "square", square, "n -> n * n");
        }

    Build it with `cc -shared -fPIC -o libsquare.so square.c
    $(pkg-config --cflags zpar)`; the zpar_* functions are resolved against
    the engine when it loads the plugin.

    A function runs on the engine's main thread, one call at a time, while
    the engine's heart thread keeps answering the hub's heartbeats, so a
    function may compute for as long as it needs.                        */

#ifndef ZPAR_PLUGIN_H_INCLUDED
#define ZPAR_PLUGIN_H_INCLUDED

#include <jansson.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

//  Bumped when this header changes incompatibly; an engine refuses a
//  plugin built against another version.
#define ZPAR_PLUGIN_ABI 1

typedef struct _zpar_call_t zpar_call_t;
typedef struct _zpar_registry_t zpar_registry_t;

//  A function returns 0 on success (its value set with zpar_call_return, or
//  null when it set none) and nonzero on failure: the caller then gets the
//  error set with zpar_call_fail, or FunctionError naming the return code.
typedef int (zpar_fn_t) (zpar_call_t *call);

//  Registers fn under name with a one-line description (doc may be NULL).
//  A later registration of the same name replaces the earlier one, so a
//  plugin may override a built-in. Returns 0, or -1 on a bad name.
int zpar_registry_add (zpar_registry_t *registry, const char *name,
                       zpar_fn_t *fn, const char *doc);

//  Positional arguments: a JSON array (borrowed, never NULL).
json_t *zpar_call_args (zpar_call_t *call);

//  Argument index (borrowed), or NULL when there are fewer.
json_t *zpar_call_arg (zpar_call_t *call, size_t index);

//  Keyword arguments: a JSON object (borrowed, never NULL).
json_t *zpar_call_kwargs (zpar_call_t *call);

//  Argument index as an integer; on a missing or non-integer argument sets
//  a ValueError saying so and returns -1.
int zpar_call_arg_int (zpar_call_t *call, size_t index, long long *value);

//  Argument index as a number (integer or real); as above.
int zpar_call_arg_number (zpar_call_t *call, size_t index, double *value);

//  Binary buffers sent with the call, passed without copies.
size_t zpar_call_buffers (zpar_call_t *call);
const void *zpar_call_buffer (zpar_call_t *call, size_t index, size_t *size);

//  The engine's namespace: a JSON object that lives as long as the engine,
//  shared by every call on it (push and pull work on it). Borrowed.
json_t *zpar_call_namespace (zpar_call_t *call);

//  Binary values of the namespace, by name, beside the JSON ones (push
//  and pull them with zpar_view_push_bytes and zpar_view_pull_bytes).
//  get: the bytes (valid until the name is set again or the namespace is
//  cleared) and their size, or NULL; set: stores a copy. 0 or -1.
const void *zpar_call_get_bytes (zpar_call_t *call, const char *name, size_t *size);
int zpar_call_set_bytes (zpar_call_t *call, const char *name, const void *data, size_t size);

//  The id the hub gave this engine.
int zpar_call_engine_id (zpar_call_t *call);

//  Sets the return value; takes ownership of value.
void zpar_call_return (zpar_call_t *call, json_t *value);

//  Adds a binary buffer to the reply (copied).
void zpar_call_return_buffer (zpar_call_t *call, const void *data, size_t size);

//  How the engine frees a buffer it was given, once it was sent: the same
//  shape as ZeroMQ's zmq_free_fn.
typedef void (zpar_free_fn) (void *data, void *hint);

//  Adds a binary buffer to the reply without copying it: data is the
//  engine's from now on, sent as it is, and freed with free_fn (data,
//  hint) once ZeroMQ is done with it (maybe in another thread); free_fn
//  NULL means free (data).
void zpar_call_give_buffer (zpar_call_t *call, void *data, size_t size, zpar_free_fn *free_fn, void *hint);

//  Sends the call's own buffer index back with the reply, without copying
//  it (an echo). 0, or -1 when the call has no such buffer.
int zpar_call_return_input (zpar_call_t *call, size_t index);

//  Sets the error the caller will see: ename (e.g. "ValueError") and a
//  sentence. Returns -1, so a function can `return zpar_call_fail (...)`.
int zpar_call_fail (zpar_call_t *call, const char *ename, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

//  Prints to the caller's stdout / stderr stream (sent on iopub).
void zpar_call_print (zpar_call_t *call, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));
void zpar_call_eprint (zpar_call_t *call, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

//  The plugin's entry point: ZPAR_PLUGIN (zpar_registry_t *registry) { ... }
#define ZPAR_PLUGIN(declaration) \
    __attribute__ ((visibility ("default"))) const int zpar_plugin_abi = ZPAR_PLUGIN_ABI; \
    __attribute__ ((visibility ("default"))) void zpar_plugin_init (declaration)

#ifdef __cplusplus
}
#endif

#endif
