/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __BLKSNAP_CTL_H
#define __BLKSNAP_CTL_H

struct file;

long ctl_ioctl(struct file *file, unsigned int cmd, unsigned long arg);

#endif /* __BLKSNAP_CTL_H */
