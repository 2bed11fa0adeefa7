/* Parsing of the sizes users write: "256M", "2G", "4096", "64K", the forms
 * the kernel's memparse() and crashkernel= accept. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Longest size string accepted; anything longer is not a size. */
#define SIZE_STRING_MAX 32

/* Parses a byte count with an optional K, M, G, T, P or E suffix (powers of
 * 1024, either case, as memparse() reads them) from buf[0..len). The whole
 * input must be used. Returns 0 and sets *ret_bytes, -EINVAL for a malformed
 * string, or -ERANGE when the value does not fit in 64 bits. */
int size_parse(const char *buf, size_t len, uint64_t *ret_bytes);

/* Formats bytes as the largest exact unit ("256M", "1536K", "7"), into buf of
 * size buflen (SIZE_STRING_MAX is always enough). Returns buf. */
char *size_format(uint64_t bytes, char *buf, size_t buflen);
