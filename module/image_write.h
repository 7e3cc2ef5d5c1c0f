/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __BLKSNAP_IMAGE_WRITE_H
#define __BLKSNAP_IMAGE_WRITE_H

struct bio;
struct diff_area;
struct work_struct;

int image_write_init(void);
void image_write_exit(void);
void image_write_submit(struct diff_area *da, struct bio *bio);
void image_write_work(struct work_struct *work);

#endif /* __BLKSNAP_IMAGE_WRITE_H */
