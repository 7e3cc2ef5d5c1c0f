// SPDX-License-Identifier: GPL-2.0
/*
 * Writes in flight, counted per tracker from the hook to their completion,
 * so that attach, checkpoint and snapshot take can wait for the writes
 * submitted before them.
 *
 * The hook takes a reference on the tracker's open epoch and wraps the
 * bio's completion (bi_end_io and bi_private, restored before the original
 * completion runs, as stacking drivers do) to drop it. A drain retires the
 * open epoch, opens the other one and waits until the retired one has no
 * write left. Epochs are percpu_refs: the hook touches only per-CPU data,
 * and retiring one (percpu_ref_kill()) waits a grace period, so every write
 * that read the old epoch inside its RCU read-side section is counted in it.
 *
 * Why a drain orders with the state it publishes (a new change number, a
 * snapshot): the drain publishes the state first and opens the new epoch
 * with a release store; the hook reads the epoch with an acquire load
 * before it reads the state. A write in the new epoch therefore sees the
 * new state, and a write that saw the old state is in the old epoch, which
 * the drain waits for.
 *
 * The completion also tells the tracker what the write changed
 * (&inflight.done), which the hole bits of its map need (cbt_map.c).
 *
 * The wrap needs a small context per bio. A completed write leaves its
 * context on a small per-CPU stack, which the next write on that CPU
 * takes back: in the steady state no write allocates. Past the stack, contexts
 * come from kmalloc backed by a reserve (mempool): the hook allocates
 * without sleeping; only when all are empty does the filter retry where it
 * may sleep (filter.c). No kmem_cache of our own: 48 bytes fit one of
 * kmalloc's small caches, and a failed kmem_cache_create() leaks its sysfs
 * name in the kernel (mm/slub.c, sysfs_slab_add()), which a load under
 * memory pressure must not do.
 */
#define pr_fmt(fmt) KBUILD_MODNAME "-inflight: " fmt

#include <linux/bio.h>
#include <linux/blk-mq.h>
#include <linux/debugfs.h>
#include <linux/mempool.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/indirect_call_wrapper.h>
#include "inflight.h"
#include "tracker.h"
#include "params.h"

/**
 * struct inflight_bio - what the wrap of one bio's completion saved.
 * @end_io: the bio's own bi_end_io.
 * @private: the bio's own bi_private.
 * @ref: the epoch reference the bio holds until it completes.
 * @span: what the bio changes, for &inflight.done.
 */
struct inflight_bio {
	bio_end_io_t *end_io;
	void *private;
	struct percpu_ref *ref;
	struct inflight_span span;
};

/*
 * Contexts kept for when kmalloc cannot give one without sleeping: a few,
 * to spare most writes the detour through filter_submit_bio_slow(), which
 * allocates where it may wait for memory.
 */
#define INFLIGHT_BIO_RESERVE 8

static mempool_t *inflight_bio_pool;

/*
 * Contexts kept per CPU for reuse, in a stack: the last one given back is
 * the first taken, so neither end searches (a search of slots for a full
 * or an empty one cost a virtio disk's writes, 16 in flight, about 25
 * instructions each way). Interrupts are masked for the few instructions
 * of a push or pop, since completions give contexts back from them. A
 * context freed on another CPU than it was taken from stays there, or goes
 * to kfree() when that CPU's stack is full; 16 of 48 bytes is 768 bytes a
 * CPU.
 */
#define INFLIGHT_BIO_STACK_DEPTH 16

struct inflight_bio_stack {
	unsigned int nr;
	void *ctx[INFLIGHT_BIO_STACK_DEPTH];
};

static DEFINE_PER_CPU(struct inflight_bio_stack, inflight_bio_stack);

/*
 * Where the contexts the stacks could not give came from, in
 * /sys/kernel/debug/blksnap/inflight: kmalloc, the reserve, or nowhere
 * (the write then went the sleeping way, filter_submit_bio_slow()).
 * Counted off the stacks' path only, but that is every tracked write past
 * the stack: per CPU, so that no cache line bounces between the CPUs that
 * write; summed only when read.
 */
struct inflight_bio_sources {
	u64 kmalloced;
	u64 reserved;
	u64 none;
};

static DEFINE_PER_CPU(struct inflight_bio_sources, inflight_bio_sources);

static void inflight_epoch_release(struct percpu_ref *ref)
{
	struct inflight *inflight =
		container_of(ref, struct inflight_epoch, ref)->owner;

	/*
	 * Wake a drain first: after the decrement below the structure may be
	 * freed at any time by the teardown.
	 */
	complete(&inflight->drained);
	if (atomic_dec_and_test(&inflight->live))
		inflight->gone(inflight);
}

/**
 * inflight_init() - set up the counters of a new tracker.
 * @inflight: the counters.
 * @gone: called, in any context, when inflight_teardown() is over and the
 *	last counted write has completed.
 * @done: see &struct inflight.
 *
 * Return: 0 or -ENOMEM.
 */
int inflight_init(struct inflight *inflight,
		  void (*gone)(struct inflight *inflight),
		  void (*done)(struct inflight *inflight,
			       const struct inflight_span *span,
			       blk_status_t status))
{
	int i, ret;

	for (i = 0; i < ARRAY_SIZE(inflight->epochs); i++) {
		inflight->epochs[i].owner = inflight;
		ret = percpu_ref_init(&inflight->epochs[i].ref,
				      inflight_epoch_release,
				      PERCPU_REF_ALLOW_REINIT, GFP_KERNEL);
		if (ret)
			goto out_exit;
	}
	inflight->open = 0;
	mutex_init(&inflight->drain_lock);
	inflight->retiring = false;
	init_completion(&inflight->drained);
	atomic_set(&inflight->live, ARRAY_SIZE(inflight->epochs));
	inflight->gone = gone;
	inflight->done = done;
	return 0;

out_exit:
	while (i--)
		percpu_ref_exit(&inflight->epochs[i].ref);
	return ret;
}

/**
 * inflight_teardown() - stop counting; @inflight->gone() follows once every
 *	counted write has completed.
 * @inflight: the counters, no longer reachable by the hook (the tracker left
 *	the registry a grace period ago) and not being drained.
 *
 * Does not wait: a write to a device that never completes keeps the
 * counters (and the module) alive, not the caller.
 */
void inflight_teardown(struct inflight *inflight)
{
	unsigned int open = inflight->open;
	bool retiring = inflight->retiring;

	/* @inflight may be gone as soon as the last epoch is killed. */
	if (!retiring)
		percpu_ref_kill(&inflight->epochs[!open].ref);
	percpu_ref_kill(&inflight->epochs[open].ref);
}

/**
 * inflight_exit() - free the counters after @inflight->gone() was called.
 * @inflight: the counters.
 */
void inflight_exit(struct inflight *inflight)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(inflight->epochs); i++)
		percpu_ref_exit(&inflight->epochs[i].ref);
}

static __always_inline struct percpu_ref *
__inflight_get_rcu(struct inflight *inflight)
{
	struct percpu_ref *ref;

	ref = &inflight->epochs[smp_load_acquire(&inflight->open)].ref;
	if (likely(percpu_ref_tryget_live_rcu(ref)))
		return ref;
	/*
	 * A drain retired that epoch after opening the other; having seen it
	 * retired, we see the new one open (full barrier in the drain). A
	 * second drain cannot retire that one while we are in this RCU
	 * read-side section: the first is still waiting for a grace period.
	 */
	smp_rmb();
	ref = &inflight->epochs[smp_load_acquire(&inflight->open)].ref;
	return percpu_ref_tryget_live_rcu(ref) ? ref : NULL;
}

/**
 * inflight_get_rcu() - count a write in the open epoch.
 * @inflight: the counters.
 *
 * Read the state the write depends on (the change number) only after this:
 * see the head of this file.
 *
 * Context: inside the RCU read-side section in which the tracker was found;
 * does not sleep.
 * Return: the reference the write holds until it completes, or NULL if the
 * counters are being torn down.
 */
struct percpu_ref *inflight_get_rcu(struct inflight *inflight)
{
	return __inflight_get_rcu(inflight);
}

/* The retired epoch @i has no write left: open it again as the spare. */
static void inflight_reopen(struct inflight *inflight, unsigned int i)
{
	lockdep_assert_held(&inflight->drain_lock);
	atomic_inc(&inflight->live);
	percpu_ref_reinit(&inflight->epochs[i].ref);
	inflight->retiring = false;
}

/**
 * inflight_drain() - wait until every write counted before the call has
 *	completed.
 * @inflight: the counters.
 *
 * Writes counted while it waits are not waited for, so a drain ends under
 * any load. Publish the state that later writes must see before calling.
 *
 * Context: may sleep; no lock held that completing a write could need.
 * Return: 0, or -EINTR on a fatal signal (the next drain finishes the wait).
 */
int inflight_drain(struct inflight *inflight)
{
	unsigned int old;
	int ret;

	ret = mutex_lock_killable(&inflight->drain_lock);
	if (ret)
		return ret;
	if (inflight->retiring) {
		ret = wait_for_completion_killable(&inflight->drained);
		if (ret)
			goto out_unlock;
		inflight_reopen(inflight, !inflight->open);
	}
	old = inflight->open;
	reinit_completion(&inflight->drained);
	inflight->retiring = true;
	smp_store_release(&inflight->open, !old);
	/* Open before retired, for inflight_get_rcu()'s retry. */
	smp_mb();
	percpu_ref_kill(&inflight->epochs[old].ref);
	ret = wait_for_completion_killable(&inflight->drained);
	if (!ret)
		inflight_reopen(inflight, old);
out_unlock:
	mutex_unlock(&inflight->drain_lock);
	return ret;
}

/* A context from this CPU's stack, or NULL. */
static __always_inline void *inflight_bio_stack_pop(void)
{
	struct inflight_bio_stack *stack;
	unsigned long flags;
	void *ctx = NULL;

	local_irq_save(flags);
	stack = this_cpu_ptr(&inflight_bio_stack);
	if (stack->nr)
		ctx = stack->ctx[--stack->nr];
	local_irq_restore(flags);
	return ctx;
}

/* Onto this CPU's stack, unless it is full: false then. */
static __always_inline bool inflight_bio_stack_push(void *ctx)
{
	struct inflight_bio_stack *stack;
	unsigned long flags;
	bool kept = false;

	local_irq_save(flags);
	stack = this_cpu_ptr(&inflight_bio_stack);
	if (stack->nr < INFLIGHT_BIO_STACK_DEPTH) {
		stack->ctx[stack->nr++] = ctx;
		kept = true;
	}
	local_irq_restore(flags);
	return kept;
}

static __always_inline void __inflight_bio_free(void *ctx)
{
	/* Refill the reserve first; skip the pool's indirect call otherwise. */
	if (unlikely(READ_ONCE(inflight_bio_pool->curr_nr) <
		     inflight_bio_pool->min_nr)) {
		mempool_free(ctx, inflight_bio_pool);
		return;
	}
	/* With reuse off, the stacks empty as writes take from them. */
	if (likely(READ_ONCE(inflight_bio_reuse)) &&
	    likely(inflight_bio_stack_push(ctx)))
		return;
	kfree(ctx);
}

/*
 * The end of a counted write. The tracker's &inflight.done is called
 * directly (no retpoline thunk) and the context goes back to its stack
 * inline: what a write costs is mostly calls and returns, which an
 * emulated CPU (TCG) makes expensive.
 */
static void inflight_bio_end_io(struct bio *bio)
{
	struct inflight_bio *ctx = bio->bi_private;
	struct percpu_ref *ref = ctx->ref;
	struct inflight *inflight =
		container_of(ref, struct inflight_epoch, ref)->owner;

	INDIRECT_CALL_1(inflight->done, tracker_inflight_done, inflight,
			&ctx->span, bio->bi_status);
	bio->bi_end_io = ctx->end_io;
	bio->bi_private = ctx->private;
	__inflight_bio_free(ctx);
	if (bio->bi_end_io)
		bio->bi_end_io(bio);
	/* Last: a drain that returns has seen the original completion run. */
	percpu_ref_put(ref);
}

static __always_inline bool __inflight_bio_counted(struct bio *bio,
						   struct inflight *inflight)
{
	bio_end_io_t *end_io = bio->bi_end_io;
	struct inflight_bio *ctx = bio->bi_private;

	while (end_io == inflight_bio_end_io) {
		if (container_of(ctx->ref, struct inflight_epoch, ref)->owner ==
		    inflight)
			return true;
		end_io = ctx->end_io;
		ctx = ctx->private;
	}
	return false;
}

/**
 * inflight_bio_alloc() - a context for inflight_bio_count().
 * @gfp: GFP_NOWAIT in the hook, GFP_NOIO where the submitter may sleep.
 *
 * Return: the context, or NULL (only without __GFP_DIRECT_RECLAIM).
 */
void *inflight_bio_alloc(gfp_t gfp)
{
	void *ctx = inflight_bio_stack_pop();

	if (ctx)
		return ctx;
	ctx = kmalloc(sizeof(struct inflight_bio), gfp | __GFP_NOWARN);
	if (likely(ctx)) {
		this_cpu_inc(inflight_bio_sources.kmalloced);
		return ctx;
	}
	ctx = mempool_alloc(inflight_bio_pool, gfp);
	if (ctx)
		this_cpu_inc(inflight_bio_sources.reserved);
	else
		this_cpu_inc(inflight_bio_sources.none);
	return ctx;
}

/**
 * inflight_bio_free() - give back a context from inflight_bio_alloc().
 * @ctx: the context.
 */
void inflight_bio_free(void *ctx)
{
	__inflight_bio_free(ctx);
}

/**
 * inflight_bio_counted() - whether a bio is already counted by @inflight.
 * @bio: a bio being submitted, such as the remainder of a split coming back.
 * @inflight: the counters.
 *
 * Context: the submitter's; the bio cannot complete meanwhile.
 */
bool inflight_bio_counted(struct bio *bio, struct inflight *inflight)
{
	return __inflight_bio_counted(bio, inflight);
}

/**
 * inflight_bio_count() - count a write in the open epoch until it completes.
 * @inflight: the counters.
 * @bio: the write, about to be submitted.
 * @sector: first sector it changes, relative to the owner's device.
 * @count: sectors it changes, non-zero.
 * @kind: an &enum inflight_kind (these three go to &inflight.done).
 * @spare: a context from inflight_bio_alloc() to use first, or NULL; taken
 *	(set to NULL) when used.
 *
 * A bio already counted by @inflight (the remainder of a split, coming
 * back) is left as it is. One call for what the hook needs: the check, a
 * context (from this CPU's stack in the steady state), the reference and
 * the wrap (what the completion restores, as stacking drivers do). Read
 * the state the write depends on only after this (see inflight_get_rcu()).
 *
 * Context: inside the RCU read-side section in which the counters' owner
 * was found; does not sleep.
 * Return: false, with nothing done, when no context could be had without
 * sleeping.
 */
bool inflight_bio_count(struct inflight *inflight, struct bio *bio,
			sector_t sector, sector_t count,
			enum inflight_kind kind, void **spare)
{
	struct inflight_bio *ctx;
	struct percpu_ref *ref;

	if (__inflight_bio_counted(bio, inflight))
		return true;
	ctx = *spare;
	if (ctx)
		*spare = NULL;
	else
		ctx = inflight_bio_stack_pop() ?: inflight_bio_alloc(GFP_NOWAIT);
	if (!ctx)
		return false;
	/* Cannot fail while the owner is in the registry. */
	ref = __inflight_get_rcu(inflight);
	if (unlikely(!ref)) {
		__inflight_bio_free(ctx);
		return true;
	}
	ctx->end_io = bio->bi_end_io;
	ctx->private = bio->bi_private;
	ctx->ref = ref;
	ctx->span.sector = sector;
	ctx->span.count = count;
	ctx->span.kind = kind;
	bio->bi_private = ctx;
	bio->bi_end_io = inflight_bio_end_io;
	return true;
}

/**
 * inflight_rq_refs_put() - drop the references of a request that is over,
 *	or will not be waited for.
 * @refs: the references; emptied.
 *
 * Each tracker hears of the request's end first (&inflight.done).
 */
void inflight_rq_refs_put(struct inflight_rq_refs *refs)
{
	struct inflight *inflight;
	struct percpu_ref *ref;

	while (refs->nr) {
		ref = refs->refs[--refs->nr];
		inflight = container_of(ref, struct inflight_epoch, ref)->owner;
		inflight->done(inflight, &refs->spans[refs->nr], BLK_STS_OK);
		percpu_ref_put(ref);
	}
}

/**
 * struct inflight_rq - what the wrap of a request's completion saved.
 * @end_io: the request's own end_io, or NULL.
 * @end_io_data: the request's own end_io_data.
 * @refs: the epoch references it holds until it completes.
 */
struct inflight_rq {
	rq_end_io_fn *end_io;
	void *end_io_data;
	struct inflight_rq_refs refs;
};

static enum rq_end_io_ret inflight_rq_end_io(struct request *rq,
					     blk_status_t error)
{
	struct inflight_rq *ctx = rq->end_io_data;
	enum rq_end_io_ret ret = RQ_END_IO_FREE;

	rq->end_io = ctx->end_io;
	rq->end_io_data = ctx->end_io_data;
	/* Without an end_io of its own, blk-mq would have freed it. */
	if (rq->end_io)
		ret = rq->end_io(rq, error);
	inflight_rq_refs_put(&ctx->refs);
	kfree(ctx);
	return ret;
}

/**
 * inflight_rq_attach() - hold references until a request completes.
 * @rq: a request about to be executed or inserted, its end_io set by its
 *	owner (blk_execute_rq_nowait(), dm's clones).
 * @refs: the references, taken over (emptied).
 *
 * Requests that bypass the bio hook are rare (passthrough, request-based
 * dm): a plain atomic allocation does. Without memory the references are
 * dropped and the caller's trackers lose the wait, not the marks: callers
 * start a new generation then (tracker_rq_account()).
 *
 * Return: true when the request holds the references.
 */
bool inflight_rq_attach(struct request *rq, struct inflight_rq_refs *refs)
{
	struct inflight_rq *ctx;

	if (!refs->nr)
		return true;
	ctx = kmalloc(sizeof(*ctx), GFP_ATOMIC | __GFP_NOWARN);
	if (!ctx) {
		inflight_rq_refs_put(refs);
		return false;
	}
	ctx->end_io = rq->end_io;
	ctx->end_io_data = rq->end_io_data;
	ctx->refs = *refs;
	refs->nr = 0;
	rq->end_io_data = ctx;
	rq->end_io = inflight_rq_end_io;
	return true;
}

/**
 * inflight_rq_detach() - undo inflight_rq_attach() for a request that was
 *	not executed after all: its end_io will not run.
 * @rq: the request, still owned by the caller.
 */
void inflight_rq_detach(struct request *rq)
{
	struct inflight_rq *ctx = rq->end_io_data;

	if (rq->end_io != inflight_rq_end_io)
		return;
	rq->end_io = ctx->end_io;
	rq->end_io_data = ctx->end_io_data;
	inflight_rq_refs_put(&ctx->refs);
	kfree(ctx);
}

/**
 * inflight_module_init() - create the contexts' reserve.
 *
 * Return: 0 or -ENOMEM.
 */
int inflight_module_init(void)
{
	inflight_bio_pool = mempool_create_kmalloc_pool(INFLIGHT_BIO_RESERVE,
						sizeof(struct inflight_bio));
	return inflight_bio_pool ? 0 : -ENOMEM;
}

static int inflight_counters_show(struct seq_file *m, void *unused)
{
	struct inflight_bio_sources sum = {}, *s;
	int cpu;

	/* Not a snapshot: a CPU may count while the others are summed. */
	for_each_possible_cpu(cpu) {
		s = per_cpu_ptr(&inflight_bio_sources, cpu);
		sum.kmalloced += READ_ONCE(s->kmalloced);
		sum.reserved += READ_ONCE(s->reserved);
		sum.none += READ_ONCE(s->none);
	}
	seq_printf(m, "contexts kmalloced %llu from_reserve %llu none_without_sleeping %llu\n",
		   sum.kmalloced, sum.reserved, sum.none);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(inflight_counters);

/**
 * inflight_debugfs_init() - add the contexts' counters to the module's
 *	debugfs directory (removed with it).
 * @debugfs: the directory.
 */
void inflight_debugfs_init(struct dentry *debugfs)
{
	debugfs_create_file("inflight", 0400, debugfs, NULL,
			    &inflight_counters_fops);
}

/**
 * inflight_module_exit() - free the reserve and the per-CPU stacks, once no
 *	bio holds a context.
 */
void inflight_module_exit(void)
{
	int cpu, i;

	for_each_possible_cpu(cpu) {
		struct inflight_bio_stack *stack =
			per_cpu_ptr(&inflight_bio_stack, cpu);

		for (i = 0; i < stack->nr; i++)
			kfree(stack->ctx[i]);
	}
	mempool_destroy(inflight_bio_pool);
}
