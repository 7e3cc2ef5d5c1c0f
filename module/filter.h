/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __BLKSNAP_FILTER_H
#define __BLKSNAP_FILTER_H

struct bio;

/**
 * enum filter_verdict - what the bio path does with a bio.
 * @FILTER_PASS: accounted (or nothing to account): send it now.
 * @FILTER_RETRY: no context without sleeping: again, with a spare.
 * @FILTER_TAKEN: a snapshot holds it; it is sent later, or ended.
 * @FILTER_AGAIN: a snapshot would hold it, but it carries REQ_NOWAIT:
 *	end it now with BLK_STS_AGAIN, so that its submitter tries again.
 */
enum filter_verdict {
	FILTER_PASS = 0,
	FILTER_RETRY,
	FILTER_TAKEN,
	FILTER_AGAIN,
};

int filter_init(void);
void filter_exit(void);
int filter_hooks_get(void);
void filter_hooks_put(void);
void filter_resubmit_bio(struct bio *bio);
void filter_release_held_bio(struct bio *bio);

#endif /* __BLKSNAP_FILTER_H */
