/*  zpar_msg.c - Jupyter-framed messages: build, decode, sign, send.

    Every frame is a zmq_msg_t: received ones are moved in, not copied,
    and sent as they are; a message copied for sending again shares its
    frames' bytes (zmq_msg_copy).                                        */

#include "zpar_msg.h"
#include "zpar_util.h"

#include <errno.h>
#include <stdatomic.h>

enum { HEADER, PARENT, METADATA, CONTENT };

//  A string member read from a frame without parsing it (see s_scan).
typedef struct {
    bool tried;
    const char *value;          //  text, or NULL
    char text [64];             //  enough for a msg_id of a uuid session and a counter
} s_found_t;

struct _zpar_msg_t {
    zpar_parts_t routes;                //  identity frames before the delimiter
    zmq_msg_t raw [ZPAR_JSON_FRAMES];   //  JSON frames as bytes (valid when encoded)
    bool encoded [ZPAR_JSON_FRAMES];
    json_t *json [ZPAR_JSON_FRAMES];    //  parsed or built objects (NULL until needed)
    bool parsed [ZPAR_JSON_FRAMES];     //  a parse was tried on raw
    bool changed;                       //  a JSON frame was set: re-encode and re-sign
    zpar_parts_t buffers;
    char signature [ZPAR_SIGNATURE_LEN + 1];
    s_found_t id, type, date, parent_id, status;   //  see s_lookup
};

static const char *s_drop_names [ZPAR_DROP_COUNT] = {
    "bad_signature", "replay", "malformed", "oversize", "unknown_type", "handshake"
};

const char *
zpar_drop_name (zpar_drop_t reason)
{
    return reason < ZPAR_DROP_COUNT? s_drop_names [reason]: "unknown";
}

static zpar_msg_t *
s_msg_alloc (void)
{
    return calloc (1, sizeof (zpar_msg_t));
}

//  JSON frame index as bytes (replacing what it held).
static void
s_raw_set (zpar_msg_t *self, int index, const void *data, size_t size)
{
    if (self->encoded [index])
        zmq_msg_close (&self->raw [index]);
    self->encoded [index] = zmq_msg_init_size (&self->raw [index], size) == 0;
    if (self->encoded [index] && size)
        memcpy (zmq_msg_data (&self->raw [index]), data, size);
}

static void
s_raw_drop (zpar_msg_t *self, int index)
{
    if (self->encoded [index])
        zmq_msg_close (&self->raw [index]);
    self->encoded [index] = false;
}

//  Text that can stand between JSON quotes as it is: printable ASCII.
static bool
s_plain (const char *text)
{
    for (const unsigned char *c = (const unsigned char *) text; *c; c++)
        if (*c < 0x20 || *c >= 0x7f || *c == '"' || *c == '\\')
            return false;
    return true;
}

//  $USER, made valid UTF-8 (it may be any bytes), or "zpar".
static const char *
s_username (char *buffer, size_t size)
{
    const char *user = getenv ("USER");
    snprintf (buffer, size, "%s", user && *user? user: "zpar");
    return zpar_utf8_clean (buffer);
}

//  Appends text at *at if it fits before end; false (and nothing) if not.
static bool
s_put (char **at, char *end, const char *text)
{
    size_t length = strlen (text);
    if ((size_t) (end - *at) <= length)
        return false;
    memcpy (*at, text, length + 1);
    *at += length;
    return true;
}

zpar_msg_t *
zpar_msg_new (const char *msg_type, const char *session)
{
    static atomic_ullong counter;
    static __thread char username [64];
    if (!*username)
        s_username (username, sizeof username);
    zpar_msg_t *self = s_msg_alloc ();
    if (!self)
        return NULL;
    session = session? session: "";
    char msg_id [128], date [40], number [24];
    //  The counter by hand: this runs for every message sent.
    unsigned long long value = atomic_fetch_add (&counter, 1) + 1;
    char *digit = number + sizeof number - 1;
    *digit = 0;
    do
        *--digit = (char) ('0' + value % 10);
    while (value /= 10);
    char *at = msg_id, *end = msg_id + sizeof msg_id;
    bool fits = s_put (&at, end, session) && s_put (&at, end, "_") && s_put (&at, end, digit);
    if (!fits)
        snprintf (msg_id, sizeof msg_id, "%.100s_%s", session, digit);
    zpar_iso_date (zpar_wall_us (), date, sizeof date);
    //  Every message needs a header: written as text when its strings need
    //  no escaping (always, for zpar's own), which costs a fraction of
    //  building a JSON object and encoding it.
    char header [512];
    at = header;
    end = header + sizeof header;
    fits = s_put (&at, end, "{\"msg_id\":\"") && s_put (&at, end, msg_id)
        && s_put (&at, end, "\",\"msg_type\":\"") && s_put (&at, end, msg_type)
        && s_put (&at, end, "\",\"session\":\"") && s_put (&at, end, session)
        && s_put (&at, end, "\",\"username\":\"") && s_put (&at, end, username)
        && s_put (&at, end, "\",\"date\":\"") && s_put (&at, end, date)
        && s_put (&at, end, "\",\"version\":\"" ZPAR_PROTOCOL_VERSION "\"}");
    if (fits && s_plain (msg_id) && s_plain (msg_type) && s_plain (session) && s_plain (username)) {
        s_raw_set (self, HEADER, header, (size_t) (at - header));
        //  What the header says is known: no scan needed.
        s_found_t *found [] = { &self->id, &self->type, &self->date };
        const char *text [] = { msg_id, msg_type, date };
        for (int i = 0; i < 3; i++)
            if (strlen (text [i]) < sizeof found [i]->text) {
                strcpy (found [i]->text, text [i]);
                found [i]->value = found [i]->text;
                found [i]->tried = true;
            }
    }
    else {
        self->json [HEADER] = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s}",
            "msg_id", msg_id, "msg_type", msg_type, "session", session,
            "username", username, "date", date, "version", ZPAR_PROTOCOL_VERSION);
        self->parsed [HEADER] = true;
    }
    //  Empty objects until set: as text too.
    for (int i = PARENT; i <= CONTENT; i++)
        s_raw_set (self, i, "{}", 2);
    self->changed = true;
    return self;
}

zpar_msg_t *
zpar_msg_new_reply (zpar_msg_t *request, const char *msg_type, const char *session)
{
    zpar_msg_t *self = zpar_msg_new (msg_type, session);
    //  The parent is the request's header: its bytes as they came, shared,
    //  not parsed, copied and encoded again.
    if (request->encoded [HEADER]) {
        json_decref (self->json [PARENT]);
        self->json [PARENT] = NULL;
        self->parsed [PARENT] = false;
        s_raw_drop (self, PARENT);
        zmq_msg_init (&self->raw [PARENT]);
        self->encoded [PARENT] = zmq_msg_copy (&self->raw [PARENT], &request->raw [HEADER]) == 0;
    }
    else
    if (zpar_msg_header (request))
        zpar_msg_set_parent (self, json_deep_copy (zpar_msg_header (request)));
    for (size_t i = 0; i < request->routes.count; i++)
        zpar_msg_add_route (self, zmq_msg_data (&request->routes.part [i]),
                            zmq_msg_size (&request->routes.part [i]));
    return self;
}

void
zpar_msg_destroy (zpar_msg_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zpar_msg_t *self = *self_p;
    zpar_parts_free (&self->routes);
    zpar_parts_free (&self->buffers);
    for (int i = 0; i < ZPAR_JSON_FRAMES; i++) {
        s_raw_drop (self, i);
        json_decref (self->json [i]);
    }
    free (self);
    *self_p = NULL;
}

//  Shares every part of from after those of to (no bytes copied).
static int
s_parts_share (zpar_parts_t *to, zpar_parts_t *from)
{
    for (size_t i = 0; i < from->count; i++) {
        zmq_msg_t *part = zpar_parts_add (to);
        if (!part || zmq_msg_copy (part, &from->part [i]) != 0)
            return -1;
    }
    return 0;
}

zpar_msg_t *
zpar_msg_dup (zpar_msg_t *self)
{
    zpar_msg_t *copy = s_msg_alloc ();
    if (!copy)
        return NULL;
    s_parts_share (&copy->routes, &self->routes);
    s_parts_share (&copy->buffers, &self->buffers);
    for (int i = 0; i < ZPAR_JSON_FRAMES; i++) {
        if (self->encoded [i]) {
            zmq_msg_init (&copy->raw [i]);
            copy->encoded [i] = zmq_msg_copy (&copy->raw [i], &self->raw [i]) == 0;
        }
        copy->json [i] = self->json [i]? json_deep_copy (self->json [i]): NULL;
        copy->parsed [i] = self->parsed [i];
    }
    copy->changed = self->changed;
    memcpy (copy->signature, self->signature, sizeof self->signature);
    return copy;
}

static bool
s_is_delimiter (zmq_msg_t *part)
{
    return zmq_msg_size (part) == sizeof ZPAR_DELIM - 1
        && memcmp (zmq_msg_data (part), ZPAR_DELIM, sizeof ZPAR_DELIM - 1) == 0;
}

//  What is signed: the four JSON frames, as Jupyter signs them, then each
//  buffer preceded by its length (8 bytes, big-endian), so that a buffer
//  can be neither changed nor split, merged or dropped. A message without
//  buffers has Jupyter's signature.
#define S_SIGNED_INLINE 16      //  buffers signed without allocating

static int
s_sign_frames (zpar_sign_t *signer, zmq_msg_t json [], zmq_msg_t buffers [], size_t count,
               char *signature, const void *received, size_t received_size)
{
    const void *parts_inline [ZPAR_JSON_FRAMES + 2 * S_SIGNED_INLINE], **parts = parts_inline;
    size_t sizes_inline [ZPAR_JSON_FRAMES + 2 * S_SIGNED_INLINE], *sizes = sizes_inline;
    uint8_t lengths_inline [S_SIGNED_INLINE][8], (*lengths) [8] = lengths_inline;
    if (count > S_SIGNED_INLINE) {
        parts = malloc ((ZPAR_JSON_FRAMES + 2 * count) * sizeof *parts);
        sizes = malloc ((ZPAR_JSON_FRAMES + 2 * count) * sizeof *sizes);
        lengths = malloc (count * sizeof *lengths);
        if (!parts || !sizes || !lengths) {
            free (parts);
            free (sizes);
            free (lengths);
            return -1;
        }
    }
    size_t n = 0;
    for (int i = 0; i < ZPAR_JSON_FRAMES; i++, n++) {
        parts [n] = zmq_msg_data (&json [i]);
        sizes [n] = zmq_msg_size (&json [i]);
    }
    for (size_t b = 0; b < count; b++) {
        uint64_t size = zmq_msg_size (&buffers [b]);
        for (int k = 0; k < 8; k++)
            lengths [b][k] = (uint8_t) (size >> (56 - 8 * k));
        parts [n] = lengths [b];
        sizes [n++] = 8;
        parts [n] = zmq_msg_data (&buffers [b]);
        sizes [n++] = (size_t) size;
    }
    int rc = 0;
    if (signature)
        zpar_sign_parts (signer, parts, sizes, n, signature);
    else
        rc = zpar_sign_verify (signer, parts, sizes, n, received, received_size);
    if (parts != parts_inline) {
        free (parts);
        free (sizes);
        free (lengths);
    }
    return rc;
}

static json_t *
s_parse_object (zmq_msg_t *part)
{
    json_t *value = json_loadb ((const char *) zmq_msg_data (part), zmq_msg_size (part),
                                JSON_REJECT_DUPLICATES, NULL);
    if (value && !json_is_object (value)) {
        json_decref (value);
        value = NULL;
    }
    return value;
}

//  A decoded message whose header has no msg_id or msg_type is dropped.
static int s_scan_keys (const void *text, size_t text_size, const char *const keys [], size_t nkeys,
                        bool number, char *const outs [], const size_t sizes []);

//  msg_id and msg_type read from the header in one pass (see s_lookup).
static void
s_scan_ids (zpar_msg_t *self)
{
    if (self->parsed [HEADER] || !self->encoded [HEADER] || self->id.tried || self->type.tried)
        return;
    const char *const keys [] = { "msg_id", "msg_type" };
    char *const outs [] = { self->id.text, self->type.text };
    const size_t sizes [] = { sizeof self->id.text, sizeof self->type.text };
    self->id.tried = self->type.tried = true;
    if (s_scan_keys (zmq_msg_data (&self->raw [HEADER]), zmq_msg_size (&self->raw [HEADER]),
                     keys, 2, false, outs, sizes) < 0)
        return;
    //  An empty or cut value is left to the parser.
    self->id.value = *self->id.text? self->id.text: NULL;
    self->type.value = *self->type.text? self->type.text: NULL;
}

static zpar_msg_t *
s_check_header (zpar_msg_t *self, zpar_drop_t *reason)
{
    if (self)
        s_scan_ids (self);
    if (self && (!zpar_msg_id (self) || !zpar_msg_type (self))) {
        zpar_msg_destroy (&self);
        if (reason)
            *reason = ZPAR_DROP_MALFORMED;
    }
    return self;
}

zpar_msg_t *
zpar_msg_decode (zmsg_t **raw_p, zpar_sign_t *signer, size_t max_size,
                 const char *scope, zpar_drop_t *reason)
{
    return s_check_header (zpar_msg_decode_frames (raw_p, signer, max_size, scope, reason), reason);
}

zpar_msg_t *
zpar_msg_decode_parts (zpar_parts_t *raw, zpar_sign_t *signer, size_t max_size,
                       const char *scope, zpar_drop_t *reason)
{
    return s_check_header (zpar_msg_decode_parts_frames (raw, signer, max_size, scope, reason), reason);
}

zpar_msg_t *
zpar_msg_decode_frames (zmsg_t **raw_p, zpar_sign_t *signer, size_t max_size,
                        const char *scope, zpar_drop_t *reason)
{
    zpar_parts_t parts = ZPAR_PARTS_EMPTY;
    int rc = zpar_parts_take_zmsg (&parts, raw_p);
    zpar_msg_t *self = rc == 0? zpar_msg_decode_parts_frames (&parts, signer, max_size, scope, reason): NULL;
    if (rc != 0 && reason)
        *reason = ZPAR_DROP_MALFORMED;
    zpar_parts_free (&parts);
    return self;
}

zpar_msg_t *
zpar_msg_decode_parts_frames (zpar_parts_t *raw, zpar_sign_t *signer, size_t max_size,
                              const char *scope, zpar_drop_t *reason)
{
    zpar_msg_t *self = NULL;
    zpar_drop_t why = ZPAR_DROP_MALFORMED;

    if (max_size && zpar_parts_bytes (raw) > max_size) {
        why = ZPAR_DROP_OVERSIZE;
        goto drop;
    }
    //  Find the delimiter; everything before it is routing.
    size_t routes = 0;
    while (routes < raw->count && !s_is_delimiter (&raw->part [routes]))
        routes++;
    if (routes == raw->count || raw->count < routes + 2 + ZPAR_JSON_FRAMES)
        goto drop;
    zmq_msg_t *signature = &raw->part [routes + 1];
    zmq_msg_t *json = &raw->part [routes + 2];
    //  The buffers, if any, are the frames after these: signed too.
    size_t first_buffer = routes + 2 + ZPAR_JSON_FRAMES;
    if (s_sign_frames (signer, json, raw->part + first_buffer, raw->count - first_buffer, NULL,
                       zmq_msg_data (signature), zmq_msg_size (signature)) != 0) {
        why = ZPAR_DROP_BAD_SIGNATURE;
        goto drop;
    }
    if (zpar_sign_seen (signer, scope, (const char *) zmq_msg_data (signature),
                        zmq_msg_size (signature))) {
        why = ZPAR_DROP_REPLAY;
        goto drop;
    }
    self = s_msg_alloc ();
    if (!self)
        goto drop;
    for (size_t i = 0; i < routes; i++)
        if (zpar_parts_add_move (&self->routes, &raw->part [i]) != 0)
            goto drop;
    memcpy (self->signature, zmq_msg_data (signature), ZPAR_SIGNATURE_LEN);
    for (int i = 0; i < ZPAR_JSON_FRAMES; i++) {
        zmq_msg_init (&self->raw [i]);
        zmq_msg_move (&self->raw [i], &json [i]);
        self->encoded [i] = true;
    }
    for (size_t i = first_buffer; i < raw->count; i++)
        if (zpar_parts_add_move (&self->buffers, &raw->part [i]) != 0)
            goto drop;
    zpar_parts_clear (raw);
    return self;

drop:
    zpar_parts_clear (raw);
    zpar_msg_destroy (&self);
    if (reason)
        *reason = why;
    return NULL;
}

static json_t *
s_json (zpar_msg_t *self, int index)
{
    if (!self->parsed [index]) {
        self->parsed [index] = true;
        if (self->encoded [index])
            self->json [index] = s_parse_object (&self->raw [index]);
    }
    return self->json [index];
}

json_t *zpar_msg_header (zpar_msg_t *self)   { return s_json (self, HEADER); }
json_t *zpar_msg_parent (zpar_msg_t *self)   { return s_json (self, PARENT); }
json_t *zpar_msg_metadata (zpar_msg_t *self) { return s_json (self, METADATA); }
json_t *zpar_msg_content (zpar_msg_t *self)  { return s_json (self, CONTENT); }

static void
s_set (zpar_msg_t *self, int index, json_t *value)
{
    json_decref (self->json [index]);
    self->json [index] = value? value: json_object ();
    self->parsed [index] = true;
    s_raw_drop (self, index);
    self->changed = true;
}

void
zpar_msg_set_text (zpar_msg_t *self, int index, const char *text, size_t size)
{
    if (index < PARENT || index > CONTENT)
        return;
    json_decref (self->json [index]);
    self->json [index] = NULL;
    self->parsed [index] = false;
    s_raw_set (self, index, text, size);
    self->changed = true;
}

void zpar_msg_set_parent (zpar_msg_t *self, json_t *value)   { s_set (self, PARENT, value); }
void zpar_msg_set_metadata (zpar_msg_t *self, json_t *value) { s_set (self, METADATA, value); }
void zpar_msg_set_content (zpar_msg_t *self, json_t *value)  { s_set (self, CONTENT, value); }

static const char *
s_string (json_t *object, const char *key)
{
    return object? json_string_value (json_object_get (object, key)): NULL;
}

//  A top-level string member of the JSON object in a frame, found without
//  building the object: routers need two or three keys of every message,
//  and a full parse is most of their work. The scanner checks the whole
//  text as the parser would, but knows only plain text: strings of
//  printable ASCII without backslashes, and nesting up to S_SCAN_DEPTH.
//  Anything else, a duplicate key or a value that does not fit out makes
//  it unsure (-1), and the caller parses.
#define S_SCAN_DEPTH 16
#define S_SCAN_KEYS  32         //  more keys in one object: unsure

#define S_SCAN_WANT  4          //  keys looked for in one pass

typedef struct {
    const char *at, *end;
    const char *const *keys;
    size_t key_length [S_SCAN_WANT];
    size_t nwanted;
    bool number;                //  the values wanted: integers, else strings
    bool raw;                   //  or any values, as their JSON text
    const char *found [S_SCAN_WANT];    //  the value of each key at depth 1, quotes off
    size_t found_length [S_SCAN_WANT];
} s_scanner_t;

static void
s_scan_space (s_scanner_t *scan)
{
    while (scan->at < scan->end && (*scan->at == ' ' || *scan->at == '\n'
                                 || *scan->at == '\t' || *scan->at == '\r'))
        scan->at++;
}

//  A string at the cursor; its text in *text, *length. False if not plain.
static bool
s_scan_string (s_scanner_t *scan, const char **text, size_t *length)
{
    if (scan->at >= scan->end || *scan->at != '"')
        return false;
    const char *start = ++scan->at;
    //  Eight bytes at a time while none is a quote, a backslash, a control
    //  character or outside ASCII (bit tricks: a byte of v is zero, or
    //  below n, when the test word has its high bit set).
    #define S_ONES   0x0101010101010101ULL
    #define S_HIGHS  0x8080808080808080ULL
    #define S_ZERO(v)     (((v) - S_ONES) & ~(v) & S_HIGHS)
    #define S_BELOW(v, n) (((v) - S_ONES * (n)) & ~(v) & S_HIGHS)
    while (scan->end - scan->at >= 8) {
        uint64_t word;
        memcpy (&word, scan->at, 8);
        if (S_ZERO (word ^ (S_ONES * '"')) | S_ZERO (word ^ (S_ONES * '\\')) | S_BELOW (word, 0x20)
        |  S_ZERO (word ^ (S_ONES * 0x7f)) | (word & S_HIGHS))
            break;
        scan->at += 8;
    }
    while (scan->at < scan->end && *scan->at != '"') {
        unsigned char c = (unsigned char) *scan->at++;
        if (c < 0x20 || c >= 0x7f || c == '\\')
            return false;
    }
    if (scan->at >= scan->end)
        return false;
    *text = start;
    *length = (size_t) (scan->at++ - start);
    return true;
}

static bool
s_scan_digits (s_scanner_t *scan)
{
    const char *start = scan->at;
    while (scan->at < scan->end && *scan->at >= '0' && *scan->at <= '9')
        scan->at++;
    return scan->at > start;
}

static bool
s_scan_literal (s_scanner_t *scan, const char *word)
{
    size_t length = strlen (word);
    if ((size_t) (scan->end - scan->at) < length || memcmp (scan->at, word, length) != 0)
        return false;
    scan->at += length;
    return true;
}

static bool s_scan_value (s_scanner_t *scan, int depth);

//  An object or array at the cursor, whose opening is { or [.
static bool
s_scan_container (s_scanner_t *scan, int depth)
{
    bool object = *scan->at++ == '{';
    char close = object? '}': ']';
    //  The parser refuses duplicate keys at any depth: so does the scanner
    //  (it compares them as bytes, which is exact for plain strings).
    struct { const char *name; size_t length; } keys [S_SCAN_KEYS];
    size_t nkeys = 0;
    s_scan_space (scan);
    if (scan->at < scan->end && *scan->at == close) {
        scan->at++;
        return true;
    }
    while (true) {
        if (object) {
            const char *name;
            size_t length;
            if (!s_scan_string (scan, &name, &length) || nkeys == S_SCAN_KEYS)
                return false;
            for (size_t k = 0; k < nkeys; k++)
                if (keys [k].length == length && memcmp (keys [k].name, name, length) == 0)
                    return false;
            keys [nkeys].name = name;
            keys [nkeys++].length = length;
            s_scan_space (scan);
            if (scan->at >= scan->end || *scan->at++ != ':')
                return false;
            s_scan_space (scan);
            size_t want = scan->nwanted;
            for (size_t k = 0; depth == 1 && k < scan->nwanted; k++)
                if (length == scan->key_length [k] && memcmp (name, scan->keys [k], length) == 0)
                    want = k;
            if (want < scan->nwanted) {
                //  A duplicate key is refused above, so found is still empty.
                if (scan->raw) {
                    const char *start = scan->at;
                    if (!s_scan_value (scan, depth + 1))
                        return false;
                    scan->found [want] = start;
                    scan->found_length [want] = (size_t) (scan->at - start);
                }
                else
                if (scan->number) {
                    const char *start = scan->at;
                    if (scan->at >= scan->end || (*scan->at != '-' && (*scan->at < '0' || *scan->at > '9'))
                    ||  !s_scan_value (scan, depth + 1))
                        return false;
                    scan->found [want] = start;
                    scan->found_length [want] = (size_t) (scan->at - start);
                }
                else
                if (!s_scan_string (scan, &scan->found [want], &scan->found_length [want]))
                    return false;
            }
            else
            if (!s_scan_value (scan, depth + 1))
                return false;
        }
        else
        if (!s_scan_value (scan, depth + 1))
            return false;
        s_scan_space (scan);
        if (scan->at >= scan->end)
            return false;
        char c = *scan->at++;
        if (c == close)
            return true;
        if (c != ',')
            return false;
        s_scan_space (scan);
    }
}

static bool
s_scan_value (s_scanner_t *scan, int depth)
{
    if (scan->at >= scan->end || depth > S_SCAN_DEPTH)
        return false;
    char c = *scan->at;
    if (c == '{' || c == '[')
        return s_scan_container (scan, depth);
    if (c == '"') {
        const char *text;
        size_t length;
        return s_scan_string (scan, &text, &length);
    }
    if (c == 't')
        return s_scan_literal (scan, "true");
    if (c == 'f')
        return s_scan_literal (scan, "false");
    if (c == 'n')
        return s_scan_literal (scan, "null");
    //  A number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
    //  One the parser may find out of range (an integer past 64 bits, an
    //  exponent of three digits or more) makes the scanner unsure.
    if (c == '-')
        scan->at++;
    const char *digits = scan->at;
    if (scan->at < scan->end && *scan->at == '0')
        scan->at++;
    else
    if (!s_scan_digits (scan))
        return false;
    size_t integer_digits = (size_t) (scan->at - digits);
    bool real = false;
    if (scan->at < scan->end && *scan->at == '.') {
        scan->at++;
        real = true;
        if (!s_scan_digits (scan))
            return false;
    }
    size_t raised = 0;                  //  a positive exponent's value
    if (scan->at < scan->end && (*scan->at == 'e' || *scan->at == 'E')) {
        scan->at++;
        real = true;
        bool negative = scan->at < scan->end && *scan->at == '-';
        if (scan->at < scan->end && (*scan->at == '+' || *scan->at == '-'))
            scan->at++;
        const char *exponent = scan->at;
        if (!s_scan_digits (scan) || scan->at - exponent > 2)
            return false;
        for (const char *digit = exponent; !negative && digit < scan->at; digit++)
            raised = raised * 10 + (size_t) (*digit - '0');
    }
    //  Below 10^(integer digits + exponent): past 10^307 a double may
    //  overflow, which the parser refuses.
    return real? integer_digits + raised < 308: integer_digits < 19;
}

//  The values of up to S_SCAN_WANT keys in one pass: -1 when the text is
//  unsure, else how many keys were found; each found one is in its out
//  (NUL-terminated), each other out is "". A value too long for its out
//  counts as not found.
//  Scans the whole text for keys; false when unsure.
static bool
s_scan_run (s_scanner_t *scan, const void *text, size_t text_size, const char *const keys [], size_t nkeys)
{
    scan->at = (const char *) text;
    scan->end = (const char *) text + text_size;
    scan->keys = keys;
    scan->nwanted = nkeys < S_SCAN_WANT? nkeys: S_SCAN_WANT;
    for (size_t k = 0; k < scan->nwanted; k++)
        scan->key_length [k] = strlen (keys [k]);
    s_scan_space (scan);
    if (scan->at >= scan->end || *scan->at != '{' || !s_scan_container (scan, 1))
        return false;
    s_scan_space (scan);
    return scan->at == scan->end;
}

static int
s_scan_keys (const void *text, size_t text_size, const char *const keys [], size_t nkeys,
             bool number, char *const outs [], const size_t sizes [])
{
    s_scanner_t scan = { .number = number };
    if (!s_scan_run (&scan, text, text_size, keys, nkeys))
        return -1;
    int found = 0;
    for (size_t k = scan.nwanted; k < nkeys; k++)
        *outs [k] = 0;                  //  past what one pass looks for
    for (size_t k = 0; k < scan.nwanted; k++) {
        *outs [k] = 0;
        if (scan.found [k] && scan.found_length [k] < sizes [k]) {
            memcpy (outs [k], scan.found [k], scan.found_length [k]);
            outs [k][scan.found_length [k]] = 0;
            found++;
        }
    }
    return found;
}

//  Returns 0 with the value in out, or -1 when unsure or absent.
static int
s_scan (const void *text, size_t text_size, const char *key, bool number, char *out, size_t size)
{
    const char *keys [] = { key };
    char *outs [] = { out };
    size_t sizes [] = { size };
    return s_scan_keys (text, text_size, keys, 1, number, outs, sizes) == 1? 0: -1;
}

int
zpar_json_scan_string (const void *text, size_t size, const char *key, char *out, size_t out_size)
{
    return s_scan (text, size, key, false, out, out_size);
}

int
zpar_msg_scan_members (zpar_msg_t *self, int index, const char *const keys [], size_t nkeys,
                       const char *texts [], size_t sizes [])
{
    if (index < 0 || index >= ZPAR_JSON_FRAMES || self->parsed [index] || !self->encoded [index]
    ||  nkeys > S_SCAN_WANT)
        return -1;
    s_scanner_t scan = { .raw = true };
    if (!s_scan_run (&scan, zmq_msg_data (&self->raw [index]), zmq_msg_size (&self->raw [index]),
                     keys, nkeys))
        return -1;
    for (size_t k = 0; k < nkeys; k++) {
        texts [k] = scan.found [k];
        sizes [k] = scan.found [k]? scan.found_length [k]: 0;
    }
    return 0;
}

json_t *
zpar_msg_ok_result (zpar_msg_t *self)
{
    if (self->parsed [CONTENT] || !self->encoded [CONTENT])
        return NULL;
    const char *const keys [] = { "status", "result" };
    s_scanner_t scan = { .raw = true };
    if (!s_scan_run (&scan, zmq_msg_data (&self->raw [CONTENT]), zmq_msg_size (&self->raw [CONTENT]), keys, 2)
    ||  !scan.found [0] || scan.found_length [0] != 4 || memcmp (scan.found [0], "\"ok\"", 4) != 0)
        return NULL;
    if (!scan.found [1])
        return json_null ();
    return json_loadb (scan.found [1], scan.found_length [1], JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
}

int
zpar_json_scan_strings (const void *text, size_t size, const char *const keys [], size_t nkeys,
                        char *const outs [], const size_t out_sizes [])
{
    return s_scan_keys (text, size, keys, nkeys, false, outs, out_sizes);
}


//  A string member of JSON frame index: scanned from the bytes when the
//  frame was not parsed yet, else from the parse.
static const char *
s_lookup (zpar_msg_t *self, int index, const char *key, s_found_t *found)
{
    if (!self->parsed [index] && self->encoded [index]) {
        if (!found->tried) {
            found->tried = true;
            if (s_scan (zmq_msg_data (&self->raw [index]), zmq_msg_size (&self->raw [index]), key,
                        false, found->text, sizeof found->text) == 0)
                found->value = found->text;
        }
        if (found->value)
            return found->value;
    }
    return s_string (s_json (self, index), key);
}

const char *zpar_msg_type (zpar_msg_t *self) { return s_lookup (self, HEADER, "msg_type", &self->type); }
const char *zpar_msg_id (zpar_msg_t *self)   { return s_lookup (self, HEADER, "msg_id", &self->id); }
const char *zpar_msg_date (zpar_msg_t *self) { return s_lookup (self, HEADER, "date", &self->date); }
const char *zpar_msg_parent_id (zpar_msg_t *self) { return s_lookup (self, PARENT, "msg_id", &self->parent_id); }

const char *zpar_msg_status (zpar_msg_t *self) { return s_lookup (self, METADATA, "status", &self->status); }

bool
zpar_msg_metadata_integer (zpar_msg_t *self, const char *key, long long *value)
{
    char text [32], *end;
    if (!self->parsed [METADATA] && self->encoded [METADATA]
    &&  s_scan (zmq_msg_data (&self->raw [METADATA]), zmq_msg_size (&self->raw [METADATA]), key,
                true, text, sizeof text) == 0) {
        errno = 0;
        long long number = strtoll (text, &end, 10);
        if (!*end && !errno) {
            *value = number;
            return true;
        }
    }
    json_t *member = json_object_get (zpar_msg_metadata (self), key);
    if (!json_is_integer (member))
        return false;
    *value = json_integer_value (member);
    return true;
}

zmq_msg_t *
zpar_msg_frame (zpar_msg_t *self, int index)
{
    return index >= 0 && index < ZPAR_JSON_FRAMES && self->encoded [index]? &self->raw [index]: NULL;
}

const char *
zpar_msg_signature (zpar_msg_t *self)
{
    return self->signature;
}

//  Serialises changed JSON frames and signs them.
static void
s_seal (zpar_msg_t *self, zpar_sign_t *signer)
{
    if (!self->changed)
        return;
    for (int i = 0; i < ZPAR_JSON_FRAMES; i++)
        if (!self->encoded [i]) {
            //  Most frames fit the stack: one copy into the frame, no
            //  string allocated for it.
            char text [2048];
            size_t size = self->json [i]? json_dumpb (self->json [i], text, sizeof text, JSON_COMPACT): 0;
            if (size > sizeof text) {
                char *long_text = json_dumps (self->json [i], JSON_COMPACT);
                s_raw_set (self, i, long_text? long_text: "{}", long_text? strlen (long_text): 2);
                free (long_text);
            }
            else
                s_raw_set (self, i, size? text: "{}", size? size: 2);
        }
    s_sign_frames (signer, self->raw, self->buffers.part, self->buffers.count, self->signature, NULL, 0);
    self->changed = false;
}

size_t
zpar_msg_size (zpar_msg_t *self, zpar_sign_t *signer)
{
    s_seal (self, signer);
    size_t size = zpar_parts_bytes (&self->routes) + zpar_parts_bytes (&self->buffers)
                + sizeof ZPAR_DELIM - 1 + ZPAR_SIGNATURE_LEN;
    for (int i = 0; i < ZPAR_JSON_FRAMES; i++)
        size += zmq_msg_size (&self->raw [i]);
    return size;
}

zmsg_t *
zpar_msg_encode (zpar_msg_t *self, zpar_sign_t *signer, bool routes, bool buffers)
{
    s_seal (self, signer);
    zmsg_t *raw = zmsg_new ();
    for (size_t i = 0; routes && i < self->routes.count; i++)
        zmsg_addmem (raw, zmq_msg_data (&self->routes.part [i]), zmq_msg_size (&self->routes.part [i]));
    zmsg_addmem (raw, ZPAR_DELIM, sizeof ZPAR_DELIM - 1);
    zmsg_addmem (raw, self->signature, ZPAR_SIGNATURE_LEN);
    for (int i = 0; i < ZPAR_JSON_FRAMES; i++)
        zmsg_addmem (raw, zmq_msg_data (&self->raw [i]), zmq_msg_size (&self->raw [i]));
    for (size_t i = 0; buffers && i < self->buffers.count; i++)
        zmsg_addmem (raw, zmq_msg_data (&self->buffers.part [i]), zmq_msg_size (&self->buffers.part [i]));
    return raw;
}

//  Sends the message from its route first on; a part that left is left
//  empty. The first refusal ends it (as zmsg_send does: a send timeout
//  must not be waited out once per frame).
static int
s_send (zpar_msg_t *self, void *handle, size_t first)
{
    int rc = 0;
    bool more_after_json = self->buffers.count > 0;
    for (size_t i = first; rc == 0 && i < self->routes.count; i++) {
        //  A signal while the first frame waits for room is no failure.
        while ((rc = zmq_msg_send (&self->routes.part [i], handle, ZMQ_SNDMORE) < 0? -1: 0) != 0
           &&  i == first && errno == EINTR && !zsys_interrupted)
            ;
    }
    bool routed = self->routes.count > first;
    while (rc == 0 && zmq_send (handle, ZPAR_DELIM, sizeof ZPAR_DELIM - 1, ZMQ_SNDMORE) < 0) {
        if (routed || errno != EINTR || zsys_interrupted)
            rc = -1;
    }
    if (rc == 0 && zmq_send (handle, self->signature, ZPAR_SIGNATURE_LEN, ZMQ_SNDMORE) < 0)
        rc = -1;
    for (int i = 0; rc == 0 && i < ZPAR_JSON_FRAMES; i++)
        if (zmq_msg_send (&self->raw [i], handle,
                          i < ZPAR_JSON_FRAMES - 1 || more_after_json? ZMQ_SNDMORE: 0) < 0)
            rc = -1;
    for (size_t i = 0; rc == 0 && i < self->buffers.count; i++)
        if (zmq_msg_send (&self->buffers.part [i], handle,
                          i + 1 < self->buffers.count? ZMQ_SNDMORE: 0) < 0)
            rc = -1;
    return rc;
}

int
zpar_msg_send (zpar_msg_t **self_p, void *sock, zpar_sign_t *signer)
{
    s_seal (*self_p, signer);
    int rc = s_send (*self_p, zsock_resolve (sock), 0);
    zpar_msg_destroy (self_p);
    return rc;
}

int
zpar_msg_send_or_keep (zpar_msg_t **self_p, void *sock, zpar_sign_t *signer)
{
    zpar_msg_t *self = *self_p;
    s_seal (self, signer);
    void *handle = zsock_resolve (sock);
    size_t first = 0;
    if (self->routes.count) {
        //  A ROUTER refuses a message on its first frame, or not at all;
        //  a part that did not leave is still the message's.
        if (zmq_msg_send (&self->routes.part [0], handle, ZMQ_SNDMORE) < 0)
            return -1;
        first = 1;
    }
    int rc = s_send (self, handle, first);
    zpar_msg_destroy (self_p);
    return rc == 0? 0: 1;
}

size_t
zpar_msg_routes (zpar_msg_t *self)
{
    return self->routes.count;
}

zmq_msg_t *
zpar_msg_route (zpar_msg_t *self, size_t index)
{
    return index < self->routes.count? &self->routes.part [index]: NULL;
}

void
zpar_msg_push_route (zpar_msg_t *self, const void *data, size_t size)
{
    if (zpar_parts_add_mem (&self->routes, data, size) != 0)
        return;
    zmq_msg_t added = self->routes.part [self->routes.count - 1];
    memmove (self->routes.part + 1, self->routes.part, (self->routes.count - 1) * sizeof added);
    self->routes.part [0] = added;
}

void
zpar_msg_add_route (zpar_msg_t *self, const void *data, size_t size)
{
    zpar_parts_add_mem (&self->routes, data, size);
}

zframe_t *
zpar_msg_pop_route (zpar_msg_t *self)
{
    if (!self->routes.count)
        return NULL;
    zmq_msg_t *first = &self->routes.part [0];
    zframe_t *frame = zframe_new (zmq_msg_data (first), zmq_msg_size (first));
    zmq_msg_close (first);
    memmove (self->routes.part, self->routes.part + 1, --self->routes.count * sizeof *first);
    return frame;
}

void
zpar_msg_swap_routes (zpar_msg_t *self)
{
    if (self->routes.count < 2)
        return;
    zmq_msg_t first = self->routes.part [0];
    self->routes.part [0] = self->routes.part [1];
    self->routes.part [1] = first;
}

void
zpar_msg_clear_routes (zpar_msg_t *self)
{
    zpar_parts_clear (&self->routes);
}

size_t
zpar_msg_buffers (zpar_msg_t *self)
{
    return self->buffers.count;
}

zmq_msg_t *
zpar_msg_buffer (zpar_msg_t *self, size_t index)
{
    return index < self->buffers.count? &self->buffers.part [index]: NULL;
}

void
zpar_msg_take_buffers (zpar_msg_t *self, zpar_parts_t *into)
{
    for (size_t i = 0; i < self->buffers.count; i++)
        zpar_parts_add_move (into, &self->buffers.part [i]);
    zpar_parts_clear (&self->buffers);
    self->changed = true;
}

void
zpar_msg_give_buffer (zpar_msg_t *self, void *data, size_t size, zmq_free_fn *free_fn, void *hint)
{
    zmq_msg_t *part = zpar_parts_add (&self->buffers);
    if (!part || zmq_msg_init_data (part, data, size, free_fn, hint) != 0) {
        if (part)
            self->buffers.count--;
        free_fn (data, hint);
        return;
    }
    self->changed = true;               //  buffers are signed
}

void
zpar_msg_share_buffer (zpar_msg_t *self, zmq_msg_t *buffer)
{
    zmq_msg_t *part = zpar_parts_add (&self->buffers);
    if (part && zmq_msg_copy (part, buffer) != 0)
        self->buffers.count--;
    self->changed = true;
}

void
zpar_msg_append_buffers (zpar_msg_t *self, zpar_parts_t *buffers)
{
    for (size_t i = 0; i < buffers->count; i++)
        zpar_parts_add_move (&self->buffers, &buffers->part [i]);
    zpar_parts_clear (buffers);
    self->changed = true;
}

void
zpar_msg_add_buffer (zpar_msg_t *self, const void *data, size_t size)
{
    zpar_parts_add_mem (&self->buffers, data, size);
    self->changed = true;               //  buffers are signed
}
