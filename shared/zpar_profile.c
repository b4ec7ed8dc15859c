/*  zpar_profile.c - profile folders.                                    */

#include "zpar_profile.h"
#include "zpar_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct _zpar_profile_t {
    char *name;
    char *dir;
};

bool
zpar_profile_name_valid (const char *name)
{
    if (!name || !*name || *name == '.' || strlen (name) > 64)
        return false;
    for (const char *c = name; *c; c++)
        if (!(*c >= 'a' && *c <= 'z') && !(*c >= 'A' && *c <= 'Z')
        &&  !(*c >= '0' && *c <= '9') && *c != '_' && *c != '-' && *c != '.')
            return false;
    return true;
}

//  mkdir that accepts an existing folder. With enforce, an existing folder
//  gets the mode too: security/ must stay private whoever made it, while
//  $ZPAR_DIR may be a folder people share (even $HOME) and is left alone.
static int
s_mkdir (const char *path, mode_t mode, bool enforce)
{
    if (mkdir (path, mode) != 0 && errno != EEXIST)
        return -1;
    struct stat st;
    if (stat (path, &st) != 0 || !S_ISDIR (st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return enforce? chmod (path, mode): 0;
}

zpar_profile_t *
zpar_profile_new (const char *name, bool create, char **error)
{
    if (!name || !*name)
        name = getenv ("ZPAR_PROFILE");
    if (!name || !*name)
        name = "default";
    if (!zpar_profile_name_valid (name)) {
        zpar_set_error (error, "bad profile name \"%s\" (use letters, digits, '_', '-', '.')", name);
        return NULL;
    }
    char base [4096];
    const char *root = getenv ("ZPAR_DIR");
    if (root && *root)
        snprintf (base, sizeof base, "%s", root);
    else {
        const char *home = getenv ("HOME");
        snprintf (base, sizeof base, "%s/.zpar", home && *home? home: ".");
    }
    zpar_profile_t *self = calloc (1, sizeof *self);
    self->name = strdup (name);
    if (asprintf (&self->dir, "%s/profile_%s", base, name) < 0) {
        self->dir = NULL;
        goto err;
    }
    if (create) {
        const char *folders [] = { "security", "log", "pid" };
        if (s_mkdir (base, 0700, false) != 0 || s_mkdir (self->dir, 0700, false) != 0) {
            zpar_set_error (error, "cannot make profile folder %s: %s", self->dir, strerror (errno));
            goto err;
        }
        for (size_t i = 0; i < sizeof folders / sizeof *folders; i++) {
            char *path = zpar_profile_path (self, folders [i], NULL);
            int rc = s_mkdir (path, 0700, i == 0);
            if (rc != 0)
                zpar_set_error (error, "cannot make %s: %s", path, strerror (errno));
            free (path);
            if (rc != 0)
                goto err;
        }
    }
    else {
        struct stat st;
        if (stat (self->dir, &st) != 0 || !S_ISDIR (st.st_mode)) {
            zpar_set_error (error, "no profile \"%s\" at %s (start a cluster with: ipcluster start --profile %s)",
                    name, self->dir, name);
            goto err;
        }
    }
    return self;
err:
    zpar_profile_destroy (&self);
    return NULL;
}

void
zpar_profile_destroy (zpar_profile_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->name);
    free ((*self_p)->dir);
    free (*self_p);
    *self_p = NULL;
}

const char *
zpar_profile_name (zpar_profile_t *self)
{
    return self->name;
}

const char *
zpar_profile_dir (zpar_profile_t *self)
{
    return self->dir;
}

char *
zpar_profile_path (zpar_profile_t *self, const char *folder, const char *file)
{
    char *path = NULL;
    int rc = file? asprintf (&path, "%s/%s/%s", self->dir, folder, file)
                 : asprintf (&path, "%s/%s", self->dir, folder);
    return rc < 0? NULL: path;
}
