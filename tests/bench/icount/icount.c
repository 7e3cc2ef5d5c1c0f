// SPDX-License-Identifier: GPL-2.0
/*
 * icount.so - a QEMU TCG plugin that counts the guest instructions executed
 * in each translation block of the guest kernel, exactly, and writes the
 * counts out when the guest asks.
 *
 * Why: under TCG the host time a guest spends varies by tens of per cent
 * with whatever else the host runs, so a cost of a few per cent per bio
 * cannot be told from noise by timing it. The number of instructions the
 * guest kernel executes per write does not vary: a bench compares them
 * between states (no tracker, tracked, a snapshot) and names the functions
 * that account for the difference (tests/bench/icount/report).
 *
 * Usage: qemu ... -plugin icount.so,dir=DIR. The guest (which sees DIR
 * through 9p) writes a label into DIR/request; the plugin, polling every
 * 50 ms, writes DIR/counts.LABEL and removes DIR/request. Its first line:
 * "total user kernel user-blocks kernel-blocks translations idles": the
 * instructions executed since the VM started (in all, user, kernel), the
 * translation blocks executed (user, kernel), the blocks translated and the
 * times the TCG thread went idle (with one thread for all vCPUs, QEMU
 * reports only that: every vCPU halted); then "address instructions
 * blocks" for every kernel block executed. Counters are added inline by the translated
 * code: with one TCG thread for all vCPUs (tests/vm/run) they are exact.
 *
 * Instructions are the guest's work; blocks executed, translations and
 * idle periods are what TCG pays besides: each block executed is one dispatch
 * (chained, or looked up after an indirect jump, call or return), a
 * translation costs thousands of host instructions, and an idle thread
 * must be woken.
 *
 * Only the few declarations of QEMU's plugin API (version 1, QEMU 7.2) this
 * file needs are written below, so that it builds without QEMU's headers,
 * which Debian does not package.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* QEMU's plugin API, version 1: what this plugin uses of it. */
typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_tb_trans_cb)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_udata_cb)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_simple_cb_t)(qemu_plugin_id_t id, unsigned int vcpu_index);
void qemu_plugin_register_vcpu_idle_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_simple_cb_t cb);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_tb_trans_cb cb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op,
					      void *ptr, uint64_t imm);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb cb, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);

#define EXPORT __attribute__((visibility("default")))
EXPORT int qemu_plugin_version = 1;

/* Kernel addresses on x86-64: the upper half. */
#define KERNEL_START 0xffff800000000000ULL

/*
 * One counter per kernel block start address, in an open-addressing table
 * that only grows by insertion (translation), never moves an entry: the
 * translated code keeps a pointer to its counter.
 */
struct block {
	uint64_t addr;
	uint64_t count;
	uint64_t execs;
};

#define TABLE_BITS 20
#define TABLE_SIZE (1u << TABLE_BITS)

static struct block *table;
static uint64_t user_insns;
static uint64_t user_execs;
static uint64_t overflow_insns; /* kernel blocks past a full table */
static uint64_t overflow_execs;
/* Written by the one TCG thread, read by the dump: no lock needed for a count. */
static uint64_t translations;
static uint64_t idles;
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static char dir[4096];

static struct block *block_of(uint64_t addr)
{
	uint64_t h = (addr * 0x9e3779b97f4a7c15ULL) >> (64 - TABLE_BITS);
	unsigned int i;

	for (i = 0; i < TABLE_SIZE; i++, h = (h + 1) & (TABLE_SIZE - 1)) {
		if (table[h].addr == addr)
			return &table[h];
		if (!table[h].addr) {
			table[h].addr = addr;
			return &table[h];
		}
	}
	return NULL;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	uint64_t addr = qemu_plugin_tb_vaddr(tb);
	uint64_t n = qemu_plugin_tb_n_insns(tb);
	uint64_t *counter = &user_insns, *execs = &user_execs;

	(void)id;
	__atomic_add_fetch(&translations, 1, __ATOMIC_RELAXED);
	if (addr >= KERNEL_START) {
		struct block *b;

		pthread_mutex_lock(&table_lock);
		b = block_of(addr);
		pthread_mutex_unlock(&table_lock);
		counter = b ? &b->count : &overflow_insns;
		execs = b ? &b->execs : &overflow_execs;
	}
	qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, counter, n);
	qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, execs, 1);
}

static void on_idle(qemu_plugin_id_t id, unsigned int vcpu_index)
{
	(void)id;
	(void)vcpu_index;
	__atomic_add_fetch(&idles, 1, __ATOMIC_RELAXED);
}

static void dump(const char *label)
{
	char path[4200], tmp[4300];
	uint64_t kernel = overflow_insns, kernel_execs = overflow_execs;
	unsigned int i;
	FILE *f;

	snprintf(path, sizeof(path), "%s/counts.%s", dir, label);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return;
	pthread_mutex_lock(&table_lock);
	for (i = 0; i < TABLE_SIZE; i++) {
		kernel += table[i].count;
		kernel_execs += table[i].execs;
	}
	fprintf(f, "%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
		user_insns + kernel, user_insns, kernel, user_execs, kernel_execs,
		__atomic_load_n(&translations, __ATOMIC_RELAXED), __atomic_load_n(&idles, __ATOMIC_RELAXED));
	for (i = 0; i < TABLE_SIZE; i++) {
		if (table[i].count)
			fprintf(f, "%" PRIx64 " %" PRIu64 " %" PRIu64 "\n", table[i].addr, table[i].count,
				table[i].execs);
	}
	pthread_mutex_unlock(&table_lock);
	fclose(f);
	rename(tmp, path);
}

/* Answers the guest's requests: DIR/request holds the label. */
static void *poll_requests(void *arg)
{
	struct timespec pause = { 0, 50 * 1000 * 1000 };
	char request[4200], label[256];

	(void)arg;
	snprintf(request, sizeof(request), "%s/request", dir);
	for (;;) {
		FILE *f = fopen(request, "r");

		if (f) {
			size_t n = fread(label, 1, sizeof(label) - 1, f);

			fclose(f);
			label[n] = 0;
			label[strcspn(label, "\n/ ")] = 0;
			if (label[0]) {
				dump(label);
				unlink(request);
			}
		}
		nanosleep(&pause, NULL);
	}
	return NULL;
}

static void at_exit(qemu_plugin_id_t id, void *userdata)
{
	(void)id;
	(void)userdata;
	dump("exit");
}

EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
	pthread_t thread;
	int i;

	(void)info;
	for (i = 0; i < argc; i++) {
		if (!strncmp(argv[i], "dir=", 4))
			snprintf(dir, sizeof(dir), "%s", argv[i] + 4);
	}
	if (!dir[0]) {
		fprintf(stderr, "icount: needs dir=DIR\n");
		return -1;
	}
	table = calloc(TABLE_SIZE, sizeof(*table));
	if (!table)
		return -1;
	if (pthread_create(&thread, NULL, poll_requests, NULL))
		return -1;
	pthread_detach(thread);
	qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
	qemu_plugin_register_vcpu_idle_cb(id, on_idle);
	qemu_plugin_register_atexit_cb(id, at_exit, NULL);
	return 0;
}
