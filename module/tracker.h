/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __BLKSNAP_TRACKER_H
#define __BLKSNAP_TRACKER_H

#include <linux/types.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/rcupdate.h>
#include <linux/workqueue.h>

struct bio;
struct block_device;
struct gendisk;
struct cbt_map;
struct blksnap_cbt_info;
struct blksnap_sector_range;

/**
 * struct tracker - changed-block tracking of one block device.
 * @kref: references: one held by the registry while attached, one by each
 *	ioctl using the tracker. The bio path holds none: it finds the
 *	tracker under rcu_read_lock() and only marks the map, which never
 *	sleeps, and trackers are freed only after a grace period. (The
 *	snapshot, whose bio path must defer bios and sleep, will take a
 *	reference with kref_get_unless_zero() inside the RCU section.)
 * @dev: the tracked device number; the registry key.
 * @disk: the disk of @dev when attached. Compared, never dereferenced: the
 *	del_gendisk hook detaches the trackers of a disk before it goes, but a
 *	geometry update racing with that hook may leave a stale pointer here,
 *	so identity is decided by @diskseq, never by this pointer alone.
 * @diskseq: the disk's sequence number (&gendisk.diskseq), unique for the
 *	life of the system and bumped on every media change, such as a loop
 *	device given another backing file; unlike a pointer it is never reused.
 * @lock: serializes map replacement, checkpoints and reads of the map by
 *	ioctls; the bio path never takes it.
 * @map: current map, published with RCU; replaced under @lock.
 * @capacity: device size in sectors last seen; written under @lock, read
 *	locklessly by the bio path to notice a resize.
 * @start_sect: first sector of the device on its disk (0 for a whole disk),
 *	last seen; a change means the partition was re-created elsewhere.
 *	@capacity, @start_sect, @disk and @diskseq form the geometry: any
 *	change of it gives the tracker a new map and generation.
 * @resize_pending: set by the bio path when it queued @resize_work.
 * @pending_capacity: size the bio path saw, for @resize_work.
 * @pending_start: start sector the bio path saw, for @resize_work.
 * @pending_disk: disk the bio path saw, for @resize_work.
 * @pending_diskseq: sequence number of @pending_disk the bio path saw.
 * @resize_work: replaces the map outside the bio path.
 * @release_link: entry in a list of trackers being detached together.
 */
struct tracker {
	struct kref kref;
	dev_t dev;
	struct gendisk *disk;
	u64 diskseq;
	struct mutex lock; /* see @lock above */
	struct cbt_map __rcu *map;
	sector_t capacity;
	sector_t start_sect;
	unsigned long resize_pending;
	sector_t pending_capacity;
	sector_t pending_start;
	struct gendisk *pending_disk;
	u64 pending_diskseq;
	struct work_struct resize_work;
	struct list_head release_link;
};

/**
 * struct tracker_dying_disk - a disk being deleted, see tracker_disk_dying().
 * @link: entry in the registry's list of dying disks.
 * @disk: the disk.
 */
struct tracker_dying_disk {
	struct list_head link;
	struct gendisk *disk;
};

struct tracker *tracker_find_rcu(dev_t dev);
bool tracker_none(void);
void tracker_submit_bio(struct tracker *tracker, struct bio *bio,
			struct block_device *bdev, sector_t sector);

int tracker_attach(dev_t dev);
int tracker_detach(dev_t dev);
void tracker_detach_all(void);
void tracker_disk_dying(struct gendisk *disk, struct tracker_dying_disk *d);
void tracker_disk_dead(struct tracker_dying_disk *d);
u32 tracker_list(dev_t *devs, u32 capacity);

struct tracker *tracker_get_by_dev(dev_t dev);
void tracker_put(struct tracker *tracker);
void tracker_info(struct tracker *tracker, struct blksnap_cbt_info *info);
long tracker_read(struct tracker *tracker, u32 offset, u32 length,
		  void __user *buf, u8 *generation);
int tracker_mark_ranges(struct tracker *tracker,
			const struct blksnap_sector_range *ranges, u32 count);
u8 tracker_checkpoint(struct tracker *tracker, u8 *generation,
		      u8 *changes_number);

#endif /* __BLKSNAP_TRACKER_H */
