/*  soak.c - many tasks while engines keep dying.

    Starts a cluster of E engines (-e, default 4) that ipcluster restarts
    as they die, and runs N tasks (-n, default 200,000) through the
    balanced view with retries 3, in maps of 10,000, while a thread kills a
    random engine with SIGKILL every K ms (-k, default 2000). Each task
    echoes its own index, so every answer can be checked against its
    input. At the end it prints what happened to every task (ok, or failed
    with which error), how many engines were killed and restarted, the
    time, and the resident memory of the hub and the scheduler at the start
    and at the end. With -d D, every D-th kill is of the hub or the
    scheduler instead, in turn: ipcluster starts them again, and the tasks
    inside a killed scheduler fail with SchedulerError. It fails (exit 1)
    when a task was not accounted for exactly once, an answer was not its
    input, or a map did not finish within a minute (a hang). Everything
    it starts is stopped by pid.                                          */

#include "bench.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_TASKS    200000
#define DEFAULT_ENGINES  4
#define DEFAULT_KILL_MS  2000
#define ROUND            10000
#define ROUND_LIMIT_MS   60000

typedef struct {
    const char *pid_dir;
    int engines;
    int every_ms;
    int daemon_every;           //  every this many kills, a daemon (0: never)
    volatile bool done;
    int killed, hubs_killed, schedulers_killed;
} s_killer_t;

//  Kills a random engine every every_ms; its pid comes from the pid file
//  ipcluster keeps for the slot (a restarted engine writes a new one).
static void *
s_killer (void *args)
{
    s_killer_t *self = args;
    unsigned seed = 7;
    while (!self->done && !bench_interrupted) {
        for (int slept = 0; slept < self->every_ms && !self->done; slept += 50)
            usleep (50 * 1000);
        if (self->done)
            break;
        char name [32];
        snprintf (name, sizeof name, "engine-%d", rand_r (&seed) % self->engines);
        int turn = self->killed + self->hubs_killed + self->schedulers_killed + 1;
        bool daemon = self->daemon_every && turn % self->daemon_every == 0;
        bool hub = daemon && (turn / self->daemon_every) % 2 == 1;
        if (daemon)
            snprintf (name, sizeof name, "%s", hub? "hub": "scheduler");
        pid_t pid = bench_pid_of (self->pid_dir, name);
        if (pid > 0 && kill (pid, SIGKILL) == 0)
            (*(daemon? (hub? &self->hubs_killed: &self->schedulers_killed): &self->killed))++;
    }
    return NULL;
}

//  Resident memory of pid in kB, from /proc, or -1.
static long
s_rss_kb (pid_t pid)
{
    char path [64], line [256];
    snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *file = fopen (path, "r");
    long kb = -1;
    while (file && fgets (line, sizeof line, file))
        if (sscanf (line, "VmRSS: %ld kB", &kb) == 1)
            break;
    if (file)
        fclose (file);
    return kb;
}

static void
s_usage (void)
{
    fprintf (stderr, "usage: soak [-n TASKS] [-e ENGINES] [-k KILL_EVERY_MS] [-d DAEMON_EVERY]\n");
}

int
main (int argc, char *argv [])
{
    long tasks = DEFAULT_TASKS, engines = DEFAULT_ENGINES, kill_ms = DEFAULT_KILL_MS, daemon_every = 0;
    int opt;
    while ((opt = getopt (argc, argv, "n:e:k:d:h")) != -1) {
        long *target = opt == 'n'? &tasks: opt == 'e'? &engines: opt == 'k'? &kill_ms
                     : opt == 'd'? &daemon_every: NULL;
        char *end;
        if (!target || (*target = strtol (optarg, &end, 10), *end || *target <= 0)) {
            s_usage ();
            return 2;
        }
    }
    if (optind != argc || engines > BENCH_MAX_ENGINES) {
        s_usage ();
        return 2;
    }
    bench_catch_signals ();
    printf ("command:");
    for (int i = 0; i < argc; i++)
        printf (" %s", argv [i]);
    printf ("\n%ld tasks (echo of their index, retries 3) on %ld engines, one killed every %ld ms\n",
            tasks, engines, kill_ms);
    if (daemon_every)
        printf ("every %ld-th kill is of the hub or the scheduler, in turn\n", daemon_every);
    fflush (stdout);

    bench_cluster_t cluster = { .made = false };
    const char *options [] = { "--restart-limit", "1000", "--hb-period", "500", NULL };
    if (bench_cluster_start (&cluster, (int) engines, options) != 0) {
        bench_cluster_stop (&cluster);
        return 1;
    }
    pid_t scheduler = cluster.pids [0], hub = cluster.pids [1];
    long hub_rss_start = s_rss_kb (hub), scheduler_rss_start = s_rss_kb (scheduler);

    s_killer_t killer = { .pid_dir = cluster.pid_dir, .engines = (int) engines, .every_ms = (int) kill_ms,
                          .daemon_every = (int) daemon_every };
    pthread_t thread;
    pthread_create (&thread, NULL, s_killer, &killer);

    zpar_view_t *balanced = zpar_client_balanced (cluster.client);
    zpar_view_set_retries (balanced, 3);
    long ok = 0, failed = 0, wrong = 0, missing = 0;
    json_t *errors = json_object ();            //  ename -> count
    int64_t started = bench_now_ns ();
    bool hang = false;
    //  Memory after each quarter: flat is a plateau, not a climb.
    long quarter_rss [4][2] = { { 0 } };
    int quarters = 0;
    for (long first = 0; first < tasks && !hang && !bench_interrupted; first += ROUND) {
        long count = tasks - first < ROUND? tasks - first: ROUND;
        json_t *inputs = json_array ();
        for (long i = 0; i < count; i++)
            json_array_append_new (inputs, json_pack ("[I]", (json_int_t) (first + i)));
        zpar_result_t *result = zpar_view_map_async (balanced, "echo", inputs, 1);
        json_decref (inputs);
        if (!result || zpar_result_wait (result, ROUND_LIMIT_MS) != 0) {
            fprintf (stderr, "soak: a map of %ld tasks did not finish within %d s: %s\n", count,
                     ROUND_LIMIT_MS / 1000, result? "a hang": zpar_last_error ());
            hang = true;
        }
        for (long i = 0; result && !hang && i < count; i++) {
            json_t *value = zpar_result_item (result, (size_t) i);
            json_t *error = zpar_result_item_error (result, (size_t) i);
            if (value && !error) {
                ok++;
                wrong += json_integer_value (value) != first + i;
            }
            else
            if (error && !value) {
                failed++;
                const char *ename = json_string_value (json_object_get (error, "ename"));
                ename = ename? ename: "?";
                json_object_set_new (errors, ename,
                    json_integer (json_integer_value (json_object_get (errors, ename)) + 1));
            }
            else
                missing++;
        }
        zpar_result_destroy (&result);
        while (quarters < 4 && first + count >= tasks * (quarters + 1) / 4) {
            quarter_rss [quarters][0] = s_rss_kb (bench_pid_of (cluster.pid_dir, "hub"));
            quarter_rss [quarters++][1] = s_rss_kb (bench_pid_of (cluster.pid_dir, "scheduler"));
        }
    }
    double seconds = (bench_now_ns () - started) / 1e9;
    killer.done = true;
    pthread_join (thread, NULL);

    long restarts = 0;
    json_t *table = zpar_client_engines (cluster.client);
    size_t i;
    json_t *engine;
    json_array_foreach (table, i, engine)
        restarts += (long) json_integer_value (json_object_get (engine, "restarts"));
    json_decref (table);
    //  The ones running now: killed ones were started again.
    long hub_rss_end = s_rss_kb (bench_pid_of (cluster.pid_dir, "hub"));
    long scheduler_rss_end = s_rss_kb (bench_pid_of (cluster.pid_dir, "scheduler"));

    printf ("\n%-40s %ld\n", "tasks accounted for", ok + failed);
    printf ("%-40s %ld\n", "  ok (first time or after retries)", ok);
    printf ("%-40s %ld\n", "  failed", failed);
    const char *ename;
    json_t *number;
    json_object_foreach (errors, ename, number)
        printf ("    %-36s %lld\n", ename, (long long) json_integer_value (number));
    printf ("%-40s %ld\n", "answers that were not their input", wrong);
    printf ("%-40s %ld\n", "tasks without exactly one answer", missing + (hang? tasks - ok - failed: 0));
    printf ("%-40s %d\n", "engines killed", killer.killed);
    if (daemon_every)
        printf ("%-40s %d, %d\n", "hubs killed, schedulers killed", killer.hubs_killed,
                killer.schedulers_killed);
    printf ("%-40s %ld\n", "engine restarts (zpar engines)", restarts);
    printf ("%-40s %.1f s, %.0f tasks/s\n", "time", seconds, (ok + failed) / seconds);
    printf ("%-40s %ld kB -> %ld kB\n", "hub resident memory", hub_rss_start, hub_rss_end);
    printf ("%-40s %ld kB -> %ld kB\n", "scheduler resident memory", scheduler_rss_start, scheduler_rss_end);
    for (int q = 0; q < quarters; q++)
        printf ("  after %3d %% of the tasks               hub %ld kB, scheduler %ld kB\n",
                25 * (q + 1), quarter_rss [q][0], quarter_rss [q][1]);
    json_decref (errors);
    zpar_view_destroy (&balanced);
    bench_cluster_stop (&cluster);
    bool clean = !hang && !wrong && !missing && ok + failed == tasks;
    printf ("%s\n", clean? "every task accounted for exactly once": "NOT every task accounted for");
    return clean? 0: 1;
}
