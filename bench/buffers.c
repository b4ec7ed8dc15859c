/*  buffers.c - binary buffers with a call: GiB/s for 1, 10 and 100 MiB
    round trips, zpar beside raw ZeroMQ, in the same run.

    raw     the latency benchmark's setup (DEALER -> ROUTER/ROUTER broker
            -> DEALER echo) with the buffer as one more frame: sent, echoed,
            received.
    zpar    zpar_view_apply_buffers_async (engine 0, "echo_buffers") on a
            1-engine cluster (the test plugin, --max-message-size 256 MiB):
            the buffer goes with the call and comes back as the reply's.

    Each size runs R round trips (-r, default 20, 5 for 100 MiB), timed
    from the first send to the last reply; GiB/s counts the bytes both
    ways. Every process started here is stopped by pid before exit.      */

#include "bench.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const size_t s_sizes [] = { 1 << 20, 10 << 20, 100 << 20 };
#define S_SIZES (sizeof s_sizes / sizeof s_sizes [0])

//  Seconds for rounds raw round trips of size bytes, or -1.
static double
s_raw (bench_raw_t *raw, const uint8_t *bytes, size_t size, long rounds)
{
    static const char signature [65] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    static const char content [] = "{\"fn\":\"echo_buffers\",\"args\":[],\"kwargs\":{}}";
    int64_t start = bench_now_ns ();
    for (long r = 0; r < rounds; r++) {
        struct { const void *data; size_t size; } out [] = {
            { "engine", 6 }, { "<IDS|MSG>", 9 }, { signature, 64 }, { bench_header, strlen (bench_header) },
            { "{}", 2 }, { "{}", 2 }, { content, sizeof content - 1 }, { bytes, size }
        };
        const int frames = (int) (sizeof out / sizeof *out);
        for (int f = 0; f < frames; f++)
            if (zmq_send (raw->sock, out [f].data, out [f].size, f < frames - 1? ZMQ_SNDMORE: 0) < 0)
                return -1;
        zmq_msg_t parts [BENCH_MAX_PARTS];
        int count;
        if (bench_recv_parts (raw->sock, parts, &count) != 0)
            return -1;
        bool intact = count == frames && zmq_msg_size (&parts [frames - 1]) == size;
        while (count > 0)
            zmq_msg_close (&parts [--count]);
        if (!intact)
            return -1;
    }
    return (bench_now_ns () - start) / 1e9;
}

//  Seconds for rounds zpar calls carrying size bytes each way, or -1.
static double
s_zpar (zpar_view_t *view, const uint8_t *bytes, size_t size, long rounds)
{
    zpar_buffer_t buffer = { bytes, size };
    int64_t start = bench_now_ns ();
    for (long r = 0; r < rounds; r++) {
        zpar_result_t *result = zpar_view_apply_buffers_async (view, "echo_buffers", NULL, NULL, &buffer, 1);
        size_t back = 0;
        bool ok = result && zpar_result_wait (result, 60000) == 0 && zpar_result_successful (result)
               && zpar_result_buffer (result, 0, 0, &back) && back == size;
        if (!ok)
            fprintf (stderr, "buffers: a zpar call failed: %s\n", zpar_last_error ());
        zpar_result_destroy (&result);
        if (!ok)
            return -1;
    }
    return (bench_now_ns () - start) / 1e9;
}

int
main (int argc, char *argv [])
{
    long rounds = 20;
    int opt;
    while ((opt = getopt (argc, argv, "r:h")) != -1) {
        if (opt == 'r' && atol (optarg) > 0)
            rounds = atol (optarg);
        else {
            fprintf (stderr, "usage: %s [-r ROUNDS]   (round trips per size, default 20; at most 5 for 100 MiB)\n",
                     argv [0]);
            return opt == 'h'? 0: 2;
        }
    }
    bench_catch_signals ();
    //  The plugin with echo_buffers, beside this program's build.
    char self_path [PATH_MAX], plugin [PATH_MAX + 64];
    ssize_t length = readlink ("/proc/self/exe", self_path, sizeof self_path - 1);
    if (length <= 0)
        return 1;
    self_path [length] = 0;
    snprintf (plugin, sizeof plugin, "%s/../tests/libzpar_test_plugin.so", dirname (self_path));
    if (access (plugin, R_OK) != 0) {
        fprintf (stderr, "buffers: no %s: build it with make\n", plugin);
        return 1;
    }
    bench_raw_t raw = { .fd = -1 };
    bench_cluster_t cluster = { 0 };
    const char *options [] = { "--load", plugin, "--max-message-size", "268435456", NULL };
    zpar_view_t *view = NULL;
    uint8_t *bytes = malloc (s_sizes [S_SIZES - 1]);
    for (size_t i = 0; i < s_sizes [S_SIZES - 1]; i++)
        bytes [i] = (uint8_t) (i * 2654435761u >> 11);
    int rc = 1;
    if (bench_raw_start (&raw) != 0 || bench_cluster_start (&cluster, 1, options) != 0)
        goto done;
    view = zpar_client_direct (cluster.client, "0");
    printf ("command: %s -r %ld\n", argv [0], rounds);
    printf ("CPUs: %ld online; each row %ld round trips (at most 5 for 100 MiB), bytes counted both ways\n\n",
            sysconf (_SC_NPROCESSORS_ONLN), rounds);
    printf ("%-10s %14s %14s %8s\n", "buffer", "raw GiB/s", "zpar GiB/s", "ratio");
    for (size_t s = 0; s < S_SIZES && !bench_interrupted; s++) {
        long n = s_sizes [s] >= (size_t) (100 << 20) && rounds > 5? 5: rounds;
        double raw_s = s_raw (&raw, bytes, s_sizes [s], n);
        double zpar_s = s_zpar (view, bytes, s_sizes [s], n);
        if (raw_s <= 0 || zpar_s <= 0)
            goto done;
        double bytes_moved = 2.0 * (double) s_sizes [s] * (double) n / (1024.0 * 1024 * 1024);
        printf ("%4zu MiB   %14.2f %14.2f %8.2f\n", s_sizes [s] >> 20, bytes_moved / raw_s,
                bytes_moved / zpar_s, raw_s / zpar_s);
    }
    rc = 0;
done:
    zpar_view_destroy (&view);
    bench_cluster_stop (&cluster);
    bench_raw_stop (&raw);
    free (bytes);
    return rc;
}
