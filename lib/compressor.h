/* Parallel page compression that keeps the output in pfn order: the caller
 * adds pfns in order, worker threads read and compress them in jobs, and the
 * finished pages come back through a sink in the order they were added. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "codec.h"
#include "vmcore.h"

struct compressor;

/* Receives one finished page: zero is true for an all-zero page when zero
 * pages are shared (data is then NULL); else the stored bytes and the
 * descriptor flags (0 = raw). Returns 0 or a negative errno, which stops
 * the compressor. */
typedef int (*compressor_sink)(void *userdata, bool zero, const uint8_t *data, uint32_t size, uint32_t flags);

/* threads workers (1..DUMP_THREADS_MAX) reading pages of v. With
 * detect_zero, all-zero pages are reported as zero instead of compressed. */
int compressor_new(struct vmcore *v, enum codec_kind kind, unsigned threads, bool detect_zero, compressor_sink sink,
                   void *userdata, struct compressor **ret);

/* Stops and joins the workers; pages not yet delivered are dropped. */
struct compressor *compressor_free(struct compressor *c);

/* Adds the next pfn to dump. With known_zero (and detect_zero), the caller
 * knows the page is zero and it is delivered as zero without being read.
 * May deliver finished pages to the sink. Returns 0 or the first error of a
 * worker or the sink. */
int compressor_add(struct compressor *c, uint64_t pfn, bool known_zero);

/* Delivers every page added so far. Returns 0 or the first error. */
int compressor_flush(struct compressor *c);

/* After an error: whether it was a page that could not be read, and which.
 * The pages added before it were delivered. */
bool compressor_read_failed(struct compressor *c, uint64_t *ret_pfn);
