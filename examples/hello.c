/*  hello - the seed's "Hello, World" on every engine, in C.

    IPython Parallel:   c = ipp.Client(); c[:].apply_sync(lambda: "Hello, World")
    zpar:               this program, against a running cluster:

        ipcluster start -n 4 --daemonize
        ./build/examples/hello [PROFILE]
        ipcluster stop

    Build your own with: cc hello.c $(pkg-config --cflags --libs zpar)    */

#include <zpar/zpar.h>
#include <stdio.h>

int
main (int argc, char *argv [])
{
    zpar_client_t *client = zpar_client_new (argc > 1? argv [1]: NULL);
    if (!client) {
        fprintf (stderr, "hello: %s\n", zpar_last_error ());
        return 1;
    }
    zpar_view_t *all = zpar_client_direct (client, ZPAR_ALL);
    json_t *targets = zpar_view_targets (all);

    //  Each engine's host name, then the seed's greeting from each engine.
    json_t *error = NULL;
    json_t *hosts = zpar_view_apply_sync (all, "hostname", NULL, &error);
    json_t *greeting = json_pack ("[s]", "Hello, World");
    json_t *hellos = hosts? zpar_view_apply_sync (all, "echo", greeting, &error): NULL;
    json_decref (greeting);
    int rc = 0;
    if (!hosts || !hellos) {
        fprintf (stderr, "hello: %s: %s\n", json_string_value (json_object_get (error, "ename")),
                 json_string_value (json_object_get (error, "evalue")));
        rc = 1;
    }
    else {
        size_t i;
        json_t *id;
        json_array_foreach (targets, i, id)
            printf ("engine %lld on %s: %s\n", json_integer_value (id),
                    json_string_value (json_array_get (hosts, i)),
                    json_string_value (json_array_get (hellos, i)));
    }
    json_decref (error);
    json_decref (hosts);
    json_decref (hellos);
    json_decref (targets);
    zpar_view_destroy (&all);
    zpar_client_destroy (&client);
    return rc;
}
