/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __BLKSNAP_REGISTRY_H
#define __BLKSNAP_REGISTRY_H

#include <linux/blkdev.h>
#include <linux/hash.h>
#include <linux/types.h>
#include <linux/list.h>
#include "filter.h"

struct bio;
struct diff_area;
struct request;
struct inflight_rq_refs;
struct gendisk;
struct tracker;

/**
 * struct tracker_dying_disk - a disk being deleted, see tracker_disk_dying().
 * @link: entry in the registry's list of dying disks.
 * @disk: the disk.
 */
struct tracker_dying_disk {
	struct list_head link;
	struct gendisk *disk;
};

struct tracker_cows;

bool tracker_bio_account(struct bio *bio, void **spare,
			 struct tracker_cows *cows);
void tracker_rq_account(struct request *rq, struct inflight_rq_refs *refs);
enum filter_verdict tracker_bio_hold(struct bio *bio);
enum filter_verdict tracker_bio_cow(struct bio *bio);
enum filter_verdict tracker_bio_cows(struct bio *bio,
				     const struct tracker_cows *cows);
int tracker_bind(dev_t dev, struct diff_area *da, struct tracker **tracker);
void tracker_unbind(struct tracker *tracker);

/* Trackers bound to a snapshot; the bio path skips its tests while 0. */
extern int tracker_bound_count;

/**
 * tracker_any_bound() - whether any tracked device is in a snapshot.
 *
 * Context: inside the RCU read-side section of the tests it guards.
 * Return: true when the snapshot tests of the bio path are needed.
 */
static inline bool tracker_any_bound(void)
{
	return READ_ONCE(tracker_bound_count);
}

/* Takes between their hold and their end; the bio path skips the hold walk while 0. */
extern atomic_t tracker_holding_count;

/**
 * tracker_any_holding() - whether a take may be holding writes.
 *
 * Read with acquire ordering: a write that sees a take's hold over also
 * sees the state take left its devices in (snapshot_take.c).
 *
 * Context: inside the RCU read-side section of the tests it guards.
 * Return: true when the hold test of the bio path is needed.
 */
static inline bool tracker_any_holding(void)
{
	return atomic_read_acquire(&tracker_holding_count);
}

/*
 * How many trackers, and whole disks with tracked partitions, hash to each
 * bucket: a bio whose device's bucket is 0 reaches no tracker, which the
 * hook learns from one read of a shared, read-mostly cacheline, without an
 * xarray walk, a lock or a call. Changed under the registry lock, read
 * locklessly.
 */
#define REGISTRY_BUCKET_BITS 8
extern u16 registry_buckets[1 << REGISTRY_BUCKET_BITS];

static inline u16 *registry_bucket(dev_t dev)
{
	return &registry_buckets[hash_32(dev, REGISTRY_BUCKET_BITS)];
}

/**
 * registry_may_track() - whether a bio sent to @bdev may reach a tracker.
 * @bdev: the bio's device.
 *
 * The hook may act on a false answer outside any RCU read-side section:
 * attach publishes a tracker, then waits for RCU-tasks
 * (tracker_wait_earlier_writes()), so it returns only once no task is
 * still in the hook with an answer from before; and a snapshot is taken
 * only of devices already attached.
 */
static inline bool registry_may_track(struct block_device *bdev)
{
	if (READ_ONCE(*registry_bucket(bdev->bd_dev)))
		return true;
	return bdev_is_partition(bdev) &&
	       READ_ONCE(*registry_bucket(bdev_whole(bdev)->bd_dev));
}

int tracker_attach(dev_t dev);
int tracker_detach(dev_t dev);
void tracker_detach_all(void);
void tracker_disk_dying(struct gendisk *disk, struct tracker_dying_disk *d);
void tracker_disk_dead(struct tracker_dying_disk *d);
u32 tracker_list(dev_t *devs, u32 capacity);
void tracker_restart_all_later(u8 reason);
struct tracker *tracker_get_by_dev(dev_t dev);

void registry_lock(void);
void registry_unlock(void);
void registry_assert_held(void);
int __registry_reindex(struct tracker *tracker);
bool __registry_disk_gone(struct gendisk *disk);

#endif /* __BLKSNAP_REGISTRY_H */
