/*  A short cluster run with every daemon, and a client, under valgrind:
    no memory errors and no definite leaks.                              */

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zpar_test.h"

//  The folder is made in the test, after a sanitizer build skips it.
TestSuite (valgrind, .fini = zt_cleanup, .timeout = 180);

#define S_VALGRIND "valgrind --error-exitcode=99 --leak-check=full " \
                   "--errors-for-leak-kinds=definite --show-leak-kinds=definite"

Test (valgrind, a_short_cluster_run_is_clean)
{
#ifdef __SANITIZE_ADDRESS__
    cr_skip_test ("valgrind does not run AddressSanitizer builds");
#endif
    zt_fresh_dir ();
    cr_assert_eq (zt_run ("command -v valgrind", NULL, NULL), 0, "valgrind is not installed (make deps)");
    char wrapper [1024];
    snprintf (wrapper, sizeof wrapper, S_VALGRIND " --log-file=%s/vg-%%p.log", zt_fresh_dir ());
    setenv ("ZPAR_WRAPPER", wrapper, 1);
    //  Valgrind runs code tens of times slower: a patient heartbeat.
    zt_cluster_start (1, "--hb-period 1000 --hb-liveness 10 --timeout 150");
    unsetenv ("ZPAR_WRAPPER");

    char *out = NULL;
    int rc = zt_runf (&out, NULL, S_VALGRIND " --log-file=%s/vg-client.log %s %s", zt_fresh_dir (),
                      zt_build_path ("examples/hello"), ZT_PROFILE);
    cr_assert_eq (rc, 0, "hello under valgrind exited %d: %s", rc, out);
    cr_assert (strstr (out, "Hello, World"), "%s", out);
    free (out);
    rc = zt_runf (&out, NULL, "%s apply --balanced primes 100", zt_build_path ("bin/zpar"));
    cr_assert_eq (rc, 0);
    free (out);
    zt_cluster_stop ();

    //  Hub, scheduler, engine and client: four clean reports.
    cr_assert_eq (zt_runf (&out, NULL, "grep -h 'ERROR SUMMARY' %s/vg-*.log", zt_fresh_dir ()), 0);
    int reports = 0;
    for (char *line = strtok (out, "\n"); line; line = strtok (NULL, "\n")) {
        cr_assert (strstr (line, "ERROR SUMMARY: 0 errors"), "valgrind found errors: %s", line);
        reports++;
    }
    cr_assert_eq (reports, 4, "expected 4 valgrind reports, got %d", reports);
    free (out);
    char *log = zt_profile_path ("log/ipcluster.log");
    cr_assert_neq (zt_runf (NULL, NULL, "grep -q 'status 99' %s", log), 0, "a daemon exited with valgrind's error code");
    free (log);
}
