/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __BLKSNAP_SNAPSHOT_H
#define __BLKSNAP_SNAPSHOT_H

#include <linux/types.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <uapi/linux/blksnap.h>
#include "event_queue.h"

struct diff_area;
struct diff_storage;
struct file;
struct poll_table_struct;

/**
 * struct snapshot - a set of devices copied-on-write from one instant.
 * @link: entry in the list of snapshots; snapshots_mutex.
 * @kref: one reference for the list, one per ioctl using the snapshot.
 * @id: identifier given to user space, never reused.
 * @lock: serializes add, add-storage, take, info and destroy of this
 *	snapshot.
 * @owner: the control file whose close destroys the snapshot, NULL with
 *	BLKSNAP_SNAPSHOT_FLAG_KEEP. Compared, never dereferenced.
 * @creator: the control file that created it, kept or not, whose poll()
 *	reports its events; NULL once that file is closed (its address may
 *	be reused). Compared, never dereferenced; snapshots_mutex.
 * @flags: BLKSNAP_SNAPSHOT_FLAG_* bits.
 * @taken: take has run; @lock.
 * @dying: destroy has begun; @lock.
 * @error: positive errno that broke the snapshot, 0 while it is whole.
 *	Set once (cmpxchg) from any context, read locklessly.
 * @storage: the difference storage.
 * @nr_devices: entries of @devices; @lock.
 * @devices: the devices' copy-on-write, in the order they were added.
 * @events: what happened to it, for BLKSNAP_IOCTL_SNAPSHOT_WAIT_EVENT.
 */
struct snapshot {
	struct list_head link;
	struct kref kref;
	u64 id;
	struct mutex lock; /* see @lock above */
	const struct file *owner;
	const struct file *creator;
	u32 flags;
	bool taken;
	bool dying;
	int error;
	struct diff_storage *storage;
	u32 nr_devices;
	struct diff_area *devices[BLKSNAP_SNAPSHOT_MAX_DEVICES];
	struct event_queue events;
};

struct dentry;

int snapshot_init(struct dentry *debugfs);
void snapshot_exit(void);
int snapshot_create(int fd, u32 flags, u64 limit, const struct file *owner,
		    u64 *id);
int snapshot_destroy(u64 id);
int snapshot_add(u64 id, dev_t dev);
int snapshot_add_storage(u64 id, int fd, u64 limit);
int snapshot_take(u64 id, struct blksnap_snapshot_take *take);
int __snapshot_take(struct snapshot *snap, struct blksnap_snapshot_take *t);
u32 snapshot_list(u64 *ids, u32 capacity);
int snapshot_info(u64 id, struct blksnap_snapshot_info *info,
		  struct blksnap_snapshot_device *devices, u32 capacity);
void snapshot_release_owner(const struct file *owner);
__poll_t snapshot_poll(struct file *file, struct poll_table_struct *pt);
void snapshot_break(struct snapshot *snapshot, int error);
void snapshot_break_device(struct snapshot *snapshot, int error, dev_t dev);
int snapshot_wait_event(u64 id, u32 timeout_ms,
			struct blksnap_snapshot_event *ev);
void snapshot_unread_event(u64 id, const struct blksnap_snapshot_event *ev);

/**
 * snapshot_broken() - whether the snapshot is broken.
 * @snapshot: the snapshot.
 *
 * Context: any; lockless.
 * Return: true once snapshot_break() was called.
 */
static inline bool snapshot_broken(struct snapshot *snapshot)
{
	return READ_ONCE(snapshot->error);
}

/**
 * snapshot_check_not_taken() - whether devices may still be added or taken.
 * @snapshot: the snapshot.
 *
 * Context: @snapshot->lock held.
 * Return: 0, -ENOENT while it is being destroyed, -EALREADY once taken or broken.
 */
static inline int snapshot_check_not_taken(struct snapshot *snapshot)
{
	if (snapshot->dying)
		return -ENOENT;
	if (snapshot->taken || snapshot_broken(snapshot))
		return -EALREADY;
	return 0;
}

static inline struct diff_storage *snapshot_storage(struct snapshot *snapshot)
{
	return snapshot->storage;
}

#endif /* __BLKSNAP_SNAPSHOT_H */
