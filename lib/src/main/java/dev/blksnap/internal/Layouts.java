// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.internal;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.List;

/**
 * The structures of {@code include/uapi/linux/blksnap.h} as FFM layouts.
 * Layout names are the C structure names and member names are the C member
 * names; a unit test compares every offset and size with the header compiled
 * at build time. Values use the native byte order; {@code __u8}/{@code __u16}
 * /{@code __u32} members are read as signed Java types, so callers convert
 * with {@code Byte.toUnsignedInt} and friends.
 *
 * <p>The {@code VarHandle}s below take only the segment as coordinate (base
 * offset 0).
 */
public final class Layouts {
	/** {@code struct blksnap_version}. */
	public static final StructLayout VERSION = MemoryLayout.structLayout(
			JAVA_SHORT.withName("major"),
			JAVA_SHORT.withName("minor"),
			JAVA_SHORT.withName("patch"),
			JAVA_SHORT.withName("reserved"),
			JAVA_LONG.withName("features"))
			.withName("blksnap_version");

	/** {@code struct blksnap_bdev}. */
	public static final StructLayout BDEV = MemoryLayout.structLayout(
			JAVA_INT.withName("major"),
			JAVA_INT.withName("minor"))
			.withName("blksnap_bdev");

	/** {@code struct blksnap_tracker_attach}. */
	public static final StructLayout TRACKER_ATTACH = MemoryLayout.structLayout(
			BDEV.withName("dev"),
			JAVA_INT.withName("flags"),
			JAVA_INT.withName("reserved"))
			.withName("blksnap_tracker_attach");

	/** {@code struct blksnap_tracker_list}. */
	public static final StructLayout TRACKER_LIST = MemoryLayout.structLayout(
			JAVA_LONG.withName("devices"),
			JAVA_INT.withName("capacity"),
			JAVA_INT.withName("count"))
			.withName("blksnap_tracker_list");

	/** {@code struct blksnap_cbt_info}. */
	public static final StructLayout CBT_INFO = MemoryLayout.structLayout(
			BDEV.withName("dev"),
			JAVA_LONG.withName("device_capacity"),
			JAVA_INT.withName("block_size"),
			JAVA_INT.withName("block_count"),
			MemoryLayout.sequenceLayout(Uapi.UUID_SIZE, JAVA_BYTE).withName("generation_id"),
			JAVA_BYTE.withName("changes_number"),
			JAVA_BYTE.withName("flags"),
			JAVA_BYTE.withName("generation_reason"),
			MemoryLayout.sequenceLayout(5, JAVA_BYTE).withName("reserved"))
			.withName("blksnap_cbt_info");

	/** {@code struct blksnap_cbt_read}. */
	public static final StructLayout CBT_READ = MemoryLayout.structLayout(
			BDEV.withName("dev"),
			JAVA_INT.withName("offset"),
			JAVA_INT.withName("length"),
			JAVA_LONG.withName("buffer"),
			MemoryLayout.sequenceLayout(Uapi.UUID_SIZE, JAVA_BYTE).withName("generation_id"))
			.withName("blksnap_cbt_read");

	/** {@code struct blksnap_sector_range}. */
	public static final StructLayout SECTOR_RANGE = MemoryLayout.structLayout(
			JAVA_LONG.withName("sector_offset"),
			JAVA_LONG.withName("sector_count"))
			.withName("blksnap_sector_range");

	/** {@code struct blksnap_cbt_mark_dirty}. */
	public static final StructLayout CBT_MARK_DIRTY = MemoryLayout.structLayout(
			BDEV.withName("dev"),
			JAVA_INT.withName("count"),
			JAVA_INT.withName("reserved"),
			JAVA_LONG.withName("ranges"))
			.withName("blksnap_cbt_mark_dirty");

	/** {@code struct blksnap_cbt_checkpoint}. */
	public static final StructLayout CBT_CHECKPOINT = MemoryLayout.structLayout(
			BDEV.withName("dev"),
			MemoryLayout.sequenceLayout(Uapi.UUID_SIZE, JAVA_BYTE).withName("generation_id"),
			JAVA_BYTE.withName("closed_number"),
			JAVA_BYTE.withName("changes_number"),
			MemoryLayout.sequenceLayout(6, JAVA_BYTE).withName("reserved"))
			.withName("blksnap_cbt_checkpoint");

	/** {@code struct blksnap_snapshot_create}. */
	public static final StructLayout SNAPSHOT_CREATE = MemoryLayout.structLayout(
			JAVA_INT.withName("storage_fd"),
			JAVA_INT.withName("flags"),
			JAVA_LONG.withName("limit"),
			JAVA_LONG.withName("id"),
			MemoryLayout.sequenceLayout(2, JAVA_LONG).withName("reserved"))
			.withName("blksnap_snapshot_create");

	/** {@code struct blksnap_snapshot_destroy}. */
	public static final StructLayout SNAPSHOT_DESTROY = MemoryLayout.structLayout(
			JAVA_LONG.withName("id"),
			JAVA_INT.withName("flags"),
			JAVA_INT.withName("reserved"))
			.withName("blksnap_snapshot_destroy");

	/** {@code struct blksnap_snapshot_add}. */
	public static final StructLayout SNAPSHOT_ADD = MemoryLayout.structLayout(
			JAVA_LONG.withName("id"),
			BDEV.withName("dev"),
			JAVA_INT.withName("flags"),
			JAVA_INT.withName("reserved"))
			.withName("blksnap_snapshot_add");

	/** {@code struct blksnap_snapshot_take}. */
	public static final StructLayout SNAPSHOT_TAKE = MemoryLayout.structLayout(
			JAVA_LONG.withName("id"),
			JAVA_INT.withName("flags"),
			JAVA_INT.withName("reserved"),
			JAVA_LONG.withName("hold_ns"),
			JAVA_LONG.withName("freeze_ns"),
			JAVA_INT.withName("frozen"),
			JAVA_INT.withName("freeze_failed"))
			.withName("blksnap_snapshot_take");

	/** {@code struct blksnap_snapshot_list}. */
	public static final StructLayout SNAPSHOT_LIST = MemoryLayout.structLayout(
			JAVA_LONG.withName("ids"),
			JAVA_INT.withName("capacity"),
			JAVA_INT.withName("count"))
			.withName("blksnap_snapshot_list");

	/** {@code struct blksnap_snapshot_device}. */
	public static final StructLayout SNAPSHOT_DEVICE = MemoryLayout.structLayout(
			BDEV.withName("origin"),
			BDEV.withName("image"),
			JAVA_LONG.withName("capacity"),
			JAVA_INT.withName("chunk_size"),
			JAVA_INT.withName("error"),
			JAVA_INT.withName("freeze_error"),
			MemoryLayout.sequenceLayout(Uapi.UUID_SIZE, JAVA_BYTE).withName("generation_id"),
			JAVA_BYTE.withName("closed_number"),
			JAVA_BYTE.withName("freeze"),
			MemoryLayout.sequenceLayout(2, JAVA_BYTE).withName("reserved1"),
			JAVA_LONG.withName("writes_held"),
			JAVA_LONG.withName("chunks_copied"),
			JAVA_LONG.withName("chunks_stored"),
			JAVA_LONG.withName("discards_dropped"),
			MemoryLayout.sequenceLayout(4, JAVA_LONG).withName("reserved"))
			.withName("blksnap_snapshot_device");

	/** {@code struct blksnap_snapshot_info}. */
	public static final StructLayout SNAPSHOT_INFO = MemoryLayout.structLayout(
			JAVA_LONG.withName("id"),
			JAVA_LONG.withName("devices"),
			JAVA_INT.withName("capacity"),
			JAVA_INT.withName("count"),
			JAVA_INT.withName("state"),
			JAVA_INT.withName("error"),
			JAVA_INT.withName("flags"),
			JAVA_INT.withName("storage_kind"),
			BDEV.withName("storage_dev"),
			JAVA_LONG.withName("storage_used"),
			JAVA_LONG.withName("storage_size"),
			JAVA_LONG.withName("storage_limit"),
			MemoryLayout.sequenceLayout(4, JAVA_LONG).withName("reserved"))
			.withName("blksnap_snapshot_info");

	/** {@code struct blksnap_snapshot_event}. */
	public static final StructLayout SNAPSHOT_EVENT = MemoryLayout.structLayout(
			JAVA_LONG.withName("id"),
			JAVA_INT.withName("timeout_ms"),
			JAVA_INT.withName("flags"),
			JAVA_INT.withName("code"),
			JAVA_INT.withName("error"),
			BDEV.withName("dev"),
			JAVA_LONG.withName("time_ns"),
			JAVA_LONG.withName("used"),
			JAVA_LONG.withName("limit"),
			JAVA_INT.withName("lost"),
			JAVA_INT.withName("reserved"))
			.withName("blksnap_snapshot_event");

	/** {@code struct blksnap_snapshot_add_storage}. */
	public static final StructLayout SNAPSHOT_ADD_STORAGE = MemoryLayout.structLayout(
			JAVA_LONG.withName("id"),
			JAVA_INT.withName("storage_fd"),
			JAVA_INT.withName("flags"),
			JAVA_LONG.withName("limit"),
			MemoryLayout.sequenceLayout(2, JAVA_LONG).withName("reserved"))
			.withName("blksnap_snapshot_add_storage");

	/** Every structure of the contract, for tests and diagnostics. */
	public static final List<StructLayout> ALL = List.of(VERSION, BDEV, TRACKER_ATTACH,
			TRACKER_LIST, CBT_INFO, CBT_READ, SECTOR_RANGE, CBT_MARK_DIRTY, CBT_CHECKPOINT,
			SNAPSHOT_CREATE, SNAPSHOT_DESTROY, SNAPSHOT_ADD, SNAPSHOT_TAKE, SNAPSHOT_LIST,
			SNAPSHOT_DEVICE, SNAPSHOT_INFO, SNAPSHOT_EVENT, SNAPSHOT_ADD_STORAGE);

	/** blksnap_version.major (short). */
	public static final VarHandle VERSION_MAJOR = handle(VERSION, "major");
	/** blksnap_version.minor (short). */
	public static final VarHandle VERSION_MINOR = handle(VERSION, "minor");
	/** blksnap_version.patch (short). */
	public static final VarHandle VERSION_PATCH = handle(VERSION, "patch");
	/** blksnap_version.features (long). */
	public static final VarHandle VERSION_FEATURES = handle(VERSION, "features");

	/** blksnap_bdev.major (int). */
	public static final VarHandle BDEV_MAJOR = handle(BDEV, "major");
	/** blksnap_bdev.minor (int). */
	public static final VarHandle BDEV_MINOR = handle(BDEV, "minor");

	/** blksnap_tracker_attach.dev.major (int). */
	public static final VarHandle TRACKER_ATTACH_MAJOR = handle(TRACKER_ATTACH, "dev", "major");
	/** blksnap_tracker_attach.dev.minor (int). */
	public static final VarHandle TRACKER_ATTACH_MINOR = handle(TRACKER_ATTACH, "dev", "minor");

	/** blksnap_tracker_list.devices (long, user pointer). */
	public static final VarHandle TRACKER_LIST_DEVICES = handle(TRACKER_LIST, "devices");
	/** blksnap_tracker_list.capacity (int). */
	public static final VarHandle TRACKER_LIST_CAPACITY = handle(TRACKER_LIST, "capacity");
	/** blksnap_tracker_list.count (int). */
	public static final VarHandle TRACKER_LIST_COUNT = handle(TRACKER_LIST, "count");

	/** blksnap_cbt_info.dev.major (int). */
	public static final VarHandle CBT_INFO_MAJOR = handle(CBT_INFO, "dev", "major");
	/** blksnap_cbt_info.dev.minor (int). */
	public static final VarHandle CBT_INFO_MINOR = handle(CBT_INFO, "dev", "minor");
	/** blksnap_cbt_info.device_capacity (long). */
	public static final VarHandle CBT_INFO_DEVICE_CAPACITY = handle(CBT_INFO, "device_capacity");
	/** blksnap_cbt_info.block_size (int). */
	public static final VarHandle CBT_INFO_BLOCK_SIZE = handle(CBT_INFO, "block_size");
	/** blksnap_cbt_info.block_count (int). */
	public static final VarHandle CBT_INFO_BLOCK_COUNT = handle(CBT_INFO, "block_count");
	/** Offset of blksnap_cbt_info.generation_id. */
	public static final long CBT_INFO_GENERATION_ID = CBT_INFO.byteOffset(groupElement("generation_id"));
	/** blksnap_cbt_info.changes_number (byte). */
	public static final VarHandle CBT_INFO_CHANGES_NUMBER = handle(CBT_INFO, "changes_number");
	/** blksnap_cbt_info.flags (byte). */
	public static final VarHandle CBT_INFO_FLAGS = handle(CBT_INFO, "flags");
	/** blksnap_cbt_info.generation_reason (byte). */
	public static final VarHandle CBT_INFO_GENERATION_REASON = handle(CBT_INFO, "generation_reason");

	/** blksnap_cbt_read.dev.major (int). */
	public static final VarHandle CBT_READ_MAJOR = handle(CBT_READ, "dev", "major");
	/** blksnap_cbt_read.dev.minor (int). */
	public static final VarHandle CBT_READ_MINOR = handle(CBT_READ, "dev", "minor");
	/** blksnap_cbt_read.offset (int). */
	public static final VarHandle CBT_READ_OFFSET = handle(CBT_READ, "offset");
	/** blksnap_cbt_read.length (int). */
	public static final VarHandle CBT_READ_LENGTH = handle(CBT_READ, "length");
	/** blksnap_cbt_read.buffer (long, user pointer). */
	public static final VarHandle CBT_READ_BUFFER = handle(CBT_READ, "buffer");
	/** Offset of blksnap_cbt_read.generation_id. */
	public static final long CBT_READ_GENERATION_ID = CBT_READ.byteOffset(groupElement("generation_id"));

	/** blksnap_sector_range.sector_offset (long). */
	public static final VarHandle SECTOR_RANGE_OFFSET = handle(SECTOR_RANGE, "sector_offset");
	/** blksnap_sector_range.sector_count (long). */
	public static final VarHandle SECTOR_RANGE_COUNT = handle(SECTOR_RANGE, "sector_count");

	/** blksnap_cbt_mark_dirty.dev.major (int). */
	public static final VarHandle CBT_MARK_DIRTY_MAJOR = handle(CBT_MARK_DIRTY, "dev", "major");
	/** blksnap_cbt_mark_dirty.dev.minor (int). */
	public static final VarHandle CBT_MARK_DIRTY_MINOR = handle(CBT_MARK_DIRTY, "dev", "minor");
	/** blksnap_cbt_mark_dirty.count (int). */
	public static final VarHandle CBT_MARK_DIRTY_COUNT = handle(CBT_MARK_DIRTY, "count");
	/** blksnap_cbt_mark_dirty.ranges (long, user pointer). */
	public static final VarHandle CBT_MARK_DIRTY_RANGES = handle(CBT_MARK_DIRTY, "ranges");

	/** blksnap_cbt_checkpoint.dev.major (int). */
	public static final VarHandle CBT_CHECKPOINT_MAJOR = handle(CBT_CHECKPOINT, "dev", "major");
	/** blksnap_cbt_checkpoint.dev.minor (int). */
	public static final VarHandle CBT_CHECKPOINT_MINOR = handle(CBT_CHECKPOINT, "dev", "minor");
	/** Offset of blksnap_cbt_checkpoint.generation_id. */
	public static final long CBT_CHECKPOINT_GENERATION_ID = CBT_CHECKPOINT.byteOffset(groupElement("generation_id"));
	/** blksnap_cbt_checkpoint.closed_number (byte). */
	public static final VarHandle CBT_CHECKPOINT_CLOSED_NUMBER = handle(CBT_CHECKPOINT, "closed_number");
	/** blksnap_cbt_checkpoint.changes_number (byte). */
	public static final VarHandle CBT_CHECKPOINT_CHANGES_NUMBER = handle(CBT_CHECKPOINT, "changes_number");

	/** blksnap_snapshot_create.storage_fd (int). */
	public static final VarHandle SNAPSHOT_CREATE_STORAGE_FD = handle(SNAPSHOT_CREATE, "storage_fd");
	/** blksnap_snapshot_create.flags (int). */
	public static final VarHandle SNAPSHOT_CREATE_FLAGS = handle(SNAPSHOT_CREATE, "flags");
	/** blksnap_snapshot_create.limit (long). */
	public static final VarHandle SNAPSHOT_CREATE_LIMIT = handle(SNAPSHOT_CREATE, "limit");
	/** blksnap_snapshot_create.id (long). */
	public static final VarHandle SNAPSHOT_CREATE_ID = handle(SNAPSHOT_CREATE, "id");

	/** blksnap_snapshot_destroy.id (long). */
	public static final VarHandle SNAPSHOT_DESTROY_ID = handle(SNAPSHOT_DESTROY, "id");

	/** blksnap_snapshot_add.id (long). */
	public static final VarHandle SNAPSHOT_ADD_ID = handle(SNAPSHOT_ADD, "id");
	/** blksnap_snapshot_add.dev.major (int). */
	public static final VarHandle SNAPSHOT_ADD_MAJOR = handle(SNAPSHOT_ADD, "dev", "major");
	/** blksnap_snapshot_add.dev.minor (int). */
	public static final VarHandle SNAPSHOT_ADD_MINOR = handle(SNAPSHOT_ADD, "dev", "minor");

	/** blksnap_snapshot_take.id (long). */
	public static final VarHandle SNAPSHOT_TAKE_ID = handle(SNAPSHOT_TAKE, "id");
	/** blksnap_snapshot_take.flags (int). */
	public static final VarHandle SNAPSHOT_TAKE_FLAGS = handle(SNAPSHOT_TAKE, "flags");
	/** blksnap_snapshot_take.hold_ns (long). */
	public static final VarHandle SNAPSHOT_TAKE_HOLD_NS = handle(SNAPSHOT_TAKE, "hold_ns");
	/** blksnap_snapshot_take.freeze_ns (long). */
	public static final VarHandle SNAPSHOT_TAKE_FREEZE_NS = handle(SNAPSHOT_TAKE, "freeze_ns");
	/** blksnap_snapshot_take.frozen (int). */
	public static final VarHandle SNAPSHOT_TAKE_FROZEN = handle(SNAPSHOT_TAKE, "frozen");
	/** blksnap_snapshot_take.freeze_failed (int). */
	public static final VarHandle SNAPSHOT_TAKE_FREEZE_FAILED = handle(SNAPSHOT_TAKE, "freeze_failed");

	/** blksnap_snapshot_list.ids (long, user pointer). */
	public static final VarHandle SNAPSHOT_LIST_IDS = handle(SNAPSHOT_LIST, "ids");
	/** blksnap_snapshot_list.capacity (int). */
	public static final VarHandle SNAPSHOT_LIST_CAPACITY = handle(SNAPSHOT_LIST, "capacity");
	/** blksnap_snapshot_list.count (int). */
	public static final VarHandle SNAPSHOT_LIST_COUNT = handle(SNAPSHOT_LIST, "count");

	/** blksnap_snapshot_device.origin.major (int). */
	public static final VarHandle SNAPSHOT_DEVICE_ORIGIN_MAJOR = handle(SNAPSHOT_DEVICE, "origin", "major");
	/** blksnap_snapshot_device.origin.minor (int). */
	public static final VarHandle SNAPSHOT_DEVICE_ORIGIN_MINOR = handle(SNAPSHOT_DEVICE, "origin", "minor");
	/** blksnap_snapshot_device.image.major (int). */
	public static final VarHandle SNAPSHOT_DEVICE_IMAGE_MAJOR = handle(SNAPSHOT_DEVICE, "image", "major");
	/** blksnap_snapshot_device.image.minor (int). */
	public static final VarHandle SNAPSHOT_DEVICE_IMAGE_MINOR = handle(SNAPSHOT_DEVICE, "image", "minor");
	/** blksnap_snapshot_device.capacity (long). */
	public static final VarHandle SNAPSHOT_DEVICE_CAPACITY = handle(SNAPSHOT_DEVICE, "capacity");
	/** blksnap_snapshot_device.chunk_size (int). */
	public static final VarHandle SNAPSHOT_DEVICE_CHUNK_SIZE = handle(SNAPSHOT_DEVICE, "chunk_size");
	/** blksnap_snapshot_device.error (int). */
	public static final VarHandle SNAPSHOT_DEVICE_ERROR = handle(SNAPSHOT_DEVICE, "error");
	/** blksnap_snapshot_device.freeze_error (int). */
	public static final VarHandle SNAPSHOT_DEVICE_FREEZE_ERROR = handle(SNAPSHOT_DEVICE, "freeze_error");
	/** Offset of blksnap_snapshot_device.generation_id. */
	public static final long SNAPSHOT_DEVICE_GENERATION_ID = SNAPSHOT_DEVICE.byteOffset(groupElement("generation_id"));
	/** blksnap_snapshot_device.closed_number (byte). */
	public static final VarHandle SNAPSHOT_DEVICE_CLOSED_NUMBER = handle(SNAPSHOT_DEVICE, "closed_number");
	/** blksnap_snapshot_device.freeze (byte). */
	public static final VarHandle SNAPSHOT_DEVICE_FREEZE = handle(SNAPSHOT_DEVICE, "freeze");
	/** blksnap_snapshot_device.writes_held (long). */
	public static final VarHandle SNAPSHOT_DEVICE_WRITES_HELD = handle(SNAPSHOT_DEVICE, "writes_held");
	/** blksnap_snapshot_device.chunks_copied (long). */
	public static final VarHandle SNAPSHOT_DEVICE_CHUNKS_COPIED = handle(SNAPSHOT_DEVICE, "chunks_copied");
	/** blksnap_snapshot_device.chunks_stored (long). */
	public static final VarHandle SNAPSHOT_DEVICE_CHUNKS_STORED = handle(SNAPSHOT_DEVICE, "chunks_stored");
	/** blksnap_snapshot_device.discards_dropped (long). */
	public static final VarHandle SNAPSHOT_DEVICE_DISCARDS_DROPPED = handle(SNAPSHOT_DEVICE, "discards_dropped");

	/** blksnap_snapshot_info.id (long). */
	public static final VarHandle SNAPSHOT_INFO_ID = handle(SNAPSHOT_INFO, "id");
	/** blksnap_snapshot_add_storage.id (long). */
	public static final VarHandle SNAPSHOT_ADD_STORAGE_ID = handle(SNAPSHOT_ADD_STORAGE, "id");
	/** blksnap_snapshot_add_storage.storage_fd (int). */
	public static final VarHandle SNAPSHOT_ADD_STORAGE_STORAGE_FD = handle(SNAPSHOT_ADD_STORAGE, "storage_fd");
	/** blksnap_snapshot_add_storage.limit (long). */
	public static final VarHandle SNAPSHOT_ADD_STORAGE_LIMIT = handle(SNAPSHOT_ADD_STORAGE, "limit");
	/** blksnap_snapshot_event.id (long). */
	public static final VarHandle SNAPSHOT_EVENT_ID = handle(SNAPSHOT_EVENT, "id");
	/** blksnap_snapshot_event.timeout_ms (int). */
	public static final VarHandle SNAPSHOT_EVENT_TIMEOUT_MS = handle(SNAPSHOT_EVENT, "timeout_ms");
	/** blksnap_snapshot_event.code (int). */
	public static final VarHandle SNAPSHOT_EVENT_CODE = handle(SNAPSHOT_EVENT, "code");
	/** blksnap_snapshot_event.error (int). */
	public static final VarHandle SNAPSHOT_EVENT_ERROR = handle(SNAPSHOT_EVENT, "error");
	/** blksnap_snapshot_event.dev.major (int). */
	public static final VarHandle SNAPSHOT_EVENT_DEV_MAJOR = handle(SNAPSHOT_EVENT, "dev", "major");
	/** blksnap_snapshot_event.dev.minor (int). */
	public static final VarHandle SNAPSHOT_EVENT_DEV_MINOR = handle(SNAPSHOT_EVENT, "dev", "minor");
	/** blksnap_snapshot_event.time_ns (long). */
	public static final VarHandle SNAPSHOT_EVENT_TIME_NS = handle(SNAPSHOT_EVENT, "time_ns");
	/** blksnap_snapshot_event.used (long). */
	public static final VarHandle SNAPSHOT_EVENT_USED = handle(SNAPSHOT_EVENT, "used");
	/** blksnap_snapshot_event.limit (long). */
	public static final VarHandle SNAPSHOT_EVENT_LIMIT = handle(SNAPSHOT_EVENT, "limit");
	/** blksnap_snapshot_event.lost (int). */
	public static final VarHandle SNAPSHOT_EVENT_LOST = handle(SNAPSHOT_EVENT, "lost");
	/** blksnap_snapshot_info.devices (long, user pointer). */
	public static final VarHandle SNAPSHOT_INFO_DEVICES = handle(SNAPSHOT_INFO, "devices");
	/** blksnap_snapshot_info.capacity (int). */
	public static final VarHandle SNAPSHOT_INFO_CAPACITY = handle(SNAPSHOT_INFO, "capacity");
	/** blksnap_snapshot_info.count (int). */
	public static final VarHandle SNAPSHOT_INFO_COUNT = handle(SNAPSHOT_INFO, "count");
	/** blksnap_snapshot_info.state (int). */
	public static final VarHandle SNAPSHOT_INFO_STATE = handle(SNAPSHOT_INFO, "state");
	/** blksnap_snapshot_info.error (int). */
	public static final VarHandle SNAPSHOT_INFO_ERROR = handle(SNAPSHOT_INFO, "error");
	/** blksnap_snapshot_info.flags (int). */
	public static final VarHandle SNAPSHOT_INFO_FLAGS = handle(SNAPSHOT_INFO, "flags");
	/** blksnap_snapshot_info.storage_kind (int). */
	public static final VarHandle SNAPSHOT_INFO_STORAGE_KIND = handle(SNAPSHOT_INFO, "storage_kind");
	/** blksnap_snapshot_info.storage_dev.major (int). */
	public static final VarHandle SNAPSHOT_INFO_STORAGE_MAJOR = handle(SNAPSHOT_INFO, "storage_dev", "major");
	/** blksnap_snapshot_info.storage_dev.minor (int). */
	public static final VarHandle SNAPSHOT_INFO_STORAGE_MINOR = handle(SNAPSHOT_INFO, "storage_dev", "minor");
	/** blksnap_snapshot_info.storage_used (long). */
	public static final VarHandle SNAPSHOT_INFO_STORAGE_USED = handle(SNAPSHOT_INFO, "storage_used");
	/** blksnap_snapshot_info.storage_size (long). */
	public static final VarHandle SNAPSHOT_INFO_STORAGE_SIZE = handle(SNAPSHOT_INFO, "storage_size");
	/** blksnap_snapshot_info.storage_limit (long). */
	public static final VarHandle SNAPSHOT_INFO_STORAGE_LIMIT = handle(SNAPSHOT_INFO, "storage_limit");

	private Layouts() {
	}

	/** A member's handle with the base offset fixed at 0. */
	private static VarHandle handle(StructLayout layout, String... path) {
		PathElement[] elements = new PathElement[path.length];
		for (int i = 0; i < path.length; i++)
			elements[i] = groupElement(path[i]);
		return MethodHandles.insertCoordinates(layout.varHandle(elements), 1, 0L);
	}
}
