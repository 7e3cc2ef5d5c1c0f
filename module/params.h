/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __BLKSNAP_PARAMS_H
#define __BLKSNAP_PARAMS_H

/*
 * Module parameters, defined and clamped in main.c. They are read-only once
 * the module is loaded (permission 0444), so readers need no lock.
 */
extern unsigned int tracking_block_minimum_shift;
extern unsigned int tracking_block_maximum_shift;
extern unsigned int tracking_block_maximum_count;
extern unsigned int chunk_minimum_shift;
extern unsigned int cow_memory_limit_mib;
extern unsigned int cow_memory_timeout_ms;
extern unsigned int storage_low_free_mib;
extern unsigned int storage_grow_step_mib;
/* The one parameter writable at run time (0644): read with READ_ONCE(). */
extern bool inflight_bio_reuse;

#endif /* __BLKSNAP_PARAMS_H */
