/*  zpar_connfile.c - reading and writing connection files.              */

#include "zpar_connfile.h"
#include "zpar_log.h"
#include "zpar_profile.h"
#include "zpar_proto.h"
#include "zpar_util.h"

#include <czmq.h>
#include <time.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

//  Connection files are a few hundred bytes; anything this big is not one.
#define S_MAX_FILE_SIZE (64 * 1024)

static char *
s_required (json_t *root, const char *key, char **error)
{
    const char *value = json_string_value (json_object_get (root, key));
    if (!value || !*value) {
        zpar_set_error (error, "connection file has no \"%s\" string", key);
        return NULL;
    }
    return strdup (value);
}

zpar_connfile_t *
zpar_connfile_parse (const char *text, size_t size, char **error)
{
    json_error_t jerr;
    json_t *root = json_loadb (text, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        zpar_set_error (error, "connection file is not JSON (line %d: %s)", jerr.line, jerr.text);
        return NULL;
    }
    zpar_connfile_t *self = calloc (1, sizeof *self);
    if (!json_is_object (root)) {
        zpar_set_error (error, "connection file is not a JSON object");
        goto err;
    }
    if (!(self->registration = s_required (root, "registration", error))
    ||  !(self->key = s_required (root, "key", error))
    ||  !(self->signature_scheme = s_required (root, "signature_scheme", error))
    ||  !(self->location = s_required (root, "location", error)))
        goto err;
    if (strcmp (self->signature_scheme, ZPAR_SIGNATURE_SCHEME) != 0) {
        zpar_set_error (error, "connection file asks for signature scheme \"%s\"; only \"%s\" is known",
                self->signature_scheme, ZPAR_SIGNATURE_SCHEME);
        goto err;
    }
    if (strncmp (self->registration, "tcp://", 6) != 0
    &&  strncmp (self->registration, "ipc://", 6) != 0) {
        zpar_set_error (error, "connection file's registration endpoint \"%s\" is not tcp:// or ipc://",
                self->registration);
        goto err;
    }
    json_t *size_value = json_object_get (root, "max_message_size");
    if (size_value) {
        if (!json_is_integer (size_value) || json_integer_value (size_value) < 0) {
            zpar_set_error (error, "connection file's \"max_message_size\" is not a byte count");
            goto err;
        }
        self->max_message_size = json_integer_value (size_value);
    }
    json_t *pid = json_object_get (root, "hub_pid");
    if (json_is_integer (pid))
        self->hub_pid = json_integer_value (pid);
    json_t *ports = json_object_get (root, "hub_ports");
    if (ports) {
        struct { const char *name; int *port; } wanted [] = {
            { "hb_ping", &self->ping_port }, { "hb_pong", &self->pong_port },
            { "notification", &self->notification_port }, { "monitor", &self->monitor_port }
        };
        for (size_t i = 0; i < sizeof wanted / sizeof *wanted; i++) {
            json_t *port = json_object_get (ports, wanted [i].name);
            if (!json_is_integer (port) || json_integer_value (port) < 1
            ||  json_integer_value (port) > 65535) {
                zpar_set_error (error, "connection file's \"hub_ports\" has no port \"%s\"",
                                wanted [i].name);
                goto err;
            }
            *wanted [i].port = (int) json_integer_value (port);
        }
    }
    json_t *curve = json_object_get (root, "curve_serverkey");
    if (curve) {
        const char *text = json_string_value (curve);
        uint8_t binary [32];
        if (!text || strlen (text) != 40 || !zmq_z85_decode (binary, text)) {
            zpar_set_error (error, "connection file's \"curve_serverkey\" is not a Z85 key of 40 characters");
            goto err;
        }
        self->curve_serverkey = strdup (text);
    }
    json_decref (root);
    return self;
err:
    json_decref (root);
    zpar_connfile_destroy (&self);
    return NULL;
}

zpar_connfile_t *
zpar_connfile_load (const char *path, char **error)
{
    FILE *file = fopen (path, "r");
    if (!file) {
        zpar_set_error (error, "cannot read %s: %s", path, strerror (errno));
        return NULL;
    }
    char *text = malloc (S_MAX_FILE_SIZE + 1);
    size_t size = text? fread (text, 1, S_MAX_FILE_SIZE + 1, file): 0;
    fclose (file);
    zpar_connfile_t *self = NULL;
    if (size > S_MAX_FILE_SIZE)
        zpar_set_error (error, "%s is too big to be a connection file", path);
    else {
        char *inner = NULL;
        self = zpar_connfile_parse (text, size, &inner);
        if (!self)
            zpar_set_error (error, "%s: %s", path, inner? inner: "unreadable");
        free (inner);
    }
    free (text);
    return self;
}

int
zpar_connfile_save (const zpar_connfile_t *self, const char *path)
{
    json_t *root = json_pack ("{s:s, s:s, s:s, s:s, s:I, s:I}",
        "registration", self->registration, "key", self->key,
        "signature_scheme", self->signature_scheme? self->signature_scheme: ZPAR_SIGNATURE_SCHEME,
        "location", self->location,
        "max_message_size", (json_int_t) self->max_message_size,
        "hub_pid", (json_int_t) self->hub_pid);
    if (root && self->ping_port)
        json_object_set_new (root, "hub_ports", json_pack ("{s:i, s:i, s:i, s:i}",
            "hb_ping", self->ping_port, "hb_pong", self->pong_port,
            "notification", self->notification_port, "monitor", self->monitor_port));
    if (root && self->curve_serverkey)
        json_object_set_new (root, "curve_serverkey", json_string (self->curve_serverkey));
    int rc = zpar_json_save (root, path);
    json_decref (root);
    return rc;
}

int
zpar_json_save (json_t *root, const char *path)
{
    char *text = root? json_dumps (root, JSON_INDENT (2)): NULL;
    if (!text) {
        errno = EINVAL;
        return -1;
    }
    char temp [4096];
    snprintf (temp, sizeof temp, "%s.tmp%d", path, (int) getpid ());
    int fd = open (temp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    int rc = -1;
    if (fd >= 0) {
        size_t size = strlen (text);
        //  fchmod in case a umask or an old file left looser bits.
        if (fchmod (fd, 0600) == 0
        &&  write (fd, text, size) == (ssize_t) size
        &&  write (fd, "\n", 1) == 1
        &&  fsync (fd) == 0)
            rc = 0;
        close (fd);
        if (rc == 0)
            rc = rename (temp, path);
        if (rc != 0)
            unlink (temp);
    }
    free (text);
    return rc;
}

zpar_connfile_t *
zpar_connfile_await (const char *profile, const char *path, int timeout_ms, char **error)
{
    char *own = NULL;
    if (!path) {
        //  Made if missing: the hub may not have made it yet either.
        zpar_profile_t *found = zpar_profile_new (profile, true, error);
        if (!found)
            return NULL;
        path = own = zpar_profile_path (found, "security", ZPAR_CONNFILE_ENGINE);
        zpar_profile_destroy (&found);
    }
    int64_t deadline = zpar_mono_ms () + timeout_ms;
    bool said = false;
    while (access (path, R_OK) != 0 && errno == ENOENT && zpar_mono_ms () < deadline
       &&  !zsys_interrupted) {
        if (!said)
            zpar_info ("waiting for %s (is a hub running for this profile?)", path);
        said = true;
        //  No event tells of a file that does not exist yet; a tenth of a
        //  second is soon enough for a start-up.
        struct timespec pause = { 0, 100 * 1000 * 1000 };
        nanosleep (&pause, NULL);
    }
    zpar_connfile_t *self = zpar_connfile_load (path, error);
    free (own);
    return self;
}

void
zpar_connfile_destroy (zpar_connfile_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zpar_connfile_t *self = *self_p;
    free (self->registration);
    if (self->key)
        memset (self->key, 0, strlen (self->key));
    free (self->key);
    free (self->signature_scheme);
    free (self->location);
    free (self->curve_serverkey);
    free (self);
    *self_p = NULL;
}

int
zpar_curve_save (const zpar_curve_t *curve, const char *path)
{
    json_t *root = json_pack ("{s:s, s:s}", "public", curve->server_public,
                              "secret", curve->server_secret);
    int rc = zpar_json_save (root, path);
    json_decref (root);
    return rc;
}

int
zpar_curve_load (const char *path, zpar_curve_t *curve, char **error)
{
    json_error_t jerr;
    json_t *root = json_load_file (path, 0, &jerr);
    const char *public = json_string_value (json_object_get (root, "public"));
    const char *secret = json_string_value (json_object_get (root, "secret"));
    uint8_t binary [32];
    memset (curve, 0, sizeof *curve);
    int rc = -1;
    if (!root)
        zpar_set_error (error, "cannot read the cluster's CurveZMQ keys %s: %s", path, jerr.text);
    else
    if (!public || !secret || strlen (secret) != 40 || !zmq_z85_decode (binary, secret)
    ||  zpar_curve_for_peer (public, curve) != 0)
        zpar_set_error (error, "%s holds no CurveZMQ keypair", path);
    else {
        //  The pair must be one: the public key is what peers were told.
        char derived [41];
        if (zmq_curve_public (derived, secret) != 0 || strcmp (derived, public) != 0)
            zpar_set_error (error, "%s: its secret key is not that of its public key", path);
        else {
            snprintf (curve->server_secret, sizeof curve->server_secret, "%s", secret);
            rc = 0;
        }
    }
    json_decref (root);
    return rc;
}
