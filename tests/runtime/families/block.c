/* Writes 8 KiB to a new file argv[1] and syncs it, asks the file system
 * where the data went (FIEMAP), and reads the first 4 KiB back past the
 * page cache (O_DIRECT); it writes the file's inode, the first sector of
 * its data and the disk's device number to argv[2]. Exit status 10: the
 * file system cannot say where the data is. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  FILE *log = fopen(argv[2], "w");
  if (!log) return 2;
  int fd = open(argv[1], O_CREAT | O_TRUNC | O_WRONLY, 0600);
  char *buf = aligned_alloc(4096, 8192);
  if (fd < 0 || !buf) return 3;
  memset(buf, 'b', 8192);
  if (write(fd, buf, 8192) != 8192 || fsync(fd) != 0) return 4;
  close(fd);
  struct stat st;
  if (stat(argv[1], &st) != 0) return 5;
  struct {
    struct fiemap f;
    struct fiemap_extent e[1];
  } fm;
  memset(&fm, 0, sizeof fm);
  fm.f.fm_length = 8192;
  fm.f.fm_extent_count = 1;
  fm.f.fm_flags = FIEMAP_FLAG_SYNC;
  fd = open(argv[1], O_RDONLY | O_DIRECT);
  if (fd < 0) return 10;
  if (ioctl(fd, FS_IOC_FIEMAP, &fm) != 0 || fm.f.fm_mapped_extents < 1) return 10;
  if (pread(fd, buf, 4096, 0) != 4096) return 6;
  close(fd);
  fprintf(log, "%lu %llu %u %u\n", (unsigned long)st.st_ino,
          (unsigned long long)fm.e[0].fe_physical / 512, major(st.st_dev), minor(st.st_dev));
  return fclose(log) != 0;
}
