/*  zpar_table: the string map of the scheduler's hot paths.             */

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zpar_table.h"

typedef struct {
    char key [32];
    int number;
} s_item_t;

static int s_freed;

static void
s_item_free (void **item)
{
    free (*item);
    *item = NULL;
    s_freed++;
}

static s_item_t *
s_item (int number)
{
    s_item_t *item = calloc (1, sizeof *item);
    snprintf (item->key, sizeof item->key, "session_%d", number);
    item->number = number;
    return item;
}

Test (zpar_table, entries_survive_growth_and_deletion_in_any_order)
{
    enum { COUNT = 20000 };
    s_freed = 0;
    zpar_table_t *table = zpar_table_new (s_item_free);
    for (int i = 0; i < COUNT; i++) {
        s_item_t *item = s_item (i);
        cr_assert_eq (zpar_table_insert (table, item->key, item), 0);
    }
    cr_assert_eq (zpar_table_size (table), COUNT);
    //  A key twice is refused, and the first value stays.
    s_item_t *again = s_item (7);
    cr_assert_eq (zpar_table_insert (table, again->key, again), -1);
    free (again);
    cr_assert_eq (((s_item_t *) zpar_table_lookup (table, "session_7"))->number, 7);
    cr_assert_null (zpar_table_lookup (table, "session_20000"));
    cr_assert_null (zpar_table_lookup (table, ""));
    //  Every third deleted, then every entry checked: deletions must not
    //  hide the entries placed after them.
    for (int i = 0; i < COUNT; i += 3) {
        char key [32];
        snprintf (key, sizeof key, "session_%d", i);
        zpar_table_delete (table, key);
        zpar_table_delete (table, key);             //  absent: nothing
    }
    cr_assert_eq (s_freed, (COUNT + 2) / 3);
    for (int i = 0; i < COUNT; i++) {
        char key [32];
        snprintf (key, sizeof key, "session_%d", i);
        s_item_t *item = zpar_table_lookup (table, key);
        if (i % 3 == 0)
            cr_assert_null (item, "%s still there", key);
        else
            cr_assert (item && item->number == i, "%s lost", key);
    }
    //  Iteration sees each entry once.
    size_t seen = 0;
    long sum = 0;
    for (s_item_t *item = zpar_table_first (table); item; item = zpar_table_next (table)) {
        seen++;
        sum += item->number;
    }
    long expected = 0;
    for (int i = 0; i < COUNT; i++)
        expected += i % 3? i: 0;
    cr_assert_eq (seen, zpar_table_size (table));
    cr_assert_eq (sum, expected);
    zpar_table_destroy (&table);
    cr_assert_eq (s_freed, COUNT);
    cr_assert_null (table);
}

Test (zpar_table, a_table_without_destructor_frees_no_value)
{
    zpar_table_t *table = zpar_table_new (NULL);
    char key [] = "k";
    int value = 3;
    cr_assert_eq (zpar_table_insert (table, key, &value), 0);
    cr_assert_eq (zpar_table_lookup (table, "k"), &value);
    zpar_table_delete (table, "k");
    cr_assert_eq (zpar_table_size (table), 0);
    cr_assert_null (zpar_table_first (table));
    zpar_table_destroy (&table);
}

//  Room made ahead keeps what is there, and what is added after it.
Test (zpar_table, reserving_room_keeps_every_entry)
{
    s_freed = 0;
    zpar_table_t *table = zpar_table_new (s_item_free);
    for (int i = 0; i < 100; i++) {
        s_item_t *item = s_item (i);
        cr_assert_eq (zpar_table_insert (table, item->key, item), 0);
    }
    cr_assert_eq (zpar_table_reserve (table, 50000), 0);
    cr_assert_eq (zpar_table_reserve (table, 10), 0, "already room: nothing to do");
    for (int i = 100; i < 50100; i++) {
        s_item_t *item = s_item (i);
        cr_assert_eq (zpar_table_insert (table, item->key, item), 0);
    }
    cr_assert_eq (zpar_table_size (table), 50100);
    for (int i = 0; i < 50100; i += 7) {
        char key [32];
        snprintf (key, sizeof key, "session_%d", i);
        s_item_t *item = zpar_table_lookup (table, key);
        cr_assert (item && item->number == i, "%s", key);
    }
    zpar_table_destroy (&table);
    cr_assert_eq (s_freed, 50100);
}
