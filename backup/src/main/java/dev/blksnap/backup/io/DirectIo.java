// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup.io;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Optional;

/**
 * A second channel on a file opened with {@code O_DIRECT}, for the reads and
 * writes whose buffer address, file offset and length are aligned as the
 * kernel requires; everything else goes through the page cache.
 *
 * @param channel   the channel opened with O_DIRECT, closed by {@link #close()}
 * @param alignment what the JDK checks addresses, offsets and lengths
 *                  against: the file store's block size
 */
public record DirectIo(FileChannel channel, long alignment) implements AutoCloseable {
	/** The alignment of the buffers {@link #buffer} hands out: a page. */
	public static final int PAGE = 4096;

	/**
	 * {@code com.sun.nio.file.ExtendedOpenOption.DIRECT} (module
	 * jdk.unsupported), looked up at run time because javac flags a use of it
	 * as proprietary API and the build treats warnings as errors; null when
	 * the runtime lacks it.
	 */
	private static final OpenOption O_DIRECT = lookup();

	private static OpenOption lookup() {
		try {
			return (OpenOption) Class.forName("com.sun.nio.file.ExtendedOpenOption").getField("DIRECT").get(null);
		} catch (ReflectiveOperationException | ClassCastException e) {
			return null;
		}
	}

	/**
	 * Opens {@code path} once more with O_DIRECT.
	 *
	 * @param path    an existing file or device
	 * @param options READ and/or WRITE
	 * @return the channel, or empty where O_DIRECT is refused (tmpfs, for example)
	 */
	public static Optional<DirectIo> open(Path path, StandardOpenOption... options) {
		if (O_DIRECT == null)
			return Optional.empty();
		OpenOption[] all = java.util.Arrays.copyOf(options, options.length + 1, OpenOption[].class);
		all[options.length] = O_DIRECT;
		FileChannel ch = null;
		try {
			ch = FileChannel.open(path, all);
			long alignment = Files.getFileStore(path).getBlockSize();
			if (alignment <= 0 || Long.bitCount(alignment) != 1 || alignment > PAGE)
				throw new IOException("unusable alignment " + alignment);
			return Optional.of(new DirectIo(ch, alignment));
		} catch (IOException | UnsupportedOperationException e) {
			if (ch != null) {
				try {
					ch.close();
				} catch (IOException ignored) {
					// nothing was done through it
				}
			}
			return Optional.empty();
		}
	}

	/**
	 * @param buffer   the bytes from its position to its limit
	 * @param position the file offset
	 * @return whether O_DIRECT may move them
	 */
	public boolean fits(ByteBuffer buffer, long position) {
		if (!buffer.isDirect())
			return false;
		long address = MemorySegment.ofBuffer(buffer).address();
		return ((address | position | buffer.remaining()) & (alignment - 1)) == 0;
	}

	/**
	 * A page-aligned direct buffer, usable for O_DIRECT on any file store
	 * {@link #open} accepts.
	 *
	 * @param bytes its capacity
	 * @return the buffer
	 */
	public static ByteBuffer buffer(int bytes) {
		return ByteBuffer.allocateDirect(bytes + 2 * PAGE).alignedSlice(PAGE).slice(0, bytes);
	}

	@Override
	public void close() throws IOException {
		channel.close();
	}
}
