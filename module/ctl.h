/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __BLKSNAP_CTL_H
#define __BLKSNAP_CTL_H

#include <linux/types.h>

struct file;
struct inode;
struct poll_table_struct;

long ctl_ioctl(struct file *file, unsigned int cmd, unsigned long arg);
int ctl_release(struct inode *inode, struct file *file);
__poll_t ctl_poll(struct file *file, struct poll_table_struct *pt);

#endif /* __BLKSNAP_CTL_H */
