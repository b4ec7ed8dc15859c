/*  work_queue - the seed's remote queue, in C: a driver puts 1000 items in
    a queue and workers on other machines turn each into primes(i). Here
    the load-balanced view is the queue and the engines are the workers;
    the results come back in order.

    Python (multiprocessing.managers):
        for i in range(1000):
            queue.put(i)
        ...                             # in each worker:
        while not queue.empty():
            print(manager.primes(queue.get()))

    zpar, against a running cluster (on one machine or several):
        ipcluster start -n 4 --daemonize
        ./build/examples/work_queue [PROFILE] [COUNT]   (COUNT default 1000)  */

#include <zpar/zpar.h>
#include <stdio.h>
#include <stdlib.h>

int
main (int argc, char *argv [])
{
    const char *profile = argc > 1? argv [1]: NULL;
    long count = argc > 2? atol (argv [2]): 1000;
    zpar_client_t *client = zpar_client_new (profile);
    if (!client) {
        fprintf (stderr, "work_queue: %s\n", zpar_last_error ());
        return 1;
    }
    zpar_view_t *queue = zpar_client_balanced (client);
    json_t *items = json_array ();
    for (long i = 0; i < count; i++)
        json_array_append_new (items, json_pack ("[I]", (json_int_t) i));
    //  Small tasks travel in chunks of 10: fewer messages, same order.
    json_t *error = NULL;
    json_t *primes = zpar_view_map_sync (queue, "primes", items, 10, &error);
    if (!primes) {
        fprintf (stderr, "work_queue: %s\n", json_string_value (json_object_get (error, "evalue")));
        return 1;
    }
    size_t i;
    json_t *each;
    json_array_foreach (primes, i, each) {
        char *text = json_dumps (each, JSON_COMPACT);
        printf ("%zu: %s\n", i, text);
        free (text);
    }
    json_decref (primes);
    json_decref (items);
    zpar_view_destroy (&queue);
    zpar_client_destroy (&client);
    return 0;
}
