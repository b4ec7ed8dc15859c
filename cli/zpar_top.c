/*  zpar_top.c - zpar top: the hub's state on a full screen, redrawn at
    every refresh and at once on a key, a resize or a notification. Plain
    ANSI sequences (alternate screen, cursor home, erase): every terminal
    that tmux, xterm or the Linux console emulates has them.            */

#include "zpar_cli.h"

#include "zpar_client_int.h"
#include "zpar_util.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

//  Completed counts kept for the rate: one per refresh, over this long.
#define S_RATE_WINDOW_MS 5000
#define S_SAMPLES 64

static volatile sig_atomic_t s_stop, s_resized, s_suspend;

static void
s_on_stop (int sig)
{
    (void) sig;
    s_stop = 1;
}

static void
s_on_resize (int sig)
{
    (void) sig;
    s_resized = 1;
}

static void
s_on_suspend (int sig)
{
    (void) sig;
    s_suspend = 1;
}

static const struct {
    char key;                   //  the key that sorts by it
    const char *name;
} s_sorts [] = {
    { 'i', "id" }, { 'h', "host" }, { 's', "state" }, { 'n', "fn" }, { 'c', "completed" },
    { 'f', "failed" }, { 'b', "heartbeat" }, { 'r', "restarts" }, { 0, NULL }
};

bool
zpar_cli_top_sort_valid (const char *key)
{
    for (int i = 0; s_sorts [i].name; i++)
        if (streq (s_sorts [i].name, key))
            return true;
    return false;
}

typedef struct {
    zpar_client_t *client;
    const char *profile;
    const char *sort;
    bool tty;
    int rows, cols;
    int lines;                  //  drawn so far this time
    int64_t sample_ms [S_SAMPLES];
    int64_t sample_done [S_SAMPLES];
    size_t samples;
    json_t *status, *engines, *queue;
    char error [512];
} s_top_t;

static const char *s_sort_key;  //  for qsort's comparator

static long long
s_int (json_t *object, const char *key)
{
    return json_integer_value (json_object_get (object, key));
}

static const char *
s_str (json_t *object, const char *key)
{
    const char *text = json_string_value (json_object_get (object, key));
    return text? text: "";
}

static int
s_compare (const void *a, const void *b)
{
    json_t *x = *(json_t *const *) a, *y = *(json_t *const *) b;
    const char *key = s_sort_key;
    int order;
    if (streq (key, "host") || streq (key, "state"))
        order = strcmp (s_str (x, key), s_str (y, key));
    else
    if (streq (key, "fn"))
        order = strcmp (s_str (x, "current"), s_str (y, "current"));
    else {
        const char *field = streq (key, "heartbeat")? "last_heartbeat_ms": key;
        long long p = s_int (x, field), q = s_int (y, field);
        //  Counts sort highest first, as in top.
        order = streq (key, "id")? (p > q) - (p < q): (q > p) - (q < p);
    }
    return order? order: (int) (s_int (x, "id") - s_int (y, "id"));
}

//  Asks the hub; keeps the last good answers, and what went wrong.
static void
s_refresh (s_top_t *self)
{
    json_t *status = zpar_client_status (self->client);
    json_t *engines = status? zpar_client_engines (self->client): NULL;
    json_t *queue = engines? zpar_client_queue (self->client): NULL;
    if (!queue) {
        snprintf (self->error, sizeof self->error, "%s", zpar_last_error ());
        json_decref (status);
        json_decref (engines);
        return;
    }
    self->error [0] = 0;
    json_decref (self->status);
    json_decref (self->engines);
    json_decref (self->queue);
    self->status = status;
    self->engines = engines;
    self->queue = queue;
    long long done = 0;
    size_t i;
    json_t *engine;
    json_array_foreach (engines, i, engine)
        done += s_int (engine, "completed") + s_int (engine, "failed");
    if (self->samples == S_SAMPLES) {
        memmove (self->sample_ms, self->sample_ms + 1, (S_SAMPLES - 1) * sizeof *self->sample_ms);
        memmove (self->sample_done, self->sample_done + 1, (S_SAMPLES - 1) * sizeof *self->sample_done);
        self->samples--;
    }
    self->sample_ms [self->samples] = zpar_mono_ms ();
    self->sample_done [self->samples++] = done;
}

//  Tasks finished per second over the last few seconds, or -1.
static double
s_rate (s_top_t *self)
{
    if (self->samples < 2)
        return -1;
    size_t last = self->samples - 1, first = 0;
    while (first < last && self->sample_ms [last] - self->sample_ms [first] > S_RATE_WINDOW_MS)
        first++;
    int64_t span = self->sample_ms [last] - self->sample_ms [first];
    //  An engine that left takes its counts along: no negative rate.
    int64_t done = self->sample_done [last] - self->sample_done [first];
    return span > 0? (done > 0? done: 0) * 1000.0 / span: -1;
}

//  One line, cut to the screen's width; on a terminal it erases the rest.
static void
s_line (s_top_t *self, const char *format, ...) __attribute__ ((format (printf, 2, 3)));
static void
s_line (s_top_t *self, const char *format, ...)
{
    char text [1024];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof text, format, args);
    va_end (args);
    if (self->cols > 0 && (size_t) self->cols < sizeof text)
        text [self->cols] = 0;
    //  On a terminal the line break goes before each line but the first:
    //  one after the last line would scroll the screen when it is full.
    if (self->tty && self->lines++)
        fputs ("\033[K\r\n", stdout);
    fputs (text, stdout);
    if (!self->tty)
        fputs ("\n", stdout);
}

static void
s_uptime (long long ms, char *buf, size_t size)
{
    long long s = ms / 1000;
    if (s >= 3600)
        snprintf (buf, size, "%lldh%02lldm", s / 3600, s / 60 % 60);
    else
    if (s >= 60)
        snprintf (buf, size, "%lldm%02llds", s / 60, s % 60);
    else
        snprintf (buf, size, "%llds", s);
}

static void
s_draw (s_top_t *self)
{
    if (self->tty) {
        struct winsize size;
        if (ioctl (STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col && size.ws_row) {
            self->cols = size.ws_col;
            self->rows = size.ws_row;
        }
        fputs ("\033[H", stdout);
    }
    self->lines = 0;
    json_t *hub = json_object_get (self->status, "hub");
    json_t *states = json_object_get (self->status, "engine_states");
    char up [32], rate [32];
    s_uptime (s_int (hub, "uptime_ms"), up, sizeof up);
    double per_second = s_rate (self);
    if (per_second < 0)
        snprintf (rate, sizeof rate, "n/a");
    else
        snprintf (rate, sizeof rate, "%.1f", per_second);
    s_line (self, "zpar top - profile %s - hub pid %lld, up %s - %s tasks/s",
            self->profile, s_int (hub, "pid"), up, rate);
    long long dropped = 0;
    const char *reason;
    json_t *count;
    json_object_foreach (json_object_get (self->status, "dropped"), reason, count)
        dropped += json_integer_value (count);
    long long queued = 0;
    const char *id;
    json_t *row;
    json_object_foreach (json_object_get (self->queue, "engines"), id, row)
        queued += s_int (row, "queue") + s_int (row, "running");
    s_line (self, "engines %lld (%lld busy, %lld idle, %lld registering)  queued: %lld unassigned, "
            "%lld in engines  records %lld (%lld pending)  dropped %lld",
            s_int (self->status, "engines"), s_int (states, "busy"), s_int (states, "idle"),
            s_int (states, "registering"), s_int (self->queue, "unassigned"), queued,
            s_int (self->queue, "records"), s_int (self->queue, "pending"), dropped);
    s_line (self, "%s", self->error [0]? self->error: "");
    s_line (self, "%-5s %-18s %-8s %-11s %-16s %10s %7s %10s %8s", "ID", "HOST", "PID", "STATE",
            "FUNCTION", "COMPLETED", "FAILED", "HEARTBEAT", "RESTARTS");
    size_t count_rows = json_array_size (self->engines), i;
    json_t **rows = calloc (count_rows + 1, sizeof *rows);
    for (i = 0; i < count_rows; i++)
        rows [i] = json_array_get (self->engines, i);
    s_sort_key = self->sort;
    qsort (rows, count_rows, sizeof *rows, s_compare);
    //  On a terminal: room for the four lines above the table and the
    //  three below (more engines, blank, keys).
    size_t room = !self->tty? count_rows: self->rows > 8? (size_t) self->rows - 7: 1;
    for (i = 0; i < count_rows && i < room; i++) {
        char id_text [24];
        snprintf (id_text, sizeof id_text, "%lld", s_int (rows [i], "id"));
        const char *current = s_str (rows [i], "current");
        s_line (self, "%-5s %-18.18s %-8lld %-11s %-16.16s %10lld %7lld %8.1fs %8lld", id_text,
                s_str (rows [i], "host"), s_int (rows [i], "pid"), s_str (rows [i], "state"),
                *current? current: "-", s_int (rows [i], "completed"), s_int (rows [i], "failed"),
                s_int (rows [i], "last_heartbeat_ms") / 1000.0, s_int (rows [i], "restarts"));
    }
    if (i < count_rows)
        s_line (self, "... %zu more engines (make the window taller)", count_rows - i);
    if (!count_rows)
        s_line (self, "(no engines registered)");
    free (rows);
    if (self->tty) {
        s_line (self, "%s", "");
        s_line (self, "sorted by %s - sort: i id, h host, s state, n function, c completed, f failed, "
                "b heartbeat, r restarts - q quits", self->sort);
        fputs ("\033[K\033[J", stdout);
    }
    fflush (stdout);
}

//  Terminal modes to put back however top ends.
static struct termios s_saved;
static bool s_raw;

static void
s_restore (void)
{
    if (!s_raw)
        return;
    fputs ("\033[?25h\033[?1049l", stdout);
    fflush (stdout);
    tcsetattr (STDIN_FILENO, TCSAFLUSH, &s_saved);
    s_raw = false;
}

static int
s_enter (void)
{
    if (tcgetattr (STDIN_FILENO, &s_saved) != 0)
        return -1;
    struct termios raw = s_saved;
    raw.c_lflag &= (tcflag_t) ~(ICANON | ECHO);
    raw.c_cc [VMIN] = 0;
    raw.c_cc [VTIME] = 0;
    if (tcsetattr (STDIN_FILENO, TCSAFLUSH, &raw) != 0)
        return -1;
    s_raw = true;
    static bool registered;
    if (!registered)
        atexit (s_restore);
    registered = true;
    fputs ("\033[?1049h\033[?25l\033[H\033[2J", stdout);
    return 0;
}

int
zpar_cli_top (zpar_client_t *client, const char *profile, const zpar_cli_records_t *options,
              bool as_json)
{
    s_top_t self = {
        .client = client, .sort = options->sort? options->sort: "id",
        .tty = isatty (STDOUT_FILENO) && isatty (STDIN_FILENO), .cols = 0
    };
    if (!profile || !*profile)
        profile = getenv ("ZPAR_PROFILE");
    self.profile = profile && *profile? profile: "default";
    s_refresh (&self);
    if (!self.status) {
        fprintf (stderr, "zpar: %s\n", self.error);
        return 1;
    }
    if (!self.tty || as_json) {
        //  Not a terminal: one snapshot, as a log or a pipe wants it.
        if (as_json) {
            json_t *snapshot = json_pack ("{s:O, s:O, s:O}", "status", self.status,
                                          "engines", self.engines, "queue", self.queue);
            char *text = json_dumps (snapshot, JSON_INDENT (2));
            puts (text? text: "null");
            free (text);
            json_decref (snapshot);
        }
        else
            s_draw (&self);
        json_decref (self.status);
        json_decref (self.engines);
        json_decref (self.queue);
        return 0;
    }
    struct sigaction stop = { .sa_handler = s_on_stop }, resize = { .sa_handler = s_on_resize };
    sigemptyset (&stop.sa_mask);
    sigemptyset (&resize.sa_mask);
    struct sigaction suspend = { .sa_handler = s_on_suspend };
    sigemptyset (&suspend.sa_mask);
    sigaction (SIGINT, &stop, NULL);
    sigaction (SIGTERM, &stop, NULL);
    sigaction (SIGHUP, &stop, NULL);
    sigaction (SIGQUIT, &stop, NULL);
    sigaction (SIGWINCH, &resize, NULL);
    sigaction (SIGTSTP, &suspend, NULL);
    if (s_enter () != 0) {
        fprintf (stderr, "zpar: cannot set up the terminal: %s\n", strerror (errno));
        return 1;
    }
    int64_t interval = options->interval_ms > 0? options->interval_ms: 1000;
    int64_t next = zpar_mono_ms () + interval;
    s_draw (&self);
    while (!s_stop) {
        //  Keys come at once; notifications (engines arriving or leaving)
        //  are taken in at every pass and bring the next refresh forward.
        struct pollfd input = { .fd = STDIN_FILENO, .events = POLLIN };
        int64_t wait = next - zpar_mono_ms ();
        int ready = poll (&input, 1, wait > 100? 100: wait > 0? (int) wait: 0);
        bool redraw = false;
        if (ready > 0) {
            char keys [32];
            ssize_t got = read (STDIN_FILENO, keys, sizeof keys);
            for (ssize_t k = 0; k < got; k++) {
                if (keys [k] == 'q' || keys [k] == 'Q' || keys [k] == 3)
                    s_stop = 1;
                for (int i = 0; s_sorts [i].name; i++)
                    if (keys [k] == s_sorts [i].key) {
                        self.sort = s_sorts [i].name;
                        redraw = true;
                    }
            }
        }
        json_t *before = zpar_client_ids (client);
        zpar_client_pump (client, 0);
        json_t *after = zpar_client_ids (client);
        if (!json_equal (before, after))
            next = zpar_mono_ms ();
        json_decref (before);
        json_decref (after);
        if (s_stop)
            break;
        if (s_suspend) {
            //  Ctrl-Z: the terminal back as it was, stopped for real, and
            //  the screen again once continued.
            s_suspend = 0;
            s_restore ();
            signal (SIGTSTP, SIG_DFL);
            raise (SIGTSTP);
            sigaction (SIGTSTP, &suspend, NULL);
            if (s_enter () != 0)
                break;
            redraw = true;
        }
        if (zpar_mono_ms () >= next) {
            s_refresh (&self);
            next = zpar_mono_ms () + interval;
            redraw = true;
        }
        if (s_resized) {
            s_resized = 0;
            fputs ("\033[2J", stdout);
            redraw = true;
        }
        if (redraw)
            s_draw (&self);
    }
    s_restore ();
    json_decref (self.status);
    json_decref (self.engines);
    json_decref (self.queue);
    return 0;
}
