/*  zpar_registry.c - function table, plugin loading, call objects.      */

#include "zpar_registry.h"
#include "zpar_util.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *name;
    zpar_fn_t *fn;
    char *doc;
} s_entry_t;

struct _zpar_registry_t {
    s_entry_t *entries;
    size_t size, capacity;
    void **handles;             //  dlopen handles, closed on destroy
    size_t nhandles;
};

typedef struct {
    void *data;
    size_t size;
    zpar_free_fn *free_fn;      //  out: how data goes, NULL for an input's
    void *hint;
    int input;                  //  out: the request's buffer sent back, or -1
} s_buffer_t;

struct _zpar_call_t {
    zpar_engine_info_t *engine;
    json_t *args;               //  borrowed
    json_t *kwargs;             //  borrowed
    json_t *result;             //  owned
    json_t *error;              //  owned, {ename, evalue}
    s_buffer_t *in, *out;
    size_t nin, nout;
};

zpar_registry_t *
zpar_registry_new (void)
{
    return calloc (1, sizeof (zpar_registry_t));
}

void
zpar_registry_destroy (zpar_registry_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zpar_registry_t *self = *self_p;
    for (size_t i = 0; i < self->size; i++) {
        free (self->entries [i].name);
        free (self->entries [i].doc);
    }
    free (self->entries);
    //  Plugins stay mapped until the entries that point into them are gone.
    for (size_t i = 0; i < self->nhandles; i++)
        dlclose (self->handles [i]);
    free (self->handles);
    free (self);
    *self_p = NULL;
}

static s_entry_t *
s_find (zpar_registry_t *self, const char *name)
{
    for (size_t i = 0; i < self->size; i++)
        if (strcmp (self->entries [i].name, name) == 0)
            return &self->entries [i];
    return NULL;
}

int
zpar_registry_add (zpar_registry_t *self, const char *name, zpar_fn_t *fn, const char *doc)
{
    if (!self || !name || !*name || strlen (name) > 128 || !fn)
        return -1;
    s_entry_t *entry = s_find (self, name);
    if (!entry) {
        if (self->size == self->capacity) {
            size_t capacity = self->capacity? 2 * self->capacity: 16;
            s_entry_t *grown = realloc (self->entries, capacity * sizeof *grown);
            if (!grown)
                return -1;
            self->entries = grown;
            self->capacity = capacity;
        }
        entry = &self->entries [self->size++];
        entry->name = strdup (name);
        entry->doc = NULL;
    }
    entry->fn = fn;
    free (entry->doc);
    entry->doc = doc? strdup (doc): NULL;
    return 0;
}

int
zpar_registry_load (zpar_registry_t *self, const char *path, char **error)
{
    void *handle = dlopen (path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        if (asprintf (error, "cannot load plugin %s: %s", path, dlerror ()) < 0)
            *error = NULL;
        return -1;
    }
    const int *abi = dlsym (handle, "zpar_plugin_abi");
    void (*init) (zpar_registry_t *) = (void (*) (zpar_registry_t *)) dlsym (handle, "zpar_plugin_init");
    if (!abi || !init || *abi != ZPAR_PLUGIN_ABI) {
        if (asprintf (error, "%s is not a zpar plugin for this engine (%s)", path,
                      !init? "no ZPAR_PLUGIN entry point": "built against another zpar/plugin.h") < 0)
            *error = NULL;
        dlclose (handle);
        return -1;
    }
    void **grown = realloc (self->handles, (self->nhandles + 1) * sizeof *grown);
    if (!grown) {
        dlclose (handle);
        return -1;
    }
    self->handles = grown;
    self->handles [self->nhandles++] = handle;
    init (self);
    return 0;
}

static int
s_compare_names (const void *a, const void *b)
{
    return strcmp (*(const char *const *) a, *(const char *const *) b);
}

json_t *
zpar_registry_names (zpar_registry_t *self)
{
    const char **names = calloc (self->size + 1, sizeof *names);
    for (size_t i = 0; i < self->size; i++)
        names [i] = self->entries [i].name;
    qsort (names, self->size, sizeof *names, s_compare_names);
    json_t *array = json_array ();
    for (size_t i = 0; i < self->size; i++)
        json_array_append_new (array, json_string (names [i]));
    free (names);
    return array;
}

zpar_fn_t *
zpar_registry_lookup (zpar_registry_t *self, const char *name)
{
    s_entry_t *entry = name? s_find (self, name): NULL;
    return entry? entry->fn: NULL;
}

//  -- calls ---------------------------------------------------------------

zpar_call_t *
zpar_call_new (zpar_engine_info_t *engine, json_t *args, json_t *kwargs)
{
    zpar_call_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->engine = engine;
    self->args = args? json_incref (args): json_array ();
    self->kwargs = kwargs? json_incref (kwargs): json_object ();
    return self;
}

static void
s_free_buffers (s_buffer_t *buffers, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (buffers [i].free_fn)
            buffers [i].free_fn (buffers [i].data, buffers [i].hint);
    free (buffers);
}

static void
s_free_plain (void *data, void *hint)
{
    (void) hint;
    free (data);
}

void
zpar_call_destroy (zpar_call_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zpar_call_t *self = *self_p;
    json_decref (self->args);
    json_decref (self->kwargs);
    json_decref (self->result);
    json_decref (self->error);
    free (self->in);            //  the data belongs to the request's frames
    s_free_buffers (self->out, self->nout);
    free (self);
    *self_p = NULL;
}

static int
s_append (s_buffer_t **buffers, size_t *count, s_buffer_t buffer)
{
    s_buffer_t *grown = realloc (*buffers, (*count + 1) * sizeof *grown);
    if (!grown)
        return -1;
    *buffers = grown;
    grown [(*count)++] = buffer;
    return 0;
}

void
zpar_call_add_buffer (zpar_call_t *self, const void *data, size_t size)
{
    s_append (&self->in, &self->nin, (s_buffer_t) { (void *) data, size, NULL, NULL, -1 });
}

int
zpar_call_run (zpar_call_t *self, const char *name, zpar_fn_t *fn)
{
    int rc = fn (self);
    if (rc != 0 && !self->error)
        zpar_call_fail (self, "FunctionError", "%s returned %d", name, rc);
    if (rc == 0 && self->error) {
        //  Success wins over an error set earlier and recovered from.
        json_decref (self->error);
        self->error = NULL;
    }
    if (!self->result)
        self->result = json_null ();
    return rc;
}

json_t *zpar_call_result (zpar_call_t *self) { return self->result; }
json_t *zpar_call_error (zpar_call_t *self)  { return self->error; }
size_t zpar_call_out_buffers (zpar_call_t *self) { return self->nout; }

void
zpar_call_take_out_buffer (zpar_call_t *self, size_t index, void **data, size_t *size,
                           zpar_free_fn **free_fn, void **hint, int *input)
{
    s_buffer_t *buffer = &self->out [index];
    *data = buffer->data;
    *size = buffer->size;
    *free_fn = buffer->free_fn;
    *hint = buffer->hint;
    *input = buffer->input;
    buffer->free_fn = NULL;             //  the caller's now
}

//  -- the plugin API ------------------------------------------------------

json_t *zpar_call_args (zpar_call_t *call)   { return call->args; }
json_t *zpar_call_kwargs (zpar_call_t *call) { return call->kwargs; }
json_t *zpar_call_namespace (zpar_call_t *call) { return call->engine->namespace; }

const void *
zpar_call_get_bytes (zpar_call_t *call, const char *name, size_t *size)
{
    zchunk_t *chunk = call->engine->bytes && name? zhashx_lookup (call->engine->bytes, name): NULL;
    if (size)
        *size = chunk? zchunk_size (chunk): 0;
    return chunk? zchunk_data (chunk): NULL;
}

int
zpar_call_set_bytes (zpar_call_t *call, const char *name, const void *data, size_t size)
{
    if (!call->engine->bytes || !name || (!data && size))
        return -1;
    zchunk_t *chunk = zchunk_new (data, size);
    if (!chunk)
        return -1;
    zhashx_update (call->engine->bytes, name, chunk);
    return 0;
}
zpar_engine_info_t *zpar_call_engine_info (zpar_call_t *call) { return call->engine; }
int zpar_call_engine_id (zpar_call_t *call)  { return call->engine->id; }
size_t zpar_call_buffers (zpar_call_t *call) { return call->nin; }

json_t *
zpar_call_arg (zpar_call_t *call, size_t index)
{
    return json_array_get (call->args, index);
}

int
zpar_call_arg_int (zpar_call_t *call, size_t index, long long *value)
{
    json_t *arg = zpar_call_arg (call, index);
    if (!json_is_integer (arg))
        return zpar_call_fail (call, "ValueError", "argument %zu must be an integer%s", index,
                               arg? "": " (it is missing)");
    *value = json_integer_value (arg);
    return 0;
}

int
zpar_call_arg_number (zpar_call_t *call, size_t index, double *value)
{
    json_t *arg = zpar_call_arg (call, index);
    if (!json_is_number (arg))
        return zpar_call_fail (call, "ValueError", "argument %zu must be a number%s", index,
                               arg? "": " (it is missing)");
    *value = json_number_value (arg);
    return 0;
}

const void *
zpar_call_buffer (zpar_call_t *call, size_t index, size_t *size)
{
    if (index >= call->nin)
        return NULL;
    if (size)
        *size = call->in [index].size;
    return call->in [index].data;
}

void
zpar_call_return (zpar_call_t *call, json_t *value)
{
    json_decref (call->result);
    call->result = value? value: json_null ();
}

void
zpar_call_return_buffer (zpar_call_t *call, const void *data, size_t size)
{
    void *copy = malloc (size? size: 1);
    if (!copy)
        return;
    memcpy (copy, data, size);
    zpar_call_give_buffer (call, copy, size, s_free_plain, NULL);
}

void
zpar_call_give_buffer (zpar_call_t *call, void *data, size_t size, zpar_free_fn *free_fn, void *hint)
{
    s_buffer_t buffer = { data, size, free_fn? free_fn: s_free_plain, hint, -1 };
    if (s_append (&call->out, &call->nout, buffer) != 0)
        buffer.free_fn (data, hint);
}

int
zpar_call_return_input (zpar_call_t *call, size_t index)
{
    if (index >= call->nin)
        return -1;
    s_buffer_t buffer = { call->in [index].data, call->in [index].size, NULL, NULL, (int) index };
    return s_append (&call->out, &call->nout, buffer);
}

int
zpar_call_fail (zpar_call_t *call, const char *ename, const char *format, ...)
{
    char evalue [1024], name [64];
    va_list args;
    va_start (args, format);
    vsnprintf (evalue, sizeof evalue, format, args);
    va_end (args);
    snprintf (name, sizeof name, "%s", ename && *ename? ename: "FunctionError");
    json_decref (call->error);
    call->error = json_pack ("{s:s, s:s}", "ename", zpar_utf8_clean (name),
                             "evalue", zpar_utf8_clean (evalue));
    return -1;
}

static void
s_print (zpar_call_t *call, const char *name, const char *format, va_list args)
{
    char *text = NULL;
    if (vasprintf (&text, format, args) < 0)
        return;
    if (call->engine->print)
        call->engine->print (call->engine->print_context, name, text);
    free (text);
}

void
zpar_call_print (zpar_call_t *call, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    s_print (call, "stdout", format, args);
    va_end (args);
}

void
zpar_call_eprint (zpar_call_t *call, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    s_print (call, "stderr", format, args);
    va_end (args);
}
