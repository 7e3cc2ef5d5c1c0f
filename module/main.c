// SPDX-License-Identifier: GPL-2.0
/*
 * blksnap: changed-block tracking for any block device, without
 * device-mapper. This file loads and unloads the module and owns the
 * control device /dev/blksnap-control.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/compat.h>
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/suspend.h>
#include <uapi/linux/blksnap.h>
#include "ctl.h"
#include "filter.h"
#include "inflight.h"
#include "params.h"
#include "registry.h"
#include "snapshot.h"
#include "tracker.h"

/*
 * 64 KiB blocks: a map costs 16 MiB per TiB tracked, and an incremental
 * backup reads at most 64 KiB per small write, a good trade for file
 * systems whose extents and backup chunks are of that order.
 */
unsigned int tracking_block_minimum_shift = 16;
module_param(tracking_block_minimum_shift, uint, 0444);
MODULE_PARM_DESC(tracking_block_minimum_shift,
		 "log2 of the smallest tracking block in bytes (12..30, default 16 = 64 KiB)");

/*
 * Block size stops growing at 1 GiB; only devices beyond 16 PiB (with the
 * default count) then get a map larger than tracking_block_maximum_count.
 */
unsigned int tracking_block_maximum_shift = 30;
module_param(tracking_block_maximum_shift, uint, 0444);
MODULE_PARM_DESC(tracking_block_maximum_shift,
		 "log2 of the largest tracking block in bytes (minimum shift..30, default 30 = 1 GiB)");

/*
 * 16 Mi blocks = 16 MiB of map per device at most: devices up to 1 TiB
 * keep 64 KiB blocks, larger ones get larger blocks instead of more memory.
 */
unsigned int tracking_block_maximum_count = 16 * 1024 * 1024;
module_param(tracking_block_maximum_count, uint, 0444);
MODULE_PARM_DESC(tracking_block_maximum_count,
		 "most map bytes (blocks) per device before blocks grow (4096..1073741824, default 16777216)");

/*
 * 64 KiB chunks: a first write costs one 64 KiB read, and a backup of a
 * busy file system stores little more than what changed. Devices whose
 * io_min is larger get chunks of their io_min (up to 1 MiB).
 */
unsigned int chunk_minimum_shift = 16;
module_param(chunk_minimum_shift, uint, 0444);
MODULE_PARM_DESC(chunk_minimum_shift,
		 "log2 of the smallest copy-on-write chunk in bytes (12..20, default 16 = 64 KiB)");

/*
 * Originals in memory between the read from the device and the write to
 * the storage. Above the cap, new copies (and the writes that need them)
 * wait for the storage instead of taking memory from the system.
 */
unsigned int cow_memory_limit_mib = 64;
module_param(cow_memory_limit_mib, uint, 0444);
MODULE_PARM_DESC(cow_memory_limit_mib,
		 "most MiB of chunks being copied at once (1..4096, default 64)");

/*
 * Buffers above the cap are freed by storage writes. Storage that stops
 * answering (a hung device, a stalled file system) must not hold the
 * origin's writes for longer than this: the snapshot breaks with ETIMEDOUT
 * and the writes go on without copies.
 */
unsigned int cow_memory_timeout_ms = 30000;
module_param(cow_memory_timeout_ms, uint, 0444);
MODULE_PARM_DESC(cow_memory_timeout_ms,
		 "most ms a copy waits for chunk memory before its snapshot breaks with ETIMEDOUT (100..3600000, default 30000)");

/*
 * A backup agent waiting on BLKSNAP_IOCTL_SNAPSHOT_WAIT_EVENT hears of low
 * free space while 64 MiB (a thousand 64 KiB chunks) are left, time to
 * finish or give up before the snapshot overflows. A snapshot's margin is
 * at most half its storage, so a small storage still warns before it
 * breaks.
 */
unsigned int storage_low_free_mib = 64;
module_param(storage_low_free_mib, uint, 0444);
MODULE_PARM_DESC(storage_low_free_mib,
		 "free MiB of a snapshot's storage below which LOW_FREE_SPACE is raised, at most half the storage (0..1048576, 0 = never, default 64)");

/*
 * A storage file grows by an eighth of its limit at a time, at least 4 MiB
 * and at most this: big enough that a busy snapshot grows its file a few
 * times a second at most, small enough that a storage on a nearly full
 * file system does not take the room in one go.
 */
unsigned int storage_grow_step_mib = 64;
module_param(storage_grow_step_mib, uint, 0444);
MODULE_PARM_DESC(storage_grow_step_mib,
		 "most MiB a storage file grows by at a time (4..4096, default 64)");

/*
 * A tracked write's completion context comes from per-CPU stacks of freed
 * ones (inflight.c). Off, every write allocates: the fault-injection tests
 * turn it off to reach the allocation failures and the sleeping fallback
 * that the stacks otherwise spare almost every write.
 */
bool inflight_bio_reuse = true;
module_param(inflight_bio_reuse, bool, 0644);
MODULE_PARM_DESC(inflight_bio_reuse,
		 "reuse tracked writes' completion contexts per CPU (default Y; N for fault-injection tests)");

#define BLKSNAP_SHIFT_MIN 12
#define BLKSNAP_SHIFT_MAX 30
#define BLKSNAP_COUNT_MIN 4096U
#define BLKSNAP_COUNT_MAX ((unsigned int)BIT(30))

static void blksnap_clamp(const char *name, unsigned int *val,
			  unsigned int lo, unsigned int hi)
{
	unsigned int v = clamp(*val, lo, hi);

	if (v != *val)
		pr_warn("%s=%u out of range, using %u\n", name, *val, v);
	*val = v;
}

static void blksnap_params_clamp(void)
{
	blksnap_clamp("tracking_block_minimum_shift",
		      &tracking_block_minimum_shift,
		      BLKSNAP_SHIFT_MIN, BLKSNAP_SHIFT_MAX);
	blksnap_clamp("tracking_block_maximum_shift",
		      &tracking_block_maximum_shift,
		      tracking_block_minimum_shift, BLKSNAP_SHIFT_MAX);
	blksnap_clamp("tracking_block_maximum_count",
		      &tracking_block_maximum_count,
		      BLKSNAP_COUNT_MIN, BLKSNAP_COUNT_MAX);
	blksnap_clamp("chunk_minimum_shift", &chunk_minimum_shift, 12, 20);
	blksnap_clamp("cow_memory_limit_mib", &cow_memory_limit_mib, 1, 4096);
	blksnap_clamp("cow_memory_timeout_ms", &cow_memory_timeout_ms, 100,
		      3600000);
	blksnap_clamp("storage_low_free_mib", &storage_low_free_mib, 0,
		      1U << 20);
	blksnap_clamp("storage_grow_step_mib", &storage_grow_step_mib, 4,
		      4096);
}

static const struct file_operations blksnap_ctl_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = ctl_ioctl,
	.poll = ctl_poll,
	.compat_ioctl = compat_ptr_ioctl,
	.release = ctl_release,
};

static struct miscdevice blksnap_ctl_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = BLKSNAP_CTL_NAME,
	.fops = &blksnap_ctl_fops,
	.mode = 0600,
};

/*
 * After a restore from hibernation the maps are those of the memory image:
 * writes made after it was taken (the image itself, to swap, and whatever
 * happened before the resume) are missing. PM_POST_HIBERNATION also ends an
 * aborted hibernation; a new generation then costs a full backup, no more.
 */
static int blksnap_pm_notify(struct notifier_block *nb, unsigned long action,
			     void *data)
{
	if (action == PM_POST_HIBERNATION)
		tracker_restart_all_later(BLKSNAP_CBT_GENERATION_HIBERNATION);
	return NOTIFY_DONE;
}

static struct notifier_block blksnap_pm_nb = {
	.notifier_call = blksnap_pm_notify,
};

/* /sys/kernel/debug/blksnap: counters (snapshot.c). */
static struct dentry *blksnap_debugfs;

static int __init blksnap_init(void)
{
	int ret;

	blksnap_params_clamp();
	ret = inflight_module_init();
	if (ret)
		return ret;
	ret = tracker_module_init();
	if (ret)
		goto out_inflight_exit;
	blksnap_debugfs = debugfs_create_dir(KBUILD_MODNAME, NULL);
	inflight_debugfs_init(blksnap_debugfs);
	ret = snapshot_init(blksnap_debugfs);
	if (ret)
		goto out_debugfs;
	ret = filter_init();
	if (ret)
		goto out_snapshot_exit;
	ret = register_pm_notifier(&blksnap_pm_nb);
	if (ret)
		goto out_filter_exit;
	ret = misc_register(&blksnap_ctl_dev);
	if (ret) {
		pr_err("cannot register /dev/%s: %d\n", BLKSNAP_CTL_NAME, ret);
		goto out_pm_unregister;
	}
	pr_info("version %d.%d.%d loaded\n", BLKSNAP_VERSION_MAJOR,
		BLKSNAP_VERSION_MINOR, BLKSNAP_VERSION_PATCH);
	return 0;

out_pm_unregister:
	unregister_pm_notifier(&blksnap_pm_nb);
out_filter_exit:
	filter_exit();
out_snapshot_exit:
	snapshot_exit();
out_debugfs:
	debugfs_remove_recursive(blksnap_debugfs);
	tracker_module_exit();
out_inflight_exit:
	inflight_module_exit();
	return ret;
}

static void __exit blksnap_exit(void)
{
	/* No ioctl can run: the device holds a module reference while open. */
	misc_deregister(&blksnap_ctl_dev);
	unregister_pm_notifier(&blksnap_pm_nb);
	/* Then no bio can reach a tracker, and trackers can be detached. */
	filter_exit();
	tracker_detach_all();
	debugfs_remove_recursive(blksnap_debugfs);
	snapshot_exit();
	/* Writes still in flight hold their trackers until they complete. */
	tracker_module_exit();
	inflight_module_exit();
	pr_info("unloaded\n");
}

module_init(blksnap_init);
module_exit(blksnap_exit);

MODULE_DESCRIPTION("Snapshots and changed-block tracking for block devices");
MODULE_AUTHOR("blksnap authors");
MODULE_LICENSE("GPL");
MODULE_VERSION(__stringify(BLKSNAP_VERSION_MAJOR) "."
	       __stringify(BLKSNAP_VERSION_MINOR) "."
	       __stringify(BLKSNAP_VERSION_PATCH));
