/*  The seed's experiments, as examples, at small sizes.                 */

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zpar_test.h"

TestSuite (examples, .init = (void (*) (void)) zt_fresh_dir, .fini = zt_cleanup, .timeout = 90);

static int
s_count (const char *text, const char *what)
{
    int count = 0;
    for (const char *at = strstr (text, what); at; at = strstr (at + 1, what))
        count++;
    return count;
}

Test (examples, map_async_reports_each_map)
{
    zt_cluster_start (2, NULL);
    char *out = NULL;
    cr_assert_eq (zt_runf (&out, NULL, "%s %s 200000", zt_build_path ("examples/map_async"), ZT_PROFILE), 0);
    cr_assert_eq (s_count (out, "Still processing "), 5, "%s", out);
    cr_assert_eq (s_count (out, "Result done "), 5, "%s", out);
    cr_assert (strstr (out, "Done processing: "), "%s", out);
    //  Submitting does not wait: every submission comes before any result.
    cr_assert (strstr (out, "Result done ") > strstr (out, "Still processing "));
    const char *last_submission = out;
    for (const char *at = strstr (out, "Still processing "); at; at = strstr (at + 1, "Still processing "))
        last_submission = at;
    cr_assert (strstr (out, "Result done ") > last_submission, "%s", out);
    free (out);
    zt_cluster_stop ();
}

Test (examples, work_queue_prints_primes_in_order)
{
    zt_cluster_start (3, NULL);
    char *out = NULL;
    cr_assert_eq (zt_runf (&out, NULL, "%s %s 40", zt_build_path ("examples/work_queue"), ZT_PROFILE), 0);
    int line = 0;
    for (char *text = strtok (out, "\n"); text; text = strtok (NULL, "\n"), line++) {
        char prefix [16];
        snprintf (prefix, sizeof prefix, "%d: [", line);
        cr_assert (strncmp (text, prefix, strlen (prefix)) == 0, "line %d: %s", line, text);
        if (line == 30)
            cr_assert_str_eq (text, "30: [2,3,5,7,11,13,17,19,23,29]");
    }
    cr_assert_eq (line, 40);
    free (out);
    zt_cluster_stop ();
}

Test (examples, pool_scaling_prints_its_table)
{
    char *out = NULL, *err = NULL;
    int rc = zt_runf (&out, &err, "%s -n 2000000 1 2", zt_build_path ("examples/pool_scaling"));
    cr_assert_eq (rc, 0, "%s%s", out, err);
    cr_assert (strstr (out, "engines") && strstr (out, "seconds") && strstr (out, "speedup"), "%s", out);
    cr_assert (strstr (out, "\nprocess "), "%s", out);
    cr_assert (strstr (out, "\n1 ") && strstr (out, "\n2 "), "%s", out);
    free (out);
    free (err);
}
