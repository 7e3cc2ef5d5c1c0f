/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __BLKSNAP_INFLIGHT_H
#define __BLKSNAP_INFLIGHT_H

#include <linux/atomic.h>
#include <linux/blk_types.h>
#include <linux/completion.h>
#include <linux/mutex.h>
#include <linux/percpu-refcount.h>

struct bio;
struct dentry;
struct request;
struct inflight;

/**
 * enum inflight_kind - what a counted write does to the blocks it changes.
 * @INFLIGHT_DATA: writes data.
 * @INFLIGHT_HOLE: a discard, secure erase, write-zeroes or zone reset.
 * @INFLIGHT_UNKNOWN: a command that may change anything on its device.
 */
enum inflight_kind {
	INFLIGHT_DATA,
	INFLIGHT_HOLE,
	INFLIGHT_UNKNOWN,
};

/**
 * struct inflight_span - what a counted write changes, for &inflight.done.
 * @sector: first sector, relative to the counting tracker's device.
 * @count: sectors, non-zero (ignored for INFLIGHT_UNKNOWN).
 * @kind: an &enum inflight_kind.
 */
struct inflight_span {
	sector_t sector;
	sector_t count;
	enum inflight_kind kind;
};

/* Most trackers one request reaching a disk without a bio is counted in. */
#define INFLIGHT_RQ_REFS 4

/**
 * struct inflight_rq_refs - the epochs a request holds until it completes.
 * @nr: references in @refs.
 * @refs: from inflight_get_rcu(), one per tracker the request reaches.
 * @spans: what the request changes on each of those trackers' devices.
 */
struct inflight_rq_refs {
	unsigned int nr;
	struct percpu_ref *refs[INFLIGHT_RQ_REFS];
	struct inflight_span spans[INFLIGHT_RQ_REFS];
};

/**
 * struct inflight_epoch - the writes that joined one epoch.
 * @ref: one reference per write from the hook to its completion, plus the
 *	base reference while the epoch is open or spare.
 * @owner: the counter this epoch belongs to.
 */
struct inflight_epoch {
	struct percpu_ref ref;
	struct inflight *owner;
};

/**
 * struct inflight - the writes of one tracker between the hook and their
 *	completion, counted so that a drain can wait for those before it.
 * @epochs: two epochs: new writes join the open one, a drain retires it
 *	and opens the other.
 * @open: index in @epochs of the open epoch. Written under @drain_lock,
 *	with release ordering after whatever state the drain publishes; read
 *	by the hook with acquire ordering, inside the RCU read-side section
 *	in which it takes its reference.
 * @drain_lock: serializes drains, and a drain with the teardown.
 * @retiring: an epoch was retired and has not been reopened yet (its drain
 *	was interrupted by a fatal signal); under @drain_lock.
 * @drained: completed when a retired epoch's last write is done.
 * @live: epochs not yet released, to know when the teardown is over.
 * @gone: called (any context) when the teardown is over.
 * @done: called (any context, bi_end_io's included) when a counted write
 *	or request is over, before its reference is dropped, so that a drain
 *	has seen it; @status is the write's (a request passes BLK_STS_OK).
 */
struct inflight {
	struct inflight_epoch epochs[2];
	unsigned int open;
	struct mutex drain_lock; /* see @drain_lock above */
	bool retiring;
	struct completion drained;
	atomic_t live;
	void (*gone)(struct inflight *inflight);
	void (*done)(struct inflight *inflight,
		     const struct inflight_span *span, blk_status_t status);
};

int inflight_init(struct inflight *inflight,
		  void (*gone)(struct inflight *inflight),
		  void (*done)(struct inflight *inflight,
			       const struct inflight_span *span,
			       blk_status_t status));
void inflight_teardown(struct inflight *inflight);
void inflight_exit(struct inflight *inflight);
struct percpu_ref *inflight_get_rcu(struct inflight *inflight);
int inflight_drain(struct inflight *inflight);

void *inflight_bio_alloc(gfp_t gfp);
void inflight_bio_free(void *ctx);
bool inflight_bio_counted(struct bio *bio, struct inflight *inflight);
bool inflight_bio_count(struct inflight *inflight, struct bio *bio,
			sector_t sector, sector_t count,
			enum inflight_kind kind, void **spare);

void inflight_rq_refs_put(struct inflight_rq_refs *refs);
bool inflight_rq_attach(struct request *rq, struct inflight_rq_refs *refs);
void inflight_rq_detach(struct request *rq);

int inflight_module_init(void);
void inflight_debugfs_init(struct dentry *debugfs);
void inflight_module_exit(void);

#endif /* __BLKSNAP_INFLIGHT_H */
