// SPDX-License-Identifier: GPL-2.0
/*
 * The registry of trackers: which device is tracked, found by device
 * number, and which tracked partitions a whole disk has.
 *
 * A bio names either a partition or a whole disk. One sent to a partition
 * reaches the partition's tracker and the whole disk's; one sent to the
 * whole disk reaches the disk's tracker and, through a second index keyed
 * by the whole disk, the trackers of its partitions that it overlaps.
 * Disk removal is seen through the del_gendisk hook (filter.c), which
 * detaches every tracker of the disk here before the disk goes away.
 *
 * Locking:
 *  - registry_mutex serializes attach, detach, the dying-disk list, the
 *    partition index and geometry changes (a partition's device number may
 *    come back on another disk, which moves it in the index); both xarrays
 *    and the partition lists are read locklessly under RCU by the bio path.
 *    Order: registry_mutex, then tracker->lock (tracker.c).
 *  - the bio path takes no lock; it runs inside rcu_read_lock().
 */
#define pr_fmt(fmt) KBUILD_MODNAME "-registry: " fmt

#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/slab.h>
#include <linux/xarray.h>
#include <linux/lockdep.h>
#include "compat.h"
#include "cbt_map.h"
#include "tracker.h"
#include "registry.h"

/*
 * Protects changes to @trackers, @parts_index and its lists, @dying_disks,
 * and each tracker's &tracker.geo, &tracker.part_link and
 * &tracker.indexed_whole.
 */
static DEFINE_MUTEX(registry_mutex);
/* dev_t -> struct tracker; modified under registry_mutex, read under RCU. */
static DEFINE_XARRAY(trackers);
/*
 * Whole disk's dev_t -> struct tracker_parts, only for disks with a tracked
 * partition; modified under registry_mutex, read under RCU.
 */
static DEFINE_XARRAY(parts_index);

/**
 * struct tracker_parts - the tracked partitions of one whole disk.
 * @trackers: their trackers, linked by &tracker.part_link; RCU list,
 *	changed under registry_mutex. Never empty while in @parts_index.
 * @rcu: frees this after the last reader of an emptied list.
 */
struct tracker_parts {
	struct list_head trackers;
	struct rcu_head rcu;
};

/* Disks whose del_gendisk is running, see tracker_disk_dying(). */
static LIST_HEAD(dying_disks);

/**
 * registry_lock() - take the registry lock, to change a tracker's geometry.
 *
 * Context: may sleep; taken before &tracker.lock, never after.
 */
void registry_lock(void)
{
	mutex_lock(&registry_mutex);
}

/**
 * registry_unlock() - release the lock taken by registry_lock().
 */
void registry_unlock(void)
{
	mutex_unlock(&registry_mutex);
}

/**
 * registry_assert_held() - tell lockdep that the registry lock must be held.
 */
void registry_assert_held(void)
{
	lockdep_assert_held(&registry_mutex);
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

	lockdep_assert_held(&registry_mutex);
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

	lockdep_assert_held(&registry_mutex);
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

/**
 * __registry_reindex() - follow a geometry change in the partition index.
 * @tracker: the tracker whose &tracker.geo just changed.
 *
 * A detached tracker is left out: it must not come back into the index.
 *
 * Context: registry lock held.
 * Return: 0, or -ENOMEM: bios sent to the whole disk no longer reach it.
 */
int __registry_reindex(struct tracker *tracker)
{
	lockdep_assert_held(&registry_mutex);
	if (xa_load(&trackers, tracker->dev) != tracker)
		return 0;
	return __tracker_index(tracker);
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

	lockdep_assert_held(&registry_mutex);
	if (!disk_live(disk))
		return true;
	list_for_each_entry(d, &dying_disks, link)
		if (d->disk == disk)
			return true;
	return false;
}

/*
 * Make @tracker visible to the bio path and to ioctls. Every step that can
 * fail comes before anything becomes visible, so a failure needs no grace
 * period: the slot is reserved first (a reserved entry reads as NULL), and
 * storing into it cannot fail.
 */
static int __tracker_publish(struct tracker *tracker)
{
	int ret;

	lockdep_assert_held(&registry_mutex);
	if (__tracker_disk_gone(tracker->geo.disk))
		return -ENODEV;
	if (xa_load(&trackers, tracker->dev))
		return -EALREADY;
	ret = xa_reserve(&trackers, tracker->dev, GFP_KERNEL);
	if (ret)
		return ret;
	ret = __tracker_index(tracker);
	if (ret) {
		xa_release(&trackers, tracker->dev);
		return ret;
	}
	xa_store(&trackers, tracker->dev, tracker, GFP_KERNEL);
	return 0;
}

static bool tracker_attached(dev_t dev)
{
	bool attached;

	rcu_read_lock();
	attached = xa_load(&trackers, dev);
	rcu_read_unlock();
	return attached;
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

	/* The cheap answer first; __tracker_publish() has the final word. */
	if (tracker_attached(dev))
		return -EALREADY;
	/*
	 * Open before taking registry_mutex: opening may load a driver or
	 * take driver locks held around del_gendisk, whose hook takes
	 * registry_mutex.
	 */
	ret = compat_bdev_open(dev, &h);
	if (ret)
		return ret == -ENOMEM ? ret : -ENODEV;

	tracker = tracker_create(dev, h.bdev);
	if (IS_ERR(tracker)) {
		ret = PTR_ERR(tracker);
		goto out_close;
	}
	/* Once published, @map and @tracker may go at any time. */
	map = rcu_dereference_protected(tracker->map, 1);
	capacity = tracker->geo.capacity;
	block_count = map->block_count;
	block_size = 1U << map->block_shift;

	mutex_lock(&registry_mutex);
	ret = __tracker_publish(tracker);
	mutex_unlock(&registry_mutex);
	if (ret)
		goto out_unseen;
	compat_bdev_close(&h);
	pr_info("device %u:%u attached: %llu sectors, %u blocks of %u bytes\n",
		MAJOR(dev), MINOR(dev), (unsigned long long)capacity,
		block_count, block_size);
	return 0;

out_unseen:
	/* Never visible (see __tracker_publish()): no bio can hold it. */
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
	lockdep_assert_held(&registry_mutex);
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

	mutex_lock(&registry_mutex);
	tracker = xa_load(&trackers, dev);
	if (tracker)
		__tracker_unpublish(tracker, &list);
	mutex_unlock(&registry_mutex);
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

	mutex_lock(&registry_mutex);
	xa_for_each(&trackers, index, tracker)
		__tracker_unpublish(tracker, &list);
	mutex_unlock(&registry_mutex);
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
	mutex_lock(&registry_mutex);
	list_add(&d->link, &dying_disks);
	xa_for_each(&trackers, index, tracker)
		if (tracker->geo.disk == disk)
			__tracker_unpublish(tracker, &list);
	mutex_unlock(&registry_mutex);
	tracker_release_list(&list);
}

/**
 * tracker_disk_dead() - a disk announced by tracker_disk_dying() is gone.
 * @d: the record given to tracker_disk_dying().
 */
void tracker_disk_dead(struct tracker_dying_disk *d)
{
	mutex_lock(&registry_mutex);
	list_del(&d->link);
	mutex_unlock(&registry_mutex);
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

	mutex_lock(&registry_mutex);
	xa_for_each(&trackers, index, tracker) {
		if (count < capacity)
			devs[count] = tracker->dev;
		count++;
	}
	mutex_unlock(&registry_mutex);
	return count;
}
