// SPDX-License-Identifier: GPL-2.0
/*
 * The changed-block map: one byte per block of the device holding the
 * change number of the last write to that block, and one bit per block
 * telling whether that last change left a hole (a discard or write-zeroes).
 *
 * Marking runs in the bio submission path of any task, so it takes no lock
 * and never sleeps: it stores the current change number into whole bytes.
 * Byte stores are single-copy atomic on every architecture Linux supports,
 * and two writers racing on one byte both store a valid number (the newer
 * checkpoint wins or the block is reported once more than needed; never
 * less). Hole bits change with atomic word operations, as neighbouring
 * bits of one word belong to other blocks being marked at the same time.
 */
#define pr_fmt(fmt) KBUILD_MODNAME "-cbt_map: " fmt

#include <linux/atomic.h>
#include <linux/bitmap.h>
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
	if (!map->data)
		goto out_free_map;
	map->holes = kvcalloc(BITS_TO_LONGS(max_t(size_t, blocks, 1)),
			      sizeof(unsigned long), GFP_KERNEL);
	if (!map->holes)
		goto out_free_data;
	map->capacity = capacity;
	map->block_count = blocks;
	map->block_shift = shift;
	map->changes_number = 1;
	map->reason = reason;
	uuid_gen(&map->generation);
	return map;

out_free_data:
	kvfree(map->data);
out_free_map:
	kfree(map);
	return ERR_PTR(-ENOMEM);
}

/**
 * cbt_map_destroy() - free a map nobody can reach any more.
 * @map: the map, or NULL.
 */
void cbt_map_destroy(struct cbt_map *map)
{
	if (!map)
		return;
	kvfree(map->holes);
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

/* Blocks [*first, *last] that a sector range touches; false if none. */
static bool cbt_map_blocks_of(struct cbt_map *map, sector_t sector,
			      sector_t count, u32 *first, u32 *last)
{
	u32 bshift = map->block_shift - SECTOR_SHIFT;
	sector_t f = sector >> bshift, l;

	if (unlikely(f >= map->block_count))
		return false;
	if (unlikely(check_add_overflow(sector, count - 1, &l)))
		l = (sector_t)-1;
	l >>= bshift;
	*first = f;
	*last = min_t(sector_t, l, map->block_count - 1);
	return true;
}

static void cbt_map_store_number(struct cbt_map *map, u32 first, u32 last)
{
	u8 number = READ_ONCE(map->changes_number);
	u8 *p, *end = map->data + last + 1;

	/*
	 * Store only bytes that differ: one cacheline of the map stands for
	 * 4 MiB of disk (64 KiB blocks), shared by every CPU writing there,
	 * and storing the number a byte already holds would still take the
	 * line away from the others. Every byte stored gets the same valid
	 * number, so concurrent readers and markers see a number from this
	 * or a racing write.
	 */
	for (p = map->data + first; p < end; p++) {
		if (READ_ONCE(*p) != number)
			WRITE_ONCE(*p, number);
	}
}

/*
 * Clear the hole bits of blocks [@from, @to). Words already clear are only
 * read, so the common write costs no store into the bit array.
 */
static void cbt_map_holes_clear(struct cbt_map *map, u32 from, u32 to)
{
	while (from < to) {
		u32 word = BIT_WORD(from);
		u32 end = min_t(u32, to, (word + 1) * BITS_PER_LONG);
		unsigned long mask = BITMAP_FIRST_WORD_MASK(from) &
				     BITMAP_LAST_WORD_MASK(end);
		atomic_long_t *w = (atomic_long_t *)&map->holes[word];

		if (atomic_long_read(w) & mask)
			atomic_long_andnot(mask, w);
		from = end;
	}
}

/* Set the hole bits of blocks [@from, @to); see cbt_map_mark_hole(). */
static void cbt_map_holes_set(struct cbt_map *map, u32 from, u32 to)
{
	if (READ_ONCE(map->holes_off))
		return;
	/*
	 * The change number is stored before the bit can be seen: a reader
	 * takes the bits first and the numbers after, and must never find a
	 * new hole beside the number of the data it replaced.
	 */
	smp_mb__before_atomic();
	while (from < to) {
		u32 word = BIT_WORD(from);
		u32 end = min_t(u32, to, (word + 1) * BITS_PER_LONG);
		unsigned long mask = BITMAP_FIRST_WORD_MASK(from) &
				     BITMAP_LAST_WORD_MASK(end);

		atomic_long_or(mask, (atomic_long_t *)&map->holes[word]);
		from = end;
	}
}

/**
 * cbt_map_mark() - record a write to a sector range.
 * @map: the map.
 * @sector: first sector written.
 * @count: sectors written, non-zero.
 *
 * The blocks get the current change number and are no holes any more.
 * Safe in any context that may not sleep and concurrently with other
 * markers, checkpoints and copies of the same map. The part of the range
 * beyond the map is ignored: a device that grew gets a new map and
 * generation, which covers those blocks.
 */
void cbt_map_mark(struct cbt_map *map, sector_t sector, sector_t count)
{
	u32 first, last;

	if (!cbt_map_blocks_of(map, sector, count, &first, &last))
		return;
	cbt_map_store_number(map, first, last);
	cbt_map_holes_clear(map, first, last + 1);
}

/**
 * cbt_map_mark_numbers() - cbt_map_mark() without clearing hole bits.
 * @map: the map.
 * @sector: first sector written.
 * @count: sectors written, non-zero.
 *
 * For a write to a tracker that never marked a hole: most never see a
 * discard, and their writes then skip the walk of the bits. A discard
 * racing with the write is seen when the write completes, which clears
 * its bits (cbt_map_fill()). Same context as cbt_map_mark().
 */
void cbt_map_mark_numbers(struct cbt_map *map, sector_t sector, sector_t count)
{
	u32 first, last;

	if (cbt_map_blocks_of(map, sector, count, &first, &last))
		cbt_map_store_number(map, first, last);
}

/**
 * cbt_map_mark_hole() - record a discard, secure erase, write-zeroes or
 *	zone reset of a sector range.
 * @map: the map.
 * @sector: first sector.
 * @count: sectors, non-zero.
 *
 * Marks the blocks like a write; those it covers whole (the device's last
 * block, which may be short, when covered up to the device's end) become
 * holes, the partly covered ones at its ends keep data of their own and are
 * no holes. Same context as cbt_map_mark().
 */
void cbt_map_mark_hole(struct cbt_map *map, sector_t sector, sector_t count)
{
	u32 bshift = map->block_shift - SECTOR_SHIFT;
	sector_t mask = (1ULL << bshift) - 1, end;
	u32 first, last, whole_first, whole_end;

	if (!cbt_map_blocks_of(map, sector, count, &first, &last))
		return;
	cbt_map_store_number(map, first, last);
	if (check_add_overflow(sector, count, &end))
		end = (sector_t)-1;
	end = min(end, map->capacity);
	whole_first = (sector & mask) ? first + 1 : first;
	whole_end = (end == map->capacity) ? last + 1 : end >> bshift;
	if (whole_first > first)
		cbt_map_holes_clear(map, first, first + 1);
	if (whole_end <= last)
		cbt_map_holes_clear(map, last, last + 1);
	if (whole_first < whole_end)
		cbt_map_holes_set(map, whole_first, whole_end);
}

/**
 * cbt_map_fill() - the blocks of a sector range hold data: no holes there.
 * @map: the map.
 * @sector: first sector.
 * @count: sectors, non-zero.
 *
 * For a write that completed (it may have reached the device after a
 * discard that overlapped it in time) and for a discard that failed. The
 * change numbers stay. Same context as cbt_map_mark(), also bi_end_io.
 */
void cbt_map_fill(struct cbt_map *map, sector_t sector, sector_t count)
{
	u32 first, last;

	if (cbt_map_blocks_of(map, sector, count, &first, &last))
		cbt_map_holes_clear(map, first, last + 1);
}

/**
 * cbt_map_holes_off() - report no holes for the rest of the map's life.
 * @map: the map.
 *
 * For a change the module could not follow to its completion: a discard
 * racing with it could leave a bit set over its data. Any context.
 */
void cbt_map_holes_off(struct cbt_map *map)
{
	WRITE_ONCE(map->holes_off, true);
}

/* Every hole bit cleared, in slices: up to 256 MiB of bits. May sleep. */
static void cbt_map_holes_reset(struct cbt_map *map)
{
	u32 done, n;

	for (done = 0; done < map->block_count; done += n) {
		n = min(map->block_count - done, 1U << 23);
		cbt_map_holes_clear(map, done, done + n);
		cond_resched();
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
		cbt_map_holes_reset(map);
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
 * later marks keep their meaning. The hole bits go: whatever made the
 * generation new may have written over a hole. Context: may sleep.
 */
void cbt_map_new_generation(struct cbt_map *map, u8 reason)
{
	cbt_map_holes_reset(map);
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

/**
 * cbt_map_copy_holes() - copy part of the hole bits, eight blocks a byte.
 * @map: as for cbt_map_copy().
 * @offset: first block, a multiple of 8.
 * @length: blocks; @offset + @length is at most @map->block_count.
 * @dst: kernel buffer of DIV_ROUND_UP(@length, 8) bytes; bit i % 8 (least
 *	significant first) of byte i / 8 is block @offset + i, bits past
 *	@length are 0. All zero once the map's holes are off.
 */
void cbt_map_copy_holes(struct cbt_map *map, u32 offset, u32 length, u8 *dst)
{
	u32 i, bytes = DIV_ROUND_UP(length, 8);

	if (READ_ONCE(map->holes_off)) {
		memset(dst, 0, bytes);
		return;
	}
	/* Byte by byte from the words: the same on either endianness. */
	for (i = 0; i < bytes; i++) {
		u32 bit = offset + i * 8;
		unsigned long w = READ_ONCE(map->holes[BIT_WORD(bit)]);

		dst[i] = (w >> (bit % BITS_PER_LONG)) & 0xff;
	}
	if (length % 8)
		dst[bytes - 1] &= (1U << (length % 8)) - 1;
}
