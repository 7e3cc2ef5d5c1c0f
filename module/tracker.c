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
 * Locking:
 *  - registry_lock (mutex) serializes attach, detach and the dying-disk
 *    list; the xarray is read locklessly under RCU by the bio path.
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

static void __tracker_set_geometry(struct tracker *tracker, sector_t capacity,
				   sector_t start, struct gendisk *disk,
				   u64 diskseq)
{
	struct cbt_map *map, *old;

	lockdep_assert_held(&tracker->lock);
	old = rcu_dereference_protected(tracker->map,
					lockdep_is_held(&tracker->lock));
	map = cbt_map_create(capacity);
	if (IS_ERR(map)) {
		/*
		 * Keep marking the old map so nothing already recorded is
		 * lost, but tell user space it no longer covers the device.
		 */
		pr_err("device %u:%u: no map for %llu sectors (%ld), changed-block data is now incomplete\n",
		       MAJOR(tracker->dev), MINOR(tracker->dev),
		       (unsigned long long)capacity, PTR_ERR(map));
		old->flags |= BLKSNAP_CBT_FLAG_CORRUPTED;
	} else {
		pr_info("device %u:%u: size or place changed to %llu sectors at %llu, new generation\n",
			MAJOR(tracker->dev), MINOR(tracker->dev),
			(unsigned long long)capacity,
			(unsigned long long)start);
		rcu_assign_pointer(tracker->map, map);
	}
	WRITE_ONCE(tracker->capacity, capacity);
	WRITE_ONCE(tracker->start_sect, start);
	WRITE_ONCE(tracker->disk, disk);
	WRITE_ONCE(tracker->diskseq, diskseq);
	if (!IS_ERR(map)) {
		/* Markers may still hold the old map inside rcu_read_lock(). */
		synchronize_rcu();
		cbt_map_destroy(old);
	}
}

static bool tracker_geometry_differs(struct tracker *tracker,
				     sector_t capacity, sector_t start,
				     struct gendisk *disk, u64 diskseq)
{
	return capacity != READ_ONCE(tracker->capacity) ||
	       start != READ_ONCE(tracker->start_sect) ||
	       disk != READ_ONCE(tracker->disk) ||
	       diskseq != READ_ONCE(tracker->diskseq);
}

static void tracker_resize_work(struct work_struct *work)
{
	struct tracker *tracker = container_of(work, struct tracker,
					       resize_work);
	sector_t capacity, start;
	struct gendisk *disk;
	u64 diskseq;

	clear_bit(TRACKER_RESIZE_PENDING, &tracker->resize_pending);
	/* Pairs with the bio path: see its geometry after clearing the bit. */
	smp_mb__after_atomic();
	capacity = READ_ONCE(tracker->pending_capacity);
	start = READ_ONCE(tracker->pending_start);
	disk = READ_ONCE(tracker->pending_disk);
	diskseq = READ_ONCE(tracker->pending_diskseq);

	mutex_lock(&tracker->lock);
	if (tracker_geometry_differs(tracker, capacity, start, disk, diskseq))
		__tracker_set_geometry(tracker, capacity, start, disk,
				       diskseq);
	mutex_unlock(&tracker->lock);
}

/*
 * Lock the tracker after checking the device's geometry, so that an ioctl
 * sees a resize even when no write has arrived since. The device is opened
 * only for the check; if it cannot be opened the current state stands.
 */
static struct cbt_map *tracker_lock_fresh(struct tracker *tracker)
{
	struct compat_bdev h;
	sector_t capacity = 0, start = 0;
	struct gendisk *disk = NULL;
	bool opened = false;
	u64 diskseq = 0;

	if (!compat_bdev_open(tracker->dev, &h)) {
		capacity = bdev_nr_sectors(h.bdev);
		start = h.bdev->bd_start_sect;
		disk = h.bdev->bd_disk;	/* only compared once closed */
		diskseq = READ_ONCE(disk->diskseq);
		compat_bdev_close(&h);
		opened = true;
	}
	mutex_lock(&tracker->lock);
	if (opened &&
	    tracker_geometry_differs(tracker, capacity, start, disk, diskseq))
		__tracker_set_geometry(tracker, capacity, start, disk, diskseq);
	return rcu_dereference_protected(tracker->map,
					 lockdep_is_held(&tracker->lock));
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
	struct gendisk *disk = bdev->bd_disk;
	sector_t count = bio_sectors(bio);
	u64 diskseq;

	switch (bio_op(bio)) {
	case REQ_OP_WRITE:
	case REQ_OP_DISCARD:
	case REQ_OP_SECURE_ERASE:
	case REQ_OP_WRITE_ZEROES:
		break;
	case REQ_OP_ZONE_APPEND:
		/* The data lands somewhere in the zone starting at @sector. */
		count = max(count, bdev_zone_sectors(bdev));
		break;
	default:
		return;
	}
	if (!count)
		return;

	/* Written by inc_diskseq() on a media change, under open_mutex. */
	diskseq = READ_ONCE(disk->diskseq);
	if (unlikely(tracker_geometry_differs(tracker, bdev_nr_sectors(bdev),
					      bdev->bd_start_sect, disk,
					      diskseq))) {
		WRITE_ONCE(tracker->pending_capacity, bdev_nr_sectors(bdev));
		WRITE_ONCE(tracker->pending_start, bdev->bd_start_sect);
		WRITE_ONCE(tracker->pending_disk, disk);
		WRITE_ONCE(tracker->pending_diskseq, diskseq);
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

/**
 * tracker_attach() - start tracking a device.
 * @dev: the device number.
 *
 * Return: 0, -ENODEV no such device, -EALREADY already tracked, -ENOMEM.
 */
int tracker_attach(dev_t dev)
{
	struct tracker *tracker;
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
	tracker->disk = h.bdev->bd_disk;
	tracker->diskseq = READ_ONCE(tracker->disk->diskseq);
	tracker->capacity = bdev_nr_sectors(h.bdev);
	tracker->start_sect = h.bdev->bd_start_sect;

	map = cbt_map_create(tracker->capacity);
	if (IS_ERR(map)) {
		ret = PTR_ERR(map) == -EFBIG ? -ENOMEM : PTR_ERR(map);
		goto out_free;
	}
	RCU_INIT_POINTER(tracker->map, map);

	mutex_lock(&registry_lock);
	ret = __tracker_disk_gone(tracker->disk) ? -ENODEV :
		xa_insert(&trackers, dev, tracker, GFP_KERNEL);
	mutex_unlock(&registry_lock);
	if (ret == -EBUSY)
		ret = -EALREADY;
	if (ret)
		goto out_free;
	compat_bdev_close(&h);
	pr_info("device %u:%u attached: %llu sectors, %u blocks of %u bytes\n",
		MAJOR(dev), MINOR(dev), (unsigned long long)map->capacity,
		map->block_count, 1U << map->block_shift);
	return 0;

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
		if (READ_ONCE(tracker->disk) == disk)
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

	info->device_capacity = tracker->capacity;
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
		    end > tracker->capacity) {
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
