// SPDX-License-Identifier: GPL-2.0
/*
 * What a passthrough request changes on its disk. SG_IO, sg, bsg (SCSI,
 * and ATA through SCSI as hdparm and smartctl use it) and the NVMe ioctls
 * and io_uring commands hand the device a command of its own protocol in
 * a request that never was a bio, so filter.c sees it at
 * blk_execute_rq()/blk_execute_rq_nowait() and asks here which sectors it
 * changes. A command understood to change nothing (reads, inquiries,
 * SMART, cache flushes) changes nothing; one understood to write reports
 * its ranges; anything else may change anything.
 *
 * The command bytes are read from the request's payload, which the
 * driver prepared before the request is executed: a struct scsi_cmnd for
 * SCSI (include/scsi), and for NVMe a pointer to its struct nvme_command
 * first in the payload, as drivers/nvme/host/nvme.h lays it out on 6.1 and
 * 6.12. Which layout a disk has is told by the device its driver added it
 * under, not by the disk's owner module, which a driver built into the
 * kernel does not have: a SCSI device bound to "sd" (SCSI disks, and ATA
 * disks through libata), a controller of the "nvme" class (the namespaces
 * of every NVMe transport, and the hidden paths of a multipath
 * namespace), a virtio device bound to "virtio_blk".
 * The SCSI core's own test, scsi_device_from_queue(), is not exported by
 * Debian's kernels. virtio_blk's own requests only read; a disk of any
 * other driver (mmc, a CD) gets PASSTHROUGH_UNKNOWN for every passthrough
 * request.
 */
#define pr_fmt(fmt) KBUILD_MODNAME "-passthrough: " fmt

#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/bvec.h>
#include <linux/device.h>
#include <linux/nvme.h>
#include <scsi/scsi_cmnd.h>
#include <scsi/scsi_proto.h>
#include "compat.h"
#include "passthrough.h"

/* SCSI operation codes include/scsi/scsi_proto.h does not name. */
#define PASSTHROUGH_SANITIZE	0x48
#define PASSTHROUGH_ATA_12	0xa1
#define PASSTHROUGH_ATA_16	0x85

/* Payload bytes read to parse an UNMAP or DSM parameter list. */
#define PASSTHROUGH_DATA_MAX	(8 + 16 * PASSTHROUGH_MAX_RANGES)

/*
 * Whether @disk was added under a device of @bus bound to @driver. Bus
 * names are unique, and driver names unique on their bus, so the pair
 * names one driver. The driver is only bound while the disk is there
 * (drivers delete their disks in ->remove()); READ_ONCE() as the driver
 * core's own lockless readers do.
 */
static bool passthrough_disk_driver(struct gendisk *disk, const char *bus,
				    const char *driver)
{
	struct device *parent = disk_to_dev(disk)->parent;
	const struct device_driver *drv;

	if (!parent || !parent->bus || strcmp(parent->bus->name, bus))
		return false;
	drv = READ_ONCE(parent->driver);
	return drv && !strcmp(drv->name, driver);
}

/*
 * Whether @disk is an NVMe namespace: nvme_core adds every namespace disk
 * (hidden multipath paths too) under its controller's class device, of
 * the class "nvme", whatever the transport (PCI, TCP, FC, loop). A
 * multipath head disk hangs under its subsystem and gets no requests: its
 * ioctls go to a path's queue.
 */
static bool passthrough_disk_is_nvme(struct gendisk *disk)
{
	struct device *parent = disk_to_dev(disk)->parent;

	return parent && parent->class && !strcmp(parent->class->name, "nvme");
}

/* Copy the start of the request's data-out payload; returns the bytes. */
static unsigned int passthrough_data(struct request *rq, u8 *buf,
				     unsigned int len)
{
	struct req_iterator iter;
	struct bio_vec bv;
	unsigned int done = 0;

	if (!rq->bio)
		return 0;
	rq_for_each_segment(bv, rq, iter) {
		if (done == len)
			break;
		bv.bv_len = min(bv.bv_len, len - done);
		memcpy_from_bvec(buf + done, &bv);
		done += bv.bv_len;
	}
	return done;
}

/* Add @count blocks of @shift (log2 of 512-byte sectors) at @lba. */
static bool passthrough_add(struct passthrough_range *r, unsigned int *nr,
			    u64 lba, u64 count, unsigned int shift)
{
	if (!count)
		return true;
	if (*nr == PASSTHROUGH_MAX_RANGES)
		return false;
	r[*nr].sector = lba << shift;
	/* Past the end is clamped by the map: only the overflow matters. */
	r[*nr].count = count > (U64_MAX >> shift) ? U64_MAX : count << shift;
	(*nr)++;
	return true;
}

static enum passthrough_effect passthrough_unmap(struct request *rq,
						 struct passthrough_range *r,
						 unsigned int *nr,
						 unsigned int shift)
{
	u8 data[PASSTHROUGH_DATA_MAX];
	unsigned int len, n, i;

	len = passthrough_data(rq, data, sizeof(data));
	if (len < 8)
		return PASSTHROUGH_UNKNOWN;
	/* Block descriptor data length, then 16 bytes a descriptor. */
	n = get_unaligned_be16(&data[2]) / 16;
	if (8 + n * 16 > len)
		return PASSTHROUGH_UNKNOWN;
	for (i = 0; i < n; i++) {
		if (!passthrough_add(r, nr, get_unaligned_be64(&data[8 + 16 * i]),
				     get_unaligned_be32(&data[16 + 16 * i]),
				     shift))
			return PASSTHROUGH_UNKNOWN;
	}
	return PASSTHROUGH_RANGES;
}

/* ATA commands that read or manage the device but change no user data. */
static bool passthrough_ata_reads(u8 command)
{
	switch (command) {
	case 0xec: /* IDENTIFY DEVICE */
	case 0xa1: /* IDENTIFY PACKET DEVICE */
	case 0xb0: /* SMART (its logs are not user data) */
	case 0xe5: /* CHECK POWER MODE */
	case 0xe0: case 0xe1: case 0xe2: case 0xe3: case 0xe6: /* power */
	case 0x94: case 0x95: case 0x96: case 0x97: case 0x98: case 0x99:
	case 0xef: /* SET FEATURES */
	case 0x2f: case 0x47: /* READ LOG EXT, READ LOG DMA EXT */
	case 0x20: case 0x24: case 0x25: case 0x29: case 0xc4: case 0xc8:
	case 0x60: /* reads */
	case 0x40: case 0x42: /* READ VERIFY SECTOR(S) (EXT) */
	case 0xe7: case 0xea: /* FLUSH CACHE (EXT) */
		return true;
	default:
		return false;
	}
}

static enum passthrough_effect passthrough_scsi(struct request *rq,
						struct passthrough_range *r,
						unsigned int *nr)
{
	struct scsi_cmnd *scmd = blk_mq_rq_to_pdu(rq);
	unsigned int shift = ilog2(queue_logical_block_size(rq->q)) -
			     SECTOR_SHIFT;
	const u8 *cdb = scmd->cmnd;
	u64 lba, n;

	if (scmd->cmd_len < 6)
		return PASSTHROUGH_UNKNOWN;
	switch (cdb[0]) {
	case TEST_UNIT_READY: case REQUEST_SENSE: case INQUIRY:
	case MODE_SENSE: case MODE_SENSE_10: case MODE_SELECT:
	case MODE_SELECT_10: case READ_CAPACITY: case SERVICE_ACTION_IN_16:
	case REPORT_LUNS: case LOG_SENSE: case LOG_SELECT:
	case START_STOP: case ALLOW_MEDIUM_REMOVAL: case RECEIVE_DIAGNOSTIC:
	case SEND_DIAGNOSTIC: case PERSISTENT_RESERVE_IN:
	case PERSISTENT_RESERVE_OUT: case MAINTENANCE_IN: case ZBC_IN:
	case READ_BUFFER: case SECURITY_PROTOCOL_IN:
	case SYNCHRONIZE_CACHE: case SYNCHRONIZE_CACHE_16:
	case READ_6: case READ_10: case READ_12: case READ_16:
	case VERIFY: case VERIFY_12: case VERIFY_16:
		return PASSTHROUGH_NONE;
	case WRITE_6:
		lba = get_unaligned_be24(&cdb[1]) & 0x1fffff;
		n = cdb[4] ? cdb[4] : 256;
		break;
	case WRITE_10: case WRITE_VERIFY:
		if (scmd->cmd_len < 10)
			return PASSTHROUGH_UNKNOWN;
		lba = get_unaligned_be32(&cdb[2]);
		n = get_unaligned_be16(&cdb[7]);
		break;
	case WRITE_SAME:
		if (scmd->cmd_len < 10)
			return PASSTHROUGH_UNKNOWN;
		lba = get_unaligned_be32(&cdb[2]);
		/* 0: to the end of the device. */
		n = get_unaligned_be16(&cdb[7]) ?: U64_MAX;
		break;
	case WRITE_12: case WRITE_VERIFY_12:
		if (scmd->cmd_len < 12)
			return PASSTHROUGH_UNKNOWN;
		lba = get_unaligned_be32(&cdb[2]);
		n = get_unaligned_be32(&cdb[6]);
		break;
	case WRITE_16: case WRITE_VERIFY_16:
		if (scmd->cmd_len < 16)
			return PASSTHROUGH_UNKNOWN;
		lba = get_unaligned_be64(&cdb[2]);
		n = get_unaligned_be32(&cdb[10]);
		break;
	case WRITE_SAME_16:
		if (scmd->cmd_len < 16)
			return PASSTHROUGH_UNKNOWN;
		lba = get_unaligned_be64(&cdb[2]);
		n = get_unaligned_be32(&cdb[10]) ?: U64_MAX;
		break;
	case COMPARE_AND_WRITE:
		if (scmd->cmd_len < 16)
			return PASSTHROUGH_UNKNOWN;
		lba = get_unaligned_be64(&cdb[2]);
		n = cdb[13];
		break;
	case UNMAP:
		return passthrough_unmap(rq, r, nr, shift);
	case FORMAT_UNIT: case PASSTHROUGH_SANITIZE:
		lba = 0;
		n = U64_MAX;
		break;
	case PASSTHROUGH_ATA_12:
		if (scmd->cmd_len < 12)
			return PASSTHROUGH_UNKNOWN;
		return passthrough_ata_reads(cdb[9]) ? PASSTHROUGH_NONE :
		       PASSTHROUGH_UNKNOWN;
	case PASSTHROUGH_ATA_16:
		if (scmd->cmd_len < 16)
			return PASSTHROUGH_UNKNOWN;
		return passthrough_ata_reads(cdb[14]) ? PASSTHROUGH_NONE :
		       PASSTHROUGH_UNKNOWN;
	default:
		return PASSTHROUGH_UNKNOWN;
	}
	if (!passthrough_add(r, nr, lba, n, shift))
		return PASSTHROUGH_UNKNOWN;
	return *nr ? PASSTHROUGH_RANGES : PASSTHROUGH_NONE;
}

static enum passthrough_effect passthrough_dsm(struct request *rq,
					       const struct nvme_command *cmd,
					       struct passthrough_range *r,
					       unsigned int *nr,
					       unsigned int shift)
{
	u8 data[PASSTHROUGH_DATA_MAX];
	struct nvme_dsm_range d;
	unsigned int n, i;

	/* Without deallocate, DSM only gives the device hints. */
	if (!(le32_to_cpu(cmd->dsm.attributes) & NVME_DSMGMT_AD))
		return PASSTHROUGH_NONE;
	n = (le32_to_cpu(cmd->dsm.nr) & 0xff) + 1;
	if (n > PASSTHROUGH_MAX_RANGES ||
	    passthrough_data(rq, data, n * sizeof(d)) < n * sizeof(d))
		return PASSTHROUGH_UNKNOWN;
	for (i = 0; i < n; i++) {
		memcpy(&d, data + i * sizeof(d), sizeof(d));
		if (!passthrough_add(r, nr, le64_to_cpu(d.slba),
				     le32_to_cpu(d.nlb), shift))
			return PASSTHROUGH_UNKNOWN;
	}
	return *nr ? PASSTHROUGH_RANGES : PASSTHROUGH_NONE;
}

static enum passthrough_effect passthrough_nvme(struct request *rq,
						struct passthrough_range *r,
						unsigned int *nr)
{
	const struct nvme_command *cmd =
		*(struct nvme_command **)blk_mq_rq_to_pdu(rq);
	unsigned int shift = ilog2(queue_logical_block_size(rq->q)) -
			     SECTOR_SHIFT;

	switch (cmd->common.opcode) {
	case nvme_cmd_flush: case nvme_cmd_read: case nvme_cmd_compare:
	case nvme_cmd_resv_register: case nvme_cmd_resv_report:
	case nvme_cmd_resv_acquire: case nvme_cmd_resv_release:
	case nvme_cmd_zone_mgmt_recv: case nvme_cmd_verify:
		return PASSTHROUGH_NONE;
	case nvme_cmd_write: case nvme_cmd_write_uncor:
	case nvme_cmd_write_zeroes:
		/* The block count is 0-based. */
		if (!passthrough_add(r, nr, le64_to_cpu(cmd->rw.slba),
				     (u64)le16_to_cpu(cmd->rw.length) + 1, shift))
			return PASSTHROUGH_UNKNOWN;
		return PASSTHROUGH_RANGES;
	case nvme_cmd_dsm:
		return passthrough_dsm(rq, cmd, r, nr, shift);
	default:
		return PASSTHROUGH_UNKNOWN;
	}
}

/**
 * passthrough_classify() - what a passthrough request may change.
 * @rq: a request for which blk_rq_is_passthrough() holds, about to be
 *	executed on a disk (&request.q->disk).
 * @ranges: receives up to PASSTHROUGH_MAX_RANGES ranges, in sectors of the
 *	whole disk.
 * @nr: receives how many, for PASSTHROUGH_RANGES.
 *
 * Context: the submitter's; does not sleep.
 * Return: the effect.
 */
enum passthrough_effect passthrough_classify(struct request *rq,
					     struct passthrough_range *ranges,
					     unsigned int *nr)
{
	struct gendisk *disk = rq->q->disk;

	*nr = 0;
	if (passthrough_disk_is_nvme(disk))
		return passthrough_nvme(rq, ranges, nr);
	if (passthrough_disk_driver(disk, "scsi", "sd"))
		return passthrough_scsi(rq, ranges, nr);
	/*
	 * virtio_blk passes nothing through from user space: its own requests
	 * read the serial number (sysfs, udev) or the zones.
	 */
	if (passthrough_disk_driver(disk, "virtio", "virtio_blk"))
		return req_op(rq) == REQ_OP_DRV_IN ? PASSTHROUGH_NONE :
		       PASSTHROUGH_UNKNOWN;
	/* An MMC, a CD or a driver of its own: its commands are unknown. */
	return PASSTHROUGH_UNKNOWN;
}
