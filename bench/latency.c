/*  latency.c - round-trip latency of one zpar call, against the floor.

    What it measures, in one run, with the same warm-up and the same number
    of timed calls (-n, default 10000), each timed on its own with
    CLOCK_MONOTONIC:

    zpar    zpar_view_apply_sync (view, "echo", [i]) on a direct view of
            engine 0 of a 1-engine cluster (ipcluster start -n 1, beside
            this binary, in a temporary ZPAR_DIR). A call goes client
            DEALER -> mux ROUTER/ROUTER (scheduler) -> engine DEALER and
            back: four TCP hops over loopback, three processes.

    raw     The same hops with plain libzmq and nothing else: a client
            DEALER, a broker with two ROUTERs that swaps the first two
            identity frames as the mux does, and an echo DEALER that sends
            back what it got. The request has the frame count and about
            the sizes of an apply_request (delimiter, 64-byte signature,
            ~200-byte header, "{}", "{}", ~40-byte content).

    Why raw is the floor: it has the processes, sockets, hops and frames
    any implementation of this architecture must have, and none of zpar's
    own work: HMAC signing and checking, replay history, JSON built and
    parsed, result bookkeeping, the monitor copies the mux sends the hub.
    The ratio zpar / raw is therefore what zpar adds, in units of the
    transport; see bench/README.md for how to read it.

    Every process started here is stopped by pid before exit, on failure
    paths too: the broker and echo children with SIGTERM and waitpid, the
    cluster with `ipcluster stop` (which stops its processes by their pid
    files), then whatever pid file is left, by pid.               */

#include "bench.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WARMUP          500
#define DEFAULT_CALLS   10000

//  -- statistics ---------------------------------------------------------

//  CPU time per call of each process taking part, from /proc (user +
//  system, all threads): where the time goes, beside the latency.
#define MAX_PROCS 4

typedef struct {
    double median_us, p99_us, mean_us, calls_per_s;
    const char *names [MAX_PROCS];
    double cpu_us [MAX_PROCS];
} stats_t;

static int
s_compare (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return (x > y) - (x < y);
}

//  samples: n round trips in ns; elapsed: the whole timed loop in ns.
static stats_t
s_stats (int64_t *samples, long n, int64_t elapsed)
{
    qsort (samples, (size_t) n, sizeof *samples, s_compare);
    double sum = 0;
    for (long i = 0; i < n; i++)
        sum += (double) samples [i];
    long p99 = (long) ((99 * n + 99) / 100) - 1;           //  nearest rank
    stats_t stats = {
        .median_us = (n % 2? (double) samples [n / 2]
                           : ((double) samples [n / 2 - 1] + (double) samples [n / 2]) / 2) / 1e3,
        .p99_us = (double) samples [p99] / 1e3,
        .mean_us = sum / (double) n / 1e3,
        .calls_per_s = (double) n / ((double) elapsed / 1e9)
    };
    return stats;
}

//  -- raw ZeroMQ reference --------------------------------------------------

//  One round trip: the 7 frames out, the same 7 back. 0 when echoed intact.
static int
s_raw_call (void *sock, long i)
{
    static const char signature [65] =
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char content [64];
    int len = snprintf (content, sizeof content, "{\"fn\":\"echo\",\"args\":[%ld],\"kwargs\":{}}", i);
    struct { const void *data; size_t size; } out [] = {
        { "engine", 6 }, { "<IDS|MSG>", 9 }, { signature, 64 },
        { bench_header, strlen (bench_header) }, { "{}", 2 }, { "{}", 2 }, { content, (size_t) len }
    };
    const int frames = (int) (sizeof out / sizeof *out);
    for (int f = 0; f < frames; f++)
        if (zmq_send (sock, out [f].data, out [f].size, f < frames - 1? ZMQ_SNDMORE: 0) < 0)
            return -1;
    zmq_msg_t parts [BENCH_MAX_PARTS];
    int count;
    if (bench_recv_parts (sock, parts, &count) != 0)
        return -1;
    int rc = count == frames
          && zmq_msg_size (&parts [frames - 1]) == (size_t) len
          && memcmp (zmq_msg_data (&parts [frames - 1]), content, (size_t) len) == 0? 0: -1;
    while (count > 0)
        zmq_msg_close (&parts [--count]);
    return rc;
}

//  -- zpar ----------------------------------------------------------------

//  The zpar setup: a 1-engine cluster, a direct view of engine 0.
typedef struct {
    bench_cluster_t cluster;
    zpar_view_t *view;
    json_t *args;
} latency_zpar_t;

static int
s_zpar_start (latency_zpar_t *self)
{
    if (bench_cluster_start (&self->cluster, 1, NULL) != 0)
        return -1;
    self->view = zpar_client_direct (self->cluster.client, "0");
    self->args = json_array ();
    json_array_append_new (self->args, json_integer (0));
    return self->view? 0: -1;
}

static void
s_zpar_stop (latency_zpar_t *self)
{
    json_decref (self->args);
    self->args = NULL;
    zpar_view_destroy (&self->view);
    bench_cluster_stop (&self->cluster);
}

//  One apply_sync("echo", [i]); 0 when i came back.
static int
s_zpar_call (latency_zpar_t *self, long i)
{
    json_t *error = NULL;
    json_array_set_new (self->args, 0, json_integer (i));
    json_t *value = zpar_view_apply_sync (self->view, "echo", self->args, &error);
    bool ok = value && json_integer_value (json_array_get (value, 0)) == i;
    if (!ok) {
        const char *why = json_string_value (json_object_get (error, "evalue"));
        fprintf (stderr, "latency: zpar call %ld failed: %s\n", i, why? why: "wrong value");
    }
    json_decref (value);
    json_decref (error);
    return ok? 0: -1;
}

//  -- the measurement -------------------------------------------------------

//  Calls are timed in blocks that alternate between the two setups, so a
//  slow spell of the machine falls on both and the ratio stays fair.
#define ROUNDS 10

typedef struct {
    int64_t *samples;
    long count;
    int64_t elapsed;
    double cpu [MAX_PROCS];     //  accumulated µs of each process
} series_t;

static int
s_measure_block (int which, bench_raw_t *raw, latency_zpar_t *zpar, series_t *series, long first, long calls)
{
    pid_t pids [MAX_PROCS] = { 0 };
    int count = which == 0? 3: 4;
    if (which == 0) {
        pids [1] = raw->broker;
        pids [2] = raw->echo;
    }
    else {
        pids [1] = zpar->cluster.pids [0];      //  scheduler
        pids [2] = zpar->cluster.pids [2];      //  engine
        pids [3] = zpar->cluster.pids [1];      //  hub
    }
    double before [MAX_PROCS];
    for (int p = 0; p < count; p++)
        before [p] = bench_cpu_us (pids [p]);
    int64_t begin = bench_now_ns ();
    for (long i = first; i < first + calls; i++) {
        int64_t t0 = bench_now_ns ();
        int rc = which == 0? s_raw_call (raw->sock, i): s_zpar_call (zpar, i);
        if (rc != 0 || bench_interrupted) {
            if (which == 0 && rc != 0)
                fprintf (stderr, "latency: raw call %ld failed\n", i);
            return -1;
        }
        series->samples [series->count++] = bench_now_ns () - t0;
    }
    series->elapsed += bench_now_ns () - begin;
    for (int p = 0; p < count; p++)
        series->cpu [p] += bench_cpu_us (pids [p]) - before [p];
    return 0;
}

static int
s_measure (long calls, stats_t *raw_stats, stats_t *zpar_stats)
{
    bench_raw_t raw = { .fd = -1 };
    latency_zpar_t zpar = { .cluster = { .made = false } };
    series_t series [2] = {
        { .samples = calloc ((size_t) calls, sizeof (int64_t)) },
        { .samples = calloc ((size_t) calls, sizeof (int64_t)) }
    };
    int rc = -1;
    //  Raw first: its children fork from a process with no ZeroMQ context.
    if (!series [0].samples || !series [1].samples
    ||  bench_raw_start (&raw) != 0 || s_zpar_start (&zpar) != 0)
        goto done;
    for (long i = 0; i < WARMUP; i++)
        if (bench_interrupted || s_raw_call (raw.sock, i) != 0 || s_zpar_call (&zpar, i) != 0) {
            fprintf (stderr, "latency: warm-up call %ld failed\n", i);
            goto done;
        }
    for (int round = 0; round < ROUNDS; round++) {
        long first = calls * round / ROUNDS, block = calls * (round + 1) / ROUNDS - first;
        for (int k = 0; k < 2; k++) {
            int which = (round + k) % 2;
            if (s_measure_block (which, &raw, &zpar, &series [which], first, block) != 0)
                goto done;
        }
    }
    stats_t *out [2] = { raw_stats, zpar_stats };
    const char *names [2][MAX_PROCS] = {
        { "client", "broker", "echo" }, { "client", "scheduler", "engine", "hub" }
    };
    for (int w = 0; w < 2; w++) {
        *out [w] = s_stats (series [w].samples, calls, series [w].elapsed);
        for (int p = 0; p < MAX_PROCS && names [w][p]; p++) {
            out [w]->names [p] = names [w][p];
            out [w]->cpu_us [p] = series [w].cpu [p] / (double) calls;
        }
    }
    rc = 0;
done:
    s_zpar_stop (&zpar);
    bench_raw_stop (&raw);
    free (series [0].samples);
    free (series [1].samples);
    return rc;
}

//  -- report ----------------------------------------------------------------

//  Prints s in width columns, left or right aligned (UTF-8: printf's
//  widths count bytes, a terminal counts characters).
static void
s_print_cell (const char *s, int width, bool right)
{
    int columns = 0;
    for (const char *c = s; *c; c++)
        columns += (*c & 0xC0) != 0x80;
    int pad = width > columns? width - columns: 0;
    if (right)
        printf ("%*s%s", pad, "", s);
    else
        printf ("%s%*s", s, pad, "");
}

#define NAME_WIDTH 58

static void
s_print_row (const char *name, const stats_t *s)
{
    s_print_cell (name, NAME_WIDTH, false);
    printf ("%11.1f %9.1f %9.1f %9.0f\n", s->median_us, s->p99_us, s->mean_us, s->calls_per_s);
}

int
main (int argc, char *argv [])
{
    long calls = DEFAULT_CALLS;
    int opt;
    while ((opt = getopt (argc, argv, "n:h")) != -1) {
        char *end = NULL;
        if (opt == 'n')
            calls = strtol (optarg, &end, 10);
        if (opt != 'n' || *end || calls < 1 || calls > 100000000) {
            fprintf (stderr, "usage: %s [-n N]   (N timed calls each, default %d, after %d warm-up)\n",
                     argv [0], DEFAULT_CALLS, WARMUP);
            return opt == 'h'? 0: 2;
        }
    }
    bench_catch_signals ();

    printf ("command:");
    for (int i = 0; i < argc; i++)
        printf (" %s", argv [i]);
    printf ("\nCPUs: %ld online; %d warm-up calls, then %ld timed calls each, in %d\n"
            "alternating blocks so that both see the same spells of the machine\n\n",
            sysconf (_SC_NPROCESSORS_ONLN), WARMUP, calls, ROUNDS);
    fflush (stdout);

    stats_t raw = { 0 }, zpar = { 0 };
    int rc = s_measure (calls, &raw, &zpar) == 0? 0: 1;
    if (rc != 0) {
        fprintf (stderr, "latency: %s\n", bench_interrupted? "interrupted": "failed");
        return rc;
    }
    s_print_cell ("", NAME_WIDTH, false);
    const char *columns [] = { "median µs", "p99 µs", "mean µs", "calls/s" };
    for (int i = 0; i < 4; i++)
        s_print_cell (columns [i], i? 10: 11, true);
    printf ("\n");
    s_print_row ("raw ZeroMQ (DEALER → ROUTER/ROUTER broker → DEALER echo)", &raw);
    s_print_row ("zpar apply_sync(\"echo\") via mux", &zpar);
    printf ("\nratio (zpar / raw): median %.2f, p99 %.2f\n",
            zpar.median_us / raw.median_us, zpar.p99_us / raw.p99_us);
    //  Where the time goes: CPU per call of each process, every thread.
    const stats_t *rows [] = { &raw, &zpar };
    const char *labels [] = { "raw", "zpar" };
    printf ("\nCPU per call (µs, user + system, all threads):\n");
    for (int r = 0; r < 2; r++) {
        double total = 0;
        printf ("  %-5s", labels [r]);
        for (int i = 0; i < MAX_PROCS && rows [r]->names [i]; i++) {
            printf ("  %s %.1f", rows [r]->names [i], rows [r]->cpu_us [i]);
            total += rows [r]->cpu_us [i];
        }
        printf ("  = %.1f\n", total);
    }
    return 0;
}
