/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __BLKSNAP_EVENT_QUEUE_H
#define __BLKSNAP_EVENT_QUEUE_H

#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <uapi/linux/blksnap.h>

struct file;
struct poll_table_struct;

/* Events a snapshot keeps for its reader. */
#define EVENT_QUEUE_SIZE 16

/**
 * struct event_queue - the events of one snapshot, for the WAIT_EVENT ioctl.
 * @lock: protects everything below (irq-safe: events are raised from I/O
 *	completion).
 * @wait: readers sleep here until an event or the end of the snapshot.
 * @ring: the events, oldest at @head.
 * @head: index of the oldest event.
 * @count: events in @ring.
 * @lost: events dropped since the last one read.
 * @dead: the snapshot is being destroyed: readers return -ENOENT.
 */
struct event_queue {
	spinlock_t lock; /* see @lock above */
	wait_queue_head_t wait;
	struct blksnap_snapshot_event ring[EVENT_QUEUE_SIZE];
	u32 head;
	u32 count;
	u32 lost;
	bool dead;
};

void event_queue_init(struct event_queue *q);
void event_queue_raise(struct event_queue *q, u32 code, int error, dev_t dev,
		       u64 used, u64 limit);
int event_queue_wait(struct event_queue *q, u32 timeout_ms,
		     struct blksnap_snapshot_event *ev);
void event_queue_unread(struct event_queue *q,
			const struct blksnap_snapshot_event *ev);
void event_queue_kill(struct event_queue *q);
bool event_queue_pending(struct event_queue *q);
void event_queue_poll_wait(struct file *file, struct poll_table_struct *pt);

#endif /* __BLKSNAP_EVENT_QUEUE_H */
