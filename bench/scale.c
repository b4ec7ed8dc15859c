/*  scale.c - many engines on one machine: how long a cluster takes to
    start, one call to every engine through the broadcast role beside the
    same call through mux (one message per engine), what an idle engine
    costs in memory, and what heartbeats cost the hub.

    For each engine count (-e, default 64,256,1000):
    start       `ipcluster start -n N --daemonize` until it returned (every
                engine registered) and a client saw them all
    broadcast   zpar_client_broadcast (ALL), apply_sync ("echo", [1]): one
                request, one reply; the median of R calls (-r, default 20)
    mux         zpar_client_direct (ALL), the same call: N requests, N
                replies; the median of R calls
    memory      of an idle engine (the first 16, averaged), from
                /proc/PID/smaps_rollup: RSS, PSS (shared pages divided
                among the processes that map them) and USS (its own)
    hub         CPU of the hub over 2 s of idleness (heartbeats): % of a core
    Every process started here is stopped by pid before exit.            */

#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_IDLE_S 2

static int
s_by_value (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y? -1: x > y;
}

//  Median milliseconds of rounds apply_sync ("echo", [1]) on view, each
//  checked for count answers; -1 on failure. The CPU the client and the
//  scheduler spent per call goes to cpu [0] and cpu [1] (ms), what an
//  engine spent (the average of the cluster's first ones) to cpu [2] (µs).
static double
s_median_ms (zpar_view_t *view, size_t count, long rounds, bench_cluster_t *cluster, double cpu [3])
{
    pid_t scheduler = cluster->pids [0];
    size_t sampled = count < BENCH_MAX_ENGINES? count: BENCH_MAX_ENGINES;
    double client_from = bench_cpu_us (0), scheduler_from = bench_cpu_us (scheduler), engines_from = 0;
    for (size_t i = 0; i < sampled; i++)
        engines_from += bench_cpu_us (cluster->pids [2 + i]);
    double *times = calloc ((size_t) rounds, sizeof *times);
    json_t *args = json_pack ("[i]", 1);
    long done = 0;
    for (; done < rounds && !bench_interrupted; done++) {
        int64_t start = bench_now_ns ();
        json_t *error = NULL;
        json_t *values = zpar_view_apply_sync (view, "echo", args, &error);
        times [done] = (bench_now_ns () - start) / 1e6;
        bool ok = values && json_array_size (values) == count;
        json_decref (values);
        json_decref (error);
        if (!ok) {
            fprintf (stderr, "scale: a call failed: %s\n", zpar_last_error ());
            break;
        }
    }
    json_decref (args);
    cpu [0] = (bench_cpu_us (0) - client_from) / 1e3 / (double) rounds;
    cpu [1] = (bench_cpu_us (scheduler) - scheduler_from) / 1e3 / (double) rounds;
    double engines_to = 0;
    for (size_t i = 0; i < sampled; i++)
        engines_to += bench_cpu_us (cluster->pids [2 + i]);
    cpu [2] = (engines_to - engines_from) / (double) sampled / (double) rounds;
    double median = -1;
    if (done == rounds) {
        qsort (times, (size_t) rounds, sizeof *times, s_by_value);
        median = times [rounds / 2];
    }
    free (times);
    return median;
}

//  kB of the fields of /proc/pid/smaps_rollup: Rss, Pss, and the private ones.
static void
s_memory (pid_t pid, double *rss, double *pss, double *uss)
{
    char path [64], line [256];
    snprintf (path, sizeof path, "/proc/%d/smaps_rollup", (int) pid);
    FILE *file = fopen (path, "r");
    *rss = *pss = *uss = 0;
    while (file && fgets (line, sizeof line, file)) {
        double kb;
        if (sscanf (line, "Rss: %lf", &kb) == 1)
            *rss = kb;
        else
        if (sscanf (line, "Pss: %lf", &kb) == 1)
            *pss = kb;
        else
        if (sscanf (line, "Private_Clean: %lf", &kb) == 1 || sscanf (line, "Private_Dirty: %lf", &kb) == 1)
            *uss += kb;
    }
    if (file)
        fclose (file);
}

//  One engine count: its row. 0, or -1 when the cluster failed.
static int
s_row (int engines, long rounds)
{
    bench_cluster_t cluster = { 0 };
    int64_t start = bench_now_ns ();
    int rc = bench_cluster_start (&cluster, engines, NULL);
    double start_s = (bench_now_ns () - start) / 1e9;
    double broadcast_ms = -1, mux_ms = -1, rss = 0, pss = 0, uss = 0, hub_pct = -1;
    double broadcast_cpu [3] = { 0 }, mux_cpu [3] = { 0 }, warm [3];
    if (rc == 0) {
        zpar_view_t *all = zpar_client_broadcast (cluster.client, ZPAR_ALL);
        zpar_view_t *direct = zpar_client_direct (cluster.client, ZPAR_ALL);
        //  A warm-up call each: connections made, pages touched.
        s_median_ms (all, (size_t) engines, 1, &cluster, warm);
        s_median_ms (direct, (size_t) engines, 1, &cluster, warm);
        broadcast_ms = s_median_ms (all, (size_t) engines, rounds, &cluster, broadcast_cpu);
        mux_ms = s_median_ms (direct, (size_t) engines, rounds, &cluster, mux_cpu);
        zpar_view_destroy (&all);
        zpar_view_destroy (&direct);
        //  Idle: the hub only sends and hears heartbeats.
        double hub_before = bench_cpu_us (cluster.pids [1]);
        int64_t idle_from = bench_now_ns ();
        sleep (S_IDLE_S);
        hub_pct = (bench_cpu_us (cluster.pids [1]) - hub_before) / ((bench_now_ns () - idle_from) / 1e3) * 100;
        int sampled = 0;
        for (int i = 0; i < engines && i < BENCH_MAX_ENGINES; i++) {
            double r, p, u;
            s_memory (cluster.pids [2 + i], &r, &p, &u);
            if (r > 0) {
                rss += r;
                pss += p;
                uss += u;
                sampled++;
            }
        }
        if (sampled) {
            rss /= sampled;
            pss /= sampled;
            uss /= sampled;
        }
    }
    int64_t stop_from = bench_now_ns ();
    bench_cluster_stop (&cluster);
    double stop_s = (bench_now_ns () - stop_from) / 1e9;
    if (rc != 0 || broadcast_ms < 0 || mux_ms < 0) {
        fprintf (stderr, "scale: the %d-engine cluster failed\n", engines);
        return -1;
    }
    printf ("%7d %7.2f %6.2f  %9.2f %5.2f %5.2f %4.0f  %9.2f %5.2f %5.2f %4.0f  %5.1f %5.1f %5.1f %6.2f%%\n",
            engines, start_s, stop_s, broadcast_ms, broadcast_cpu [0], broadcast_cpu [1], broadcast_cpu [2],
            mux_ms, mux_cpu [0], mux_cpu [1], mux_cpu [2], rss / 1024, pss / 1024, uss / 1024, hub_pct);
    fflush (stdout);
    return 0;
}

int
main (int argc, char *argv [])
{
    const char *counts = "64,256,1000";
    long rounds = 20;
    int opt;
    while ((opt = getopt (argc, argv, "e:r:")) != -1) {
        if (opt == 'e')
            counts = optarg;
        else
        if (opt == 'r' && atol (optarg) > 0)
            rounds = atol (optarg);
        else {
            fprintf (stderr, "usage: %s [-e N,N,...] [-r R]   (engine counts, default 64,256,1000;\n"
                             "       R calls per row, default 20)\n", argv [0]);
            return 2;
        }
    }
    bench_catch_signals ();
    printf ("command: %s -e %s -r %ld\n", argv [0], counts, rounds);
    printf ("CPUs: %ld online; call: echo(1) on every engine, median of %ld\n\n",
            sysconf (_SC_NPROCESSORS_ONLN), rounds);
    printf ("%7s %7s %6s  %-26s  %-26s  %-17s %7s\n", "", "", "", "broadcast, ms/call", "mux, ms/call",
            "idle engine, MiB", "hub");
    printf ("%7s %7s %6s  %9s %5s %5s %4s  %9s %5s %5s %4s  %5s %5s %5s %7s\n", "engines", "start s", "stop s",
            "median", "cli", "sch", "eng", "median", "cli", "sch", "eng", "RSS", "PSS", "USS", "idle");
    int rc = 0;
    char *list = strdup (counts), *save = NULL;
    for (char *item = strtok_r (list, ",", &save); item && !bench_interrupted; item = strtok_r (NULL, ",", &save)) {
        int engines = atoi (item);
        if (engines < 1 || engines > 4096) {
            fprintf (stderr, "scale: %s is not an engine count (1 to 4096)\n", item);
            rc = 2;
            break;
        }
        if (s_row (engines, rounds) != 0)
            rc = 1;
    }
    free (list);
    printf ("\ncli, sch: CPU time of the client and of the scheduler per call (ms);\n"
            "eng: CPU time of one engine per call (µs, the first 16 engines' average).\n"
            "hub idle: the hub's CPU (%% of a core) with every engine idle, heartbeating.\n"
            "RSS counts the shared libraries' pages in every engine; PSS shares them\n"
            "out among the engines that map them, USS is what the engine alone holds.\n");
    return rc;
}
