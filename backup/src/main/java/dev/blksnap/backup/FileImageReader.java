// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

import dev.blksnap.backup.io.DirectIo;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * An {@link ImageReader} over a file or block device: positional reads,
 * safe from several threads.
 *
 * <p>A block device is also opened with {@code O_DIRECT}, and every read
 * whose buffer, offset and length are aligned goes through it: a snapshot
 * image is read once, so caching it would only cost a copy per byte and
 * push the page cache of the running system out. Unaligned reads (the tail
 * of a device whose size is not a multiple of the alignment) and files use
 * the page cache.
 */
public final class FileImageReader implements ImageReader {
	private final Path path;
	private final FileChannel channel;
	/** The same file opened with O_DIRECT, or null. */
	private final DirectIo direct;

	private FileImageReader(Path path, FileChannel channel, DirectIo direct) {
		this.path = path;
		this.channel = channel;
		this.direct = direct;
	}

	/**
	 * Opens a file or device read-only; a device with {@code O_DIRECT} as well.
	 *
	 * @param path the image
	 * @return the reader
	 * @throws IOException when it cannot be opened
	 */
	public static FileImageReader open(Path path) throws IOException {
		return open(path, !Files.isRegularFile(path));
	}

	/**
	 * Opens a file or device read-only.
	 *
	 * @param path   the image
	 * @param direct whether to read through {@code O_DIRECT} where the kernel
	 *               and the file system allow it
	 * @return the reader
	 * @throws IOException when it cannot be opened
	 */
	public static FileImageReader open(Path path, boolean direct) throws IOException {
		FileChannel channel = FileChannel.open(path, StandardOpenOption.READ);
		return new FileImageReader(path, channel,
				direct ? DirectIo.open(path, StandardOpenOption.READ).orElse(null) : null);
	}

	/** @return whether aligned reads bypass the page cache */
	public boolean direct() {
		return direct != null;
	}

	@Override
	public void readFully(ByteBuffer dst, long offset) throws IOException {
		long at = offset;
		while (dst.hasRemaining()) {
			// After a short direct read the rest may be unaligned: it goes through the page cache.
			FileChannel ch = direct != null && direct.fits(dst, at) ? direct.channel() : channel;
			int n = ch.read(dst, at);
			if (n < 0)
				throw new EOFException(path + ": ends at byte " + at + ", before the device size");
			at += n;
		}
	}

	@Override
	public void close() throws IOException {
		try {
			channel.close();
		} finally {
			if (direct != null)
				direct.close();
		}
	}

	@Override
	public String toString() {
		return "FileImageReader[" + path + (direct != null ? ", O_DIRECT" : "") + "]";
	}
}
