/* Reads 4096 bytes at offset 0 of the device argv[1] past the page cache
 * (O_DIRECT), so that one request of that size reaches the driver, and
 * prints "read N". */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  int fd = open(argv[1], O_RDONLY | O_DIRECT);
  void *buf;
  if (fd < 0 || posix_memalign(&buf, 4096, 4096)) return 1;
  ssize_t n = pread(fd, buf, 4096, 0);
  printf("read %zd\n", n);
  return n == 4096 ? 0 : 1;
}
