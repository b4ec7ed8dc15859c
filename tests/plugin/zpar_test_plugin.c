/*  zpar_test_plugin - functions that end the engine running them, for the
    tests of what a client sees when an engine dies mid-task:
        segfault()   SIGSEGV, as a bad pointer would
        abort()      SIGABRT, as a failed assertion would
        exit(code)   the process exits with code
    and one that prints, for the tests of task records:
        say(out, err)  out to stdout, err to stderr; returns null
    and one that works in the engine's namespace:
        double_all(name, out)  out = name's numbers, each twice
    and ones that send binary buffers back, or work on binary values:
        echo_buffers()        every buffer it got, back (not copied); returns their bytes
        fill_bytes(n, byte)   n bytes of byte, given to the reply (not copied)
        invert_bytes(name, out)  out = name's bytes, each inverted       */

#include <zpar/plugin.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
s_segfault (zpar_call_t *call)
{
    (void) call;
    //  The default action, as in any build: under AddressSanitizer (make
    //  check-asan) its own handler would end the process with SIGABRT.
    signal (SIGSEGV, SIG_DFL);
    raise (SIGSEGV);
    return 0;
}

static int
s_abort (zpar_call_t *call)
{
    (void) call;
    abort ();
}

static int
s_exit (zpar_call_t *call)
{
    long long code = 1;
    zpar_call_arg_int (call, 0, &code);
    _exit ((int) code);
}

static int
s_say (zpar_call_t *call)
{
    const char *out = json_string_value (zpar_call_arg (call, 0));
    const char *err = json_string_value (zpar_call_arg (call, 1));
    if (out)
        zpar_call_print (call, "%s", out);
    if (err)
        zpar_call_eprint (call, "%s", err);
    return 0;
}

static int
s_double_all (zpar_call_t *call)
{
    const char *name = json_string_value (zpar_call_arg (call, 0));
    const char *out = json_string_value (zpar_call_arg (call, 1));
    json_t *space = zpar_call_namespace (call);
    json_t *numbers = name? json_object_get (space, name): NULL;
    if (!out || !json_is_array (numbers))
        return zpar_call_fail (call, "KeyError", "no list named %s here", name? name: "(none)");
    json_t *doubled = json_array ();
    size_t i;
    json_t *number;
    json_array_foreach (numbers, i, number)
        json_array_append_new (doubled, json_real (2 * json_number_value (number)));
    json_object_set_new (space, out, doubled);
    zpar_call_return (call, json_integer ((json_int_t) i));
    return 0;
}

static int
s_echo_buffers (zpar_call_t *call)
{
    size_t total = 0;
    for (size_t i = 0; i < zpar_call_buffers (call); i++) {
        size_t size;
        zpar_call_buffer (call, i, &size);
        zpar_call_return_input (call, i);
        total += size;
    }
    zpar_call_return (call, json_integer ((json_int_t) total));
    return 0;
}

static int
s_fill_bytes (zpar_call_t *call)
{
    long long count, byte;
    if (zpar_call_arg_int (call, 0, &count) != 0 || zpar_call_arg_int (call, 1, &byte) != 0)
        return -1;
    if (count < 0 || count > (1LL << 30))
        return zpar_call_fail (call, "ValueError", "fill_bytes takes 0 to 2^30 bytes");
    unsigned char *bytes = malloc ((size_t) count + 1);
    memset (bytes, (int) byte, (size_t) count);
    zpar_call_give_buffer (call, bytes, (size_t) count, NULL, NULL);
    zpar_call_return (call, json_integer (count));
    return 0;
}

static int
s_invert_bytes (zpar_call_t *call)
{
    const char *name = json_string_value (zpar_call_arg (call, 0));
    const char *out = json_string_value (zpar_call_arg (call, 1));
    size_t size = 0;
    const unsigned char *bytes = zpar_call_get_bytes (call, name, &size);
    if (!bytes || !out)
        return zpar_call_fail (call, "KeyError", "no bytes named %s here", name? name: "(none)");
    unsigned char *inverted = malloc (size? size: 1);
    for (size_t i = 0; i < size; i++)
        inverted [i] = (unsigned char) ~bytes [i];
    int rc = zpar_call_set_bytes (call, out, inverted, size);
    free (inverted);
    zpar_call_return (call, json_integer ((json_int_t) size));
    return rc;
}

ZPAR_PLUGIN (zpar_registry_t *registry)
{
    zpar_registry_add (registry, "segfault", s_segfault, "segfault() kills this engine with SIGSEGV");
    zpar_registry_add (registry, "abort", s_abort, "abort() kills this engine with SIGABRT");
    zpar_registry_add (registry, "exit", s_exit, "exit(code) ends this engine with code");
    zpar_registry_add (registry, "say", s_say, "say(out, err) prints out to stdout and err to stderr");
    zpar_registry_add (registry, "double_all", s_double_all, "double_all(name, out): out = name's numbers doubled");
    zpar_registry_add (registry, "echo_buffers", s_echo_buffers, "echo_buffers() sends every buffer back");
    zpar_registry_add (registry, "fill_bytes", s_fill_bytes, "fill_bytes(n, byte): n bytes of byte, as a buffer");
    zpar_registry_add (registry, "invert_bytes", s_invert_bytes, "invert_bytes(name, out): out = name's bytes inverted");
}
