/*  throughput.c - load-balanced tasks per second, against the floor.

    zpar    zpar_view_map_async (balanced, "echo", [[0], [1], ...]) of N
            no-op tasks (-n, default 100000) on a 2-engine cluster started
            with --hwm 0, one task per message (chunksize 1); then the same
            with chunksize 100, for what batching buys. Then, on a cluster
            with the default --hwm 1, where tasks queue in the scheduler,
            N/5 tasks three ways: a plain map; its first half limited to
            engine 0 and the rest plain; a plain map and one task after
            all of it (timed to that task's reply). What targets and
            dependencies cost the task scheduler, beside the plain row.

    raw     The same hops with plain libzmq: a client DEALER sends all N
            requests (the frame count and sizes of an apply_request), a
            broker (ROUTER front, ROUTER back, one poll loop) hands each to
            the worker with the fewest in flight, two echo workers (DEALER)
            send them back, the broker returns them to the client.

    raw, batch workers
            The same, its workers under SCHED_BATCH as zpar's engines are
            (zpar-engine --policy): what that policy alone is worth.

    All count from the first send to the last reply. The one-task-a-
    message rows run in rounds (-r, default 3), each of the three in
    turn, on the same processes each time, so that a slow spell of the
    machine falls on all; each round is printed, then the medians and
    the ratios. The hub keeps its default 100,000 records, so from the
    second round on it also drops the oldest, as a hub in use does.
    Every process started here is stopped by pid before exit.           */

#include "bench.h"

#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_TASKS 100000
#define WORKERS 2
#define DEFAULT_ROUNDS 3
#define MAX_ROUNDS 20

//  -- raw ZeroMQ load balancer ---------------------------------------------

//  Broker: front ROUTER for the client, back ROUTER for the workers; a
//  request goes to the worker with the fewest in flight. Writes "front
//  back\n" to fd, then "R" once both workers said hello.
static void
s_broker (int fd)
{
    bench_child_setup ();
    void *ctx = zmq_ctx_new ();
    void *front, *back;
    bench_broker_bind (ctx, fd, &front, &back);
    char workers [WORKERS][8];
    int load [WORKERS] = { 0 }, known = 0;
    zmq_pollitem_t items [] = { { back, 0, ZMQ_POLLIN, 0 }, { front, 0, ZMQ_POLLIN, 0 } };
    zmq_msg_t parts [BENCH_MAX_PARTS];
    int count;
    //  Requests are taken only once both workers are there.
    while (zmq_poll (items, known == WORKERS? 2: 1, -1) >= 0) {
        if (items [0].revents & ZMQ_POLLIN && bench_recv_parts (back, parts, &count) == 0) {
            int w = 0;
            while (w < known && memcmp (workers [w], zmq_msg_data (&parts [0]), 1) != 0)
                w++;
            if (count == 2 && w == known && known < WORKERS) {
                //  hello: [worker] ["hello"]
                memcpy (workers [known++], zmq_msg_data (&parts [0]), 1);
                if (known == WORKERS && write (fd, "R", 1) != 1)
                    _exit (1);
            }
            else
            if (count > 2) {
                //  [worker] [client] ... -> [client] ...
                if (w < known)
                    load [w]--;
                for (int i = 1; i < count; i++)
                    zmq_msg_send (&parts [i], front, i < count - 1? ZMQ_SNDMORE: 0);
                zmq_msg_close (&parts [0]);
                count = 0;
            }
            while (count > 0)
                zmq_msg_close (&parts [--count]);
        }
        if (known == WORKERS && items [1].revents & ZMQ_POLLIN
        &&  bench_recv_parts (front, parts, &count) == 0) {
            //  [client] ... -> [worker] [client] ...
            int w = load [1] < load [0]? 1: 0;
            load [w]++;
            zmq_send (back, workers [w], 1, ZMQ_SNDMORE);
            for (int i = 0; i < count; i++)
                zmq_msg_send (&parts [i], back, i < count - 1? ZMQ_SNDMORE: 0);
        }
    }
    _exit (0);
}


//  The broker and its workers, started once for every round.
typedef struct {
    pid_t broker, workers [WORKERS];
    char front [600];
    int fd;
} s_raw_t;

static void
s_raw_stop (s_raw_t *self)
{
    for (int w = 0; w < WORKERS; w++)
        bench_stop_child (&self->workers [w]);
    bench_stop_child (&self->broker);
    if (self->fd >= 0)
        close (self->fd);
    self->fd = -1;
}

//  Forks the broker and the workers (from a process with no ZeroMQ context
//  yet) and waits until both workers said hello. 0, or -1. With batch,
//  the workers take SCHED_BATCH, as zpar's engines do.
static int
s_raw_start (s_raw_t *self, bool batch)
{
    *self = (s_raw_t) { .fd = -1 };
    int fds [2];
    if (pipe2 (fds, O_CLOEXEC) != 0)
        return -1;
    self->fd = fds [0];
    self->broker = fork ();
    if (self->broker == 0) {
        close (fds [0]);
        s_broker (fds [1]);
    }
    close (fds [1]);
    char *back = NULL, ready;
    if (self->broker < 0
    ||  bench_read (self->fd, self->front, sizeof self->front - 1, true) != 0
    ||  !(back = strchr (self->front, ' '))) {
        fprintf (stderr, "throughput: the raw broker did not start\n");
        s_raw_stop (self);
        return -1;
    }
    *back++ = 0;
    for (int w = 0; w < WORKERS; w++)
        if ((self->workers [w] = fork ()) == 0) {
            close (self->fd);
            struct sched_param param = { 0 };
            if (batch && sched_setscheduler (0, SCHED_BATCH, &param) != 0) {
                perror ("throughput: a raw worker cannot take SCHED_BATCH");
                _exit (1);
            }
            char name = (char) ('a' + w);
            bench_echo_worker (back, &name, 1);
        }
    if (bench_read (self->fd, &ready, 1, false) != 0) {
        fprintf (stderr, "throughput: the raw workers did not connect\n");
        s_raw_stop (self);
        return -1;
    }
    return 0;
}

//  Seconds for tasks round trips through the raw balancer, or -1.
static double
s_raw (s_raw_t *raw, long tasks, double *cpu)
{
    double seconds = -1;
    void *ctx = zmq_ctx_new ();
    void *sock = bench_socket (ctx, ZMQ_DEALER);
    int timeout = BENCH_TIMEOUT_MS;
    zmq_setsockopt (sock, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    if (zmq_connect (sock, raw->front) != 0)
        goto done;
    static const char signature [65] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    pid_t pids [] = { 0, raw->broker, raw->workers [0], raw->workers [1] };
    double before [4];
    for (int p = 0; p < 4; p++)
        before [p] = bench_cpu_us (pids [p]);
    int64_t start = bench_now_ns ();
    for (long i = 0; i < tasks && !bench_interrupted; i++) {
        char content [64];
        int len = snprintf (content, sizeof content, "{\"fn\":\"echo\",\"args\":[%ld],\"kwargs\":{}}", i);
        zmq_send (sock, "<IDS|MSG>", 9, ZMQ_SNDMORE);
        zmq_send (sock, signature, 64, ZMQ_SNDMORE);
        zmq_send (sock, bench_header, strlen (bench_header), ZMQ_SNDMORE);
        zmq_send (sock, "{}", 2, ZMQ_SNDMORE);
        zmq_send (sock, "{}", 2, ZMQ_SNDMORE);
        zmq_send (sock, content, (size_t) len, 0);
    }
    zmq_msg_t parts [BENCH_MAX_PARTS];
    int count;
    long got = 0;
    while (got < tasks && !bench_interrupted && bench_recv_parts (sock, parts, &count) == 0) {
        got++;
        while (count > 0)
            zmq_msg_close (&parts [--count]);
    }
    if (got == tasks) {
        seconds = (bench_now_ns () - start) / 1e9;
        for (int p = 0; p < 4; p++)
            cpu [p] = (bench_cpu_us (pids [p]) - before [p]) / (double) tasks;
    }
    else
        fprintf (stderr, "throughput: the raw balancer answered %ld of %ld\n", got, tasks);
done:
    zmq_close (sock);
    zmq_ctx_term (ctx);
    return seconds;
}

//  -- zpar -------------------------------------------------------------------

typedef enum {
    S_PLAIN,                    //  one map
    S_MIXED,                    //  the first half on engine 0 only, then the rest
    S_FAN_IN                    //  one map, and one task after all of it
} s_mode_t;

//  [[from], ..., [to - 1]]
static json_t *
s_inputs (long from, long to)
{
    json_t *inputs = json_array ();
    for (long i = from; i < to; i++)
        json_array_append_new (inputs, json_pack ("[I]", (json_int_t) i));
    return inputs;
}

//  Seconds for tasks echo calls through the balanced view, or -1.
static double
s_zpar (bench_cluster_t *cluster, long tasks, size_t chunksize, s_mode_t mode, double *cpu)
{
    zpar_view_t *view = zpar_client_balanced (cluster->client);
    zpar_view_t *engine0 = zpar_client_balanced (cluster->client);
    zpar_view_set_targets (engine0, "0");
    json_t *inputs = s_inputs (mode == S_MIXED? tasks / 2: 0, tasks);
    json_t *first_half = mode == S_MIXED? s_inputs (0, tasks / 2): NULL;
    pid_t pids [] = { 0, cluster->pids [0], cluster->pids [2], cluster->pids [3], cluster->pids [1] };
    double before [5];
    for (int p = 0; p < 5; p++)
        before [p] = bench_cpu_us (pids [p]);
    int64_t start = bench_now_ns ();
    zpar_result_t *first = first_half? zpar_view_map_async (engine0, "echo", first_half, chunksize): NULL;
    zpar_result_t *result = zpar_view_map_async (view, "echo", inputs, chunksize), *last = NULL;
    if (result && mode == S_FAN_IN) {
        json_t *ids = zpar_result_msg_ids (result), *args = json_pack ("[i]", 0);
        zpar_view_set_after (view, ids, true, true, false);
        last = zpar_view_apply_async (view, "echo", args);
        json_decref (ids);
        json_decref (args);
    }
    double seconds = -1;
    if (result && (mode != S_FAN_IN || (last && zpar_result_wait (last, 600000) == 0
                                            && zpar_result_successful (last)))
    &&  (mode != S_MIXED || (first && zpar_result_wait (first, 600000) == 0
                                   && zpar_result_successful (first)))
    &&  zpar_result_wait (result, 600000) == 0 && zpar_result_successful (result)) {
        seconds = (bench_now_ns () - start) / 1e9;
        for (int p = 0; p < 5; p++)
            cpu [p] = (bench_cpu_us (pids [p]) - before [p]) / (double) tasks;
        json_t *values = zpar_result_get (result);
        if (json_integer_value (json_array_get (values, json_array_size (values) - 1)) != tasks - 1)
            seconds = -1;
    }
    if (seconds < 0)
        fprintf (stderr, "throughput: zpar map failed: %s\n", zpar_last_error ());
    zpar_result_destroy (&first);
    zpar_result_destroy (&result);
    zpar_result_destroy (&last);
    json_decref (first_half);
    json_decref (inputs);
    zpar_view_destroy (&engine0);
    zpar_view_destroy (&view);
    return seconds;
}

//  The middle of count values, or the mean of the two.
static double
s_median (const double *runs, int count)
{
    double values [MAX_ROUNDS];
    memcpy (values, runs, (size_t) count * sizeof *values);
    for (int i = 1; i < count; i++)
        for (int j = i; j > 0 && values [j] < values [j - 1]; j--) {
            double swap = values [j];
            values [j] = values [j - 1];
            values [j - 1] = swap;
        }
    return count % 2? values [count / 2]: (values [count / 2 - 1] + values [count / 2]) / 2;
}

int
main (int argc, char *argv [])
{
    long tasks = DEFAULT_TASKS, rounds = DEFAULT_ROUNDS;
    int opt;
    while ((opt = getopt (argc, argv, "n:r:h")) != -1) {
        char *end = NULL;
        long value = opt == 'n' || opt == 'r'? strtol (optarg, &end, 10): 0;
        if (opt == 'n')
            tasks = value;
        if (opt == 'r')
            rounds = value;
        if ((opt != 'n' && opt != 'r') || *end || tasks < 1 || tasks > 10000000
        ||  rounds < 1 || rounds > MAX_ROUNDS) {
            fprintf (stderr, "usage: %s [-n N] [-r R]   (N tasks, default %d; R rounds of raw, "
                     "raw with batch workers and zpar, 1 to %d, default %d)\n",
                     argv [0], DEFAULT_TASKS, MAX_ROUNDS, DEFAULT_ROUNDS);
            return opt == 'h'? 0: 2;
        }
    }
    bench_catch_signals ();
    printf ("command:");
    for (int i = 0; i < argc; i++)
        printf (" %s", argv [i]);
    printf ("\nCPUs: %ld online; %ld no-op tasks, 2 engines (workers), each row timed from the\n"
            "first send to the last reply\n\n", sysconf (_SC_NPROCESSORS_ONLN), tasks);
    fflush (stdout);

    //  Raw first: its children fork from a process with no ZeroMQ context.
    //  Then rounds of raw, raw with batch workers and zpar in turn on the
    //  same processes, so that a slow spell of the machine falls on all
    //  three, and medians.
    double raw_cpu [4] = { 0 }, one_cpu [5] = { 0 }, batch_cpu [5] = { 0 }, other_cpu [5];
    double raw_runs [MAX_ROUNDS], fair_runs [MAX_ROUNDS], one_runs [MAX_ROUNDS];
    long done = 0;
    s_raw_t raw_setup, fair_setup;
    bool raw_up = s_raw_start (&raw_setup, false) == 0;
    bool fair_up = raw_up && s_raw_start (&fair_setup, true) == 0;
    bench_cluster_t cluster = { .made = false };
    const char *options [] = { "--hwm", "0", NULL };
    double raw = -1, fair = -1, one = -1, batched = -1;
    if (fair_up && bench_cluster_start (&cluster, WORKERS, options) == 0) {
        for (; done < rounds; done++) {
            double cpu [5] = { 0 };
            raw_runs [done] = s_raw (&raw_setup, tasks, cpu);
            for (int p = 0; p < 4; p++)
                raw_cpu [p] += cpu [p] / (double) rounds;
            fair_runs [done] = raw_runs [done] > 0? s_raw (&fair_setup, tasks, cpu): -1;
            one_runs [done] = fair_runs [done] > 0? s_zpar (&cluster, tasks, 1, S_PLAIN, cpu): -1;
            for (int p = 0; p < 5; p++)
                one_cpu [p] += cpu [p] / (double) rounds;
            if (one_runs [done] <= 0)
                break;
        }
        if (done == rounds) {
            raw = s_median (raw_runs, (int) rounds);
            fair = s_median (fair_runs, (int) rounds);
            one = s_median (one_runs, (int) rounds);
            batched = s_zpar (&cluster, tasks, 100, S_PLAIN, batch_cpu);
        }
    }
    if (raw_up)
        s_raw_stop (&raw_setup);
    if (fair_up)
        s_raw_stop (&fair_setup);
    bench_cluster_stop (&cluster);
    //  With the default high-water mark tasks queue in the scheduler, and
    //  restricted tasks and dependencies take their own paths there.
    long queued = tasks / 5 > 2? tasks / 5: 2;
    bench_cluster_t hwm1 = { .made = false };
    double plain = -1, mixed = -1, fan_in = -1;
    if (batched > 0 && bench_cluster_start (&hwm1, WORKERS, NULL) == 0) {
        plain = s_zpar (&hwm1, queued, 1, S_PLAIN, other_cpu);
        if (plain > 0)
            mixed = s_zpar (&hwm1, queued, 1, S_MIXED, other_cpu);
        if (mixed > 0)
            fan_in = s_zpar (&hwm1, queued, 1, S_FAN_IN, other_cpu);
    }
    bench_cluster_stop (&hwm1);
    if (raw <= 0 || one <= 0 || batched <= 0 || plain <= 0 || mixed <= 0 || fan_in <= 0) {
        fprintf (stderr, "throughput: %s\n", bench_interrupted? "interrupted": "failed");
        return 1;
    }
    printf ("Tasks per second, each round in turn:       raw ZeroMQ  (batch workers)       zpar\n");
    for (long r = 0; r < rounds; r++)
        printf ("  round %-2ld %43.0f %16.0f %10.0f\n", r + 1,
                tasks / raw_runs [r], tasks / fair_runs [r], tasks / one_runs [r]);
    printf ("\nMedians of the %ld rounds, and the chunked map on the same cluster:\n", rounds);
    printf ("%-62s %10s %10s\n", "", "tasks/s", "seconds");
    printf ("%-62s %10.0f %10.3f\n", "raw ZeroMQ load balancer (ROUTER/ROUTER broker, 2 DEALERs)", tasks / raw, raw);
    printf ("%-62s %10.0f %10.3f\n", "raw ZeroMQ, its workers SCHED_BATCH as zpar's engines", tasks / fair, fair);
    printf ("%-62s %10.0f %10.3f\n", "zpar balanced map, one task per message", tasks / one, one);
    printf ("%-62s %10.0f %10.3f\n", "zpar balanced map, chunksize 100", tasks / batched, batched);
    printf ("\nratio (zpar / raw, one task per message, medians): %.2f (%.2f against batch workers)\n",
            raw / one, fair / one);
    printf ("\nThe default --hwm 1 (tasks wait in the scheduler), %ld tasks, one per message:\n", queued);
    printf ("%-62s %10.0f %10.3f\n", "zpar balanced map", queued / plain, plain);
    printf ("%-62s %10.0f %10.3f\n", "zpar balanced map, first half on engine 0 only (targets)", queued / mixed, mixed);
    printf ("%-62s %10.0f %10.3f\n", "zpar balanced map, and 1 task after all of it", queued / fan_in, fan_in);
    printf ("\nCPU per task (µs, user + system, all threads; one task per message: the mean of the rounds):\n");
    printf ("  raw           client %.1f  broker %.1f  workers %.1f + %.1f\n",
            raw_cpu [0], raw_cpu [1], raw_cpu [2], raw_cpu [3]);
    printf ("  zpar          client %.1f  scheduler %.1f  engines %.1f + %.1f  hub %.1f\n",
            one_cpu [0], one_cpu [1], one_cpu [2], one_cpu [3], one_cpu [4]);
    printf ("  zpar chunked  client %.1f  scheduler %.1f  engines %.1f + %.1f  hub %.1f\n",
            batch_cpu [0], batch_cpu [1], batch_cpu [2], batch_cpu [3], batch_cpu [4]);
    return 0;
}
