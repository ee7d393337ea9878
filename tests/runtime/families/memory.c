/* Maps two pages at a fixed address, writes the first and reads the
 * second (two page faults), grows the heap, has the kernel kmalloc 777 bytes (setxattr
 * copies the value in) and free them, and unmaps the pages; it writes
 * what it did to the file argv[1], one line per event, as the script
 * should report it. */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/xattr.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  FILE *log = fopen(argv[1], "w");
  if (!log) return 2;
  long pg = sysconf(_SC_PAGESIZE);
  char *hint = (char *)0x200000000;
  char *p = mmap(hint, 2 * pg, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (p != hint) return 3;
  fprintf(log, "mmap %lx %ld\n", (unsigned long)hint, 2 * pg);
  volatile char *w = p, *r = p + pg;
  *w = 1;
  fprintf(log, "pf %lx 1\n", (unsigned long)w);
  char c = *r;
  (void)c;
  fprintf(log, "pf %lx 0\n", (unsigned long)r);
  char value[777];
  memset(value, 'x', sizeof value);
  /* The value is copied in (and freed) whether or not the file system
   * takes the attribute. */
  setxattr("/", "user.stp_family_test", value, sizeof value, XATTR_CREATE);
  fprintf(log, "kmalloc 777\nkfree\n");
  /* The heap grown by 64 KiB from where it ends. */
  char *old = sbrk(0);
  if (sbrk(65536) == (void *)-1) return 4;
  fprintf(log, "brk %lx 65536\n", (unsigned long)old);
  munmap(p, 2 * pg);
  fprintf(log, "munmap %lx %ld\n", (unsigned long)p, 2 * pg);
  return fclose(log) != 0;
}
