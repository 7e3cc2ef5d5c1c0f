// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.internal;

import java.lang.foreign.MemoryLayout;

/**
 * The asm-generic {@code _IOC} encoding of ioctl request numbers (x86-64,
 * arm64, riscv): direction in bits 30-31, argument size in bits 16-29, type
 * (magic) in bits 8-15 and number in bits 0-7.
 */
public final class Ioc {
	/** No data transfer. */
	public static final int NONE = 0;
	/** User space writes, the kernel reads ({@code _IOW}). */
	public static final int WRITE = 1;
	/** The kernel writes, user space reads ({@code _IOR}). */
	public static final int READ = 2;

	private static final int NRBITS = 8;
	private static final int TYPEBITS = 8;
	private static final int SIZEBITS = 14;
	private static final int NRSHIFT = 0;
	private static final int TYPESHIFT = NRSHIFT + NRBITS;
	private static final int SIZESHIFT = TYPESHIFT + TYPEBITS;
	private static final int DIRSHIFT = SIZESHIFT + SIZEBITS;

	private Ioc() {
	}

	/**
	 * Encodes a request number like the C macro {@code _IOC}.
	 *
	 * @param dir  {@link #NONE}, {@link #READ}, {@link #WRITE} or both
	 * @param type the magic byte
	 * @param nr   the number within the magic
	 * @param size the argument's size in bytes (below 16 KiB)
	 * @return the request number as an unsigned 32-bit value in a long
	 */
	public static long ioc(int dir, int type, int nr, long size) {
		if ((dir & ~3) != 0 || (type & ~0xff) != 0 || (nr & ~0xff) != 0 || size < 0 || size >= 1L << SIZEBITS)
			throw new IllegalArgumentException("ioctl field out of range");
		return ((long) dir << DIRSHIFT) | (size << SIZESHIFT) | ((long) type << TYPESHIFT) | ((long) nr << NRSHIFT);
	}

	/** {@code _IOR}: the kernel fills the argument. */
	static long ior(int type, int nr, MemoryLayout layout) {
		return ioc(READ, type, nr, layout.byteSize());
	}

	/** {@code _IOW}: the kernel only reads the argument. */
	static long iow(int type, int nr, MemoryLayout layout) {
		return ioc(WRITE, type, nr, layout.byteSize());
	}

	/** {@code _IOWR}: the argument goes both ways. */
	static long iowr(int type, int nr, MemoryLayout layout) {
		return ioc(READ | WRITE, type, nr, layout.byteSize());
	}
}
