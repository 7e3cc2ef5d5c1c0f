/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __BLKSNAP_CTL_H
#define __BLKSNAP_CTL_H

struct file;
struct inode;

long ctl_ioctl(struct file *file, unsigned int cmd, unsigned long arg);
int ctl_release(struct inode *inode, struct file *file);

#endif /* __BLKSNAP_CTL_H */
