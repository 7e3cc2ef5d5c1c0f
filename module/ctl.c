// SPDX-License-Identifier: GPL-2.0
/*
 * Handlers of the ioctls of /dev/blksnap-control: copy and validate the
 * user's structure, call the tracker, copy the answer back. The errno of
 * every case is fixed by include/uapi/linux/blksnap.h.
 */
#define pr_fmt(fmt) KBUILD_MODNAME "-ctl: " fmt

#include <linux/build_bug.h>
#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/kdev_t.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <uapi/linux/blksnap.h>
#include "ctl.h"
#include "snapshot.h"
#include "tracker.h"
#include "registry.h"

static_assert(sizeof(struct blksnap_version) == 16);
static_assert(sizeof(struct blksnap_bdev) == 8);
static_assert(sizeof(struct blksnap_tracker_attach) == 16);
static_assert(sizeof(struct blksnap_tracker_list) == 16);
static_assert(sizeof(struct blksnap_cbt_info) == 48);
static_assert(sizeof(struct blksnap_cbt_read) == 40);
static_assert(sizeof(struct blksnap_sector_range) == 16);
static_assert(sizeof(struct blksnap_cbt_mark_dirty) == 24);
static_assert(sizeof(struct blksnap_cbt_checkpoint) == 32);
static_assert(sizeof(struct blksnap_snapshot_create) == 40);
static_assert(sizeof(struct blksnap_snapshot_destroy) == 16);
static_assert(sizeof(struct blksnap_snapshot_add) == 24);
static_assert(sizeof(struct blksnap_snapshot_take) == 40);
static_assert(sizeof(struct blksnap_snapshot_list) == 16);
static_assert(sizeof(struct blksnap_snapshot_device) == 120);
static_assert(sizeof(struct blksnap_snapshot_info) == 104);
static_assert(sizeof(struct blksnap_snapshot_event) == 64);
static_assert(sizeof(struct blksnap_snapshot_add_storage) == 40);

/* A device number that does not fit dev_t names no device. */
static int ctl_dev(const struct blksnap_bdev *b, dev_t *dev)
{
	*dev = MKDEV(b->major, b->minor);
	if (MAJOR(*dev) != b->major || MINOR(*dev) != b->minor)
		return -ENODEV;
	return 0;
}

static int ctl_tracker(const struct blksnap_bdev *b, struct tracker **tracker)
{
	dev_t dev;

	if (ctl_dev(b, &dev))
		return -ENOENT;
	*tracker = tracker_get_by_dev(dev);
	return *tracker ? 0 : -ENOENT;
}

static long ctl_version(void __user *arg)
{
	struct blksnap_version v = {
		.major = BLKSNAP_VERSION_MAJOR,
		.minor = BLKSNAP_VERSION_MINOR,
		.patch = BLKSNAP_VERSION_PATCH,
		.features = BLKSNAP_FEATURE_CBT | BLKSNAP_FEATURE_SNAPSHOT |
			    BLKSNAP_FEATURE_CBT_HOLES | BLKSNAP_FEATURE_EVENTS |
			    BLKSNAP_FEATURE_ADD_STORAGE |
			    BLKSNAP_FEATURE_WRITABLE_IMAGES | BLKSNAP_FEATURE_POLL,
	};

	return copy_to_user(arg, &v, sizeof(v)) ? -EFAULT : 0;
}

static long ctl_tracker_attach(void __user *arg)
{
	struct blksnap_tracker_attach a;
	dev_t dev;

	if (copy_from_user(&a, arg, sizeof(a)))
		return -EFAULT;
	if (a.flags || a.reserved)
		return -EINVAL;
	if (ctl_dev(&a.dev, &dev))
		return -ENODEV;
	return tracker_attach(dev);
}

static long ctl_tracker_detach(void __user *arg)
{
	struct blksnap_bdev b;
	dev_t dev;

	if (copy_from_user(&b, arg, sizeof(b)))
		return -EFAULT;
	if (ctl_dev(&b, &dev))
		return -ENOENT;
	return tracker_detach(dev);
}

static long ctl_tracker_list(void __user *arg)
{
	struct blksnap_tracker_list l;
	struct blksnap_bdev *out = NULL;
	dev_t *devs = NULL;
	long ret = 0;
	u32 i, n;

	if (copy_from_user(&l, arg, sizeof(l)))
		return -EFAULT;
	if (l.capacity > BLKSNAP_TRACKER_LIST_MAX)
		return -E2BIG;
	/* A NULL array is an invalid pointer (EFAULT), whatever the count. */
	if (l.capacity && !l.devices)
		return -EFAULT;
	if (l.capacity) {
		devs = kvcalloc(l.capacity, sizeof(*devs), GFP_KERNEL);
		out = kvcalloc(l.capacity, sizeof(*out), GFP_KERNEL);
		if (!devs || !out) {
			ret = -ENOMEM;
			goto out_free;
		}
	}
	/* Collect first: no copy_to_user() under the registry lock. */
	l.count = tracker_list(devs, l.capacity);
	n = min(l.count, l.capacity);
	for (i = 0; i < n; i++) {
		out[i].major = MAJOR(devs[i]);
		out[i].minor = MINOR(devs[i]);
	}
	if (n && copy_to_user(u64_to_user_ptr(l.devices), out,
			      array_size(n, sizeof(*out)))) {
		ret = -EFAULT;
		goto out_free;
	}
	if (copy_to_user(arg, &l, sizeof(l)))
		ret = -EFAULT;
out_free:
	kvfree(out);
	kvfree(devs);
	return ret;
}

static long ctl_cbt_info(void __user *arg)
{
	struct blksnap_cbt_info info;
	struct tracker *tracker;
	long ret;

	if (copy_from_user(&info, arg, sizeof(info)))
		return -EFAULT;
	if (info.generation_reason ||
	    memchr_inv(info.reserved, 0, sizeof(info.reserved)))
		return -EINVAL;
	ret = ctl_tracker(&info.dev, &tracker);
	if (ret)
		return ret;
	tracker_info(tracker, &info);
	tracker_put(tracker);
	return copy_to_user(arg, &info, sizeof(info)) ? -EFAULT : 0;
}

/*
 * CBT_READ and CBT_READ_HOLES share their structure; the holes come eight
 * blocks to a byte, from a block that is a multiple of 8.
 */
static long ctl_cbt_read(void __user *arg, bool holes)
{
	struct blksnap_cbt_read r;
	struct tracker *tracker;
	long ret;

	if (copy_from_user(&r, arg, sizeof(r)))
		return -EFAULT;
	if (!r.length || (holes && r.offset % 8))
		return -EINVAL;
	ret = ctl_tracker(&r.dev, &tracker);
	if (ret)
		return ret;
	ret = tracker_read(tracker, r.offset, r.length,
			   u64_to_user_ptr(r.buffer), r.generation_id, holes);
	tracker_put(tracker);
	if (ret < 0)
		return ret;
	r.length = ret;
	return copy_to_user(arg, &r, sizeof(r)) ? -EFAULT : 0;
}

static long ctl_cbt_mark_dirty(void __user *arg)
{
	struct blksnap_sector_range *ranges;
	struct blksnap_cbt_mark_dirty m;
	struct tracker *tracker;
	long ret;

	if (copy_from_user(&m, arg, sizeof(m)))
		return -EFAULT;
	if (m.reserved || !m.count)
		return -EINVAL;
	if (m.count > BLKSNAP_MARK_DIRTY_MAX_RANGES)
		return -E2BIG;
	ret = ctl_tracker(&m.dev, &tracker);
	if (ret)
		return ret;
	ranges = vmemdup_user(u64_to_user_ptr(m.ranges),
			      array_size(m.count, sizeof(*ranges)));
	if (IS_ERR(ranges)) {
		ret = PTR_ERR(ranges);
		goto out_put;
	}
	ret = tracker_mark_ranges(tracker, ranges, m.count);
	kvfree(ranges);
out_put:
	tracker_put(tracker);
	return ret;
}

static long ctl_cbt_checkpoint(void __user *arg)
{
	struct blksnap_cbt_checkpoint c;
	struct tracker *tracker;
	long ret;

	if (copy_from_user(&c, arg, sizeof(c)))
		return -EFAULT;
	if (memchr_inv(c.reserved, 0, sizeof(c.reserved)))
		return -EINVAL;
	ret = ctl_tracker(&c.dev, &tracker);
	if (ret)
		return ret;
	ret = tracker_checkpoint(tracker, &c.closed_number, c.generation_id,
				 &c.changes_number);
	tracker_put(tracker);
	if (ret)
		return ret;
	return copy_to_user(arg, &c, sizeof(c)) ? -EFAULT : 0;
}

static long ctl_snapshot_create(struct file *file, void __user *arg)
{
	struct blksnap_snapshot_create c;
	long ret;

	if (copy_from_user(&c, arg, sizeof(c)))
		return -EFAULT;
	if ((c.flags & ~(BLKSNAP_SNAPSHOT_FLAG_KEEP |
			 BLKSNAP_SNAPSHOT_FLAG_WRITABLE)) ||
	    memchr_inv(c.reserved, 0, sizeof(c.reserved)))
		return -EINVAL;
	ret = snapshot_create(c.storage_fd, c.flags, c.limit, file, &c.id);
	if (ret)
		return ret;
	/*
	 * The snapshot exists whether or not the answer can be written; it
	 * goes with the file (or with DESTROY, of an id found by LIST).
	 */
	return copy_to_user(arg, &c, sizeof(c)) ? -EFAULT : 0;
}

static long ctl_snapshot_destroy(void __user *arg)
{
	struct blksnap_snapshot_destroy d;

	if (copy_from_user(&d, arg, sizeof(d)))
		return -EFAULT;
	if (d.flags || d.reserved)
		return -EINVAL;
	return snapshot_destroy(d.id);
}

static long ctl_snapshot_add(void __user *arg)
{
	struct blksnap_snapshot_add a;
	dev_t dev;

	if (copy_from_user(&a, arg, sizeof(a)))
		return -EFAULT;
	if (a.flags || a.reserved)
		return -EINVAL;
	if (ctl_dev(&a.dev, &dev))
		return -ENODEV;
	return snapshot_add(a.id, dev);
}

static long ctl_snapshot_add_storage(void __user *arg)
{
	struct blksnap_snapshot_add_storage a;

	if (copy_from_user(&a, arg, sizeof(a)))
		return -EFAULT;
	if (a.flags || memchr_inv(a.reserved, 0, sizeof(a.reserved)))
		return -EINVAL;
	return snapshot_add_storage(a.id, a.storage_fd, a.limit);
}

static long ctl_snapshot_take(void __user *arg)
{
	struct blksnap_snapshot_take t;
	long ret;

	if (copy_from_user(&t, arg, sizeof(t)))
		return -EFAULT;
	if ((t.flags & ~BLKSNAP_TAKE_FLAG_NO_FREEZE) || t.reserved)
		return -EINVAL;
	t.hold_ns = 0;
	t.freeze_ns = 0;
	t.frozen = 0;
	t.freeze_failed = 0;
	ret = snapshot_take(t.id, &t);
	if (ret)
		return ret;
	return copy_to_user(arg, &t, sizeof(t)) ? -EFAULT : 0;
}

/*
 * The members code to lost are answers and ignored on input. An event
 * taken from the queue whose answer cannot be written goes back, so a bad
 * pointer does not lose the overflow a backup agent waits for.
 */
static long ctl_snapshot_wait_event(void __user *arg)
{
	struct blksnap_snapshot_event ev;
	u32 timeout_ms;
	long ret;
	u64 id;

	if (copy_from_user(&ev, arg, sizeof(ev)))
		return -EFAULT;
	if (ev.flags || ev.reserved ||
	    ev.timeout_ms > BLKSNAP_EVENT_TIMEOUT_MAX_MS)
		return -EINVAL;
	id = ev.id;
	timeout_ms = ev.timeout_ms;
	memset(&ev, 0, sizeof(ev));
	ret = snapshot_wait_event(id, timeout_ms, &ev);
	if (ret)
		return ret;
	ev.id = id;
	ev.timeout_ms = timeout_ms;
	if (copy_to_user(arg, &ev, sizeof(ev))) {
		snapshot_unread_event(id, &ev);
		return -EFAULT;
	}
	return 0;
}

static long ctl_snapshot_list(void __user *arg)
{
	struct blksnap_snapshot_list l;
	u64 *ids = NULL;
	long ret = 0;
	u32 n;

	if (copy_from_user(&l, arg, sizeof(l)))
		return -EFAULT;
	if (l.capacity > BLKSNAP_SNAPSHOT_LIST_MAX)
		return -E2BIG;
	if (l.capacity && !l.ids)
		return -EFAULT;
	if (l.capacity) {
		ids = kvcalloc(l.capacity, sizeof(*ids), GFP_KERNEL);
		if (!ids)
			return -ENOMEM;
	}
	l.count = snapshot_list(ids, l.capacity);
	n = min(l.count, l.capacity);
	if (n && copy_to_user(u64_to_user_ptr(l.ids), ids,
			      array_size(n, sizeof(*ids))))
		ret = -EFAULT;
	else if (copy_to_user(arg, &l, sizeof(l)))
		ret = -EFAULT;
	kvfree(ids);
	return ret;
}

static long ctl_snapshot_info(void __user *arg)
{
	struct blksnap_snapshot_device *devices = NULL;
	struct blksnap_snapshot_info info;
	long ret;
	u32 n;

	if (copy_from_user(&info, arg, sizeof(info)))
		return -EFAULT;
	if (memchr_inv(info.reserved, 0, sizeof(info.reserved)))
		return -EINVAL;
	if (info.capacity > BLKSNAP_SNAPSHOT_MAX_DEVICES)
		return -E2BIG;
	if (info.capacity && !info.devices)
		return -EFAULT;
	if (info.capacity) {
		devices = kcalloc(info.capacity, sizeof(*devices), GFP_KERNEL);
		if (!devices)
			return -ENOMEM;
	}
	/* Collected under the snapshot's lock, copied to user space after. */
	ret = snapshot_info(info.id, &info, devices, info.capacity);
	if (ret)
		goto out_free;
	n = min(info.count, info.capacity);
	if (n && copy_to_user(u64_to_user_ptr(info.devices), devices,
			      array_size(n, sizeof(*devices))))
		ret = -EFAULT;
	else if (copy_to_user(arg, &info, sizeof(info)))
		ret = -EFAULT;
out_free:
	kfree(devices);
	return ret;
}

/**
 * ctl_ioctl() - dispatch an ioctl of the control device.
 * @file: the open control device.
 * @cmd: the ioctl number.
 * @arg: user pointer to the ioctl's structure.
 *
 * Return: 0 or a negative errno as the UAPI header documents.
 */
long ctl_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;

	switch (cmd) {
	case BLKSNAP_IOCTL_VERSION:
		return ctl_version(uarg);
	case BLKSNAP_IOCTL_TRACKER_ATTACH:
		return ctl_tracker_attach(uarg);
	case BLKSNAP_IOCTL_TRACKER_DETACH:
		return ctl_tracker_detach(uarg);
	case BLKSNAP_IOCTL_TRACKER_LIST:
		return ctl_tracker_list(uarg);
	case BLKSNAP_IOCTL_CBT_INFO:
		return ctl_cbt_info(uarg);
	case BLKSNAP_IOCTL_CBT_READ:
		return ctl_cbt_read(uarg, false);
	case BLKSNAP_IOCTL_CBT_READ_HOLES:
		return ctl_cbt_read(uarg, true);
	case BLKSNAP_IOCTL_CBT_MARK_DIRTY:
		return ctl_cbt_mark_dirty(uarg);
	case BLKSNAP_IOCTL_CBT_CHECKPOINT:
		return ctl_cbt_checkpoint(uarg);
	case BLKSNAP_IOCTL_SNAPSHOT_CREATE:
		return ctl_snapshot_create(file, uarg);
	case BLKSNAP_IOCTL_SNAPSHOT_DESTROY:
		return ctl_snapshot_destroy(uarg);
	case BLKSNAP_IOCTL_SNAPSHOT_ADD:
		return ctl_snapshot_add(uarg);
	case BLKSNAP_IOCTL_SNAPSHOT_TAKE:
		return ctl_snapshot_take(uarg);
	case BLKSNAP_IOCTL_SNAPSHOT_LIST:
		return ctl_snapshot_list(uarg);
	case BLKSNAP_IOCTL_SNAPSHOT_INFO:
		return ctl_snapshot_info(uarg);
	case BLKSNAP_IOCTL_SNAPSHOT_WAIT_EVENT:
		return ctl_snapshot_wait_event(uarg);
	case BLKSNAP_IOCTL_SNAPSHOT_ADD_STORAGE:
		return ctl_snapshot_add_storage(uarg);
	default:
		return -ENOTTY;
	}
}

/**
 * ctl_release() - a control file is closed: its snapshots go with it.
 * @inode: the control device's inode.
 * @file: the file.
 *
 * Return: 0.
 */
int ctl_release(struct inode *inode, struct file *file)
{
	snapshot_release_owner(file);
	return 0;
}

/**
 * ctl_poll() - EPOLLIN while a snapshot created through @file has an
 *	event to read with BLKSNAP_IOCTL_SNAPSHOT_WAIT_EVENT
 *	(BLKSNAP_FEATURE_POLL).
 * @file: the control file.
 * @pt: the poll table.
 *
 * Return: the poll mask.
 */
__poll_t ctl_poll(struct file *file, struct poll_table_struct *pt)
{
	return snapshot_poll(file, pt);
}
