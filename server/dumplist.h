/* kdumpd list, show and stats: the index printed for people (a table in
 * the manner of coredumpctl) or for scripts (--json, one object a line). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "dumpindex.h"

int dump_list_print(struct dump_index *idx, FILE *out, const char *host, int64_t since, bool json);
/* Every field of dump id, its directory and which of its files exist.
 * Returns -ENOENT when there is no such dump. */
int dump_show_print(struct dump_index *idx, FILE *out, int64_t id, const char *dump_root);
/* Counts by signature, kernel and host, and the totals. */
int dump_stats_print(struct dump_index *idx, FILE *out);
