/*  pool_scaling - the seed's scaling experiment, in C: busy_wait(n) eight
    times, first in this one process, then on clusters of 1, 2, 4, 8 and
    16 engines through the load-balanced view, as a table of engines,
    seconds and speedup. The speedup stops growing at the number of
    cores: more engines than cores only take turns.

    Python (multiprocessing):
        with multiprocessing.Pool(processes=processes) as pool:
            pool.map(busy_wait, [n for _ in range(8)])

    zpar (starts and stops each cluster itself, with the ipcluster beside
    this program, in a temporary ZPAR_DIR):
        ./build/examples/pool_scaling [-n N] [ENGINES...]
    (ENGINES default 1 2 4 8 16). The seed's n, 10000000, keeps Python
    busy for a second but a C engine for a few milliseconds, less than
    the cost of starting the work; the default n, 300000000, takes C
    about as long as the seed's took Python, so that the table shows
    the cores and not the overheads. -n 10000000 runs the seed's size.   */

#include <zpar/zpar.h>

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CALLS 8
#define PROFILE "scaling"

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

//  The engines' busy_wait, here: a countdown the compiler must not skip.
static void
s_busy_wait (long long n)
{
    volatile long long countdown = n;
    while (countdown > 0)
        countdown = countdown - 1;
}

//  Seconds for the eight calls on a fresh cluster of engines, or -1.
static double
s_on_cluster (const char *ipcluster, int engines, long long n)
{
    char command [PATH_MAX + 128];
    snprintf (command, sizeof command, "%s start -n %d --daemonize --profile " PROFILE " > /dev/null",
              ipcluster, engines);
    if (system (command) != 0) {
        fprintf (stderr, "pool_scaling: could not start %d engines\n", engines);
        return -1;
    }
    double seconds = -1;
    zpar_client_t *client = zpar_client_new (PROFILE);
    zpar_view_t *pool = client? zpar_client_balanced (client): NULL;
    json_t *items = json_array ();
    for (int i = 0; i < CALLS; i++)
        json_array_append_new (items, json_pack ("[I]", (json_int_t) n));
    if (pool) {
        json_t *error = NULL;
        double start = s_now ();
        json_t *done = zpar_view_map_sync (pool, "busy_wait", items, 1, &error);
        if (done)
            seconds = s_now () - start;
        else
            fprintf (stderr, "pool_scaling: %s\n", json_string_value (json_object_get (error, "evalue")));
        json_decref (done);
        json_decref (error);
    }
    else
        fprintf (stderr, "pool_scaling: %s\n", zpar_last_error ());
    json_decref (items);
    zpar_view_destroy (&pool);
    zpar_client_destroy (&client);
    snprintf (command, sizeof command, "%s stop --profile " PROFILE " > /dev/null", ipcluster);
    if (system (command) != 0)
        fprintf (stderr, "pool_scaling: ipcluster stop reported a problem\n");
    return seconds;
}

int
main (int argc, char *argv [])
{
    long long n = 300000000;
    int opt;
    while ((opt = getopt (argc, argv, "n:")) != -1) {
        if (opt != 'n' || (n = atoll (optarg)) < 0) {
            fprintf (stderr, "usage: pool_scaling [-n N] [ENGINES...]\n");
            return 2;
        }
    }
    int counts [32], ncounts = 0;
    for (int i = optind; i < argc && ncounts < 32; i++)
        if ((counts [ncounts++] = atoi (argv [i])) < 1) {
            fprintf (stderr, "usage: pool_scaling [-n N] [ENGINES...]\n");
            return 2;
        }
    if (!ncounts) {
        int defaults [] = { 1, 2, 4, 8, 16 };
        for (ncounts = 0; ncounts < 5; ncounts++)
            counts [ncounts] = defaults [ncounts];
    }
    //  The ipcluster beside this program (build/examples -> build/bin).
    char self [PATH_MAX], ipcluster [PATH_MAX + 32];
    ssize_t length = readlink ("/proc/self/exe", self, sizeof self - 1);
    if (length <= 0)
        return 1;
    self [length] = 0;
    snprintf (ipcluster, sizeof ipcluster, "%s/../bin/ipcluster", dirname (self));
    if (access (ipcluster, X_OK) != 0)
        snprintf (ipcluster, sizeof ipcluster, "ipcluster");
    char dir [] = "/tmp/zpar-scaling-XXXXXX";
    if (!mkdtemp (dir)) {
        perror ("pool_scaling");
        return 1;
    }
    setenv ("ZPAR_DIR", dir, 1);

    printf ("busy_wait(%lld) x %d; %ld CPUs online\n\n", n, CALLS, sysconf (_SC_NPROCESSORS_ONLN));
    printf ("%-10s %9s %9s\n", "engines", "seconds", "speedup");
    double start = s_now ();
    for (int i = 0; i < CALLS; i++)
        s_busy_wait (n);
    double alone = s_now () - start;
    printf ("%-10s %9.3f %9.2f\n", "process", alone, 1.0);
    fflush (stdout);
    int rc = 0;
    for (int i = 0; i < ncounts; i++) {
        double seconds = s_on_cluster (ipcluster, counts [i], n);
        if (seconds < 0) {
            rc = 1;
            break;
        }
        printf ("%-10d %9.3f %9.2f\n", counts [i], seconds, seconds > 0? alone / seconds: 0);
        fflush (stdout);
    }
    char command [128];
    snprintf (command, sizeof command, "rm -rf %s", dir);
    if (system (command) != 0)
        fprintf (stderr, "pool_scaling: could not remove %s\n", dir);
    return rc;
}
