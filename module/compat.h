/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every difference between the kernels blksnap builds for lives here, as a
 * small inline wrapper. No other file tests a kernel version.
 *
 * Verified against the headers of 6.1 (Debian 6.1.0) and 6.12 (Debian
 * 6.12.117). Kernels 6.5 to 6.8 changed the block device open API three
 * times; they are refused at build time rather than guessed at.
 */
#ifndef __BLKSNAP_COMPAT_H
#define __BLKSNAP_COMPAT_H

#include <linux/version.h>
#include <linux/blkdev.h>
#include <linux/ftrace.h>
#include <linux/fs.h>

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0) && \
	LINUX_VERSION_CODE < KERNEL_VERSION(6, 9, 0)
#error "blksnap: kernels 6.5 to 6.8 are not supported"
#endif

/**
 * struct compat_bdev - a block device opened read-only, non-exclusively.
 * @bdev: the device.
 * @file: the open file on kernels that open block devices as files.
 */
struct compat_bdev {
	struct block_device *bdev;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)
	struct file *file;
#endif
};

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)

static inline int compat_bdev_open(dev_t dev, struct compat_bdev *h)
{
	struct file *file;

	file = bdev_file_open_by_dev(dev, BLK_OPEN_READ, NULL, NULL);
	if (IS_ERR(file))
		return PTR_ERR(file);
	h->file = file;
	h->bdev = file_bdev(file);
	return 0;
}

static inline void compat_bdev_close(struct compat_bdev *h)
{
	fput(h->file);
}

#else

static inline int compat_bdev_open(dev_t dev, struct compat_bdev *h)
{
	struct block_device *bdev;

	bdev = blkdev_get_by_dev(dev, FMODE_READ, NULL);
	if (IS_ERR(bdev))
		return PTR_ERR(bdev);
	h->bdev = bdev;
	return 0;
}

static inline void compat_bdev_close(struct compat_bdev *h)
{
	blkdev_put(h->bdev, FMODE_READ);
}

#endif

/*
 * Redirect a traced function to @ip. The setter was renamed between 6.1 and
 * 6.12; test for the macro itself, which each architecture header defines,
 * so the kernel that introduced the rename need not be guessed.
 */
#ifdef ftrace_regs_set_instruction_pointer
static __always_inline void compat_ftrace_set_ip(struct ftrace_regs *fregs,
						 unsigned long ip)
{
	ftrace_regs_set_instruction_pointer(fregs, ip);
}
#elif defined(ftrace_instruction_pointer_set)
static __always_inline void compat_ftrace_set_ip(struct ftrace_regs *fregs,
						 unsigned long ip)
{
	ftrace_instruction_pointer_set(fregs, ip);
}
#else
#error "blksnap: this architecture cannot redirect a traced function"
#endif

/*
 * Argument @n of a traced function, from its ftrace_regs. 6.12 has an
 * accessor; on 6.1 x86, struct ftrace_regs is a pt_regs whose argument
 * registers the trampoline saves even without FTRACE_OPS_FL_SAVE_REGS.
 */
#ifdef ftrace_regs_get_argument
#define compat_ftrace_argument(fregs, n) ftrace_regs_get_argument(fregs, n)
#else
#define compat_ftrace_argument(fregs, n) \
	regs_get_kernel_argument(&(fregs)->regs, n)
#endif

/*
 * Where the trampoline saves the argument registers and honours a new
 * instruction pointer without a full pt_regs (x86 since 5.11, as
 * livepatch relies on), the cheaper trampoline suffices.
 */
#ifdef CONFIG_HAVE_DYNAMIC_FTRACE_WITH_ARGS
#define COMPAT_FTRACE_OPS_FL_REGS 0
#else
#define COMPAT_FTRACE_OPS_FL_REGS FTRACE_OPS_FL_SAVE_REGS
#endif

#endif /* __BLKSNAP_COMPAT_H */
