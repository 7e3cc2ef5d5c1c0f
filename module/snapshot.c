// SPDX-License-Identifier: GPL-2.0
/*
 * Snapshots: their life (create, add, destroy, the close of their control
 * file), and what user space can list and ask about them. Take, the instant
 * across several devices, is in snapshot_take.c.
 *
 * Locking: snapshots_mutex protects the list, the id counter, and the
 * checks that span snapshots (a device in one snapshot only, storage not on
 * a snapshot's device). snapshot->lock serializes the operations on one
 * snapshot. Order: snapshot->lock, snapshots_mutex, then the registry lock
 * (registry.c), as add takes them. The bio path takes none of them.
 * A snapshot's events have their own irq-safe lock (event_queue.c); a
 * WAIT_EVENT caller holds only a reference, so destroy never waits for it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME "-snapshot: " fmt

#include <linux/blkdev.h>
#include <linux/debugfs.h>
#include <linux/ktime.h>
#include <linux/seq_file.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include "chunk.h"
#include "diff_area.h"
#include "diff_buffer.h"
#include "diff_storage.h"
#include "params.h"
#include "registry.h"
#include "snapimage.h"
#include "snapshot.h"
#include "tracker.h"

static DEFINE_MUTEX(snapshots_mutex);
static LIST_HEAD(snapshots);
static u64 snapshot_next_id = 1;

static void snapshot_free(struct kref *kref)
{
	kfree(container_of(kref, struct snapshot, kref));
}

static void snapshot_put(struct snapshot *snapshot)
{
	kref_put(&snapshot->kref, snapshot_free);
}

static struct snapshot *snapshot_get(u64 id)
{
	struct snapshot *s, *found = NULL;

	mutex_lock(&snapshots_mutex);
	list_for_each_entry(s, &snapshots, link) {
		if (s->id == id) {
			kref_get(&s->kref);
			found = s;
			break;
		}
	}
	mutex_unlock(&snapshots_mutex);
	return found;
}

/* The snapshot with the smallest id above @id, with a reference, or NULL. */
static struct snapshot *snapshot_get_next(u64 id)
{
	struct snapshot *s, *next = NULL;

	mutex_lock(&snapshots_mutex);
	list_for_each_entry(s, &snapshots, link)
		if (s->id > id && (!next || s->id < next->id))
			next = s;
	if (next)
		kref_get(&next->kref);
	mutex_unlock(&snapshots_mutex);
	return next;
}

static const char *const snapshot_storage_kinds[BLKSNAP_STORAGE_TMPFILE + 1] = {
	[BLKSNAP_STORAGE_BDEV] = "bdev",
	[BLKSNAP_STORAGE_FILE] = "file",
	[BLKSNAP_STORAGE_TMPFILE] = "tmpfile",
};

/*
 * debugfs blksnap/snapshots: what the module is doing, one line a device.
 * One snapshot at a time, under its lock only (snapshot->lock comes before
 * snapshots_mutex): its devices and images change under that lock.
 */
static int snapshot_counters_show(struct seq_file *m, void *v)
{
	struct diff_storage_area *first;
	struct diff_area *da;
	struct snapshot *s;
	u64 last = 0, used, size, limit;
	dev_t image;
	u32 i;

	seq_printf(m, "cow memory: %ld of %lu bytes\n", diff_buffer_charged(),
		   (unsigned long)cow_memory_limit_mib << 20);
	while ((s = snapshot_get_next(last))) {
		last = s->id;
		mutex_lock(&s->lock);
		if (s->dying)
			goto next;
		first = diff_storage_first(s->storage);
		diff_storage_usage(s->storage, &used, &size, &limit);
		seq_printf(m, "snapshot %llu: %s, error %d, storage %s %u:%u used %llu of %llu bytes\n",
			   s->id, READ_ONCE(s->error) ? "broken" :
			   s->taken ? "taken" : "created", READ_ONCE(s->error),
			   snapshot_storage_kinds[first->kind],
			   MAJOR(first->dev), MINOR(first->dev), used, limit);
		diff_storage_show(s->storage, m, snapshot_storage_kinds);
		for (i = 0; i < s->nr_devices; i++) {
			da = s->devices[i];
			image = da->image && da->image->added ?
				snapimage_dev(da->image) : 0;
			seq_printf(m, "  %u:%u image %u:%u chunk %u writes_held %lld chunks_copied %lld chunks_stored %lld discards_dropped %lld image_reads %lld image_writes %lld nowait_refused %lld error %d\n",
				   MAJOR(da->dev), MINOR(da->dev), MAJOR(image),
				   MINOR(image),
				   1U << (da->chunk_shift + SECTOR_SHIFT),
				   atomic64_read(&da->writes_held),
				   atomic64_read(&da->chunks_copied),
				   atomic64_read(&da->chunks_stored),
				   atomic64_read(&da->discards_dropped),
				   atomic64_read(&da->image_reads),
				   atomic64_read(&da->image_writes_done),
				   atomic64_read(&da->nowait_refused),
				   READ_ONCE(da->error));
		}
next:
		mutex_unlock(&s->lock);
		snapshot_put(s);
	}
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(snapshot_counters);

/**
 * snapshot_init() - set up what copy-on-write needs.
 * @debugfs: the module's debugfs directory (an error pointer is ignored).
 *
 * Return: 0 or a negative errno.
 */
int snapshot_init(struct dentry *debugfs)
{
	int ret;

	ret = diff_buffer_init();
	if (ret)
		return ret;
	ret = chunk_init();
	if (ret)
		goto out_diff_buffer;
	ret = diff_area_init();
	if (ret)
		goto out_chunk;
	ret = snapimage_init();
	if (ret)
		goto out_diff_area;
	/* Removed with the directory, by main.c. */
	debugfs_create_file("snapshots", 0400, debugfs, NULL,
			    &snapshot_counters_fops);
	return 0;

out_diff_area:
	diff_area_exit();
out_chunk:
	chunk_exit();
out_diff_buffer:
	diff_buffer_exit();
	return ret;
}

/**
 * snapshot_exit() - undo snapshot_init(); no snapshot can exist (each one
 * pins the module or is destroyed with its control file).
 */
void snapshot_exit(void)
{
	WARN_ON(!list_empty(&snapshots));
	snapimage_exit();
	diff_area_exit();
	chunk_exit();
	diff_buffer_exit();
}

/**
 * snapshot_break() - copy-on-write failed: the images can no longer be
 *	trusted; the devices' writes pass from now on.
 * @snapshot: the snapshot.
 * @error: positive errno; only the first one is kept.
 *
 * Context: any.
 */
void snapshot_break(struct snapshot *snapshot, int error)
{
	snapshot_break_device(snapshot, error, 0);
}

/**
 * snapshot_break_device() - as snapshot_break(), naming the device whose
 *	copy-on-write failed, for the event.
 * @snapshot: the snapshot.
 * @error: positive errno; only the first one is kept.
 * @dev: the device, or 0.
 *
 * The first break raises one event: OVERFLOW for ENOSPC (the storage is
 * full), CORRUPTED with @error and @dev for anything else.
 *
 * Context: any.
 */
void snapshot_break_device(struct snapshot *snapshot, int error, dev_t dev)
{
	bool overflow = error == ENOSPC;
	u64 used, size, limit;

	if (cmpxchg(&snapshot->error, 0, error))
		return;
	pr_err("snapshot %llu is broken (error %d); its images now fail with EIO\n",
	       snapshot->id, error);
	diff_storage_usage(snapshot->storage, &used, &size, &limit);
	event_queue_raise(&snapshot->events, overflow ? BLKSNAP_EVENT_OVERFLOW :
			  BLKSNAP_EVENT_CORRUPTED, error, overflow ? 0 : dev,
			  used, limit);
}

/**
 * snapshot_wait_event() - the snapshot's next event.
 * @id: the snapshot.
 * @timeout_ms: how long to wait for one.
 * @ev: receives it.
 *
 * Return: 0, -ENOENT (no such snapshot, or destroyed meanwhile),
 * -ETIMEDOUT or -EINTR.
 *
 * Context: process; sleeps without any lock of the snapshot, holding a
 * reference only, so destroy does not wait for it.
 */
int snapshot_wait_event(u64 id, u32 timeout_ms,
			struct blksnap_snapshot_event *ev)
{
	struct snapshot *snap = snapshot_get(id);
	int ret;

	if (!snap)
		return -ENOENT;
	ret = event_queue_wait(&snap->events, timeout_ms, ev);
	snapshot_put(snap);
	return ret;
}

/**
 * snapshot_unread_event() - give back an event snapshot_wait_event()
 *	returned but the caller could not deliver (EFAULT).
 * @id: the snapshot.
 * @ev: the event.
 *
 * A snapshot destroyed meanwhile takes the event with it.
 */
void snapshot_unread_event(u64 id, const struct blksnap_snapshot_event *ev)
{
	struct snapshot *snap = snapshot_get(id);

	if (!snap)
		return;
	event_queue_unread(&snap->events, ev);
	snapshot_put(snap);
}

static bool __snapshot_on_storage(struct block_device *bdev)
{
	struct snapshot *s;

	lockdep_assert_held(&snapshots_mutex);
	list_for_each_entry(s, &snapshots, link)
		if (diff_storage_on(s->storage, bdev))
			return true;
	return false;
}

/*
 * -EDEADLK storage on a snapshot's device, -EBUSY a file or device some
 * snapshot (this one included) already stores in.
 */
static int __snapshot_storage_conflicts(struct diff_storage_area *area)
{
	struct snapshot *s;
	u32 i;

	lockdep_assert_held(&snapshots_mutex);
	list_for_each_entry(s, &snapshots, link) {
		if (diff_storage_holds(s->storage, area))
			return -EBUSY;
		for (i = 0; i < s->nr_devices; i++)
			if (diff_storage_area_on(area,
						 s->devices[i]->origin.bdev))
				return -EDEADLK;
	}
	return 0;
}

/**
 * snapshot_create() - create an empty snapshot with its storage.
 * @fd: the storage, see &struct blksnap_snapshot_create.
 * @flags: BLKSNAP_SNAPSHOT_FLAG_* bits.
 * @limit: bytes of storage.
 * @owner: the control file creating it.
 * @id: receives the new identifier.
 *
 * Return: 0 or the errno the UAPI header documents.
 */
int snapshot_create(int fd, u32 flags, u64 limit, const struct file *owner,
		    u64 *id)
{
	struct diff_storage_area *area;
	struct snapshot *snap;
	int ret;

	snap = kzalloc(sizeof(*snap), GFP_KERNEL);
	if (!snap)
		return -ENOMEM;
	kref_init(&snap->kref);
	mutex_init(&snap->lock);
	event_queue_init(&snap->events);
	snap->flags = flags;
	snap->owner = flags & BLKSNAP_SNAPSHOT_FLAG_KEEP ? NULL : owner;
	snap->creator = owner;
	snap->storage = diff_storage_new(&snap->events);
	if (!snap->storage) {
		ret = -ENOMEM;
		goto out_free_snap;
	}
	area = diff_storage_area_open(fd, limit, snap);
	if (IS_ERR(area)) {
		ret = PTR_ERR(area);
		goto out_free_storage;
	}

	mutex_lock(&snapshots_mutex);
	ret = __snapshot_storage_conflicts(area);
	if (ret) {
		mutex_unlock(&snapshots_mutex);
		diff_storage_area_close(area);
		goto out_free_storage;
	}
	/* The first area of an empty storage: always room for it. */
	diff_storage_add(snap->storage, area);
	snap->id = snapshot_next_id++;
	*id = snap->id;
	list_add_tail(&snap->link, &snapshots);
	mutex_unlock(&snapshots_mutex);
	/* A kept snapshot outlives every file: it keeps the module instead. */
	if (!snap->owner)
		__module_get(THIS_MODULE);
	pr_info("snapshot %llu created: storage %u:%u, %llu bytes\n", *id,
		MAJOR(area->dev), MINOR(area->dev), area->limit);
	return 0;

out_free_storage:
	diff_storage_free(snap->storage);
out_free_snap:
	kfree(snap);
	return ret;
}

/* Tear down a snapshot already removed from the list. */
static void snapshot_teardown(struct snapshot *snap)
{
	struct diff_area *da;
	u32 i;

	mutex_lock(&snap->lock);
	snap->dying = true;
	event_queue_kill(&snap->events);
	/* No new image read after this; those accepted are in &da->ios. */
	for (i = 0; i < snap->nr_devices; i++) {
		snapimage_destroy(snap->devices[i]->image);
		snap->devices[i]->image = NULL;
	}
	for (i = 0; i < snap->nr_devices; i++) {
		diff_area_set_state(snap->devices[i], DIFF_AREA_STOPPED);
		tracker_unbind(snap->devices[i]->tracker);
	}
	/* The bio path can no longer reach any of them. */
	synchronize_rcu();
	for (i = 0; i < snap->nr_devices; i++) {
		da = snap->devices[i];
		tracker_put(da->tracker);
		diff_area_destroy(da);
	}
	diff_storage_free(snap->storage);
	/* Pages kept for copies: not for as long as the module stays. */
	diff_buffer_trim();
	mutex_unlock(&snap->lock);
	pr_info("snapshot %llu destroyed\n", snap->id);
	if (!snap->owner)
		module_put(THIS_MODULE);
	snapshot_put(snap);
}

/**
 * snapshot_destroy() - destroy a snapshot.
 * @id: its identifier.
 *
 * Return: 0 or -ENOENT.
 */
int snapshot_destroy(u64 id)
{
	struct snapshot *s, *found = NULL;

	mutex_lock(&snapshots_mutex);
	list_for_each_entry(s, &snapshots, link) {
		if (s->id == id) {
			list_del(&s->link);
			found = s;
			break;
		}
	}
	mutex_unlock(&snapshots_mutex);
	if (!found)
		return -ENOENT;
	snapshot_teardown(found);
	return 0;
}

/**
 * snapshot_release_owner() - a control file is closed: destroy the
 *	snapshots it created without BLKSNAP_SNAPSHOT_FLAG_KEEP, and forget
 *	it as the creator of the kept ones.
 * @owner: the file.
 */
void snapshot_release_owner(const struct file *owner)
{
	struct snapshot *s, *next;
	LIST_HEAD(gone);

	mutex_lock(&snapshots_mutex);
	list_for_each_entry_safe(s, next, &snapshots, link) {
		if (s->owner == owner)
			list_move_tail(&s->link, &gone);
		else if (s->creator == owner)
			s->creator = NULL;
	}
	mutex_unlock(&snapshots_mutex);
	list_for_each_entry_safe(s, next, &gone, link) {
		list_del(&s->link);
		snapshot_teardown(s);
	}
}

/**
 * snapshot_poll() - poll() of a control file: readable while a snapshot it
 *	created (kept or not) has an event that no one has read yet.
 * @file: the control file.
 * @pt: the poll table.
 *
 * Level-triggered: an event read through any control file no longer
 * counts. Registers on the wait queue every event wakes before it looks,
 * so an event raised meanwhile is not missed.
 *
 * Return: EPOLLIN | EPOLLRDNORM or 0.
 */
__poll_t snapshot_poll(struct file *file, struct poll_table_struct *pt)
{
	struct snapshot *s;
	__poll_t mask = 0;

	event_queue_poll_wait(file, pt);
	mutex_lock(&snapshots_mutex);
	list_for_each_entry(s, &snapshots, link) {
		if (s->creator == file && event_queue_pending(&s->events)) {
			mask = EPOLLIN | EPOLLRDNORM;
			break;
		}
	}
	mutex_unlock(&snapshots_mutex);
	return mask;
}

static int __snapshot_add(struct snapshot *snap, dev_t dev)
{
	struct diff_area *da;
	struct snapshot *s;
	int ret = 0;
	u32 i;

	ret = snapshot_check_not_taken(snap);
	if (ret)
		return ret;
	if (snap->nr_devices == BLKSNAP_SNAPSHOT_MAX_DEVICES)
		return -E2BIG;
	da = diff_area_create(snap, dev);
	if (IS_ERR(da))
		return PTR_ERR(da);

	mutex_lock(&snapshots_mutex);
	list_for_each_entry(s, &snapshots, link)
		for (i = 0; i < s->nr_devices; i++)
			if (s->devices[i]->dev == dev)
				ret = -EBUSY;
	if (!ret && __snapshot_on_storage(da->origin.bdev))
		ret = -EDEADLK;
	if (!ret)
		ret = tracker_bind(dev, da, &da->tracker);
	if (!ret)
		snap->devices[snap->nr_devices++] = da;
	mutex_unlock(&snapshots_mutex);
	if (ret) {
		/* Never reachable by the bio path. */
		diff_area_destroy(da);
		return ret;
	}
	pr_info("snapshot %llu: device %u:%u added, %llu sectors, chunks of %u bytes\n",
		snap->id, MAJOR(dev), MINOR(dev),
		(unsigned long long)da->capacity,
		1U << (da->chunk_shift + SECTOR_SHIFT));
	return 0;
}

/**
 * snapshot_add() - add a device to a snapshot not yet taken.
 * @id: the snapshot.
 * @dev: the device.
 *
 * Return: 0 or the errno the UAPI header documents.
 */
int snapshot_add(u64 id, dev_t dev)
{
	struct snapshot *snap = snapshot_get(id);
	int ret;

	if (!snap)
		return -ENOENT;
	mutex_lock(&snap->lock);
	ret = __snapshot_add(snap, dev);
	mutex_unlock(&snap->lock);
	snapshot_put(snap);
	return ret;
}

/**
 * snapshot_add_storage() - give a snapshot, taken or not, more storage.
 * @id: the snapshot.
 * @fd: the storage, see &struct blksnap_snapshot_add_storage.
 * @limit: bytes of it.
 *
 * The same refusals as snapshot_create() for the storage itself, checked
 * against every snapshot, this one included.
 *
 * Return: 0 or the errno the UAPI header documents.
 */
int snapshot_add_storage(u64 id, int fd, u64 limit)
{
	struct snapshot *snap = snapshot_get(id);
	struct diff_storage_area *area;
	int ret;

	if (!snap)
		return -ENOENT;
	mutex_lock(&snap->lock);
	if (snap->dying)
		ret = -ENOENT;
	else if (snapshot_broken(snap))
		ret = -EALREADY;
	else if (snap->storage->nr_areas == DIFF_STORAGE_AREAS_MAX)
		ret = -E2BIG;
	else
		ret = 0;
	if (ret)
		goto out_unlock;
	area = diff_storage_area_open(fd, limit, snap);
	if (IS_ERR(area)) {
		ret = PTR_ERR(area);
		goto out_unlock;
	}
	mutex_lock(&snapshots_mutex);
	ret = __snapshot_storage_conflicts(area);
	if (!ret)
		ret = diff_storage_add(snap->storage, area);
	mutex_unlock(&snapshots_mutex);
	if (ret) {
		diff_storage_area_close(area);
		goto out_unlock;
	}
	pr_info("snapshot %llu: storage %u:%u added, %llu bytes\n", id,
		MAJOR(area->dev), MINOR(area->dev), area->limit);
out_unlock:
	mutex_unlock(&snap->lock);
	snapshot_put(snap);
	return ret;
}

/**
 * snapshot_take() - take a snapshot; see &struct blksnap_snapshot_take.
 * @id: the snapshot.
 * @take: in: flags; out: the measures.
 *
 * Return: 0 or the errno the UAPI header documents.
 */
int snapshot_take(u64 id, struct blksnap_snapshot_take *take)
{
	struct snapshot *snap = snapshot_get(id);
	int ret;

	if (!snap)
		return -ENOENT;
	mutex_lock(&snap->lock);
	ret = __snapshot_take(snap, take);
	mutex_unlock(&snap->lock);
	snapshot_put(snap);
	return ret;
}

/**
 * snapshot_list() - the identifiers of the snapshots, oldest first.
 * @ids: array of @capacity entries.
 * @capacity: entries @ids holds; may be zero.
 *
 * Return: the number of snapshots, possibly more than @capacity.
 */
u32 snapshot_list(u64 *ids, u32 capacity)
{
	struct snapshot *s;
	u32 count = 0;

	mutex_lock(&snapshots_mutex);
	list_for_each_entry(s, &snapshots, link) {
		if (count < capacity)
			ids[count] = s->id;
		count++;
	}
	mutex_unlock(&snapshots_mutex);
	return count;
}

static void snapshot_device_info(struct diff_area *da,
				 struct blksnap_snapshot_device *d)
{
	dev_t image = da->image && da->image->added ?
		      snapimage_dev(da->image) : 0;

	d->origin.major = MAJOR(da->dev);
	d->origin.minor = MINOR(da->dev);
	d->image.major = MAJOR(image);
	d->image.minor = MINOR(image);
	d->capacity = da->capacity;
	d->chunk_size = 1U << (da->chunk_shift + SECTOR_SHIFT);
	d->error = READ_ONCE(da->error);
	d->freeze_error = da->freeze_error;
	export_uuid(d->generation_id, &da->generation);
	d->closed_number = da->closed_number;
	d->freeze = da->freeze;
	d->writes_held = atomic64_read(&da->writes_held);
	d->chunks_copied = atomic64_read(&da->chunks_copied);
	d->chunks_stored = atomic64_read(&da->chunks_stored);
	d->discards_dropped = atomic64_read(&da->discards_dropped);
}

/**
 * snapshot_info() - describe a snapshot and its devices.
 * @id: the snapshot.
 * @info: out: every member but @id, @devices and @capacity.
 * @devices: array of @capacity entries to fill.
 * @capacity: entries @devices holds; may be zero.
 *
 * Return: 0 or -ENOENT.
 */
int snapshot_info(u64 id, struct blksnap_snapshot_info *info,
		  struct blksnap_snapshot_device *devices, u32 capacity)
{
	struct snapshot *snap = snapshot_get(id);
	struct diff_storage_area *first;
	u32 i;

	if (!snap)
		return -ENOENT;
	mutex_lock(&snap->lock);
	if (snap->dying) {
		mutex_unlock(&snap->lock);
		snapshot_put(snap);
		return -ENOENT;
	}
	first = diff_storage_first(snap->storage);
	info->count = snap->nr_devices;
	info->error = READ_ONCE(snap->error);
	info->state = info->error ? BLKSNAP_SNAPSHOT_STATE_BROKEN :
		      snap->taken ? BLKSNAP_SNAPSHOT_STATE_TAKEN :
				    BLKSNAP_SNAPSHOT_STATE_CREATED;
	info->flags = snap->flags;
	info->storage_kind = first->kind;
	info->storage_dev.major = MAJOR(first->dev);
	info->storage_dev.minor = MINOR(first->dev);
	diff_storage_usage(snap->storage, &info->storage_used,
			   &info->storage_size, &info->storage_limit);
	for (i = 0; i < min(capacity, snap->nr_devices); i++)
		snapshot_device_info(snap->devices[i], &devices[i]);
	mutex_unlock(&snap->lock);
	snapshot_put(snap);
	return 0;
}
