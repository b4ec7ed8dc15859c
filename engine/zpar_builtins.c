/*  zpar_builtins.c - functions every engine has: the seed's experiments
    (busy_wait, primes, hostname) and tools for cluster work.           */

#include "zpar_registry.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

//  A bound on primes(n): the reply for 10^8 would be 46 MB of JSON, more
//  than a reply should carry.
#define S_PRIMES_MAX 100000000LL

//  echo(x) returns x; echo(a, b, ...) returns [a, b, ...]; echo() null.
static int
s_echo (zpar_call_t *call)
{
    json_t *args = zpar_call_args (call);
    size_t count = json_array_size (args);
    if (count == 1)
        zpar_call_return (call, json_incref (json_array_get (args, 0)));
    else
        zpar_call_return (call, count? json_incref (args): json_null ());
    for (size_t i = 0; i < zpar_call_buffers (call); i++)
        zpar_call_return_input (call, i);           //  the same bytes, uncopied
    return 0;
}

//  sleep(seconds) sleeps and returns the seconds it slept.
static int
s_sleep (zpar_call_t *call)
{
    double seconds;
    if (zpar_call_arg_number (call, 0, &seconds) != 0)
        return -1;
    if (seconds < 0 || seconds > 86400 * 365)
        return zpar_call_fail (call, "ValueError", "sleep needs 0 <= seconds, got %g", seconds);
    struct timespec left = { (time_t) seconds, (long) ((seconds - (time_t) seconds) * 1e9) };
    while (nanosleep (&left, &left) != 0 && errno == EINTR)
        ;
    zpar_call_return (call, json_real (seconds));
    return 0;
}

//  busy_wait(n) counts down from n on the CPU, as the seed's experiment.
static int
s_busy_wait (zpar_call_t *call)
{
    long long n;
    if (zpar_call_arg_int (call, 0, &n) != 0)
        return -1;
    if (n < 0)
        return zpar_call_fail (call, "ValueError", "busy_wait needs n >= 0, got %lld", n);
    //  volatile keeps the compiler from folding the loop away: the point
    //  is to burn CPU the way the seed's Python loop does.
    volatile long long countdown = n;
    while (countdown > 0)
        countdown = countdown - 1;
    zpar_call_return (call, json_integer (0));
    return 0;
}

//  primes(n) returns the primes below n (sieve of Eratosthenes).
static int
s_primes (zpar_call_t *call)
{
    long long n;
    if (zpar_call_arg_int (call, 0, &n) != 0)
        return -1;
    if (n < 0 || n > S_PRIMES_MAX)
        return zpar_call_fail (call, "ValueError", "primes needs 0 <= n <= %lld, got %lld",
                               S_PRIMES_MAX, n);
    json_t *list = json_array ();
    if (n > 2) {
        uint8_t *composite = calloc ((size_t) n, 1);
        if (!composite) {
            json_decref (list);
            return zpar_call_fail (call, "MemoryError", "no memory for primes(%lld)", n);
        }
        for (long long i = 2; i < n; i++) {
            if (composite [i])
                continue;
            json_array_append_new (list, json_integer (i));
            for (long long j = i * i; j < n; j += i)
                composite [j] = 1;
        }
        free (composite);
    }
    zpar_call_return (call, list);
    return 0;
}

static int
s_hostname (zpar_call_t *call)
{
    char name [256] = "";
    gethostname (name, sizeof name - 1);
    zpar_call_return (call, json_string (name));
    return 0;
}

static const char *
s_mpi_rank (void)
{
    const char *names [] = { "OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID" };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (getenv (names [i]))
            return getenv (names [i]);
    return NULL;
}

static int
s_engine_info (zpar_call_t *call)
{
    zpar_engine_info_t *engine = zpar_call_engine_info (call);
    const char *rank = s_mpi_rank ();
    json_t *info = json_pack ("{s:i, s:s, s:s, s:i, s:o}",
        "id", engine->id, "uuid", engine->uuid? engine->uuid: "",
        "host", engine->host? engine->host: "", "pid", engine->pid,
        "functions", zpar_registry_names (engine->registry));
    json_object_set_new (info, "mpi_rank", rank? json_integer (atoll (rank)): json_null ());
    zpar_call_return (call, info);
    return 0;
}

//  push({name: value, ...}) stores values in the engine's namespace.
static int
s_push (zpar_call_t *call)
{
    json_t *values = zpar_call_arg (call, 0);
    if (!json_is_object (values))
        return zpar_call_fail (call, "ValueError", "push needs an object of names and values");
    json_object_update (zpar_call_namespace (call), values);
    zpar_call_return (call, json_null ());
    return 0;
}

//  pull(name) returns one value; pull([a, b]) returns a list.
static int
s_pull (zpar_call_t *call)
{
    json_t *names = zpar_call_arg (call, 0);
    json_t *space = zpar_call_namespace (call);
    if (json_is_string (names)) {
        json_t *value = json_object_get (space, json_string_value (names));
        if (!value)
            return zpar_call_fail (call, "KeyError", "no name '%s' on engine %d",
                                   json_string_value (names), zpar_call_engine_id (call));
        zpar_call_return (call, json_incref (value));
        return 0;
    }
    if (!json_is_array (names))
        return zpar_call_fail (call, "ValueError", "pull needs a name or a list of names");
    json_t *list = json_array ();
    size_t i;
    json_t *name;
    json_array_foreach (names, i, name) {
        json_t *value = json_is_string (name)? json_object_get (space, json_string_value (name)): NULL;
        if (!value) {
            json_decref (list);
            return zpar_call_fail (call, "KeyError", "no name %s on engine %d",
                                   json_is_string (name)? json_string_value (name): "(not a string)",
                                   zpar_call_engine_id (call));
        }
        json_array_append (list, value);
    }
    zpar_call_return (call, list);
    return 0;
}

//  push_bytes(name) stores the call's buffer under name, as bytes.
static int
s_push_bytes (zpar_call_t *call)
{
    const char *name = json_string_value (zpar_call_arg (call, 0));
    size_t size = 0;
    const void *data = zpar_call_buffers (call) == 1? zpar_call_buffer (call, 0, &size): NULL;
    if (!name || !data)
        return zpar_call_fail (call, "ValueError", "push_bytes needs a name and one buffer");
    if (zpar_call_set_bytes (call, name, data, size) != 0)
        return zpar_call_fail (call, "MemoryError", "cannot keep %zu bytes", size);
    zpar_call_return (call, json_integer ((json_int_t) size));
    return 0;
}

//  pull_bytes(name) -> the bytes stored under name, as the reply's buffer.
static int
s_pull_bytes (zpar_call_t *call)
{
    const char *name = json_string_value (zpar_call_arg (call, 0));
    size_t size = 0;
    const void *data = zpar_call_get_bytes (call, name, &size);
    if (!data)
        return zpar_call_fail (call, "KeyError", "no bytes named '%s' on engine %d", name? name: "",
                               zpar_call_engine_id (call));
    zpar_call_return_buffer (call, data, size);
    zpar_call_return (call, json_integer ((json_int_t) size));
    return 0;
}

void
zpar_builtins_register (zpar_registry_t *registry)
{
    zpar_registry_add (registry, "echo", s_echo, "echo(x) -> x; more arguments come back as a list");
    zpar_registry_add (registry, "sleep", s_sleep, "sleep(seconds) -> seconds");
    zpar_registry_add (registry, "busy_wait", s_busy_wait, "busy_wait(n): count down from n on the CPU");
    zpar_registry_add (registry, "primes", s_primes, "primes(n) -> the primes below n");
    zpar_registry_add (registry, "hostname", s_hostname, "hostname() -> this engine's host name");
    zpar_registry_add (registry, "engine_info", s_engine_info, "engine_info() -> id, uuid, host, pid, functions, mpi_rank");
    zpar_registry_add (registry, "push", s_push, "push({name: value}) stores values on the engine");
    zpar_registry_add (registry, "pull", s_pull, "pull(name | [names]) -> stored values");
    zpar_registry_add (registry, "push_bytes", s_push_bytes, "push_bytes(name) + a buffer: stores the bytes");
    zpar_registry_add (registry, "pull_bytes", s_pull_bytes, "pull_bytes(name) -> the stored bytes, as a buffer");
}
