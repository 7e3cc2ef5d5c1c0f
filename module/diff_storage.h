/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __BLKSNAP_DIFF_STORAGE_H
#define __BLKSNAP_DIFF_STORAGE_H

#include <linux/types.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <uapi/linux/blksnap.h>
#include "compat.h"

struct bio_vec;
struct block_device;
struct event_queue;
struct file;
struct seq_file;

/* Most areas (the first storage and the ones added to it) of a snapshot. */
#define DIFF_STORAGE_AREAS_MAX	BLKSNAP_SNAPSHOT_MAX_STORAGES

/*
 * A position in the storage, as diff_storage_alloc() hands it out: the
 * area's index above DIFF_STORAGE_AREA_SHIFT, the byte offset in the area
 * below (as a swap entry holds a swap type and an offset). Offsets within
 * one chunk add to a position as to a byte offset.
 */
#define DIFF_STORAGE_AREA_SHIFT	48

/**
 * struct diff_storage_area - one block device or file of a snapshot's storage.
 * @kind: BLKSNAP_STORAGE_* value.
 * @bdev: the block device, opened exclusively (kind BDEV).
 * @file: the file, opened by the module (kinds FILE and TMPFILE).
 * @fs_bdev: the block device of the file's file system, or NULL (tmpfs);
 *	stays valid while @file is open.
 * @dev: the area's device number: @bdev's, or the file system's (s_dev).
 * @direct: @file is open with O_DIRECT (every file system that offers it).
 * @limit: bytes the area may hold, a multiple of PAGE_SIZE; lowered to
 *	@size when a file cannot grow; &diff_storage.lock.
 * @size: bytes ready to be handed out: all of a device, what was fallocated
 *	of a file; &diff_storage.lock.
 * @step: bytes a file grows by at a time; 0 for a device.
 * @used: bytes handed out, from offset 0 upwards; &diff_storage.lock.
 * @grown: steps the file grew by; &diff_storage.lock.
 * @waits: times a copy found no ready room and waited for a step;
 *	&diff_storage.lock.
 */
struct diff_storage_area {
	int kind;
	struct compat_bdev bdev;
	struct file *file;
	struct block_device *fs_bdev;
	dev_t dev;
	bool direct;
	u64 limit;
	u64 size;
	u64 step;
	u64 used;
	u64 grown;
	u64 waits;
};

/**
 * struct diff_storage - where a snapshot keeps the original data of chunks.
 * @events: the snapshot's events, where low free space is raised.
 * @lock: protects @nr_areas, @cur, @limit, @size, @used, @low_free, @low,
 *	@growing and the areas' @limit, @size and @used (irq-safe: a break
 *	reads @used from any context).
 * @nr_areas: entries of @areas; an entry is set before it is counted and
 *	never changes after, so a position's area is read without the lock.
 * @cur: the area space is handed out from; earlier ones are full.
 * @areas: the areas, in the order they were given.
 * @limit: bytes usable, the sum of the areas' limits.
 * @size: bytes ready, the sum of the areas' sizes.
 * @used: bytes handed out, the sum of the areas' @used.
 * @low_free: free bytes below which the storage is low: storage_low_free_mib,
 *	at most half of @limit; 0 never.
 * @low: free space fell below @low_free since the last area was added.
 * @growing: @grow_work is queued or running.
 * @grow_work: extends the current area's file by one step.
 * @grow_wq: copies waiting for @grow_work to end.
 *
 * Space is never given back before the snapshot ends: a chunk is copied
 * once.
 */
struct diff_storage {
	struct event_queue *events;
	spinlock_t lock; /* see @lock above */
	u32 nr_areas;
	u32 cur;
	struct diff_storage_area *areas[DIFF_STORAGE_AREAS_MAX];
	u64 limit;
	u64 size;
	u64 used;
	u64 low_free;
	bool low;
	bool growing;
	struct work_struct grow_work;
	wait_queue_head_t grow_wq;
};

struct diff_storage_area *diff_storage_area_open(int fd, u64 limit,
						 void *holder);
void diff_storage_area_close(struct diff_storage_area *area);
bool diff_storage_area_on(struct diff_storage_area *area,
			  struct block_device *bdev);

struct diff_storage *diff_storage_new(struct event_queue *events);
void diff_storage_free(struct diff_storage *ds);
int diff_storage_add(struct diff_storage *ds, struct diff_storage_area *area);
int diff_storage_alloc(struct diff_storage *ds, u32 bytes, u64 *pos);
int diff_storage_alloc_batch(struct diff_storage *ds, u32 bytes, u64 *pos);
void diff_storage_usage(struct diff_storage *ds, u64 *used, u64 *size,
			u64 *limit);
u64 diff_storage_used(struct diff_storage *ds);
int diff_storage_write(struct diff_storage *ds, u64 pos,
		       struct bio_vec *bvec, u32 nr_pages);
int diff_storage_read(struct diff_storage *ds, u64 pos,
		      struct bio_vec *bvec, u32 nr_pages);
int diff_storage_flush(struct diff_storage *ds);
void diff_storage_show(struct diff_storage *ds, struct seq_file *m,
		       const char *const *kinds);
bool diff_storage_on(struct diff_storage *ds, struct block_device *bdev);
bool diff_storage_holds(struct diff_storage *ds,
			struct diff_storage_area *area);

/**
 * diff_storage_first() - the area the storage was created with.
 * @ds: the storage.
 *
 * Return: the area; it lasts as long as @ds.
 */
static inline struct diff_storage_area *
diff_storage_first(struct diff_storage *ds)
{
	return ds->areas[0];
}

#endif /* __BLKSNAP_DIFF_STORAGE_H */
