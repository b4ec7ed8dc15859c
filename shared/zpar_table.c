/*  zpar_table.c - open addressing, linear probing, backward-shift
    deletion (no tombstones), grown at 1/2 full.                         */

#include "zpar_table.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t hash;              //  0: the slot is empty
    const char *key;
    void *value;
} s_slot_t;

struct _zpar_table_t {
    s_slot_t *slots;
    size_t mask;                //  slots - 1, a power of 2 minus one
    size_t size;
    size_t cursor;              //  for first/next
    zpar_table_destructor_fn *destructor;
};

#define S_FIRST_SLOTS 64

//  Eight bytes at a time (keys are msg_ids of 40 bytes and more, hashed
//  on every call of a task's path), each word mixed in by a multiply, then
//  a final mix so that the low bits (the slot) depend on every byte;
//  never 0, which marks an empty slot.
static uint64_t
s_hash (const char *key)
{
    size_t length = strlen (key);
    uint64_t hash = 0x9e3779b97f4a7c15ULL ^ length;
    const unsigned char *at = (const unsigned char *) key;
    for (; length >= 8; at += 8, length -= 8) {
        uint64_t word;
        memcpy (&word, at, 8);
        hash = (hash ^ word) * 0xff51afd7ed558ccdULL;
        hash ^= hash >> 29;
    }
    uint64_t tail = 0;
    memcpy (&tail, at, length);
    hash = (hash ^ tail) * 0xc4ceb9fe1a85ec53ULL;
    hash ^= hash >> 32;
    hash *= 0xd6e8feb86659fd93ULL;
    hash ^= hash >> 32;
    return hash? hash: 1;
}

zpar_table_t *
zpar_table_new (zpar_table_destructor_fn *destructor)
{
    zpar_table_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->slots = calloc (S_FIRST_SLOTS, sizeof *self->slots);
    if (!self->slots) {
        free (self);
        return NULL;
    }
    self->mask = S_FIRST_SLOTS - 1;
    self->destructor = destructor;
    return self;
}

void
zpar_table_destroy (zpar_table_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zpar_table_t *self = *self_p;
    for (size_t i = 0; self->destructor && i <= self->mask; i++)
        if (self->slots [i].hash)
            self->destructor (&self->slots [i].value);
    free (self->slots);
    free (self);
    *self_p = NULL;
}

//  The slot holding key, or the empty one where it would go.
static size_t
s_find (zpar_table_t *self, const char *key, uint64_t hash)
{
    size_t slot = (size_t) hash & self->mask;
    while (self->slots [slot].hash
       && (self->slots [slot].hash != hash || strcmp (self->slots [slot].key, key) != 0))
        slot = (slot + 1) & self->mask;
    return slot;
}

//  Rehashes into count slots (a power of 2, at least twice the entries).
static int
s_resize (zpar_table_t *self, size_t count)
{
    s_slot_t *slots = calloc (count, sizeof *slots), *old = self->slots;
    if (!slots)
        return -1;
    size_t old_count = self->mask + 1;
    self->slots = slots;
    self->mask = count - 1;
    for (size_t i = 0; i < old_count; i++)
        if (old [i].hash) {
            size_t slot = (size_t) old [i].hash & self->mask;
            while (slots [slot].hash)
                slot = (slot + 1) & self->mask;
            slots [slot] = old [i];
        }
    free (old);
    return 0;
}

int
zpar_table_reserve (zpar_table_t *self, size_t more)
{
    size_t count = self->mask + 1;
    while (2 * (self->size + more) > count)
        count *= 2;
    return count > self->mask + 1? s_resize (self, count): 0;
}

int
zpar_table_insert (zpar_table_t *self, const char *key, void *value)
{
    if (2 * (self->size + 1) > self->mask + 1 && s_resize (self, (self->mask + 1) * 2) != 0)
        return -1;
    uint64_t hash = s_hash (key);
    size_t slot = s_find (self, key, hash);
    if (self->slots [slot].hash)
        return -1;
    self->slots [slot] = (s_slot_t) { hash, key, value };
    self->size++;
    return 0;
}

void *
zpar_table_lookup (zpar_table_t *self, const char *key)
{
    return self->slots [s_find (self, key, s_hash (key))].value;
}

void
zpar_table_delete (zpar_table_t *self, const char *key)
{
    size_t hole = s_find (self, key, s_hash (key));
    if (!self->slots [hole].hash)
        return;
    void *value = self->slots [hole].value;
    //  Entries after the hole move back into it when their own slot is not
    //  between the hole and where they are, so no lookup stops too early.
    size_t next = hole;
    while (true) {
        next = (next + 1) & self->mask;
        s_slot_t *entry = &self->slots [next];
        if (!entry->hash)
            break;
        size_t home = (size_t) entry->hash & self->mask;
        if (((next - home) & self->mask) >= ((next - hole) & self->mask)) {
            self->slots [hole] = *entry;
            hole = next;
        }
    }
    self->slots [hole] = (s_slot_t) { 0, NULL, NULL };
    self->size--;
    //  Last: the key may live in the value.
    if (self->destructor)
        self->destructor (&value);
}

size_t
zpar_table_size (zpar_table_t *self)
{
    return self->size;
}

void *
zpar_table_next (zpar_table_t *self)
{
    while (self->cursor <= self->mask) {
        s_slot_t *slot = &self->slots [self->cursor++];
        if (slot->hash)
            return slot->value;
    }
    return NULL;
}

void *
zpar_table_first (zpar_table_t *self)
{
    self->cursor = 0;
    return zpar_table_next (self);
}
