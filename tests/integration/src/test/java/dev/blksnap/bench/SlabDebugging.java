// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Whether the slab allocator debugs (slub_debug: a stack walk, a poisoning
 * or a red-zone check per allocation and free), which the VM suite boots
 * with. The module allocates on its I/O paths, so a bench would measure
 * the debugger: the bench make targets boot with slub_debug=-, and a bench
 * refuses to measure when it is on.
 */
final class SlabDebugging {
	private SlabDebugging() {
	}

	/** Fails when slab debugging is on; {@code bench} names the bench and its make target. */
	static void refuse(String bench) throws IOException {
		Path cache = Path.of("/sys/kernel/slab/kmalloc-32");
		if (!Files.isDirectory(cache)) {
			System.out.println(bench + ": no " + cache + ": cannot tell whether slab debugging is off");
			return;
		}
		List<String> on = new ArrayList<>();
		for (String flag : List.of("store_user", "poison", "red_zone", "sanity_checks"))
			if (Files.readString(cache.resolve(flag)).strip().equals("1"))
				on.add(flag);
		if (!on.isEmpty())
			throw new IllegalStateException("slab debugging is on (" + String.join(", ", on) + " in " + cache
					+ "; kernel command line: " + Files.readString(Path.of("/proc/cmdline")).strip()
					+ "): boot with slub_debug=- as make " + bench + " does");
		System.out.println(bench + ": slab debugging off (" + cache + ")");
	}
}
