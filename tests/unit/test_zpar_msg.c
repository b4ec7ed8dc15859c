/*  Jupyter framing: building, decoding, each drop reason.               */

#include <criterion/criterion.h>
#include <stdio.h>

#include "zpar_msg.h"
#include "zpar_util.h"
#include "zpar_test.h"

static const char *s_key = "5e2c0b7a4f0f4c7f9d7b6c5a4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d";

static zpar_sign_t *s_signer;

static void s_setup (void)    { s_signer = zpar_sign_new (s_key, 64); }
static void s_teardown (void) { zpar_sign_destroy (&s_signer); }

TestSuite (zpar_msg, .init = s_setup, .fini = s_teardown);

static zmsg_t *
s_sample (void)
{
    zpar_msg_t *msg = zpar_msg_new ("apply_request", "session-1");
    zpar_msg_set_content (msg, json_pack ("{s:s, s:[i]}", "fn", "echo", "args", 7));
    zpar_msg_set_metadata (msg, json_pack ("{s:i}", "retries", 0));
    zpar_msg_add_route (msg, "client", 6);
    zpar_msg_add_buffer (msg, "\x00\x01\x02", 3);
    zmsg_t *raw = zpar_msg_encode (msg, s_signer, true, true);
    zpar_msg_destroy (&msg);
    return raw;
}

#define s_frames zt_frames

//  A validly signed message with these four JSON frames.
static zmsg_t *
s_signed (const char *header, const char *parent, const char *metadata, const char *content)
{
    return zt_signed (s_signer, header, parent, metadata, content);
}

static zpar_drop_t
s_drop_reason (zmsg_t *raw, size_t max_size)
{
    zpar_drop_t reason = ZPAR_DROP_COUNT;
    zpar_msg_t *msg = zpar_msg_decode (&raw, s_signer, max_size, NULL, &reason);
    cr_assert_null (msg, "message was accepted");
    cr_assert_null (raw, "decode must take the frames");
    return reason;
}

Test (zpar_msg, round_trip_keeps_everything)
{
    zmsg_t *raw = s_sample ();
    cr_assert_eq (zmsg_size (raw), 1 + 1 + 1 + 4 + 1);
    zpar_drop_t reason;
    zpar_msg_t *msg = zpar_msg_decode (&raw, s_signer, 0, NULL, &reason);
    cr_assert_not_null (msg);
    cr_assert_str_eq (zpar_msg_type (msg), "apply_request");
    cr_assert (strncmp (zpar_msg_id (msg), "session-1_", 10) == 0);
    json_t *header = zpar_msg_header (msg);
    cr_assert_str_eq (json_string_value (json_object_get (header, "version")), "5.3");
    cr_assert_str_eq (json_string_value (json_object_get (header, "session")), "session-1");
    cr_assert_geq (zpar_iso_parse (json_string_value (json_object_get (header, "date"))), 0);
    cr_assert_str_eq (json_string_value (json_object_get (zpar_msg_content (msg), "fn")), "echo");
    cr_assert_eq (json_integer_value (json_object_get (zpar_msg_metadata (msg), "retries")), 0);
    cr_assert_eq (zpar_msg_routes (msg), 1);
    cr_assert (zpar_part_streq (zpar_msg_route (msg, 0), "client"));
    cr_assert_eq (zpar_msg_buffers (msg), 1);
    cr_assert_eq (zmq_msg_size (zpar_msg_buffer (msg, 0)), 3);
    zpar_msg_destroy (&msg);
}

Test (zpar_msg, a_reply_names_its_request_as_parent)
{
    zmsg_t *raw = s_sample ();
    zpar_drop_t reason;
    zpar_msg_t *request = zpar_msg_decode (&raw, s_signer, 0, NULL, &reason);
    zpar_msg_t *reply = zpar_msg_new_reply (request, "apply_reply", "engine");
    cr_assert_str_eq (zpar_msg_parent_id (reply), zpar_msg_id (request));
    cr_assert_eq (zpar_msg_routes (reply), 1);
    zpar_msg_destroy (&reply);
    zpar_msg_destroy (&request);
}

Test (zpar_msg, forwarding_keeps_the_bytes_and_the_signature)
{
    zmsg_t *raw = s_sample ();
    zmsg_t *original = zmsg_dup (raw);
    zpar_drop_t reason;
    zpar_msg_t *msg = zpar_msg_decode (&raw, s_signer, 0, "a", &reason);
    zframe_t *route = zpar_msg_pop_route (msg);
    zpar_msg_push_route (msg, "engine", 6);
    zpar_msg_push_route (msg, zframe_data (route), zframe_size (route));
    zframe_destroy (&route);
    zmsg_t *again = zpar_msg_encode (msg, s_signer, false, true);
    zframe_t *frame = zmsg_first (original);          //  skip the route
    frame = zmsg_next (original);
    for (zframe_t *other = zmsg_first (again); other; other = zmsg_next (again)) {
        cr_assert (zframe_eq (frame, other), "a forwarded frame changed");
        frame = zmsg_next (original);
    }
    zmsg_destroy (&again);
    zmsg_destroy (&original);
    zpar_msg_destroy (&msg);
}

Test (zpar_msg, a_replay_is_dropped_in_the_same_scope_only)
{
    zmsg_t *raw = s_sample (), *copy = zmsg_dup (raw), *third = zmsg_dup (raw);
    zpar_drop_t reason;
    zpar_msg_t *msg = zpar_msg_decode (&raw, s_signer, 0, NULL, &reason);
    cr_assert_not_null (msg);
    zpar_msg_destroy (&msg);
    cr_assert_eq (s_drop_reason (copy, 0), ZPAR_DROP_REPLAY);
    msg = zpar_msg_decode (&third, s_signer, 0, "monitor", &reason);
    cr_assert_not_null (msg, "another scope is not a replay");
    zpar_msg_destroy (&msg);
}

Test (zpar_msg, bad_signatures_are_dropped)
{
    zmsg_t *raw = s_sample ();
    zframe_t *frame = zmsg_first (raw);
    frame = zmsg_next (raw);
    frame = zmsg_next (raw);                            //  the signature
    zframe_reset (frame, "0000000000000000000000000000000000000000000000000000000000000000", 64);
    cr_assert_eq (s_drop_reason (raw, 0), ZPAR_DROP_BAD_SIGNATURE);
    cr_assert_eq (s_drop_reason (s_frames (ZPAR_DELIM, "", "{}", "{}", "{}", "{}", NULL), 0),
                  ZPAR_DROP_BAD_SIGNATURE);
}

Test (zpar_msg, malformed_frames_are_dropped)
{
    cr_assert_eq (s_drop_reason (s_frames ("no", "delimiter", NULL), 0), ZPAR_DROP_MALFORMED);
    cr_assert_eq (s_drop_reason (s_frames (ZPAR_DELIM, "sig", "{}", NULL), 0), ZPAR_DROP_MALFORMED);
    cr_assert_eq (s_drop_reason (zmsg_new (), 0), ZPAR_DROP_MALFORMED);
    //  Signed, but the header is not JSON, or lacks msg_type.
    cr_assert_eq (s_drop_reason (s_signed ("{not json", "{}", "{}", "{}"), 0), ZPAR_DROP_MALFORMED);
    cr_assert_eq (s_drop_reason (s_signed ("{\"msg_id\":\"x\"}", "{}", "{}", "{}"), 0), ZPAR_DROP_MALFORMED);
    cr_assert_eq (s_drop_reason (s_signed ("[1]", "{}", "{}", "{}"), 0), ZPAR_DROP_MALFORMED);
}

Test (zpar_msg, content_that_is_not_an_object_reads_as_null)
{
    zmsg_t *raw = s_signed ("{\"msg_id\":\"x\",\"msg_type\":\"t\"}", "{}", "{}", "[1,2]");
    zpar_drop_t reason;
    zpar_msg_t *msg = zpar_msg_decode (&raw, s_signer, 0, NULL, &reason);
    cr_assert_not_null (msg);
    cr_assert_null (zpar_msg_content (msg));
    cr_assert_not_null (zpar_msg_parent (msg));
    zpar_msg_destroy (&msg);
}

Test (zpar_msg, oversize_messages_are_dropped)
{
    zmsg_t *raw = s_sample ();
    size_t size = zmsg_content_size (raw);
    cr_assert_eq (s_drop_reason (raw, size - 1), ZPAR_DROP_OVERSIZE);
    raw = s_sample ();
    zpar_drop_t reason;
    zpar_msg_t *msg = zpar_msg_decode (&raw, s_signer, size, NULL, &reason);
    cr_assert_not_null (msg, "exactly the limit is allowed");
    zpar_msg_destroy (&msg);
}

Test (zpar_msg, drop_names)
{
    cr_assert_str_eq (zpar_drop_name (ZPAR_DROP_BAD_SIGNATURE), "bad_signature");
    cr_assert_str_eq (zpar_drop_name (ZPAR_DROP_REPLAY), "replay");
    cr_assert_str_eq (zpar_drop_name (ZPAR_DROP_MALFORMED), "malformed");
    cr_assert_str_eq (zpar_drop_name (ZPAR_DROP_OVERSIZE), "oversize");
    cr_assert_str_eq (zpar_drop_name (ZPAR_DROP_UNKNOWN_TYPE), "unknown_type");
}

Test (zpar_msg, dup_is_deep)
{
    zpar_msg_t *msg = zpar_msg_new ("x", "s");
    zpar_msg_add_route (msg, "r", 1);
    zpar_msg_t *copy = zpar_msg_dup (msg);
    zpar_msg_destroy (&msg);
    cr_assert_str_eq (zpar_msg_type (copy), "x");
    cr_assert_eq (zpar_msg_routes (copy), 1);
    zpar_msg_destroy (&copy);
}

//  The fast scan of a frame finds what the JSON parser finds, or nothing
//  where the parser finds nothing.
Test (zpar_msg, scanned_ids_agree_with_the_parser)
{
    const char *parents [] = {
        "{\"msg_id\":\"a\"}", " { \"msg_id\" : \"a\" , \"x\" : [1, 2.5e3, -0, true, null, {\"msg_id\":\"b\"}] } ",
        "{\"msg_id\":\"a\",\"msg_id\":\"b\"}", "{\"msg_id\":\"a\"", "{\"msg_id\":\"a\"} x",
        "{\"msg_id\":\"a\" \"x\":1}", "{\"x\":tru,\"msg_id\":\"a\"}", "{\"x\":1}{\"msg_id\":\"b\"}",
        "{\"msg_id\":\"a\nb\"}", "{\"msg_id\":\"a\xff\"}", "{\"msg_id\":\"caf\xc3\xa9\"}",
        "{\"msg_id\":\"a\\\"b\"}", "{\"x\":01,\"msg_id\":\"a\"}", "{\"msg_id\":1}", "{\"y\":{\"msg_id\":\"a\"}}",
        "[\"msg_id\",\"a\"]", "{}", "",
        //  What the parser refuses anywhere in the frame, the scanner too.
        "{\"x\":1,\"x\":2,\"msg_id\":\"a\"}", "{\"y\":{\"z\":1,\"z\":1},\"msg_id\":\"a\"}",
        "{\"x\":99999999999999999999,\"msg_id\":\"a\"}", "{\"x\":1e999,\"msg_id\":\"a\"}",
        "{\"x\":-9223372036854775807,\"y\":1.5e-30,\"msg_id\":\"a\"}",
        //  Reals that overflow a double, which the parser refuses.
        "{\"x\":1" "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000" "e60,\"msg_id\":\"a\"}",
        "{\"x\":1.5e99,\"msg_id\":\"a\"}", "{\"x\":-12345678901234567890e-99,\"msg_id\":\"a\"}"
    };
    for (size_t i = 0; i < sizeof parents / sizeof *parents; i++) {
        zmsg_t *raw = s_signed ("{\"msg_id\":\"x\",\"msg_type\":\"t\"}", parents [i], "{}", "{}");
        zpar_drop_t reason;
        zpar_msg_t *msg = zpar_msg_decode (&raw, s_signer, 0, NULL, &reason);
        cr_assert_not_null (msg);
        char scanned [64] = "";
        const char *id = zpar_msg_parent_id (msg);
        snprintf (scanned, sizeof scanned, "%s", id? id: "(none)");
        //  The message's own parse, as every daemon does it.
        const char *expected = json_string_value (json_object_get (zpar_msg_parent (msg), "msg_id"));
        cr_assert_str_eq (scanned, expected? expected: "(none)", "%s", parents [i]);
        zpar_msg_destroy (&msg);
    }
}

Test (zpar_msg, scanned_integers_agree_with_the_parser)
{
    const char *metadata [] = {
        "{\"engine_id\":3}", " { \"x\" : [1, {\"engine_id\": 9}], \"engine_id\" : -12 } ",
        "{\"engine_id\":1.5}", "{\"engine_id\":2e3}", "{\"engine_id\":\"4\"}", "{\"engine_id\":3,\"engine_id\":4}",
        "{\"engine_id\":99999999999999999999}", "{\"engine_id\":007}", "{\"engine_id\":null}",
        "{\"engine_id\":5", "{}", ""
    };
    for (size_t i = 0; i < sizeof metadata / sizeof *metadata; i++) {
        zmsg_t *raw = s_signed ("{\"msg_id\":\"x\",\"msg_type\":\"t\"}", "{}", metadata [i], "{}");
        zpar_drop_t reason;
        zpar_msg_t *msg = zpar_msg_decode (&raw, s_signer, 0, NULL, &reason);
        cr_assert_not_null (msg);
        long long scanned = -1;
        bool found = zpar_msg_metadata_integer (msg, "engine_id", &scanned);
        json_t *parsed = json_object_get (zpar_msg_metadata (msg), "engine_id");
        cr_assert_eq (found, json_is_integer (parsed), "%s", metadata [i]);
        if (found)
            cr_assert_eq (scanned, json_integer_value (parsed), "%s", metadata [i]);
        zpar_msg_destroy (&msg);
    }
}

//  A signed message with buffers "ab" and "cd", as raw frames.
static zmsg_t *
s_with_buffers (void)
{
    zpar_msg_t *msg = zpar_msg_new ("apply_reply", "session-1");
    zpar_msg_add_buffer (msg, "ab", 2);
    zpar_msg_add_buffer (msg, "cd", 2);
    zmsg_t *raw = zpar_msg_encode (msg, s_signer, false, true);
    zpar_msg_destroy (&msg);
    return raw;
}

//  Frames 2..5 are the JSON ones (after delimiter and signature), 6 and 7
//  the buffers.
static zframe_t *
s_nth_frame (zmsg_t *raw, size_t index)
{
    zframe_t *frame = zmsg_first (raw);
    while (frame && index--)
        frame = zmsg_next (raw);
    return frame;
}

Test (zpar_msg, buffers_are_signed_and_cannot_be_changed_split_or_dropped)
{
    zpar_drop_t reason;
    zmsg_t *raw = s_with_buffers ();
    zpar_msg_t *msg = zpar_msg_decode (&raw, s_signer, 0, NULL, &reason);
    cr_assert_not_null (msg, "an intact message with buffers is accepted");
    zpar_msg_destroy (&msg);

    raw = s_with_buffers ();
    zframe_reset (s_nth_frame (raw, 7), "ce", 2);
    cr_assert_eq (s_drop_reason (raw, 0), ZPAR_DROP_BAD_SIGNATURE, "a changed buffer");

    raw = s_with_buffers ();
    zframe_t *last = s_nth_frame (raw, 7);
    zmsg_remove (raw, last);
    zframe_destroy (&last);
    cr_assert_eq (s_drop_reason (raw, 0), ZPAR_DROP_BAD_SIGNATURE, "a dropped buffer");

    //  "ab" "cd" made "abc" "d": the same bytes, other boundaries.
    raw = s_with_buffers ();
    zframe_reset (s_nth_frame (raw, 6), "abc", 3);
    zframe_reset (s_nth_frame (raw, 7), "d", 1);
    cr_assert_eq (s_drop_reason (raw, 0), ZPAR_DROP_BAD_SIGNATURE, "buffers split differently");

    raw = s_with_buffers ();
    zframe_t *extra = zframe_new ("ef", 2);
    zmsg_append (raw, &extra);
    cr_assert_eq (s_drop_reason (raw, 0), ZPAR_DROP_BAD_SIGNATURE, "a buffer added");
}

Test (zpar_msg, without_buffers_the_signature_is_jupyters)
{
    zpar_msg_t *msg = zpar_msg_new ("apply_request", "session-1");
    zmsg_t *raw = zpar_msg_encode (msg, s_signer, false, true);
    zpar_msg_destroy (&msg);
    const void *parts [4];
    size_t sizes [4];
    for (int i = 0; i < 4; i++) {
        parts [i] = zframe_data (s_nth_frame (raw, 2 + (size_t) i));
        sizes [i] = zframe_size (s_nth_frame (raw, 2 + (size_t) i));
    }
    char expected [ZPAR_SIGNATURE_LEN + 1];
    zpar_sign_parts (s_signer, parts, sizes, 4, expected);
    cr_assert (zframe_streq (s_nth_frame (raw, 1), expected));
    zmsg_destroy (&raw);
}

//  As jupyter_client checks: an empty signature, another key, one byte
//  changed in any signed frame (buffers too), and a replay are refused.
Test (zpar_msg, every_signed_byte_counts)
{
    //  One byte flipped in each signed frame in turn: JSON frames 3..6,
    //  buffers 7 and 8 (after route, delimiter and signature).
    for (size_t index = 3; index <= 8; index++) {
        zpar_msg_t *msg = zpar_msg_new ("apply_request", "session-1");
        zpar_msg_set_content (msg, json_pack ("{s:s}", "fn", "echo"));
        zpar_msg_add_route (msg, "client", 6);
        zpar_msg_add_buffer (msg, "ab", 2);
        zpar_msg_add_buffer (msg, "cd", 2);
        zmsg_t *raw = zpar_msg_encode (msg, s_signer, true, true);
        zpar_msg_destroy (&msg);
        zframe_t *frame = s_nth_frame (raw, index);
        cr_assert_not_null (frame);
        uint8_t *byte = zframe_data (frame) + zframe_size (frame) / 2;
        *byte ^= 0x01;
        cr_assert_eq (s_drop_reason (raw, 0), ZPAR_DROP_BAD_SIGNATURE, "frame %zu", index);
    }
    //  An empty signature.
    zmsg_t *raw = s_sample ();
    zframe_reset (s_nth_frame (raw, 2), "", 0);
    cr_assert_eq (s_drop_reason (raw, 0), ZPAR_DROP_BAD_SIGNATURE);
    //  Signed with another key.
    zpar_sign_t *other = zpar_sign_new ("another key", 0);
    zpar_msg_t *msg = zpar_msg_new ("apply_request", "session-1");
    raw = zpar_msg_encode (msg, other, false, true);
    zpar_msg_destroy (&msg);
    zpar_sign_destroy (&other);
    cr_assert_eq (s_drop_reason (raw, 0), ZPAR_DROP_BAD_SIGNATURE);
    //  The same message twice.
    raw = s_sample ();
    zmsg_t *again = zmsg_dup (raw);
    zpar_drop_t reason;
    msg = zpar_msg_decode (&raw, s_signer, 0, NULL, &reason);
    cr_assert_not_null (msg);
    zpar_msg_destroy (&msg);
    cr_assert_eq (s_drop_reason (again, 0), ZPAR_DROP_REPLAY);
}

//  What a client reads of a reply without parsing its content is what the
//  parser finds, or nothing (and then the client parses).
Test (zpar_msg, an_ok_result_read_alone_agrees_with_the_parser)
{
    const char *contents [] = {
        "{\"status\":\"ok\",\"result\":[1,{\"a\":\"b\"},null]}", "{\"result\":5,\"status\":\"ok\"}",
        "{\"status\":\"ok\"}", "{\"status\":\"ok\",\"result\":\"text\"}", "{\"status\":\"ok\",\"result\":-2.5e3}",
        "{\"status\":\"error\",\"ename\":\"E\"}", "{\"status\":\"ok\",\"result\":\"a\\\"b\"}",
        "{\"status\":\"ok\",\"result\":1,\"result\":2}", "{\"status\":\"ok\",\"result\":[1,}",
        "{\"status\":\"aborted\"}", "{\"status\":1,\"result\":1}", "[]"
    };
    for (size_t i = 0; i < sizeof contents / sizeof *contents; i++) {
        zmsg_t *raw = s_signed ("{\"msg_id\":\"x\",\"msg_type\":\"apply_reply\"}", "{}", "{}", contents [i]);
        zpar_msg_t *msg = zpar_msg_decode (&raw, s_signer, 0, NULL, NULL);
        cr_assert_not_null (msg);
        json_t *alone = zpar_msg_ok_result (msg);
        json_t *content = zpar_msg_content (msg);
        const char *status = json_string_value (json_object_get (content, "status"));
        if (alone) {
            cr_assert (status && streq (status, "ok"), "%s", contents [i]);
            json_t *expected = json_object_get (content, "result");
            cr_assert (json_equal (alone, expected? expected: json_null ()), "%s", contents [i]);
        }
        else
            cr_assert (!status || !streq (status, "ok") || strstr (contents [i], "\\\""),
                       "an ok result not read: %s", contents [i]);
        json_decref (alone);
        //  Parsed now: the shortcut steps aside.
        cr_assert_null (zpar_msg_ok_result (msg));
        zpar_msg_destroy (&msg);
    }
}

Test (zpar_msg, members_and_keys_are_read_in_one_pass)
{
    zmsg_t *raw = s_signed ("{\"msg_id\":\"m-1\",\"msg_type\":\"apply_request\",\"date\":\"2026-11-26T04:00:00Z\"}",
                            "{}", "{}", "{\"fn\":\"echo\",\"args\":[[1,2],{\"k\":3}],\"kwargs\":{}}");
    zpar_msg_t *msg = zpar_msg_decode (&raw, s_signer, 0, NULL, NULL);
    const char *const keys [] = { "fn", "args", "chunk", "kwargs" };
    const char *texts [4];
    size_t sizes [4];
    cr_assert_eq (zpar_msg_scan_members (msg, ZPAR_FRAME_CONTENT, keys, 4, texts, sizes), 0);
    cr_assert_eq (sizes [0], 6);
    cr_assert_eq (memcmp (texts [0], "\"echo\"", 6), 0);
    cr_assert_eq (sizes [1], 15);
    cr_assert_eq (memcmp (texts [1], "[[1,2],{\"k\":3}]", 15), 0);
    cr_assert_null (texts [2]);
    cr_assert_eq (sizes [3], 2);

    zmq_msg_t *header = zpar_msg_frame (msg, ZPAR_FRAME_HEADER);
    char id [16], type [32], date [8];
    const char *const names [] = { "msg_id", "msg_type", "date", "absent" };
    char absent [8] = "x";
    char *const values [] = { id, type, date, absent };
    const size_t room [] = { sizeof id, sizeof type, sizeof date, sizeof absent };
    //  The date does not fit its 8 bytes: found are the other two.
    cr_assert_eq (zpar_json_scan_strings (zmq_msg_data (header), zmq_msg_size (header), names, 4,
                                          values, room), 2);
    cr_assert_str_eq (id, "m-1");
    cr_assert_str_eq (type, "apply_request");
    cr_assert_str_eq (date, "");
    cr_assert_str_eq (absent, "");
    cr_assert_eq (zpar_json_scan_strings ("{\"msg_id\":\"a\\u0041\"}", 19, names, 1, values, room), -1);
    //  Once parsed, the frame is the parse's: no scan.
    zpar_msg_content (msg);
    cr_assert_eq (zpar_msg_scan_members (msg, ZPAR_FRAME_CONTENT, keys, 4, texts, sizes), -1);
    zpar_msg_destroy (&msg);
}

//  Parts over a real pair of sockets: a whole message in order, moved
//  into a message without a copy, and back to CZMQ's frames.
Test (zpar_msg, parts_take_whole_messages)
{
    zsock_t *out = zsock_new_pair ("@inproc://parts"), *in = zsock_new_pair (">inproc://parts");
    zpar_parts_t parts = ZPAR_PARTS_EMPTY;
    cr_assert_eq (zpar_parts_recv (&parts, zsock_resolve (in), ZMQ_DONTWAIT), -1);
    cr_assert_eq (zmq_errno (), EAGAIN);
    zmsg_t *raw = s_sample ();
    size_t frames = zmsg_size (raw), bytes = zmsg_content_size (raw);
    zmsg_send (&raw, out);
    cr_assert_eq (zpar_parts_recv (&parts, zsock_resolve (in), 0), 0);
    cr_assert_eq (parts.count, frames);
    cr_assert_eq (zpar_parts_bytes (&parts), bytes);
    cr_assert (zpar_part_streq (&parts.part [0], "client"));
    zpar_msg_t *msg = zpar_msg_decode_parts (&parts, s_signer, 0, NULL, NULL);
    cr_assert_not_null (msg);
    cr_assert_eq (parts.count, 0, "the parts moved into the message");
    cr_assert_str_eq (json_string_value (json_object_get (zpar_msg_content (msg), "fn")), "echo");

    //  A buffer shared with another message: the same bytes, no copy.
    zpar_msg_t *reply = zpar_msg_new_reply (msg, "apply_reply", "s");
    zpar_msg_share_buffer (reply, zpar_msg_buffer (msg, 0));
    cr_assert_eq (zpar_msg_buffers (reply), 1);
    cr_assert_eq (zmq_msg_size (zpar_msg_buffer (reply, 0)), 3);
    cr_assert_eq (memcmp (zmq_msg_data (zpar_msg_buffer (reply, 0)), "\x00\x01\x02", 3), 0);
    zpar_msg_destroy (&msg);
    zpar_parts_t taken = ZPAR_PARTS_EMPTY;
    zpar_msg_take_buffers (reply, &taken);
    cr_assert_eq (taken.count, 1);
    cr_assert_eq (zpar_msg_buffers (reply), 0);
    zmsg_t *back = zpar_parts_to_zmsg (&taken);
    cr_assert_eq (zmsg_size (back), 1);
    cr_assert_eq (taken.count, 0);
    //  And in again: a large frame is lent, a small one copied.
    char large [1000];
    memset (large, 'x', sizeof large);
    zmsg_addmem (back, large, sizeof large);
    cr_assert_eq (zpar_parts_take_zmsg (&taken, &back), 0);
    cr_assert_null (back);
    cr_assert_eq (taken.count, 2);
    cr_assert_eq (zmq_msg_size (&taken.part [1]), sizeof large);
    cr_assert_eq (memcmp (zmq_msg_data (&taken.part [1]), large, sizeof large), 0);
    zpar_parts_free (&taken);
    zpar_parts_free (&parts);
    zpar_msg_destroy (&reply);
    zsock_destroy (&in);
    zsock_destroy (&out);
}

//  The scanner reads strings eight bytes at a time: whatever byte sits at
//  whatever place, it says what the parser says, or is unsure.
Test (zpar_msg, scanned_strings_agree_with_the_parser_byte_by_byte)
{
    const unsigned char odd [] = { '"', '\\', 0x01, 0x1f, 0x20, 0x7e, 0x7f, 0x80, 0xc3, 0xff, 'a' };
    char text [64], scanned [64];
    for (size_t length = 0; length < 20; length++)
        for (size_t at = 0; at < length; at++)
            for (size_t k = 0; k < sizeof odd; k++) {
                char value [32];
                memset (value, 'x', length);
                value [at] = (char) odd [k];
                int size = snprintf (text, sizeof text, "{\"msg_id\":\"%.*s\"}", (int) length, value);
                int rc = zpar_json_scan_string (text, (size_t) size, "msg_id", scanned, sizeof scanned);
                json_t *parsed = json_loadb (text, (size_t) size, JSON_REJECT_DUPLICATES, NULL);
                const char *expected = json_string_value (json_object_get (parsed, "msg_id"));
                if (rc == 0)
                    cr_assert (expected && streq (scanned, expected), "length %zu, byte %02x at %zu",
                               length, odd [k], at);
                else
                    //  Unsure only where the text is not plain.
                    cr_assert (odd [k] < 0x20 || odd [k] >= 0x7f || odd [k] == '"' || odd [k] == '\\',
                               "unsure of plain text: length %zu, byte %02x at %zu", length, odd [k], at);
                json_decref (parsed);
            }
}
