/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __BLKSNAP_FILTER_H
#define __BLKSNAP_FILTER_H

int filter_init(void);
void filter_exit(void);
int filter_hooks_get(void);
void filter_hooks_put(void);

#endif /* __BLKSNAP_FILTER_H */
