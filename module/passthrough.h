/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __BLKSNAP_PASSTHROUGH_H
#define __BLKSNAP_PASSTHROUGH_H

#include <linux/types.h>

struct request;

/* Most ranges one classified request may report (UNMAP, DSM). */
#define PASSTHROUGH_MAX_RANGES 8

/**
 * enum passthrough_effect - what a passthrough request does to its disk.
 * @PASSTHROUGH_NONE: nothing changes (reads, inquiries, cache flushes).
 * @PASSTHROUGH_RANGES: the ranges reported change.
 * @PASSTHROUGH_UNKNOWN: anything may change: the command is not understood,
 *	or changes more ranges than can be reported.
 */
enum passthrough_effect {
	PASSTHROUGH_NONE,
	PASSTHROUGH_RANGES,
	PASSTHROUGH_UNKNOWN,
};

/**
 * struct passthrough_range - sectors of the disk a command changes.
 * @sector: first sector (512 bytes) of the whole disk.
 * @count: sectors, non-zero.
 */
struct passthrough_range {
	sector_t sector;
	sector_t count;
};

enum passthrough_effect passthrough_classify(struct request *rq,
					     struct passthrough_range *ranges,
					     unsigned int *nr);

#endif /* __BLKSNAP_PASSTHROUGH_H */
