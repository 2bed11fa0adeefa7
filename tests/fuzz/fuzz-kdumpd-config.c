/* Fuzz target: kdumpd.conf(5) parsing (server/config.c). */
#include <stddef.h>
#include <stdint.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct kdumpd_config c;
        char why[256];

        kdumpd_config_init(&c);
        (void)kdumpd_config_parse(&c, (const char *)data, size, why, sizeof(why));
        kdumpd_config_done(&c);
        return 0;
}
