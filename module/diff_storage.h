/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __BLKSNAP_DIFF_STORAGE_H
#define __BLKSNAP_DIFF_STORAGE_H

#include <linux/types.h>
#include <linux/spinlock.h>
#include "compat.h"

struct bio_vec;
struct block_device;
struct event_queue;
struct file;

/**
 * struct diff_storage - where a snapshot keeps the original data of chunks.
 * @kind: BLKSNAP_STORAGE_* value.
 * @bdev: the block device, opened exclusively (kind BDEV).
 * @file: the file, opened by the module (kinds FILE and TMPFILE).
 * @fs_bdev: the block device of the file's file system, or NULL (tmpfs);
 *	stays valid while @file is open.
 * @dev: the storage device number: @bdev's, or the file system's (s_dev).
 * @direct: @file is open with O_DIRECT (every file system that offers it).
 * @limit: bytes usable, a multiple of PAGE_SIZE.
 * @low_free: free bytes below which the storage is low: storage_low_free_mib,
 *	at most half of @limit; 0 never.
 * @events: the snapshot's events, where low free space is raised.
 * @lock: protects @used and @low (irq-safe: a break reads @used from any
 *	context).
 * @used: bytes handed out, from offset 0 upwards.
 * @low: free space fell below @low_free; it is raised once.
 *
 * Space is never given back before the snapshot ends: a chunk is copied
 * once.
 */
struct diff_storage {
	int kind;
	struct compat_bdev bdev;
	struct file *file;
	struct block_device *fs_bdev;
	dev_t dev;
	bool direct;
	u64 limit;
	u64 low_free;
	struct event_queue *events;
	spinlock_t lock; /* see @lock above */
	u64 used;
	bool low;
};

struct diff_storage *diff_storage_open(int fd, u64 limit, void *holder,
				       struct event_queue *events);
void diff_storage_close(struct diff_storage *ds);
int diff_storage_alloc(struct diff_storage *ds, u32 bytes, u64 *offset);
u64 diff_storage_used(struct diff_storage *ds);
int diff_storage_write(struct diff_storage *ds, u64 offset,
		       struct bio_vec *bvec, u32 nr_pages);
int diff_storage_read(struct diff_storage *ds, u64 offset,
		      struct bio_vec *bvec, u32 nr_pages);
bool diff_storage_on(struct diff_storage *ds, struct block_device *bdev);
bool diff_storage_same(struct diff_storage *a, struct diff_storage *b);

#endif /* __BLKSNAP_DIFF_STORAGE_H */
