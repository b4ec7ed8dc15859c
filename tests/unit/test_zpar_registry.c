/*  The engine's function table, its built-ins and plugin loading, driven
    in-process (the integration tests call the same through a cluster).  */

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zpar_registry.h"

static zpar_registry_t *s_registry;
static zpar_engine_info_t s_info;

static void
s_setup (void)
{
    s_registry = zpar_registry_new ();
    zpar_builtins_register (s_registry);
    s_info = (zpar_engine_info_t) { .id = 7, .uuid = "u", .host = "h", .pid = 1,
                                    .registry = s_registry, .namespace = json_object () };
}

static void
s_teardown (void)
{
    json_decref (s_info.namespace);
    zpar_registry_destroy (&s_registry);
}

TestSuite (zpar_registry, .init = s_setup, .fini = s_teardown);

//  Runs name(args) and returns the call (caller destroys).
static zpar_call_t *
s_call (const char *name, json_t *args)
{
    zpar_fn_t *fn = zpar_registry_lookup (s_registry, name);
    cr_assert_not_null (fn, "%s is not registered", name);
    zpar_call_t *call = zpar_call_new (&s_info, args, NULL);
    zpar_call_run (call, name, fn);
    json_decref (args);
    return call;
}

static void
s_expect_error (const char *name, json_t *args, const char *ename)
{
    zpar_call_t *call = s_call (name, args);
    json_t *error = zpar_call_error (call);
    cr_assert_not_null (error, "%s succeeded", name);
    cr_assert_str_eq (json_string_value (json_object_get (error, "ename")), ename);
    zpar_call_destroy (&call);
}

Test (zpar_registry, names_are_sorted_and_complete)
{
    json_t *names = zpar_registry_names (s_registry);
    const char *expected [] = { "busy_wait", "echo", "engine_info", "hostname", "primes", "pull",
                                "pull_bytes", "push", "push_bytes", "sleep" };
    cr_assert_eq (json_array_size (names), 10);
    for (size_t i = 0; i < 10; i++)
        cr_assert_str_eq (json_string_value (json_array_get (names, i)), expected [i]);
    json_decref (names);
    cr_assert_null (zpar_registry_lookup (s_registry, "nope"));
}

Test (zpar_registry, echo_returns_its_argument_or_a_list)
{
    zpar_call_t *call = s_call ("echo", json_pack ("[s]", "Hello, World"));
    cr_assert_str_eq (json_string_value (zpar_call_result (call)), "Hello, World");
    zpar_call_destroy (&call);
    call = s_call ("echo", json_pack ("[i, i]", 1, 2));
    cr_assert_eq (json_array_size (zpar_call_result (call)), 2);
    zpar_call_destroy (&call);
    call = s_call ("echo", json_array ());
    cr_assert (json_is_null (zpar_call_result (call)));
    zpar_call_destroy (&call);
}

Test (zpar_registry, primes_below_n)
{
    zpar_call_t *call = s_call ("primes", json_pack ("[i]", 30));
    json_t *expected = json_pack ("[i,i,i,i,i,i,i,i,i,i]", 2, 3, 5, 7, 11, 13, 17, 19, 23, 29);
    cr_assert (json_equal (zpar_call_result (call), expected));
    json_decref (expected);
    zpar_call_destroy (&call);
    call = s_call ("primes", json_pack ("[i]", 2));
    cr_assert_eq (json_array_size (zpar_call_result (call)), 0);
    zpar_call_destroy (&call);
}

Test (zpar_registry, bad_arguments_are_value_errors)
{
    s_expect_error ("busy_wait", json_pack ("[s]", "ten"), "ValueError");
    s_expect_error ("busy_wait", json_pack ("[i]", -1), "ValueError");
    s_expect_error ("busy_wait", json_array (), "ValueError");
    s_expect_error ("primes", json_pack ("[I]", (json_int_t) 1000000000000LL), "ValueError");
    s_expect_error ("sleep", json_pack ("[f]", -1.0), "ValueError");
    s_expect_error ("push", json_pack ("[i]", 1), "ValueError");
    s_expect_error ("pull", json_pack ("[s]", "missing"), "KeyError");
}

Test (zpar_registry, push_then_pull)
{
    zpar_call_t *call = s_call ("push", json_pack ("[{s:i, s:s}]", "a", 1, "b", "two"));
    cr_assert_null (zpar_call_error (call));
    zpar_call_destroy (&call);
    call = s_call ("pull", json_pack ("[[s, s]]", "b", "a"));
    json_t *expected = json_pack ("[s, i]", "two", 1);
    cr_assert (json_equal (zpar_call_result (call), expected));
    json_decref (expected);
    zpar_call_destroy (&call);
}

Test (zpar_registry, engine_info_describes_the_engine)
{
    zpar_call_t *call = s_call ("engine_info", json_array ());
    json_t *info = zpar_call_result (call);
    cr_assert_eq (json_integer_value (json_object_get (info, "id")), 7);
    cr_assert_str_eq (json_string_value (json_object_get (info, "host")), "h");
    cr_assert_eq (json_array_size (json_object_get (info, "functions")), 10);
    zpar_call_destroy (&call);
}

static int
s_returns_five (zpar_call_t *call)
{
    (void) call;
    return 5;
}

Test (zpar_registry, nonzero_return_is_a_function_error_naming_the_code)
{
    cr_assert_eq (zpar_registry_add (s_registry, "five", s_returns_five, NULL), 0);
    zpar_call_t *call = s_call ("five", json_array ());
    json_t *error = zpar_call_error (call);
    cr_assert_str_eq (json_string_value (json_object_get (error, "ename")), "FunctionError");
    cr_assert (strstr (json_string_value (json_object_get (error, "evalue")), "returned 5"));
    zpar_call_destroy (&call);
    cr_assert_eq (zpar_registry_add (s_registry, "", s_returns_five, NULL), -1);
}

Test (zpar_registry, a_plugin_adds_functions)
{
    char path [4096];
    const char *build = getenv ("ZPAR_BUILD");
    snprintf (path, sizeof path, "%s/examples/libzpar_example_plugin.so", build? build: "build");
    char *error = NULL;
    cr_assert_eq (zpar_registry_load (s_registry, path, &error), 0, "%s", error);
    zpar_call_t *call = s_call ("square", json_pack ("[i]", 12));
    cr_assert_eq (json_integer_value (zpar_call_result (call)), 144);
    zpar_call_destroy (&call);
}

Test (zpar_registry, a_missing_or_foreign_plugin_is_refused)
{
    char *error = NULL;
    cr_assert_eq (zpar_registry_load (s_registry, "/nonexistent/lib.so", &error), -1);
    cr_assert (strstr (error, "cannot load plugin"), "%s", error);
    free (error);
    error = NULL;
    //  A real shared object that is no zpar plugin.
    cr_assert_eq (zpar_registry_load (s_registry, "libjansson.so.4", &error), -1);
    cr_assert (strstr (error, "not a zpar plugin"), "%s", error);
    free (error);
}
