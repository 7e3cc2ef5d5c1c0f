// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/** Durable file operations: what "written" means for a point. */
final class DurableFiles {
	private DurableFiles() {
	}

	/** fsync of a directory, so that a rename or unlink in it survives a crash. */
	static void syncDirectory(Path dir) throws IOException {
		try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
			ch.force(true);
		}
	}

	/** Renames atomically (same directory) and makes the rename durable. */
	static void commit(Path from, Path to) throws IOException {
		try {
			Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
		} catch (AtomicMoveNotSupportedException e) {
			throw new IOException("cannot rename " + from + " atomically: " + e.getMessage(), e);
		}
		syncDirectory(to.toAbsolutePath().getParent());
	}

	/** Writes a small file under a temporary name, flushes it, renames it into place. */
	static void writeAtomically(Path target, byte[] bytes) throws IOException {
		Path tmp = target.resolveSibling("." + target.getFileName() + ".tmp");
		try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
				StandardOpenOption.TRUNCATE_EXISTING)) {
			ByteBuffer b = ByteBuffer.wrap(bytes);
			while (b.hasRemaining())
				ch.write(b);
			ch.force(true);
		} catch (IOException e) {
			Files.deleteIfExists(tmp);
			throw e;
		}
		commit(tmp, target);
	}

	/** Whether an I/O error is the file system being full. */
	static boolean isNoSpace(Throwable t) {
		for (Throwable c = t; c != null; c = c.getCause()) {
			String m = c.getMessage();
			if (m != null && (m.contains("No space left on device") || m.contains("Disk quota exceeded")))
				return true;
		}
		return false;
	}
}
