// SPDX-License-Identifier: GPL-2.0
/*
 * Interception of bios, the only file that knows how it is done.
 *
 * Mainline has no block-layer filter API, so blksnap puts an ftrace hook
 * on submit_bio_noacct(), through which every bio passes (submit_bio(),
 * stacked drivers, split remainders). The hook runs at the function's
 * entry, before the bio goes anywhere: it counts and marks a write in the
 * trackers it reaches (registry.c, tracker.c) and lets the call go on. It
 * is installed only while a tracker exists. When counting would need a
 * sleeping allocation, it redirects the call to filter_submit_bio_slow(),
 * which allocates, accounts and then calls the real submit_bio_noacct();
 * that call comes from this module, so the hook lets it through.
 * del_gendisk() is hooked the same way (always), so that a disk going away
 * is first detached from its trackers. Requests that never were bios
 * through that function (passthrough commands, request-based dm's clones)
 * are caught at blk_execute_rq(), blk_execute_rq_nowait() and
 * blk_insert_cloned_request(), also while a tracker exists.
 *
 * All these functions are exported, so their addresses come from the module
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
 *    which the caller reports, instead of hooking something else.
 */
#define pr_fmt(fmt) KBUILD_MODNAME "-filter: " fmt

#include <linux/blkdev.h>
#include <linux/blk-mq.h>
#include <linux/bio.h>
#include <linux/delay.h>
#include <linux/ftrace.h>
#include <linux/module.h>
#include <linux/percpu.h>
#include <linux/rcupdate.h>
#include "compat.h"
#include "filter.h"
#include "inflight.h"
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

/*
 * The path of a write: held while a snapshot is being taken; otherwise
 * counted and marked by each tracker it reaches (tracker.c, cbt_map.c);
 * then, if one of them is in a snapshot, parked until the chunks it
 * changes are copied (diff_area.c, chunk.c, diff_storage.c).
 *
 * The hold test and the count are in one RCU read-side section: take
 * publishes the hold, waits for a grace period, then drains the writes
 * counted before (snapshot_take.c), so a write is either held or drained.
 * Outside a take the hold test is skipped (tracker_any_holding()): a write
 * that reads no take holding either began its section before the take's
 * grace period, and is drained, or began after the take was over.
 *
 * A write with REQ_NOWAIT that would be held or parked is ended instead
 * (FILTER_AGAIN): held, it is not counted nor marked; parked, it was
 * marked already, which is harmless (a mark too many, never one missing).
 */
/*
 * Count and mark a write while some device is in a snapshot, noting the
 * snapshots it reaches, then let them decide. A function of its own, so
 * that the path of a write with no snapshot anywhere keeps no notes on
 * its stack (and no stack protector).
 */
static noinline enum filter_verdict filter_bio_cow(struct bio *bio,
						   void **spare)
{
	struct tracker_cows cows;

	cows.nr = 0;
	if (!tracker_bio_account(bio, spare, &cows))
		return FILTER_RETRY;
	/* None noted: to copied chunks only (tracker_cows_note()). */
	if (likely(!cows.nr))
		return FILTER_PASS;
	return tracker_bio_cows(bio, &cows);
}

static __always_inline enum filter_verdict
filter_bio(struct bio *bio, void **spare)
{
	enum filter_verdict verdict = FILTER_PASS;

	rcu_read_lock();
	if (unlikely(tracker_any_holding()))
		verdict = tracker_bio_hold(bio);
	if (verdict != FILTER_PASS)
		goto out_unlock;
	/*
	 * Read before counting, in the same section: a snapshot's devices
	 * are bound before its take, whose grace period and drain separate
	 * the writes that read none bound from those its copies must see.
	 */
	if (likely(!tracker_any_bound())) {
		if (!tracker_bio_account(bio, spare, NULL))
			verdict = FILTER_RETRY;
	} else {
		verdict = filter_bio_cow(bio, spare);
	}
out_unlock:
	rcu_read_unlock();
	return verdict;
}

/*
 * Runs instead of submit_bio_noacct() for a write with REQ_NOWAIT that a
 * snapshot would have made wait. Ended here, in its submitter's context
 * and before submit_bio_noacct() returns, as the block layer ends a bio
 * that finds no free tag: io_uring then issues it again from a worker,
 * without the flag (it only does so for an EAGAIN that completes in the
 * submitting task), and pwritev2(RWF_NOWAIT) returns EAGAIN. Not from the
 * hook itself: a completion may submit bios, which the hook must not see
 * from inside itself.
 */
static void filter_bio_again(struct bio *bio)
{
	filter_enter();
	bio_wouldblock_error(bio);
	filter_leave();
}

/*
 * Runs instead of submit_bio_noacct() when the hook could not count a write
 * without sleeping; the submitter may sleep (submit_bio_noacct() says so).
 * Also sends on the writes held at take, from a worker.
 */
static void filter_submit_bio_slow(struct bio *bio)
{
	enum filter_verdict verdict;
	void *spare = NULL;

	filter_enter();
	/* Each round accounts at least one more tracker, so this ends. */
	while ((verdict = filter_bio(bio, &spare)) == FILTER_RETRY) {
		/* A write that must not wait is retried by its submitter. */
		if (bio->bi_opf & REQ_NOWAIT) {
			bio_wouldblock_error(bio);
			goto out_leave;
		}
		spare = inflight_bio_alloc(GFP_NOIO);
	}
	if (spare)
		inflight_bio_free(spare);
	if (verdict == FILTER_PASS)
		submit_bio_noacct(bio);
	else if (verdict == FILTER_AGAIN)
		bio_wouldblock_error(bio);
	/*
	 * Not a tail call: the real function must return here, or the hook
	 * would see our caller as parent and redirect again, forever.
	 */
out_leave:
	filter_leave();
}

/*
 * Runs instead of submit_bio_noacct() for a write a snapshot took in the
 * hook: it is parked and a worker sends it on (or ends it) later.
 */
static void filter_bio_taken(struct bio *bio)
{
}

/**
 * filter_release_held_bio() - send on a write held while a snapshot was
 *	taken: counted and marked now (with the change number after take),
 *	then copied-on-write like any later write.
 * @bio: the write.
 *
 * Context: a worker of the module; may sleep.
 */
void filter_release_held_bio(struct bio *bio)
{
	filter_submit_bio_slow(bio);
}

/**
 * filter_resubmit_bio() - send on a write whose chunks were copied.
 * @bio: the write, already counted.
 *
 * The snapshots of its other trackers (a partition and its whole disk may
 * both be in one) decide again before it goes down.
 *
 * Context: a worker of the module; may sleep.
 */
void filter_resubmit_bio(struct bio *bio)
{
	enum filter_verdict verdict;

	rcu_read_lock();
	verdict = tracker_bio_cow(bio);
	rcu_read_unlock();
	/* Parked writes carry no REQ_NOWAIT: FILTER_AGAIN cannot happen. */
	if (verdict == FILTER_PASS)
		submit_bio_noacct(bio);
	else if (verdict == FILTER_AGAIN)
		bio_wouldblock_error(bio);
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

/*
 * Requests that reach a disk without a bio through submit_bio_noacct():
 * passthrough commands (SG_IO, sg, bsg, NVMe ioctls and io_uring commands)
 * and request-based dm's clones. Each is counted in the trackers of its
 * disk and its partitions until it completes, and what it changes marked
 * (registry.c, passthrough.c); one whose effect is unknown starts a new
 * generation of those trackers.
 */

/* Runs instead of blk_execute_rq(), which waits for the request's end. */
static blk_status_t filter_execute_rq(struct request *rq, bool at_head)
{
	struct inflight_rq_refs refs;
	blk_status_t ret;

	filter_enter();
	tracker_rq_account(rq, &refs);
	ret = blk_execute_rq(rq, at_head);
	inflight_rq_refs_put(&refs);
	filter_leave();
	return ret;
}

/*
 * Count @rq until its end_io, which its owner has set, runs; without memory
 * for that, its trackers lose the wait and get a new generation instead.
 */
static void filter_rq_wrap(struct request *rq)
{
	struct inflight_rq_refs refs;

	tracker_rq_account(rq, &refs);
	if (!inflight_rq_attach(rq, &refs))
		tracker_rq_account(rq, NULL);
}

/* Runs instead of blk_execute_rq_nowait(), which always ends the request. */
static void filter_execute_rq_nowait(struct request *rq, bool at_head)
{
	filter_enter();
	filter_rq_wrap(rq);
	blk_execute_rq_nowait(rq, at_head);
	filter_leave();
}

/*
 * Runs instead of blk_insert_cloned_request(). A clone it refuses (no
 * resources, too large) is not ended: dm requeues or ends the original and
 * frees the clone without calling its end_io, so the count is undone.
 */
static blk_status_t filter_insert_cloned_request(struct request *rq)
{
	blk_status_t ret;

	filter_enter();
	filter_rq_wrap(rq);
	ret = blk_insert_cloned_request(rq);
	if (ret != BLK_STS_OK)
		inflight_rq_detach(rq);
	filter_leave();
	return ret;
}

/*
 * The request hooks: a passthrough request without a disk (an NVMe admin
 * queue) is let through, since which disks it reaches is not known here;
 * an NVMe Format or Sanitize is therefore not seen (a limit, module/README.md).
 * Our own calls go through.
 */
/* Send @rq's call to @target unless it has no disk or is our own. */
static __always_inline void filter_redirect_request(struct ftrace_regs *fregs,
						    unsigned long parent_ip,
						    void *target)
{
	struct request *rq = (struct request *)compat_ftrace_argument(fregs, 0);

	if (rq->q->disk && !within_module(parent_ip, THIS_MODULE))
		compat_ftrace_set_ip(fregs, (unsigned long)target);
}

static void notrace filter_execute_rq_hook(unsigned long ip,
					   unsigned long parent_ip,
					   struct ftrace_ops *ops,
					   struct ftrace_regs *fregs)
{
	filter_redirect_request(fregs, parent_ip, filter_execute_rq);
}

static void notrace filter_execute_rq_nowait_hook(unsigned long ip,
						  unsigned long parent_ip,
						  struct ftrace_ops *ops,
						  struct ftrace_regs *fregs)
{
	filter_redirect_request(fregs, parent_ip, filter_execute_rq_nowait);
}

static void notrace filter_insert_cloned_request_hook(unsigned long ip,
						      unsigned long parent_ip,
						      struct ftrace_ops *ops,
						      struct ftrace_regs *fregs)
{
	filter_redirect_request(fregs, parent_ip, filter_insert_cloned_request);
}

/*
 * The hook's part for a write that may reach a tracker. Out of line, and
 * reached by a tail call: the tests before it then need no stack frame
 * (no canary for @spare) and the tracked path no extra call.
 */
static noinline void notrace filter_submit_bio_tracked(struct bio *bio,
						       struct ftrace_regs *fregs)
{
	void *spare = NULL;

	switch (filter_bio(bio, &spare)) {
	case FILTER_PASS:
		break;
	case FILTER_RETRY:
		compat_ftrace_set_ip(fregs,
				     (unsigned long)filter_submit_bio_slow);
		break;
	case FILTER_TAKEN:
		compat_ftrace_set_ip(fregs, (unsigned long)filter_bio_taken);
		break;
	case FILTER_AGAIN:
		compat_ftrace_set_ip(fregs, (unsigned long)filter_bio_again);
		break;
	}
}

static void notrace filter_submit_bio_hook(unsigned long ip,
					   unsigned long parent_ip,
					   struct ftrace_ops *ops,
					   struct ftrace_regs *fregs)
{
	struct bio *bio = (struct bio *)compat_ftrace_argument(fregs, 0);

	/* Reads and flushes, most of the traffic, stop here. */
	if (!tracker_bio_may_change(bio))
		return;
	/*
	 * So do writes to untracked devices, which no tracker or snapshot
	 * reaches: inline tests only, no call and no RCU section.
	 */
	if (!registry_may_track(bio->bi_bdev))
		return;
	/* Our own call from filter_submit_bio_slow(). */
	if (unlikely(within_module(parent_ip, THIS_MODULE)))
		return;
	filter_submit_bio_tracked(bio, fregs);
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
 * PERMANENT: while a hook is registered, `sysctl kernel.ftrace_enabled=0`
 * is refused (EBUSY) instead of silently switching it off, which would let
 * writes go unrecorded; and registering one while it is 0 fails, so the
 * module does not load at all rather than load and see nothing. The
 * del_gendisk hook is registered from load to unload, so the submit hook,
 * registered later, always finds ftrace enabled.
 *
 * No FTRACE_OPS_FL_RECURSION: the hooks call nothing that submits a bio or
 * deletes a disk, so they cannot recurse, and ftrace calls them directly
 * from their trampoline instead of through its recursion-checking helper.
 */
#define FILTER_OPS_FLAGS (COMPAT_FTRACE_OPS_FL_REGS | FTRACE_OPS_FL_IPMODIFY | \
			  FTRACE_OPS_FL_PERMANENT)

/**
 * struct filter_hook - one hooked kernel function.
 * @ops: the ftrace ops; its filter names @addr from filter_init() on.
 * @addr: the function.
 * @name: its name, for the log.
 */
struct filter_hook {
	struct ftrace_ops ops;
	unsigned long addr;
	const char *name;
};

#define FILTER_HOOK(hook, function) {					\
	.ops = { .func = hook, .flags = FILTER_OPS_FLAGS },		\
	.addr = (unsigned long)function,				\
	.name = #function,						\
}

static struct filter_hook filter_disk_removal =
	FILTER_HOOK(filter_del_gendisk_hook, del_gendisk);

/*
 * What a tracker needs, installed while one exists: every bio, and the
 * requests that reach a device without one (passthrough, and request-based
 * dm's clones).
 */
static struct filter_hook filter_tracker_hooks[] = {
	FILTER_HOOK(filter_submit_bio_hook, submit_bio_noacct),
	FILTER_HOOK(filter_execute_rq_hook, blk_execute_rq),
	FILTER_HOOK(filter_execute_rq_nowait_hook, blk_execute_rq_nowait),
	FILTER_HOOK(filter_insert_cloned_request_hook,
		    blk_insert_cloned_request),
};

/*
 * An ops keeps its filter (the one function it hooks) from filter_init() to
 * filter_exit(), across registrations: ftrace_free_filter() leaves the ops
 * pointing at the freed hash, so it is called once, last.
 */
static int filter_set(struct filter_hook *h)
{
	int ret = ftrace_set_filter_ip(&h->ops, h->addr, 0, 0);

	if (ret)
		pr_err("cannot trace %s: %d\n", h->name, ret);
	return ret;
}

static int filter_hook(struct filter_hook *h)
{
	int ret = register_ftrace_function(&h->ops);

	if (ret == -EBUSY)
		pr_err("cannot hook %s: sysctl kernel.ftrace_enabled is 0, or another user (such as livepatch) modifies it\n",
		       h->name);
	else if (ret)
		pr_err("cannot hook %s: %d\n", h->name, ret);
	return ret;
}

/*
 * Return: whether the hook is gone. Only a dead ftrace (ftrace_kill() after
 * an anomaly) refuses, and it calls no hook any more, so the module can
 * still go; but the ops stays enabled, and freeing its filter would WARN.
 */
static bool filter_unhook(struct filter_hook *h)
{
	int ret = unregister_ftrace_function(&h->ops);

	if (ret)
		pr_err("cannot unhook %s: %d\n", h->name, ret);
	return !ret;
}

/*
 * The tracker hooks are installed while a tracker exists, and removed a
 * little after the last one goes: removing waits for RCU-tasks, which
 * detach and disk removal should not, and a new attach often follows.
 */
#define FILTER_UNHOOK_DELAY (2 * HZ)

/* Protects @filter_hook_users, @filter_hooked and @filter_exiting. */
static DEFINE_MUTEX(filter_hooks_lock);
static unsigned int filter_hook_users;
/* How many of filter_tracker_hooks[], from the first, are registered. */
static unsigned int filter_hooked;
/* Set by filter_exit(): the unhook work may no longer be queued. */
static bool filter_exiting;

/* Unregister the tracker hooks, last first; keep those ftrace refuses. */
static void __filter_unhook_trackers(void)
{
	lockdep_assert_held(&filter_hooks_lock);
	while (filter_hooked &&
	       filter_unhook(&filter_tracker_hooks[filter_hooked - 1]))
		filter_hooked--;
}

static void filter_unhook_work_fn(struct work_struct *work)
{
	mutex_lock(&filter_hooks_lock);
	if (!filter_hook_users)
		__filter_unhook_trackers();
	mutex_unlock(&filter_hooks_lock);
}

static DECLARE_DELAYED_WORK(filter_unhook_work, filter_unhook_work_fn);

/**
 * filter_hooks_get() - make sure bios are intercepted, for a new tracker.
 *
 * Return: 0, or a negative errno from ftrace (logged).
 */
int filter_hooks_get(void)
{
	int ret = 0;

	mutex_lock(&filter_hooks_lock);
	while (filter_hooked < ARRAY_SIZE(filter_tracker_hooks)) {
		ret = filter_hook(&filter_tracker_hooks[filter_hooked]);
		if (ret)
			break;
		filter_hooked++;
	}
	if (ret && !filter_hook_users)
		__filter_unhook_trackers();
	if (!ret)
		filter_hook_users++;
	mutex_unlock(&filter_hooks_lock);
	return ret;
}

/**
 * filter_hooks_put() - a tracker that called filter_hooks_get() is gone.
 */
void filter_hooks_put(void)
{
	mutex_lock(&filter_hooks_lock);
	if (!--filter_hook_users && !filter_exiting)
		mod_delayed_work(system_wq, &filter_unhook_work,
				 FILTER_UNHOOK_DELAY);
	mutex_unlock(&filter_hooks_lock);
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
 * filter_init() - start intercepting disk removals.
 *
 * Return: 0 or a negative errno from ftrace.
 */
int filter_init(void)
{
	unsigned int i;
	int ret;

	ret = filter_set(&filter_disk_removal);
	for (i = 0; !ret && i < ARRAY_SIZE(filter_tracker_hooks); i++)
		ret = filter_set(&filter_tracker_hooks[i]);
	if (!ret)
		ret = filter_hook(&filter_disk_removal);
	if (ret) {
		for (i = 0; i < ARRAY_SIZE(filter_tracker_hooks); i++)
			ftrace_free_filter(&filter_tracker_hooks[i].ops);
		ftrace_free_filter(&filter_disk_removal.ops);
	}
	return ret;
}

/**
 * filter_exit() - stop intercepting and wait until no task runs our code.
 *
 * After this returns no task is or will be inside this file's functions,
 * so the trackers can be detached and the module text can go. Completions
 * of counted writes are inflight.c's, waited for by tracker_module_exit().
 */
void filter_exit(void)
{
	bool del_gendisk_gone;
	unsigned int i;

	del_gendisk_gone = filter_unhook(&filter_disk_removal);
	mutex_lock(&filter_hooks_lock);
	filter_exiting = true;
	mutex_unlock(&filter_hooks_lock);
	/* A disk removal inside filter_del_gendisk() may still queue it. */
	filter_drain();
	cancel_delayed_work_sync(&filter_unhook_work);
	mutex_lock(&filter_hooks_lock);
	__filter_unhook_trackers();
	mutex_unlock(&filter_hooks_lock);
	filter_drain();
	for (i = filter_hooked; i < ARRAY_SIZE(filter_tracker_hooks); i++)
		ftrace_free_filter(&filter_tracker_hooks[i].ops);
	if (del_gendisk_gone)
		ftrace_free_filter(&filter_disk_removal.ops);
}
