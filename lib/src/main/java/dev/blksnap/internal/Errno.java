// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.internal;

/**
 * Names and descriptions of the Linux errno values (generic numbering, as on
 * x86-64 and arm64), for messages: {@code 114 -> "EALREADY"}.
 */
public final class Errno {
	/** Operation not permitted. */
	public static final int EPERM = 1;
	/** No such file or directory. */
	public static final int ENOENT = 2;
	/** Interrupted system call. */
	public static final int EINTR = 4;
	/** I/O error. */
	public static final int EIO = 5;
	/** No such device or address. */
	public static final int ENXIO = 6;
	/** Argument list too long. */
	public static final int E2BIG = 7;
	/** Bad file number. */
	public static final int EBADF = 9;
	/** Try again. */
	public static final int EAGAIN = 11;
	/** Out of memory. */
	public static final int ENOMEM = 12;
	/** Permission denied. */
	public static final int EACCES = 13;
	/** Bad address. */
	public static final int EFAULT = 14;
	/** Device or resource busy. */
	public static final int EBUSY = 16;
	/** No such device. */
	public static final int ENODEV = 19;
	/** Invalid argument. */
	public static final int EINVAL = 22;
	/** Not a typewriter: unknown ioctl. */
	public static final int ENOTTY = 25;
	/** File too large. */
	public static final int EFBIG = 27;
	/** No space left on device. */
	public static final int ENOSPC = 28;
	/** Read-only file system. */
	public static final int EROFS = 30;
	/** Math result not representable. */
	public static final int ERANGE = 34;
	/** Resource deadlock would occur. */
	public static final int EDEADLK = 35;
	/** Operation not supported. */
	public static final int EOPNOTSUPP = 95;
	/** Timer expired (a wait for a snapshot event). */
	public static final int ETIMEDOUT = 110;
	/** Operation already in progress. */
	public static final int EALREADY = 114;

	private record Entry(int errno, String name, String description) {
	}

	private static final Entry[] TABLE = {
		new Entry(1, "EPERM", "operation not permitted"),
		new Entry(2, "ENOENT", "no such file or directory"),
		new Entry(3, "ESRCH", "no such process"),
		new Entry(4, "EINTR", "interrupted system call"),
		new Entry(5, "EIO", "I/O error"),
		new Entry(6, "ENXIO", "no such device or address"),
		new Entry(7, "E2BIG", "argument list too long"),
		new Entry(8, "ENOEXEC", "exec format error"),
		new Entry(9, "EBADF", "bad file number"),
		new Entry(10, "ECHILD", "no child processes"),
		new Entry(11, "EAGAIN", "try again"),
		new Entry(12, "ENOMEM", "out of memory"),
		new Entry(13, "EACCES", "permission denied"),
		new Entry(14, "EFAULT", "bad address"),
		new Entry(15, "ENOTBLK", "block device required"),
		new Entry(16, "EBUSY", "device or resource busy"),
		new Entry(17, "EEXIST", "file exists"),
		new Entry(18, "EXDEV", "cross-device link"),
		new Entry(19, "ENODEV", "no such device"),
		new Entry(20, "ENOTDIR", "not a directory"),
		new Entry(21, "EISDIR", "is a directory"),
		new Entry(22, "EINVAL", "invalid argument"),
		new Entry(23, "ENFILE", "file table overflow"),
		new Entry(24, "EMFILE", "too many open files"),
		new Entry(25, "ENOTTY", "inappropriate ioctl for device"),
		new Entry(26, "ETXTBSY", "text file busy"),
		new Entry(27, "EFBIG", "file too large"),
		new Entry(28, "ENOSPC", "no space left on device"),
		new Entry(29, "ESPIPE", "illegal seek"),
		new Entry(30, "EROFS", "read-only file system"),
		new Entry(31, "EMLINK", "too many links"),
		new Entry(32, "EPIPE", "broken pipe"),
		new Entry(33, "EDOM", "math argument out of domain of func"),
		new Entry(34, "ERANGE", "math result not representable"),
		new Entry(35, "EDEADLK", "resource deadlock would occur"),
		new Entry(36, "ENAMETOOLONG", "file name too long"),
		new Entry(37, "ENOLCK", "no record locks available"),
		new Entry(38, "ENOSYS", "invalid system call number"),
		new Entry(39, "ENOTEMPTY", "directory not empty"),
		new Entry(40, "ELOOP", "too many symbolic links encountered"),
		new Entry(42, "ENOMSG", "no message of desired type"),
		new Entry(43, "EIDRM", "identifier removed"),
		new Entry(44, "ECHRNG", "channel number out of range"),
		new Entry(45, "EL2NSYNC", "level 2 not synchronized"),
		new Entry(46, "EL3HLT", "level 3 halted"),
		new Entry(47, "EL3RST", "level 3 reset"),
		new Entry(48, "ELNRNG", "link number out of range"),
		new Entry(49, "EUNATCH", "protocol driver not attached"),
		new Entry(50, "ENOCSI", "no CSI structure available"),
		new Entry(51, "EL2HLT", "level 2 halted"),
		new Entry(52, "EBADE", "invalid exchange"),
		new Entry(53, "EBADR", "invalid request descriptor"),
		new Entry(54, "EXFULL", "exchange full"),
		new Entry(55, "ENOANO", "no anode"),
		new Entry(56, "EBADRQC", "invalid request code"),
		new Entry(57, "EBADSLT", "invalid slot"),
		new Entry(59, "EBFONT", "bad font file format"),
		new Entry(60, "ENOSTR", "device not a stream"),
		new Entry(61, "ENODATA", "no data available"),
		new Entry(62, "ETIME", "timer expired"),
		new Entry(63, "ENOSR", "out of streams resources"),
		new Entry(64, "ENONET", "machine is not on the network"),
		new Entry(65, "ENOPKG", "package not installed"),
		new Entry(66, "EREMOTE", "object is remote"),
		new Entry(67, "ENOLINK", "link has been severed"),
		new Entry(68, "EADV", "advertise error"),
		new Entry(69, "ESRMNT", "srmount error"),
		new Entry(70, "ECOMM", "communication error on send"),
		new Entry(71, "EPROTO", "protocol error"),
		new Entry(72, "EMULTIHOP", "multihop attempted"),
		new Entry(73, "EDOTDOT", "rFS specific error"),
		new Entry(74, "EBADMSG", "not a data message"),
		new Entry(75, "EOVERFLOW", "value too large for defined data type"),
		new Entry(76, "ENOTUNIQ", "name not unique on network"),
		new Entry(77, "EBADFD", "file descriptor in bad state"),
		new Entry(78, "EREMCHG", "remote address changed"),
		new Entry(79, "ELIBACC", "can not access a needed shared library"),
		new Entry(80, "ELIBBAD", "accessing a corrupted shared library"),
		new Entry(81, "ELIBSCN", ".lib section in a.out corrupted"),
		new Entry(82, "ELIBMAX", "attempting to link in too many shared libraries"),
		new Entry(83, "ELIBEXEC", "cannot exec a shared library directly"),
		new Entry(84, "EILSEQ", "illegal byte sequence"),
		new Entry(85, "ERESTART", "interrupted system call should be restarted"),
		new Entry(86, "ESTRPIPE", "streams pipe error"),
		new Entry(87, "EUSERS", "too many users"),
		new Entry(88, "ENOTSOCK", "socket operation on non-socket"),
		new Entry(89, "EDESTADDRREQ", "destination address required"),
		new Entry(90, "EMSGSIZE", "message too long"),
		new Entry(91, "EPROTOTYPE", "protocol wrong type for socket"),
		new Entry(92, "ENOPROTOOPT", "protocol not available"),
		new Entry(93, "EPROTONOSUPPORT", "protocol not supported"),
		new Entry(94, "ESOCKTNOSUPPORT", "socket type not supported"),
		new Entry(95, "EOPNOTSUPP", "operation not supported on transport endpoint"),
		new Entry(96, "EPFNOSUPPORT", "protocol family not supported"),
		new Entry(97, "EAFNOSUPPORT", "address family not supported by protocol"),
		new Entry(98, "EADDRINUSE", "address already in use"),
		new Entry(99, "EADDRNOTAVAIL", "cannot assign requested address"),
		new Entry(100, "ENETDOWN", "network is down"),
		new Entry(101, "ENETUNREACH", "network is unreachable"),
		new Entry(102, "ENETRESET", "network dropped connection because of reset"),
		new Entry(103, "ECONNABORTED", "software caused connection abort"),
		new Entry(104, "ECONNRESET", "connection reset by peer"),
		new Entry(105, "ENOBUFS", "no buffer space available"),
		new Entry(106, "EISCONN", "transport endpoint is already connected"),
		new Entry(107, "ENOTCONN", "transport endpoint is not connected"),
		new Entry(108, "ESHUTDOWN", "cannot send after transport endpoint shutdown"),
		new Entry(109, "ETOOMANYREFS", "too many references: cannot splice"),
		new Entry(110, "ETIMEDOUT", "connection timed out"),
		new Entry(111, "ECONNREFUSED", "connection refused"),
		new Entry(112, "EHOSTDOWN", "host is down"),
		new Entry(113, "EHOSTUNREACH", "no route to host"),
		new Entry(114, "EALREADY", "operation already in progress"),
		new Entry(115, "EINPROGRESS", "operation now in progress"),
		new Entry(116, "ESTALE", "stale file handle"),
		new Entry(117, "EUCLEAN", "structure needs cleaning"),
		new Entry(118, "ENOTNAM", "not a XENIX named type file"),
		new Entry(119, "ENAVAIL", "no XENIX semaphores available"),
		new Entry(120, "EISNAM", "is a named type file"),
		new Entry(121, "EREMOTEIO", "remote I/O error"),
		new Entry(122, "EDQUOT", "quota exceeded"),
		new Entry(123, "ENOMEDIUM", "no medium found"),
		new Entry(124, "EMEDIUMTYPE", "wrong medium type"),
		new Entry(125, "ECANCELED", "operation Canceled"),
		new Entry(126, "ENOKEY", "required key not available"),
		new Entry(127, "EKEYEXPIRED", "key has expired"),
		new Entry(128, "EKEYREVOKED", "key has been revoked"),
		new Entry(129, "EKEYREJECTED", "key was rejected by service"),
		new Entry(130, "EOWNERDEAD", "owner died"),
		new Entry(131, "ENOTRECOVERABLE", "state not recoverable"),
		new Entry(132, "ERFKILL", "operation not possible due to RF-kill"),
		new Entry(133, "EHWPOISON", "memory page has hardware error"),
	};

	private Errno() {
	}

	/**
	 * The symbolic name of an errno value.
	 *
	 * @param errno a positive errno value
	 * @return for example {@code "ENOENT"}, or {@code "E<number>"} when unknown
	 */
	public static String name(int errno) {
		Entry row = row(errno);
		return row != null ? row.name() : "E" + errno;
	}

	/**
	 * A short lower-case description of an errno value, like strerror(3).
	 *
	 * @param errno a positive errno value
	 * @return for example {@code "no such file or directory"}
	 */
	public static String description(int errno) {
		Entry row = row(errno);
		return row != null ? row.description() : "unknown error " + errno;
	}

	private static Entry row(int errno) {
		for (Entry row : TABLE) {
			if (row.errno() == errno)
				return row;
		}
		return null;
	}
}
