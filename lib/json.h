/* Writing JSON: just enough for crash.json, `dumptool info --json` and
 * kdumpd's listings. Strings from a dump are untrusted bytes; they are
 * escaped so that any input gives valid JSON. */
#pragma once

#include <stdio.h>

/* Writes s as a JSON string, or null when s is NULL. Bytes that are not
 * printable ASCII become \u00NN, so a log's binary garbage stays valid. */
void json_string(FILE *f, const char *s);

/* Writes "key": and then the string value. */
void json_field_string(FILE *f, const char *key, const char *value, const char *after);
