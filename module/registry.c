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
#include <linux/blk-mq.h>
#include <linux/hash.h>
#include <linux/slab.h>
#include <linux/xarray.h>
#include <linux/lockdep.h>
#include "compat.h"
#include "cbt_map.h"
#include "diff_area.h"
#include "tracker.h"
#include "registry.h"
#include "filter.h"
#include "passthrough.h"

/*
 * Protects changes to @trackers, @parts_index and its lists, @dying_disks,
 * and each tracker's &tracker.geo, &tracker.part and &tracker.indexed_whole.
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
 * @trackers: their &struct tracker_part entries; RCU list, changed under
 *	registry_mutex. Never empty while in @parts_index.
 * @rcu: frees this after the last reader of an emptied list.
 */
struct tracker_parts {
	struct list_head trackers;
	struct rcu_head rcu;
};

/**
 * struct tracker_part - a tracked partition in its whole disk's list.
 * @link: entry in &tracker_parts.trackers.
 * @tracker: the partition's tracker.
 * @rcu: frees the entry after the last reader that may stand on it. An
 *	entry is never moved to another list: a reader standing on it would
 *	walk into the wrong head; a partition that changes disks gets a new
 *	entry, and no grace period is waited for under registry_mutex.
 */
struct tracker_part {
	struct list_head link;
	struct tracker *tracker;
	struct rcu_head rcu;
};

/* Disks whose del_gendisk is running, see tracker_disk_dying(). */
static LIST_HEAD(dying_disks);

/* Trackers with a &tracker.diff_area; written under registry_mutex. */
int tracker_bound_count;

/* Takes holding writes: see tracker_any_holding() and snapshot_activate(). */
atomic_t tracker_holding_count = ATOMIC_INIT(0);

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

/* See registry_may_track() (registry.h). */
u16 registry_buckets[1 << REGISTRY_BUCKET_BITS];

/*
 * One tracker per bucket, found by the bio path without an xarray walk:
 * a device number has 20 bits of minor, so xa_load() of a disk's tracker
 * descends four or five levels (and takes an RCU section of its own) for
 * every write. A tracker is put in its bucket's slot at publish when the
 * slot is free and taken out at unpublish, before the grace period its
 * release waits for; trackers sharing a bucket with it are found in the
 * xarray. Changed under registry_mutex, read under RCU.
 */
static struct tracker __rcu *registry_slots[1 << REGISTRY_BUCKET_BITS];

static struct tracker __rcu **registry_slot(dev_t dev)
{
	return &registry_slots[hash_32(dev, REGISTRY_BUCKET_BITS)];
}

/* The tracker of @dev, or NULL. Context: rcu_read_lock() held. */
static struct tracker *registry_lookup(dev_t dev)
{
	struct tracker *tracker = rcu_dereference(*registry_slot(dev));

	if (likely(tracker && tracker->dev == dev))
		return tracker;
	if (!READ_ONCE(*registry_bucket(dev)))
		return NULL;
	return xa_load(&trackers, dev);
}

static void __registry_bucket_add(dev_t dev, int n)
{
	u16 *b = registry_bucket(dev);

	lockdep_assert_held(&registry_mutex);
	WRITE_ONCE(*b, *b + n);
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
	list_del_rcu(&tracker->part->link);
	kfree_rcu(tracker->part, rcu);
	tracker->part = NULL;
	__registry_bucket_add(tracker->indexed_whole, -1);
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
	struct tracker_part *part;
	int ret;

	lockdep_assert_held(&registry_mutex);
	if (tracker->indexed_whole == whole)
		return 0;
	__tracker_unindex(tracker);
	if (whole == tracker->dev)
		return 0;
	/* Small, and the lock is not held for long: allocated under it. */
	part = kzalloc(sizeof(*part), GFP_KERNEL);
	if (!part)
		return -ENOMEM;
	part->tracker = tracker;
	parts = xa_load(&parts_index, whole);
	if (!parts) {
		parts = kzalloc(sizeof(*parts), GFP_KERNEL);
		if (!parts) {
			kfree(part);
			return -ENOMEM;
		}
		INIT_LIST_HEAD(&parts->trackers);
		ret = xa_insert(&parts_index, whole, parts, GFP_KERNEL);
		if (ret) {
			kfree(parts);
			kfree(part);
			return ret;
		}
	}
	__registry_bucket_add(whole, 1);
	list_add_tail_rcu(&part->link, &parts->trackers);
	tracker->part = part;
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

/*
 * Account a bio sent to a whole disk in the trackers of the partitions it
 * overlaps: each marks the part of the bio inside it, relative to its own
 * start, placed by its recorded geometry. The bio does not name the
 * partition, so it cannot tell that the partition moved; if it did, the
 * recorded geometry no longer matches the partition, and the next bio sent
 * to the partition or the next ioctl on its tracker starts a new
 * generation, in which none of the misplaced marks survive.
 */
static bool tracker_bio_parts(struct bio *bio, void **spare,
			      struct tracker_cows *cows)
{
	struct block_device *whole = bio->bi_bdev;
	struct gendisk *disk = whole->bd_disk;
	sector_t first = bio->bi_iter.bi_sector, last, count;
	struct tracker_parts *parts;
	struct tracker_part *part;
	u64 diskseq;

	/* No tracked partition anywhere, the usual case: no walk. */
	if (xa_empty(&parts_index))
		return true;
	parts = xa_load(&parts_index, whole->bd_dev);
	if (!parts)
		return true;
	count = tracker_bio_sectors(bio, whole);
	if (!count)
		return true;
	if (check_add_overflow(first, count - 1, &last))
		last = (sector_t)-1;
	diskseq = READ_ONCE(disk->diskseq);
	list_for_each_entry_rcu(part, &parts->trackers, link) {
		struct tracker *tracker = part->tracker;
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
		if (!tracker_account(tracker, bio, from - start, to - from + 1,
				     spare, cows))
			return false;
	}
	return true;
}

/**
 * tracker_bio_account() - account a write in every tracker it changes.
 * @bio: the bio, about to be submitted; any operation.
 * @spare: as for tracker_account().
 * @cows: where to note the trackers in a snapshot for tracker_bio_cows(),
 *	or NULL when no tracker is in one.
 *
 * A bio sent to a partition reaches the partition's tracker and the whole
 * disk's; one sent to a whole disk reaches the disk's tracker and those of
 * the partitions it overlaps. A disk with no tracker anywhere costs one read
 * of the bucket array.
 *
 * Context: any in which the bio may be submitted, inside rcu_read_lock();
 * does not sleep.
 * Return: false when a context for counting could not be had without
 * sleeping: the bio is then accounted in some trackers only, and must be
 * given again with a spare context (what is done is not done twice).
 */
bool tracker_bio_account(struct bio *bio, void **spare,
			 struct tracker_cows *cows)
{
	struct block_device *bdev = bio->bi_bdev;
	sector_t sector = bio->bi_iter.bi_sector;
	sector_t start = bdev->bd_start_sect;
	/*
	 * A bio split after blk_partition_remap() comes back with its sector
	 * already relative to the whole disk, but bi_bdev still names the
	 * partition.
	 */
	bool remapped = bio_flagged(bio, BIO_REMAPPED);
	struct tracker *tracker;

	tracker = registry_lookup(bdev->bd_dev);
	if (tracker && !(remapped && sector < start) &&
	    !tracker_submit_bio(tracker, bio, bdev,
				remapped ? sector - start : sector, spare,
				cows))
		return false;
	if (bdev_is_partition(bdev)) {
		struct block_device *whole = bdev_whole(bdev);

		tracker = registry_lookup(whole->bd_dev);
		if (tracker)
			return tracker_submit_bio(tracker, bio, whole,
						  remapped ? sector :
						  sector + start, spare, cows);
		return true;
	}
	/*
	 * Only bios of partitions are remapped, so the sector is the whole
	 * disk's; tracked partitions take their part of it.
	 */
	return tracker_bio_parts(bio, spare, cows);
}

/*
 * What the snapshot tests do with a bio at one tracker in a snapshot; the
 * first verdict other than FILTER_PASS ends the visit.
 */
typedef enum filter_verdict (*tracker_bio_visit)(struct diff_area *da,
						 struct tracker *tracker,
						 struct bio *bio,
						 struct block_device *bdev,
						 sector_t sector,
						 sector_t count);

static enum filter_verdict
tracker_bio_visit_one(struct tracker *tracker, struct bio *bio,
		      struct block_device *bdev, sector_t sector,
		      sector_t count, tracker_bio_visit visit)
{
	struct diff_area *da = rcu_dereference(tracker->diff_area);

	if (!da || !count)
		return FILTER_PASS;
	return visit(da, tracker, bio, bdev, sector, count);
}

/* As tracker_bio_parts(), for the snapshot tests. */
static enum filter_verdict tracker_bio_parts_visit(struct bio *bio,
						   tracker_bio_visit visit)
{
	struct block_device *whole = bio->bi_bdev;
	struct gendisk *disk = whole->bd_disk;
	sector_t first = bio->bi_iter.bi_sector, last, count;
	enum filter_verdict verdict;
	struct tracker_parts *parts;
	struct tracker_part *part;
	u64 diskseq;

	/* As in tracker_bio_parts(): no tracked partition, no lookup. */
	if (xa_empty(&parts_index))
		return FILTER_PASS;
	parts = xa_load(&parts_index, whole->bd_dev);
	if (!parts)
		return FILTER_PASS;
	count = tracker_bio_sectors(bio, whole);
	if (!count)
		return FILTER_PASS;
	if (check_add_overflow(first, count - 1, &last))
		last = (sector_t)-1;
	diskseq = READ_ONCE(disk->diskseq);
	list_for_each_entry_rcu(part, &parts->trackers, link) {
		struct tracker *tracker = part->tracker;
		sector_t start = READ_ONCE(tracker->geo.start);
		sector_t size = READ_ONCE(tracker->geo.capacity);
		sector_t end = start + size - 1, from, to;

		if (READ_ONCE(tracker->geo.disk) != disk ||
		    READ_ONCE(tracker->geo.diskseq) != diskseq)
			continue;
		if (!size || last < start || first > end)
			continue;
		from = max(first, start);
		to = min(last, end);
		verdict = tracker_bio_visit_one(tracker, bio, NULL, from - start,
						to - from + 1, visit);
		if (verdict != FILTER_PASS)
			return verdict;
	}
	return FILTER_PASS;
}

/* Visit every tracker in a snapshot that the bio reaches, as accounting does. */
static enum filter_verdict tracker_bio_visit_all(struct bio *bio,
						 tracker_bio_visit visit)
{
	struct block_device *bdev = bio->bi_bdev;
	sector_t sector = bio->bi_iter.bi_sector;
	sector_t start = bdev->bd_start_sect;
	bool remapped = bio_flagged(bio, BIO_REMAPPED);
	enum filter_verdict verdict;
	struct tracker *tracker;

	if (!registry_may_track(bdev))
		return FILTER_PASS;
	tracker = registry_lookup(bdev->bd_dev);
	if (tracker && !(remapped && sector < start)) {
		verdict = tracker_bio_visit_one(tracker, bio, bdev,
						remapped ? sector - start :
						sector,
						tracker_bio_sectors(bio, bdev),
						visit);
		if (verdict != FILTER_PASS)
			return verdict;
	}
	if (bdev_is_partition(bdev)) {
		struct block_device *whole = bdev_whole(bdev);

		tracker = registry_lookup(whole->bd_dev);
		if (!tracker)
			return FILTER_PASS;
		return tracker_bio_visit_one(tracker, bio, whole,
					     remapped ? sector : sector + start,
					     tracker_bio_sectors(bio, whole),
					     visit);
	}
	return tracker_bio_parts_visit(bio, visit);
}

static enum filter_verdict tracker_visit_hold(struct diff_area *da,
					      struct tracker *tracker,
					      struct bio *bio,
					      struct block_device *bdev,
					      sector_t sector, sector_t count)
{
	/*
	 * A write this tracker counted before take published its hold is in
	 * the epoch take drains: holding it would make take wait for itself.
	 */
	if (inflight_bio_counted(bio, &tracker->inflight))
		return FILTER_PASS;
	return diff_area_hold(da, bio);
}

static enum filter_verdict tracker_visit_cow(struct diff_area *da,
					     struct tracker *tracker,
					     struct bio *bio,
					     struct block_device *bdev,
					     sector_t sector, sector_t count)
{
	return diff_area_submit_bio(da, bio, bdev, sector, count);
}

/**
 * tracker_bio_hold() - let a snapshot being taken hold a write.
 * @bio: a write about to be submitted, not yet counted.
 *
 * Context: the RCU read-side section in which the bio is then counted if
 * it is not held; does not sleep.
 * Return: FILTER_TAKEN if a snapshot held the bio, FILTER_AGAIN if one
 * would have but the bio must not wait (see diff_area_hold()), else
 * FILTER_PASS.
 */
enum filter_verdict tracker_bio_hold(struct bio *bio)
{
	return tracker_bio_visit_all(bio, tracker_visit_hold);
}

/**
 * tracker_bio_cow() - copy-on-write of a write in every snapshot it reaches.
 * @bio: a write about to be submitted, counted.
 *
 * Context: rcu_read_lock() held; does not sleep.
 * Return: FILTER_TAKEN if a snapshot took the bio, FILTER_AGAIN if one
 * would have but the bio must not wait (see diff_area_submit_bio()), else
 * FILTER_PASS.
 */
enum filter_verdict tracker_bio_cow(struct bio *bio)
{
	return tracker_bio_visit_all(bio, tracker_visit_cow);
}

/**
 * tracker_bio_cows() - copy-on-write of a write in the snapshots that
 *	tracker_bio_account() noted: tracker_bio_cow() without its walk.
 * @bio: the write, counted.
 * @cows: what tracker_bio_account() noted for it.
 *
 * Context: the RCU read-side section in which the bio was counted; does
 * not sleep.
 * Return: as tracker_bio_cow().
 */
enum filter_verdict tracker_bio_cows(struct bio *bio,
				     const struct tracker_cows *cows)
{
	enum filter_verdict verdict;
	unsigned int i;

	if (cows->nr > TRACKER_COWS)
		return tracker_bio_cow(bio);
	for (i = 0; i < cows->nr; i++) {
		const struct tracker_cow *c = &cows->v[i];

		verdict = diff_area_submit_bio(c->da, bio, c->bdev, c->sector,
					       c->count);
		if (verdict != FILTER_PASS)
			return verdict;
	}
	return FILTER_PASS;
}

/**
 * tracker_rq_account() - account a request that reaches a disk without a
 *	bio passing the hook.
 * @rq: a passthrough request (blk_execute_rq*()) or a request-based dm
 *	clone (blk_insert_cloned_request()), about to go to its queue.
 * @refs: receives one epoch reference per tracker reached, to hold until
 *	the request completes; NULL when it cannot be waited for.
 *
 * The trackers of the disk and of its partitions the changed ranges
 * overlap mark them; a command that may change anything gives every
 * tracker of the disk a new generation (BLKSNAP_CBT_GENERATION_PASSTHROUGH).
 *
 * Context: the submitter's; does not sleep.
 */
void tracker_rq_account(struct request *rq, struct inflight_rq_refs *refs)
{
	struct passthrough_range ranges[PASSTHROUGH_MAX_RANGES];
	struct gendisk *disk = rq->q->disk;
	enum passthrough_effect effect;
	struct tracker_parts *parts;
	struct tracker_part *part;
	struct tracker *tracker;
	unsigned int nr = 0;
	u64 diskseq;

	if (refs)
		refs->nr = 0;
	/* An admin queue has no disk; an untracked disk costs one read. */
	if (!disk || !READ_ONCE(*registry_bucket(disk_devt(disk))))
		return;
	if (blk_rq_is_passthrough(rq)) {
		effect = passthrough_classify(rq, ranges, &nr);
	} else if (op_is_write(req_op(rq)) && blk_rq_sectors(rq)) {
		/* A clone of bios the dm device's own tracker saw. */
		effect = PASSTHROUGH_RANGES;
		ranges[0].sector = blk_rq_pos(rq);
		ranges[0].count = blk_rq_sectors(rq);
		nr = 1;
	} else {
		effect = PASSTHROUGH_NONE;
	}
	if (effect == PASSTHROUGH_NONE)
		return;
	rcu_read_lock();
	tracker = xa_load(&trackers, disk_devt(disk));
	if (tracker)
		tracker_rq_mark(tracker, effect, ranges, nr, 0, (sector_t)-1,
				refs);
	parts = xa_load(&parts_index, disk_devt(disk));
	if (!parts)
		goto out_unlock;
	diskseq = READ_ONCE(disk->diskseq);
	list_for_each_entry_rcu(part, &parts->trackers, link) {
		tracker = part->tracker;
		/* A media change: the partition is not known to be there. */
		if (READ_ONCE(tracker->geo.disk) != disk ||
		    READ_ONCE(tracker->geo.diskseq) != diskseq)
			continue;
		tracker_rq_mark(tracker, effect, ranges, nr,
				READ_ONCE(tracker->geo.start),
				READ_ONCE(tracker->geo.capacity), refs);
	}
out_unlock:
	rcu_read_unlock();
}

/**
 * __registry_disk_gone() - whether a disk is being or has been removed.
 * @disk: the disk, kept from being freed by the caller.
 *
 * A del_gendisk that started before us has already swept the registry; one
 * that finished has unhashed the disk. Either way a tracker inserted now,
 * or given this disk by a geometry change, would outlive its disk.
 *
 * Context: registry lock held.
 */
bool __registry_disk_gone(struct gendisk *disk)
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
	if (__registry_disk_gone(tracker->geo.disk))
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
	__registry_bucket_add(tracker->dev, 1);
	xa_store(&trackers, tracker->dev, tracker, GFP_KERNEL);
	if (!rcu_access_pointer(*registry_slot(tracker->dev)))
		rcu_assign_pointer(*registry_slot(tracker->dev), tracker);
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
 * Returns once the writes sent to the device before it are complete, as far
 * as tracker_wait_earlier_writes() can tell; every later write is recorded.
 *
 * Return: 0, -ENODEV no such device, -EALREADY already tracked, -ENOMEM,
 * -EBUSY the hooks could not be installed, -EOPNOTSUPP the device can be
 * written without bios (DAX; ->rw_page before 6.3), -EINTR a fatal signal
 * came while waiting (nothing attached).
 */
int tracker_attach(dev_t dev)
{
	struct tracker *tracker;
	u32 block_count, block_size;
	sector_t capacity;
	struct block_device *bdev;
	struct cbt_map *map;
	int ret;

	/* The cheap answer first; __tracker_publish() has the final word. */
	if (tracker_attached(dev))
		return -EALREADY;
	/* Never an open: see tracker_lock_fresh(). */
	bdev = compat_bdev_get(dev);
	if (!bdev)
		return -ENODEV;
	/* Writes that never become bios would never be seen. */
	if (blk_queue_dax(bdev_get_queue(bdev)) ||
	    compat_bdev_writes_without_bios(bdev)) {
		pr_err("device %u:%u refused: it can be written without bios (%s), which blksnap cannot see\n",
		       MAJOR(dev), MINOR(dev),
		       blk_queue_dax(bdev_get_queue(bdev)) ? "DAX" :
		       "->rw_page");
		ret = -EOPNOTSUPP;
		goto out_put;
	}

	tracker = tracker_create(dev, bdev);
	if (IS_ERR(tracker)) {
		ret = PTR_ERR(tracker);
		goto out_put;
	}
	/* Once published, @map and @tracker may go at any time. */
	map = rcu_dereference_protected(tracker->map, 1);
	capacity = tracker->geo.capacity;
	block_count = map->block_count;
	block_size = 1U << map->block_shift;

	ret = filter_hooks_get();
	if (ret)
		goto out_unseen;
	mutex_lock(&registry_mutex);
	ret = __tracker_publish(tracker);
	mutex_unlock(&registry_mutex);
	if (ret)
		goto out_hooks_put;
	ret = tracker_wait_earlier_writes(bdev);
	compat_bdev_put(bdev);
	if (ret) {
		tracker_detach(dev);
		return ret;
	}
	pr_info("device %u:%u attached: %llu sectors, %u blocks of %u bytes\n",
		MAJOR(dev), MINOR(dev), (unsigned long long)capacity,
		block_count, block_size);
	return 0;

out_hooks_put:
	filter_hooks_put();
out_unseen:
	/* Never visible (see __tracker_publish()): no bio can hold it. */
	tracker_put(tracker);
out_put:
	compat_bdev_put(bdev);
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
		filter_hooks_put();
	}
}

static void __tracker_unpublish(struct tracker *tracker,
				struct list_head *list)
{
	lockdep_assert_held(&registry_mutex);
	if (rcu_access_pointer(*registry_slot(tracker->dev)) == tracker)
		RCU_INIT_POINTER(*registry_slot(tracker->dev), NULL);
	xa_erase(&trackers, tracker->dev);
	__registry_bucket_add(tracker->dev, -1);
	__tracker_unindex(tracker);
	list_add_tail(&tracker->release_link, list);
}

/**
 * tracker_detach() - stop tracking a device.
 * @dev: the device number.
 *
 * Return: 0, -ENOENT, or -EBUSY while the device is in a snapshot.
 */
int tracker_detach(dev_t dev)
{
	struct tracker *tracker;
	LIST_HEAD(list);
	int ret = 0;

	mutex_lock(&registry_mutex);
	tracker = xa_load(&trackers, dev);
	if (!tracker)
		ret = -ENOENT;
	else if (rcu_access_pointer(tracker->diff_area))
		ret = -EBUSY;
	else
		__tracker_unpublish(tracker, &list);
	mutex_unlock(&registry_mutex);
	if (ret)
		return ret;
	tracker_release_list(&list);
	return 0;
}

/**
 * tracker_bind() - give a device's tracker to a snapshot.
 * @dev: the device number.
 * @da: the device's copy-on-write, not active yet.
 * @tracker: receives the tracker, with a reference for the snapshot.
 *
 * Attaches a tracker when the device has none.
 *
 * Return: 0, -EBUSY the tracker belongs to a snapshot already, or an errno
 * of tracker_attach().
 */
int tracker_bind(dev_t dev, struct diff_area *da, struct tracker **tracker)
{
	struct tracker *t;
	int ret;

	ret = tracker_attach(dev);
	if (ret && ret != -EALREADY)
		return ret;
	mutex_lock(&registry_mutex);
	t = xa_load(&trackers, dev);
	if (!t) {
		/* Detached, or its disk removed, since. */
		ret = -ENODEV;
	} else if (rcu_access_pointer(t->diff_area)) {
		ret = -EBUSY;
	} else {
		kref_get(&t->kref);
		rcu_assign_pointer(t->diff_area, da);
		WRITE_ONCE(tracker_bound_count, tracker_bound_count + 1);
		*tracker = t;
		ret = 0;
	}
	mutex_unlock(&registry_mutex);
	return ret;
}

/**
 * tracker_unbind() - take a tracker back from its snapshot.
 * @tracker: the tracker from tracker_bind().
 *
 * The bio path may see the old copy-on-write until a grace period ends;
 * the caller waits for one before freeing it, then drops its reference.
 */
void tracker_unbind(struct tracker *tracker)
{
	mutex_lock(&registry_mutex);
	RCU_INIT_POINTER(tracker->diff_area, NULL);
	WRITE_ONCE(tracker_bound_count, tracker_bound_count - 1);
	mutex_unlock(&registry_mutex);
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
	struct diff_area *da;
	unsigned long index;
	LIST_HEAD(list);

	d->disk = disk;
	mutex_lock(&registry_mutex);
	list_add(&d->link, &dying_disks);
	xa_for_each(&trackers, index, tracker) {
		if (tracker->geo.disk != disk)
			continue;
		/* A snapshot holds the device open, but its data goes away. */
		da = rcu_dereference_protected(tracker->diff_area,
					       lockdep_is_held(&registry_mutex));
		if (da)
			diff_area_broken(da, ENODEV);
		__tracker_unpublish(tracker, &list);
	}
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
 * tracker_restart_all_later() - a new generation for every tracker.
 * @reason: BLKSNAP_CBT_GENERATION_*.
 *
 * Context: any that may take rcu_read_lock(); does not sleep.
 */
void tracker_restart_all_later(u8 reason)
{
	struct tracker *tracker;
	unsigned long index;

	rcu_read_lock();
	xa_for_each(&trackers, index, tracker)
		tracker_restart_later(tracker, reason);
	rcu_read_unlock();
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
