// SPDX-License-Identifier: GPL-2.0
package dev.blksnap;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.MemoryLayout;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.locks.ReentrantReadWriteLock;

import dev.blksnap.internal.Errno;
import dev.blksnap.internal.Layouts;
import dev.blksnap.internal.RawIoctl;
import dev.blksnap.internal.Uapi;

/**
 * An open blksnap control device: trackers and their changed-block maps.
 *
 * <p>Calls may come from several threads at once. {@link #close()} waits for
 * calls in progress; later calls throw {@link IllegalStateException}.
 *
 * <pre>{@code
 * try (BlksnapControl ctl = BlksnapControl.open()) {
 *     DeviceId dev = DeviceId.of(Path.of("/dev/sdb"));
 *     ctl.attach(dev);
 *     Checkpoint cp = ctl.checkpoint(dev);
 *     // ... writes happen ...
 *     CbtMap map = ctl.readMap(dev);
 *     if (map.info().generation().equals(cp.generation()) && !map.info().corrupted())
 *         for (ByteRange r : map.changedSince(cp.closedNumber())) copy(r);
 *     else
 *         fullBackup();
 * }
 * }</pre>
 */
public final class BlksnapControl implements AutoCloseable {
	/** Where udev creates the control device. */
	public static final Path DEFAULT_PATH = Path.of("/dev", Uapi.CTL_NAME);

	/** Map bytes fetched per CBT_READ call. */
	static final int READ_CHUNK = 1 << 20;
	/** Attempts of {@link #readMap(DeviceId)} before giving up on a changing generation. */
	static final int READ_ATTEMPTS = 8;
	/** Attempts of {@link #trackers()} before giving up on a growing list. */
	static final int LIST_ATTEMPTS = 8;

	/**
	 * The system calls a control device makes, so tests can stand in for
	 * the kernel.
	 */
	interface Syscalls {
		/** ioctl(2); returns the result or -errno. */
		int ioctl(int fd, long request, MemorySegment arg);

		/** close(2); returns 0 or -errno. */
		int close(int fd);

		/** open(2) of a snapshot's storage; returns the descriptor or -errno. */
		default int open(Path path, int flags) {
			return RawIoctl.open(path, flags);
		}

		/** close(2) of a storage descriptor; returns 0 or -errno. */
		default int closeFile(int fd) {
			return RawIoctl.close(fd);
		}
	}

	private static final Syscalls NATIVE = new Syscalls() {
		@Override
		public int ioctl(int fd, long request, MemorySegment arg) {
			return RawIoctl.ioctl(fd, request, arg);
		}

		@Override
		public int close(int fd) {
			return RawIoctl.close(fd);
		}
	};

	private final Path path;
	private final int fd;
	private final Syscalls sys;
	/** Calls hold the read lock; close() takes the write lock so no call runs on a closed descriptor. */
	private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
	/** Guarded by {@link #lock}. */
	private boolean closed;

	BlksnapControl(Path path, int fd, Syscalls sys) {
		this.path = path;
		this.fd = fd;
		this.sys = sys;
	}

	/**
	 * Opens {@link #DEFAULT_PATH}.
	 *
	 * @return the open control device
	 * @throws ModuleNotLoadedException   when the device does not exist
	 * @throws PermissionDeniedException when the caller is not root
	 * @throws BlksnapException           on any other failure
	 */
	public static BlksnapControl open() throws BlksnapException {
		return open(DEFAULT_PATH);
	}

	/**
	 * Opens a control device.
	 *
	 * @param control its path
	 * @return the open control device
	 * @throws ModuleNotLoadedException   when the device does not exist
	 * @throws PermissionDeniedException when the caller is not root
	 * @throws BlksnapException           on any other failure
	 */
	public static BlksnapControl open(Path control) throws BlksnapException {
		String operation = "open " + control;
		int fd = RawIoctl.openControl(control);
		if (fd >= 0)
			return new BlksnapControl(control, fd, NATIVE);
		int errno = -fd;
		throw switch (errno) {
			// ENXIO/ENODEV: a node left in a static /dev with no driver behind it.
			case Errno.ENOENT, Errno.ENXIO, Errno.ENODEV -> new ModuleNotLoadedException(operation, errno,
					"blksnap control device not found", "load the module: modprobe blksnap");
			default -> BlksnapException.fromErrno(operation, errno);
		};
	}

	/**
	 * The module's contract version and features.
	 *
	 * @return the version
	 * @throws BlksnapException when the request fails
	 */
	public ModuleVersion version() throws BlksnapException {
		try (Arena arena = Arena.ofConfined()) {
			MemorySegment v = arena.allocate(Layouts.VERSION);
			call("version", RawIoctl.VERSION, v);
			return new ModuleVersion(Short.toUnsignedInt((short) Layouts.VERSION_MAJOR.get(v)),
					Short.toUnsignedInt((short) Layouts.VERSION_MINOR.get(v)),
					Short.toUnsignedInt((short) Layouts.VERSION_PATCH.get(v)),
					(long) Layouts.VERSION_FEATURES.get(v));
		}
	}

	/**
	 * Starts tracking a device. Its map starts a new generation.
	 *
	 * @param dev the device
	 * @throws NoSuchDeviceException       when there is no such block device
	 * @throws AlreadyTrackedException     when it already has a tracker
	 * @throws KernelOutOfMemoryException when the map cannot be allocated
	 * @throws BlksnapException            on any other failure
	 */
	public void attach(DeviceId dev) throws BlksnapException {
		try (Arena arena = Arena.ofConfined()) {
			MemorySegment a = arena.allocate(Layouts.TRACKER_ATTACH);
			Layouts.TRACKER_ATTACH_MAJOR.set(a, dev.major());
			Layouts.TRACKER_ATTACH_MINOR.set(a, dev.minor());
			call("tracker attach " + dev, RawIoctl.TRACKER_ATTACH, a);
		}
	}

	/**
	 * Stops tracking a device and drops its map.
	 *
	 * @param dev the device
	 * @throws NotTrackedException when it has no tracker
	 * @throws BlksnapException    on any other failure
	 */
	public void detach(DeviceId dev) throws BlksnapException {
		try (Arena arena = Arena.ofConfined()) {
			call("tracker detach " + dev, RawIoctl.TRACKER_DETACH, bdev(arena, dev));
		}
	}

	/**
	 * The devices that have a tracker. When trackers are attached while the
	 * list is fetched, it is fetched again with more room.
	 *
	 * @return the devices, in the module's order
	 * @throws BlksnapException when the request fails, or the list keeps growing
	 */
	public List<DeviceId> trackers() throws BlksnapException {
		try (Arena arena = Arena.ofConfined()) {
			MemorySegment list = arena.allocate(Layouts.TRACKER_LIST);
			// capacity 0 asks only for the count
			call("tracker list", RawIoctl.TRACKER_LIST, list);
			long count = Integer.toUnsignedLong((int) Layouts.TRACKER_LIST_COUNT.get(list));
			for (int attempt = 0; attempt < LIST_ATTEMPTS; attempt++) {
				if (count == 0)
					return List.of();
				// A little room for attaches racing with this call.
				int room = (int) Math.min(count + 8, Uapi.TRACKER_LIST_MAX);
				MemorySegment devices = arena.allocate(MemoryLayout.sequenceLayout(room, Layouts.BDEV));
				list.fill((byte) 0);
				Layouts.TRACKER_LIST_DEVICES.set(list, devices.address());
				Layouts.TRACKER_LIST_CAPACITY.set(list, room);
				call("tracker list", RawIoctl.TRACKER_LIST, list);
				count = Integer.toUnsignedLong((int) Layouts.TRACKER_LIST_COUNT.get(list));
				// At the ceiling one call cannot return more; give what fits.
				if (count <= room || room == Uapi.TRACKER_LIST_MAX) {
					int n = (int) Math.min(count, room);
					List<DeviceId> result = new ArrayList<>(n);
					for (int i = 0; i < n; i++) {
						MemorySegment e = devices.asSlice(i * Layouts.BDEV.byteSize(), Layouts.BDEV);
						result.add(new DeviceId((int) Layouts.BDEV_MAJOR.get(e), (int) Layouts.BDEV_MINOR.get(e)));
					}
					return List.copyOf(result);
				}
			}
		}
		throw new BlksnapErrnoException("tracker list", Errno.EAGAIN, "the list kept growing while being read",
				"retry when fewer trackers are being attached");
	}

	/**
	 * The state of a device's changed-block map.
	 *
	 * @param dev the device
	 * @return the state
	 * @throws NotTrackedException when it has no tracker
	 * @throws BlksnapException    on any other failure
	 */
	public CbtInfo cbtInfo(DeviceId dev) throws BlksnapException {
		try (Arena arena = Arena.ofConfined()) {
			MemorySegment info = arena.allocate(Layouts.CBT_INFO);
			Layouts.CBT_INFO_MAJOR.set(info, dev.major());
			Layouts.CBT_INFO_MINOR.set(info, dev.minor());
			call("cbt info " + dev, RawIoctl.CBT_INFO, info);
			return new CbtInfo(dev, (long) Layouts.CBT_INFO_DEVICE_CAPACITY.get(info),
					(int) Layouts.CBT_INFO_BLOCK_SIZE.get(info),
					(int) Layouts.CBT_INFO_BLOCK_COUNT.get(info),
					uuid(info, Layouts.CBT_INFO_GENERATION_ID),
					Byte.toUnsignedInt((byte) Layouts.CBT_INFO_CHANGES_NUMBER.get(info)),
					((byte) Layouts.CBT_INFO_FLAGS.get(info) & Uapi.CBT_FLAG_CORRUPTED) != 0,
					GenerationReason.of(Byte.toUnsignedInt((byte) Layouts.CBT_INFO_GENERATION_REASON.get(info))));
		}
	}

	/**
	 * Reads a device's whole map under one generation: the info, then the
	 * hole bits (when the module has them), then the change numbers, in
	 * chunks of 1 MiB. When the generation changes in between (attach,
	 * resize, wrap), everything is read again, a few times at most.
	 *
	 * <p>The hole bits come first: a hole is only trusted beside a change
	 * number read after it (see {@link CbtMap#changesSince(int, int)}).
	 *
	 * @param dev the device
	 * @return the map and the info it belongs to
	 * @throws NotTrackedException when it has no tracker
	 * @throws BlksnapException    on any other failure, or when the generation
	 *                             keeps changing (EAGAIN)
	 */
	public CbtMap readMap(DeviceId dev) throws BlksnapException {
		String operation = "cbt read " + dev;
		boolean holes = version().hasHoles();
		for (int attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
			CbtInfo info = cbtInfo(dev);
			byte[] changes = new byte[info.blockCount()];
			byte[] bits = new byte[(changes.length + 7) / 8];
			if ((!holes || readWhole(dev, info, bits, changes.length, RawIoctl.CBT_READ_HOLES, operation))
					&& readWhole(dev, info, changes, changes.length, RawIoctl.CBT_READ, operation))
				return new CbtMap(info, changes, BitSet.valueOf(bits));
		}
		throw new BlksnapErrnoException(operation, Errno.EAGAIN, "the map changed generation while being read",
				"retry when the device is not being resized");
	}

	/**
	 * Reads {@code blocks} blocks of the map into {@code dst}: with CBT_READ
	 * a change number per byte, with CBT_READ_HOLES eight hole bits per byte.
	 * False when the generation changed meanwhile.
	 */
	private boolean readWhole(DeviceId dev, CbtInfo info, byte[] dst, int blocks, long request, String operation)
			throws BlksnapException {
		int perByte = request == RawIoctl.CBT_READ_HOLES ? 8 : 1;
		int chunk = READ_CHUNK * perByte;
		try (Arena arena = Arena.ofConfined()) {
			MemorySegment req = arena.allocate(Layouts.CBT_READ);
			MemorySegment buffer = arena.allocate(Math.max(1, Math.min(READ_CHUNK, dst.length)));
			byte[] generation = new byte[Uapi.UUID_SIZE];
			int offset = 0;
			while (offset < blocks) {
				int length = Math.min(chunk, blocks - offset);
				fillRead(req, dev, offset, length, buffer);
				int rc = ioctl(request, req);
				// ERANGE: the map shrank under us, which starts a new generation.
				if (rc == -Errno.ERANGE)
					return false;
				if (rc < 0)
					throw BlksnapException.fromErrno(operation, -rc);
				MemorySegment.copy(req, JAVA_BYTE, Layouts.CBT_READ_GENERATION_ID, generation, 0, generation.length);
				int copied = (int) Layouts.CBT_READ_LENGTH.get(req);
				// A short copy of holes ends on a byte, or the next offset would be refused.
				if (!uuid(generation).equals(info.generation()) || copied <= 0 || copied > length
						|| copied < length && copied % perByte != 0)
					return false;
				MemorySegment.copy(buffer, JAVA_BYTE, 0, dst, offset / perByte, (copied + perByte - 1) / perByte);
				offset += copied;
			}
			return true;
		}
	}

	/**
	 * Copies part of a device's map as it is now, without regard to its
	 * generation.
	 *
	 * @param dev    the device
	 * @param offset the first block
	 * @param dst    where to copy the change numbers
	 * @param dstOff the first index of {@code dst} to fill
	 * @param length how many blocks to copy, {@code > 0}
	 * @return the bytes copied, fewer than {@code length} when the map ends first
	 * @throws NotTrackedException     when it has no tracker
	 * @throws InvalidRequestException when {@code offset} is at or past the end of the map (ERANGE)
	 * @throws BlksnapException        on any other failure
	 */
	public int readMap(DeviceId dev, int offset, byte[] dst, int dstOff, int length) throws BlksnapException {
		Objects.requireNonNull(dev, "dev");
		Objects.checkFromIndexSize(dstOff, length, dst.length);
		if (offset < 0 || length <= 0)
			throw new IllegalArgumentException("bad map range " + offset + "+" + length);
		try (Arena arena = Arena.ofConfined()) {
			MemorySegment req = arena.allocate(Layouts.CBT_READ);
			MemorySegment buffer = arena.allocate(length);
			fillRead(req, dev, offset, length, buffer);
			call("cbt read " + dev + " at " + offset, RawIoctl.CBT_READ, req);
			int copied = Math.min((int) Layouts.CBT_READ_LENGTH.get(req), length);
			MemorySegment.copy(buffer, JAVA_BYTE, 0, dst, dstOff, copied);
			return copied;
		}
	}

	private static void fillRead(MemorySegment req, DeviceId dev, int offset, int length, MemorySegment buffer) {
		req.fill((byte) 0);
		Layouts.CBT_READ_MAJOR.set(req, dev.major());
		Layouts.CBT_READ_MINOR.set(req, dev.minor());
		Layouts.CBT_READ_OFFSET.set(req, offset);
		Layouts.CBT_READ_LENGTH.set(req, length);
		Layouts.CBT_READ_BUFFER.set(req, buffer.address());
	}

	/**
	 * Marks sector ranges as changed now, for example after writing to the
	 * device behind the tracker's back. The kernel checks all ranges of one
	 * call before marking any; more than 65536 ranges are split into several
	 * calls, and a failure in a later call leaves the earlier ones marked.
	 *
	 * @param dev    the device
	 * @param ranges the ranges; none is a no-op
	 * @throws NotTrackedException     when it has no tracker
	 * @throws InvalidRequestException when a range runs past the end of the device (ERANGE)
	 * @throws BlksnapException        on any other failure
	 */
	public void markDirty(DeviceId dev, List<SectorRange> ranges) throws BlksnapException {
		Objects.requireNonNull(dev, "dev");
		List<SectorRange> copy = List.copyOf(ranges);
		String operation = "cbt mark dirty " + dev;
		for (int from = 0; from < copy.size(); from += Uapi.MARK_DIRTY_MAX_RANGES) {
			List<SectorRange> part = copy.subList(from, Math.min(copy.size(), from + Uapi.MARK_DIRTY_MAX_RANGES));
			try (Arena arena = Arena.ofConfined()) {
				MemorySegment array = arena.allocate(MemoryLayout.sequenceLayout(part.size(), Layouts.SECTOR_RANGE));
				long stride = Layouts.SECTOR_RANGE.byteSize();
				for (int i = 0; i < part.size(); i++) {
					MemorySegment e = array.asSlice(i * stride, Layouts.SECTOR_RANGE);
					Layouts.SECTOR_RANGE_OFFSET.set(e, part.get(i).offset());
					Layouts.SECTOR_RANGE_COUNT.set(e, part.get(i).count());
				}
				MemorySegment req = arena.allocate(Layouts.CBT_MARK_DIRTY);
				Layouts.CBT_MARK_DIRTY_MAJOR.set(req, dev.major());
				Layouts.CBT_MARK_DIRTY_MINOR.set(req, dev.minor());
				Layouts.CBT_MARK_DIRTY_COUNT.set(req, part.size());
				Layouts.CBT_MARK_DIRTY_RANGES.set(req, array.address());
				call(operation, RawIoctl.CBT_MARK_DIRTY, req);
			}
		}
	}

	/**
	 * Closes the current change number of a device's map.
	 *
	 * @param dev the device
	 * @return the closed number and the generation it belongs to
	 * @throws NotTrackedException when it has no tracker
	 * @throws BlksnapException    on any other failure
	 */
	public Checkpoint checkpoint(DeviceId dev) throws BlksnapException {
		try (Arena arena = Arena.ofConfined()) {
			MemorySegment cp = arena.allocate(Layouts.CBT_CHECKPOINT);
			Layouts.CBT_CHECKPOINT_MAJOR.set(cp, dev.major());
			Layouts.CBT_CHECKPOINT_MINOR.set(cp, dev.minor());
			call("cbt checkpoint " + dev, RawIoctl.CBT_CHECKPOINT, cp);
			return new Checkpoint(dev, uuid(cp, Layouts.CBT_CHECKPOINT_GENERATION_ID),
					Byte.toUnsignedInt((byte) Layouts.CBT_CHECKPOINT_CLOSED_NUMBER.get(cp)),
					Byte.toUnsignedInt((byte) Layouts.CBT_CHECKPOINT_CHANGES_NUMBER.get(cp)));
		}
	}

	/**
	 * Creates an empty snapshot with its difference storage. The module
	 * destroys it when this control device is closed, unless {@code keep}.
	 *
	 * @param storage a block device (overwritten), a regular file, or a
	 *                directory (an unnamed temporary file is made there); not on
	 *                a device that will be in a snapshot
	 * @param limit   bytes of storage the snapshot may use, rounded down to
	 *                4096; 0 means the whole device or file (not for a directory)
	 * @param keep    let it outlive this control device (destroy it explicitly)
	 * @return the snapshot; close it to destroy it
	 * @throws NoSpaceException        when the storage is too small
	 * @throws NotSupportedException   when the storage kind is not usable
	 * @throws DeviceBusyException     when the storage device is in use
	 * @throws InvalidRequestException when the limit is invalid or the storage is read-only
	 * @throws BlksnapException        on any other failure, including opening {@code storage}
	 */
	public Snapshot createSnapshot(Path storage, long limit, boolean keep) throws BlksnapException {
		return createSnapshot(storage, limit, keep ? Set.of(SnapshotOption.KEEP) : Set.of());
	}

	/**
	 * Creates an empty snapshot with its difference storage and options. The
	 * module destroys it when this control device is closed, unless
	 * {@link SnapshotOption#KEEP}.
	 *
	 * @param storage a block device (overwritten), a regular file, or a
	 *                directory (an unnamed temporary file is made there); not on
	 *                a device that will be in a snapshot
	 * @param limit   bytes of storage the snapshot may use, rounded down to
	 *                4096; 0 means the whole device or file (not for a directory)
	 * @param options how it is created
	 * @return the snapshot; close it to destroy it
	 * @throws NoSpaceException        when the storage is too small
	 * @throws NotSupportedException   when the storage kind is not usable
	 * @throws DeviceBusyException     when the storage device is in use
	 * @throws InvalidRequestException when the limit is invalid, the storage is read-only, or the module
	 *                                 is older than an option (WRITABLE needs contract 1.6)
	 * @throws BlksnapException        on any other failure, including opening {@code storage}
	 */
	public Snapshot createSnapshot(Path storage, long limit, Set<SnapshotOption> options) throws BlksnapException {
		Objects.requireNonNull(storage, "storage");
		Objects.requireNonNull(options, "options");
		if (limit < 0)
			throw new IllegalArgumentException("negative storage limit " + limit);
		String operation = "snapshot create " + storage;
		int fd = openStorage(operation, storage);
		try (Arena arena = Arena.ofConfined()) {
			MemorySegment c = arena.allocate(Layouts.SNAPSHOT_CREATE);
			Layouts.SNAPSHOT_CREATE_STORAGE_FD.set(c, fd);
			Layouts.SNAPSHOT_CREATE_FLAGS.set(c, createFlags(options));
			Layouts.SNAPSHOT_CREATE_LIMIT.set(c, limit);
			snapshotCall(operation, RawIoctl.SNAPSHOT_CREATE, c);
			return new Snapshot(this, (long) Layouts.SNAPSHOT_CREATE_ID.get(c));
		} finally {
			sys.closeFile(fd); // the module does not keep it
		}
	}

	/** The BLKSNAP_SNAPSHOT_FLAG_* bits of the options. */
	static int createFlags(Set<SnapshotOption> options) {
		int flags = 0;
		for (SnapshotOption o : options)
			flags |= switch (o) {
				case KEEP -> Uapi.SNAPSHOT_FLAG_KEEP;
				case WRITABLE -> Uapi.SNAPSHOT_FLAG_WRITABLE;
			};
		return flags;
	}

	/** A descriptor of the storage for create or add-storage: directories read-only, the rest read-write. */
	private int openStorage(String operation, Path storage) throws BlksnapException {
		int fd = sys.open(storage, Files.isDirectory(storage) ? RawIoctl.O_RDONLY : RawIoctl.O_RDWR);
		if (fd < 0) {
			int errno = -fd;
			throw switch (errno) {
				case Errno.EPERM, Errno.EACCES -> BlksnapException.fromErrno(operation, errno);
				default -> new BlksnapErrnoException(operation, errno, "cannot open the storage: "
						+ Errno.description(errno), "give an existing block device, file or directory");
			};
		}
		return fd;
	}

	/**
	 * Gives a snapshot, taken or not, more difference storage: copies go on
	 * there when the storage it has is full, its limit grows by
	 * {@code limit} and the low-space event is re-armed (module/README.md).
	 * The answer to {@link SnapshotEvent.LowFreeSpace}.
	 *
	 * @param id      the snapshot
	 * @param storage a block device (overwritten), a regular file, or a
	 *                directory, as for {@link #createSnapshot}; not one the
	 *                snapshot (or another) already uses, not on a device in a snapshot
	 * @param limit   bytes of it the snapshot may use, as for {@link #createSnapshot}
	 * @throws NoSuchSnapshotException when there is no such snapshot
	 * @throws SnapshotStateException  when it is broken
	 * @throws DeviceBusyException     when a snapshot already stores in it, or the device is in use
	 * @throws InvalidRequestException when it has {@value Uapi#SNAPSHOT_MAX_STORAGES} storages, the limit
	 *                                 is invalid, or the storage is read-only or on a device in a snapshot
	 * @throws NoSpaceException        when the storage is too small
	 * @throws NotSupportedException   when the module has no add-storage, or the storage kind is not usable
	 * @throws BlksnapException        on any other failure, including opening {@code storage}
	 */
	public void addSnapshotStorage(long id, Path storage, long limit) throws BlksnapException {
		Objects.requireNonNull(storage, "storage");
		if (limit < 0)
			throw new IllegalArgumentException("negative storage limit " + limit);
		String operation = "snapshot add-storage " + id + " " + storage;
		int fd = openStorage(operation, storage);
		try (Arena arena = Arena.ofConfined()) {
			MemorySegment a = arena.allocate(Layouts.SNAPSHOT_ADD_STORAGE);
			Layouts.SNAPSHOT_ADD_STORAGE_ID.set(a, id);
			Layouts.SNAPSHOT_ADD_STORAGE_STORAGE_FD.set(a, fd);
			Layouts.SNAPSHOT_ADD_STORAGE_LIMIT.set(a, limit);
			int rc = ioctl(RawIoctl.SNAPSHOT_ADD_STORAGE, a);
			if (rc == -Errno.ENOTTY)
				throw new NotSupportedException(operation, Errno.ENOTTY, "this module cannot add storage to a snapshot",
						"load a blksnap module of contract 1.5 or later");
			if (rc == -Errno.EALREADY)
				throw new SnapshotStateException(operation, Errno.EALREADY, "the snapshot is broken",
						"storage cannot help it any more; create a new snapshot");
			if (rc == -Errno.E2BIG)
				throw new InvalidRequestException(operation, Errno.E2BIG, "the snapshot has its "
						+ Uapi.SNAPSHOT_MAX_STORAGES + " storages", "give larger storages");
			if (rc == -Errno.EBUSY)
				throw new DeviceBusyException(operation, Errno.EBUSY, "a snapshot already stores in it, or it is in use",
						"give another file, directory or an unused device");
			if (rc < 0)
				throw BlksnapException.fromSnapshotErrno(operation, -rc);
		} finally {
			sys.closeFile(fd); // the module does not keep it
		}
	}

	/**
	 * Adds a device to a snapshot not yet taken; attaches a tracker to it
	 * when it has none.
	 *
	 * @param id  the snapshot
	 * @param dev the device
	 * @throws NoSuchSnapshotException when there is no such snapshot
	 * @throws SnapshotStateException  when it was already taken (or broke)
	 * @throws DeviceBusyException     when the device is already in a snapshot
	 * @throws NotSupportedException   for a DAX, zoned or snapshot image device
	 * @throws NoSuchDeviceException   when there is no such device
	 * @throws BlksnapException        on any other failure
	 */
	public void addToSnapshot(long id, DeviceId dev) throws BlksnapException {
		try (Arena arena = Arena.ofConfined()) {
			MemorySegment a = arena.allocate(Layouts.SNAPSHOT_ADD);
			Layouts.SNAPSHOT_ADD_ID.set(a, id);
			Layouts.SNAPSHOT_ADD_MAJOR.set(a, dev.major());
			Layouts.SNAPSHOT_ADD_MINOR.set(a, dev.minor());
			snapshotCall("snapshot add " + id + " " + dev, RawIoctl.SNAPSHOT_ADD, a);
		}
	}

	/**
	 * Takes a snapshot: freezes the file systems (unless {@code noFreeze}),
	 * starts copy-on-write on all its devices at one instant and closes
	 * their CBT change numbers; then the images appear.
	 *
	 * @param id       the snapshot
	 * @param noFreeze do not freeze (the images are crash-consistent)
	 * @return hold and freeze times, devices frozen and not
	 * @throws NoSuchSnapshotException when there is no such snapshot
	 * @throws SnapshotStateException  when it was already taken (or broke)
	 * @throws InvalidRequestException when it has no device
	 * @throws BlksnapException        on any other failure
	 */
	public TakeResult takeSnapshot(long id, boolean noFreeze) throws BlksnapException {
		try (Arena arena = Arena.ofConfined()) {
			MemorySegment t = arena.allocate(Layouts.SNAPSHOT_TAKE);
			Layouts.SNAPSHOT_TAKE_ID.set(t, id);
			Layouts.SNAPSHOT_TAKE_FLAGS.set(t, noFreeze ? Uapi.TAKE_FLAG_NO_FREEZE : 0);
			snapshotCall("snapshot take " + id, RawIoctl.SNAPSHOT_TAKE, t);
			return new TakeResult((long) Layouts.SNAPSHOT_TAKE_HOLD_NS.get(t),
					(long) Layouts.SNAPSHOT_TAKE_FREEZE_NS.get(t),
					(int) Layouts.SNAPSHOT_TAKE_FROZEN.get(t), (int) Layouts.SNAPSHOT_TAKE_FREEZE_FAILED.get(t));
		}
	}

	/**
	 * Waits for the next event of a snapshot (module minor 4,
	 * {@code BLKSNAP_FEATURE_EVENTS}): low free space, overflow, or another
	 * break. Each event is returned once, to one caller; a broken snapshot
	 * keeps its break event until it is read. A signal does not end the
	 * wait early: it goes on for what is left of {@code timeout}. A
	 * {@link #close()} waits for a wait in progress; destroying the
	 * snapshot (from another thread) ends it at once.
	 *
	 * @param id      the snapshot
	 * @param timeout how long to wait, at most one hour; zero does not wait
	 * @return the event, or empty when none came within {@code timeout}
	 * @throws IllegalArgumentException when {@code timeout} is negative or above one hour
	 * @throws NoSuchSnapshotException  when there is no such snapshot, or it was destroyed while waiting
	 * @throws NotSupportedException    when the module has no events (before 1.4)
	 * @throws BlksnapException         on any other failure
	 */
	public Optional<SnapshotEvent> waitSnapshotEvent(long id, Duration timeout) throws BlksnapException {
		if (timeout.isNegative() || timeout.compareTo(Duration.ofMillis(Uapi.EVENT_TIMEOUT_MAX_MS)) > 0)
			throw new IllegalArgumentException("timeout " + timeout + " is not within 0 and one hour");
		String operation = "snapshot wait-event " + id;
		try (Arena arena = Arena.ofConfined()) {
			MemorySegment e = arena.allocate(Layouts.SNAPSHOT_EVENT);
			Layouts.SNAPSHOT_EVENT_ID.set(e, id);
			int rc = waitIoctl(e, timeout);
			if (rc == -Errno.ETIMEDOUT)
				return Optional.empty();
			if (rc == -Errno.ENOTTY)
				throw new NotSupportedException(operation, Errno.ENOTTY, "the module has no snapshot events",
						"load blksnap 1.4 or later; 'blksnap version' shows the module's");
			if (rc < 0)
				throw BlksnapException.fromSnapshotErrno(operation, -rc);
			return Optional.of(event(id, e));
		}
	}

	/** WAIT_EVENT for {@code timeout}; after a signal, again for what is left of it. */
	private int waitIoctl(MemorySegment e, Duration timeout) {
		lock.readLock().lock();
		try {
			if (closed)
				throw new IllegalStateException(this + " is closed");
			long deadline = System.nanoTime() + timeout.toNanos();
			long left = timeout.toNanos();
			int rc;
			while (true) {
				// Rounded up: a wait of half a millisecond is a wait, not a poll.
				Layouts.SNAPSHOT_EVENT_TIMEOUT_MS.set(e, (int) ((left + 999_999) / 1_000_000));
				rc = sys.ioctl(fd, RawIoctl.SNAPSHOT_WAIT_EVENT, e);
				if (rc != -Errno.EINTR)
					return rc;
				left = Math.max(0, deadline - System.nanoTime());
			}
		} finally {
			lock.readLock().unlock();
		}
	}

	private static SnapshotEvent event(long id, MemorySegment e) {
		long time = (long) Layouts.SNAPSHOT_EVENT_TIME_NS.get(e);
		long used = (long) Layouts.SNAPSHOT_EVENT_USED.get(e);
		long limit = (long) Layouts.SNAPSHOT_EVENT_LIMIT.get(e);
		int lost = (int) Layouts.SNAPSHOT_EVENT_LOST.get(e);
		int code = (int) Layouts.SNAPSHOT_EVENT_CODE.get(e);
		int error = (int) Layouts.SNAPSHOT_EVENT_ERROR.get(e);
		DeviceId dev = new DeviceId((int) Layouts.SNAPSHOT_EVENT_DEV_MAJOR.get(e),
				(int) Layouts.SNAPSHOT_EVENT_DEV_MINOR.get(e));
		return switch (code) {
			case Uapi.EVENT_LOW_FREE_SPACE -> new SnapshotEvent.LowFreeSpace(time, used, limit, lost);
			case Uapi.EVENT_OVERFLOW -> new SnapshotEvent.Overflow(time, used, limit, lost);
			case Uapi.EVENT_CORRUPTED -> new SnapshotEvent.Corrupted(error, Errno.name(error),
					dev.major() == 0 && dev.minor() == 0 ? Optional.empty() : Optional.of(dev),
					time, used, limit, lost);
			// The module raises no code this library does not know: new codes come with a flag to ask for them.
			default -> throw new IllegalStateException("snapshot " + id + ": event code " + code
					+ " unknown to this library (module and library versions differ)");
		};
	}

	/**
	 * Destroys a snapshot: its images go away, its storage is freed, the
	 * trackers stay attached.
	 *
	 * @param id the snapshot
	 * @throws NoSuchSnapshotException when there is no such snapshot
	 * @throws BlksnapException        on any other failure
	 */
	public void destroySnapshot(long id) throws BlksnapException {
		try (Arena arena = Arena.ofConfined()) {
			MemorySegment d = arena.allocate(Layouts.SNAPSHOT_DESTROY);
			Layouts.SNAPSHOT_DESTROY_ID.set(d, id);
			snapshotCall("snapshot destroy " + id, RawIoctl.SNAPSHOT_DESTROY, d);
		}
	}

	/**
	 * The identifiers of every snapshot, in creation order. When snapshots
	 * are created while the list is fetched, it is fetched again with more room.
	 *
	 * @return the identifiers
	 * @throws BlksnapException when the request fails, or the list keeps growing
	 */
	public List<Long> snapshots() throws BlksnapException {
		try (Arena arena = Arena.ofConfined()) {
			MemorySegment list = arena.allocate(Layouts.SNAPSHOT_LIST);
			snapshotCall("snapshot list", RawIoctl.SNAPSHOT_LIST, list);
			long count = Integer.toUnsignedLong((int) Layouts.SNAPSHOT_LIST_COUNT.get(list));
			for (int attempt = 0; attempt < LIST_ATTEMPTS; attempt++) {
				if (count == 0)
					return List.of();
				int room = (int) Math.min(count + 8, Uapi.SNAPSHOT_LIST_MAX);
				MemorySegment ids = arena.allocate(MemoryLayout.sequenceLayout(room, JAVA_LONG));
				list.fill((byte) 0);
				Layouts.SNAPSHOT_LIST_IDS.set(list, ids.address());
				Layouts.SNAPSHOT_LIST_CAPACITY.set(list, room);
				snapshotCall("snapshot list", RawIoctl.SNAPSHOT_LIST, list);
				count = Integer.toUnsignedLong((int) Layouts.SNAPSHOT_LIST_COUNT.get(list));
				if (count <= room || room == Uapi.SNAPSHOT_LIST_MAX) {
					int n = (int) Math.min(count, room);
					List<Long> result = new ArrayList<>(n);
					for (int i = 0; i < n; i++)
						result.add(ids.getAtIndex(JAVA_LONG, i));
					return List.copyOf(result);
				}
			}
		}
		throw new BlksnapErrnoException("snapshot list", Errno.EAGAIN, "the list kept growing while being read",
				"retry when fewer snapshots are being created");
	}

	/**
	 * The state of a snapshot and of all its devices.
	 *
	 * @param id the snapshot
	 * @return its state
	 * @throws NoSuchSnapshotException when there is no such snapshot
	 * @throws BlksnapException        on any other failure
	 */
	public SnapshotInfo snapshotInfo(long id) throws BlksnapException {
		String operation = "snapshot info " + id;
		try (Arena arena = Arena.ofConfined()) {
			MemorySegment info = arena.allocate(Layouts.SNAPSHOT_INFO);
			long stride = Layouts.SNAPSHOT_DEVICE.byteSize();
			MemorySegment devices = arena.allocate(MemoryLayout.sequenceLayout(Uapi.SNAPSHOT_MAX_DEVICES,
					Layouts.SNAPSHOT_DEVICE));
			Layouts.SNAPSHOT_INFO_ID.set(info, id);
			Layouts.SNAPSHOT_INFO_DEVICES.set(info, devices.address());
			Layouts.SNAPSHOT_INFO_CAPACITY.set(info, Uapi.SNAPSHOT_MAX_DEVICES);
			snapshotCall(operation, RawIoctl.SNAPSHOT_INFO, info);
			int count = Math.min((int) Layouts.SNAPSHOT_INFO_COUNT.get(info), Uapi.SNAPSHOT_MAX_DEVICES);
			List<SnapshotDevice> list = new ArrayList<>(count);
			for (int i = 0; i < count; i++)
				list.add(device(devices.asSlice(i * stride, stride)));
			return new SnapshotInfo((long) Layouts.SNAPSHOT_INFO_ID.get(info),
					SnapshotState.of((int) Layouts.SNAPSHOT_INFO_STATE.get(info)),
					(int) Layouts.SNAPSHOT_INFO_ERROR.get(info),
					((int) Layouts.SNAPSHOT_INFO_FLAGS.get(info) & Uapi.SNAPSHOT_FLAG_KEEP) != 0,
					((int) Layouts.SNAPSHOT_INFO_FLAGS.get(info) & Uapi.SNAPSHOT_FLAG_WRITABLE) != 0,
					StorageKind.of((int) Layouts.SNAPSHOT_INFO_STORAGE_KIND.get(info)),
					new DeviceId((int) Layouts.SNAPSHOT_INFO_STORAGE_MAJOR.get(info),
							(int) Layouts.SNAPSHOT_INFO_STORAGE_MINOR.get(info)),
					(long) Layouts.SNAPSHOT_INFO_STORAGE_USED.get(info),
					(long) Layouts.SNAPSHOT_INFO_STORAGE_SIZE.get(info),
					(long) Layouts.SNAPSHOT_INFO_STORAGE_LIMIT.get(info), list);
		}
	}

	private static SnapshotDevice device(MemorySegment d) {
		DeviceId image = new DeviceId((int) Layouts.SNAPSHOT_DEVICE_IMAGE_MAJOR.get(d),
				(int) Layouts.SNAPSHOT_DEVICE_IMAGE_MINOR.get(d));
		return new SnapshotDevice(new DeviceId((int) Layouts.SNAPSHOT_DEVICE_ORIGIN_MAJOR.get(d),
				(int) Layouts.SNAPSHOT_DEVICE_ORIGIN_MINOR.get(d)),
				image.major() == 0 && image.minor() == 0 ? Optional.empty() : Optional.of(image),
				(long) Layouts.SNAPSHOT_DEVICE_CAPACITY.get(d), (int) Layouts.SNAPSHOT_DEVICE_CHUNK_SIZE.get(d),
				(int) Layouts.SNAPSHOT_DEVICE_ERROR.get(d), (int) Layouts.SNAPSHOT_DEVICE_FREEZE_ERROR.get(d),
				uuid(d, Layouts.SNAPSHOT_DEVICE_GENERATION_ID),
				Byte.toUnsignedInt((byte) Layouts.SNAPSHOT_DEVICE_CLOSED_NUMBER.get(d)),
				FreezeState.of(Byte.toUnsignedInt((byte) Layouts.SNAPSHOT_DEVICE_FREEZE.get(d))),
				(long) Layouts.SNAPSHOT_DEVICE_WRITES_HELD.get(d), (long) Layouts.SNAPSHOT_DEVICE_CHUNKS_COPIED.get(d),
				(long) Layouts.SNAPSHOT_DEVICE_CHUNKS_STORED.get(d),
				(long) Layouts.SNAPSHOT_DEVICE_DISCARDS_DROPPED.get(d));
	}

	/** Issues a snapshot request; errnos mapped with their snapshot meaning. */
	private void snapshotCall(String operation, long request, MemorySegment arg) throws BlksnapException {
		int rc = ioctl(request, arg);
		if (rc < 0)
			throw BlksnapException.fromSnapshotErrno(operation, -rc);
	}

	/**
	 * Closes the control device; idempotent. Waits for calls in progress.
	 */
	@Override
	public void close() {
		lock.writeLock().lock();
		try {
			if (closed)
				return;
			closed = true;
			sys.close(fd);
		} finally {
			lock.writeLock().unlock();
		}
	}

	@Override
	public String toString() {
		return "BlksnapControl[" + path + "]";
	}

	private static MemorySegment bdev(Arena arena, DeviceId dev) {
		MemorySegment b = arena.allocate(Layouts.BDEV);
		Layouts.BDEV_MAJOR.set(b, dev.major());
		Layouts.BDEV_MINOR.set(b, dev.minor());
		return b;
	}

	/** Issues a request and throws the mapped exception on failure. */
	private void call(String operation, long request, MemorySegment arg) throws BlksnapException {
		int rc = ioctl(request, arg);
		if (rc < 0)
			throw BlksnapException.fromErrno(operation, -rc);
	}

	/** Issues a request, retrying on EINTR; returns the result or -errno. */
	private int ioctl(long request, MemorySegment arg) {
		lock.readLock().lock();
		try {
			if (closed)
				throw new IllegalStateException(this + " is closed");
			int rc;
			do {
				rc = sys.ioctl(fd, request, arg);
			} while (rc == -Errno.EINTR);
			return rc;
		} finally {
			lock.readLock().unlock();
		}
	}

	private static UUID uuid(MemorySegment struct, long offset) {
		byte[] bytes = new byte[Uapi.UUID_SIZE];
		MemorySegment.copy(struct, JAVA_BYTE, offset, bytes, 0, bytes.length);
		return uuid(bytes);
	}

	/** The 16 bytes in RFC 4122 (big-endian) order, as uuid_t prints them. */
	static UUID uuid(byte[] bytes) {
		ByteBuffer b = ByteBuffer.wrap(bytes);
		return new UUID(b.getLong(), b.getLong());
	}
}
