// SPDX-License-Identifier: GPL-2.0
/*
 * Trackers: changed-block tracking of one block device each.
 *
 * A tracker does not keep its device open. Holding it open would pin the
 * disk and make partition table changes fail with EBUSY while tracking,
 * which a backup agent must not impose. Instead the tracker records the
 * geometry (disk and its sequence number, start sector, size) it was
 * built for; the bio path compares it with the device the bio names and,
 * on any difference, a worker gives the tracker a new map and generation.
 * Which trackers exist, and which of them a bio reaches, is registry.c's.
 *
 * Locking:
 *  - tracker->lock (mutex) serializes map replacement, checkpoints and
 *    map reads by ioctls. A geometry change also holds the registry lock
 *    (registry.c), taken first: order registry lock, then tracker->lock.
 *  - the bio path takes no lock; it runs inside rcu_read_lock().
 */
#define pr_fmt(fmt) KBUILD_MODNAME "-tracker: " fmt

#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/slab.h>
#include <linux/lockdep.h>
#include <uapi/linux/blksnap.h>
#include "compat.h"
#include "cbt_map.h"
#include "tracker.h"
#include "registry.h"

#define TRACKER_RESIZE_PENDING 0

static void tracker_release(struct kref *kref)
{
	struct tracker *tracker = container_of(kref, struct tracker, kref);

	/*
	 * Only reached after a grace period since the tracker left the xarray,
	 * or when it never entered it.
	 */
	cbt_map_destroy(rcu_dereference_protected(tracker->map, 1));
	kfree(tracker);
}

/**
 * tracker_put() - drop a reference.
 * @tracker: the tracker.
 */
void tracker_put(struct tracker *tracker)
{
	kref_put(&tracker->kref, tracker_release);
}

static void __tracker_set_geometry(struct tracker *tracker,
				   const struct tracker_geometry *g)
{
	struct cbt_map *map, *old;

	registry_assert_held();
	lockdep_assert_held(&tracker->lock);
	old = rcu_dereference_protected(tracker->map,
					lockdep_is_held(&tracker->lock));
	map = cbt_map_create(g->capacity);
	if (IS_ERR(map)) {
		/*
		 * Keep marking the old map so nothing already recorded is
		 * lost, but tell user space it no longer covers the device.
		 */
		pr_err("device %u:%u: no map for %llu sectors (%ld), changed-block data is now incomplete\n",
		       MAJOR(tracker->dev), MINOR(tracker->dev),
		       (unsigned long long)g->capacity, PTR_ERR(map));
		old->flags |= BLKSNAP_CBT_FLAG_CORRUPTED;
	} else {
		pr_info("device %u:%u: size or place changed to %llu sectors at %llu, new generation\n",
			MAJOR(tracker->dev), MINOR(tracker->dev),
			(unsigned long long)g->capacity,
			(unsigned long long)g->start);
		rcu_assign_pointer(tracker->map, map);
	}
	WRITE_ONCE(tracker->geo.capacity, g->capacity);
	WRITE_ONCE(tracker->geo.start, g->start);
	WRITE_ONCE(tracker->geo.disk, g->disk);
	WRITE_ONCE(tracker->geo.diskseq, g->diskseq);
	tracker->geo.whole = g->whole;
	if (!IS_ERR(map)) {
		/* Markers may still hold the old map inside rcu_read_lock(). */
		synchronize_rcu();
		cbt_map_destroy(old);
	}
	if (!__registry_reindex(tracker))
		return;
	pr_err("device %u:%u: out of memory, writes sent to its whole disk are no longer seen\n",
	       MAJOR(tracker->dev), MINOR(tracker->dev));
	map = rcu_dereference_protected(tracker->map,
					lockdep_is_held(&tracker->lock));
	map->flags |= BLKSNAP_CBT_FLAG_CORRUPTED;
}

static bool tracker_geometry_differs(struct tracker *tracker,
				     const struct tracker_geometry *g)
{
	return g->capacity != READ_ONCE(tracker->geo.capacity) ||
	       g->start != READ_ONCE(tracker->geo.start) ||
	       g->disk != READ_ONCE(tracker->geo.disk) ||
	       g->diskseq != READ_ONCE(tracker->geo.diskseq);
}

/*
 * Lock the tracker, first giving it a new map if @g (NULL: unknown) differs
 * from its geometry. The registry lock is taken for the change so that the
 * partition index follows before any ioctl can see the new generation.
 */
static struct cbt_map *tracker_lock_geometry(struct tracker *tracker,
					     const struct tracker_geometry *g)
{
	bool update = g && tracker_geometry_differs(tracker, g);

	if (update)
		registry_lock();
	mutex_lock(&tracker->lock);
	if (update) {
		if (tracker_geometry_differs(tracker, g))
			__tracker_set_geometry(tracker, g);
		registry_unlock();
	}
	return rcu_dereference_protected(tracker->map,
					 lockdep_is_held(&tracker->lock));
}

static void tracker_resize_work(struct work_struct *work)
{
	struct tracker *tracker = container_of(work, struct tracker,
					       resize_work);
	struct tracker_geometry g;

	clear_bit(TRACKER_RESIZE_PENDING, &tracker->resize_pending);
	/* Pairs with the bio path: see its geometry after clearing the bit. */
	smp_mb__after_atomic();
	g.capacity = READ_ONCE(tracker->pending.capacity);
	g.start = READ_ONCE(tracker->pending.start);
	g.disk = READ_ONCE(tracker->pending.disk);
	g.diskseq = READ_ONCE(tracker->pending.diskseq);
	g.whole = READ_ONCE(tracker->pending.whole);

	tracker_lock_geometry(tracker, &g);
	mutex_unlock(&tracker->lock);
}

static void tracker_geometry_of(struct block_device *bdev,
				struct tracker_geometry *g)
{
	g->capacity = bdev_nr_sectors(bdev);
	g->start = bdev->bd_start_sect;
	g->disk = bdev->bd_disk;
	g->diskseq = READ_ONCE(bdev->bd_disk->diskseq);
	g->whole = bdev_whole(bdev)->bd_dev;
}

/**
 * tracker_create() - make a tracker for an open device, not yet published.
 * @dev: the device number.
 * @bdev: the device, open for the call only: the tracker does not keep it.
 *
 * Return: the tracker with one reference, for the registry, or
 * ERR_PTR(-ENOMEM).
 */
struct tracker *tracker_create(dev_t dev, struct block_device *bdev)
{
	struct tracker *tracker;
	struct cbt_map *map;

	tracker = kzalloc(sizeof(*tracker), GFP_KERNEL);
	if (!tracker)
		return ERR_PTR(-ENOMEM);
	kref_init(&tracker->kref);
	mutex_init(&tracker->lock);
	INIT_WORK(&tracker->resize_work, tracker_resize_work);
	INIT_LIST_HEAD(&tracker->release_link);
	tracker->dev = dev;
	tracker_geometry_of(bdev, &tracker->geo);

	map = cbt_map_create(tracker->geo.capacity);
	if (IS_ERR(map)) {
		tracker_put(tracker);
		return ERR_PTR(PTR_ERR(map) == -EFBIG ? -ENOMEM : PTR_ERR(map));
	}
	RCU_INIT_POINTER(tracker->map, map);
	return tracker;
}

/*
 * Lock the tracker after checking the device's geometry, so that an ioctl
 * sees a resize even when no write has arrived since. The device is opened
 * only for the check; if it cannot be opened the current state stands.
 */
static struct cbt_map *tracker_lock_fresh(struct tracker *tracker)
{
	struct tracker_geometry g;
	struct compat_bdev h;

	if (compat_bdev_open(tracker->dev, &h))
		return tracker_lock_geometry(tracker, NULL);
	/* g.disk is only compared once the device is closed. */
	tracker_geometry_of(h.bdev, &g);
	compat_bdev_close(&h);
	return tracker_lock_geometry(tracker, &g);
}

/**
 * tracker_bio_sectors() - sectors of the device a bio changes.
 * @bio: the bio.
 * @bdev: the device the bio is accounted to.
 *
 * Return: the count, 0 for a bio that changes nothing.
 */
sector_t tracker_bio_sectors(struct bio *bio, struct block_device *bdev)
{
	switch (bio_op(bio)) {
	case REQ_OP_WRITE:
	case REQ_OP_DISCARD:
	case REQ_OP_SECURE_ERASE:
	case REQ_OP_WRITE_ZEROES:
		return bio_sectors(bio);
	case REQ_OP_ZONE_APPEND:
		/* The data lands somewhere in the zone starting at the sector. */
		return max_t(sector_t, bio_sectors(bio),
			     bdev_zone_sectors(bdev));
	default:
		return 0;
	}
}

/**
 * tracker_submit_bio() - account a bio that is about to be submitted.
 * @tracker: tracker of @bdev, found under RCU.
 * @bio: the bio.
 * @bdev: the tracked device the bio reaches (a whole disk for a bio sent
 *	to one of its partitions).
 * @sector: first sector of the bio relative to @bdev.
 *
 * Writes, discards, secure erases and write-zeroes mark the blocks they
 * cover, with or without FUA/PREFLUSH; reads and empty flushes do nothing.
 *
 * Context: rcu_read_lock() held; does not sleep.
 */
void tracker_submit_bio(struct tracker *tracker, struct bio *bio,
			struct block_device *bdev, sector_t sector)
{
	sector_t count = tracker_bio_sectors(bio, bdev);
	struct tracker_geometry g;

	if (!count)
		return;
	/* diskseq is written by inc_diskseq() on a media change. */
	tracker_geometry_of(bdev, &g);
	if (unlikely(tracker_geometry_differs(tracker, &g))) {
		WRITE_ONCE(tracker->pending.capacity, g.capacity);
		WRITE_ONCE(tracker->pending.start, g.start);
		WRITE_ONCE(tracker->pending.disk, g.disk);
		WRITE_ONCE(tracker->pending.diskseq, g.diskseq);
		WRITE_ONCE(tracker->pending.whole, g.whole);
		/*
		 * Publish the geometry before testing the bit; pairs with the
		 * barrier after clear_bit() in tracker_resize_work(), so
		 * either the worker sees it or we queue the worker again.
		 */
		smp_mb__before_atomic();
		/* Allocating a map here could sleep or recurse into I/O. */
		if (!test_and_set_bit(TRACKER_RESIZE_PENDING,
				      &tracker->resize_pending))
			queue_work(system_unbound_wq, &tracker->resize_work);
	}
	cbt_map_mark(rcu_dereference(tracker->map), sector, count);
}

/**
 * tracker_info() - describe the tracker's map.
 * @tracker: the tracker.
 * @info: filled in except for @info->dev.
 */
void tracker_info(struct tracker *tracker, struct blksnap_cbt_info *info)
{
	struct cbt_map *map = tracker_lock_fresh(tracker);

	info->device_capacity = tracker->geo.capacity;
	info->block_size = 1U << map->block_shift;
	info->block_count = map->block_count;
	export_uuid(info->generation_id, &map->generation);
	info->changes_number = map->changes_number;
	info->flags = map->flags;
	mutex_unlock(&tracker->lock);
}

/**
 * tracker_read() - copy part of the map to user space.
 * @tracker: the tracker.
 * @offset: first block.
 * @length: bytes wanted, non-zero.
 * @buf: user buffer.
 * @generation: receives the generation of the copied bytes.
 *
 * Return: bytes copied, -ERANGE @offset past the map, -ENOMEM, -EFAULT.
 */
long tracker_read(struct tracker *tracker, u32 offset, u32 length,
		  void __user *buf, u8 *generation)
{
	struct cbt_map *map = tracker_lock_fresh(tracker);
	u8 *bounce;
	long ret;
	u32 n;

	if (offset >= map->block_count) {
		mutex_unlock(&tracker->lock);
		return -ERANGE;
	}
	/*
	 * Copy through a kernel buffer: a fault on @buf (userfaultfd, a file
	 * on a dying disk) must not happen under @tracker->lock, which the
	 * resize worker, and so del_gendisk() through detach, waits for.
	 */
	n = min(length, map->block_count - offset);
	bounce = kvmalloc(n, GFP_KERNEL);
	if (!bounce) {
		mutex_unlock(&tracker->lock);
		return -ENOMEM;
	}
	cbt_map_copy(map, offset, n, bounce);
	export_uuid(generation, &map->generation);
	mutex_unlock(&tracker->lock);

	ret = n;
	if (copy_to_user(buf, bounce, n))
		ret = -EFAULT;
	kvfree(bounce);
	return ret;
}

/**
 * tracker_mark_ranges() - mark sector ranges as changed now.
 * @tracker: the tracker.
 * @ranges: the ranges.
 * @count: number of @ranges.
 *
 * Return: 0, or -ERANGE (and nothing marked) if any range is empty or runs
 * past the end of the device.
 */
int tracker_mark_ranges(struct tracker *tracker,
			const struct blksnap_sector_range *ranges, u32 count)
{
	struct cbt_map *map = tracker_lock_fresh(tracker);
	int ret = 0;
	u64 end;
	u32 i;

	for (i = 0; i < count; i++) {
		if (!ranges[i].sector_count ||
		    check_add_overflow(ranges[i].sector_offset,
				       ranges[i].sector_count, &end) ||
		    end > tracker->geo.capacity) {
			ret = -ERANGE;
			goto out_unlock;
		}
	}
	for (i = 0; i < count; i++)
		cbt_map_mark(map, ranges[i].sector_offset,
			     ranges[i].sector_count);
out_unlock:
	mutex_unlock(&tracker->lock);
	return ret;
}

/**
 * tracker_checkpoint() - close the current change number.
 * @tracker: the tracker.
 * @generation: receives the generation after the checkpoint.
 * @changes_number: receives the number later writes carry.
 *
 * Return: the closed number, 0 when a new generation began.
 */
u8 tracker_checkpoint(struct tracker *tracker, u8 *generation,
		      u8 *changes_number)
{
	struct cbt_map *map = tracker_lock_fresh(tracker);
	u8 closed;

	closed = cbt_map_checkpoint(map);
	export_uuid(generation, &map->generation);
	*changes_number = map->changes_number;
	/*
	 * A marker that read the closed number before the store may still be
	 * writing it; markers run under rcu_read_lock(). Wait for them, so a
	 * map read after this returns holds every mark made with that number.
	 */
	synchronize_rcu();
	mutex_unlock(&tracker->lock);
	return closed;
}
