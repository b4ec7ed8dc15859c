/*  Connection files: written 0600, read back, bad ones refused clearly.  */

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zpar_connfile.h"

static char s_dir [64];

static void
s_setup (void)
{
    strcpy (s_dir, "/tmp/zpar-connfile-XXXXXX");
    cr_assert_not_null (mkdtemp (s_dir));
}

static void
s_teardown (void)
{
    char command [128];
    snprintf (command, sizeof command, "rm -rf %s", s_dir);
    cr_assert_eq (system (command), 0);
}

TestSuite (zpar_connfile, .init = s_setup, .fini = s_teardown);

Test (zpar_connfile, saved_with_mode_0600_and_read_back)
{
    zpar_connfile_t file = {
        .registration = "tcp://127.0.0.1:5555", .key = "abcdef",
        .signature_scheme = "hmac-sha256", .location = "127.0.0.1",
        .max_message_size = 4096, .hub_pid = 42
    };
    char path [128];
    snprintf (path, sizeof path, "%s/zpar-client.json", s_dir);
    mode_t old = umask (0);                 //  a loose umask must not matter
    cr_assert_eq (zpar_connfile_save (&file, path), 0);
    umask (old);
    struct stat st;
    cr_assert_eq (stat (path, &st), 0);
    cr_assert_eq (st.st_mode & 0777, 0600, "mode is %o", st.st_mode & 0777);
    char *error = NULL;
    zpar_connfile_t *loaded = zpar_connfile_load (path, &error);
    cr_assert_not_null (loaded, "%s", error);
    cr_assert_str_eq (loaded->registration, "tcp://127.0.0.1:5555");
    cr_assert_str_eq (loaded->key, "abcdef");
    cr_assert_str_eq (loaded->location, "127.0.0.1");
    cr_assert_eq (loaded->max_message_size, 4096);
    cr_assert_eq (loaded->hub_pid, 42);
    zpar_connfile_destroy (&loaded);
    cr_assert_null (loaded);
}

static void
s_refused (const char *text, const char *says)
{
    char *error = NULL;
    zpar_connfile_t *file = zpar_connfile_parse (text, strlen (text), &error);
    cr_assert_null (file, "accepted: %s", text);
    cr_assert_not_null (error);
    cr_assert (strstr (error, says), "error \"%s\" does not say \"%s\"", error, says);
    free (error);
}

Test (zpar_connfile, bad_files_are_refused_with_a_reason)
{
    s_refused ("", "not JSON");
    s_refused ("{\"registration\":", "not JSON");
    s_refused ("[1,2]", "not a JSON object");
    s_refused ("{\"key\":\"k\",\"signature_scheme\":\"hmac-sha256\",\"location\":\"x\"}", "registration");
    s_refused ("{\"registration\":\"tcp://a:1\",\"signature_scheme\":\"hmac-sha256\",\"location\":\"x\"}", "key");
    s_refused ("{\"registration\":\"tcp://a:1\",\"key\":\"k\",\"signature_scheme\":\"md5\",\"location\":\"x\"}",
               "signature scheme");
    s_refused ("{\"registration\":\"http://a:1\",\"key\":\"k\",\"signature_scheme\":\"hmac-sha256\",\"location\":\"x\"}",
               "not tcp://");
    s_refused ("{\"registration\":\"tcp://a:1\",\"key\":\"k\",\"signature_scheme\":\"hmac-sha256\","
               "\"location\":\"x\",\"max_message_size\":-1}", "max_message_size");
}

Test (zpar_connfile, a_missing_file_names_its_path)
{
    char *error = NULL;
    cr_assert_null (zpar_connfile_load ("/nonexistent/zpar-client.json", &error));
    cr_assert (strstr (error, "/nonexistent/zpar-client.json"), "%s", error);
    free (error);
}
