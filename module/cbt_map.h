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
 */
struct cbt_map {
	u8 *data;
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
u8 cbt_map_checkpoint(struct cbt_map *map);
void cbt_map_new_generation(struct cbt_map *map, u8 reason);
void cbt_map_copy(struct cbt_map *map, u32 offset, u32 length, u8 *dst);

#endif /* __BLKSNAP_CBT_MAP_H */
