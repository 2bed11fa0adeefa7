/* Functions that are easy to misuse with data from outside, made compile
 * errors in all of kdumpkit (after git's banned.h). Use the bounded or
 * checked variants: snprintf, memcpy with a checked length, strtoull. */
#pragma once

/* The headers that declare them come first, so that the macros below do not
 * break their own declarations when this file is force-included. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BANNED(func) sorry_##func##_is_banned_in_kdumpkit

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef strtok
#define strtok(x, y) BANNED(strtok)
#undef atoi
#define atoi(x) BANNED(atoi)
#undef atol
#define atol(x) BANNED(atol)
#undef gets
#define gets(x) BANNED(gets)
