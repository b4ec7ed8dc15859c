/*  example_plugin - a user plugin: functions an engine gains with
        ipcluster start --load build/examples/libzpar_example_plugin.so
    and a client calls by name like any built-in:
        zpar apply square 7            ->  [0] 49 ...
        zpar apply greet '["Ada"]'     ->  [0] Hello, Ada, from engine 0
        zpar apply fail 3              ->  FunctionError: fail returned 3    */

#include <zpar/plugin.h>

#include <stdio.h>

//  square(n) -> n * n
static int
s_square (zpar_call_t *call)
{
    long long n;
    if (zpar_call_arg_int (call, 0, &n) != 0)
        return -1;
    zpar_call_return (call, json_integer (n * n));
    return 0;
}

//  greet(name) -> "Hello, NAME, from engine ID", and says so on stdout.
static int
s_greet (zpar_call_t *call)
{
    const char *name = json_string_value (zpar_call_arg (call, 0));
    if (!name)
        return zpar_call_fail (call, "ValueError", "greet needs a name (a string)");
    char text [256];
    snprintf (text, sizeof text, "Hello, %s, from engine %d", name, zpar_call_engine_id (call));
    zpar_call_print (call, "greeting %s\n", name);
    zpar_call_return (call, json_string (text));
    return 0;
}

//  fail(code) returns code without setting an error: the caller gets a
//  FunctionError naming it.
static int
s_fail (zpar_call_t *call)
{
    long long code;
    if (zpar_call_arg_int (call, 0, &code) != 0)
        return -1;
    return (int) code;
}

ZPAR_PLUGIN (zpar_registry_t *registry)
{
    zpar_registry_add (registry, "square", s_square, "square(n) -> n * n");
    zpar_registry_add (registry, "greet", s_greet, "greet(name) -> a greeting from this engine");
    zpar_registry_add (registry, "fail", s_fail, "fail(code) returns code: a FunctionError");
}
