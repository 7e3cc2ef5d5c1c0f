/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __BLKSNAP_TRACKER_H
#define __BLKSNAP_TRACKER_H

#include <linux/types.h>
#include <linux/blk_types.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/rcupdate.h>
#include <linux/workqueue.h>
#include "inflight.h"
#include "passthrough.h"

struct bio;
struct block_device;
struct gendisk;
struct cbt_map;
struct diff_area;
struct tracker_part;
struct blksnap_cbt_info;
struct blksnap_sector_range;

/**
 * struct tracker_geometry - where a tracked device lies, as last seen.
 * @capacity: size in sectors.
 * @start: first sector on its disk (0 for a whole disk).
 * @disk: the disk. Compared, never dereferenced: the del_gendisk hook
 *	detaches the trackers of a disk before it goes, but a geometry update
 *	racing with that hook may leave a stale pointer here, so identity is
 *	decided by @diskseq, never by this pointer alone.
 * @diskseq: the disk's sequence number (&gendisk.diskseq), unique for the
 *	life of the system and bumped on every media change, such as a loop
 *	device given another backing file; unlike a pointer it is never reused.
 * @whole: device number of the whole disk @disk. Fixed for the life of
 *	@disk, so not compared; it is the key under which the tracker of a
 *	partition is found by bios sent to the whole disk.
 *
 * Any change of @capacity, @start, @disk or @diskseq gives the tracker a
 * new map and generation.
 */
struct tracker_geometry {
	sector_t capacity;
	sector_t start;
	struct gendisk *disk;
	u64 diskseq;
	dev_t whole;
};

/**
 * struct tracker - changed-block tracking of one block device.
 * @kref: references: one held by the registry while attached, one by each
 *	ioctl using the tracker. The bio path holds none: it finds the
 *	tracker under rcu_read_lock() and marks the map, which never sleeps,
 *	and a tracker is torn down only a grace period after it left the
 *	registry. (The snapshot, whose bio path must defer bios and sleep,
 *	will take a reference with kref_get_unless_zero() inside the RCU
 *	section.)
 * @inflight: the writes between the hook and their completion (a write
 *	holds its epoch, not a @kref); the memory goes only when the last of
 *	them completed after @kref reached zero.
 * @dev: the tracked device number; the registry key.
 * @lock: serializes map replacement, checkpoints and reads of the map by
 *	ioctls; the bio path never takes it.
 * @map: current map, published with RCU; replaced under @lock.
 * @geo: geometry the map was made for; written under @lock and the
 *	registry lock, read locklessly (READ_ONCE) by the bio path.
 * @bdev: the device @geo was read from, with a reference (to the
 *	structure, never an open: the device stays free to be removed or
 *	repartitioned); replaced with @geo.
 * @flags: TRACKER_RESIZE_PENDING, set by the bio path when it queued
 *	@resize_work; TRACKER_RESTART, a new generation is due (see
 *	tracker_restart_later()); TRACKER_HOLES, a hole was marked once
 *	(never cleared; see tracker_inflight_done()). Atomic bit operations,
 *	no lock.
 * @restart_reason: the reason of the due new generation.
 * @pending_bdev: the device with a different geometry the bio path saw,
 *	with a reference, for @resize_work; set only by the bio path that set
 *	TRACKER_RESIZE_PENDING, taken by the worker before it clears the bit.
 * @resize_work: replaces the map outside the bio path.
 * @part: entry in the list of tracked partitions of the whole disk
 *	@indexed_whole, read under RCU by bios sent to that disk; changed
 *	under the registry lock.
 * @indexed_whole: whole disk whose list holds @part, 0 when none
 *	(whole disks, detached trackers); registry lock.
 * @release_link: entry in a list of trackers being detached together.
 * @free_work: frees the tracker once @kref is zero and no write is in
 *	flight.
 * @diff_area: copy-on-write of the device while it is in a snapshot, else
 *	NULL; set and cleared under the registry lock (tracker_bind()), read
 *	under RCU by the bio path. While set, the tracker cannot be detached.
 */
struct tracker {
	struct kref kref;
	dev_t dev;
	struct mutex lock; /* see @lock above */
	struct cbt_map __rcu *map;
	struct tracker_geometry geo;
	struct block_device *bdev;
	unsigned long flags;
	u8 restart_reason;
	struct block_device *pending_bdev;
	struct work_struct resize_work;
	struct tracker_part *part;
	dev_t indexed_whole;
	struct list_head release_link;
	struct inflight inflight;
	struct work_struct free_work;
	struct diff_area __rcu *diff_area;
};

/**
 * tracker_bio_may_change() - whether a bio's operation can change data: the
 *	hook's first test, before any lookup.
 * @bio: the bio.
 *
 * Return: false for reads, flushes and zone open/close.
 */
static inline bool tracker_bio_may_change(struct bio *bio)
{
	enum req_op op = bio_op(bio);

	return op_is_write(op) || op == REQ_OP_ZONE_FINISH;
}

struct tracker *tracker_create(dev_t dev, struct block_device *bdev);
void tracker_put(struct tracker *tracker);
int tracker_drain(struct tracker *tracker);
void tracker_restart_later(struct tracker *tracker, u8 reason);
sector_t tracker_bio_sectors(struct bio *bio, struct block_device *bdev);
void tracker_inflight_done(struct inflight *inflight,
			   const struct inflight_span *span, blk_status_t status);
/* Trackers in a snapshot that tracker_bio_account() may note for a write. */
#define TRACKER_COWS 2

/**
 * struct tracker_cows - the trackers in a snapshot a write reached, noted
 *	while it was counted, for the copy-on-write decision after that
 *	(tracker_bio_cows()) without a second walk of the registry. Those
 *	where the write changes only copied chunks are not noted: it goes on
 *	there.
 * @nr: how many were found; above TRACKER_COWS (a write to a whole disk
 *	over more tracked partitions in snapshots) only the first are noted,
 *	and the decision walks the registry instead.
 * @v: each one's copy-on-write and what the write changes of its device,
 *	as tracker_bio_cow() would find them.
 */
struct tracker_cows {
	unsigned int nr;
	struct tracker_cow {
		struct diff_area *da;
		struct block_device *bdev;
		sector_t sector;
		sector_t count;
	} v[TRACKER_COWS];
};

bool tracker_account(struct tracker *tracker, struct bio *bio,
		     sector_t sector, sector_t count, void **spare,
		     struct tracker_cows *cows);
void tracker_rq_mark(struct tracker *tracker, enum passthrough_effect effect,
		     const struct passthrough_range *ranges, unsigned int nr,
		     sector_t start, sector_t size,
		     struct inflight_rq_refs *refs);
bool tracker_submit_bio(struct tracker *tracker, struct bio *bio,
			struct block_device *bdev, sector_t sector,
			void **spare, struct tracker_cows *cows);
void tracker_info(struct tracker *tracker, struct blksnap_cbt_info *info);
long tracker_read(struct tracker *tracker, u32 offset, u32 length,
		  void __user *buf, u8 *generation, bool holes);
int tracker_mark_ranges(struct tracker *tracker,
			const struct blksnap_sector_range *ranges, u32 count);
int tracker_checkpoint(struct tracker *tracker, u8 *closed,
		       u8 *generation, u8 *changes_number);
u8 tracker_checkpoint_drained(struct tracker *tracker, u8 *generation);
int tracker_wait_earlier_writes(struct block_device *bdev);

int tracker_module_init(void);
void tracker_module_exit(void);

#endif /* __BLKSNAP_TRACKER_H */
