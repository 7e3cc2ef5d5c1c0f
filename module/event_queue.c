// SPDX-License-Identifier: GPL-2.0
/*
 * Events of a snapshot for user space: low free space, overflow, broken.
 *
 * Raised from any context, I/O completion included, and under memory
 * pressure: the queue is a fixed ring in the snapshot, filled under a
 * spinlock, never allocating. A full ring drops its oldest low-space event
 * (a break happens once per snapshot, so it is never dropped) and counts
 * it in the next event read. Readers sleep without holding the snapshot's
 * lock, so destroy never waits for them: it kills the queue and wakes them.
 */
#define pr_fmt(fmt) KBUILD_MODNAME "-event: " fmt

#include <linux/jiffies.h>
#include <linux/kdev_t.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/timekeeping.h>
#include "event_queue.h"

/*
 * Woken by every event raised or put back, of any snapshot: poll() on a
 * control file sleeps here and then looks at the snapshots that file created.
 */
static DECLARE_WAIT_QUEUE_HEAD(event_queue_any);

/**
 * event_queue_init() - an empty queue.
 * @q: the queue.
 */
void event_queue_init(struct event_queue *q)
{
	spin_lock_init(&q->lock);
	init_waitqueue_head(&q->wait);
	q->head = 0;
	q->count = 0;
	q->lost = 0;
	q->dead = false;
}

static struct blksnap_snapshot_event *event_queue_at(struct event_queue *q,
						     u32 i)
{
	return &q->ring[(q->head + i) % EVENT_QUEUE_SIZE];
}

/* Make room by dropping the oldest low-space event, if there is one. */
static bool __event_queue_drop_low(struct event_queue *q)
{
	u32 i;

	lockdep_assert_held(&q->lock);
	for (i = 0; i < q->count; i++) {
		if (event_queue_at(q, i)->code != BLKSNAP_EVENT_LOW_FREE_SPACE)
			continue;
		for (; i + 1 < q->count; i++)
			*event_queue_at(q, i) = *event_queue_at(q, i + 1);
		q->count--;
		q->lost++;
		return true;
	}
	return false;
}

/**
 * event_queue_raise() - add an event and wake a reader.
 * @q: the queue.
 * @code: BLKSNAP_EVENT_*.
 * @error: positive errno, or 0.
 * @dev: the device concerned, or 0.
 * @used: bytes of storage used now.
 * @limit: the storage limit.
 *
 * Context: any; does not sleep or allocate.
 */
void event_queue_raise(struct event_queue *q, u32 code, int error, dev_t dev,
		       u64 used, u64 limit)
{
	struct blksnap_snapshot_event *ev;
	unsigned long flags;

	spin_lock_irqsave(&q->lock, flags);
	if (q->dead ||
	    (q->count == EVENT_QUEUE_SIZE && !__event_queue_drop_low(q))) {
		q->lost++;
		goto out_unlock;
	}
	ev = event_queue_at(q, q->count++);
	memset(ev, 0, sizeof(*ev));
	ev->code = code;
	ev->error = error;
	ev->dev.major = MAJOR(dev);
	ev->dev.minor = MINOR(dev);
	ev->time_ns = ktime_get_boottime_ns();
	ev->used = used;
	ev->limit = limit;
out_unlock:
	spin_unlock_irqrestore(&q->lock, flags);
	wake_up(&q->wait);
	wake_up(&event_queue_any);
}

/* Take the oldest event into @ev, if any. */
static bool event_queue_pop(struct event_queue *q,
			    struct blksnap_snapshot_event *ev, int *dead)
{
	unsigned long flags;
	bool found = false;

	spin_lock_irqsave(&q->lock, flags);
	*dead = q->dead;
	if (q->count) {
		*ev = *event_queue_at(q, 0);
		ev->lost = q->lost;
		q->lost = 0;
		q->head = (q->head + 1) % EVENT_QUEUE_SIZE;
		q->count--;
		found = true;
	}
	spin_unlock_irqrestore(&q->lock, flags);
	return found;
}

static bool event_queue_ready(struct event_queue *q)
{
	return READ_ONCE(q->count) || READ_ONCE(q->dead);
}

/**
 * event_queue_wait() - the oldest event, waiting for one if need be.
 * @q: the queue, of a snapshot the caller holds a reference on.
 * @timeout_ms: how long to wait; 0: not at all.
 * @ev: receives the event (code, error, dev, time_ns, used, limit, lost).
 *
 * Return: 0, -ETIMEDOUT, -ENOENT (the snapshot is being destroyed) or
 * -EINTR (a signal).
 *
 * Context: process; sleeps.
 */
int event_queue_wait(struct event_queue *q, u32 timeout_ms,
		     struct blksnap_snapshot_event *ev)
{
	long left = msecs_to_jiffies(timeout_ms);
	int dead;

	/*
	 * Woken, another reader may have taken the event first: wait again
	 * for what is left, so no reader returns -ETIMEDOUT early.
	 */
	for (;;) {
		if (event_queue_pop(q, ev, &dead))
			return 0;
		if (dead)
			return -ENOENT;
		if (!left)
			return -ETIMEDOUT;
		left = wait_event_interruptible_timeout(q->wait,
							event_queue_ready(q),
							left);
		if (left < 0)
			return -EINTR;
	}
}

/**
 * event_queue_unread() - give back an event the caller could not deliver.
 * @q: the queue.
 * @ev: the event event_queue_wait() returned.
 *
 * The event goes back in front, to be read again; its @lost count returns
 * to the queue. If the ring filled meanwhile, a low-space event makes room
 * or the event given back is counted as lost.
 */
void event_queue_unread(struct event_queue *q,
			const struct blksnap_snapshot_event *ev)
{
	unsigned long flags;

	spin_lock_irqsave(&q->lock, flags);
	q->lost += ev->lost;
	if (q->count == EVENT_QUEUE_SIZE && !__event_queue_drop_low(q)) {
		q->lost++;
	} else {
		q->head = (q->head + EVENT_QUEUE_SIZE - 1) % EVENT_QUEUE_SIZE;
		q->ring[q->head] = *ev;
		q->ring[q->head].lost = 0;
		q->count++;
	}
	spin_unlock_irqrestore(&q->lock, flags);
	wake_up(&q->wait);
	wake_up(&event_queue_any);
}

/**
 * event_queue_kill() - the snapshot is being destroyed: end every wait.
 * @q: the queue.
 */
void event_queue_kill(struct event_queue *q)
{
	spin_lock_irq(&q->lock);
	q->dead = true;
	spin_unlock_irq(&q->lock);
	wake_up_all(&q->wait);
}

/**
 * event_queue_pending() - whether @q holds an event not yet read.
 * @q: the queue.
 *
 * Lockless: poll() asks again after each wake-up of event_queue_any.
 */
bool event_queue_pending(struct event_queue *q)
{
	return READ_ONCE(q->count) != 0;
}

/**
 * event_queue_poll_wait() - register a poll() of @file for the events of
 *	every snapshot.
 * @file: the control file polled.
 * @pt: the poll table.
 */
void event_queue_poll_wait(struct file *file, struct poll_table_struct *pt)
{
	poll_wait(file, &event_queue_any, pt);
}
