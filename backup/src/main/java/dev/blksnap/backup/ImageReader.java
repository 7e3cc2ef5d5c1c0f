// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Positional reads of a device image (a snapshot image device, or a file in
 * tests). Called from several threads at once.
 */
public interface ImageReader extends Closeable {
	/**
	 * Fills {@code dst} from {@code offset} on.
	 *
	 * @param dst    the buffer; all of its remaining bytes are read
	 * @param offset the byte offset in the image
	 * @throws IOException when a read fails or the image ends first
	 */
	void readFully(ByteBuffer dst, long offset) throws IOException;
}
