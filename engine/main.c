/*  zpar-engine - runs registered C functions for a zpar cluster.

    Usually started by ipcluster; can be started by hand, on this host or
    another, given the profile's engine connection file.                 */

#include "zpar_engine.h"

#include "zpar_connfile.h"
#include "zpar_log.h"
#include "zpar_profile.h"
#include "zpar_util.h"

#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdbool.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

//  Registration gives up after this long without an answer from the hub.
#define S_REGISTRATION_TIMEOUT_S 30

static void
s_usage (FILE *out)
{
    fprintf (out,
        "usage: zpar-engine [--profile NAME | --file CONNFILE] [--load LIB.so]...\n"
        "                   [--timeout S] [--id N] [--restarts N] [--uuid UUID] [--ready-fd FD]\n"
        "                   [--policy batch|normal]\n"
        "\n"
        "Registers with the cluster's hub and runs the functions it is asked for:\n"
        "the built-ins (echo, sleep, busy_wait, primes, hostname, engine_info, push,\n"
        "pull) and those of each plugin given with --load.\n"
        "  --profile NAME    read $ZPAR_DIR/profile_NAME/security/%s\n"
        "  --file CONNFILE   read this connection file instead\n"
        "  --load LIB.so     load a plugin (may be repeated)\n"
        "  --timeout S       give up registering after S seconds (default %d)\n"
        "  --id N            ask the hub for engine id N\n"
        "  --restarts N      this slot was restarted N times (shown by zpar engines)\n"
        "  --uuid UUID       this engine's uuid (default: a new one), as ipcluster gives it\n"
        "  --policy P        Linux scheduling policy of its threads: batch (default), or\n"
        "                    normal (SCHED_OTHER) to let it preempt others when it wakes\n",
        ZPAR_CONNFILE_ENGINE, S_REGISTRATION_TIMEOUT_S);
}

//  After a hangup, an engine inside a long call has this long to end it
//  and say goodbye; then SIGALRM ends it (its ssh is gone: nothing would).
#define S_HANGUP_GRACE_S 10

static void
s_on_hangup (int sig)
{
    (void) sig;
    zsys_interrupted = 1;
    alarm (S_HANGUP_GRACE_S);
}

int
main (int argc, char *argv [])
{
    const char *profile_name = NULL, *file = NULL;
    const char **plugins = calloc ((size_t) argc + 1, sizeof (char *));
    size_t nplugins = 0;
    zpar_engine_options_t options = {
        .registration_timeout_s = S_REGISTRATION_TIMEOUT_S, .wanted_id = -1, .ready_fd = -1
    };
    static struct option long_options [] = {
        { "profile", required_argument, 0, 'p' },
        { "file", required_argument, 0, 'f' },
        { "load", required_argument, 0, 'l' },
        { "timeout", required_argument, 0, 't' },
        { "id", required_argument, 0, 'I' },
        { "restarts", required_argument, 0, 'r' },
        { "uuid", required_argument, 0, 'u' },
        { "ready-fd", required_argument, 0, 'R' },
        { "policy", required_argument, 0, 'P' },
        { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 }
    };
    long value;
    int opt, rc = 2;
    bool batch = true;
    while ((opt = getopt_long (argc, argv, "h", long_options, NULL)) != -1) {
        switch (opt) {
            case 'p': profile_name = optarg; break;
            case 'f': file = optarg; break;
            case 'l': plugins [nplugins++] = optarg; break;
            case 't':
                if (zpar_parse_option ("--timeout", optarg, 1, 86400, &value) != 0)
                    goto usage;
                options.registration_timeout_s = (int) value;
                break;
            case 'I':
                if (zpar_parse_option ("--id", optarg, 0, 999999, &value) != 0)
                    goto usage;
                options.wanted_id = (int) value;
                break;
            case 'r':
                if (zpar_parse_option ("--restarts", optarg, 0, 1000000, &value) != 0)
                    goto usage;
                options.restarts = (int) value;
                break;
            case 'u': {
                //  Printable ASCII, as any name the hub takes.
                bool plain = *optarg && strlen (optarg) <= 255;
                for (const char *c = optarg; *c; c++)
                    plain &= *c > ' ' && *c <= '~' && *c != '"' && *c != '\\';
                if (!plain) {
                    fprintf (stderr, "zpar-engine: --uuid takes 1 to 255 printable characters, "
                             "no space, quote or backslash\n");
                    goto usage;
                }
                options.uuid = optarg;
                break;
            }
            case 'R':
                if (zpar_parse_option ("--ready-fd", optarg, 0, 65535, &value) != 0)
                    goto usage;
                options.ready_fd = (int) value;
                break;
            case 'P':
                if (!streq (optarg, "batch") && !streq (optarg, "normal")) {
                    fprintf (stderr, "zpar-engine: --policy is batch or normal\n");
                    goto usage;
                }
                batch = streq (optarg, "batch");
                break;
            case 'h':
                s_usage (stdout);
                free (plugins);
                return 0;
            default:
                goto usage;
        }
    }
    if (optind != argc || (file && profile_name))
        goto usage;
    options.plugins = plugins;

    zpar_log_set_name ("engine");
    //  Engines are the cluster's compute. SCHED_BATCH, taken before any
    //  thread starts so that all of them have it, keeps an engine that
    //  wakes from preempting the running process: the scheduler, hub or
    //  client sharing its cores runs its batch of messages out instead of
    //  stopping at every task that reaches an engine (docs/performance.md).
    //  Those still preempt a busy engine when they wake. normal sets the
    //  default policy, whatever the engine inherited.
    struct sched_param param = { 0 };
    if (sched_setscheduler (0, batch? SCHED_BATCH: SCHED_OTHER, &param) != 0)
        zpar_warn ("cannot take the %s scheduling policy: %s", batch? "batch": "normal",
                   strerror (errno));
    if (zpar_init () != 0) {
        zpar_error ("cannot initialise libsodium");
        free (plugins);
        return 1;
    }
    options.profile = profile_name;
    options.connfile = file;
    //  An engine started through ssh gets SIGHUP when its ssh ends: a
    //  stop like SIGTERM (after the running call, saying goodbye).
    struct sigaction hangup = { .sa_handler = s_on_hangup };
    sigemptyset (&hangup.sa_mask);
    sigaction (SIGHUP, &hangup, NULL);
    rc = zpar_engine_run (&options);
    free (plugins);
    return rc;

usage:
    s_usage (stderr);
    free (plugins);
    return rc;
}
