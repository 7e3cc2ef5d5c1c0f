// SPDX-License-Identifier: GPL-2.0
/*
 * Trackers: one per tracked block device, found by device number.
 *
 * A tracker does not keep its device open. Holding it open would pin the
 * disk and make partition table changes fail with EBUSY while tracking,
 * which a backup agent must not impose. Instead the tracker records the
 * geometry (disk and its sequence number, start sector, size) it was
 * built for; the bio path compares it with the device the bio names and,
 * on any difference, a worker gives the tracker a new map and generation.
 * Disk removal is seen through the del_gendisk hook (filter.c), which
 * detaches every tracker of the disk before the disk goes away.
 *
 * A bio names either a partition or a whole disk. One sent to a partition
 * reaches the partition's tracker and the whole disk's; one sent to the
 * whole disk reaches the disk's tracker and, through a second index keyed
 * by the whole disk, the trackers of its partitions that it overlaps.
 *
 * Locking:
 *  - registry_lock (mutex) serializes attach, detach, the dying-disk list,
 *    the partition index and geometry changes (a partition's device number
 *    may come back on another disk, which moves it in the index); both
 *    xarrays and the partition lists are read locklessly under RCU by the
 *    bio path.
 *  - tracker->lock (mutex) serializes map replacement, checkpoints and
 *    map reads by ioctls. Order: registry_lock, then tracker->lock.
 *  - the bio path takes no lock; it runs inside rcu_read_lock().
 */
#define pr_fmt(fmt) KBUILD_MODNAME "-tracker: " fmt

#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/slab.h>
#include <linux/xarray.h>
#include <linux/lockdep.h>
#include <uapi/linux/blksnap.h>
#include "compat.h"
#include "cbt_map.h"
#include "tracker.h"

static DEFINE_MUTEX(registry_lock);
/* dev_t -> struct tracker; modified under registry_lock, read under RCU. */
static DEFINE_XARRAY(trackers);
/*
 * Whole disk's dev_t -> struct tracker_parts, only for disks with a tracked
 * partition; modified under registry_lock, read under RCU.
 */
static DEFINE_XARRAY(parts_index);

/**
 * struct tracker_parts - the tracked partitions of one whole disk.
 * @trackers: their trackers, linked by &tracker.part_link; RCU list,
 *	changed under registry_lock. Never empty while in @parts_index.
 * @rcu: frees this after the last reader of an emptied list.
 */
struct tracker_parts {
	struct list_head trackers;
	struct rcu_head rcu;
};

/* Disks whose del_gendisk is running, see tracker_disk_dying(). */
static LIST_HEAD(dying_disks);

#define TRACKER_RESIZE_PENDING 0

static void tracker_release(struct kref *kref)
{
	struct tracker *tracker = container_of(kref, struct tracker, kref);

	/* Only reached after a grace period since the tracker left the xarray. */
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

/**
 * tracker_find_rcu() - find the tracker of a device, lock-free.
 * @dev: the device number.
 *
 * Context: rcu_read_lock() held; the tracker stays valid until it is
 * dropped.
 * Return: the tracker or NULL.
 */
struct tracker *tracker_find_rcu(dev_t dev)
{
	return xa_load(&trackers, dev);
}

/**
 * tracker_none() - whether no device is tracked, a hint for the bio path.
 *
 * Return: true when no tracker is attached.
 */
bool tracker_none(void)
{
	return xa_empty(&trackers);
}

/**
 * tracker_get_by_dev() - take a reference to the tracker of a device.
 * @dev: the device number.
 *
 * Return: the tracker, to be released with tracker_put(), or NULL.
 */
struct tracker *tracker_get_by_dev(dev_t dev)
{
	struct tracker *tracker;

	rcu_read_lock();
	tracker = xa_load(&trackers, dev);
	if (tracker && !kref_get_unless_zero(&tracker->kref))
		tracker = NULL;
	rcu_read_unlock();
	return tracker;
}

static void __tracker_unindex(struct tracker *tracker)
{
	struct tracker_parts *parts;

	lockdep_assert_held(&registry_lock);
	if (!tracker->indexed_whole)
		return;
	parts = xa_load(&parts_index, tracker->indexed_whole);
	list_del_rcu(&tracker->part_link);
	if (list_empty(&parts->trackers)) {
		xa_erase(&parts_index, tracker->indexed_whole);
		kfree_rcu(parts, rcu);
	}
	tracker->indexed_whole = 0;
}

/*
 * Put the tracker of a partition in the list of the whole disk its geometry
 * names, so that bios sent to that disk find it.
 */
static int __tracker_index(struct tracker *tracker)
{
	dev_t whole = tracker->geo.whole;
	struct tracker_parts *parts;
	int ret;

	lockdep_assert_held(&registry_lock);
	if (tracker->indexed_whole == whole)
		return 0;
	if (tracker->indexed_whole) {
		__tracker_unindex(tracker);
		/*
		 * A reader may still stand on @part_link; linking it into
		 * another list now would walk that reader into a foreign head.
		 */
		synchronize_rcu();
	}
	if (whole == tracker->dev)
		return 0;
	parts = xa_load(&parts_index, whole);
	if (!parts) {
		parts = kzalloc(sizeof(*parts), GFP_KERNEL);
		if (!parts)
			return -ENOMEM;
		INIT_LIST_HEAD(&parts->trackers);
		ret = xa_insert(&parts_index, whole, parts, GFP_KERNEL);
		if (ret) {
			kfree(parts);
			return ret;
		}
	}
	list_add_tail_rcu(&tracker->part_link, &parts->trackers);
	tracker->indexed_whole = whole;
	return 0;
}

static void __tracker_set_geometry(struct tracker *tracker,
				   const struct tracker_geometry *g)
{
	struct cbt_map *map, *old;

	lockdep_assert_held(&registry_lock);
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
	/* A detached tracker must not come back into the index. */
	if (xa_load(&trackers, tracker->dev) != tracker ||
	    !__tracker_index(tracker))
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
 * from its geometry. registry_lock is taken for the change so that the
 * partition index follows before any ioctl can see the new generation.
 */
static struct cbt_map *tracker_lock_geometry(struct tracker *tracker,
					     const struct tracker_geometry *g)
{
	bool update = g && tracker_geometry_differs(tracker, g);

	if (update)
		mutex_lock(&registry_lock);
	mutex_lock(&tracker->lock);
	if (update) {
		if (tracker_geometry_differs(tracker, g))
			__tracker_set_geometry(tracker, g);
		mutex_unlock(&registry_lock);
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

/* Sectors of the device a bio changes, 0 for a bio that changes nothing. */
static sector_t tracker_bio_sectors(struct bio *bio, struct block_device *bdev)
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
 * tracker_submit_bio_parts() - account a bio sent to a whole disk in the
 *	trackers of the partitions it overlaps.
 * @bio: the bio; its device is a whole disk, its sector relative to it.
 *
 * Each tracked partition of the disk marks the part of the bio inside it,
 * relative to its own start, placed by its recorded geometry: the bio does
 * not name the partition, so it cannot tell that the partition moved. If it
 * did, the recorded geometry no longer matches the partition, and the next
 * bio sent to the partition or the next ioctl on its tracker starts a new
 * generation, in which none of the misplaced marks survive.
 *
 * Costs one xarray lookup for a disk without tracked partitions.
 *
 * Context: rcu_read_lock() held; does not sleep.
 */
void tracker_submit_bio_parts(struct bio *bio)
{
	struct block_device *whole = bio->bi_bdev;
	struct gendisk *disk = whole->bd_disk;
	sector_t first = bio->bi_iter.bi_sector, last, count;
	struct tracker_parts *parts;
	struct tracker *tracker;
	u64 diskseq;

	parts = xa_load(&parts_index, whole->bd_dev);
	if (!parts)
		return;
	count = tracker_bio_sectors(bio, whole);
	if (!count)
		return;
	if (check_add_overflow(first, count - 1, &last))
		last = (sector_t)-1;
	diskseq = READ_ONCE(disk->diskseq);
	list_for_each_entry_rcu(tracker, &parts->trackers, part_link) {
		sector_t start = READ_ONCE(tracker->geo.start);
		sector_t size = READ_ONCE(tracker->geo.capacity);
		sector_t end = start + size - 1, from, to;

		/* A media change: the partition is not known to be there. */
		if (READ_ONCE(tracker->geo.disk) != disk ||
		    READ_ONCE(tracker->geo.diskseq) != diskseq)
			continue;
		if (!size || last < start || first > end)
			continue;
		from = max(first, start);
		to = min(last, end);
		cbt_map_mark(rcu_dereference(tracker->map), from - start,
			     to - from + 1);
	}
}

/*
 * A del_gendisk that started before us has already swept the registry; one
 * that finished has unhashed the disk. Either way a tracker inserted now
 * would outlive its disk.
 */
static bool __tracker_disk_gone(struct gendisk *disk)
{
	struct tracker_dying_disk *d;

	lockdep_assert_held(&registry_lock);
	if (!disk_live(disk))
		return true;
	list_for_each_entry(d, &dying_disks, link)
		if (d->disk == disk)
			return true;
	return false;
}

static int __tracker_publish(struct tracker *tracker)
{
	int ret;

	lockdep_assert_held(&registry_lock);
	if (__tracker_disk_gone(tracker->geo.disk))
		return -ENODEV;
	if (xa_load(&trackers, tracker->dev))
		return -EALREADY;
	ret = __tracker_index(tracker);
	if (ret)
		return ret;
	ret = xa_insert(&trackers, tracker->dev, tracker, GFP_KERNEL);
	if (ret)
		__tracker_unindex(tracker);
	return ret == -EBUSY ? -EALREADY : ret;
}

/**
 * tracker_attach() - start tracking a device.
 * @dev: the device number.
 *
 * Return: 0, -ENODEV no such device, -EALREADY already tracked, -ENOMEM.
 */
int tracker_attach(dev_t dev)
{
	struct tracker *tracker;
	u32 block_count, block_size;
	sector_t capacity;
	struct cbt_map *map;
	struct compat_bdev h;
	int ret;

	/*
	 * Open before taking registry_lock: opening may load a driver or
	 * take driver locks held around del_gendisk, whose hook takes
	 * registry_lock.
	 */
	ret = compat_bdev_open(dev, &h);
	if (ret)
		return ret == -ENOMEM ? ret : -ENODEV;

	tracker = kzalloc(sizeof(*tracker), GFP_KERNEL);
	if (!tracker) {
		ret = -ENOMEM;
		goto out_close;
	}
	kref_init(&tracker->kref);
	mutex_init(&tracker->lock);
	INIT_WORK(&tracker->resize_work, tracker_resize_work);
	INIT_LIST_HEAD(&tracker->release_link);
	tracker->dev = dev;
	tracker_geometry_of(h.bdev, &tracker->geo);

	map = cbt_map_create(tracker->geo.capacity);
	if (IS_ERR(map)) {
		ret = PTR_ERR(map) == -EFBIG ? -ENOMEM : PTR_ERR(map);
		goto out_free;
	}
	RCU_INIT_POINTER(tracker->map, map);
	/* Once published, @map and @tracker may go at any time. */
	capacity = tracker->geo.capacity;
	block_count = map->block_count;
	block_size = 1U << map->block_shift;

	mutex_lock(&registry_lock);
	ret = __tracker_publish(tracker);
	mutex_unlock(&registry_lock);
	if (ret)
		goto out_unseen;
	compat_bdev_close(&h);
	pr_info("device %u:%u attached: %llu sectors, %u blocks of %u bytes\n",
		MAJOR(dev), MINOR(dev), (unsigned long long)capacity,
		block_count, block_size);
	return 0;

out_unseen:
	/* Bios sent to the whole disk may have found it in the index. */
	synchronize_rcu();
	cancel_work_sync(&tracker->resize_work);
out_free:
	tracker_put(tracker);
out_close:
	compat_bdev_close(&h);
	return ret;
}

/*
 * Free trackers already removed from the xarray: wait until the bio path
 * can no longer see them, stop their worker, drop the registry reference.
 */
static void tracker_release_list(struct list_head *list)
{
	struct tracker *tracker, *next;

	if (list_empty(list))
		return;
	synchronize_rcu();
	list_for_each_entry_safe(tracker, next, list, release_link) {
		list_del_init(&tracker->release_link);
		/* No bio can queue it any more after the grace period. */
		cancel_work_sync(&tracker->resize_work);
		pr_info("device %u:%u detached\n",
			MAJOR(tracker->dev), MINOR(tracker->dev));
		tracker_put(tracker);
	}
}

static void __tracker_unpublish(struct tracker *tracker,
				struct list_head *list)
{
	lockdep_assert_held(&registry_lock);
	xa_erase(&trackers, tracker->dev);
	__tracker_unindex(tracker);
	list_add_tail(&tracker->release_link, list);
}

/**
 * tracker_detach() - stop tracking a device.
 * @dev: the device number.
 *
 * Return: 0 or -ENOENT.
 */
int tracker_detach(dev_t dev)
{
	struct tracker *tracker;
	LIST_HEAD(list);

	mutex_lock(&registry_lock);
	tracker = xa_load(&trackers, dev);
	if (tracker)
		__tracker_unpublish(tracker, &list);
	mutex_unlock(&registry_lock);
	if (!tracker)
		return -ENOENT;
	tracker_release_list(&list);
	return 0;
}

/**
 * tracker_detach_all() - detach every tracker, at module unload.
 */
void tracker_detach_all(void)
{
	struct tracker *tracker;
	unsigned long index;
	LIST_HEAD(list);

	mutex_lock(&registry_lock);
	xa_for_each(&trackers, index, tracker)
		__tracker_unpublish(tracker, &list);
	mutex_unlock(&registry_lock);
	tracker_release_list(&list);
}

/**
 * tracker_disk_dying() - a disk is about to be deleted.
 * @disk: the disk.
 * @d: caller's record, kept until tracker_disk_dead().
 *
 * Synchronously detaches the trackers of the disk and of its partitions,
 * and refuses attaches to it until tracker_disk_dead().
 */
void tracker_disk_dying(struct gendisk *disk, struct tracker_dying_disk *d)
{
	struct tracker *tracker;
	unsigned long index;
	LIST_HEAD(list);

	d->disk = disk;
	mutex_lock(&registry_lock);
	list_add(&d->link, &dying_disks);
	xa_for_each(&trackers, index, tracker)
		if (tracker->geo.disk == disk)
			__tracker_unpublish(tracker, &list);
	mutex_unlock(&registry_lock);
	tracker_release_list(&list);
}

/**
 * tracker_disk_dead() - a disk announced by tracker_disk_dying() is gone.
 * @d: the record given to tracker_disk_dying().
 */
void tracker_disk_dead(struct tracker_dying_disk *d)
{
	mutex_lock(&registry_lock);
	list_del(&d->link);
	mutex_unlock(&registry_lock);
}

/**
 * tracker_list() - list the tracked devices.
 * @devs: array of @capacity entries to fill.
 * @capacity: entries @devs holds; may be zero.
 *
 * Return: number of trackers, possibly more than @capacity.
 */
u32 tracker_list(dev_t *devs, u32 capacity)
{
	struct tracker *tracker;
	unsigned long index;
	u32 count = 0;

	mutex_lock(&registry_lock);
	xa_for_each(&trackers, index, tracker) {
		if (count < capacity)
			devs[count] = tracker->dev;
		count++;
	}
	mutex_unlock(&registry_lock);
	return count;
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
