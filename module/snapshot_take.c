// SPDX-License-Identifier: GPL-2.0
/*
 * Take: the instant of a snapshot across several devices.
 *
 * In order: freeze the file systems on the devices; hold every new write to
 * all of them (the bio path parks them before counting them); wait a grace
 * period, so that every write that did not see the hold is counted, then
 * drain those (all devices at once); close each device's CBT change number;
 * start copy-on-write everywhere; release the held writes, which are then
 * counted, marked with the next change number and copied-on-write like any
 * later one; thaw; make the image devices. The instant of the snapshot lies
 * inside the hold, where no write reaches any of the devices.
 *
 * Everything that can fail is done before the first freeze, except adding
 * the image disks, which breaks the snapshot when it fails.
 *
 * Locking: the caller holds snapshot->lock.
 */
#define pr_fmt(fmt) KBUILD_MODNAME "-snapshot: " fmt

#include <linux/blkdev.h>
#include <linux/ktime.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/workqueue.h>
#include "diff_area.h"
#include "registry.h"
#include "snapimage.h"
#include "snapshot.h"
#include "tracker.h"

static void snapshot_freeze(struct snapshot *snap,
			    struct blksnap_snapshot_take *t)
{
	struct diff_area *da;
	int ret;
	u32 i;

	for (i = 0; i < snap->nr_devices; i++) {
		da = snap->devices[i];
		ret = compat_bdev_freeze(da->origin.bdev);
		if (ret < 0) {
			da->freeze = BLKSNAP_FREEZE_FAILED;
			da->freeze_error = -ret;
			t->freeze_failed++;
			pr_warn("snapshot %llu: device %u:%u not frozen (%d): its image is only crash-consistent\n",
				snap->id, MAJOR(da->dev), MINOR(da->dev), ret);
			continue;
		}
		da->freeze = ret ? BLKSNAP_FREEZE_FROZEN :
				   BLKSNAP_FREEZE_NO_FILESYSTEM;
		t->frozen += ret;
	}
}

static void snapshot_thaw(struct snapshot *snap)
{
	struct diff_area *da;
	u32 i;

	for (i = 0; i < snap->nr_devices; i++) {
		da = snap->devices[i];
		if (da->freeze != BLKSNAP_FREEZE_FAILED &&
		    da->freeze != BLKSNAP_FREEZE_NONE)
			compat_bdev_thaw(da->origin.bdev);
	}
}

/**
 * struct snapshot_drain - the drain of one device, run beside the others.
 * @work: runs tracker_drain().
 * @tracker: the device's tracker.
 * @ret: its result.
 */
struct snapshot_drain {
	struct work_struct work;
	struct tracker *tracker;
	int ret;
};

static void snapshot_drain_work(struct work_struct *work)
{
	struct snapshot_drain *d = container_of(work, struct snapshot_drain,
						work);

	d->ret = tracker_drain(d->tracker);
}

/*
 * The instant: hold every new write, drain the writes already on their way
 * (all devices at once: each drain waits for a grace period), close the
 * change numbers, then copy-on-write. Held writes go on afterwards.
 */
static int snapshot_activate(struct snapshot *snap,
			     struct snapshot_drain *drains)
{
	u8 generation[UUID_SIZE];
	struct diff_area *da;
	int ret = 0;
	u32 i;

	/*
	 * Published before the states, under the same grace period: the bio
	 * path tests the hold only while this is non-zero.
	 */
	atomic_inc(&tracker_holding_count);
	for (i = 0; i < snap->nr_devices; i++)
		diff_area_set_state(snap->devices[i], DIFF_AREA_HOLD);
	/*
	 * A write that tested the hold before it was published is counted
	 * inside its RCU read-side section: after a grace period, in the
	 * epochs the drains retire (see filter_bio()).
	 */
	synchronize_rcu_expedited();
	for (i = 0; i < snap->nr_devices; i++) {
		drains[i].tracker = snap->devices[i]->tracker;
		INIT_WORK(&drains[i].work, snapshot_drain_work);
		queue_work(system_unbound_wq, &drains[i].work);
	}
	for (i = 0; i < snap->nr_devices; i++) {
		flush_work(&drains[i].work);
		ret = ret ?: drains[i].ret;
	}
	if (ret) {
		/* A fatal signal: give up, and let the held writes go. */
		for (i = 0; i < snap->nr_devices; i++)
			diff_area_set_state(snap->devices[i], DIFF_AREA_IDLE);
		atomic_dec_return_release(&tracker_holding_count);
		return ret;
	}
	for (i = 0; i < snap->nr_devices; i++) {
		da = snap->devices[i];
		da->closed_number = tracker_checkpoint_drained(da->tracker,
							       generation);
		import_uuid(&da->generation, generation);
	}
	for (i = 0; i < snap->nr_devices; i++)
		diff_area_set_state(snap->devices[i], DIFF_AREA_ACTIVE);
	/*
	 * After the states, with release ordering: a write that reads the
	 * count's decrement, and so skips the hold test, reads them active
	 * and is copied-on-write.
	 */
	atomic_dec_return_release(&tracker_holding_count);
	return 0;
}

/**
 * __snapshot_take() - take a snapshot; see &struct blksnap_snapshot_take.
 * @snap: the snapshot.
 * @t: in: flags; out: the measures.
 *
 * Context: @snap->lock held.
 * Return: 0 or the errno the UAPI header documents.
 */
int __snapshot_take(struct snapshot *snap, struct blksnap_snapshot_take *t)
{
	bool freeze = !(t->flags & BLKSNAP_TAKE_FLAG_NO_FREEZE);
	struct snapshot_drain *drains;
	struct snapimage *image;
	u64 start, hold;
	int ret = 0;
	u32 i;

	ret = snapshot_check_not_taken(snap);
	if (ret)
		return ret;
	if (!snap->nr_devices)
		return -EINVAL;
	/* Everything that can fail comes before the first device is frozen. */
	drains = kcalloc(snap->nr_devices, sizeof(*drains), GFP_KERNEL);
	if (!drains)
		return -ENOMEM;
	for (i = 0; i < snap->nr_devices; i++) {
		image = snapimage_create(snap->devices[i],
					 snap->flags & BLKSNAP_SNAPSHOT_FLAG_WRITABLE);
		if (IS_ERR(image)) {
			ret = PTR_ERR(image);
			goto out_images;
		}
		snap->devices[i]->image = image;
	}
	start = ktime_get_ns();
	if (freeze)
		snapshot_freeze(snap, t);
	hold = ktime_get_ns();
	ret = snapshot_activate(snap, drains);
	t->hold_ns = ktime_get_ns() - hold;
	if (freeze)
		snapshot_thaw(snap);
	t->freeze_ns = freeze ? ktime_get_ns() - start : 0;
	if (ret)
		goto out_images;
	kfree(drains);
	snap->taken = true;
	for (i = 0; i < snap->nr_devices; i++) {
		ret = snapimage_add(snap->devices[i]->image);
		if (ret) {
			snapshot_break(snap, -ret);
			return ret;
		}
	}
	pr_info("snapshot %llu taken: writes held %llu us, %u file systems frozen, %u freezes failed\n",
		snap->id, t->hold_ns / NSEC_PER_USEC, t->frozen,
		t->freeze_failed);
	return 0;

out_images:
	for (i = 0; i < snap->nr_devices; i++) {
		snapimage_destroy(snap->devices[i]->image);
		snap->devices[i]->image = NULL;
		snap->devices[i]->freeze = BLKSNAP_FREEZE_NONE;
	}
	kfree(drains);
	return ret;
}
