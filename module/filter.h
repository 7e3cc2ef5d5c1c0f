/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __BLKSNAP_FILTER_H
#define __BLKSNAP_FILTER_H

struct bio;

int filter_init(void);
void filter_exit(void);
int filter_hooks_get(void);
void filter_hooks_put(void);
void filter_snapshots_get(void);
void filter_snapshots_put(void);
void filter_resubmit_bio(struct bio *bio);
void filter_release_held_bio(struct bio *bio);

#endif /* __BLKSNAP_FILTER_H */
