// SPDX-License-Identifier: GPL-2.0
/*
 * Prints the layout of include/uapi/linux/blksnap.h as the C compiler sees
 * it, one "key=value" per line, for LayoutTest:
 *   <struct>.sizeof=N            size of the structure
 *   <struct>.<member>=N          offset of a member
 *   <struct>.<member>.size=N     size of a member
 *   <struct>.members=a,b,c       every member, in order
 *   BLKSNAP_IOCTL_X=0x...        request numbers
 *   BLKSNAP_X=N                  other constants
 *   errno.EXXX=N                 errno values the library maps
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <uapi/linux/blksnap.h>

#define STRUCT(s)	printf(#s ".sizeof=%zu\n", sizeof(struct s))
#define MEMBER(s, m)							\
	printf(#s "." #m "=%zu\n" #s "." #m ".size=%zu\n",		\
	       offsetof(struct s, m), sizeof(((struct s *)0)->m))
#define MEMBERS(s, list)	printf(#s ".members=%s\n", list)
#define REQUEST(x)	printf(#x "=0x%lx\n", (unsigned long)(x))
#define ERRNO(x)	printf("errno." #x "=%d\n", x)
#define CONSTANT(x)	printf(#x "=%llu\n", (unsigned long long)(x))

int main(void)
{
	STRUCT(blksnap_version);
	MEMBERS(blksnap_version, "major,minor,patch,reserved,features");
	MEMBER(blksnap_version, major);
	MEMBER(blksnap_version, minor);
	MEMBER(blksnap_version, patch);
	MEMBER(blksnap_version, reserved);
	MEMBER(blksnap_version, features);

	STRUCT(blksnap_bdev);
	MEMBERS(blksnap_bdev, "major,minor");
	MEMBER(blksnap_bdev, major);
	MEMBER(blksnap_bdev, minor);

	STRUCT(blksnap_tracker_attach);
	MEMBERS(blksnap_tracker_attach, "dev,flags,reserved");
	MEMBER(blksnap_tracker_attach, dev);
	MEMBER(blksnap_tracker_attach, flags);
	MEMBER(blksnap_tracker_attach, reserved);

	STRUCT(blksnap_tracker_list);
	MEMBERS(blksnap_tracker_list, "devices,capacity,count");
	MEMBER(blksnap_tracker_list, devices);
	MEMBER(blksnap_tracker_list, capacity);
	MEMBER(blksnap_tracker_list, count);

	STRUCT(blksnap_cbt_info);
	MEMBERS(blksnap_cbt_info, "dev,device_capacity,block_size,block_count,"
		"generation_id,changes_number,flags,reserved");
	MEMBER(blksnap_cbt_info, dev);
	MEMBER(blksnap_cbt_info, device_capacity);
	MEMBER(blksnap_cbt_info, block_size);
	MEMBER(blksnap_cbt_info, block_count);
	MEMBER(blksnap_cbt_info, generation_id);
	MEMBER(blksnap_cbt_info, changes_number);
	MEMBER(blksnap_cbt_info, flags);
	MEMBER(blksnap_cbt_info, reserved);

	STRUCT(blksnap_cbt_read);
	MEMBERS(blksnap_cbt_read, "dev,offset,length,buffer,generation_id");
	MEMBER(blksnap_cbt_read, dev);
	MEMBER(blksnap_cbt_read, offset);
	MEMBER(blksnap_cbt_read, length);
	MEMBER(blksnap_cbt_read, buffer);
	MEMBER(blksnap_cbt_read, generation_id);

	STRUCT(blksnap_sector_range);
	MEMBERS(blksnap_sector_range, "sector_offset,sector_count");
	MEMBER(blksnap_sector_range, sector_offset);
	MEMBER(blksnap_sector_range, sector_count);

	STRUCT(blksnap_cbt_mark_dirty);
	MEMBERS(blksnap_cbt_mark_dirty, "dev,count,reserved,ranges");
	MEMBER(blksnap_cbt_mark_dirty, dev);
	MEMBER(blksnap_cbt_mark_dirty, count);
	MEMBER(blksnap_cbt_mark_dirty, reserved);
	MEMBER(blksnap_cbt_mark_dirty, ranges);

	STRUCT(blksnap_cbt_checkpoint);
	MEMBERS(blksnap_cbt_checkpoint, "dev,generation_id,closed_number,"
		"changes_number,reserved");
	MEMBER(blksnap_cbt_checkpoint, dev);
	MEMBER(blksnap_cbt_checkpoint, generation_id);
	MEMBER(blksnap_cbt_checkpoint, closed_number);
	MEMBER(blksnap_cbt_checkpoint, changes_number);
	MEMBER(blksnap_cbt_checkpoint, reserved);

	REQUEST(BLKSNAP_IOCTL_VERSION);
	REQUEST(BLKSNAP_IOCTL_TRACKER_ATTACH);
	REQUEST(BLKSNAP_IOCTL_TRACKER_DETACH);
	REQUEST(BLKSNAP_IOCTL_TRACKER_LIST);
	REQUEST(BLKSNAP_IOCTL_CBT_INFO);
	REQUEST(BLKSNAP_IOCTL_CBT_READ);
	REQUEST(BLKSNAP_IOCTL_CBT_MARK_DIRTY);
	REQUEST(BLKSNAP_IOCTL_CBT_CHECKPOINT);

	CONSTANT(BLKSNAP_IOCTL_MAGIC);
	CONSTANT(BLKSNAP_VERSION_MAJOR);
	CONSTANT(BLKSNAP_VERSION_MINOR);
	CONSTANT(BLKSNAP_VERSION_PATCH);
	CONSTANT(BLKSNAP_FEATURE_CBT);
	CONSTANT(BLKSNAP_UUID_SIZE);
	CONSTANT(BLKSNAP_MARK_DIRTY_MAX_RANGES);
	CONSTANT(BLKSNAP_TRACKER_LIST_MAX);
	CONSTANT(BLKSNAP_CBT_FLAG_CORRUPTED);
	printf("BLKSNAP_CTL_NAME=%s\n", BLKSNAP_CTL_NAME);

	ERRNO(EPERM);
	ERRNO(ENOENT);
	ERRNO(EINTR);
	ERRNO(ENXIO);
	ERRNO(E2BIG);
	ERRNO(EAGAIN);
	ERRNO(ENOMEM);
	ERRNO(EACCES);
	ERRNO(EFAULT);
	ERRNO(EBUSY);
	ERRNO(ENODEV);
	ERRNO(EINVAL);
	ERRNO(ENOTTY);
	ERRNO(ERANGE);
	ERRNO(EALREADY);
	return 0;
}
