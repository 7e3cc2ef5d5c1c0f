// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.BitSet;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.UUID;

/**
 * A device for the engine's tests: a raw file, and a change map kept the way
 * the module keeps it (the current change number on every written block,
 * the number closed at each snapshot, a zeroed bit for whole blocks that
 * were discarded). {@link #snapshot()} copies the file as the image of the
 * instant.
 */
final class FakeDevice {
	final String name;
	final Path file;
	final long size;
	final int blockSize;
	final byte[] numbers;
	final BitSet zeroed = new BitSet();
	UUID generation = UUID.randomUUID();
	int changes = 1;
	private final Path snapshots;
	private int taken;

	FakeDevice(Path dir, String name, long size, int blockSize) throws IOException {
		this.name = name;
		this.file = dir.resolve(name + ".raw");
		this.size = size;
		this.blockSize = blockSize;
		this.numbers = new byte[(int) Math.ceilDiv(size, blockSize)];
		this.snapshots = Files.createDirectories(dir.resolve(name + "-snapshots"));
		try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
			ch.write(ByteBuffer.wrap(new byte[1]), size - 1);
		}
	}

	/** Writes random bytes (never a whole zero block) and marks the blocks. */
	void write(long offset, int length, SplittableRandom rnd) throws IOException {
		byte[] b = new byte[length];
		rnd.nextBytes(b);
		b[0] |= 1;
		write(offset, b);
	}

	void write(long offset, byte[] data) throws IOException {
		if (offset < 0 || offset + data.length > size)
			throw new IllegalArgumentException("write past the end of the device");
		try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
			ByteBuffer buf = ByteBuffer.wrap(data);
			long at = offset;
			while (buf.hasRemaining())
				at += ch.write(buf, at);
		}
		for (long blk = offset / blockSize; blk <= (offset + data.length - 1) / blockSize; blk++) {
			numbers[(int) blk] = (byte) changes;
			zeroed.clear((int) blk);
		}
	}

	/** Discards whole blocks: they read zeros and carry the zeroed bit. */
	void discard(int firstBlock, int blocks) throws IOException {
		try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
			ch.write(ByteBuffer.wrap(new byte[blocks * blockSize]), (long) firstBlock * blockSize);
		}
		for (int blk = firstBlock; blk < firstBlock + blocks; blk++) {
			numbers[blk] = (byte) changes;
			zeroed.set(blk);
		}
	}

	/**
	 * A discard the device ignores (a hint it may drop): the blocks carry
	 * the zeroed bit but keep their data.
	 */
	void discardKeepingData(int firstBlock, int blocks) {
		for (int blk = firstBlock; blk < firstBlock + blocks; blk++) {
			numbers[blk] = (byte) changes;
			zeroed.set(blk);
		}
	}

	/** Re-attach: a new generation, nothing marked. */
	void newGeneration() {
		generation = UUID.randomUUID();
		changes = 1;
		java.util.Arrays.fill(numbers, (byte) 0);
		zeroed.clear();
	}

	/** Takes a snapshot: copies the content, closes the change number. */
	Snapshot snapshot() throws IOException {
		Path image = snapshots.resolve("instant-" + (++taken) + ".raw");
		Files.copy(file, image, StandardCopyOption.REPLACE_EXISTING);
		ChangeMap map = new ChangeMap(generation, blockSize, changes, numbers, zeroed, false);
		changes++;
		return new Snapshot(this, image, map);
	}

	/** A device at one instant; a DeviceSource over the copied file. */
	static class Snapshot implements DeviceSource {
		final FakeDevice device;
		final Path image;
		final ChangeMap map;
		boolean tracked = true;
		/** Set to make checkIntact fail, as an overflowed snapshot would. */
		String broken;
		/** Set to make checkNotBroken fail, as a source that saw the snapshot's break event would. */
		volatile String knownBroken;
		/** Called before every read of the image, from the read pool. */
		volatile ReadHook beforeRead = offset -> {
		};

		/** Sees a read of the image before it is done; may fail it. */
		@FunctionalInterface
		interface ReadHook {
			void at(long offset) throws IOException;
		}

		Snapshot(FakeDevice device, Path image, ChangeMap map) {
			this.device = device;
			this.image = image;
			this.map = map;
		}

		@Override
		public DeviceIdentity identity() {
			return new DeviceIdentity(device.name, "/dev/" + device.name, "254:0", device.size, "serial-" + device.name);
		}

		@Override
		public Optional<ChangeMap> changes() {
			return tracked ? Optional.of(map) : Optional.empty();
		}

		@Override
		public ImageReader openImage() throws IOException {
			ImageReader real = FileImageReader.open(image);
			return new ImageReader() {
				@Override
				public void readFully(java.nio.ByteBuffer dst, long offset) throws IOException {
					beforeRead.at(offset);
					real.readFully(dst, offset);
				}

				@Override
				public void close() throws IOException {
					real.close();
				}
			};
		}

		/** The image file stands in for the image's block device (a {@link Mounter} in a test mounts nothing). */
		@Override
		public Optional<Path> imageDevice() {
			return Optional.of(image);
		}

		@Override
		public void checkIntact() throws IOException {
			if (broken != null)
				throw new SnapshotBrokenException(broken, null);
		}

		@Override
		public void checkNotBroken() throws SnapshotBrokenException {
			String b = knownBroken;
			if (b != null)
				throw new SnapshotBrokenException(b, null);
		}
	}
}
