/*  Profile folders.                                                     */

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "zpar_profile.h"

static char s_dir [64];

static void
s_setup (void)
{
    strcpy (s_dir, "/tmp/zpar-profile-XXXXXX");
    cr_assert_not_null (mkdtemp (s_dir));
    setenv ("ZPAR_DIR", s_dir, 1);
    unsetenv ("ZPAR_PROFILE");
}

static void
s_teardown (void)
{
    char command [128];
    snprintf (command, sizeof command, "rm -rf %s", s_dir);
    cr_assert_eq (system (command), 0);
}

TestSuite (zpar_profile, .init = s_setup, .fini = s_teardown);

Test (zpar_profile, made_with_private_folders)
{
    zpar_profile_t *profile = zpar_profile_new ("work", true, NULL);
    cr_assert_not_null (profile);
    cr_assert_str_eq (zpar_profile_name (profile), "work");
    const char *folders [] = { "security", "log", "pid" };
    for (int i = 0; i < 3; i++) {
        char *path = zpar_profile_path (profile, folders [i], NULL);
        struct stat st;
        cr_assert_eq (stat (path, &st), 0, "%s missing", path);
        cr_assert (S_ISDIR (st.st_mode));
        cr_assert_eq (st.st_mode & 0777, 0700, "%s has mode %o", path, st.st_mode & 0777);
        free (path);
    }
    char *file = zpar_profile_path (profile, "security", "zpar-client.json");
    char expected [256];
    snprintf (expected, sizeof expected, "%s/profile_work/security/zpar-client.json", s_dir);
    cr_assert_str_eq (file, expected);
    free (file);
    zpar_profile_destroy (&profile);
}

Test (zpar_profile, default_name_and_environment)
{
    zpar_profile_t *profile = zpar_profile_new (NULL, true, NULL);
    cr_assert_str_eq (zpar_profile_name (profile), "default");
    zpar_profile_destroy (&profile);
    setenv ("ZPAR_PROFILE", "other", 1);
    profile = zpar_profile_new (NULL, true, NULL);
    cr_assert_str_eq (zpar_profile_name (profile), "other");
    zpar_profile_destroy (&profile);
}

Test (zpar_profile, missing_profile_says_how_to_start_one)
{
    char *error = NULL;
    cr_assert_null (zpar_profile_new ("absent", false, &error));
    cr_assert (strstr (error, "ipcluster start --profile absent"), "%s", error);
    free (error);
}

Test (zpar_profile, bad_names_are_refused)
{
    const char *bad [] = { "../x", "a/b", ".hidden", "sp ace", "" };
    for (int i = 0; i < 4; i++) {
        char *error = NULL;
        cr_assert_null (zpar_profile_new (bad [i], true, &error), "%s accepted", bad [i]);
        cr_assert (strstr (error, "bad profile name"), "%s", error);
        free (error);
    }
    cr_assert (zpar_profile_name_valid ("team-1.gpu_2"));
}

Test (zpar_profile, a_shared_zpar_dir_keeps_its_mode)
{
    cr_assert_eq (chmod (s_dir, 0755), 0);
    zpar_profile_t *profile = zpar_profile_new ("p", true, NULL);
    cr_assert_not_null (profile);
    struct stat st;
    cr_assert_eq (stat (s_dir, &st), 0);
    cr_assert_eq (st.st_mode & 0777, 0755, "$ZPAR_DIR became %o", st.st_mode & 0777);
    //  But a loosened security folder is made private again.
    char *security = zpar_profile_path (profile, "security", NULL);
    cr_assert_eq (chmod (security, 0755), 0);
    zpar_profile_t *again = zpar_profile_new ("p", true, NULL);
    cr_assert_eq (stat (security, &st), 0);
    cr_assert_eq (st.st_mode & 0777, 0700);
    free (security);
    zpar_profile_destroy (&again);
    zpar_profile_destroy (&profile);
}
