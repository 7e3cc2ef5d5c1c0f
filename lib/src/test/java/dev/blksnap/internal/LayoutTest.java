// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.internal;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.Reader;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeSet;
import java.util.stream.Collectors;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * Compares the Java layouts, request numbers and constants with what gcc
 * makes of include/uapi/linux/blksnap.h. The build compiles and runs
 * src/test/c/layout_probe.c and passes its output in the system property
 * {@code blksnap.layout.file}; no number in this test is typed by hand.
 */
class LayoutTest {
	private static Properties probe;

	@BeforeAll
	static void load() throws IOException {
		String file = System.getProperty("blksnap.layout.file");
		assertNotNull(file, "blksnap.layout.file not set: run the tests through Maven");
		probe = new Properties();
		try (Reader r = Files.newBufferedReader(Path.of(file))) {
			probe.load(r);
		}
		assertFalse(probe.isEmpty(), "layout probe printed nothing");
	}

	private static long value(String key) {
		String v = probe.getProperty(key);
		assertNotNull(v, "layout probe has no " + key);
		return v.startsWith("0x") ? Long.parseUnsignedLong(v.substring(2), 16) : Long.parseLong(v);
	}

	@TestFactory
	List<DynamicTest> everyStructureMatchesTheHeader() {
		return Layouts.ALL.stream().map(layout -> DynamicTest.dynamicTest(layout.name().orElseThrow(),
				() -> checkStructure(layout))).toList();
	}

	private static void checkStructure(StructLayout layout) {
		String name = layout.name().orElseThrow();
		assertEquals(value(name + ".sizeof"), layout.byteSize(), name + " size");
		List<String> javaMembers = layout.memberLayouts().stream()
				.map(m -> m.name().orElseThrow(() -> new AssertionError(name + ": unnamed member (padding?)")))
				.toList();
		List<String> cMembers = Arrays.asList(probe.getProperty(name + ".members").split(","));
		assertEquals(cMembers, javaMembers, name + " members");
		for (MemoryLayout member : layout.memberLayouts()) {
			String m = member.name().orElseThrow();
			assertEquals(value(name + "." + m), layout.byteOffset(groupElement(m)), name + "." + m + " offset");
			assertEquals(value(name + "." + m + ".size"), member.byteSize(), name + "." + m + " size");
		}
	}

	@Test
	void everyStructureOfTheProbeHasALayout() {
		var cStructs = probe.stringPropertyNames().stream().filter(k -> k.endsWith(".sizeof"))
				.map(k -> k.substring(0, k.length() - ".sizeof".length()))
				.collect(Collectors.toCollection(TreeSet::new));
		var javaStructs = Layouts.ALL.stream().map(l -> l.name().orElseThrow())
				.collect(Collectors.toCollection(TreeSet::new));
		assertEquals(cStructs, javaStructs);
	}

	@Test
	void nestedDeviceMembersAreTheBdevLayout() {
		var names = java.util.Set.of("dev", "origin", "image", "storage_dev");
		for (StructLayout layout : Layouts.ALL) {
			layout.memberLayouts().stream().filter(m -> names.contains(m.name().orElseThrow()))
					.forEach(m -> assertEquals(Layouts.BDEV.withName(m.name().orElseThrow()), m,
							layout + "." + m.name().orElseThrow()));
		}
	}

	/** Request numbers, by the name of their C macro. */
	private static final Map<String, Long> REQUESTS = Map.ofEntries(
			Map.entry("BLKSNAP_IOCTL_VERSION", RawIoctl.VERSION),
			Map.entry("BLKSNAP_IOCTL_TRACKER_ATTACH", RawIoctl.TRACKER_ATTACH),
			Map.entry("BLKSNAP_IOCTL_TRACKER_DETACH", RawIoctl.TRACKER_DETACH),
			Map.entry("BLKSNAP_IOCTL_TRACKER_LIST", RawIoctl.TRACKER_LIST),
			Map.entry("BLKSNAP_IOCTL_CBT_INFO", RawIoctl.CBT_INFO),
			Map.entry("BLKSNAP_IOCTL_CBT_READ", RawIoctl.CBT_READ),
			Map.entry("BLKSNAP_IOCTL_CBT_MARK_DIRTY", RawIoctl.CBT_MARK_DIRTY),
			Map.entry("BLKSNAP_IOCTL_CBT_CHECKPOINT", RawIoctl.CBT_CHECKPOINT),
			Map.entry("BLKSNAP_IOCTL_SNAPSHOT_CREATE", RawIoctl.SNAPSHOT_CREATE),
			Map.entry("BLKSNAP_IOCTL_SNAPSHOT_DESTROY", RawIoctl.SNAPSHOT_DESTROY),
			Map.entry("BLKSNAP_IOCTL_SNAPSHOT_ADD", RawIoctl.SNAPSHOT_ADD),
			Map.entry("BLKSNAP_IOCTL_SNAPSHOT_TAKE", RawIoctl.SNAPSHOT_TAKE),
			Map.entry("BLKSNAP_IOCTL_SNAPSHOT_LIST", RawIoctl.SNAPSHOT_LIST),
			Map.entry("BLKSNAP_IOCTL_SNAPSHOT_INFO", RawIoctl.SNAPSHOT_INFO));

	@Test
	void requestNumbersMatchTheHeader() {
		var cRequests = probe.stringPropertyNames().stream().filter(k -> k.startsWith("BLKSNAP_IOCTL_")
				&& !k.equals("BLKSNAP_IOCTL_MAGIC")).collect(Collectors.toCollection(TreeSet::new));
		assertEquals(cRequests, new TreeSet<>(REQUESTS.keySet()), "the probe and the test know the same requests");
		REQUESTS.forEach((name, number) -> assertEquals(value(name), number,
				() -> name + ": C 0x" + Long.toHexString(value(name)) + ", Java 0x" + Long.toHexString(number)));
	}

	@Test
	void requestNumbersAreDistinct() {
		assertEquals(REQUESTS.size(), new TreeSet<>(REQUESTS.values()).size());
	}

	@Test
	void constantsMatchTheHeader() {
		Map<String, Long> constants = Map.ofEntries(
				Map.entry("BLKSNAP_IOCTL_MAGIC", (long) Uapi.IOCTL_MAGIC),
				Map.entry("BLKSNAP_VERSION_MAJOR", (long) Uapi.VERSION_MAJOR),
				Map.entry("BLKSNAP_VERSION_MINOR", (long) Uapi.VERSION_MINOR),
				Map.entry("BLKSNAP_VERSION_PATCH", (long) Uapi.VERSION_PATCH),
				Map.entry("BLKSNAP_FEATURE_CBT", Uapi.FEATURE_CBT),
				Map.entry("BLKSNAP_UUID_SIZE", (long) Uapi.UUID_SIZE),
				Map.entry("BLKSNAP_MARK_DIRTY_MAX_RANGES", (long) Uapi.MARK_DIRTY_MAX_RANGES),
				Map.entry("BLKSNAP_TRACKER_LIST_MAX", (long) Uapi.TRACKER_LIST_MAX),
				Map.entry("BLKSNAP_CBT_FLAG_CORRUPTED", (long) Uapi.CBT_FLAG_CORRUPTED),
				Map.entry("BLKSNAP_CBT_GENERATION_ATTACH", (long) Uapi.CBT_GENERATION_ATTACH),
				Map.entry("BLKSNAP_CBT_GENERATION_RESIZE", (long) Uapi.CBT_GENERATION_RESIZE),
				Map.entry("BLKSNAP_CBT_GENERATION_WRAP", (long) Uapi.CBT_GENERATION_WRAP),
				Map.entry("BLKSNAP_CBT_GENERATION_INCOMPLETE", (long) Uapi.CBT_GENERATION_INCOMPLETE),
				Map.entry("BLKSNAP_CBT_GENERATION_PASSTHROUGH", (long) Uapi.CBT_GENERATION_PASSTHROUGH),
				Map.entry("BLKSNAP_CBT_GENERATION_HIBERNATION", (long) Uapi.CBT_GENERATION_HIBERNATION),
				Map.entry("BLKSNAP_FEATURE_SNAPSHOT", Uapi.FEATURE_SNAPSHOT),
				Map.entry("BLKSNAP_SNAPSHOT_MAX_DEVICES", (long) Uapi.SNAPSHOT_MAX_DEVICES),
				Map.entry("BLKSNAP_SNAPSHOT_LIST_MAX", (long) Uapi.SNAPSHOT_LIST_MAX),
				Map.entry("BLKSNAP_SNAPSHOT_FLAG_KEEP", (long) Uapi.SNAPSHOT_FLAG_KEEP),
				Map.entry("BLKSNAP_TAKE_FLAG_NO_FREEZE", (long) Uapi.TAKE_FLAG_NO_FREEZE),
				Map.entry("BLKSNAP_SNAPSHOT_STATE_CREATED", (long) Uapi.SNAPSHOT_STATE_CREATED),
				Map.entry("BLKSNAP_SNAPSHOT_STATE_TAKEN", (long) Uapi.SNAPSHOT_STATE_TAKEN),
				Map.entry("BLKSNAP_SNAPSHOT_STATE_BROKEN", (long) Uapi.SNAPSHOT_STATE_BROKEN),
				Map.entry("BLKSNAP_STORAGE_BDEV", (long) Uapi.STORAGE_BDEV),
				Map.entry("BLKSNAP_STORAGE_FILE", (long) Uapi.STORAGE_FILE),
				Map.entry("BLKSNAP_STORAGE_TMPFILE", (long) Uapi.STORAGE_TMPFILE),
				Map.entry("BLKSNAP_FREEZE_NONE", (long) Uapi.FREEZE_NONE),
				Map.entry("BLKSNAP_FREEZE_FROZEN", (long) Uapi.FREEZE_FROZEN),
				Map.entry("BLKSNAP_FREEZE_NO_FILESYSTEM", (long) Uapi.FREEZE_NO_FILESYSTEM),
				Map.entry("BLKSNAP_FREEZE_FAILED", (long) Uapi.FREEZE_FAILED));
		constants.forEach((name, v) -> assertEquals(value(name), v, name));
		assertEquals(probe.getProperty("BLKSNAP_CTL_NAME"), Uapi.CTL_NAME);
		assertEquals(value("blksnap_cbt_info.generation_id.size"), Uapi.UUID_SIZE);
	}

	@Test
	void requestNumbersInTheHeaderFollowTheEnumOrder() throws IllegalAccessException {
		// The NR_ constants are the enum values; the request numbers' low
		// byte must equal them.
		for (Field f : Uapi.class.getFields()) {
			if (!f.getName().startsWith("NR_") || !Modifier.isStatic(f.getModifiers()))
				continue;
			String request = "BLKSNAP_IOCTL_" + f.getName().substring(3);
			assertEquals(value(request) & 0xff, f.getInt(null), request + " number");
			assertEquals((value(request) >>> 8) & 0xff, Uapi.IOCTL_MAGIC, request + " magic");
		}
	}

	@Test
	void errnoValuesMatchTheCLibrary() throws IllegalAccessException {
		int checked = 0;
		for (String key : probe.stringPropertyNames()) {
			if (!key.startsWith("errno."))
				continue;
			String name = key.substring("errno.".length());
			int errno = (int) value(key);
			assertEquals(name, Errno.name(errno));
			try {
				assertEquals(errno, Errno.class.getField(name).getInt(null), name);
			} catch (NoSuchFieldException e) {
				throw new AssertionError("Errno." + name + " missing", e);
			}
			checked++;
		}
		assertTrue(checked >= 15, "probe printed " + checked + " errno values");
		for (Field f : Errno.class.getFields()) {
			assertTrue(probe.containsKey("errno." + f.getName()), "probe does not print " + f.getName());
		}
	}
}
