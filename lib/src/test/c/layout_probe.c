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
		"generation_id,changes_number,flags,generation_reason,reserved");
	MEMBER(blksnap_cbt_info, dev);
	MEMBER(blksnap_cbt_info, device_capacity);
	MEMBER(blksnap_cbt_info, block_size);
	MEMBER(blksnap_cbt_info, block_count);
	MEMBER(blksnap_cbt_info, generation_id);
	MEMBER(blksnap_cbt_info, changes_number);
	MEMBER(blksnap_cbt_info, flags);
	MEMBER(blksnap_cbt_info, generation_reason);
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

	STRUCT(blksnap_snapshot_create);
	MEMBERS(blksnap_snapshot_create, "storage_fd,flags,limit,id,reserved");
	MEMBER(blksnap_snapshot_create, storage_fd);
	MEMBER(blksnap_snapshot_create, flags);
	MEMBER(blksnap_snapshot_create, limit);
	MEMBER(blksnap_snapshot_create, id);
	MEMBER(blksnap_snapshot_create, reserved);

	STRUCT(blksnap_snapshot_destroy);
	MEMBERS(blksnap_snapshot_destroy, "id,flags,reserved");
	MEMBER(blksnap_snapshot_destroy, id);
	MEMBER(blksnap_snapshot_destroy, flags);
	MEMBER(blksnap_snapshot_destroy, reserved);

	STRUCT(blksnap_snapshot_add);
	MEMBERS(blksnap_snapshot_add, "id,dev,flags,reserved");
	MEMBER(blksnap_snapshot_add, id);
	MEMBER(blksnap_snapshot_add, dev);
	MEMBER(blksnap_snapshot_add, flags);
	MEMBER(blksnap_snapshot_add, reserved);

	STRUCT(blksnap_snapshot_take);
	MEMBERS(blksnap_snapshot_take, "id,flags,reserved,hold_ns,freeze_ns,"
		"frozen,freeze_failed");
	MEMBER(blksnap_snapshot_take, id);
	MEMBER(blksnap_snapshot_take, flags);
	MEMBER(blksnap_snapshot_take, reserved);
	MEMBER(blksnap_snapshot_take, hold_ns);
	MEMBER(blksnap_snapshot_take, freeze_ns);
	MEMBER(blksnap_snapshot_take, frozen);
	MEMBER(blksnap_snapshot_take, freeze_failed);

	STRUCT(blksnap_snapshot_list);
	MEMBERS(blksnap_snapshot_list, "ids,capacity,count");
	MEMBER(blksnap_snapshot_list, ids);
	MEMBER(blksnap_snapshot_list, capacity);
	MEMBER(blksnap_snapshot_list, count);

	STRUCT(blksnap_snapshot_device);
	MEMBERS(blksnap_snapshot_device, "origin,image,capacity,chunk_size,error,"
		"freeze_error,generation_id,closed_number,freeze,reserved1,"
		"writes_held,chunks_copied,chunks_stored,discards_dropped,reserved");
	MEMBER(blksnap_snapshot_device, origin);
	MEMBER(blksnap_snapshot_device, image);
	MEMBER(blksnap_snapshot_device, capacity);
	MEMBER(blksnap_snapshot_device, chunk_size);
	MEMBER(blksnap_snapshot_device, error);
	MEMBER(blksnap_snapshot_device, freeze_error);
	MEMBER(blksnap_snapshot_device, generation_id);
	MEMBER(blksnap_snapshot_device, closed_number);
	MEMBER(blksnap_snapshot_device, freeze);
	MEMBER(blksnap_snapshot_device, reserved1);
	MEMBER(blksnap_snapshot_device, writes_held);
	MEMBER(blksnap_snapshot_device, chunks_copied);
	MEMBER(blksnap_snapshot_device, chunks_stored);
	MEMBER(blksnap_snapshot_device, discards_dropped);
	MEMBER(blksnap_snapshot_device, reserved);

	STRUCT(blksnap_snapshot_info);
	MEMBERS(blksnap_snapshot_info, "id,devices,capacity,count,state,error,"
		"flags,storage_kind,storage_dev,storage_used,storage_size,"
		"storage_limit,reserved");
	MEMBER(blksnap_snapshot_info, id);
	MEMBER(blksnap_snapshot_info, devices);
	MEMBER(blksnap_snapshot_info, capacity);
	MEMBER(blksnap_snapshot_info, count);
	MEMBER(blksnap_snapshot_info, state);
	MEMBER(blksnap_snapshot_info, error);
	MEMBER(blksnap_snapshot_info, flags);
	MEMBER(blksnap_snapshot_info, storage_kind);
	MEMBER(blksnap_snapshot_info, storage_dev);
	MEMBER(blksnap_snapshot_info, storage_used);
	MEMBER(blksnap_snapshot_info, storage_size);
	MEMBER(blksnap_snapshot_info, storage_limit);
	MEMBER(blksnap_snapshot_info, reserved);

	REQUEST(BLKSNAP_IOCTL_VERSION);
	REQUEST(BLKSNAP_IOCTL_TRACKER_ATTACH);
	REQUEST(BLKSNAP_IOCTL_TRACKER_DETACH);
	REQUEST(BLKSNAP_IOCTL_TRACKER_LIST);
	REQUEST(BLKSNAP_IOCTL_CBT_INFO);
	REQUEST(BLKSNAP_IOCTL_CBT_READ);
	REQUEST(BLKSNAP_IOCTL_CBT_MARK_DIRTY);
	REQUEST(BLKSNAP_IOCTL_CBT_CHECKPOINT);
	REQUEST(BLKSNAP_IOCTL_SNAPSHOT_CREATE);
	REQUEST(BLKSNAP_IOCTL_SNAPSHOT_DESTROY);
	REQUEST(BLKSNAP_IOCTL_SNAPSHOT_ADD);
	REQUEST(BLKSNAP_IOCTL_SNAPSHOT_TAKE);
	REQUEST(BLKSNAP_IOCTL_SNAPSHOT_LIST);
	REQUEST(BLKSNAP_IOCTL_SNAPSHOT_INFO);

	CONSTANT(BLKSNAP_IOCTL_MAGIC);
	CONSTANT(BLKSNAP_VERSION_MAJOR);
	CONSTANT(BLKSNAP_VERSION_MINOR);
	CONSTANT(BLKSNAP_VERSION_PATCH);
	CONSTANT(BLKSNAP_FEATURE_CBT);
	CONSTANT(BLKSNAP_UUID_SIZE);
	CONSTANT(BLKSNAP_MARK_DIRTY_MAX_RANGES);
	CONSTANT(BLKSNAP_TRACKER_LIST_MAX);
	CONSTANT(BLKSNAP_CBT_FLAG_CORRUPTED);
	CONSTANT(BLKSNAP_CBT_GENERATION_ATTACH);
	CONSTANT(BLKSNAP_CBT_GENERATION_RESIZE);
	CONSTANT(BLKSNAP_CBT_GENERATION_WRAP);
	CONSTANT(BLKSNAP_CBT_GENERATION_INCOMPLETE);
	CONSTANT(BLKSNAP_CBT_GENERATION_PASSTHROUGH);
	CONSTANT(BLKSNAP_CBT_GENERATION_HIBERNATION);
	CONSTANT(BLKSNAP_FEATURE_SNAPSHOT);
	CONSTANT(BLKSNAP_SNAPSHOT_MAX_DEVICES);
	CONSTANT(BLKSNAP_SNAPSHOT_LIST_MAX);
	CONSTANT(BLKSNAP_SNAPSHOT_FLAG_KEEP);
	CONSTANT(BLKSNAP_TAKE_FLAG_NO_FREEZE);
	CONSTANT(BLKSNAP_SNAPSHOT_STATE_CREATED);
	CONSTANT(BLKSNAP_SNAPSHOT_STATE_TAKEN);
	CONSTANT(BLKSNAP_SNAPSHOT_STATE_BROKEN);
	CONSTANT(BLKSNAP_STORAGE_BDEV);
	CONSTANT(BLKSNAP_STORAGE_FILE);
	CONSTANT(BLKSNAP_STORAGE_TMPFILE);
	CONSTANT(BLKSNAP_FREEZE_NONE);
	CONSTANT(BLKSNAP_FREEZE_FROZEN);
	CONSTANT(BLKSNAP_FREEZE_NO_FILESYSTEM);
	CONSTANT(BLKSNAP_FREEZE_FAILED);
	printf("BLKSNAP_CTL_NAME=%s\n", BLKSNAP_CTL_NAME);

	ERRNO(EPERM);
	ERRNO(ENOENT);
	ERRNO(EINTR);
	ERRNO(EIO);
	ERRNO(ENXIO);
	ERRNO(E2BIG);
	ERRNO(EBADF);
	ERRNO(EAGAIN);
	ERRNO(ENOMEM);
	ERRNO(EACCES);
	ERRNO(EFAULT);
	ERRNO(EBUSY);
	ERRNO(ENODEV);
	ERRNO(EINVAL);
	ERRNO(ENOTTY);
	ERRNO(EFBIG);
	ERRNO(ENOSPC);
	ERRNO(EROFS);
	ERRNO(ERANGE);
	ERRNO(EDEADLK);
	ERRNO(EOPNOTSUPP);
	ERRNO(EALREADY);
	return 0;
}
