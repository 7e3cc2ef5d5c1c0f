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
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Collectors;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * Compares the Java layouts, request numbers and constants with what gcc
 * makes of include/uapi/linux/blksnap.h. The build generates a probe from
 * the header (src/test/c/gen-layout-probe), compiles and runs it and passes
 * its output in the system property {@code blksnap.layout.file}; no number
 * and no list of names in this test is typed by hand: what the header
 * defines must be in the Java side under the same name, and the reverse.
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

	/** The probe's keys that name a request: BLKSNAP_IOCTL_X, the magic and the .struct lines aside. */
	private static TreeSet<String> cRequests() {
		return probe.stringPropertyNames().stream().filter(k -> k.startsWith("BLKSNAP_IOCTL_")
				&& !k.equals("BLKSNAP_IOCTL_MAGIC") && !k.contains(".")).collect(Collectors.toCollection(TreeSet::new));
	}

	/** The public static fields of {@code type} whose type is {@code fieldType}, by name. */
	private static Map<String, Object> constantsOf(Class<?> type, Class<?> fieldType) throws IllegalAccessException {
		Map<String, Object> out = new TreeMap<>();
		for (Field f : type.getFields()) {
			if (Modifier.isStatic(f.getModifiers()) && f.getType() == fieldType)
				out.put(f.getName(), f.get(null));
		}
		return out;
	}

	/**
	 * Every request of the header is a public long of RawIoctl with the
	 * macro's name less BLKSNAP_IOCTL_, and RawIoctl has no other.
	 */
	@Test
	void requestNumbersMatchTheHeader() throws IllegalAccessException {
		Map<String, Object> java = constantsOf(RawIoctl.class, long.class);
		TreeSet<String> c = cRequests();
		assertFalse(c.isEmpty(), "the probe printed no request");
		assertEquals(c, java.keySet().stream().map(n -> "BLKSNAP_IOCTL_" + n)
				.collect(Collectors.toCollection(TreeSet::new)), "requests of the header vs RawIoctl's");
		for (String name : c) {
			long number = (Long) java.get(name.substring("BLKSNAP_IOCTL_".length()));
			assertEquals(value(name), number,
					() -> name + ": C 0x" + Long.toHexString(value(name)) + ", Java 0x" + Long.toHexString(number));
		}
	}

	@Test
	void requestNumbersAreDistinct() {
		TreeSet<String> c = cRequests();
		assertEquals(c.size(), c.stream().map(LayoutTest::value).distinct().count());
	}

	/** Each request's argument, as the header names it, has a Java layout of that name. */
	@Test
	void everyRequestStructureHasALayout() {
		var javaStructs = Layouts.ALL.stream().map(l -> l.name().orElseThrow()).collect(Collectors.toSet());
		for (String name : cRequests()) {
			String struct = probe.getProperty(name + ".struct");
			assertNotNull(struct, name + ".struct");
			assertTrue(struct.isEmpty() || javaStructs.contains(struct), name + " takes struct " + struct
					+ ", which has no layout in Layouts");
		}
	}

	/**
	 * Every other constant of the header (BLKSNAP_X) is a public field X of
	 * Uapi with the same value, and Uapi has no constant the header lacks
	 * (its NR_ fields aside, which are the enum's).
	 */
	@Test
	void constantsMatchTheHeader() throws IllegalAccessException {
		Map<String, Object> java = new TreeMap<>();
		java.putAll(constantsOf(Uapi.class, int.class));
		java.putAll(constantsOf(Uapi.class, long.class));
		java.putAll(constantsOf(Uapi.class, String.class));
		java.keySet().removeIf(n -> n.startsWith("NR_"));
		var c = probe.stringPropertyNames().stream().filter(k -> k.startsWith("BLKSNAP_") && !k.contains(".")
				&& !cRequests().contains(k)).map(k -> k.substring("BLKSNAP_".length()))
				.collect(Collectors.toCollection(TreeSet::new));
		assertEquals(c, new TreeSet<>(java.keySet()), "constants of the header (less BLKSNAP_) vs Uapi's");
		for (String name : c) {
			Object v = java.get(name);
			if (v instanceof String text)
				assertEquals(probe.getProperty("BLKSNAP_" + name), text, name);
			else
				assertEquals(value("BLKSNAP_" + name), ((Number) v).longValue(), name);
		}
		assertEquals(value("blksnap_cbt_info.generation_id.size"), Uapi.UUID_SIZE);
	}

	/** Uapi's NR_X are the header's enumerators blksnap_ioctl_nr_x, all of them, and the requests' numbers. */
	@Test
	void requestNumbersInTheHeaderFollowTheEnumOrder() throws IllegalAccessException {
		Map<String, Object> nrs = constantsOf(Uapi.class, int.class);
		nrs.keySet().removeIf(n -> !n.startsWith("NR_"));
		var enumerators = probe.stringPropertyNames().stream().filter(k -> k.startsWith("enum.blksnap_ioctl_nr_"))
				.map(k -> k.substring("enum.blksnap_ioctl_nr_".length()).toUpperCase(java.util.Locale.ROOT))
				.collect(Collectors.toCollection(TreeSet::new));
		assertEquals(enumerators, nrs.keySet().stream().map(n -> n.substring(3))
				.collect(Collectors.toCollection(TreeSet::new)), "enum blksnap_ioctl_nr vs Uapi's NR_ fields");
		for (Map.Entry<String, Object> nr : nrs.entrySet()) {
			String x = nr.getKey().substring(3);
			assertEquals(value("enum.blksnap_ioctl_nr_" + x.toLowerCase(java.util.Locale.ROOT)),
					((Integer) nr.getValue()).longValue(), nr.getKey());
			String request = "BLKSNAP_IOCTL_" + x;
			assertEquals(value(request) & 0xff, ((Integer) nr.getValue()).longValue(), request + " number");
			assertEquals((value(request) >>> 8) & 0xff, Uapi.IOCTL_MAGIC, request + " magic");
		}
	}

	/**
	 * The header promises no padding holes: each member starts where the
	 * one before ends and the last ends at the structure's end. This also
	 * proves the probe generator read every member of every structure.
	 */
	@Test
	void membersCoverEveryByteOfTheirStructure() {
		for (String key : probe.stringPropertyNames()) {
			if (!key.endsWith(".members"))
				continue;
			String struct = key.substring(0, key.length() - ".members".length());
			long at = 0;
			for (String m : probe.getProperty(key).split(",")) {
				assertEquals(at, value(struct + "." + m), struct + "." + m + " offset: a hole or a member missed");
				at += value(struct + "." + m + ".size");
			}
			assertEquals(value(struct + ".sizeof"), at, struct + ": bytes after the last member");
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
