/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __BLKSNAP_CHUNK_H
#define __BLKSNAP_CHUNK_H

#include <linux/types.h>
#include <linux/bio.h>
#include <linux/list.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>

struct diff_area;
struct diff_buffer;
struct image_io;

/**
 * enum chunk_cow - how far the copy of a chunk's original data has come.
 * @CHUNK_COPYING: the original is being read from the device; writes to
 *	the chunk wait, image reads go to the device.
 * @CHUNK_CAPTURED: the original is in memory; image reads no longer go to
 *	the device, but some sent there earlier may still be in flight, so
 *	writes still wait.
 * @CHUNK_PASS: writes go straight to the device.
 *
 * The state only moves forward. A chunk with no &struct chunk (never
 * written since take) holds its original on the device.
 */
enum chunk_cow {
	CHUNK_COPYING = 0,
	CHUNK_CAPTURED,
	CHUNK_PASS,
};

/**
 * struct chunk - one copy-on-write unit of a device, once written.
 * @da: the device's copy-on-write state, which owns the chunk.
 * @number: index of the chunk on the device.
 * @size: bytes (the last chunk of a device may be short).
 * @cow: enum chunk_cow. Written under @lock and, for the step to
 *	CHUNK_CAPTURED, under &diff_area.readers_lock too; read locklessly
 *	(READ_ONCE) by the bio path, which only tests for CHUNK_PASS.
 * @lock: protects @stored, @failed, @buf, @offset and @waiters.
 * @read_status: result of the read of the original, for the pass.
 * @stored: the original is in the storage at @offset.
 * @failed: the original was lost (read error, no memory, no storage).
 * @buf: the original while it is in memory, else NULL.
 * @offset: position of the original in the storage (its area and byte
 *	offset, from diff_storage_alloc()), once @stored.
 * @waiters: parked writes waiting for CHUNK_PASS (&struct diff_area_req).
 * @link: entry in the run of chunks read with one bio (chunk_copy()),
 *	then in &diff_area.reads_done once the read is over, then in
 *	&diff_area.stores until the original is stored.
 */
struct chunk {
	struct diff_area *da;
	unsigned long number;
	u32 size;
	int cow;
	spinlock_t lock; /* see @lock above */
	blk_status_t read_status;
	bool stored;
	bool failed;
	struct diff_buffer *buf;
	u64 offset;
	struct list_head waiters;
	struct list_head link;
};

/*
 * The module's own bios: reads of originals, storage I/O and image reads
 * sent to the origin. The bio path recognises them by this set.
 */
extern struct bio_set chunk_io_bioset;
/* Parked writes and the step to CHUNK_PASS (may wait for image reads). */
extern struct workqueue_struct *chunk_cow_wq;
/* Storage I/O: writes of originals, image reads of stored chunks. */
extern struct workqueue_struct *chunk_store_wq;

int chunk_init(void);
void chunk_exit(void);
struct chunk *chunk_alloc(struct diff_area *da, unsigned long number);
void chunk_free(struct chunk *c);
void chunk_copy(struct list_head *run);
bool chunk_wait(struct chunk *c, struct list_head *link);
void chunk_image_read(struct chunk *c, struct image_io *io, u32 offset);
void chunk_pass_work(struct work_struct *work);
void chunk_store_work(struct work_struct *work);

/**
 * chunk_passes() - whether writes to the chunk may go to the device now.
 * @c: the chunk.
 *
 * Context: any; lockless.
 * Return: true once the chunk reached CHUNK_PASS.
 */
static inline bool chunk_passes(struct chunk *c)
{
	return READ_ONCE(c->cow) == CHUNK_PASS;
}

#endif /* __BLKSNAP_CHUNK_H */
