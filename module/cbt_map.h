/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __BLKSNAP_CBT_MAP_H
#define __BLKSNAP_CBT_MAP_H

#include <linux/types.h>
#include <linux/rcupdate.h>
#include <linux/uuid.h>

/**
 * struct cbt_map - the changed-block map of one device, one generation.
 * @data: @block_count bytes; byte i holds the change number of the last
 *	write to block i, 0 when none in this generation. Written by the bio
 *	path without a lock (single-byte stores are atomic), read by user copies.
 * @holes: @block_count bits, allocated like @data; bit i set when the last
 *	change of block i was a discard, secure erase, write-zeroes or zone
 *	reset that covered it whole. Changed by the bio path and completions
 *	with atomic word operations only.
 * @holes_off: set (never cleared) when a request changed the device
 *	without the module seeing it complete: a hole bit could then hide its
 *	data, so the map reports no holes any more.
 * @capacity: device size in sectors the map was sized for.
 * @block_count: bytes in @data.
 * @block_shift: log2 of the bytes one map byte stands for.
 * @changes_number: number current writes store, 1..255. Read by the bio
 *	path with READ_ONCE(); changed only by the owner's serialized
 *	checkpoint.
 * @flags: BLKSNAP_CBT_FLAG_* bits.
 * @reason: BLKSNAP_CBT_GENERATION_*, why @generation began.
 * @generation: identifier of this generation.
 * @rcu: frees the map after the last marker that may hold it.
 *
 * A map is replaced as a whole on resize (the owner publishes the new one
 * under RCU), so @capacity, @block_count, @block_shift and @data never
 * change for a published map.
 *
 * Why a set hole bit never hides data: a discard sets the bit when it is
 * submitted, after its change number is stored, and a failed one clears it
 * when it completes; a write clears it when submitted and again when it
 * completes, so a write that overlapped a discard in time (their order on
 * the device is unknown) leaves it clear. A new generation clears them all.
 */
struct cbt_map {
	u8 *data;
	unsigned long *holes;
	bool holes_off;
	sector_t capacity;
	u32 block_count;
	u32 block_shift;
	u8 changes_number;
	u8 flags;
	u8 reason;
	uuid_t generation;
	struct rcu_head rcu;
};

struct cbt_map *cbt_map_create(sector_t capacity, u8 reason);
void cbt_map_destroy(struct cbt_map *map);
void cbt_map_destroy_rcu(struct cbt_map *map);
void cbt_map_mark(struct cbt_map *map, sector_t sector, sector_t count);
void cbt_map_mark_numbers(struct cbt_map *map, sector_t sector, sector_t count);
void cbt_map_mark_hole(struct cbt_map *map, sector_t sector, sector_t count);
void cbt_map_fill(struct cbt_map *map, sector_t sector, sector_t count);
void cbt_map_holes_off(struct cbt_map *map);
u8 cbt_map_checkpoint(struct cbt_map *map);
void cbt_map_new_generation(struct cbt_map *map, u8 reason);
void cbt_map_copy(struct cbt_map *map, u32 offset, u32 length, u8 *dst);
void cbt_map_copy_holes(struct cbt_map *map, u32 offset, u32 length, u8 *dst);

#endif /* __BLKSNAP_CBT_MAP_H */
