// SPDX-License-Identifier: GPL-2.0
/*
 * Interception of bios, the only file that knows how it is done.
 *
 * Mainline has no block-layer filter API, so blksnap puts an ftrace hook
 * on submit_bio_noacct(), through which every bio passes (submit_bio(),
 * stacked drivers, split remainders). The hook redirects the call to
 * filter_submit_bio_noacct(), which gives the bio to the trackers and then
 * calls the real submit_bio_noacct(); that call comes from this module, so
 * the hook lets it through. del_gendisk() is hooked the same way so that a
 * disk going away is first detached from its trackers.
 *
 * Both functions are exported, so their addresses come from the module
 * loader's relocation against the kernel's own symbol: the real entry of
 * the function, the same value kallsyms or a kprobe would report. No symbol
 * lookup (the register_kprobe() trick to reach kallsyms_lookup_name()) is
 * needed, and none would be more robust:
 *  - IBT: the entry may be an ENDBR64 and not the __fentry__ call;
 *    ftrace_set_filter_ip() passes the address through ftrace_location(),
 *    which maps a function's first byte to its __fentry__ site (since 5.19,
 *    for IBT), so 6.1 and 6.12 both accept it;
 *  - CFI: kCFI (6.1+) has no jump tables, so &func is the function itself
 *    (FineIBT only rewrites the preamble before it); and the redirect is a
 *    return to a new ip, not an indirect call, so no CFI check applies;
 *  - a notrace or inlined function would make ftrace_set_filter_ip() fail,
 *    which filter_init() reports, instead of hooking something else.
 */
#define pr_fmt(fmt) KBUILD_MODNAME "-filter: " fmt

#include <linux/blkdev.h>
#include <linux/bio.h>
#include <linux/delay.h>
#include <linux/ftrace.h>
#include <linux/module.h>
#include <linux/percpu.h>
#include <linux/rcupdate.h>
#include "compat.h"
#include "filter.h"
#include "tracker.h"
#include "registry.h"

/*
 * Tasks inside one of our replacement functions. Per-CPU so that the bio
 * path touches no shared cacheline; a task may leave on another CPU than it
 * entered, so only the sum over all CPUs means anything.
 */
static DEFINE_PER_CPU(long, filter_inflight);

static void filter_enter(void)
{
	this_cpu_inc(filter_inflight);
}

static void filter_leave(void)
{
	this_cpu_dec(filter_inflight);
}

static long filter_inflight_sum(void)
{
	long sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += READ_ONCE(per_cpu(filter_inflight, cpu));
	return sum;
}

static void filter_bio(struct bio *bio)
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

	rcu_read_lock();
	tracker = tracker_find_rcu(bdev->bd_dev);
	if (tracker && !(remapped && sector < start))
		tracker_submit_bio(tracker, bio, bdev,
				   remapped ? sector - start : sector);
	if (bdev_is_partition(bdev)) {
		struct block_device *whole = bdev_whole(bdev);

		tracker = tracker_find_rcu(whole->bd_dev);
		if (tracker)
			tracker_submit_bio(tracker, bio, whole,
					   remapped ? sector : sector + start);
	} else {
		/*
		 * Only bios of partitions are remapped, so the sector is the
		 * whole disk's; tracked partitions take their part of it.
		 */
		tracker_submit_bio_parts(bio);
	}
	rcu_read_unlock();
}

/* Runs instead of submit_bio_noacct() for every bio not sent by us. */
static void filter_submit_bio_noacct(struct bio *bio)
{
	filter_enter();
	filter_bio(bio);
	submit_bio_noacct(bio);
	/*
	 * Not a tail call: the real function must return here, or the hook
	 * would see our caller as parent and redirect again, forever.
	 */
	filter_leave();
}

/* Runs instead of del_gendisk(). */
static void filter_del_gendisk(struct gendisk *disk)
{
	struct tracker_dying_disk d;

	filter_enter();
	tracker_disk_dying(disk, &d);
	del_gendisk(disk);
	tracker_disk_dead(&d);
	filter_leave();
}

static void notrace filter_submit_bio_hook(unsigned long ip,
					   unsigned long parent_ip,
					   struct ftrace_ops *ops,
					   struct ftrace_regs *fregs)
{
	/* Untracked systems pay only this check on top of ftrace. */
	if (tracker_none())
		return;
	if (!within_module(parent_ip, THIS_MODULE))
		compat_ftrace_set_ip(fregs,
				     (unsigned long)filter_submit_bio_noacct);
}

static void notrace filter_del_gendisk_hook(unsigned long ip,
					    unsigned long parent_ip,
					    struct ftrace_ops *ops,
					    struct ftrace_regs *fregs)
{
	/* Always redirect: attach must learn about a disk going away. */
	if (!within_module(parent_ip, THIS_MODULE))
		compat_ftrace_set_ip(fregs, (unsigned long)filter_del_gendisk);
}

/*
 * PERMANENT: while the hooks are registered, `sysctl kernel.ftrace_enabled=0`
 * is refused (EBUSY) instead of silently switching them off, which would
 * let writes go unrecorded; and registering them while it is 0 fails, so
 * the module does not load at all rather than load and see nothing.
 */
#define FILTER_OPS_FLAGS (FTRACE_OPS_FL_SAVE_REGS | FTRACE_OPS_FL_IPMODIFY | \
			  FTRACE_OPS_FL_RECURSION | FTRACE_OPS_FL_PERMANENT)

static struct ftrace_ops filter_submit_bio_ops = {
	.func = filter_submit_bio_hook,
	.flags = FILTER_OPS_FLAGS,
};

static struct ftrace_ops filter_del_gendisk_ops = {
	.func = filter_del_gendisk_hook,
	.flags = FILTER_OPS_FLAGS,
};

static int filter_hook(struct ftrace_ops *ops, unsigned long addr,
		       const char *name)
{
	int ret;

	ret = ftrace_set_filter_ip(ops, addr, 0, 0);
	if (ret) {
		pr_err("cannot trace %s: %d\n", name, ret);
		return ret;
	}
	ret = register_ftrace_function(ops);
	if (ret == -EBUSY)
		pr_err("cannot hook %s: sysctl kernel.ftrace_enabled is 0, or another user (such as livepatch) modifies it\n",
		       name);
	else if (ret)
		pr_err("cannot hook %s: %d\n", name, ret);
	if (ret)
		ftrace_free_filter(ops);
	return ret;
}

static void filter_unhook(struct ftrace_ops *ops, const char *name)
{
	int ret = unregister_ftrace_function(ops);

	/*
	 * Only a dead ftrace (ftrace_kill() after an anomaly) refuses: it
	 * calls no hook any more, so the module can still go. Its filter
	 * stays allocated, as freeing the filter of an enabled ops would WARN.
	 */
	if (ret) {
		pr_err("cannot unhook %s: %d\n", name, ret);
		return;
	}
	ftrace_free_filter(ops);
}

/*
 * Wait until no task runs code of this file: hooks already gone, a task
 * may still be inside a replacement function or about to enter one.
 */
static void filter_drain(void)
{
	/*
	 * A task may have been redirected and preempted before it counted
	 * itself in filter_enter(); RCU-tasks waits for it to run on.
	 */
	synchronize_rcu_tasks();
	/* Tasks may sleep in the real functions for a long time. */
	while (filter_inflight_sum())
		msleep(20);
	/* Let the last ones return from filter_leave(). */
	synchronize_rcu_tasks();
}

/**
 * filter_init() - start intercepting bios and disk removals.
 *
 * Return: 0 or a negative errno from ftrace.
 */
int filter_init(void)
{
	int ret;

	ret = filter_hook(&filter_del_gendisk_ops, (unsigned long)del_gendisk,
			  "del_gendisk");
	if (ret)
		return ret;
	ret = filter_hook(&filter_submit_bio_ops,
			  (unsigned long)submit_bio_noacct,
			  "submit_bio_noacct");
	if (ret)
		goto out_unhook_del_gendisk;
	return 0;

out_unhook_del_gendisk:
	/* A disk removal may be inside filter_del_gendisk() right now. */
	filter_unhook(&filter_del_gendisk_ops, "del_gendisk");
	filter_drain();
	return ret;
}

/**
 * filter_exit() - stop intercepting and wait until no task runs our code.
 *
 * After this returns no task is or will be inside this file's functions,
 * so the trackers can be freed and the module text can go.
 */
void filter_exit(void)
{
	filter_unhook(&filter_submit_bio_ops, "submit_bio_noacct");
	filter_unhook(&filter_del_gendisk_ops, "del_gendisk");
	filter_drain();
}
