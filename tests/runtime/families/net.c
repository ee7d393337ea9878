/* A UDP datagram and a TCP exchange over loopback, of sizes the tests
 * know: it writes what it did to the file argv[1] (the ports the kernel
 * chose, the bytes each call moved). Linked statically, it runs in the
 * VM too. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int bound(int type, struct sockaddr_in *a) {
  int s = socket(AF_INET, type, 0);
  socklen_t len = sizeof *a;
  memset(a, 0, sizeof *a);
  a->sin_family = AF_INET;
  a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (s < 0 || bind(s, (struct sockaddr *)a, sizeof *a) != 0 ||
      getsockname(s, (struct sockaddr *)a, &len) != 0)
    return -1;
  return s;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  FILE *log = fopen(argv[1], "w");
  if (!log) return 2;
  static char buf[4096];
  memset(buf, 'n', sizeof buf);

  /* UDP: 321 bytes to itself. */
  struct sockaddr_in u;
  int us = bound(SOCK_DGRAM, &u);
  if (us < 0) return 3;
  ssize_t n = sendto(us, buf, 321, 0, (struct sockaddr *)&u, sizeof u);
  fprintf(log, "udp send %zd %d\n", n, ntohs(u.sin_port));
  n = recv(us, buf, sizeof buf, 0);
  fprintf(log, "udp recv %zd\n", n);
  close(us);

  /* TCP: 1234 bytes from a client to the server. */
  struct sockaddr_in l, c;
  int ls = bound(SOCK_STREAM, &l);
  if (ls < 0 || listen(ls, 1) != 0) return 4;
  int cs = socket(AF_INET, SOCK_STREAM, 0);
  socklen_t clen = sizeof c;
  if (connect(cs, (struct sockaddr *)&l, sizeof l) != 0 ||
      getsockname(cs, (struct sockaddr *)&c, &clen) != 0)
    return 5;
  int as = accept(ls, NULL, NULL);
  if (as < 0) return 6;
  n = send(cs, buf, 1234, 0);
  fprintf(log, "tcp send %zd %d %d\n", n, ntohs(c.sin_port), ntohs(l.sin_port));
  ssize_t got = 0;
  while (got < 1234) {
    ssize_t r = recv(as, buf, 1234 - got, 0);
    if (r <= 0) return 7;
    got += r;
  }
  fprintf(log, "tcp recv %zd\n", got);
  close(cs);
  close(as);
  close(ls);
  return fclose(log) != 0;
}
