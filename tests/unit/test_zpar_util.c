/*  Small helpers: dates, hex, numbers, UTF-8 cleaning.                  */

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <stdlib.h>

#include "zpar_util.h"

Test (zpar_util, iso_dates_round_trip)
{
    char date [40];
    int64_t now = zpar_wall_us ();
    zpar_iso_date (now, date, sizeof date);
    cr_assert_eq (strlen (date), 27, "%s", date);
    cr_assert_eq (zpar_iso_parse (date), now);
    cr_assert_eq (zpar_iso_parse ("2026-11-25T15:08:09.000001Z"), 1795619289000001LL);
    cr_assert_eq (zpar_iso_parse ("yesterday"), -1);
    cr_assert_eq (zpar_iso_parse ("2026-11-25T15:08:09.000001Zjunk"), -1);
    //  The cached second changes with the time, and a date in the same
    //  second reuses it with its own microseconds.
    int64_t times [] = { 1795619289000001LL, 1795619289999999LL, 1795619290000000LL, 0, 1795619289123456LL };
    const char *expected [] = { "2026-11-25T15:08:09.000001Z", "2026-11-25T15:08:09.999999Z",
                                "2026-11-25T15:08:10.000000Z", "1970-01-01T00:00:00.000000Z",
                                "2026-11-25T15:08:09.123456Z" };
    for (size_t i = 0; i < sizeof times / sizeof *times; i++) {
        zpar_iso_date (times [i], date, sizeof date);
        cr_assert_str_eq (date, expected [i]);
        cr_assert_eq (zpar_iso_parse (date), times [i]);
    }
    char small [12];
    zpar_iso_date (times [0], small, sizeof small);
    cr_assert_str_eq (small, "2026-11-25T");
}

Test (zpar_util, hex_both_ways)
{
    uint8_t data [] = { 0x00, 0x7f, 0xab, 0xff }, back [4];
    char hex [9];
    zpar_hex (data, 4, hex);
    cr_assert_str_eq (hex, "007fabff");
    cr_assert_eq (zpar_unhex ("007FABff", back, 4), 0);
    cr_assert_eq (memcmp (data, back, 4), 0);
    cr_assert_eq (zpar_unhex ("0g", back, 1), -1);
}

Test (zpar_util, strict_numbers)
{
    long value;
    cr_assert_eq (zpar_parse_long ("42", 0, 100, &value), 0);
    cr_assert_eq (value, 42);
    cr_assert_eq (zpar_parse_long ("101", 0, 100, &value), -1);
    cr_assert_eq (zpar_parse_long ("4x", 0, 100, &value), -1);
    cr_assert_eq (zpar_parse_long ("", 0, 100, &value), -1);
    cr_assert_eq (zpar_parse_long ("-1", 0, 100, &value), -1);
}

Test (zpar_util, keys_and_uuids_are_fresh)
{
    char *a = zpar_new_key (), *b = zpar_new_key ();
    cr_assert_eq (strlen (a), 64);
    cr_assert_str_neq (a, b);
    char *uuid = zpar_new_uuid ();
    cr_assert_eq (strlen (uuid), 36);
    cr_assert_eq (uuid [14], '4');
    free (a);
    free (b);
    free (uuid);
}

Test (zpar_util, utf8_is_cleaned_for_json)
{
    char cut [] = "caf\xc3\xa9\xc3";            //  "café" and half an "é"
    cr_assert_str_eq (zpar_utf8_clean (cut), "caf\xc3\xa9");
    char three [] = "a\xe2\x82";                 //  two bytes of "€"
    cr_assert_str_eq (zpar_utf8_clean (three), "a");
    char bad [] = "x\xff" "y\x80z";
    cr_assert_str_eq (zpar_utf8_clean (bad), "x?y?z");
    char fine [] = "\xe2\x82\xac \xf0\x9f\x98\x80 ok";
    cr_assert_str_eq (zpar_utf8_clean (fine), "\xe2\x82\xac \xf0\x9f\x98\x80 ok");
    //  A string snprintf cut inside a character becomes valid JSON.
    const char *long_text = "\xc3\xa9\xc3\xa9\xc3\xa9";
    char buffer [6];
    snprintf (buffer, sizeof buffer, "%s", long_text + (zpar_wall_us () < 0));
    cr_assert_null (json_string (buffer));
    json_t *string = json_string (zpar_utf8_clean (buffer));
    cr_assert_not_null (string);
    json_decref (string);
}

Test (zpar_util, the_second_before_1970_is_dated_right_on_first_use)
{
    char date [40];
    zpar_iso_date (-500000, date, sizeof date);
    cr_assert_str_eq (date, "1969-12-31T23:59:59.500000Z");
}

Test (zpar_util, dates_people_type_are_normalised_or_refused)
{
    char out [40];
    cr_assert_eq (zpar_iso_normalise ("2026-11-26T10:00:00Z", false, out, sizeof out), 0);
    cr_assert_str_eq (out, "2026-11-26T10:00:00.000000Z");
    cr_assert_eq (zpar_iso_normalise ("2026-11-26T10:00:00.25Z", false, out, sizeof out), 0);
    cr_assert_str_eq (out, "2026-11-26T10:00:00.250000Z");
    cr_assert_eq (zpar_iso_normalise ("2026-11-26", false, out, sizeof out), 0);
    cr_assert_str_eq (out, "2026-11-26T00:00:00.000000Z");
    cr_assert_eq (zpar_iso_normalise ("2026-11-26", true, out, sizeof out), 0);
    cr_assert_str_eq (out, "2026-11-26T23:59:59.999999Z");
    const char *bad [] = {
        "2026-13-40", "2026-02-30", "2026-11-26T25:99:00Z", "2026-11-26T10:00:00",
        "2026-11-26T10:00:00.1234567Z", "2026-11-26T10:00:00.Z", "26-11-2026", "2026-11-26 10:00:00Z",
        "yesterday", ""
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++)
        cr_assert_eq (zpar_iso_normalise (bad [i], false, out, sizeof out), -1, "%s", bad [i]);
}
