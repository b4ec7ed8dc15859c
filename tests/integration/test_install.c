/*  make install PREFIX=DIR, then a user's program built with pkg-config
    against the installed library runs against a cluster.                */

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zpar_test.h"

//  The folder is made in the test, after a sanitizer build skips it.
TestSuite (install, .fini = zt_cleanup, .timeout = 120);

Test (install, a_program_builds_with_pkg_config_and_runs)
{
#ifdef __SANITIZE_ADDRESS__
    cr_skip_test ("the installed library of a sanitizer build needs its runtime first");
#endif
    zt_fresh_dir ();
    const char *source = getenv ("ZPAR_SOURCE");
    cr_assert_not_null (source, "ZPAR_SOURCE is not set (run through make test)");
    const char *dir = zt_fresh_dir ();
    char *out = NULL, *err = NULL;
    int rc = zt_runf (&out, &err, "make -s -C %s BUILD=%s install PREFIX=%s/prefix",
                      source, getenv ("ZPAR_BUILD"), dir);
    cr_assert_eq (rc, 0, "make install failed: %s%s", out, err);
    free (out);
    free (err);
    const char *installed [] = {
        "bin/zpar-hub", "bin/zpar-scheduler", "bin/zpar-engine", "bin/ipcluster", "bin/zpar",
        "lib/libzpar.a", "lib/libzpar.so", "lib/pkgconfig/zpar.pc",
        "include/zpar/zpar.h", "include/zpar/plugin.h"
    };
    for (size_t i = 0; i < sizeof installed / sizeof *installed; i++)
        cr_assert_eq (zt_runf (NULL, NULL, "test -e %s/prefix/%s", dir, installed [i]), 0,
                      "%s was not installed", installed [i]);

    //  A user's program and a user's plugin, built from the installed files.
    rc = zt_runf (&out, &err,
        "export PKG_CONFIG_PATH=%s/prefix/lib/pkgconfig && "
        "cc -o %s/hello %s/examples/hello.c $(pkg-config --cflags --libs zpar) && "
        "cc -shared -fPIC -o %s/libplugin.so %s/examples/plugin/example_plugin.c $(pkg-config --cflags zpar)",
        dir, dir, source, dir, source);
    cr_assert_eq (rc, 0, "building against the installed zpar failed: %s%s", out, err);
    free (out);
    free (err);

    //  The installed ipcluster runs the installed daemons.
    rc = zt_runf (&out, &err, "%s/prefix/bin/ipcluster start -n 2 --daemonize --profile %s --load %s/libplugin.so",
                  dir, ZT_PROFILE, dir);
    cr_assert_eq (rc, 0, "%s%s", out, err);
    free (out);
    free (err);
    rc = zt_runf (&out, NULL, "%s/hello %s && %s/prefix/bin/zpar apply square 6", dir, ZT_PROFILE, dir);
    cr_assert_eq (rc, 0, "%s", out);
    cr_assert (strstr (out, "engine 1 on ") && strstr (out, "Hello, World"), "%s", out);
    cr_assert (strstr (out, "[0] 36") && strstr (out, "[1] 36"), "%s", out);
    free (out);
    char *hub = NULL;
    cr_assert_eq (zt_runf (&hub, NULL, "readlink /proc/$(cut -d' ' -f1 %s/profile_%s/pid/hub.pid)/exe",
                           dir, ZT_PROFILE), 0);
    cr_assert (strstr (hub, "/prefix/bin/zpar-hub"), "the hub ran from %s", hub);
    free (hub);
    rc = zt_runf (&out, &err, "%s/prefix/bin/ipcluster stop --profile %s", dir, ZT_PROFILE);
    cr_assert_eq (rc, 0, "%s%s", out, err);
    free (out);
    free (err);
}
