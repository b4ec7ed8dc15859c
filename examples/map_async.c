/*  map_async - the seed's pool experiment with map_async, in C: five maps
    of eight busy_waits submitted at once, each reported when it is done.

    Python (multiprocessing):
        for _ in range(5):
            results.append(pool.map_async(busy_wait, items))
            print('Still processing %.3f' % (time.time() - start))
        for result in results:
            result.wait()
            print('Result done %.3f' % (time.time() - start))

    zpar, against a running cluster:
        ipcluster start -n 4 --daemonize
        ./build/examples/map_async [PROFILE] [N]      (N default 10000000)  */

#include <zpar/zpar.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define MAPS 5
#define ITEMS 8

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main (int argc, char *argv [])
{
    const char *profile = argc > 1? argv [1]: NULL;
    long long n = argc > 2? atoll (argv [2]): 10000000;
    zpar_client_t *client = zpar_client_new (profile);
    if (!client) {
        fprintf (stderr, "map_async: %s\n", zpar_last_error ());
        return 1;
    }
    zpar_view_t *pool = zpar_client_balanced (client);
    json_t *items = json_array ();
    for (int i = 0; i < ITEMS; i++)
        json_array_append_new (items, json_pack ("[I]", (json_int_t) n));

    zpar_result_t *results [MAPS];
    double start = s_now ();
    printf ("Start processing...\n");
    for (int i = 0; i < MAPS; i++) {
        results [i] = zpar_view_map_async (pool, "busy_wait", items, 0);
        if (!results [i]) {
            fprintf (stderr, "map_async: %s\n", zpar_last_error ());
            return 1;
        }
        printf ("Still processing %.3f\n", s_now () - start);
    }
    int rc = 0;
    for (int i = 0; i < MAPS; i++) {
        zpar_result_wait (results [i], -1);
        if (!zpar_result_successful (results [i])) {
            json_t *error = zpar_result_error (results [i]);
            fprintf (stderr, "map_async: %s\n", json_string_value (json_object_get (error, "evalue")));
            rc = 1;
        }
        printf ("Result done %.3f\n", s_now () - start);
        fflush (stdout);
        zpar_result_destroy (&results [i]);
    }
    printf ("Done processing: %.3f\n", s_now () - start);
    json_decref (items);
    zpar_view_destroy (&pool);
    zpar_client_destroy (&client);
    return rc;
}
