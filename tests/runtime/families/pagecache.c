/* Writes three pages to a new file argv[1] and syncs it, drops them from
 * the page cache (POSIX_FADV_DONTNEED) and reads them back; it writes
 * the file's inode and device (major, minor) to argv[2]. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  FILE *log = fopen(argv[2], "w");
  if (!log) return 2;
  static char buf[3 * 4096];
  memset(buf, 'p', sizeof buf);
  int fd = open(argv[1], O_CREAT | O_TRUNC | O_RDWR, 0600);
  if (fd < 0 || write(fd, buf, sizeof buf) != sizeof buf || fsync(fd) != 0) return 3;
  if (posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) != 0) return 4;
  if (pread(fd, buf, sizeof buf, 0) != sizeof buf) return 5;
  struct stat st;
  if (fstat(fd, &st) != 0) return 6;
  fprintf(log, "%lu %u %u\n", (unsigned long)st.st_ino, major(st.st_dev), minor(st.st_dev));
  close(fd);
  return fclose(log) != 0;
}
