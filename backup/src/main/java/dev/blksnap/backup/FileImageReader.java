// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * An {@link ImageReader} over a file or block device: positional reads,
 * safe from several threads.
 */
public final class FileImageReader implements ImageReader {
	private final Path path;
	private final FileChannel channel;

	private FileImageReader(Path path, FileChannel channel) {
		this.path = path;
		this.channel = channel;
	}

	/**
	 * Opens a file or device read-only.
	 *
	 * @param path the image
	 * @return the reader
	 * @throws IOException when it cannot be opened
	 */
	public static FileImageReader open(Path path) throws IOException {
		return new FileImageReader(path, FileChannel.open(path, StandardOpenOption.READ));
	}

	@Override
	public void readFully(ByteBuffer dst, long offset) throws IOException {
		long at = offset;
		while (dst.hasRemaining()) {
			int n = channel.read(dst, at);
			if (n < 0)
				throw new EOFException(path + ": ends at byte " + at + ", before the device size");
			at += n;
		}
	}

	@Override
	public void close() throws IOException {
		channel.close();
	}

	@Override
	public String toString() {
		return "FileImageReader[" + path + "]";
	}
}
