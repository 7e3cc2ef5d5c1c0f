// SPDX-License-Identifier: GPL-2.0
/*
 * The changed-block map: one byte per block of the device holding the
 * change number of the last write to that block.
 *
 * Marking runs in the bio submission path of any task, so it takes no lock
 * and never sleeps: it stores the current change number into whole bytes.
 * Byte stores are single-copy atomic on every architecture Linux supports,
 * and two writers racing on one byte both store a valid number (the newer
 * checkpoint wins or the block is reported once more than needed; never
 * less).
 */
#define pr_fmt(fmt) KBUILD_MODNAME "-cbt_map: " fmt

#include <linux/blkdev.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/mm.h>
#include <linux/string.h>
#include <uapi/linux/blksnap.h>
#include "cbt_map.h"
#include "params.h"

/*
 * Pick the smallest power-of-two block, at least the configured minimum,
 * that keeps the map within tracking_block_maximum_count bytes; above
 * tracking_block_maximum_shift the map grows instead of the block.
 */
static sector_t cbt_map_blocks(sector_t capacity, u32 shift)
{
	return DIV_ROUND_UP_SECTOR_T(capacity, 1ULL << (shift - SECTOR_SHIFT));
}

static u32 cbt_map_block_shift(sector_t capacity)
{
	u32 shift = tracking_block_minimum_shift;

	while (shift < tracking_block_maximum_shift &&
	       cbt_map_blocks(capacity, shift) > tracking_block_maximum_count)
		shift++;
	return shift;
}

/**
 * cbt_map_create() - allocate an empty map for a device.
 * @capacity: device size in sectors.
 * @reason: BLKSNAP_CBT_GENERATION_ATTACH or _RESIZE.
 *
 * The map starts a new generation with change number 1.
 *
 * Return: the map, or ERR_PTR(-ENOMEM), or ERR_PTR(-EFBIG) when the device
 * needs more than INT_MAX blocks.
 */
struct cbt_map *cbt_map_create(sector_t capacity, u8 reason)
{
	struct cbt_map *map;
	u32 shift = cbt_map_block_shift(capacity);
	sector_t blocks;

	blocks = cbt_map_blocks(capacity, shift);
	/*
	 * kvmalloc() refuses, with a WARN, anything above INT_MAX bytes; a
	 * sparse loop or null_blk device of a few EiB would get there.
	 */
	if (blocks > INT_MAX)
		return ERR_PTR(-EFBIG);

	map = kzalloc(sizeof(*map), GFP_KERNEL);
	if (!map)
		return ERR_PTR(-ENOMEM);
	/* A zero-sized device still gets one byte so @data is never NULL. */
	map->data = kvzalloc(max_t(size_t, blocks, 1), GFP_KERNEL);
	if (!map->data) {
		kfree(map);
		return ERR_PTR(-ENOMEM);
	}
	map->capacity = capacity;
	map->block_count = blocks;
	map->block_shift = shift;
	map->changes_number = 1;
	map->reason = reason;
	uuid_gen(&map->generation);
	return map;
}

/**
 * cbt_map_destroy() - free a map nobody can reach any more.
 * @map: the map, or NULL.
 */
void cbt_map_destroy(struct cbt_map *map)
{
	if (!map)
		return;
	kvfree(map->data);
	kfree(map);
}

static void cbt_map_free_rcu(struct rcu_head *rcu)
{
	cbt_map_destroy(container_of(rcu, struct cbt_map, rcu));
}

/**
 * cbt_map_destroy_rcu() - free a replaced map once no marker can hold it.
 * @map: the map, no longer published; markers find it under RCU.
 */
void cbt_map_destroy_rcu(struct cbt_map *map)
{
	call_rcu(&map->rcu, cbt_map_free_rcu);
}

/**
 * cbt_map_mark() - record a write to a sector range.
 * @map: the map.
 * @sector: first sector written.
 * @count: sectors written, non-zero.
 *
 * Safe in any context that may not sleep and concurrently with other
 * markers, checkpoints and copies of the same map. The part of the range
 * beyond the map is ignored: a device that grew gets a new map and
 * generation, which covers those blocks.
 */
void cbt_map_mark(struct cbt_map *map, sector_t sector, sector_t count)
{
	u32 bshift = map->block_shift - SECTOR_SHIFT;
	sector_t first = sector >> bshift;
	sector_t last;
	u8 number, *p, *end;

	if (unlikely(first >= map->block_count))
		return;
	if (unlikely(check_add_overflow(sector, count - 1, &last)))
		last = (sector_t)-1;
	last >>= bshift;
	if (last >= map->block_count)
		last = map->block_count - 1;
	number = READ_ONCE(map->changes_number);
	/*
	 * Store only bytes that differ: one cacheline of the map stands for
	 * 4 MiB of disk (64 KiB blocks), shared by every CPU writing there,
	 * and storing the number a byte already holds would still take the
	 * line away from the others. Every byte stored gets the same valid
	 * number, so concurrent readers and markers see a number from this
	 * or a racing write.
	 */
	end = map->data + last + 1;
	for (p = map->data + first; p < end; p++) {
		if (READ_ONCE(*p) != number)
			WRITE_ONCE(*p, number);
	}
}

/**
 * cbt_map_checkpoint() - close the current change number.
 * @map: the map; the caller serializes checkpoints of one map.
 *
 * Context: may sleep.
 * After the number 255 the map starts a new generation: all bytes become 0,
 * the generation changes and the number restarts at 1. A write racing with
 * the reset may leave its old number in a byte; that block then reads as
 * changed, which is safe for a backup.
 *
 * Return: the number the writes before the checkpoint carry, 0 after a
 * new generation (every byte of the new generation is then a change).
 */
u8 cbt_map_checkpoint(struct cbt_map *map)
{
	u8 closed = map->changes_number;

	if (closed == U8_MAX) {
		u32 done, n;

		/* Up to 1 GiB of map: let others run. */
		for (done = 0; done < map->block_count; done += n) {
			n = min(map->block_count - done, 1U << 20);
			memset(map->data + done, 0, n);
			cond_resched();
		}
		uuid_gen(&map->generation);
		map->reason = BLKSNAP_CBT_GENERATION_WRAP;
		/* Markers must not see 1 before the bytes are cleared. */
		smp_wmb();
		WRITE_ONCE(map->changes_number, 1);
		return 0;
	}
	WRITE_ONCE(map->changes_number, closed + 1);
	return closed;
}

/**
 * cbt_map_new_generation() - make earlier reads of the map incomparable.
 * @map: the map; the caller serializes this with checkpoints and readers
 *	of the generation.
 * @reason: BLKSNAP_CBT_GENERATION_*.
 *
 * The marks stay: a new generation calls for a full backup anyway, and
 * later marks keep their meaning.
 */
void cbt_map_new_generation(struct cbt_map *map, u8 reason)
{
	uuid_gen(&map->generation);
	map->reason = reason;
}

/**
 * cbt_map_copy() - copy part of the map.
 * @map: the map; the caller keeps it from being freed or reset.
 * @offset: first block.
 * @length: bytes to copy; @offset + @length is at most @map->block_count.
 * @dst: kernel buffer of @length bytes.
 *
 * Markers may store into the bytes meanwhile; each copied byte is then a
 * number some write stored, which is all a reader needs.
 */
void cbt_map_copy(struct cbt_map *map, u32 offset, u32 length, u8 *dst)
{
	memcpy(dst, map->data + offset, length);
}
