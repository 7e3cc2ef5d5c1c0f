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
#include <linux/blk-mq.h>
#include <linux/slab.h>
#include <linux/lockdep.h>
#include <linux/wait_bit.h>
#include <uapi/linux/blksnap.h>
#include "compat.h"
#include "cbt_map.h"
#include "diff_area.h"
#include "tracker.h"
#include "registry.h"
#include "passthrough.h"

/* Bits of &tracker.flags. */
#define TRACKER_RESIZE_PENDING 0
#define TRACKER_RESTART 1
#define TRACKER_HOLES 2

/* Frees the trackers' memory and resizes maps outside the bio path. */
static struct workqueue_struct *tracker_wq;
/* Trackers not yet freed; the module waits for none to be left. */
static atomic_t trackers_alive = ATOMIC_INIT(0);

static void tracker_free(struct work_struct *work)
{
	struct tracker *tracker = container_of(work, struct tracker,
					       free_work);

	cbt_map_destroy(rcu_dereference_protected(tracker->map, 1));
	inflight_exit(&tracker->inflight);
	compat_bdev_put(tracker->bdev);
	/* A resize cancelled before it ran. */
	if (tracker->pending_bdev)
		compat_bdev_put(tracker->pending_bdev);
	kfree(tracker);
	if (atomic_dec_and_test(&trackers_alive))
		wake_up_var(&trackers_alive);
}

/* Called in any context when the last write counted by the tracker is done. */
static void tracker_inflight_gone(struct inflight *inflight)
{
	struct tracker *tracker = container_of(inflight, struct tracker,
					       inflight);

	queue_work(tracker_wq, &tracker->free_work);
}

/**
 * tracker_inflight_done() - a write or request the tracker counted is over
 *	(&inflight.done, called directly by inflight.c's bio completion).
 * @inflight: the tracker's counters.
 * @span: what it changed.
 * @status: its status.
 *
 * Its blocks hold data, so they are no holes, unless it was a hole itself
 * and did not fail. A command that may have changed anything calls for
 * another new generation, which clears every hole a discard racing with it
 * may have left.
 *
 * Context: any, bi_end_io's included.
 */
void tracker_inflight_done(struct inflight *inflight,
			   const struct inflight_span *span, blk_status_t status)
{
	struct tracker *tracker = container_of(inflight, struct tracker,
					       inflight);

	if (span->kind == INFLIGHT_HOLE && status == BLK_STS_OK)
		return;
	/*
	 * No hole was ever marked on this tracker, so none can lie over this
	 * write: a discard sets TRACKER_HOLES, then a full barrier, before it
	 * sets a bit and goes down, so one that reached the device before
	 * this write completed is seen here. Most trackers never see a
	 * discard, and their writes' completions end here, without the RCU
	 * section and the walk of the bits.
	 */
	if (span->kind == INFLIGHT_DATA &&
	    !test_bit(TRACKER_HOLES, &tracker->flags))
		return;
	if (span->kind == INFLIGHT_UNKNOWN) {
		tracker_restart_later(tracker,
				      BLKSNAP_CBT_GENERATION_PASSTHROUGH);
		return;
	}
	/* The map outlives the write (tracker_free()), or is RCU-freed. */
	rcu_read_lock();
	cbt_map_fill(rcu_dereference(tracker->map), span->sector, span->count);
	rcu_read_unlock();
}

static void tracker_release(struct kref *kref)
{
	struct tracker *tracker = container_of(kref, struct tracker, kref);

	/*
	 * Only reached a grace period after the tracker left the registry, or
	 * when it never entered it: no bio can find it and count a new write.
	 * Writes still in flight keep it until they complete.
	 */
	inflight_teardown(&tracker->inflight);
}

/**
 * tracker_put() - drop a reference.
 * @tracker: the tracker.
 *
 * Context: process; the memory goes later, once no write holds it.
 */
void tracker_put(struct tracker *tracker)
{
	kref_put(&tracker->kref, tracker_release);
}

/**
 * tracker_drain() - wait for the writes to the device that the hook passed
 *	before this call.
 * @tracker: the tracker, with a reference held.
 *
 * For state that every later write must see (a closed change number, a
 * snapshot's copy-on-write): publish the state first, then drain. When this
 * returns, every write that may not have seen the state has completed (its
 * bi_end_io has run), and every write after it sees the state. Writes that
 * arrive during the drain are not waited for, so it ends under any load.
 * Writes that reached the device before the tracker existed are not
 * counted: see tracker_wait_earlier_writes().
 *
 * Context: process, may sleep; without the registry lock or @tracker->lock
 * or any lock a completing write could need. Drains of one tracker are
 * serialized.
 * Return: 0, or -EINTR on a fatal signal (the writes may still be in
 * flight; the next drain waits for them too).
 */
int tracker_drain(struct tracker *tracker)
{
	return inflight_drain(&tracker->inflight);
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

static bool tracker_geometry_differs(struct tracker *tracker,
				     const struct tracker_geometry *g)
{
	return g->capacity != READ_ONCE(tracker->geo.capacity) ||
	       g->start != READ_ONCE(tracker->geo.start) ||
	       g->disk != READ_ONCE(tracker->geo.disk) ||
	       g->diskseq != READ_ONCE(tracker->geo.diskseq);
}

/*
 * The map no longer covers every write: say so, and change the generation,
 * so that a tool comparing generations does not trust it either.
 */
static void __tracker_map_incomplete(struct tracker *tracker,
				     struct cbt_map *map, const char *why)
{
	lockdep_assert_held(&tracker->lock);
	pr_err("device %u:%u: %s, changed-block data is incomplete: new generation, flagged corrupted\n",
	       MAJOR(tracker->dev), MINOR(tracker->dev), why);
	map->flags |= BLKSNAP_CBT_FLAG_CORRUPTED;
	cbt_map_new_generation(map, BLKSNAP_CBT_GENERATION_INCOMPLETE);
}

/**
 * tracker_restart_later() - give the map a new generation before anyone
 *	reads it again.
 * @tracker: the tracker.
 * @reason: BLKSNAP_CBT_GENERATION_*.
 *
 * For changes the map cannot hold (a passthrough command it cannot place,
 * a restore from hibernation): every ioctl applies it under the tracker
 * lock before it looks at the map, so no reader sees the old generation
 * after this returned.
 *
 * Context: any; does not sleep.
 */
void tracker_restart_later(struct tracker *tracker, u8 reason)
{
	WRITE_ONCE(tracker->restart_reason, reason);
	/* The reason is seen by whoever sees the bit. */
	smp_mb__before_atomic();
	set_bit(TRACKER_RESTART, &tracker->flags);
}

static void __tracker_apply_restart(struct tracker *tracker,
				    struct cbt_map *map)
{
	u8 reason;

	lockdep_assert_held(&tracker->lock);
	if (!test_and_clear_bit(TRACKER_RESTART, &tracker->flags))
		return;
	reason = READ_ONCE(tracker->restart_reason);
	pr_info("device %u:%u: new generation (reason %u)\n",
		MAJOR(tracker->dev), MINOR(tracker->dev), reason);
	cbt_map_new_generation(map, reason);
}

/*
 * Adopt @bdev (its reference too) and its geometry @g, with the map @map
 * made for it, or ERR_PTR when none could be made. Returns the map and the
 * device that were replaced, for the caller to free after dropping the
 * locks.
 */
static struct cbt_map *__tracker_set_geometry(struct tracker *tracker,
					      const struct tracker_geometry *g,
					      struct block_device **bdev,
					      struct cbt_map *map)
{
	struct cbt_map *old;
	struct diff_area *da;

	registry_assert_held();
	lockdep_assert_held(&tracker->lock);
	/* A snapshot's device keeps its size and place, or the snapshot breaks. */
	da = rcu_dereference_protected(tracker->diff_area, 1);
	if (da)
		diff_area_broken(da, ERANGE);
	old = rcu_dereference_protected(tracker->map,
					lockdep_is_held(&tracker->lock));
	if (IS_ERR(map)) {
		/*
		 * Keep marking the old map so nothing already recorded is
		 * lost, but tell user space it no longer covers the device.
		 */
		__tracker_map_incomplete(tracker, old,
					 "no map for the new size");
		map = old;
		old = NULL;
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
	swap(tracker->bdev, *bdev);
	if (__registry_reindex(tracker))
		__tracker_map_incomplete(tracker, map,
					 "out of memory, writes sent to its whole disk are no longer seen");
	return old;
}

/*
 * Lock the tracker, first giving it a new map if @now, the device that now
 * has its number (a reference the call consumes; NULL: unknown), differs
 * from its geometry. The map is made before any lock is taken: registry
 * lock is on every disk removal's path. The registry lock is held for the
 * change so that the partition index follows before any ioctl can see the
 * new generation, and so that a disk being removed is not adopted.
 */
static struct cbt_map *tracker_lock_geometry(struct tracker *tracker,
					     struct block_device *now)
{
	struct cbt_map *map = NULL, *old = NULL;
	struct tracker_geometry g;

	if (now) {
		tracker_geometry_of(now, &g);
		if (!tracker_geometry_differs(tracker, &g))
			goto out_lock;
		map = cbt_map_create(g.capacity, BLKSNAP_CBT_GENERATION_RESIZE);
		registry_lock();
		mutex_lock(&tracker->lock);
		if (tracker_geometry_differs(tracker, &g) &&
		    !__registry_disk_gone(g.disk)) {
			old = __tracker_set_geometry(tracker, &g, &now, map);
			map = NULL;
		}
		registry_unlock();
		goto out_free;
	}
out_lock:
	mutex_lock(&tracker->lock);
out_free:
	__tracker_apply_restart(tracker,
				rcu_dereference_protected(tracker->map,
					lockdep_is_held(&tracker->lock)));
	/* Markers may still hold the old map inside rcu_read_lock(). */
	if (old)
		cbt_map_destroy_rcu(old);
	if (!IS_ERR_OR_NULL(map))
		cbt_map_destroy(map);
	if (now)
		compat_bdev_put(now);
	return rcu_dereference_protected(tracker->map,
					 lockdep_is_held(&tracker->lock));
}

static void tracker_resize_work(struct work_struct *work)
{
	struct tracker *tracker = container_of(work, struct tracker,
					       resize_work);
	/* Fully ordered: the bit is seen clear only after this. */
	struct block_device *bdev = xchg(&tracker->pending_bdev, NULL);

	clear_bit(TRACKER_RESIZE_PENDING, &tracker->flags);
	tracker_lock_geometry(tracker, bdev);
	mutex_unlock(&tracker->lock);
}

/**
 * tracker_create() - make a tracker for a device, not yet published.
 * @dev: the device number.
 * @bdev: the device; the tracker takes a reference of its own, which keeps
 *	the structure, not the device open.
 *
 * Return: the tracker with one reference, for the registry, or
 * ERR_PTR(-ENOMEM).
 */
struct tracker *tracker_create(dev_t dev, struct block_device *bdev)
{
	struct tracker *tracker;
	struct cbt_map *map;

	int ret;

	tracker = kzalloc(sizeof(*tracker), GFP_KERNEL);
	if (!tracker)
		return ERR_PTR(-ENOMEM);
	ret = inflight_init(&tracker->inflight, tracker_inflight_gone,
			    tracker_inflight_done);
	if (ret) {
		kfree(tracker);
		return ERR_PTR(ret);
	}
	atomic_inc(&trackers_alive);
	kref_init(&tracker->kref);
	mutex_init(&tracker->lock);
	INIT_WORK(&tracker->resize_work, tracker_resize_work);
	INIT_WORK(&tracker->free_work, tracker_free);
	INIT_LIST_HEAD(&tracker->release_link);
	tracker->dev = dev;
	tracker->bdev = bdev;
	get_device(&bdev->bd_device);
	tracker_geometry_of(bdev, &tracker->geo);

	map = cbt_map_create(tracker->geo.capacity,
			     BLKSNAP_CBT_GENERATION_ATTACH);
	if (IS_ERR(map)) {
		tracker_put(tracker);
		return ERR_PTR(PTR_ERR(map) == -EFBIG ? -ENOMEM : PTR_ERR(map));
	}
	RCU_INIT_POINTER(tracker->map, map);
	return tracker;
}

/**
 * tracker_wait_earlier_writes() - wait for writes sent to a device before
 *	its tracker was published, which the hook did not count.
 * @bdev: the device, open for the call.
 *
 * Such a write may have passed the hook just before, or have been submitted
 * before the hook existed. Every task still between the hook and the
 * device's queue is in the kernel and has not switched voluntarily since
 * the tracker was published: RCU-tasks waits until each has, by which time
 * its write is queued (or throttled by blk-throttle, which does not hold
 * the queue). Then, on a request-based device, freezing the queue waits for
 * every queued request to complete. A bio-based device (dm, md, ...) has no
 * such wait: its earlier writes are not waited for (module/README.md).
 *
 * Context: process, no lock held; pauses new I/O to the device while the
 * queued requests complete.
 * Return: 0 or -EINTR on a fatal signal.
 */
int tracker_wait_earlier_writes(struct block_device *bdev)
{
	struct request_queue *q = bdev_get_queue(bdev);
	int ret = 0;

	synchronize_rcu_tasks();
	if (!queue_is_mq(q))
		return 0;
	blk_freeze_queue_start(q);
	/* In slices, so that a stuck device does not make a hung task. */
	while (!blk_mq_freeze_queue_wait_timeout(q, HZ)) {
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
	}
	blk_mq_unfreeze_queue(q);
	return ret;
}

/*
 * Lock the tracker after checking the device that has its number now, so
 * that an ioctl sees a resize even when no write has arrived since. The
 * device is found by number without being opened: an open, however brief,
 * makes dmsetup remove, BLKRRPART, mdadm --stop and the like fail with
 * EBUSY. When no device has the number, the current state stands.
 */
static struct cbt_map *tracker_lock_fresh(struct tracker *tracker)
{
	return tracker_lock_geometry(tracker, compat_bdev_get(tracker->dev));
}

/* The bio path's copy of tracker_bio_sectors(), without the call. */
static __always_inline sector_t
__tracker_bio_sectors(struct bio *bio, struct block_device *bdev)
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
	case REQ_OP_ZONE_RESET:
	case REQ_OP_ZONE_FINISH:
		/*
		 * No size: the zone starting at the sector loses its data
		 * (reset) or is filled up to its end (finish).
		 */
		return bdev_zone_sectors(bdev);
	case REQ_OP_ZONE_RESET_ALL:
		/* Sector 0: every zone of the device. */
		return bdev_nr_sectors(bdev);
	default:
		return 0;
	}
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
	return __tracker_bio_sectors(bio, bdev);
}

/*
 * Whether a write leaves the blocks it covers whole without data: their
 * content is zeroes or undefined, so a backup need not read them.
 */
static bool tracker_bio_is_hole(struct bio *bio)
{
	switch (bio_op(bio)) {
	case REQ_OP_DISCARD:
	case REQ_OP_SECURE_ERASE:
	case REQ_OP_WRITE_ZEROES:
	case REQ_OP_ZONE_RESET:
	case REQ_OP_ZONE_RESET_ALL:
		return true;
	default:
		return false;
	}
}

/*
 * Note @tracker for the copy-on-write decision if it is in a snapshot and
 * the write may need a copy there; one whose chunks were all copied is
 * decided here already. Read after the write was counted, as
 * tracker_bio_cow() reads it.
 */
static __always_inline void tracker_cows_note(struct tracker_cows *cows,
					      struct tracker *tracker,
					      struct block_device *bdev,
					      sector_t sector, sector_t count)
{
	struct diff_area *da;

	if (!cows)
		return;
	da = rcu_dereference(tracker->diff_area);
	if (!da || diff_area_bio_passes(da, bdev, sector, count))
		return;
	if (cows->nr < TRACKER_COWS)
		cows->v[cows->nr] = (struct tracker_cow){
			.da = da, .bdev = bdev, .sector = sector, .count = count,
		};
	cows->nr++;
}

static __always_inline bool __tracker_account(struct tracker *tracker,
					      struct bio *bio, sector_t sector,
					      sector_t count, void **spare)
{
	bool hole = tracker_bio_is_hole(bio);
	struct cbt_map *map;

	if (!inflight_bio_count(&tracker->inflight, bio, sector, count,
				hole ? INFLIGHT_HOLE : INFLIGHT_DATA, spare))
		return false;
	map = rcu_dereference(tracker->map);
	if (likely(!hole)) {
		/* See tracker_inflight_done() for a discard racing with it. */
		if (likely(!test_bit(TRACKER_HOLES, &tracker->flags)))
			cbt_map_mark_numbers(map, sector, count);
		else
			cbt_map_mark(map, sector, count);
		return true;
	}
	if (!test_bit(TRACKER_HOLES, &tracker->flags)) {
		set_bit(TRACKER_HOLES, &tracker->flags);
		/* Seen before any bit: see tracker_inflight_done(). */
		smp_mb__after_atomic();
	}
	cbt_map_mark_hole(map, sector, count);
	return true;
}

/**
 * tracker_account() - count a write until it completes and mark its blocks.
 * @tracker: the tracker, found under RCU.
 * @bio: the write, about to be submitted.
 * @sector: first sector it changes, relative to the tracked device.
 * @count: sectors it changes, non-zero.
 * @spare: a context from inflight_bio_alloc() to use first, or NULL; taken
 *	(set to NULL) when used.
 * @cows: where to note the tracker if it is in a snapshot, or NULL.
 *
 * The write is counted in the tracker's open epoch before its change
 * number is read (see inflight.c), so that a drain after a checkpoint waits
 * for every write that may carry the closed number. A bio already counted
 * by this tracker (the remainder of a split, coming back) is only marked.
 * Discards, secure erases, write-zeroes and zone resets mark holes
 * (cbt_map_mark_hole()); the completion of a write clears them again.
 *
 * Context: rcu_read_lock() held; does not sleep.
 * Return: false, with nothing done, when no context could be had without
 * sleeping: give the bio again with a spare context.
 */
bool tracker_account(struct tracker *tracker, struct bio *bio,
		     sector_t sector, sector_t count, void **spare,
		     struct tracker_cows *cows)
{
	if (!__tracker_account(tracker, bio, sector, count, spare))
		return false;
	/* Sent to the whole disk: the snapshot's device is not named. */
	tracker_cows_note(cows, tracker, NULL, sector, count);
	return true;
}

/* The part of @r that lies in [@start, @start + @size), relative to @start. */
static bool tracker_rq_clip(const struct passthrough_range *r, sector_t start,
			    sector_t size, sector_t *sector, sector_t *count)
{
	sector_t from = max(r->sector, start), end, to;

	if (check_add_overflow(r->sector, r->count, &end))
		end = (sector_t)-1;
	if (check_add_overflow(start, size, &to))
		to = (sector_t)-1;
	to = min(end, to);
	if (from >= to)
		return false;
	*sector = from - start;
	*count = to - from;
	return true;
}

/**
 * tracker_rq_mark() - count and mark what a request without a bio changes.
 * @tracker: a tracker of the request's disk or of one of its partitions,
 *	found under RCU.
 * @effect: PASSTHROUGH_RANGES or PASSTHROUGH_UNKNOWN.
 * @ranges: for PASSTHROUGH_RANGES, the ranges of the whole disk it changes.
 * @nr: how many.
 * @start: first sector of the tracked device on the disk.
 * @size: its sectors ((sector_t)-1 for the whole disk).
 * @refs: receives the epoch reference the request holds until it completes;
 *	NULL: it cannot be waited for, so a new generation is due.
 *
 * As for a bio, the request is counted before it is marked, so that a
 * checkpoint either waits for it or sees it marked with a later number. A
 * snapshot of the device, once taken, cannot copy what such a request
 * overwrites: the snapshot breaks rather than its image silently differing.
 *
 * Context: rcu_read_lock() held; does not sleep.
 */
void tracker_rq_mark(struct tracker *tracker, enum passthrough_effect effect,
		     const struct passthrough_range *ranges, unsigned int nr,
		     sector_t start, sector_t size,
		     struct inflight_rq_refs *refs)
{
	struct inflight_span span = { .kind = INFLIGHT_UNKNOWN };
	bool reached = effect == PASSTHROUGH_UNKNOWN;
	struct percpu_ref *ref = NULL;
	sector_t sector, count, end = 0;
	struct diff_area *da;
	struct cbt_map *map;
	unsigned int i;

	/* The span of all ranges: its completion clears their hole bits. */
	for (i = 0; effect == PASSTHROUGH_RANGES && i < nr; i++) {
		if (!tracker_rq_clip(&ranges[i], start, size, &sector, &count))
			continue;
		if (!reached) {
			span.kind = INFLIGHT_DATA;
			span.sector = sector;
			end = sector + count;
		}
		span.sector = min(span.sector, sector);
		end = max(end, sector + count);
		span.count = end - span.sector;
		reached = true;
	}
	if (!reached)
		return;
	map = rcu_dereference(tracker->map);
	if (refs && refs->nr < INFLIGHT_RQ_REFS)
		ref = inflight_get_rcu(&tracker->inflight);
	if (ref) {
		refs->spans[refs->nr] = span;
		refs->refs[refs->nr++] = ref;
	} else {
		/*
		 * Its end will not be seen, so no completion clears a hole
		 * that a discard racing with it sets over its data.
		 */
		cbt_map_holes_off(map);
	}
	/* Not counted: the wait is lost, a new generation covers it. */
	if (effect == PASSTHROUGH_UNKNOWN || !ref)
		tracker_restart_later(tracker,
				      BLKSNAP_CBT_GENERATION_PASSTHROUGH);
	/*
	 * Only once take may choose its instant: a request counted while the
	 * state still read idle is drained by take before it.
	 */
	da = rcu_dereference(tracker->diff_area);
	if (da && (READ_ONCE(da->state) == DIFF_AREA_HOLD ||
		   READ_ONCE(da->state) == DIFF_AREA_ACTIVE)) {
		pr_err_ratelimited("device %u:%u: a command that bypasses copy-on-write changed it: its snapshot breaks\n",
				   MAJOR(tracker->dev), MINOR(tracker->dev));
		diff_area_broken(da, EOPNOTSUPP);
	}
	if (effect != PASSTHROUGH_RANGES)
		return;
	for (i = 0; i < nr; i++) {
		if (tracker_rq_clip(&ranges[i], start, size, &sector, &count))
			cbt_map_mark(map, sector, count);
	}
}

/**
 * tracker_submit_bio() - account a write sent to the tracked device, or to
 *	one of its partitions when the tracker is on the whole disk.
 * @tracker: tracker of @bdev, found under RCU.
 * @bio: the bio.
 * @bdev: the tracked device the bio reaches (a whole disk for a bio sent
 *	to one of its partitions).
 * @sector: first sector of the bio relative to @bdev.
 * @spare: as for tracker_account().
 * @cows: as for tracker_account().
 *
 * Writes, discards, secure erases, write-zeroes, zone appends, resets and
 * finishes mark the blocks they change, with or without FUA/PREFLUSH; reads,
 * empty flushes and zone open/close do nothing. A device whose geometry differs from the tracker's gets a new
 * map from the resize worker.
 *
 * Context: rcu_read_lock() held; does not sleep.
 * Return: as tracker_account().
 */
bool tracker_submit_bio(struct tracker *tracker, struct bio *bio,
			struct block_device *bdev, sector_t sector,
			void **spare, struct tracker_cows *cows)
{
	sector_t count = __tracker_bio_sectors(bio, bdev);
	struct tracker_geometry g;

	if (!count)
		return true;
	/* diskseq is written by inc_diskseq() on a media change. */
	tracker_geometry_of(bdev, &g);
	if (unlikely(tracker_geometry_differs(tracker, &g)) &&
	    !test_and_set_bit(TRACKER_RESIZE_PENDING, &tracker->flags)) {
		/*
		 * The worker adopts the device with its own reference: by the
		 * time it runs, the device may be gone and its disk freed.
		 * Allocating a map here could sleep or recurse into I/O.
		 */
		get_device(&bdev->bd_device);
		/* NULL here: the worker takes it before clearing the bit. */
		WRITE_ONCE(tracker->pending_bdev, bdev);
		queue_work(tracker_wq, &tracker->resize_work);
	}
	if (!__tracker_account(tracker, bio, sector, count, spare))
		return false;
	tracker_cows_note(cows, tracker, bdev, sector, count);
	return true;
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
	info->generation_reason = map->reason;
	mutex_unlock(&tracker->lock);
}

/* Bytes of the map copied per step of tracker_read(). */
#define TRACKER_READ_CHUNK (64U << 10)

/**
 * tracker_read() - copy part of the map, or of its hole bits, to user space.
 * @tracker: the tracker.
 * @offset: first block; a multiple of 8 for @holes.
 * @length: blocks wanted, non-zero.
 * @buf: user buffer of @length bytes of change numbers, or for @holes of
 *	DIV_ROUND_UP(@length, 8) bytes of hole bits (cbt_map_copy_holes()).
 * @generation: receives the generation of the copied bytes.
 * @holes: copy the hole bits instead of the change numbers.
 *
 * The map is copied in steps of TRACKER_READ_CHUNK bytes through a kernel
 * buffer: a fault on @buf (userfaultfd, a file on a dying disk) must not
 * happen under @tracker->lock, which the resize worker, and so del_gendisk()
 * through detach, waits for; and no buffer as large as the map is needed.
 * If the map changes generation between two steps, the copy stops there
 * (after a multiple of 8 blocks, so a reader of holes can go on from it).
 *
 * Return: blocks copied, -ERANGE @offset past the map, -ENOMEM, -EFAULT.
 */
long tracker_read(struct tracker *tracker, u32 offset, u32 length,
		  void __user *buf, u8 *generation, bool holes)
{
	u32 step = holes ? TRACKER_READ_CHUNK * 8 : TRACKER_READ_CHUNK;
	struct cbt_map *map, *first;
	u32 done = 0, n, bytes;
	uuid_t gen;
	u8 *bounce;

	bounce = kvmalloc(holes ? DIV_ROUND_UP(min(length, step), 8) :
			  min(length, step), GFP_KERNEL);
	if (!bounce)
		return -ENOMEM;
	first = map = tracker_lock_fresh(tracker);
	if (offset >= map->block_count) {
		mutex_unlock(&tracker->lock);
		kvfree(bounce);
		return -ERANGE;
	}
	length = min(length, map->block_count - offset);
	uuid_copy(&gen, &map->generation);
	for (;;) {
		n = min(length - done, step);
		if (holes) {
			cbt_map_copy_holes(map, offset + done, n, bounce);
			bytes = DIV_ROUND_UP(n, 8);
		} else {
			cbt_map_copy(map, offset + done, n, bounce);
			bytes = n;
		}
		mutex_unlock(&tracker->lock);
		/* @done is a multiple of @step, so of 8 for holes. */
		if (copy_to_user(buf + (holes ? done / 8 : done), bounce,
				 bytes)) {
			kvfree(bounce);
			return -EFAULT;
		}
		done += n;
		if (done == length)
			break;
		cond_resched();
		mutex_lock(&tracker->lock);
		map = rcu_dereference_protected(tracker->map,
						lockdep_is_held(&tracker->lock));
		if (map != first || !uuid_equal(&map->generation, &gen)) {
			mutex_unlock(&tracker->lock);
			break;
		}
	}
	kvfree(bounce);
	export_uuid(generation, &gen);
	return done;
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
	for (i = 0; i < count; i++) {
		cbt_map_mark(map, ranges[i].sector_offset,
			     ranges[i].sector_count);
		/* Up to 65536 ranges, each up to the whole map. */
		cond_resched();
	}
out_unlock:
	mutex_unlock(&tracker->lock);
	return ret;
}

/**
 * tracker_checkpoint() - close the current change number.
 * @tracker: the tracker.
 * @closed: receives the closed number, 0 when a new generation began.
 * @generation: receives the generation after the checkpoint.
 * @changes_number: receives the number later writes carry.
 *
 * Returns only when every write that may carry the closed number has
 * completed, so a backup that reads the device after this sees its data,
 * and a write that completes later carries a higher number.
 *
 * Return: 0, or -EINTR on a fatal signal while waiting (the number is
 * closed all the same).
 */
int tracker_checkpoint(struct tracker *tracker, u8 *closed,
		       u8 *generation, u8 *changes_number)
{
	struct cbt_map *map = tracker_lock_fresh(tracker);

	*closed = cbt_map_checkpoint(map);
	export_uuid(generation, &map->generation);
	*changes_number = map->changes_number;
	mutex_unlock(&tracker->lock);
	/*
	 * A write that read the closed number may still be marking or on its
	 * way to the device; it is in the epoch the drain retires.
	 */
	return tracker_drain(tracker);
}

/**
 * tracker_module_init() - create the trackers' workqueue.
 *
 * Return: 0 or -ENOMEM.
 */
int tracker_module_init(void)
{
	/* Resizes allocate maps on behalf of writers: keep a rescuer. */
	tracker_wq = alloc_workqueue("blksnap", WQ_UNBOUND | WQ_MEM_RECLAIM, 0);
	return tracker_wq ? 0 : -ENOMEM;
}

/**
 * tracker_module_exit() - wait until every tracker is freed.
 *
 * Every tracker was detached; writes still in flight to their devices
 * keep them, and so the module, until they complete.
 */
void tracker_module_exit(void)
{
	wait_var_event(&trackers_alive, !atomic_read(&trackers_alive));
	/* The last epoch release may still be returning from an RCU callback. */
	rcu_barrier();
	/*
	 * A completion may still be returning from inflight.c after it
	 * dropped the last reference: with preemption off (interrupt
	 * context), a grace period waits for it; preempted in a task,
	 * RCU-tasks does.
	 */
	synchronize_rcu();
	synchronize_rcu_tasks();
	destroy_workqueue(tracker_wq);
}

/**
 * tracker_checkpoint_drained() - close the current change number for a
 *	snapshot being taken.
 * @tracker: the tracker, bound to the snapshot.
 * @generation: receives the generation after the checkpoint.
 *
 * Unlike tracker_checkpoint() it does not drain: take has drained the
 * device and holds every new write, and marks the held writes again with
 * the next number when it lets them go.
 *
 * Return: the closed number, 0 when a new generation began.
 */
u8 tracker_checkpoint_drained(struct tracker *tracker, u8 *generation)
{
	struct cbt_map *map;
	u8 closed;

	mutex_lock(&tracker->lock);
	map = rcu_dereference_protected(tracker->map,
					lockdep_is_held(&tracker->lock));
	closed = cbt_map_checkpoint(map);
	export_uuid(generation, &map->generation);
	mutex_unlock(&tracker->lock);
	return closed;
}
